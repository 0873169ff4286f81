#!/usr/bin/env python3
"""make_image_fixtures.py: training images for tests/e2e/test_image_read.c and
tests/e2e/test_cli_learn.sh and the pixels Pillow decodes from them (the reference's
and the diffusers example's reader).

In tests/golden/e2e/jpeg/:
  orient-1.jpg .. orient-8.jpg  one 24x16 picture stored with each EXIF orientation
                                (the stored pixels pre-transformed so that, turned
                                upright, all eight show the same picture)
  gray.jpg, progressive.jpg     grayscale; progressive RGB
  cmyk.jpg                      Adobe CMYK (Pillow writes it inverted, with the Adobe marker)
  decoded.safetensors           for each file: Pillow's RGB (U8, (h, w, 3)) after
                                ImageOps.exif_transpose; "upright": the 24x16 picture

In tests/golden/e2e/webp/ (make_webp), of the picture at 12x8: lossless.webp, lossy.webp (quality 90),
  alpha.webp (lossless, a left-to-right alpha ramp, colour kept under alpha 0),
  lossy-alpha.webp; decoded.safetensors: Pillow's RGBA (U8, (h, w, 4)) of each.
In tests/golden/e2e/tiff/ (make_tiff): the 24x16 picture stored with each orientation
  (orient-1.tif .. orient-8.tif, deflate), gray8, gray16, miniswhite, rgb16 (big
  endian), rgba8 (unassociated alpha), rgba16, premultiplied (associated alpha), la8,
  palette8, palette4, bilevel (1 bit), cmyk, lzw, jpeg (JPEG-in-TIFF), tiled (16x16
  tiles, 24x16) and multipage.tif (2 pages, the first the picture), all 12x8 but
  tiled; decoded.safetensors: "NAME" Pillow's RGBA after exif_transpose (U8, (h, w, 4))
  or, when it equals another's, the metadata "NAME": "OTHER" ("upright" is the
  picture), and for gray16 and rgba16 "NAME16" the samples written (I32, (h, w, c);
  rgb16 holds rgba16's colour; Pillow's decode of gray16 is not kept: its
  convert("RGB") clips 16-bit gray at 255).
In tests/golden/e2e/refused/: animated.webp (2 frames).
In tests/golden/e2e/masks/ (make_masks, for --masks): images/figure.png (32x32 RGBA),
  by-alpha/figure.png (its alpha as a gray image: --masks by-alpha = --alpha-mask),
  black/figure.tif (all black, another format: matched by stem), small/figure.png
  (16x16: the wrong size).
In tests/golden/e2e/crop/ (make_crop, for --center-crop): wide-64x32.png, blue with
  its left and right quarters red; centre-32.png, the blue alone.
Run from the repository root: python3 tests/ref/make_image_fixtures.py  (Pillow, numpy, torch)
"""
import io
import os
import struct
import sys

import numpy as np
import torch
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stable_safetensors import save_file  # noqa: E402

E2E = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "e2e"))
OUT = os.path.join(E2E, "jpeg")
# What to do to the upright picture so that EXIF orientation o turns it back upright.
STORE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
         7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


COLOURS = [(220, 30, 30), (30, 170, 40), (30, 60, 220), (245, 220, 30)]


