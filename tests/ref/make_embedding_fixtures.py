"""make_embedding_fixtures.py: textual-inversion embedding files in every layout
people share, written by the tools that make them (torch.save, safetensors, PIL
with A1111's JSON/base64 encoding), plus hostile and broken ones, and a
transformers golden for the text encoder with added tokens.

Writes tests/golden/embeddings/:
  <fixture files>         see FIXTURES below
  expect.json             per file: status, format, name, step, checkpoint, dim, tokens (token, vectors, dtype)
                          per bad file: expected status and a word the message must contain
  expect.safetensors      every fixture token's vectors as f32 ("<file>/<token>"), exact
  text_encoder.safetensors transformers 4.46.3 CLIPTextModel (sd-tiny-a, f32) last_hidden_state and ids for
                          prompts using <tiny-a> (1 vector) and <tiny-b> (2 vectors, diffusers' <tiny-b>_1 naming)

Layouts learned from A1111's modules/textual_inversion (Embedding.save, image_embedding.py,
create_embedding_from_data), diffusers 0.31 loaders/textual_inversion.py and the reference
repo's EmbeddingManager.save / merge_embeddings.py. Deterministic (fixed seeds).
Run: python tests/ref/make_embedding_fixtures.py
"""
import base64
import io
import json
import os
import struct
import sys
import tempfile
import zipfile

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import format_pickle as fp  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "golden", "embeddings")
TINY = os.path.join(ROOT, "tests", "golden", "tiny", "sd-tiny-a")

expect = {"files": {}, "bad": {}}
vectors = {}


def randn(seed, *shape):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def path(name):
    return os.path.join(OUT, name)


def record(name, fmt, tokens, dim, name_field=None, step=None, checkpoint=None, checkpoint_name=None, sdxl=False):
    """tokens: [(token, tensor as stored, dtype name)] — the tensor's f32 values are the expectation."""
    expect["files"][name] = {
        "format": fmt, "name": name_field, "step": step, "checkpoint": checkpoint, "checkpoint_name": checkpoint_name,
        "dim": dim, "sdxl": sdxl,
        "tokens": [{"token": t, "vectors": int(v.reshape(-1, v.shape[-1]).shape[0]), "dtype": d} for t, v, d in tokens],
    }
    for t, v, d in tokens:
        vectors[f"{name}/{t}"] = v.detach().float().reshape(-1, v.shape[-1]).clone()


def bad(name, data, status, contains):
    with open(path(name), "wb") as f:
        f.write(data)
    expect["bad"][name] = {"status": status, "contains": contains}


def a1111_dict(vec, name, step, ck="a9e5b1f6", ck_name="v1-5-pruned-emaonly"):
    return {"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": name, "step": step,
            "sd_checkpoint": ck, "sd_checkpoint_name": ck_name}


def a1111_json(d):
    """json.dumps with tensors as {"TORCHTENSOR": nested lists}, as A1111's EmbeddingEncoder."""
    def enc(o):
        if isinstance(o, torch.Tensor):
            return {"TORCHTENSOR": o.cpu().detach().numpy().tolist()}
        raise TypeError
    return json.dumps(d, default=enc)


def lcg_nibbles(n):
    """A1111's block scrambler: LCG from seed 0, value % 255, low 4 bits."""
    out, seed = np.empty(n, np.uint8), 0
    for i in range(n):
        seed = (1664525 * seed + 1013904223) % 2 ** 32
        out[i] = (seed % 255) & 0x0F
    return out


