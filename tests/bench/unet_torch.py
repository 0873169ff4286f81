"""unet_torch.py: the PyTorch side of the UNet benchmark (tests/bench/run_unet).

Builds diffusers' UNet2DConditionModel with the SD 1.5 configuration and random
weights (seed 0), saves it once as a diffusers folder (f16 weights) under
CACHE_DIR/unet that the C benchmark (bench_unet.c) loads too, counts the FLOPs of
one evaluation with torch.utils.flop_counter (plus the CPU attention kernel, which
the counter does not know), and times the evaluation on the CPU in fp32, or with
--dtype bf16 in bf16 (the model and inputs in bfloat16, as a CPU user runs diffusers
with torch_dtype=torch.bfloat16).

For each size the fp32 run also writes CACHE_DIR/io/unet_<size>_b<batch>.safetensors:
the inputs (sample, encoder_hidden_states, timestep) and torch's fp32 output, so that
bench_unet checks it computed the same thing (the bf16 run writes nothing). Inputs are seeded by the size, so
they do not depend on which other sizes are asked for.

usage: python3 unet_torch.py CACHE_DIR THREADS SIZE [SIZE ...] [--batch 2] [--repeat 3] [--dtype fp32|bf16]
                             [--profile]
Prints one JSON line per size: {"size", "batch", "precision", "seconds", "gflop", "threads"}.
"""
import argparse
import json
import os
import sys
import time

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

SD15 = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=768, attention_head_dim=8)

aten = torch.ops.aten


def cpu_sdpa_flop(query, key, value, *args, out_shape=None, **kwargs):
    """FLOPs of aten._scaled_dot_product_flash_attention_for_cpu (q, k, v: (B, heads, T, D))."""
    return sdpa_flop_count(query, key, value)


# The op types of bench_unet's profile, so the two tables line up. In diffusers
# the transformers' proj_in / proj_out are 1x1 convolutions (C -> C); bench_unet
# runs them as linears and counts them under "linear q/k/v/out/proj".
OP_ORDER = ["conv 3x3 (+stride 2)", "conv 1x1 (shortcut)", "linear q/k/v/out/proj", "linear cross k/v",
            "linear ff.proj", "linear ff.out", "linear time emb", "attention self", "attention cross",
            "group norm", "layer norm", "geglu", "element-wise", "transpose (C<->HW)", "concat", "upsample 2x",
            "other"]


def op_type(name, shapes, batch):
    """bench_unet's op type of one aten op given its input shapes."""
    if name in ("aten::mkldnn_convolution", "aten::thnn_conv2d", "aten::_slow_conv2d_forward"):
        x, w = shapes[0], shapes[1]
        if w[2] == 1 and w[3] == 1:
            return "linear q/k/v/out/proj" if w[0] == w[1] else "conv 1x1 (shortcut)"
        return "conv 3x3 (+stride 2)"
    if name in ("aten::addmm", "aten::mm"):
        x, w = (shapes[1], shapes[2]) if name == "aten::addmm" else (shapes[0], shapes[1])
        m, k, n = x[0], x[1], w[1]
        if m == batch or m == 1:
            return "linear time emb"
        if m == batch * 77:
            return "linear cross k/v"
        if n == 8 * k:
            return "linear ff.proj"
        if k == 4 * n:
            return "linear ff.out"
        return "linear q/k/v/out/proj"
    if name.startswith("aten::_scaled_dot_product"):
        return "attention self" if shapes[0][2] == shapes[1][2] else "attention cross"
    if name == "aten::native_group_norm":
        return "group norm"
    if name == "aten::native_layer_norm":
        return "layer norm"
    if name in ("aten::gelu", "aten::mul"):
        return "geglu"  # GEGLU's hidden * gelu(gate) (plus the tiny timestep products)
    if name in ("aten::add", "aten::add_", "aten::div", "aten::silu", "aten::silu_", "aten::sub"):
        return "element-wise"
    if name in ("aten::copy_", "aten::clone", "aten::contiguous"):
        return "transpose (C<->HW)"
    if name == "aten::cat":
        return "concat"
    if name.startswith("aten::upsample"):
        return "upsample 2x"
    return "other"


def print_profile(prof, size, batch, wall):
    """Self CPU time of one evaluation per op type, bench_unet's table layout (stderr)."""
    seconds, calls = {}, {}
    for ev in prof.key_averages(group_by_input_shape=True):
        kind = op_type(ev.key, ev.input_shapes, batch)
        seconds[kind] = seconds.get(kind, 0.0) + ev.self_cpu_time_total / 1e6
        if kind != "other":
            calls[kind] = calls.get(kind, 0) + ev.count
    total = sum(seconds.values())
    print(f"# torch profile {size}^2 batch {batch}: one evaluation, {wall:.3f} s under the profiler "
          f"(ops' self time {total:.3f} s)", file=sys.stderr)
    print(f"# {'op':<22} {'calls':>6} {'seconds':>9} {'time%':>6}", file=sys.stderr)
    for kind in OP_ORDER:
        if kind in seconds:
            print(f"# {kind:<22} {calls.get(kind, 0):>6} {seconds[kind]:>9.3f} {100 * seconds[kind] / wall:>5.1f}%",
                  file=sys.stderr)


def load_unet(cache):
    folder = os.path.join(cache, "unet")
    if not os.path.exists(os.path.join(folder, "config.json")):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**SD15)
        unet.half().save_pretrained(folder)
        print(f"# wrote {folder}", flush=True)
    unet = UNet2DConditionModel.from_pretrained(folder, torch_dtype=torch.float32)
    unet.eval()
    return unet


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cache")
    parser.add_argument("threads", type=int)
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--profile", action="store_true", help="per-op table of one evaluation on stderr")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    unet = load_unet(args.cache)
    if args.dtype == "bf16":
        unet = unet.to(torch.bfloat16)
    os.makedirs(os.path.join(args.cache, "io"), exist_ok=True)
    for size in args.sizes:
        latent = size // 8
        g = torch.Generator().manual_seed(size)
        sample = torch.randn((args.batch, 4, latent, latent), generator=g)
        context = torch.randn((args.batch, 77, 768), generator=g)
        if args.dtype == "bf16":
            sample, context = sample.to(torch.bfloat16), context.to(torch.bfloat16)
        t = torch.tensor([500.0])
        with torch.no_grad():  # the flop counter sees no ops under inference_mode
            counter = FlopCounterMode(display=False,
                                      custom_mapping={aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa_flop})
            with counter:
                out = unet(sample, t, encoder_hidden_states=context).sample
            flops = counter.get_total_flops()
        if args.dtype == "fp32":
            io = os.path.join(args.cache, "io", f"unet_{size}_b{args.batch}.safetensors")
            save_file({"sample": sample.contiguous(), "encoder_hidden_states": context.contiguous(),
                       "timestep": t, "out": out.contiguous()}, io)
        with torch.inference_mode():
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                unet(sample, t, encoder_hidden_states=context)
                best = min(best, time.perf_counter() - start)
        if args.profile:
            start = time.perf_counter()
            with torch.inference_mode(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                                record_shapes=True) as prof:
                unet(sample, t, encoder_hidden_states=context)
            print_profile(prof, size, args.batch, time.perf_counter() - start)
        print(json.dumps({"size": size, "batch": args.batch, "precision": args.dtype, "seconds": best,
                          "gflop": flops / 1e9, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
