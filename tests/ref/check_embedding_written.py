"""check_embedding_written.py: do the other tools load the embedding files oneword
writes? Runs `oneword convert` / `oneword merge` on the committed fixtures
(tests/golden/embeddings/) and loads every result with
  - torch.load(path, weights_only=True)   (.pt / .bin: the restricted unpickler)
  - safetensors.torch.load_file           (.safetensors)
  - json                                  (.json)
  - diffusers 0.31 StableDiffusionPipeline.load_textual_inversion on the tiny
    model tests/golden/tiny/sd-tiny-a (32-wide fixtures): the token is added and
    its text-encoder rows equal our vectors bit for bit
and compares values bit for bit with the fixtures' expectation.
Needs torch / safetensors / diffusers (tests/ref/requirements.txt); tests/run does not.
usage: python tests/ref/check_embedding_written.py path/to/oneword
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden", "embeddings")
TINY = os.path.join(ROOT, "tests", "golden", "tiny", "sd-tiny-a")
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}

checks = failures = 0


def check(cond, what):
    global checks, failures
    checks += 1
    if cond:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what}", file=sys.stderr)


def same(a, b):
    """Bit-exact equality of two tensors (values and dtype)."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.uint8) if a.dtype != torch.bool else a,
                                                                       b.view(torch.uint8) if b.dtype != torch.bool else b)