def pixel_embed(image, data):
    """Our rendition of insert_image_data_embed: zlib(JSON) split into low / high nibbles,
    each repeated to fill (h, k, 3), given a dotted high-nibble pattern, scrambled, and pasted
    left and right of the image with one black column between."""
    from PIL import ImageDraw
    import zlib
    raw = np.frombuffer(zlib.compress(a1111_json(data).encode(), level=9), np.uint8)
    h, d = image.size[1], 3
    size = raw.shape[0] + (h - raw.shape[0] % h)
    size = size + (h * d - size % (h * d))
    edge = next(iter(data["string_to_param"].values())).detach().numpy()[0][:1024]
    edge = (np.abs(edge) / np.max(np.abs(edge)) * 255).astype(np.uint8)

    def block(nibbles, shades):
        b = np.resize(nibbles, size).reshape((h, -1, d))
        im = Image.new("RGB", (b.shape[1], b.shape[0]))
        draw, i = ImageDraw.Draw(im), 0
        for x in range(-6, im.size[0], 8):
            for yi, y in enumerate(range(-6, im.size[1], 8)):
                off = 4 if yi % 2 == 0 else 0
                s = int(shades[i % len(shades)])
                i += 1
                draw.ellipse((x + off, y, x + 6 + off, y + 6), fill=(s, s, s))
        b = b ^ (np.array(im).astype(np.uint8) & 0xF0)
        return Image.fromarray(b ^ lcg_nibbles(b.size).reshape(b.shape), mode="RGB")
    low, high = block(raw & 0x0F, edge), block(raw >> 4, edge[::-1])
    out = Image.new("RGB", (image.size[0] + low.size[0] + high.size[0] + 2, h), (0, 0, 0))
    out.paste(low, (0, 0))
    out.paste(image, (low.size[0] + 1, 0))
    out.paste(high, (low.size[0] + 1 + image.size[0] + 1, 0))
    return out


def pixel_extract(image):
    """Our rendition of extract_image_data_embed (crop to non-black, low nibbles, blocks
    outside the outermost all-zero columns, unscramble, join, inflate, JSON)."""
    import zlib
    a = np.array(image.convert("RGB")).astype(np.uint8)
    mask = (a > 0).all(2)
    cols, rows = np.where(mask.any(0))[0], np.where(mask.any(1))[0]
    a = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] & 0x0F
    black = np.where(a.sum(axis=(0, 2)) == 0)[0]
    lo, hi = a[:, :black.min()], a[:, black.max() + 1:]
    lo = lo ^ lcg_nibbles(lo.size).reshape(lo.shape)
    hi = hi ^ lcg_nibbles(hi.size).reshape(hi.shape)
    return json.loads(zlib.decompress(((hi << 4) | lo).astype(np.uint8).tobytes()))


def save_pt(obj, name, **kw):
    torch.save(obj, path(name), **kw)
    with open(path(name), "rb") as f:
        return f.read()


