"""make_ops_golden.py: goldens for the backend ops (tests/ops/test_ops_golden.c), straight
from torch.nn.functional, to confirm that our naive references and the CPU backend follow
torch's definitions (padding, stride, biased variance, eps placement, causal alignment, exact
GELU, softmax scale).

Run from the repository root with the pinned packages (tests/ref/requirements.txt):
    python tests/ref/make_ops_golden.py
Writes tests/golden/ops/ops.safetensors (float32, small): for each case its inputs and
torch's output under "<case>.<name>"; shapes and parameters are in the metadata as JSON
(key "cases"). Deterministic: torch.manual_seed(0), float64 inputs rounded to float32, torch
computing in float32 on the CPU (the same precision as the backend).
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join("tests", "golden", "ops", "ops.safetensors")


def main():
    torch.manual_seed(0)
    tensors = {}
    cases = {}

    def put(case, params, **named):
        cases[case] = params
        for name, t in named.items():
            tensors[f"{case}.{name}"] = t.detach().to(torch.float32).contiguous().clone()

    def rnd(*shape, scale=1.0):
        return (torch.rand(*shape, dtype=torch.float64) * 2 - 1).mul(scale).to(torch.float32)

    # linear: out (M, N) = x (M, K) w^T + b
    x, w, b = rnd(13, 37), rnd(29, 37), rnd(29)
    put("linear", {"M": 13, "N": 29, "K": 37}, x=x, w=w, b=b, out=F.linear(x, w, b))

    # conv2d: symmetric padding, stride 1 and 2, kernel 3 and 1
    x = rnd(2, 5, 9, 11)
    for name, (o, k, stride, pad) in {"conv_k3_s1_p1": (7, 3, 1, 1), "conv_k3_s2_p1": (6, 3, 2, 1),
                                       "conv_k1_s1_p0": (4, 1, 1, 0), "conv_k3_s1_p0": (3, 3, 1, 0)}.items():
        w, b = rnd(o, 5, k, k), rnd(o)
        put(name, {"B": 2, "C": 5, "H": 9, "W": 11, "O": o, "k": k, "stride": stride, "pad": pad},
            x=x, w=w, b=b, out=F.conv2d(x, w, b, stride=stride, padding=pad))
    # the VAE encoder's Downsample2D: F.pad (left 0, right 1, top 0, bottom 1), then stride 2, pad 0
    w, b = rnd(6, 5, 3, 3), rnd(6)
    put("conv_vae_down", {"B": 2, "C": 5, "H": 9, "W": 11, "O": 6, "k": 3, "stride": 2,
                          "pad_top": 0, "pad_bottom": 1, "pad_left": 0, "pad_right": 1},
        x=x, w=w, b=b, out=F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2))

    # group_norm (+ SiLU) and layer_norm
    x = rnd(2, 12, 7, 5, scale=3.0) + 1.5
    g, be = rnd(12) + 1, rnd(12)
    put("group_norm", {"B": 2, "C": 12, "HW": 35, "groups": 4, "eps": 1e-6}, x=x, gamma=g, beta=be,
        out=F.group_norm(x, 4, g, be, 1e-6))
    put("group_norm_silu", {"B": 2, "C": 12, "HW": 35, "groups": 4, "eps": 1e-6}, x=x, gamma=g, beta=be,
        out=F.silu(F.group_norm(x, 4, g, be, 1e-6)))
    x = rnd(13, 37, scale=2.0) + 0.5
    g, be = rnd(37) + 1, rnd(37)
    put("layer_norm", {"M": 13, "N": 37, "eps": 1e-5}, x=x, gamma=g, beta=be,
        out=F.layer_norm(x, (37,), g, be, 1e-5))

    # scaled_dot_product_attention with q/k/v in (B, T, heads*D) as the backend takes them
    def sdpa(case, B, Tq, Tk, heads, D, causal):
        q, k, v = rnd(B, Tq, heads * D, scale=2.0), rnd(B, Tk, heads * D, scale=2.0), rnd(B, Tk, heads * D)

        def split(t, T):
            return t.view(B, T, heads, D).transpose(1, 2)

        o = F.scaled_dot_product_attention(split(q, Tq), split(k, Tk), split(v, Tk), is_causal=causal)
        put(case, {"B": B, "Tq": Tq, "Tk": Tk, "heads": heads, "D": D, "causal": int(causal),
                   "scale": 1.0 / D ** 0.5}, q=q, k=k, v=v, out=o.transpose(1, 2).reshape(B, Tq, heads * D))

    sdpa("attention", 2, 17, 23, 3, 8, False)
    sdpa("attention_causal", 2, 17, 17, 3, 8, True)
    sdpa("attention_causal_tk_gt_tq", 1, 9, 14, 2, 5, True)  # torch aligns the mask top-left

    # element-wise
    x = torch.linspace(-9, 9, 1001, dtype=torch.float64).to(torch.float32)
    put("gelu", {"n": 1001}, x=x, out=F.gelu(x))
    put("silu", {"n": 1001}, x=x, out=F.silu(x))
    put("quick_gelu", {"n": 1001}, x=x, out=x * torch.sigmoid(1.702 * x))
    h = rnd(7, 2 * 19, scale=4.0)
    a, gate = h.chunk(2, dim=-1)
    put("geglu", {"M": 7, "N": 19}, x=h, out=a * F.gelu(gate))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # one metadata key only: safetensors writes its metadata map in hash order
    cases["_torch_version"] = torch.__version__
    save_file(tensors, OUT, metadata={"cases": json.dumps(cases, sort_keys=True)})
    print(f"wrote {OUT}: {len(cases) - 1} cases, {len(tensors)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
