"""vae_torch.py: the PyTorch side of the VAE decode benchmark (tests/bench/run_vae).

Loads the random SD 1.5 VAE that make_sd15_random.py saved under CACHE_DIR/vae
(diffusers' AutoencoderKL, f16 weights) and times one decode of a (1, 4, S/8, S/8)
latent into an S x S image on the CPU, in fp32, or with --dtype bf16 in bfloat16 (the
model and the latent, as diffusers runs with torch_dtype=torch.bfloat16). The FLOPs
of one decode are counted with torch.utils.flop_counter.

The fp32 run also writes CACHE_DIR/io/vae_<size>.safetensors: the latent ("z", seeded
by the size) and torch's fp32 image ("image"), so that bench_vae checks it computed
the same thing. The latent goes to the decoder as it is (what diffusers' pipelines
pass after dividing by scaling_factor).

usage: python3 vae_torch.py CACHE_DIR THREADS SIZE [SIZE ...] [--repeat 2] [--dtype fp32|bf16]
Prints one JSON line per size: {"size", "precision", "seconds", "gflop", "peak_rss_mib", "threads"}.
"""
import argparse
import json
import os
import resource
import time

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cache")
    parser.add_argument("threads", type=int)
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    vae = AutoencoderKL.from_pretrained(os.path.join(args.cache, "vae"), torch_dtype=torch.float32)
    vae.eval()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    vae = vae.to(dtype)
    os.makedirs(os.path.join(args.cache, "io"), exist_ok=True)
    for size in args.sizes:
        g = torch.Generator().manual_seed(size)
        z = torch.randn((1, 4, size // 8, size // 8), generator=g)
        with torch.no_grad():  # the flop counter sees no ops under inference_mode
            counter = FlopCounterMode(display=False)
            with counter:
                image = vae.decode(z.to(dtype)).sample
            flops = counter.get_total_flops()
        if args.dtype == "fp32":
            save_file({"z": z.contiguous(), "image": image.float().contiguous()},
                      os.path.join(args.cache, "io", f"vae_{size}.safetensors"))
        with torch.inference_mode():
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                vae.decode(z.to(dtype))
                best = min(best, time.perf_counter() - start)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({"size": size, "precision": args.dtype, "seconds": best, "gflop": flops / 1e9,
                          "peak_rss_mib": peak, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