def make_readable():
    # Reference repo (rinongal/textual_inversion): string_to_token holds CLIP ids as 0-dim tensors.
    v = torch.nn.Parameter(randn(1, 1, 768))
    save_pt({"string_to_token": {"*": torch.tensor(265)}, "string_to_param": {"*": v}}, "ref_sd.pt")
    record("ref_sd.pt", "reference .pt (string_to_param)", [("*", v, "F32")], 768)
    a, b = randn(2, 2, 768), randn(3, 3, 768)
    save_pt({"string_to_token": {"*": torch.tensor(265), "@": torch.tensor(287)},
             "string_to_param": {"*": torch.nn.Parameter(a), "@": torch.nn.Parameter(b)}}, "ref_sd_two.pt")
    record("ref_sd_two.pt", "reference .pt (string_to_param)", [("*", a, "F32"), ("@", b, "F32")], 768)
    v = randn(4, 1, 1280)  # LDM text-to-image: BERT text encoder, 1280 wide
    save_pt({"string_to_token": {"*": torch.tensor(2008)}, "string_to_param": {"*": torch.nn.Parameter(v)}}, "ref_ldm.pt")
    record("ref_ldm.pt", "reference .pt (string_to_param)", [("*", v, "F32")], 1280)

    # A1111 Embedding.save: f32 (requires_grad, as after training), f16, bf16.
    v = randn(5, 4, 768).requires_grad_(True)
    data = save_pt(a1111_dict(v, "my-cat", 3000), "a1111_f32.pt")
    record("a1111_f32.pt", "A1111 .pt (string_to_param)", [("my-cat", v, "F32")], 768, "my-cat", 3000, "a9e5b1f6",
           "v1-5-pruned-emaonly")
    for dt, label in ((torch.float16, "F16"), (torch.bfloat16, "BF16")):
        v = randn(6, 2, 768).to(dt)
        nm = f"a1111_{label.lower()}.pt"
        save_pt(a1111_dict(v, f"style-{label.lower()}", 150, None, None), nm)
        record(nm, "A1111 .pt (string_to_param)", [(f"style-{label.lower()}", v, label)], 768, f"style-{label.lower()}",
               150)
    # Saved from a GPU: the storage location says cuda:0.
    v = randn(7, 1, 768)
    cpu = save_pt(a1111_dict(v, "gpu-cat", 10), "a1111_gpu.pt")
    gpu = fp.rezip(cpu, edit_pickle=lambda d: fp.replace_location(d, "cpu", "cuda:0"))
    with open(path("a1111_gpu.pt"), "wb") as f:
        f.write(gpu)
    record("a1111_gpu.pt", "A1111 .pt (string_to_param)", [("gpu-cat", v, "F32")], 768, "gpu-cat", 10, "a9e5b1f6",
           "v1-5-pruned-emaonly")
    # Root folder named anything (renamed files keep their old root).
    v = randn(8, 2, 768)
    data = save_pt(a1111_dict(v, "odd-root", 20), "a1111_oddroot.pt")
    with open(path("a1111_oddroot.pt"), "wb") as f:
        f.write(fp.rezip(data, root="my embedding (final) v2.1"))
    record("a1111_oddroot.pt", "A1111 .pt (string_to_param)", [("odd-root", v, "F32")], 768, "odd-root", 20, "a9e5b1f6",
           "v1-5-pruned-emaonly")
    # Legacy (torch < 1.6) non-zip file.
    v = randn(9, 3, 768)
    data = save_pt(a1111_dict(v, "legacy-cat", 7), "a1111_legacy.pt", _use_new_zipfile_serialization=False)
    with open(path("a1111_legacy.pt"), "wb") as f:
        f.write(fp.stable_legacy_keys(data))
    record("a1111_legacy.pt", "A1111 .pt (string_to_param)", [("legacy-cat", v, "F32")], 768, "legacy-cat", 7,
           "a9e5b1f6", "v1-5-pruned-emaonly")

    # emb_params (kohya sd-scripts / A1111-style), .safetensors and .pt: token = file name.
    v = randn(10, 3, 768)
    save_file({"emb_params": v}, path("kohya-style.safetensors"))
    record("kohya-style.safetensors", "A1111 .safetensors (emb_params)", [("kohya-style", v, "F32")], 768)
    v = randn(11, 2, 768).half()
    save_pt({"emb_params": v}, "kohya-pt.pt")
    record("kohya-pt.pt", "emb_params .pt", [("kohya-pt", v, "F16")], 768)

    # diffusers learned_embeds: {token: (768)} (.bin) and {token: (n, 768)} (.safetensors, bf16).
    v = randn(12, 768)
    save_pt({"<cat-toy>": v}, "learned_embeds.bin")
    record("learned_embeds.bin", "diffusers .bin (token -> vectors)", [("<cat-toy>", v, "F32")], 768)
    v = randn(13, 2, 768).to(torch.bfloat16)
    save_file({"<low-poly>": v}, path("learned_embeds.safetensors"))
    record("learned_embeds.safetensors", "diffusers .safetensors (token -> vectors)", [("<low-poly>", v, "BF16")], 768)

    # SDXL: clip_l / clip_g.
    l, g = randn(14, 2, 768), randn(15, 2, 1280)
    save_file({"clip_g": g, "clip_l": l}, path("sdxl-style.safetensors"))
    record("sdxl-style.safetensors", "SDXL .safetensors (clip_l + clip_g)", [("sdxl-style", l, "F32")], 768, sdxl=True)
    vectors["sdxl-style.safetensors/sdxl-style/clip_g"] = g

    # A1111 PNG: base64 JSON in an 'sd-ti-embedding' tEXt chunk (and zTXt), as image_embedding.py encodes it.
    def b64(d):
        def enc(o):
            if isinstance(o, torch.Tensor):
                return {"TORCHTENSOR": o.cpu().detach().numpy().tolist()}
            raise TypeError
        return base64.b64encode(json.dumps(d, default=enc).encode())
    v = randn(16, 2, 768)
    img = Image.new("RGB", (32, 32), (200, 180, 40))
    for nm, z in (("png-cat.png", False), ("png-cat-ztxt.png", True)):
        info = PngImagePlugin.PngInfo()
        info.add_text("sd-ti-embedding", b64(a1111_dict(v, "png-cat", 500)).decode(), zip=z)
        img.save(path(nm), "PNG", pnginfo=info)
        record(nm, "A1111 .png (sd-ti-embedding text chunk)", [("png-cat", v, "F32")], 768, "png-cat", 500, "a9e5b1f6",
               "v1-5-pruned-emaonly")
    # A1111's other PNG variant: the zlib-compressed JSON hidden in the low nibbles of two
    # pixel blocks left and right of the picture (image_embedding.py insert_image_data_embed).
    v = randn(18, 3, 768)
    data = a1111_dict(v, "pixel-cat", 900)
    img = pixel_embed(Image.new("RGB", (96, 64), (220, 200, 60)), data)
    img.save(path("png-pixels.png"), "PNG")
    decoded = pixel_extract(Image.open(path("png-pixels.png")))
    assert decoded["name"] == "pixel-cat" and decoded["string_to_param"]["*"]["TORCHTENSOR"] == v.tolist()
    record("png-pixels.png", "A1111 .png (data hidden in the pixels)", [("pixel-cat", v, "F32")], 768, "pixel-cat", 900,
           "a9e5b1f6", "v1-5-pruned-emaonly")
    # Our own JSON layout.
    v = randn(17, 2, 768)
    with open(path("ours.json"), "w") as f:
        json.dump({"format": "oneword-embedding", "name": "json-cat", "step": 42,
                   "tokens": [{"token": "<json-cat>", "dtype": "F32", "vectors": v.tolist()}]}, f)
    record("ours.json", "oneword .json", [("<json-cat>", v, "F32")], 768, "json-cat", 42)

    # 32-wide embeddings for the tiny model (sd-tiny-a's text encoder is 32 wide).
    ta, tb = randn(20, 1, 32), randn(21, 2, 32)
    save_pt({"<tiny-a>": ta}, "tiny_a.bin")
    record("tiny_a.bin", "diffusers .bin (token -> vectors)", [("<tiny-a>", ta, "F32")], 32)
    save_file({"<tiny-b>": tb}, path("tiny_b.safetensors"))
    record("tiny_b.safetensors", "diffusers .safetensors (token -> vectors)", [("<tiny-b>", tb, "F32")], 32)
    # Two reference files that both use '*' (the merge clash), 32 wide.
    s1, s2 = randn(22, 1, 32) * 3, randn(23, 2, 32) * 3
    save_pt({"string_to_token": {"*": torch.tensor(265)}, "string_to_param": {"*": torch.nn.Parameter(s1)}}, "tiny_star_1.pt")
    record("tiny_star_1.pt", "reference .pt (string_to_param)", [("*", s1, "F32")], 32)
    save_pt({"string_to_token": {"*": torch.tensor(265)}, "string_to_param": {"*": torch.nn.Parameter(s2)}}, "tiny_star_2.pt")
    record("tiny_star_2.pt", "reference .pt (string_to_param)", [("*", s2, "F32")], 32)
    return ta, tb


