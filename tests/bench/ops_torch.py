#!/usr/bin/env python3
"""ops_torch.py: PyTorch (CPU, float32) timings for the same SD 1.5 UNet shapes as
bench_ops.c (512x512, batch 2), printed in the same format:
    name <TAB> best milliseconds <TAB> GFLOP/s (or GB/s)
Usage: ops_torch.py [threads] [repeats]. q/k/v are (B, T, heads*D) viewed as
(B, heads, T, D), as diffusers' attention processor passes them."""
import sys
import time

import torch
import torch.nn.functional as F


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    repeats = max(1, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, best of {repeats}")

    def timed(name, work, unit, fn):
        with torch.no_grad():
            fn()
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
        ms = best * 1e3
        print(f"{name}\t{ms:.3f}\t{work / (ms * 1e6):.2f} {unit}", flush=True)

    B, C, H, W, heads, D, ctx, ff = 2, 320, 64, 64, 8, 40, 77, 1280
    T = H * W
    x = torch.randn(B, C, H, W)
    w3 = torch.randn(C, C, 3, 3)
    w1 = torch.randn(C, C, 1, 1)
    bias = torch.randn(C)
    flops = 2.0 * B * C * T * C * 9
    timed("conv3x3_320_64x64_b2", flops, "GFLOP/s", lambda: F.conv2d(x, w3, bias, 1, 1))
    timed("conv1x1_320_64x64_b2", 2.0 * B * C * T * C, "GFLOP/s", lambda: F.conv2d(x, w1, bias))
    timed("conv3x3_s2_320_64x64_b2", flops / 4, "GFLOP/s", lambda: F.conv2d(x, w3, bias, 2, 1))
    timed("group_norm_silu_320_64x64_b2", 2.0 * B * C * T * 4, "GB/s",
          lambda: F.silu(F.group_norm(x, 32, bias, bias, 1e-5)))

    def heads_view(t, n):
        return t.view(B, n, heads, D).transpose(1, 2)

    q = torch.randn(B, T, heads * D)
    k = torch.randn(B, T, heads * D)
    v = torch.randn(B, T, heads * D)
    kc = torch.randn(B, ctx, heads * D)
    vc = torch.randn(B, ctx, heads * D)

    def attention(qq, kk, vv, tk):
        o = F.scaled_dot_product_attention(heads_view(qq, T), heads_view(kk, tk), heads_view(vv, tk))
        return o.transpose(1, 2).reshape(B, T, heads * D)

    timed("attention_self_4096x4096_h8_d40_b2", 4.0 * B * heads * T * T * D, "GFLOP/s",
          lambda: attention(q, k, v, T))
    timed("attention_cross_4096x77_h8_d40_b2", 4.0 * B * heads * T * ctx * D, "GFLOP/s",
          lambda: attention(q, kc, vc, ctx))

    M = B * T
    xs = torch.randn(M, C)
    wa = torch.randn(2 * ff, C)
    ba = torch.randn(2 * ff)
    h = torch.randn(M, 2 * ff)
    wb = torch.randn(C, ff)
    g = torch.randn(M, ff)
    timed("linear_8192x320_to_2560", 2.0 * M * 2 * ff * C, "GFLOP/s", lambda: F.linear(xs, wa, ba))

    def geglu():
        a, gate = h.chunk(2, dim=-1)
        return a * F.gelu(gate)

    timed("geglu_8192x1280", M * 3.0 * ff * 4, "GB/s", geglu)
    timed("linear_8192x1280_to_320", 2.0 * M * ff * C, "GFLOP/s", lambda: F.linear(g, wb, bias))
    timed("layer_norm_8192x320", M * C * 2.0 * 4, "GB/s", lambda: F.layer_norm(xs, (C,), bias, bias, 1e-5))


if __name__ == "__main__":
    main()
