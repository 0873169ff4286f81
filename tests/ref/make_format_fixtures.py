"""make_format_fixtures.py: writes the checkpoint-format fixtures of tests/formats.

Run from the repository root with the pinned packages (tests/ref/requirements.txt):
    python tests/ref/make_format_fixtures.py
Writes tests/golden/formats/: good files with a `.expect` manifest each (see
format_expect.py), bad files listed in bad.list with the status and message our
reader must give. Deterministic: values are fixed formulas or seeded.
"""
import json
import os
import struct
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from format_expect import write_expect  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "formats")
BAD = []  # (file, status, message substring)
WRITTEN = []


def out(name):
    WRITTEN.append(name)
    return os.path.join(OUT, name)


def bad(name, data, status, message):
    with open(out(name), "wb") as f:
        f.write(data)
    BAD.append((name, status, message))


def values(n, dtype, scale=0.37, offset=-1.3):
    """Deterministic, non-trivial values (computed in f64, then rounded by torch)."""
    x = torch.arange(n, dtype=torch.float64) * scale + offset
    x = torch.sin(x * 1.7) * 3.0 + x
    if dtype.is_floating_point:
        return x.to(dtype)
    if dtype == torch.bool:
        return (torch.arange(n) % 3) == 1
    return (x * 1000).round().to(torch.int64).clamp(torch.iinfo(dtype).min, torch.iinfo(dtype).max).to(dtype)


def safetensors_raw(header_obj_or_text, data=b"", header_len=None):
    text = header_obj_or_text if isinstance(header_obj_or_text, (bytes, bytearray)) else \
        json.dumps(header_obj_or_text, separators=(",", ":")).encode()
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data


