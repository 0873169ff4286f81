#!/usr/bin/env python3
"""make_concepts.py: the training sets of the textual-inversion test on the bundled
shapes model (tests/e2e/test_shapes_concept.sh), drawn with the model's own data set
code (dataset.py) and written to tests/golden/shapes/concepts/<name>/:
  0.png .. 3.png   four 64x64 scenes of the concept (large, any size, small, large),
                   at positions and sizes the data set draws
  templates.txt    the captions learn trains with, in the model's grammar ([name] = token)
  concept.txt      init word, the judge's caption and the background, one per line

Both concepts are shape/colour pairs the model never saw in training (dataset.py
HELDOUT_PAIRS): a red star on black, a yellow ring on black.
Run from the repository root: python3 tests/ref/shapes/make_concepts.py  (numpy, Pillow)
"""
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "..", "golden", "shapes", "concepts"))
CONCEPTS = {
    "red-star": dict(colour="red", shape="star", bg="black", seed=777),
    "yellow-ring": dict(colour="yellow", shape="ring", bg="black", seed=778),
}


def main():
    for name, c in CONCEPTS.items():
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        rng = np.random.Generator(np.random.PCG64(c["seed"]))
        for i, size in enumerate(["large", None, "small", "large"]):
            img, caption, _ = dataset.sample(rng, force=dict(n=1, colour=c["colour"], shape=c["shape"], size=size,
                                                             bg=c["bg"]))
            Image.fromarray(img).save(os.path.join(out, f"{i}.png"), optimize=True)
            print(f"{name}/{i}.png: {caption}")
        bg = c["bg"]
        with open(os.path.join(out, "templates.txt"), "w") as f:
            f.write(f"a [name] on a {bg} background\na large [name] on a {bg} background\n"
                    f"a small [name] on a {bg} background\n")
        with open(os.path.join(out, "concept.txt"), "w") as f:
            f.write(f"{c['shape']}\na {c['colour']} {c['shape']} on a {bg} background\n{bg}\n")


if __name__ == "__main__":
    main()
