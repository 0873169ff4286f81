#!/usr/bin/env python3
"""make_resize_golden.py: PIL.Image.resize(..., BICUBIC) on float images, for
tests/train/test_resize.c (engine/train/resize.c must resample training images as
the reference's and the diffusers example's data loaders do). Mode "F" images are
resampled by PIL in floating point without rounding or clamping, so the C code can
be compared with it closely. Writes tests/golden/train/resize.safetensors:
  src            (23, 37)    random values in [0, 1]
  <w>x<h>        the resize of src to w x h (shrinking, growing, mixed, to 1 pixel)
Run from the repository root: python3 tests/ref/make_resize_golden.py  (Pillow, numpy, torch)
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stable_safetensors import save_file  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "golden", "train", "resize.safetensors")
SIZES = [(8, 8), (16, 5), (37, 23), (64, 64), (100, 41), (1, 1), (3, 50)]


def main():
    rng = np.random.default_rng(7)
    src = rng.random((23, 37), dtype=np.float32)
    tensors = {"src": torch.from_numpy(src)}
    for w, h in SIZES:
        out = np.asarray(Image.fromarray(src, mode="F").resize((w, h), Image.BICUBIC), dtype=np.float32)
        tensors[f"{w}x{h}"] = torch.from_numpy(out.copy())
    import PIL
    save_file(tensors, OUT, {"pillow": PIL.__version__})
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes), Pillow {PIL.__version__}")


if __name__ == "__main__":
    main()