def make_safetensors():
    torch.manual_seed(1)
    tensors = [
        ("weight.f32", values(6, torch.float32).reshape(2, 3)),
        ("weight.f16", values(5, torch.float16)),
        ("weight.bf16", values(6, torch.bfloat16).reshape(3, 2)),
        ("weight.f64", values(4, torch.float64).reshape(2, 2)),
        ("ids.i64", values(5, torch.int64)),
        ("ids.i32", values(3, torch.int32)),
        ("ids.i16", values(3, torch.int16)),
        ("ids.i8", values(4, torch.int8)),
        ("ids.u8", values(4, torch.uint8)),
        ("mask.bool", values(5, torch.bool)),
        ("empty", torch.zeros(0, 3)),
        ("scalar", torch.tensor(2.5)),
        ("randn.f32", torch.randn(2, 2, 2, 2)),
        ("deep.8d", torch.arange(2, dtype=torch.float32).reshape(1, 1, 1, 1, 1, 1, 1, 2)),
        ("ünïcode/name", torch.tensor([1.0, -0.0, float("inf"), float("-inf")])),
    ]
    meta = {"format": "pt", "note": "fixture ünïcode", "empty": ""}
    save_file(dict(tensors), out("st_basic.safetensors"), metadata=meta)
    write_expect(out("st_basic.safetensors.expect"), tensors, meta)

    # No metadata, a single tensor (what an embedding file looks like).
    emb = [("emb_params", values(8, torch.float32).reshape(2, 4))]
    save_file(dict(emb), out("st_embedding.safetensors"))
    write_expect(out("st_embedding.safetensors.expect"), emb)

    # No tensors at all.
    save_file({}, out("st_empty.safetensors"), metadata={"only": "metadata"})
    write_expect(out("st_empty.safetensors.expect"), [], {"only": "metadata"})

    # ---- bad safetensors files ----
    with open(out("st_basic.safetensors"), "rb") as f:
        good = f.read()
    bad("st_truncated.safetensors", good[: len(good) - 7], "FORMAT", "run past the end")
    bad("st_truncated_header.safetensors", good[:40], "FORMAT", "file has only")
    bad("st_huge_header.safetensors", struct.pack("<Q", 1 << 40) + b"{}" + b" " * 6, "FORMAT", "more than 100 MB")
    bad("st_header_past_end.safetensors", safetensors_raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                                                          b"\0" * 4, header_len=4000), "FORMAT", "file has only")
    four = b"\0\0\x80\x3f" * 4
    t = lambda shape, offs, dtype="F32": {"dtype": dtype, "shape": shape, "data_offsets": offs}  # noqa: E731
    bad("st_offsets_past_end.safetensors", safetensors_raw({"a": t([1024], [0, 4096])}, four), "FORMAT",
        "more data than the file holds")
    bad("st_offsets_lie.safetensors", safetensors_raw({"a": t([2], [8, 16]), "b": t([2], [12, 20])}, four), "FORMAT",
        "run past the end")
    bad("st_end_before_begin.safetensors", safetensors_raw({"a": t([0], [8, 4])}, four), "FORMAT", "is before begin")
    bad("st_size_mismatch.safetensors", safetensors_raw({"a": t([2, 2], [0, 8])}, four), "FORMAT",
        "span 8 bytes but F32 shape needs 16")
    bad("st_overlap.safetensors", safetensors_raw({"a": t([2], [0, 8]), "b": t([2], [4, 12])}, four), "FORMAT",
        "overlap")
    bad("st_huge_shape.safetensors", safetensors_raw({"a": t([1 << 62, 1 << 62], [0, 16])}, four), "FORMAT",
        "more data than the file holds")
    bad("st_uint64_shape.safetensors", safetensors_raw(b'{"a":{"dtype":"F32","shape":[18446744073709551615],'
                                                       b'"data_offsets":[0,16]}}', four), "FORMAT",
        "not an integer in [0, 2^63)")
    bad("st_negative_dim.safetensors", safetensors_raw({"a": t([-1, 4], [0, 16])}, four), "FORMAT",
        "not an integer in [0, 2^63)")
    bad("st_too_many_dims.safetensors", safetensors_raw({"a": t([1] * 9, [0, 4])}, four), "FORMAT",
        "9 dimensions")
    bad("st_duplicate_name.safetensors", safetensors_raw(
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        four), "FORMAT", "repeats a name")
    bad("st_bad_utf8.safetensors", safetensors_raw(b'{"a\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                                   four), "FORMAT", "not valid JSON")
    bad("st_garbage_json.safetensors", safetensors_raw(b'{"a": [1, 2, , }', four), "FORMAT", "not valid JSON")
    bad("st_unsupported_dtype.safetensors", safetensors_raw({"a": t([4], [0, 4], "F8_E4M3")}, four), "UNSUPPORTED",
        "F8_E4M3")
    bad("st_float_offsets.safetensors", safetensors_raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4.0]}}',
                                                        four), "FORMAT", "not integers")
    bad("st_metadata_not_string.safetensors", safetensors_raw({"__metadata__": {"a": 1}, "b": t([1], [0, 4])}, four),
        "FORMAT", "is not a string")
    bad("st_trailing_garbage.safetensors", safetensors_raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}xx',
                                                           four), "FORMAT", "not valid JSON")
    bad("st_not_object.safetensors", safetensors_raw(b'{"a":[1,2]}', four), "FORMAT", "not a JSON object")
    bad("st_deep_json.safetensors", safetensors_raw(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", four), "FORMAT",
        "not valid JSON")
    bad("not_a_checkpoint.txt", b"hello, this is a text file and not a model\n", "FORMAT", "not a checkpoint")
    bad("tiny.bin", b"\x80\x02", "FORMAT", "only 2 bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    make_safetensors()
    with open(out("bad.list"), "w") as f:
        f.write("# file status message-substring (written by tests/ref/make_format_fixtures.py)\n")
        for name, status, message in BAD:
            f.write(f"{name} {status} {message}\n")
    total = 0
    for name in WRITTEN:
        size = os.path.getsize(os.path.join(OUT, name))
        total += size
        print(f"wrote tests/golden/formats/{name} ({size} bytes)")
    print(f"{len(WRITTEN)} files, {total} bytes")


if __name__ == "__main__":
    main()
