"""dataset.py: the procedural "shapes" data set that resources/shapes was trained on.

64x64 RGB images of one or two flat-coloured shapes on a plain or two-tone background,
each with a caption from a small grammar:

  one shape:   a [small|large] <colour> <shape> on a <colour> [and <colour>] background
  two shapes:  a <colour> <shape> <relation> a <colour> <shape> on a <colour> background
  ("an" before orange)
               relation: left of | right of | above | below

Everything is a pure function of the seed (numpy's PCG64), so the same seed always gives
the same images and captions.

Held out on purpose (never in a training caption, so that later tests have something
real to learn or to fail on):
  * the colour "teal" and the pattern word "striped": never drawn in training images and
    never written in captions; sample(..., heldout=True) draws them (for textual inversion);
  * shape/colour pairs HELDOUT_PAIRS: never drawn in training images.

Run:  python3 tests/ref/shapes/dataset.py --seed 1 --count 16 --out /tmp/shapes
writes 0000.png ... and captions.txt (one "file<TAB>caption" line each).
"""
import argparse
import math
import os

import numpy as np

SIZE = 64
SS = 4  # supersampling factor for anti-aliased edges

# Well separated hues plus white and black (sRGB). The judge in tests/judge uses the same table.
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 30),
    "orange": (245, 135, 20),
    "purple": (140, 40, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
HELDOUT_COLOURS = {"teal": (0, 150, 150)}
HELDOUT_PATTERNS = ("striped",)

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross")
RELATIONS = ("left of", "right of", "above", "below")

# One pair per shape is never drawn in training (compositional hold-out).
HELDOUT_PAIRS = {("red", "star"), ("blue", "triangle"), ("yellow", "ring"),
                 ("green", "cross"), ("purple", "circle"), ("orange", "square")}

SMALL = (6.0, 9.0)   # half-extent in pixels of a "small" shape
LARGE = (15.0, 19.0)  # ... of a "large" one
ANY = (7.0, 17.0)     # size not named in the caption
PAIR = (9.0, 12.0)    # each shape of a two-shape scene


def _grid():
    c = (np.arange(SIZE * SS, dtype=np.float64) + 0.5) / SS
    return np.meshgrid(c, c)  # x, y in pixel units


GX, GY = _grid()


def _polygon_mask(px, py, verts):
    """Even-odd point-in-polygon test, vectorised over the grid."""
    inside = np.zeros(px.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        x1, y1 = verts[i]
        x2, y2 = verts[(i + 1) % n]
        cond = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xcross = (x2 - x1) * (py - y1) / (y2 - y1) + x1
        inside ^= cond & (px < xcross)
    return inside


def shape_mask(shape, cx, cy, r):
    """Supersampled boolean mask (SIZE*SS, SIZE*SS) of a shape with half-extent r."""
    dx, dy = GX - cx, GY - cy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    if shape == "square":
        s = 0.85 * r
        return (np.abs(dx) <= s) & (np.abs(dy) <= s)
    if shape == "cross":
        t = 0.33 * r
        return ((np.abs(dx) <= t) & (np.abs(dy) <= r)) | ((np.abs(dy) <= t) & (np.abs(dx) <= r))
    if shape == "triangle":
        verts = [(cx, cy - r), (cx + 0.95 * r, cy + 0.8 * r), (cx - 0.95 * r, cy + 0.8 * r)]
        return _polygon_mask(GX, GY, verts)
    if shape == "star":
        verts = []
        for k in range(10):
            rad = r if k % 2 == 0 else 0.45 * r
            a = -math.pi / 2 + k * math.pi / 5
            verts.append((cx + rad * math.cos(a), cy + 0.1 * r + rad * math.sin(a)))
        return _polygon_mask(GX, GY, verts)
    raise ValueError(shape)


def _jitter(rng, rgb, amount=10):
    return np.clip(np.array(rgb, dtype=np.float64) + rng.uniform(-amount, amount, 3), 0, 255)


def _paint(canvas, mask, rgb, striped=False):
    if striped:  # diagonal stripes of the colour and white, period 6 px
        stripe = ((GX + GY) % 6.0) < 3.0
        canvas[mask & stripe] = rgb
        canvas[mask & ~stripe] = (245, 245, 245)
    else:
        canvas[mask] = rgb


def _a(word):
    """The article before a word ("an orange ...")."""
    return "an " if word[0] in "aeiou" else "a "


def _downsample(canvas):
    img = canvas.reshape(SIZE, SS, SIZE, SS, 3).mean(axis=(1, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _pick_colour(rng, exclude, palette):
    names = [c for c in palette if c not in exclude]
    return names[rng.integers(len(names))]


def _pick_shape_colour(rng, exclude, palette, heldout):
    while True:
        colour = _pick_colour(rng, exclude, palette)
        shape = SHAPES[rng.integers(len(SHAPES))]
        if heldout or (colour, shape) not in HELDOUT_PAIRS:
            return colour, shape


def sample(rng, heldout=False, force=None):
    """Draws one scene. Returns (uint8 image (64, 64, 3), caption, scene dict).

    heldout=True: the shape colour is teal or the shape is striped (the caption then uses
    the held-out word); training never uses this.
    force: optional dict overriding scene choices (n, colour, shape, size, bg, bg2,
    colour2, shape2, relation), used by evaluate.py to draw a given caption."""
    force = force or {}
    palette = dict(COLOURS)
    n = force.get("n", 1 if rng.random() < 0.6 else 2)
    canvas = np.zeros((SIZE * SS, SIZE * SS, 3))
    scene = {"n": n}
    special = None
    if heldout:
        special = "teal" if rng.random() < 0.5 else "striped"
        palette = dict(COLOURS, teal=HELDOUT_COLOURS["teal"])

    if n == 1:
        if special == "teal":
            colour, shape = "teal", SHAPES[rng.integers(len(SHAPES))]
        else:
            colour, shape = _pick_shape_colour(rng, (), COLOURS, heldout)
        colour = force.get("colour", colour)
        shape = force.get("shape", shape)
        size = force.get("size", ("small", "large", None)[rng.integers(3)])
        two_tone = force.get("bg2") is not None or ("bg" not in force and rng.random() < 0.25)
        bg = force.get("bg", _pick_colour(rng, {colour}, COLOURS))
        bg2 = force.get("bg2", _pick_colour(rng, {colour, bg}, COLOURS)) if two_tone else None
        lo, hi = {"small": SMALL, "large": LARGE, None: ANY}[size]
        r = rng.uniform(lo, hi)
        margin = r + 2
        cx = rng.uniform(max(margin, 24), min(SIZE - margin, 40)) if r > 12 else rng.uniform(margin, SIZE - margin)
        cy = rng.uniform(max(margin, 24), min(SIZE - margin, 40)) if r > 12 else rng.uniform(margin, SIZE - margin)
        if bg2 is None:
            canvas[:] = _jitter(rng, palette[bg], 6)
        else:
            vertical = rng.random() < 0.5  # vertical: first colour on the left
            first = (GX < SIZE / 2) if vertical else (GY < SIZE / 2)
            canvas[:] = _jitter(rng, palette[bg2], 6)
            canvas[first] = _jitter(rng, palette[bg], 6)
        _paint(canvas, shape_mask(shape, cx, cy, r), _jitter(rng, palette[colour]), special == "striped")
        words = (size + " " if size else "") + ("striped " if special == "striped" else "") + colour
        caption = f"{_a(words)}{words} {shape} on {_a(bg)}{bg}{' and ' + bg2 if bg2 else ''} background"
        scene.update(colour=colour, shape=shape, size=size, bg=bg, bg2=bg2, cx=cx, cy=cy, r=r)
    else:
        colour, shape = ("teal", SHAPES[rng.integers(len(SHAPES))]) if special == "teal" else \
            _pick_shape_colour(rng, (), COLOURS, heldout)
        colour = force.get("colour", colour)
        shape = force.get("shape", shape)
        colour2, shape2 = _pick_shape_colour(rng, {colour}, COLOURS, heldout)
        colour2 = force.get("colour2", colour2)
        shape2 = force.get("shape2", shape2)
        bg = force.get("bg", _pick_colour(rng, {colour, colour2}, COLOURS))
        relation = force.get("relation", RELATIONS[rng.integers(len(RELATIONS))])
        r1, r2 = rng.uniform(*PAIR), rng.uniform(*PAIR)
        # First shape on the named side, the second opposite; the other axis jitters a little.
        a, b = rng.uniform(14, 20), rng.uniform(44, 50)
        o1, o2 = rng.uniform(24, 40), rng.uniform(24, 40)
        if relation == "left of":
            (x1, y1), (x2, y2) = (a, o1), (b, o2)
        elif relation == "right of":
            (x1, y1), (x2, y2) = (b, o1), (a, o2)
        elif relation == "above":
            (x1, y1), (x2, y2) = (o1, a), (o2, b)
        else:
            (x1, y1), (x2, y2) = (o1, b), (o2, a)
        canvas[:] = _jitter(rng, palette[bg], 6)
        _paint(canvas, shape_mask(shape, x1, y1, r1), _jitter(rng, palette[colour]), special == "striped")
        _paint(canvas, shape_mask(shape2, x2, y2, r2), _jitter(rng, palette[colour2]))
        first = ("striped " if special == "striped" else "") + colour
        caption = (f"{_a(first)}{first} {shape} {relation} {_a(colour2)}{colour2} {shape2} "
                   f"on {_a(bg)}{bg} background")
        scene.update(colour=colour, shape=shape, colour2=colour2, shape2=shape2, bg=bg, relation=relation)
    return _downsample(canvas), caption, scene


def generate(seed, count, heldout=False):
    """count images from one seed: list of (image, caption, scene)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return [sample(rng, heldout) for _ in range(count)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--heldout", action="store_true", help="draw the held-out colour/pattern instead")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from PIL import Image
    os.makedirs(args.out, exist_ok=True)
    lines = []
    for i, (img, caption, _) in enumerate(generate(args.seed, args.count, args.heldout)):
        name = f"{i:04d}.png"
        Image.fromarray(img).save(os.path.join(args.out, name))
        lines.append(f"{name}\t{caption}")
    with open(os.path.join(args.out, "captions.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.count} images and captions.txt to {args.out}")


if __name__ == "__main__":
    main()