def make_bad():
    """Hostile and broken files: each must fail with the status and a word of the message."""
    v = randn(30, 1, 768)
    good = save_pt(a1111_dict(v, "x", 1), "tmp.pt")
    os.remove(path("tmp.pt"))
    storage = v.numpy().astype("<f4").tobytes()

    class Call:  # pickles as module.name(arg)
        def __init__(self, fn, arg):
            self.fn, self.arg = fn, arg

        def __reduce__(self):
            return (self.fn, (self.arg,))

    import builtins
    import os as os_module
    import webbrowser
    marker = "/tmp/oneword_embedding_pwned"
    calls = {"os_system": (os_module.system, f"touch {marker}", "system"),
             "builtins_eval": (builtins.eval, f"open('{marker}', 'w')", "eval"),
             "webbrowser_open": (webbrowser.open, "http://example.invalid", "webbrowser.open")}
    for label, (fn, arg, word) in calls.items():
        obj = {"string_to_token": {"*": 265}, "string_to_param": {"*": fp.FakeTensor(fp.FakeStorage("0", 768), 0, (1, 768), (768, 1))},
               "name": Call(fn, arg), "step": 1}
        bad(f"evil_{label}_zip.pt", fp.zip_container(fp.dumps(obj), {"0": storage}), "UNSAFE", word)
        obj["string_to_param"]["*"] = fp.FakeTensor(fp.FakeStorage("k0", 768, view=None), 0, (1, 768), (768, 1))
        bad(f"evil_{label}_legacy.pt", fp.legacy_container(fp.dumps(obj, legacy=True), {"k0": storage}), "UNSAFE", word)
    # Truncated files.
    bad("truncated_zip.pt", good[: len(good) // 2], "FORMAT", "")
    with open(path("kohya-style.safetensors"), "rb") as f:
        st = f.read()
    bad("truncated.safetensors", st[: len(st) - 100], "FORMAT", "")
    with open(path("png-cat.png"), "rb") as f:
        png = f.read()
    bad("truncated.png", png[: len(png) // 2], "FORMAT", "truncated")

    def st_file(header, data=b""):
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data
    # safetensors headers that lie about offsets and sizes, and huge shapes.
    bad("lie_offsets.safetensors", st_file({"emb_params": {"dtype": "F32", "shape": [1, 768], "data_offsets": [0, 3072]}},
                                           b"\0" * 100), "FORMAT", "")
    bad("lie_shape.safetensors", st_file({"emb_params": {"dtype": "F32", "shape": [2, 768], "data_offsets": [0, 3072]}},
                                         b"\0" * 3072), "FORMAT", "")
    bad("huge_shape.safetensors", st_file({"emb_params": {"dtype": "F32", "shape": [1 << 40, 768],
                                                          "data_offsets": [0, 3072]}}, b"\0" * 3072), "FORMAT", "")
    bad("huge_header.safetensors", struct.pack("<Q", 1 << 62) + b"{}", "FORMAT", "")
    bad("too_many_vectors.safetensors", st_file({"emb_params": {"dtype": "F32", "shape": [5000, 1],
                                                                "data_offsets": [0, 20000]}}, b"\0" * 20000),
        "FORMAT", "vectors")
    # Torch files with lying storages: huge numel, tensor past its storage.
    obj = {"string_to_param": {"*": fp.FakeTensor(fp.FakeStorage("0", 1 << 60), 0, (1 << 30, 768), (768, 1))}}
    bad("huge_storage_zip.pt", fp.zip_container(fp.dumps(obj), {"0": storage}), "FORMAT", "")
    obj = {"string_to_param": {"*": fp.FakeTensor(fp.FakeStorage("0", 768), 0, (4, 768), (768, 1))}}
    bad("past_storage_zip.pt", fp.zip_container(fp.dumps(obj), {"0": storage}), "FORMAT", "")
    # Deep nesting: 100000 nested lists in the pickle.
    deep = b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b"."
    bad("deep_zip.pt", fp.zip_container(deep, {}), "FORMAT", "")
    bad("deep_legacy.pt", fp.legacy_container(deep, {}), "FORMAT", "")
    # Broken PNG embeddings.
    def png_with_text(text, keyword=b"sd-ti-embedding", crc_ok=True):
        import zlib
        body = keyword + b"\0" + text
        crc = zlib.crc32(b"tEXt" + body) ^ (0 if crc_ok else 1)
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", crc)
        return png[:33] + chunk + png[33:]
    bad("png_bad_crc.png", png_with_text(b"e30=", crc_ok=False), "FORMAT", "CRC")
    bad("png_not_base64.png", png_with_text(b"!!!not base64!!!"), "FORMAT", "base64")
    bad("png_not_json.png", png_with_text(base64.b64encode(b"{\"string_to_param\": ")), "FORMAT", "JSON")
    bad("png_deep_json.png", png_with_text(base64.b64encode(b"[" * 10000 + b"]" * 10000)), "FORMAT", "JSON")
    ragged = {"string_to_param": {"*": {"TORCHTENSOR": [[1.0, 2.0], [3.0]]}}, "name": "r"}
    bad("png_ragged.png", png_with_text(base64.b64encode(json.dumps(ragged).encode())), "FORMAT", "vector 1")
    huge_len = png[:33] + struct.pack(">I", 0x7ffffff0) + b"tEXt" + b"sd-ti-embedding\0" + b"x" * 10
    bad("png_huge_chunk.png", huge_len, "FORMAT", "declares")
    img = Image.new("RGB", (16, 16), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    bad("png_plain.png", buf.getvalue(), "FORMAT", "plain image")
    # JSON that is not ours, or deep.
    bad("json_no_tokens.json", b'{"format": "x"}', "NOT_FOUND", "tokens")
    bad("json_deep.json", b"[" * 5000 + b"]" * 5000, "FORMAT", "JSON")
    bad("json_ragged.json", json.dumps({"tokens": [{"token": "a", "vectors": [[1, 2], [3]]}]}).encode(), "FORMAT", "vector")
    # A model-like file: not an embedding (inspect falls back to the checkpoint reader).
    save_file({"a.weight": torch.zeros(4, 3), "b.weight": torch.zeros(5), "c": torch.zeros(2, 2, 2)},
              path("not_embedding.safetensors"))
    expect["bad"]["not_embedding.safetensors"] = {"status": "NOT_FOUND", "contains": "checkpoint"}
    # The reference repo's own files pickle string_to_param as a torch.nn.ParameterDict module;
    # they are readable: their expectations are in ref_parameterdict_expect.json (make_refpt_fixtures.py).
    save_pt({"string_to_token": {"*": torch.tensor(265)},
             "string_to_param": torch.nn.ParameterDict({"*": torch.nn.Parameter(randn(31, 1, 768))})},
            "ref_parameterdict.pt")


def make_text_encoder_golden(ta, tb):
    """transformers: add <tiny-a> (1 vector) and <tiny-b>, <tiny-b>_1 (diffusers' names for a 2-vector
    token), set their rows, encode prompts; our engine writes the prompt with <tiny-b> alone."""
    from transformers import CLIPTextModel
    import make_tokenizer_golden as mtg
    with tempfile.TemporaryDirectory() as tmp:
        tok, _ = mtg.build_tokenizer(tmp)
    ids_new = mtg.add_tokens_new_ids(tok, ["<tiny-a>", "<tiny-b>", "<tiny-b>_1"])
    enc = CLIPTextModel.from_pretrained(os.path.join(TINY, "text_encoder"), torch_dtype=torch.float32).eval()
    enc.resize_token_embeddings(49408 + 3, mean_resizing=False)
    with torch.no_grad():
        w = enc.get_input_embeddings().weight
        w[ids_new[0]] = ta[0]
        w[ids_new[1]] = tb[0]
        w[ids_new[2]] = tb[1]
    prompts = [("a photo of <tiny-a>", "a photo of <tiny-a>"),
               ("<tiny-b> in the style of <tiny-a>", "<tiny-b> <tiny-b>_1 in the style of <tiny-a>"),
               ("a photo of a cat", "a photo of a cat")]
    out = {}
    for i, (ours, theirs) in enumerate(prompts):
        ids = tok(theirs, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            hidden = enc(ids).last_hidden_state
        out[f"ids_{i}"] = ids.to(torch.int32).contiguous()
        out[f"hidden_{i}"] = hidden.contiguous()
        expect.setdefault("text_encoder_prompts", []).append(ours)
    save_file(out, path("text_encoder.safetensors"))


def main():
    os.makedirs(OUT, exist_ok=True)
    ta, tb = make_readable()
    make_bad()
    make_text_encoder_golden(ta, tb)
    save_file(vectors, path("expect.safetensors"))
    with open(path("expect.json"), "w") as f:
        json.dump(expect, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(path(n)) for n in os.listdir(OUT))
    print(f"wrote {len(expect['files'])} readable fixtures, {len(expect['bad'])} bad ones, "
          f"{len(vectors)} expected tensors, text encoder golden; {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
