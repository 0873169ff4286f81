#!/usr/bin/env python3
"""make_concept_figure.py: the README's picture of a concept learned on the bundled
shapes model, resources/shapes/concept-red-star.png. Runs the built `oneword`
exactly as tests/e2e/test_shapes_concept.sh does for the red-star concept (learn 600
steps at 64x64, seed 1; euler 20 steps, scale 9, seeds 1000..1007), then draws:
  row 1: the 4 training pictures (tests/golden/shapes/concepts/red-star/)
  row 2: 8 samples of "a * on a black background" with the learned token
  row 3: the same 8 seeds with the init word: "a star on a black background"
  below: the training loss (log.csv), mean of 25 steps, against the step.
Run from the repository root after building:
  python3 tests/ref/shapes/make_concept_figure.py [--build build/rel]   (Pillow)
"""
import argparse
import csv
import os
import subprocess
import tempfile

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CONCEPT = os.path.join(REPO, "tests", "golden", "shapes", "concepts", "red-star")
OUT = os.path.join(REPO, "resources", "shapes", "concept-red-star.png")
MODEL = os.path.join(REPO, "resources", "shapes")
TILE, GAP = 64, 4


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))


def samples(oneword, prompt, out, embedding=None):
    extra = ["--embedding", embedding] if embedding else []
    run(oneword, "generate", "--model", MODEL, *extra, "--prompt", prompt, "--sampler", "euler", "--steps", "20",
        "--scale", "9", "--seed", "1000", "--n-samples", "8", "--width", "64", "--height", "64", "--outdir", out)
    return [Image.open(os.path.join(out, "samples", f)).convert("RGB") for f in sorted(os.listdir(os.path.join(out, "samples")))]


def loss_curve(path, width, height):
    with open(path) as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    k = 25
    means = [sum(losses[i:i + k]) / k for i in range(0, len(losses) - k + 1, k)]
    img = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(img)
    left, bottom, top = 40, height - 18, 8
    hi = max(means) * 1.1
    d.line([(left, top), (left, bottom), (width - 8, bottom)], fill=(0, 0, 0))
    pts = [(left + (width - 8 - left) * (i + 0.5) / len(means), bottom - (bottom - top) * m / hi)
           for i, m in enumerate(means)]
    d.line(pts, fill=(200, 30, 30), width=2)
    d.text((2, top), f"{hi:.3f}", fill=(0, 0, 0))
    d.text((2, bottom - 10), "0", fill=(0, 0, 0))
    d.text((left + 4, bottom + 4), f"loss, mean of {k} steps, over {len(losses)} steps", fill=(0, 0, 0))
    return img


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build", "rel"))
    args = ap.parse_args()
    oneword = os.path.join(args.build, "engine", "cli", "oneword")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        run(oneword, "learn", "--model", MODEL, "--images", CONCEPT, "--init-word", "star", "--template",
            os.path.join(CONCEPT, "templates.txt"), "--out", run_dir, "--steps", "600", "--size", "64", "--seed", "1",
            "--save-every", "0")
        with_token = samples(oneword, "a * on a black background", os.path.join(tmp, "a"),
                             os.path.join(run_dir, "embeddings.pt"))
        without = samples(oneword, "a star on a black background", os.path.join(tmp, "b"))
        train = [Image.open(os.path.join(CONCEPT, f"{i}.png")).convert("RGB") for i in range(4)]
        width = 8 * TILE + 7 * GAP
        curve = loss_curve(os.path.join(run_dir, "log.csv"), width, 110)
        sheet = Image.new("RGB", (width, 3 * TILE + 3 * GAP + curve.height), (255, 255, 255))
        for i, im in enumerate(train):
            sheet.paste(im, (i * (TILE + GAP), 0))
        for row, ims in ((1, with_token), (2, without)):
            for i, im in enumerate(ims):
                sheet.paste(im, (i * (TILE + GAP), row * (TILE + GAP)))
        sheet.paste(curve, (0, 3 * (TILE + GAP)))
        sheet.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(OUT, optimize=True)  # 72 KB -> 38
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