def quadrants(w, h):
    """(h, w) indices 0..3 of the four quadrants: top left, top right, bottom left, bottom right."""
    q = np.zeros((h, w), np.uint8)
    q[:h // 2, w // 2:], q[h // 2:, :w // 2], q[h // 2:, w // 2:] = 1, 2, 3
    return q


def picture(w=24, h=16):
    """Four flat quadrants (red, green, blue, yellow), smooth enough for JPEG; 24x16 for
    the JPEGs, 12x8 for the others (their goldens stay small)."""
    return Image.fromarray(np.array(COLOURS, np.uint8)[quadrants(w, h)])


def make_jpeg():
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


def picture_rgba():
    """The 12x8 picture with an alpha ramp, 0 at the left column to 255 at the right."""
    a = np.asarray(picture(12, 8))
    ramp = (np.arange(12) * 255 // 11).astype(np.uint8)
    return np.dstack([a, np.repeat(ramp[None, :], 8, 0)])


def rgba_of(path):
    """Pillow's decode as (h, w, 4) U8, upright."""
    return torch.from_numpy(np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGBA")).copy())


def make_webp():
    out = os.path.join(E2E, "webp")
    os.makedirs(out, exist_ok=True)
    up, rgba = picture(12, 8), Image.fromarray(picture_rgba())
    files = {"lossless": (up, dict(lossless=True)), "lossy": (up, dict(quality=90)),
             "alpha": (rgba, dict(lossless=True, exact=True)), "lossy-alpha": (rgba, dict(quality=90))}
    tensors = {}
    for name, (im, options) in files.items():
        path = os.path.join(out, f"{name}.webp")
        im.save(path, "WEBP", **options)
        tensors[name] = rgba_of(path)
        print(f"webp/{name}.webp: {os.path.getsize(path)} bytes")
    import PIL
    save_file(tensors, os.path.join(out, "decoded.safetensors"), {"pillow": PIL.__version__})
    refused = os.path.join(E2E, "refused")
    os.makedirs(refused, exist_ok=True)
    path = os.path.join(refused, "animated.webp")
    up.save(path, "WEBP", save_all=True, append_images=[up.transpose(Image.Transpose.ROTATE_180)], lossless=True,
            duration=100)
    print(f"refused/animated.webp: {os.path.getsize(path)} bytes")


def tiff_bytes(arr, photometric, extra=None, orientation=1, big_endian=False, colormap=None, bits=None, tile=None):
    """An uncompressed TIFF of arr ((h, w) or (h, w, samples), uint8 or uint16), written
    by hand for what Pillow does not write: 16-bit RGB(A), MinIsWhite, associated alpha,
    4-bit palettes, tiles. bits < 8: arr holds the values, packed here row by row."""
    bo = ">" if big_endian else "<"
    h, w = arr.shape[:2]
    spp = 1 if arr.ndim == 2 else arr.shape[2]
    bps = bits or arr.dtype.itemsize * 8
    if bits and bits < 8:
        per = 8 // bits
        rows = []
        for y in range(h):
            row = bytearray((w + per - 1) // per)
            for x in range(w):
                row[x // per] |= int(arr[y, x]) << (8 - bits * (x % per + 1))
            rows.append(bytes(row))
        data = [b"".join(rows)]
    elif tile:
        tw, th = tile
        padded = np.zeros(((h + th - 1) // th * th, (w + tw - 1) // tw * tw) + arr.shape[2:], arr.dtype)
        padded[:h, :w] = arr
        data = [padded[ty:ty + th, tx:tx + tw].astype(arr.dtype.newbyteorder(bo)).tobytes()
                for ty in range(0, padded.shape[0], th) for tx in range(0, padded.shape[1], tw)]
    else:
        data = [arr.astype(arr.dtype.newbyteorder(bo)).tobytes()]
    entries = {256: (3, [w]), 257: (3, [h]), 258: (3, [bps] * spp), 259: (3, [1]), 262: (3, [photometric]),
               274: (3, [orientation]), 277: (3, [spp]), 284: (3, [1])}
    if tile:
        entries.update({322: (3, [tile[0]]), 323: (3, [tile[1]]), 324: (4, [0] * len(data)),
                        325: (4, [len(d) for d in data])})
    else:
        entries.update({273: (4, [0]), 278: (3, [h]), 279: (4, [len(data[0])])})
    if extra is not None:
        entries[338] = (3, [extra])
    if colormap is not None:
        entries[320] = (3, list(colormap))
    pixels = b"".join(d + (b"\0" if len(d) & 1 else b"") for d in data)
    offsets, at = [], 8
    for d in data:
        offsets.append(at)
        at += len(d) + (len(d) & 1)
    entries[324 if tile else 273] = (4, offsets)
    ifd_at = 8 + len(pixels)
    tags = sorted(entries)
    extra_at = ifd_at + 2 + 12 * len(tags) + 4
    ifd, spill = struct.pack(bo + "H", len(tags)), b""
    for tag in tags:
        kind, values = entries[tag]
        fmt = {3: "H", 4: "I"}[kind]
        payload = struct.pack(bo + fmt * len(values), *values)
        if len(payload) <= 4:
            ifd += struct.pack(bo + "HHI", tag, kind, len(values)) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack(bo + "HHII", tag, kind, len(values), extra_at + len(spill))
            spill += payload + (b"\0" if len(payload) & 1 else b"")
    ifd += struct.pack(bo + "I", 0)
    header = (b"MM" if big_endian else b"II") + struct.pack(bo + "HI", 42, ifd_at)
    return header + pixels + ifd + spill


def make_tiff():
    out = os.path.join(E2E, "tiff")
    os.makedirs(out, exist_ok=True)
    up = picture(12, 8)
    a = np.asarray(up)
    rgba = picture_rgba()
    tensors, written = {}, {}

    def pillow(name, im, **options):
        path = os.path.join(out, f"{name}.tif")
        im.save(path, "TIFF", **options)
        return path

    def by_hand(name, data):
        path = os.path.join(out, f"{name}.tif")
        with open(path, "wb") as f:
            f.write(data)
        return path

    paths = {}
    for o, op in STORE.items():
        stored = up if op is None else up.transpose(op)
        paths[f"orient-{o}"] = pillow(f"orient-{o}", stored, compression="tiff_deflate", tiffinfo={274: o})
    gray = np.asarray(up.convert("L"))
    paths["gray8"] = pillow("gray8", up.convert("L"), compression="tiff_deflate")
    gray16 = (gray.astype(np.uint32) * 257 + np.arange(12)[None, :] * 7).astype(np.uint16)  # uses the low byte too
    paths["gray16"] = pillow("gray16", Image.fromarray(gray16), compression="tiff_deflate")
    written["gray16"] = gray16[:, :, None]
    paths["miniswhite"] = by_hand("miniswhite", tiff_bytes(255 - gray, 0))
    rgb16 = (a.astype(np.uint32) * 257 + np.arange(12)[None, :, None] * 11).astype(np.uint16)
    paths["rgb16"] = by_hand("rgb16", tiff_bytes(rgb16, 2, big_endian=True))  # its samples: rgba16's colour
    paths["rgba8"] = pillow("rgba8", Image.fromarray(rgba), compression="tiff_deflate")
    rgba16 = np.dstack([rgb16, (rgba[:, :, 3].astype(np.uint32) * 257).astype(np.uint16)])
    paths["rgba16"] = by_hand("rgba16", tiff_bytes(rgba16, 2, extra=2))
    written["rgba16"] = rgba16
    alpha = rgba[:, :, 3:4].astype(np.uint32)
    premultiplied = np.dstack([(a.astype(np.uint32) * alpha + 127) // 255, alpha]).astype(np.uint8)
    paths["premultiplied"] = by_hand("premultiplied", tiff_bytes(premultiplied, 2, extra=1))
    paths["la8"] = pillow("la8", Image.fromarray(rgba).convert("LA"), compression="tiff_deflate")
    paths["palette8"] = pillow("palette8", up.convert("P"), compression="tiff_deflate")
    index = quadrants(12, 8)
    cmap = [0] * 48
    for i, c in enumerate(COLOURS):
        for k in range(3):
            cmap[k * 16 + i] = c[k] * 257
    paths["palette4"] = by_hand("palette4", tiff_bytes(index, 3, colormap=cmap, bits=4))
    paths["bilevel"] = pillow("bilevel", up.convert("1"), compression="tiff_deflate")
    paths["cmyk"] = pillow("cmyk", up.convert("CMYK"), compression="tiff_deflate")
    paths["lzw"] = pillow("lzw", up, compression="tiff_lzw")
    paths["jpeg"] = pillow("jpeg", up, compression="jpeg", quality=90)
    paths["tiled"] = by_hand("tiled", tiff_bytes(np.asarray(picture(24, 16)), 2, tile=(16, 16)))
    paths["multipage"] = pillow("multipage", up, save_all=True, compression="tiff_deflate",
                                append_images=[up.transpose(Image.Transpose.ROTATE_180)])
    # A decode equal to one stored already is named in the metadata instead ("orient-3": "upright").
    tensors = {"upright": rgba_of(paths["orient-1"]), "upright-24x16": torch.from_numpy(
        np.asarray(picture(24, 16).convert("RGBA")).copy())}
    same = {}
    # Pillow reads 16-bit gray as I;16 (its convert("RGB") clips that at 255) and 16-bit
    # colour as 8 bits, the high byte: the 16-bit files are checked against their samples.
    assert np.array_equal(np.asarray(Image.open(paths["gray16"])), gray16)
    assert np.array_equal(np.asarray(Image.open(paths["rgb16"])), (rgb16 >> 8).astype(np.uint8))
    for name, path in paths.items():
        if name == "gray16":
            continue
        decoded = rgba_of(path)
        twin = next((k for k, t in tensors.items() if t.shape == decoded.shape and torch.equal(t, decoded)), None)
        if twin:
            same[name] = twin
        else:
            tensors[name] = decoded
        print(f"tiff/{name}.tif: {os.path.getsize(path)} bytes, Pillow mode {Image.open(path).mode}"
              f"{', decodes as ' + twin if twin else ''}")
    for name, samples in written.items():
        tensors[name + "16"] = torch.from_numpy(samples.astype(np.int32))
    import PIL
    save_file(tensors, os.path.join(out, "decoded.safetensors"), {"pillow": PIL.__version__, **same})


def make_masks():
    out = os.path.join(E2E, "masks")
    for sub in ("images", "by-alpha", "black", "small"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    y, x = np.mgrid[0:32, 0:32]
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0] = 40 + 6 * x
    rgb[..., 1] = 200 - 5 * y
    rgb[..., 2] = 90
    alpha = np.where((x - 15.5) ** 2 + (y - 15.5) ** 2 < 100, 255, np.where(x < 16, 128, 0)).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha])).save(os.path.join(out, "images", "figure.png"))
    Image.fromarray(alpha).save(os.path.join(out, "by-alpha", "figure.png"))
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(os.path.join(out, "black", "figure.tif"),
                                                       compression="tiff_deflate")
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(os.path.join(out, "small", "figure.png"))
    for sub in ("images", "by-alpha", "black", "small"):
        for f in os.listdir(os.path.join(out, sub)):
            print(f"masks/{sub}/{f}: {os.path.getsize(os.path.join(out, sub, f))} bytes")


def make_crop():
    out = os.path.join(E2E, "crop")
    os.makedirs(out, exist_ok=True)
    blue, red = (40, 80, 200), (230, 40, 40)
    wide = np.zeros((32, 64, 3), np.uint8)
    wide[:] = blue
    wide[:, :16] = red
    wide[:, 48:] = red
    Image.fromarray(wide).save(os.path.join(out, "wide-64x32.png"))
    Image.fromarray(np.full((32, 32, 3), blue, np.uint8)).save(os.path.join(out, "centre-32.png"))


def main():
    make_jpeg()
    make_webp()
    make_tiff()
    make_masks()
    make_crop()


if __name__ == "__main__":
    main()
