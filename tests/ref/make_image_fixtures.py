#!/usr/bin/env python3
"""make_image_fixtures.py: JPEG training images for tests/e2e/test_image_read.c and the
pixels Pillow decodes from them (the reference's and the diffusers example's reader),
in tests/golden/e2e/jpeg/:
  orient-1.jpg .. orient-8.jpg  one 24x16 picture stored with each EXIF orientation
                                (the stored pixels pre-transformed so that, turned
                                upright, all eight show the same picture)
  gray.jpg, progressive.jpg     grayscale; progressive RGB
  cmyk.jpg                      Adobe CMYK (Pillow writes it inverted, with the Adobe marker)
  decoded.safetensors           for each file: Pillow's RGB (U8, (h, w, 3)) after
                                ImageOps.exif_transpose; "upright": the 24x16 picture
Run from the repository root: python3 tests/ref/make_image_fixtures.py  (Pillow, numpy, torch)
"""
import io
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stable_safetensors import save_file  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "e2e", "jpeg"))
# What to do to the upright picture so that EXIF orientation o turns it back upright.
STORE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
         7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def picture():
    """24x16: four flat quadrants (red, green, blue, yellow), smooth enough for JPEG."""
    a = np.zeros((16, 24, 3), np.uint8)
    a[:8, :12] = (220, 30, 30)
    a[:8, 12:] = (30, 170, 40)
    a[8:, :12] = (30, 60, 220)
    a[8:, 12:] = (245, 220, 30)
    return Image.fromarray(a)


def main():
    os.makedirs(OUT, exist_ok=True)
    up = picture()
    files = {}
    for o, op in STORE.items():
        stored = up if op is None else up.transpose(op)
        exif = Image.Exif()
        exif[0x0112] = o
        path = os.path.join(OUT, f"orient-{o}.jpg")
        stored.save(path, quality=95, exif=exif.tobytes(), subsampling=0)
        files[f"orient-{o}"] = path
    up.convert("L").save(os.path.join(OUT, "gray.jpg"), quality=95)
    files["gray"] = os.path.join(OUT, "gray.jpg")
    up.save(os.path.join(OUT, "progressive.jpg"), quality=95, progressive=True, subsampling=0)
    files["progressive"] = os.path.join(OUT, "progressive.jpg")
    up.convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=95)
    files["cmyk"] = os.path.join(OUT, "cmyk.jpg")
    tensors = {"upright": torch.from_numpy(np.asarray(up).copy())}
    for name, path in files.items():
        im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        tensors[name] = torch.from_numpy(np.asarray(im).copy())
        print(f"{name}: {im.size[0]}x{im.size[1]}, {os.path.getsize(path)} bytes")
    import PIL
    save_file(tensors, os.path.join(OUT, "decoded.safetensors"), {"pillow": PIL.__version__})


if __name__ == "__main__":
    main()
