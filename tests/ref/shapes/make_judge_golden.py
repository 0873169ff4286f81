"""make_judge_golden.py: the test set of the C judge (tests/judge), from the data set generator.

Writes tests/golden/shapes/:
  judge_sheet.png   256 images (64x64 tiles, 16 per row): 224 training-style scenes and 32
                    held-out ones (teal / striped)
  judge_cases.txt   lines "judge_sheet.png#<tile><TAB>caption<TAB>expect<TAB>kind":
                    expect 1 for the image's own caption, 0 for a corrupted caption; kind says
                    what was changed (true, colour, shape, background, relation, size, swap)
  judge_cases_true.txt  the own captions but the striped ones, for the judge_png command test

Run from the repository root:  python3 tests/ref/shapes/make_judge_golden.py
"""
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataset  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "golden", "shapes")
ALL_COLOURS = list(dataset.COLOURS) + list(dataset.HELDOUT_COLOURS)
OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def a(word):
    return "an " if word[0] in "aeiou" else "a "


def caption_of(sc):
    first = ("striped " if sc.get("striped") else "") + sc["colour"]
    if sc["n"] == 1:
        words = (sc["size"] + " " if sc["size"] else "") + first
        bg = sc["bg"] + (" and " + sc["bg2"] if sc["bg2"] else "")
        return f"{a(words)}{words} {sc['shape']} on {a(sc['bg'])}{bg} background"
    return (f"{a(first)}{first} {sc['shape']} {sc['relation']} {a(sc['colour2'])}{sc['colour2']} "
            f"{sc['shape2']} on {a(sc['bg'])}{sc['bg']} background")


def corrupt(sc, rng):
    """A caption that differs from the scene in one checkable way."""
    sc = dict(sc)
    used = {sc["colour"], sc["bg"], sc.get("bg2"), sc.get("colour2")}
    kinds = ["colour", "shape", "background"]
    if sc["n"] == 2:
        kinds += ["relation", "swap"]
    elif sc["size"]:
        kinds += ["size"]
    kind = kinds[rng.integers(len(kinds))]
    if kind == "colour":
        sc["colour"] = rng.choice([c for c in ALL_COLOURS if c not in used])
    elif kind == "shape":
        sc["shape"] = rng.choice([s for s in dataset.SHAPES if s != sc["shape"]])
    elif kind == "background":
        sc["bg"] = rng.choice([c for c in ALL_COLOURS if c not in used])
    elif kind == "relation":
        sc["relation"] = OPPOSITE[sc["relation"]]
    elif kind == "size":
        sc["size"] = "large" if sc["size"] == "small" else "small"
    else:
        sc["colour"], sc["colour2"] = sc["colour2"], sc["colour"]
    return caption_of(sc), kind


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(4242))
    items = [dataset.sample(rng) for _ in range(224)] + [dataset.sample(rng, heldout=True) for _ in range(32)]
    sheet = np.zeros((16 * 64, 16 * 64, 3), dtype=np.uint8)
    lines = []
    for i, (img, caption, sc) in enumerate(items):
        sheet[(i // 16) * 64:(i // 16 + 1) * 64, (i % 16) * 64:(i % 16 + 1) * 64] = img
        sc["striped"] = caption.startswith("a striped") or " striped " in caption
        assert caption_of(sc) == caption, (caption_of(sc), caption)
        lines.append(f"judge_sheet.png#{i}\t{caption}\t1\ttrue")
        bad, kind = corrupt(sc, rng)
        lines.append(f"judge_sheet.png#{i}\t{bad}\t0\t{kind}")
    Image.fromarray(sheet).save(os.path.join(OUT, "judge_sheet.png"), optimize=True)
    with open(os.path.join(OUT, "judge_cases.txt"), "w") as f:
        f.write("# tile<TAB>caption<TAB>expect (1 the image's caption, 0 corrupted)<TAB>what was changed\n")
        f.write("\n".join(lines) + "\n")
    # For the judge_png command test: own captions that must all be accepted (striped ones,
    # the judge's weakest case, left out).
    with open(os.path.join(OUT, "judge_cases_true.txt"), "w") as f:
        f.write("\n".join("\t".join(ln.split("\t")[:2]) for ln in lines
                          if ln.split("\t")[2] == "1" and "striped" not in ln) + "\n")
    print(f"wrote {OUT}/judge_sheet.png ({os.path.getsize(os.path.join(OUT, 'judge_sheet.png'))} bytes) "
          f"and judge_cases.txt ({len(lines)} cases)")


if __name__ == "__main__":
    main()
