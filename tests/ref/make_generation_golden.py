"""make_generation_golden.py: whole guided generations in diffusers 0.31 on the tiny
models, for the end-to-end test (`oneword generate` must match within 1/255 per pixel).

For each case it writes tests/golden/e2e/<case>.safetensors holding
  init_latents  (N, 4, h, w)   the seeded starting noise (before init_noise_sigma scaling)
  final_latents (N, 4, h, w)   the sampler's result
  image         (N, 3, H, W)   decoded image in [0, 1] (float)
  image_u8      (N, H, W, 3)   what diffusers saves as PNG (round(x * 255))
and tests/golden/e2e/cases.json with every case's parameters.
The tokenizer is CLIP's, built from resources/clip/bpe_simple_vocab_16e6.txt.gz.

Run from the repository root:  python3 tests/ref/make_generation_golden.py
"""
import gzip
import json
import os
import tempfile

import torch
from safetensors.torch import save_file
from transformers import CLIPTokenizer
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
OUT = os.path.join(REPO, "tests", "golden", "e2e")


def byte_to_unicode():
    """CLIP's reversible byte -> printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, [chr(c) for c in chars]))


def clip_tokenizer(folder):
    """Writes vocab.json and merges.txt for CLIP's tokenizer from the bundled BPE file."""
    path = os.path.join(REPO, "resources", "clip", "bpe_simple_vocab_16e6.txt.gz")
    if not os.path.exists(path):
        import open_clip  # the same file, as shipped in the open-clip-torch wheel
        path = os.path.join(os.path.dirname(open_clip.__file__), "bpe_simple_vocab_16e6.txt.gz")
    merges = gzip.open(path).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(byte_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return CLIPTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"), model_max_length=77)


def scheduler_for(name, config):
    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "plms":
        return PNDMScheduler.from_config(config)
    if name == "euler":
        return EulerDiscreteScheduler.from_config(config)
    if name == "euler-a":
        return EulerAncestralDiscreteScheduler.from_config(config)
    if name == "dpm++2m-karras":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2,
                                                       use_karras_sigmas=True)
    raise ValueError(name)


