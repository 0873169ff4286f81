"""make_refpt_fixtures.py: embedding files as the reference textual-inversion repo
(rinongal/textual_inversion, 2022) writes them, for oneword's reader.

Its EmbeddingManager.save does
    torch.save({"string_to_token": {placeholder: 0-dim int64 tensor},
                "string_to_param": <torch.nn.ParameterDict placeholder -> Parameter (n, dim)>}, path)
so string_to_param is pickled as an nn.Module: NEWOBJ(ParameterDict, ()) + BUILD(instance __dict__).
Which attributes that __dict__ holds depends on the torch version:
  torch 1.8-1.11  "_parameters" (OrderedDict key -> Parameter), "_initialized": True, no "_keys"
  torch 1.12-1.13 "_parameters" (OrderedDict), "_keys" (dict key -> None, the dict's order)
  torch 2.x       "_parameters" (a plain dict), "_keys"
plus Module's bookkeeping (training, _buffers, hook dicts, _modules, ...). The repo itself pins
torch 1.10-1.13 era releases; files made with it since then come from 2.x too.

Writes tests/golden/embeddings/:
  ref_parameterdict_multi.pt        torch 2.5 zip, two placeholders: "*" (4, 768), "@" (2, 768)
  ref_parameterdict_f16.pt          torch 2.5 zip, "*" (3, 768) float16
  ref_parameterdict_ldm.pt          torch 2.5 zip, LDM's BERT text encoder: "*" (1, 1280)
  ref_parameterdict_legacy.pt       torch 2.5 legacy (non-zip) stream, "*" (2, 768)
  ref_parameterdict_gpu.pt          torch 2.5 zip with the storages tagged "cuda:0" (the repo trains on a GPU)
  ref_parameterdict_torch113.pt     torch 1.13.1 zip ("_parameters" an OrderedDict, plus "_keys"), two placeholders
  ref_parameterdict_torch113_legacy.pt  torch 1.13.1 legacy stream
  ref_parameterdict_torch111.pt     torch 1.10/1.11 layout, written by torch 1.13.1 after turning the instance's
                                    __dict__ into what 1.11's ParameterDict had (no "_keys", "_initialized": True;
                                    1.11's class stored entries only through register_parameter), two placeholders
                                    in an order that is not sorted, so the reader must follow "_parameters"
  ref_parameterdict_bad_*.pt        hostile or broken ParameterDicts (see make_bad): os.system smuggled into the
                                    state (zip and legacy), a function in a hook dict, a Linear in _modules, a
                                    ParameterList instead, a _keys entry without a parameter
  ref_parameterdict_expect.json     like expect.json (files: format, dim, tokens...; bad: status, message word),
                                    plus each token's string_to_token id ("clip_id")
  ref_parameterdict_expect.safetensors  every token's vectors as f32 ("<file>/<token>")
The older fixture ref_parameterdict.pt (torch 2.5 zip, "*" (1, 768) = randn seed 31) comes from
make_embedding_fixtures.py; its expectation as a readable file is recorded here.

torch 1.13.1 is not installed by requirements.txt. To regenerate its three files, install it apart
(pip download torch==1.13.1 --no-deps; pip install --no-deps --target DIR the wheel) and pass
--old-torch DIR. Its CUDA wheel wants libcublas.so.11 / libcudnn.so.8 at import even on the CPU; if
they are absent, --old-torch-libs DIR points at stand-ins with those sonames (never called on the CPU).
Without --old-torch the committed torch 1.13 files are kept, and checked against the expectation.
Every fixture is loaded back with torch 2.5 and compared bit for bit with the values it was made from.
Deterministic (fixed seeds; legacy storage keys renamed in order of use).
Run: python tests/ref/make_refpt_fixtures.py [--old-torch DIR [--old-torch-libs DIR]]
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tempfile

from format_pickle import stable_legacy_keys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "golden", "embeddings")
PWNED = "/tmp/oneword_embedding_pwned"  # what tests/embeddings checks is never created
FORMAT = "reference .pt (string_to_param, ParameterDict)"

# (file, torch, layout, [(token, clip id, seed, n, dim, dtype)])
SD, LDM = 768, 1280
SPECS = [
    ("ref_parameterdict_multi.pt", "2.5", "zip", [("*", 265, 101, 4, SD, "F32"), ("@", 287, 102, 2, SD, "F32")]),
    ("ref_parameterdict_f16.pt", "2.5", "zip", [("*", 265, 103, 3, SD, "F16")]),
    ("ref_parameterdict_ldm.pt", "2.5", "zip", [("*", 2008, 104, 1, LDM, "F32")]),
    ("ref_parameterdict_legacy.pt", "2.5", "legacy", [("*", 265, 105, 2, SD, "F32")]),
    ("ref_parameterdict_gpu.pt", "2.5", "gpu", [("*", 265, 106, 1, SD, "F32")]),
    ("ref_parameterdict_torch113.pt", "1.13", "zip", [("*", 265, 107, 2, SD, "F32"), ("@", 287, 108, 1, SD, "F32")]),
    ("ref_parameterdict_torch113_legacy.pt", "1.13", "legacy", [("*", 265, 109, 3, SD, "F32")]),
    ("ref_parameterdict_torch111.pt", "1.13", "torch111", [("@", 287, 110, 1, SD, "F32"), ("*", 265, 111, 2, SD, "F32")]),
]


def values(seed, n, dim, dtype):
    """The vectors of one token as a list of floats (exactly representable in dtype)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, dim, generator=g)
    if dtype == "F16":
        t = t.half().float()
    return t.tolist()


