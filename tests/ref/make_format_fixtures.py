"""make_format_fixtures.py: writes the checkpoint-format fixtures of tests/formats.

Run from the repository root with the pinned packages (tests/ref/requirements.txt):
    python tests/ref/make_format_fixtures.py
Writes tests/golden/formats/: good files with a `.expect` manifest each (see
format_expect.py), bad files listed in bad.list with the status and message our
reader must give. Deterministic: values are fixed formulas or seeded.
"""
import collections
import io
import json
import os
import struct
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from format_expect import write_expect  # noqa: E402
from format_pickle import (FakeStorage, FakeTensor, dumps, legacy_container, raw_global_call,  # noqa: E402
                           replace_location, rezip, stable_legacy_keys, zip_container)

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


def sort_metadata(path):
    """The Rust writer stores __metadata__ from a hash map (random order per run):
    re-emit the header with sorted metadata keys, same compact JSON, same tensor
    entries and data, so the fixture is byte-identical run to run."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + raw[8 + n:])


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
    sort_metadata(out("st_basic.safetensors"))
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


def flatten(obj, prefix=""):
    """Our naming convention, written independently of the C reader: dotted paths
    from the root, dict keys as text, list/tuple items by index; each container
    once (first path wins), tensors under every path."""
    found, seen = [], set()

    def walk(v, path):
        if isinstance(v, torch.Tensor):
            found.append((path, v))
            return
        if isinstance(v, (dict, list, tuple)):
            if id(v) in seen:
                return
            seen.add(id(v))
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, child in items:
                if isinstance(child, (torch.Tensor, dict, list, tuple)):
                    walk(child, f"{path}.{k}" if path else str(k))

    walk(obj, prefix)
    return found


def torch_object():
    """The object saved in every good torch fixture: every dtype, strided views,
    shared storage, a Parameter, nesting, an OrderedDict and plain Python data."""
    torch.manual_seed(2)
    base = torch.randn(3, 4)
    big = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    shared = torch.arange(8, dtype=torch.float32) * 0.5
    return {
        "f32": torch.randn(2, 3),
        "f16": values(5, torch.float16),
        "bf16": values(6, torch.bfloat16).reshape(2, 3),
        "f64": values(3, torch.float64),
        "i64": values(4, torch.int64),
        "i32": values(3, torch.int32),
        "i16": values(3, torch.int16),
        "i8": values(3, torch.int8),
        "u8": values(3, torch.uint8),
        "bool": values(4, torch.bool),
        "transposed": base.t(),
        "sliced": big[1:3, ::2],
        "expanded": torch.arange(3, dtype=torch.float32).expand(2, 3),
        "shared_a": shared,
        "shared_b": shared[2:5],
        "param": torch.nn.Parameter(values(4, torch.float32).reshape(2, 2)),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5),
        "state_dict": {"model.diffusion_model.out.0.weight": values(6, torch.float16).reshape(3, 2)},
        "nested": {"list": [torch.ones(2), {"deep": torch.full((2,), 3.0)}], "tuple": (torch.zeros(1), 7, "x")},
        "ordered": collections.OrderedDict([("z", torch.tensor([1.0])), ("a", torch.tensor([2.0]))]),
        "meta": {"int": 7, "neg": -3, "big": 2**70, "float": 0.1, "str": "h\u00e9llo", "none": None, "true": True,
                 "bytes": b"\x00\xffab", "set": {1, 2, 3}, "step": 1000},
        5: torch.tensor([5.0]),
    }


class Evil:
    """Pickles as a call to an arbitrary function (what a hostile checkpoint does)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def make_torch():
    import builtins
    import subprocess

    obj = torch_object()
    names = flatten(obj)

    def good(name, data_or_none, obj_for_names=None):
        if data_or_none is not None:
            with open(out(name), "wb") as f:
                f.write(data_or_none)
        write_expect(out(name + ".expect"), flatten(obj_for_names) if obj_for_names is not None else names)

    # The zip format, root folder = file stem (what torch.save(obj, path) writes).
    torch.save(obj, out("pt_zip.pt"))
    good("pt_zip.pt", None)
    # Odd root folder names.
    with open(out("pt_zip.pt"), "rb") as f:
        zip_bytes = f.read()
    good("pt_root_model.ckpt", rezip(zip_bytes, root="model"))
    good("pt_root_odd.bin", rezip(zip_bytes, root="my weird.root-1"))
    # Protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL, EMPTY_SET/ADDITEMS).
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=4)
    good("pt_proto4.pt", buf.getvalue())
    # The legacy (non-zip) format.
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    legacy_bytes = stable_legacy_keys(buf.getvalue())
    good("pt_legacy.pt", legacy_bytes)

    # GPU-tagged storages: torch.save on this machine (no GPU) writes 'cpu';
    # we rewrite the location string in the pickle to 'cuda:0' (BINUNICODE
    # 'cpu' -> 'cuda:0'), which is exactly what a GPU-saved file holds.
    gpu_obj = {"w": values(6, torch.float32).reshape(2, 3), "b": values(2, torch.float16)}
    buf = io.BytesIO()
    torch.save(gpu_obj, buf)
    good("pt_gpu.pt", rezip(buf.getvalue(), edit_pickle=replace_location), gpu_obj)
    buf = io.BytesIO()
    torch.save(gpu_obj, buf, _use_new_zipfile_serialization=False)
    good("pt_gpu_legacy.pt", replace_location(stable_legacy_keys(buf.getvalue())), gpu_obj)
    for name in ("pt_gpu.pt", "pt_gpu_legacy.pt"):  # torch itself still reads them (mapped to the CPU)
        back = torch.load(out(name), map_location="cpu", weights_only=False)
        assert torch.equal(back["w"], gpu_obj["w"])

    # An A1111-style textual-inversion embedding and a CompVis-style checkpoint.
    emb = {"string_to_token": {"*": 265}, "string_to_param": {"*": torch.nn.Parameter(values(8, torch.float32).reshape(2, 4))},
           "name": "my-cat", "step": 500, "sd_checkpoint": "abcdef12", "sd_checkpoint_name": "v1-5"}
    torch.save(emb, out("pt_embedding.pt"))
    good("pt_embedding.pt", None, emb)
    ckpt = {"state_dict": {"model.diffusion_model.input_blocks.0.0.weight": values(12, torch.float16).reshape(3, 1, 2, 2),
                           "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": values(6, torch.float32).reshape(3, 2)},
            "global_step": 470000, "epoch": 6}
    torch.save(ckpt, out("pt_checkpoint.ckpt"))
    good("pt_checkpoint.ckpt", None, ckpt)

    # Shared and cyclic structure: a list holding itself; a 40-level DAG where
    # every level holds the previous one twice (2^40 paths, 40 containers).
    loop = [torch.tensor([1.0, 2.0])]
    loop.append(loop)
    dag = [torch.tensor([4.0])]
    for _ in range(40):
        dag = [dag, dag]
    cyc = {"loop": loop, "dag": dag}
    torch.save(cyc, out("pt_cycle.pt"))
    good("pt_cycle.pt", None, cyc)

    # ---- hostile files: globals that run code ----
    tiny = {"x": torch.ones(2)}
    evil_calls = {
        # protocol 2 writes subprocess.Popen under its Python 2 name, commands.Popen
        "commands.Popen": Evil(subprocess.Popen, ["echo", "pwned"]),
        "__builtin__.eval": Evil(builtins.eval, "1+1"),
        "posix.system": Evil(os.system, "echo pwned"),
    }
    for label, evil in evil_calls.items():
        tag = label.split(".")[-1].lower()
        buf = io.BytesIO()
        torch.save(dict(tiny, evil=evil), buf)
        bad(f"evil_{tag}_zip.pt", buf.getvalue(), "UNSAFE", f"'{label}'")
        buf = io.BytesIO()
        torch.save(dict(tiny, evil=evil), buf, _use_new_zipfile_serialization=False)
        bad(f"evil_{tag}_legacy.pt", stable_legacy_keys(buf.getvalue()), "UNSAFE", f"'{label}'")
    for module, name, proto in (("os", "system", 2), ("builtins", "eval", 4), ("posix", "system", 4),
                                ("torch.storage", "_load_from_bytes", 2), ("builtins", "getattr", 2), ("subprocess", "Popen", 4)):
        raw = raw_global_call(module, name, "echo pwned", proto)
        bad(f"evil_raw_{module}_{name}_zip.pt", zip_container(raw), "UNSAFE", f"'{module}.{name}'")
        bad(f"evil_raw_{module}_{name}_legacy.pt", legacy_container(raw), "UNSAFE", f"'{module}.{name}'")

    # ---- truncated copies of every kind ----
    bad("pt_zip_cut_half.pt", zip_bytes[: len(zip_bytes) // 2], "FORMAT", "damaged or truncated")
    bad("pt_zip_cut_end.pt", zip_bytes[:-10], "FORMAT", "damaged or truncated")
    bad("pt_legacy_cut_storage.pt", legacy_bytes[:-5], "FORMAT", "truncated")
    bad("pt_legacy_cut_pickle.pt", legacy_bytes[:200], "FORMAT", "truncated")
    bad("pt_legacy_cut_keys.pt", legacy_bytes[:-(len(legacy_bytes) // 3)], "FORMAT", "truncated")

    # ---- lying pickles and containers ----
    f4 = struct.pack("<3f", 1.0, 2.0, 3.0)
    st = lambda numel, **kw: FakeStorage("0", numel, **kw)  # noqa: E731
    def both(name, obj_, storages, status, message):
        bad(f"{name}_zip.pt", zip_container(dumps(obj_), storages), status, message)
        bad(f"{name}_legacy.pt", legacy_container(dumps(obj_, legacy=True), storages), status, message)
    bad("lie_storage_size_zip.pt", zip_container(dumps({"t": FakeTensor(st(1000), 0, [3], [1])}), {"0": f4}), "FORMAT",
        "holds 12 bytes but the pickle declares 1000")
    bad("lie_storage_size_legacy.pt", legacy_container(dumps({"t": FakeTensor(st(1000), 0, [3], [1])}, legacy=True),
                                                       {"0": f4}), "FORMAT", "holds 3 elements but the pickle declares 1000")
    both("lie_tensor_past_storage", {"t": FakeTensor(st(3), 0, [10], [1])}, {"0": f4}, "FORMAT",
         "reaches element 9 of a storage of 3")
    both("lie_offset_past_storage", {"t": FakeTensor(st(3), 5, [1], [1])}, {"0": f4}, "FORMAT",
         "reaches element 5 of a storage of 3")
    both("lie_huge_shape", {"t": FakeTensor(st(3), 0, [1 << 40, 1 << 40], [1 << 40, 1])}, {"0": f4}, "FORMAT",
         "overflow")
    both("lie_stride0_overflow", {"t": FakeTensor(st(3), 0, [1 << 31, 1 << 31], [0, 0])}, {"0": f4}, "FORMAT",
         "overflows")
    both("lie_stride0_expand", {"t": FakeTensor(st(3), 0, [1 << 20, 1 << 20], [0, 0])}, {"0": f4}, "FORMAT",
         "would expand to")
    both("lie_negative_size", {"t": FakeTensor(st(3), 0, [-1], [1])}, {"0": f4}, "FORMAT", "integers >= 0")
    both("lie_too_many_dims", {"t": FakeTensor(st(3), 0, [1] * 9, [1] * 9)}, {"0": f4}, "UNSUPPORTED", "9 dimensions")
    bad("lie_storage_key_zip.pt", zip_container(dumps({"t": FakeTensor(FakeStorage("../../x", 3), 0, [3], [1])}),
                                                {"0": f4}), "FORMAT", "not a plain name")
    bad("lie_missing_storage_zip.pt", zip_container(dumps({"t": FakeTensor(FakeStorage("7", 3), 0, [3], [1])}),
                                                    {"0": f4}), "FORMAT", "data/7' is missing")
    bad("lie_complex_storage_zip.pt", zip_container(dumps({"t": FakeTensor(st(3, storage_type=torch.ComplexFloatStorage),
                                                                           0, [3], [1])}), {"0": f4 * 2}),
        "UNSUPPORTED", "torch.ComplexFloatStorage")
    bad("lie_magic_legacy.pt", pickle_dumps_plain(12345) + b"\0" * 8, "FORMAT", "magic number")
    bad("lie_plain_zip.pt", plain_zip(), "FORMAT", "not a checkpoint: a zip archive without")

    # ---- malformed pickles ----
    for name, raw, message in (
        ("deep_marks", b"\x80\x02" + b"(" * 100000 + b"N.", "nested MARKs"),
        ("deep_lists", b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b".", "levels deep"),
        ("deep_dicts", b"\x80\x02" + b"}N" * 100000 + b"}" + b"s" * 100000 + b".", "levels deep"),
        ("memo_missing", b"\x80\x02h\x05.", "never stored"),
        ("memo_huge", b"\x80\x02Nr\xff\xff\xff\x7f.", "memo index"),
        ("stack_underflow", b"\x80\x02a.", "empty stack"),
        ("unknown_opcode", b"\x80\x02\xff.", "unknown pickle opcode 0xff"),
        ("string_too_long", b"\x80\x02X\xff\xff\xff\x7fabc.", "truncated"),
        ("bytes8_too_long", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"abc.", "truncated"),
        ("no_stop", b"\x80\x02}", "without STOP"),
        ("protocol0", b"I42\n.", "protocol 0"),
    ):
        bad(f"pkl_{name}_zip.pt", zip_container(raw, deflate=len(raw) > 1000),
            "UNSUPPORTED" if name == "protocol0" else "FORMAT", message)
        if name not in ("protocol0", "deep_lists", "deep_dicts"):  # (keep fixtures small)
            bad(f"pkl_{name}_legacy.pt", legacy_container(raw), "FORMAT", message)


def pickle_dumps_plain(v):
    import pickle
    return pickle.dumps(v, protocol=2)


def plain_zip():
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("hello.txt", date_time=(1980, 1, 1, 0, 0, 0)), "not a model")
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    make_safetensors()
    make_torch()
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