def run(oneword, *args):
    r = subprocess.run([oneword, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"oneword {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def main():
    oneword = sys.argv[1]
    expect = json.load(open(os.path.join(GOLDEN, "expect.json")))["files"]
    want = load_file(os.path.join(GOLDEN, "expect.safetensors"))
    tmp = tempfile.mkdtemp(prefix="ow_emb_written_")
    sources = ["a1111_f32.pt", "a1111_f16.pt", "a1111_bf16.pt", "ref_sd_two.pt", "learned_embeds.bin",
               "kohya-style.safetensors", "png-cat.png", "learned_embeds.safetensors", "sdxl-style.safetensors"]
    for src in sources:
        info = expect[src]
        toks = info["tokens"]
        stem = src.replace(".", "_")

        def expected(t):
            return want[f"{src}/{t['token']}"].to(DTYPES[t["dtype"]])
        if info["sdxl"]:
            out = os.path.join(tmp, stem + ".safetensors")
            run(oneword, "convert", os.path.join(GOLDEN, src), out)
            sd = load_file(out)
            check(same(sd["clip_l"], expected(toks[0])) and
                  same(sd["clip_g"], want[f"{src}/{toks[0]['token']}/clip_g"]), f"{src} -> .safetensors: clip_l/clip_g exact")
            continue
        # .pt in the A1111 / reference layout: torch.load(weights_only=True).
        out = os.path.join(tmp, stem + ".pt")
        run(oneword, "convert", os.path.join(GOLDEN, src), out)
        d = torch.load(out, weights_only=True)
        if len(toks) == 1:
            t = toks[0]
            ok = (same(d["string_to_param"]["*"], expected(t)) and d["name"] == t["token"] and
                  int(d["string_to_token"]["*"]) == 265 and d["step"] == info["step"])
            check(ok, f"{src} -> .pt (A1111): torch.load(weights_only=True), name '{d['name']}', step {d['step']}, values exact")
            # A1111's loader: one string_to_param entry, (n, dim).
            check(len(d["string_to_param"]) == 1 and d["string_to_param"]["*"].dim() == 2, f"{src} -> .pt: A1111 shape rules")
        else:
            ok = all(same(d["string_to_param"][t["token"]], expected(t)) for t in toks)
            check(ok and set(d["string_to_token"]) == {t["token"] for t in toks},
                  f"{src} -> .pt (reference layout, {len(toks)} tokens): torch.load(weights_only=True), values exact")
        # diffusers .bin: {token: (n, dim)}.
        out = os.path.join(tmp, stem + ".bin")
        run(oneword, "convert", os.path.join(GOLDEN, src), out)
        d = torch.load(out, weights_only=True)
        check(all(same(d[t["token"]], expected(t)) for t in toks), f"{src} -> .bin (diffusers): torch.load, values exact")
        # safetensors, both layouts.
        out = os.path.join(tmp, stem + "_d.safetensors")
        run(oneword, "convert", os.path.join(GOLDEN, src), out, "--layout", "diffusers")
        d = load_file(out)
        check(all(same(d[t["token"]], expected(t)) for t in toks), f"{src} -> .safetensors (diffusers): values exact")
        if len(toks) == 1:
            out = os.path.join(tmp, stem + "_a.safetensors")
            run(oneword, "convert", os.path.join(GOLDEN, src), out, "--layout", "a1111")
            from safetensors import safe_open
            with safe_open(out, "pt") as f:
                meta = f.metadata()
            check(same(load_file(out)["emb_params"], expected(toks[0])) and meta.get("name") == toks[0]["token"],
                  f"{src} -> .safetensors (A1111 emb_params): values exact, name in metadata")
        out = os.path.join(tmp, stem + ".json")
        run(oneword, "convert", os.path.join(GOLDEN, src), out)
        j = json.load(open(out))
        ok = all(torch.equal(torch.tensor(jt["vectors"], dtype=torch.float64).float(), expected(t).float())
                 for jt, t in zip(j["tokens"], toks))
        check(ok and j["format"] == "oneword-embedding", f"{src} -> .json: values exact")

    # diffusers' load_textual_inversion on the tiny pipeline (32-wide text encoder).
    from diffusers import StableDiffusionPipeline
    import make_tokenizer_golden as mtg
    merged = os.path.join(tmp, "merged.pt")
    run(oneword, "merge", os.path.join(GOLDEN, "tiny_star_1.pt"), os.path.join(GOLDEN, "tiny_star_2.pt"),
        "--rename", "tiny_star_2.pt:*=@", "-o", merged)
    d = torch.load(merged, weights_only=True)
    check(same(d["string_to_param"]["*"], want["tiny_star_1.pt/*"]) and same(d["string_to_param"]["@"], want["tiny_star_2.pt/*"]),
          "merged .pt: torch.load(weights_only=True), both tokens exact")
    with tempfile.TemporaryDirectory() as tokdir:
        tok, _ = mtg.build_tokenizer(tokdir)
    clip_ids = {t: tok(t, add_special_tokens=False).input_ids for t in ("*", "@")}
    check({t: int(v) for t, v in d["string_to_token"].items()} == {t: ids[0] for t, ids in clip_ids.items()},
          f"merged .pt: string_to_token holds CLIP's ids {dict((t, int(v)) for t, v in d['string_to_token'].items())} "
          f"(reference repo)")
    cases = []
    for fmt, args in ((".pt", []), (".bin", []), (".safetensors", ["--layout", "diffusers"]),
                      ("_a1111.safetensors", ["--layout", "a1111"])):
        out = os.path.join(tmp, "tiny_b" + fmt if fmt[0] == "." else "tiny_b" + fmt)
        run(oneword, "convert", os.path.join(GOLDEN, "tiny_b.safetensors"), out, *args)
        cases.append((out, fmt))
    with tempfile.TemporaryDirectory() as tokdir:
        for out, fmt in cases:
            tok, _ = mtg.build_tokenizer(tokdir)
            pipe = StableDiffusionPipeline.from_pretrained(TINY, tokenizer=tok, safety_checker=None,
                                                           feature_extractor=None, requires_safety_checker=False)
            pipe.text_encoder.to(torch.float32)
            # An emb_params file carries no token for diffusers: it needs token=.
            pipe.load_textual_inversion(out, token="<tiny-b>" if "a1111.safetensors" in fmt else None,
                                        weight_name=os.path.basename(out))
            ids = [tok.convert_tokens_to_ids(t) for t in ("<tiny-b>", "<tiny-b>_1")]
            rows = pipe.text_encoder.get_input_embeddings().weight[ids].detach()
            check(ids[0] >= 49408 and torch.equal(rows, want["tiny_b.safetensors/<tiny-b>"]),
                  f"diffusers load_textual_inversion({os.path.basename(out)}): <tiny-b>, <tiny-b>_1 rows exact "
                  f"(ids {ids})")
            check(pipe.maybe_convert_prompt("a <tiny-b>", tok) == "a <tiny-b> <tiny-b>_1",
                  f"diffusers expands <tiny-b> to 2 vectors ({fmt})")
    print(f"{checks} checks, {failures} failed (files in {tmp})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