# ---- writing (runs under whichever torch imports: 2.5 here, 1.13 in the child) ----

def build(tokens, layout):
    import torch
    pd = torch.nn.ParameterDict()
    ids = {}
    for token, clip_id, rows, dtype in tokens:
        t = torch.tensor(rows, dtype=torch.float32)
        if dtype == "F16":
            t = t.half()
        # As EmbeddingManager.__init__: string_to_param_dict[placeholder] = Parameter((n, dim)).
        pd[token] = torch.nn.Parameter(t, requires_grad=True)
        ids[token] = torch.tensor(clip_id)  # get_clip_token_for_string: tokens[0, 1], a 0-dim int64 tensor
    if layout == "torch111":
        # torch 1.10/1.11's ParameterDict kept entries only in _parameters (register_parameter) and
        # set self._initialized = True in __init__; "_keys" came with torch 1.12.
        state = pd.__dict__
        del state["_keys"]
        state["_initialized"] = True
    return {"string_to_token": ids, "string_to_param": pd}


def to_gpu_tag(data):
    """Retags every storage of a torch zip archive "cuda:0" (the pickle's BINUNICODE 'cpu')."""
    import zipfile
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name in src.namelist():
            blob = src.read(name)
            if name.endswith("/data.pkl"):
                a, b = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
                assert a in blob
                blob = blob.replace(a, b)
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, blob)
    return buf.getvalue()


def write(name, tokens, layout):
    import torch
    obj = build(tokens, layout)
    target = os.path.join(OUT, name)
    # Saved to a path like EmbeddingManager.save (the zip's root folder is the file's stem).
    torch.save(obj, target, _use_new_zipfile_serialization=(layout != "legacy"))
    with open(target, "rb") as f:
        data = f.read()
    if layout == "legacy":
        data = stable_legacy_keys(data)
    elif layout == "gpu":
        data = to_gpu_tag(data)
    with open(target, "wb") as f:
        f.write(data)
    print(f"wrote {name} with torch {torch.__version__} ({layout}, {len(data)} bytes)")


def child(spec_path):
    """Runs under the older torch: writes the files listed in spec_path."""
    with open(spec_path) as f:
        jobs = json.load(f)
    for name, layout, tokens in jobs:
        write(name, [tuple(t) for t in tokens], layout)


# ---- hostile and broken files (torch 2.5) ----

class _Evil:
    """Unpickling this runs os.system (torch.load(weights_only=False) would create PWNED)."""
    def __reduce__(self):
        return (os.system, ("touch " + PWNED,))


def make_bad(expect):
    import torch

    def save_bad(name, obj, status, word, legacy=False):
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(stable_legacy_keys(buf.getvalue()) if legacy else buf.getvalue())
        expect["bad"][name] = {"status": status, "contains": word}
        print(f"wrote {name} (expect {status} naming '{word}')")

    def base():
        pd = torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.zeros(1, SD))})
        return pd, {"string_to_token": {"*": torch.tensor(265)}, "string_to_param": pd}

    # A call to os.system smuggled into the module's state (an instance attribute).
    pd, obj = base()
    pd.__dict__["payload"] = _Evil()
    save_bad("ref_parameterdict_bad_state_call.pt", obj, "UNSAFE", "system")
    save_bad("ref_parameterdict_bad_state_call_legacy.pt", obj, "UNSAFE", "system", legacy=True)
    # A function object in a hook dict: a bare global, never called, still refused.
    pd, obj = base()
    pd._forward_hooks[0] = os.system
    save_bad("ref_parameterdict_bad_hook.pt", obj, "UNSAFE", "system")
    # Another module inside it (_modules): only ParameterDict itself is admitted.
    pd, obj = base()
    torch.manual_seed(0)
    pd.add_module("proj", torch.nn.Linear(2, 2))
    save_bad("ref_parameterdict_bad_submodule.pt", obj, "UNSAFE", "torch.nn.modules.linear.Linear")
    # A different container class as string_to_param.
    obj = {"string_to_token": {"*": torch.tensor(265)},
           "string_to_param": torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(1, SD))])}
    save_bad("ref_parameterdict_bad_paramlist.pt", obj, "UNSAFE", "torch.nn.modules.container.ParameterList")
    # _keys names a placeholder that _parameters lacks.
    pd, obj = base()
    pd.__dict__["_keys"]["ghost"] = None
    save_bad("ref_parameterdict_bad_ghost_key.pt", obj, "FORMAT", "ghost")


