"""unet_torch.py: the PyTorch side of the UNet benchmark (tests/bench/run_unet).

Builds diffusers' UNet2DConditionModel with the SD 1.5 configuration and random
weights (seed 0), saves it once as a diffusers folder (f16 weights) that the C
benchmark loads too, counts the FLOPs of one evaluation with
torch.utils.flop_counter, and times the evaluation on the CPU in fp32.

usage: python3 unet_torch.py CACHE_DIR THREADS SIZE [SIZE ...] --batch 2 --repeat 3
Prints one JSON line per size: {"size", "batch", "seconds", "gflop"}.
"""
import argparse
import json
import os
import time

import torch
from diffusers import UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode

SD15 = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=768, attention_head_dim=8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cache")
    parser.add_argument("threads", type=int)
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    folder = os.path.join(args.cache, "unet")
    if os.path.exists(os.path.join(folder, "config.json")):
        unet = UNet2DConditionModel.from_pretrained(folder, torch_dtype=torch.float32)
    else:
        unet = UNet2DConditionModel(**SD15)
        unet.half().save_pretrained(folder)
        unet = UNet2DConditionModel.from_pretrained(folder, torch_dtype=torch.float32)
    unet.eval()
    g = torch.Generator().manual_seed(1)
    for size in args.sizes:
        latent = size // 8
        sample = torch.randn((args.batch, 4, latent, latent), generator=g)
        context = torch.randn((args.batch, 77, 768), generator=g)
        t = torch.tensor([500.0])
        with torch.no_grad():  # the flop counter sees no ops under inference_mode
            counter = FlopCounterMode(display=False)
            with counter:
                unet(sample, t, encoder_hidden_states=context)
            flops = counter.get_total_flops()
        with torch.inference_mode():
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                unet(sample, t, encoder_hidden_states=context)
                best = min(best, time.perf_counter() - start)
        print(json.dumps({"size": size, "batch": args.batch, "seconds": best, "gflop": flops / 1e9}), flush=True)


if __name__ == "__main__":
    main()
