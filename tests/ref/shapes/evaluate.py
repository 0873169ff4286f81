"""evaluate.py: does resources/shapes follow its prompts? And does our engine draw exactly
what diffusers draws from the same folder?

1. `oneword generate --model resources/shapes` for 16 prompts of the grammar x 4 seeds
   (64 images) -> the C judge (tests/judge/judge_png) must accept >= 80 %; the same prompts
   with the shape and background colours swapped (same seeds, judged against the swapped
   caption) must be accepted <= 20 %. Extra rows (two-shape scenes, held-out colour/shape
   pairs) are reported but not part of the target.
2. diffusers' StableDiffusionPipeline on the same folder, same prompt/seed/sampler: the
   PNGs must agree within 1/255 per pixel.

Run from the repository root after building (meson setup build/shapes && meson compile -C build/shapes):
  python3 tests/ref/shapes/evaluate.py [--build build/shapes] [--sampler euler] [--steps 20] [--scale 9]
Exit status 0 when both targets and the cross-check hold.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# 16 single-shape prompts: every shape, every training colour as shape and as background,
# no held-out pair. Shape colour and background colour are swapped for the control.
PROMPTS = [
    ("red", "circle", "blue"), ("green", "square", "white"), ("blue", "star", "yellow"),
    ("yellow", "triangle", "purple"), ("orange", "ring", "black"), ("purple", "cross", "white"),
    ("white", "circle", "red"), ("black", "square", "orange"), ("red", "triangle", "green"),
    ("green", "star", "black"), ("blue", "ring", "white"), ("yellow", "cross", "blue"),
    ("orange", "circle", "purple"), ("purple", "square", "yellow"), ("white", "star", "green"),
    ("black", "ring", "yellow"),
]
EXTRA = [
    "a red circle left of a blue square on a white background",
    "a yellow star above a green ring on a black background",
    "a red star on a white background",       # held-out pair (red star never drawn in training)
    "a blue triangle on a yellow background",  # held-out pair
]
SEEDS_PER_PROMPT = 4


def a(word):
    return "an " if word[0] in "aeiou" else "a "


def prompt_of(colour, shape, bg):
    return f"{a(colour)}{colour} {shape} on {a(bg)}{bg} background"


def generate(oneword, model, prompt, seed, n, args, outdir):
    cmd = [oneword, "generate", "--model", model, "--prompt", prompt, "--steps", str(args.steps),
           "--scale", str(args.scale), "--sampler", args.sampler, "--seed", str(seed), "--n-samples", str(n),
           "--width", "64", "--height", "64", "--threads", "1", "--outdir", outdir]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"evaluate: {' '.join(cmd)} failed:\n{r.stderr}")
    return [os.path.join(outdir, "samples", f"{i:05d}.png") for i in range(n)]


def judge(judge_png, pairs, tmp, colours=None):
    """pairs: (png, caption) -> list of accepted flags (one judge_png --list call). When
    colours is a list, it receives per image whether at least the colours were right (the
    judge found the background and a big enough region of each shape colour)."""
    listing = os.path.join(tmp, "judge_list.txt")
    with open(listing, "w") as f:
        for png, cap in pairs:
            f.write(f"{os.path.relpath(png, tmp)}\t{cap}\n")
    r = subprocess.run([judge_png, "--list", listing, tmp], capture_output=True, text=True)
    verdicts, whys = [], []
    for line in r.stdout.splitlines():
        if line.startswith(("accept\t", "reject\t")):
            verdicts.append(line.startswith("accept"))
            whys.append("ok")
        elif line.startswith("  why: ") and whys:
            whys[-1] = line[7:]
    if colours is not None:
        colours[:] = [w == "ok" or "looks like" in w or "across, not" in w or "relation" in w or "compact" in w
                      for w in whys]
    if len(verdicts) != len(pairs):
        sys.exit(f"evaluate: judge_png answered {len(verdicts)} of {len(pairs)}:\n{r.stdout}\n{r.stderr}")
    return verdicts


def diffusers_check(model, cases, oneword, args, tmp):
    import torch
    sys.path.insert(0, os.path.join(REPO, "tests", "ref"))
    from make_generation_golden import clip_tokenizer, scheduler_for
    from diffusers import StableDiffusionPipeline
    tokdir = os.path.join(tmp, "tokenizer")
    os.makedirs(tokdir, exist_ok=True)
    pipe = StableDiffusionPipeline.from_pretrained(model, tokenizer=clip_tokenizer(tokdir), torch_dtype=torch.float32,
                                                   safety_checker=None, feature_extractor=None,
                                                   requires_safety_checker=False)
    pipe.scheduler = scheduler_for(args.sampler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    worst = 0
    for prompt, seed, n in cases:
        with torch.no_grad():
            out = pipe(prompt=prompt, num_inference_steps=args.steps, guidance_scale=args.scale,
                       generator=torch.Generator("cpu").manual_seed(seed), num_images_per_prompt=n,
                       height=64, width=64, output_type="np").images
        ref = np.rint(out * 255).astype(np.int16)  # as diffusers' numpy_to_pil rounds
        pngs = generate(oneword, model, prompt, seed, n, args, os.path.join(tmp, f"x{seed}"))
        for i, png in enumerate(pngs):
            ours = np.asarray(Image.open(png).convert("RGB")).astype(np.int16)
            diff = int(np.abs(ours - ref[i]).max())
            worst = max(worst, diff)
            print(f"  diffusers vs oneword: \"{prompt}\" seed {seed} image {i}: max |diff| {diff}/255")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build", "shapes"))
    ap.add_argument("--model", default=os.path.join(REPO, "resources", "shapes"))
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--scale", type=float, default=9.0)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--keep", help="keep the images in this folder")
    ap.add_argument("--no-diffusers", action="store_true")
    args = ap.parse_args()
    oneword = os.path.join(args.build, "engine", "cli", "oneword")
    judge_png = os.path.join(args.build, "tests", "judge", "judge_png")
    for exe in (oneword, judge_png):
        if not os.path.exists(exe):
            sys.exit(f"evaluate: {exe} not found; build first (meson compile -C {args.build})")
    tmp = args.keep or tempfile.mkdtemp(prefix="shapes-eval-")
    os.makedirs(tmp, exist_ok=True)

    print(f"model {args.model}, sampler {args.sampler}, {args.steps} steps, scale {args.scale}, "
          f"{SEEDS_PER_PROMPT} seeded samples per prompt (seed {args.seed} + prompt index)")
    rows, pairs, swapped_pairs = [], [], []
    for k, (colour, shape, bg) in enumerate(PROMPTS):
        prompt = prompt_of(colour, shape, bg)
        pngs = generate(oneword, args.model, prompt, args.seed + k, SEEDS_PER_PROMPT, args,
                        os.path.join(tmp, f"p{k:02d}"))
        swapped = prompt_of(bg, shape, colour)
        spngs = generate(oneword, args.model, swapped, args.seed + k, SEEDS_PER_PROMPT, args,
                         os.path.join(tmp, f"s{k:02d}"))
        rows.append((prompt, swapped))
        pairs += [(p, prompt) for p in pngs]
        swapped_pairs += [(p, swapped) for p in spngs]
    col = []
    ok = judge(judge_png, pairs, tmp, col)
    sok = judge(judge_png, swapped_pairs, tmp)
    # Control: the images made for the prompt, judged against the colour-swapped caption.
    cross = judge(judge_png, [(p, rows[i // SEEDS_PER_PROMPT][1]) for i, (p, _) in enumerate(pairs)], tmp)

    n = SEEDS_PER_PROMPT
    print("\n| prompt | accepted | colours right | judged as swapped | swapped prompt | accepted |\n|---|---|---|---|---|---|")
    for k, (prompt, swapped) in enumerate(rows):
        sl = slice(k * n, (k + 1) * n)
        print(f"| {prompt} | {sum(ok[sl])}/{n} | {sum(col[sl])}/{n} | {sum(cross[sl])}/{n} | {swapped} | {sum(sok[sl])}/{n} |")
    acc = sum(ok) / len(ok)
    racc = sum(sok) / len(sok)
    xacc = sum(cross) / len(cross)
    print(f"\nprompted images accepted: {sum(ok)}/{len(ok)} = {100 * acc:.1f}% (target >= 80%)")
    print(f"prompted images with the right colours (shape not checked): {sum(col)}/{len(col)} = "
          f"{100 * sum(col) / len(col):.1f}%")
    print(f"swapped prompts' images accepted: {sum(sok)}/{len(sok)} = {100 * racc:.1f}%")
    print(f"prompted images judged against the swapped caption: {sum(cross)}/{len(cross)} = {100 * xacc:.1f}% "
          f"(target <= 20%)")

    extra_pairs = []
    for k, prompt in enumerate(EXTRA):
        pngs = generate(oneword, args.model, prompt, args.seed + 100 + k, SEEDS_PER_PROMPT, args,
                        os.path.join(tmp, f"e{k:02d}"))
        extra_pairs += [(p, prompt) for p in pngs]
    eok = judge(judge_png, extra_pairs, tmp)
    print("\nnot in the target (two shapes, held-out colour/shape pairs):")
    for k, prompt in enumerate(EXTRA):
        print(f"  {sum(eok[k * n:(k + 1) * n])}/{n}  {prompt}")

    worst = 0
    if not args.no_diffusers:
        print("\ncross-check against diffusers' StableDiffusionPipeline:")
        worst = diffusers_check(args.model, [(prompt_of(*PROMPTS[0]), args.seed, 2),
                                             (prompt_of(*PROMPTS[3]), args.seed + 3, 2),
                                             (EXTRA[0], 7, 1)], oneword, args, tmp)
        print(f"  worst pixel difference {worst}/255 (target <= 1)")
    print(f"\nimages in {tmp}")
    good = acc >= 0.8 and xacc <= 0.2 and worst <= 1
    print("PASS" if good else "FAIL")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