# ---- expectations ----

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-torch", help="folder holding a torch 1.13.1 install (put on PYTHONPATH)")
    ap.add_argument("--old-torch-libs", help="folder with libcublas.so.11 / libcudnn.so.8 for it")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return

    import torch
    from safetensors.torch import save_file
    assert torch.__version__.startswith("2.5"), f"run with the pinned torch 2.5.1, not {torch.__version__}"
    os.makedirs(OUT, exist_ok=True)
    expect = {"files": {}, "bad": {}}
    vectors = {}
    old_jobs = []
    for name, version, layout, toks in SPECS:
        tokens = [(t, cid, values(seed, n, dim, dt), dt) for t, cid, seed, n, dim, dt in toks]
        if version == "2.5":
            write(name, tokens, layout)
        else:
            old_jobs.append((name, layout, tokens))
        dim = toks[0][4]
        expect["files"][name] = {
            "format": FORMAT, "name": None, "step": None, "checkpoint": None, "checkpoint_name": None, "dim": dim,
            "sdxl": False,
            "tokens": [{"token": t, "vectors": n, "dtype": dt, "clip_id": cid} for t, cid, seed, n, d, dt in toks]}
        for t, cid, rows, dt in tokens:
            vectors[f"{name}/{t}"] = torch.tensor(rows, dtype=torch.float32)
    if args.old_torch:
        with tempfile.TemporaryDirectory() as tmp:
            spec = os.path.join(tmp, "jobs.json")
            with open(spec, "w") as f:
                json.dump(old_jobs, f)
            env = dict(os.environ, PYTHONPATH=args.old_torch, PYTHONWARNINGS="ignore")
            if args.old_torch_libs:
                env["LD_LIBRARY_PATH"] = args.old_torch_libs + ":" + env.get("LD_LIBRARY_PATH", "")
            subprocess.run([sys.executable, os.path.abspath(__file__), "--child", spec], env=env, check=True)
    else:
        print("no --old-torch: keeping the committed torch 1.13 fixtures (checked below)")

    # make_embedding_fixtures.py's ParameterDict file: "*" = randn(1, 768) from seed 31, CLIP id 265.
    g = torch.Generator().manual_seed(31)
    expect["files"]["ref_parameterdict.pt"] = {
        "format": FORMAT, "name": None, "step": None, "checkpoint": None, "checkpoint_name": None, "dim": SD,
        "sdxl": False, "tokens": [{"token": "*", "vectors": 1, "dtype": "F32", "clip_id": 265}]}
    vectors["ref_parameterdict.pt/*"] = torch.randn(1, SD, generator=g)

    # Every readable fixture, loaded by torch 2.5, holds exactly the expected values, ids and order.
    for name, want in expect["files"].items():
        d = torch.load(os.path.join(OUT, name), map_location="cpu", weights_only=False)  # our own files
        pd = d["string_to_param"]
        assert isinstance(pd, torch.nn.ParameterDict), name
        # Without "_keys" (the 1.11 layout) torch 2.5's ParameterDict cannot iterate; read its _parameters.
        keys = list(pd.__dict__.get("_keys", pd._parameters).keys())
        assert keys == [t["token"] for t in want["tokens"]], (name, keys)
        for t in want["tokens"]:
            p = pd._parameters[t["token"]]
            assert str(p.dtype) == {"F32": "torch.float32", "F16": "torch.float16"}[t["dtype"]], name
            assert torch.equal(p.detach().float(), vectors[f"{name}/{t['token']}"]), (name, t["token"])
            assert int(d["string_to_token"][t["token"]]) == t["clip_id"], name
    print(f"checked {len(expect['files'])} readable fixtures against their values with torch {torch.__version__}")

    make_bad(expect)
    assert not os.path.exists(PWNED)
    save_file({k: v.contiguous() for k, v in vectors.items()}, os.path.join(OUT, "ref_parameterdict_expect.safetensors"))
    with open(os.path.join(OUT, "ref_parameterdict_expect.json"), "w") as f:
        json.dump(expect, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT) if n.startswith("ref_parameterdict"))
    print(f"wrote ref_parameterdict_expect.json/.safetensors: {len(expect['files'])} readable, "
          f"{len(expect['bad'])} bad; ref_parameterdict* total {total} bytes")


if __name__ == "__main__":
    main()
