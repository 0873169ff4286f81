"""unet_openvino.py: the OpenVINO side of the UNet benchmark (tests/bench/run_unet).

The strongest CPU peer: what Intel's OpenVINO plug-ins for GIMP run. Loads the same
random SD 1.5 UNet that unet_torch.py saved under CACHE_DIR/unet, converts it with
openvino.convert_model at static shapes (one model per size), compiles it for the CPU
with the inference precision asked (bf16: AMX or AVX512-BF16 where the processor has
them) and the given thread count, and times one evaluation of batch B.

usage: python3 unet_openvino.py CACHE_DIR THREADS SIZE [SIZE ...] [--batch 2] [--repeat 3] [--precision bf16|f32]
Prints one JSON line per size: {"size", "batch", "precision", "seconds", "threads", "peer": "openvino"}.
"""
import argparse
import json
import os
import time

import openvino
import torch
from diffusers import UNet2DConditionModel


class Plain(torch.nn.Module):
    """The UNet with tensor in, tensor out (what convert_model traces)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, context):
        return self.unet(sample, timestep, encoder_hidden_states=context).sample


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cache")
    parser.add_argument("threads", type=int)
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--precision", choices=("bf16", "f32"), default="bf16")
    args = parser.parse_args()
    unet = UNet2DConditionModel.from_pretrained(os.path.join(args.cache, "unet"), torch_dtype=torch.float32).eval()
    core = openvino.Core()
    config = {"INFERENCE_PRECISION_HINT": args.precision}
    if args.threads > 0:
        config["INFERENCE_NUM_THREADS"] = args.threads
    for size in args.sizes:
        latent = size // 8
        g = torch.Generator().manual_seed(size)
        sample = torch.randn((args.batch, 4, latent, latent), generator=g)
        context = torch.randn((args.batch, 77, 768), generator=g)
        t = torch.tensor([500.0])
        with torch.no_grad():
            model = openvino.convert_model(Plain(unet), example_input=(sample, t, context))
        compiled = core.compile_model(model, "CPU", config)
        inputs = [sample.numpy(), t.numpy(), context.numpy()]
        compiled(inputs)  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            compiled(inputs)
            best = min(best, time.perf_counter() - start)
        print(json.dumps({"size": size, "batch": args.batch, "precision": "bf16" if args.precision == "bf16" else "fp32",
                          "seconds": best, "threads": args.threads, "peer": "openvino"}), flush=True)


if __name__ == "__main__":
    main()
