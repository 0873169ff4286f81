"""learn_step_torch.py: the PyTorch side of the textual-inversion step benchmark
(tests/bench/run_learn_step): one step of the diffusers textual_inversion example on
the random SD 1.5 folder that make_sd15_random.py writes (text encoder + UNet in
fp32, batch 1): text encoder with the placeholder's new row, UNet, MSE to the noise,
backward to the token table only (every other weight frozen, as the example does),
one AdamW step. With --checkpointing the example's --gradient_checkpointing:
text_encoder.gradient_checkpointing_enable() and unet.enable_gradient_checkpointing().

FLOPs of one step are counted with torch.utils.flop_counter (the CPU attention
kernel added by hand, as unet_torch.py does); peak RSS is this process's
high-water mark (ru_maxrss), so run one configuration per process.

With --bf16 the forward passes run under torch.autocast("cpu", bfloat16), as the example
does with --mixed_precision bf16 (accelerate's autocast); the learned rows, the loss
and the optimizer stay f32.

usage: python3 learn_step_torch.py CACHE THREADS SIZE [--checkpointing] [--bf16] [--repeat 2]
Prints one JSON line: {"size", "checkpointing", "precision", "seconds" (best), "gflop", "peak_rss_mib", "threads"}.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPTextModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_torch import aten, cpu_sdpa_flop, load_unet  # noqa: E402

# "a photo of a *": BOS, a, photo, of, a, the new token, EOS, padded with EOS (CLIP's ids)
IDS = [49406, 320, 1125, 539, 320, 49408, 49407] + [49407] * 70


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache")
    ap.add_argument("threads", type=int)
    ap.add_argument("size", type=int)
    ap.add_argument("--checkpointing", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="autocast the forward passes to bfloat16")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    unet = load_unet(args.cache)
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(args.cache, "text_encoder"), torch_dtype=torch.float32)
    scheduler = DDPMScheduler.from_pretrained(os.path.join(args.cache, "scheduler"))
    text_encoder.resize_token_embeddings(49409, mean_resizing=False)
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        table[49408] = table[2368].clone()  # "cat"
    unet.requires_grad_(False)
    text_encoder.requires_grad_(False)
    table.requires_grad_(True)
    if args.checkpointing:
        text_encoder.gradient_checkpointing_enable()
        unet.enable_gradient_checkpointing()
        unet.train()
        text_encoder.train()
    optimizer = torch.optim.AdamW([table], lr=5e-3, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    g = torch.Generator().manual_seed(args.size)
    lat = args.size // 8
    latents = torch.randn((1, 4, lat, lat), generator=g)
    noise = torch.randn((1, 4, lat, lat), generator=g)
    t = torch.tensor([500])
    ids = torch.tensor([IDS])

    def step():
        noisy = scheduler.add_noise(latents, noise, t)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            context = text_encoder(ids)[0]
            pred = unet(noisy, t, context).sample
        loss = F.mse_loss(pred.float(), noise.float(), reduction="mean")
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    counter = FlopCounterMode(display=False, custom_mapping={aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa_flop})
    with counter:
        step()
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"size": args.size, "checkpointing": args.checkpointing,
                      "precision": "bf16" if args.bf16 else "fp32", "seconds": best,
                      "gflop": counter.get_total_flops() / 1e9, "peak_rss_mib": rss,
                      "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