BARE_KEYS = ["clip_sample", "set_alpha_to_one", "steps_offset"]
CASES = [
    dict(model="sd-tiny-a", sampler="ddim", eta=0.0, steps=10, scale=7.5, seed=42, n=1,
         prompt="a photo of a cat", negative=""),
    dict(model="sd-tiny-a", sampler="ddim", eta=0.7, steps=10, scale=7.5, seed=7, n=2,
         prompt="a red circle on a blue background", negative="blurry"),
    dict(model="sd-tiny-a", sampler="plms", eta=0.0, steps=10, scale=7.5, seed=42, n=1,
         prompt="a photo of a cat", negative=""),
    dict(model="sd-tiny-a", sampler="euler", eta=0.0, steps=10, scale=5.0, seed=3, n=1,
         prompt="an oil painting of a lighthouse", negative=""),
    dict(model="sd-tiny-a", sampler="euler-a", eta=0.0, steps=10, scale=7.5, seed=11, n=2,
         prompt="a small green star above a yellow square", negative=""),
    dict(model="sd-tiny-a", sampler="dpm++2m-karras", eta=0.0, steps=10, scale=7.5, seed=42, n=1,
         prompt="a photo of a cat", negative="low quality"),
    # A folder whose scheduler_config.json lacks keys that SD 1.x folders written by older
    # diffusers carry: each sampler takes its own class default for them, as diffusers'
    # Scheduler.from_config does (DDIM: clip_sample and set_alpha_to_one true, steps_offset 0).
    dict(model="sd-tiny-a", sampler="ddim", eta=0.0, steps=10, scale=7.5, seed=21, n=1,
         prompt="a photo of a cat", negative="", scheduler_lacks=BARE_KEYS),
    dict(model="sd-tiny-a", sampler="euler", eta=0.0, steps=10, scale=7.5, seed=22, n=1,
         prompt="a photo of a cat", negative="", scheduler_lacks=BARE_KEYS),
    dict(model="sd-tiny-a", sampler="dpm++2m-karras", eta=0.0, steps=10, scale=7.5, seed=23, n=1,
         prompt="a photo of a cat", negative="", scheduler_lacks=BARE_KEYS),
    dict(model="sd-tiny-b", sampler="ddim", eta=0.0, steps=10, scale=7.5, seed=1234, n=1,
         prompt="a watercolor of a fox in the snow", negative=""),
    dict(model="sd-tiny-b", sampler="euler-a", eta=0.0, steps=10, scale=7.5, seed=5, n=1,
         prompt="a watercolor of a fox in the snow", negative=""),
    # The bundled shapes model: real trained weights, f16 on disk, VAE f = 4.
    dict(model="shapes", model_dir="resources/shapes", sampler="euler", eta=0.0, steps=20, scale=9.0, seed=1012,
         n=2, prompt="an orange circle on a purple background", negative=""),
    dict(model="shapes", model_dir="resources/shapes", sampler="dpm++2m-karras", eta=0.0, steps=15, scale=7.5,
         seed=5, n=1, prompt="a green star above a yellow square on a black background", negative=""),
]
LATENT_SIZE = {  # (h, w) of each model's latents
    "sd-tiny-a": (8, 8), "sd-tiny-b": (8, 12), "shapes": (16, 16)}


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = clip_tokenizer(tmp)
        for case in CASES:
            folder = os.path.join(REPO, case.get("model_dir") or os.path.join("tests", "golden", "tiny", case["model"]))
            pipe = StableDiffusionPipeline.from_pretrained(folder, tokenizer=tokenizer, torch_dtype=torch.float32,
                                                           safety_checker=None, feature_extractor=None,
                                                           requires_safety_checker=False)
            if case.get("scheduler_lacks"):
                with open(os.path.join(folder, "scheduler", "scheduler_config.json")) as f:
                    config = json.load(f)
                for key in case["scheduler_lacks"]:
                    config.pop(key, None)
                pipe.scheduler = PNDMScheduler.from_config(config)  # the class the folder names
            pipe.scheduler = scheduler_for(case["sampler"], pipe.scheduler.config)
            pipe.set_progress_bar_config(disable=True)
            unet_cfg = pipe.unet.config
            factor = pipe.vae_scale_factor
            h, w = LATENT_SIZE[case["model"]]
            height, width = h * factor, w * factor
            case.update(height=height, width=width)

            generator = torch.Generator("cpu").manual_seed(case["seed"])
            init = torch.randn((case["n"], unet_cfg.in_channels, h, w), generator=generator)
            generator = torch.Generator("cpu").manual_seed(case["seed"])
            with torch.no_grad():
                result = pipe(prompt=case["prompt"], negative_prompt=case["negative"] or None,
                              num_inference_steps=case["steps"], guidance_scale=case["scale"],
                              eta=case["eta"], generator=generator, num_images_per_prompt=case["n"],
                              height=height, width=width, output_type="latent")
                latents = result.images
                image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
                image = (image / 2 + 0.5).clamp(0, 1)
            image_u8 = (image.permute(0, 2, 3, 1) * 255).round().to(torch.uint8)
            name = f"{case['model']}_{case['sampler']}_eta{case['eta']}_n{case['n']}"
            if case.get("scheduler_lacks"):
                name += "_bare-scheduler"
            case["file"] = name + ".safetensors"
            save_file({"init_latents": init, "final_latents": latents.contiguous(), "image": image.contiguous(),
                       "image_u8": image_u8.contiguous()}, os.path.join(OUT, case["file"]))
            print(f"wrote {case['file']}: {case['height']}x{case['width']}, |latents| max {latents.abs().max():.3f}")
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(CASES, f, indent=2)


if __name__ == "__main__":
    main()
