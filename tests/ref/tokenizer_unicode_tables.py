#!/usr/bin/env python3
"""tokenizer_unicode_tables.py: writes engine/tokenizer/unicode_tables.c, the Unicode
data the CLIP tokenizer needs, as compact range tables.

The C tokenizer mirrors transformers 4.46.3 CLIPTokenizer on its no-ftfy path, which
takes its Unicode knowledge from two places, and so do these tables:

  * Python's `unicodedata` (Unicode 14.0.0 in Python 3.11.7) through BasicTokenizer:
    control-character removal (category C* except \\t \\n \\r, plus U+0000 and U+FFFD),
    whitespace (' ', \\t, \\n, \\r, Zs, and everything str.isspace() splits on),
    NFC normalisation (canonical decompositions, combining classes, composition
    exclusions) and str.lower() (full mapping, with the Final_Sigma rule, for which
    CPython's Cased / Case_Ignorable properties are needed).
  * the `regex` module's own Unicode database through the CLIP split pattern
    `'s|'t|...|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+` compiled with IGNORECASE.
    Each class is probed code point by code point with the very pattern, so
    IGNORECASE quirks are captured (U+0345 matches no class and is dropped).

Properties that cannot be read from unicodedata directly are measured on CPython
itself (Cased / Case_Ignorable: from how str.lower() treats a capital sigma next to
the code point). The script checks every table against Python for every code point
before writing. Run from the repository root:

    python tests/ref/tokenizer_unicode_tables.py
"""
import os
import sys
import unicodedata as ud

import regex

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tokenizer", "unicode_tables.c")
MAX_CP = 0x110000

# Flag bits (keep in sync with engine/tokenizer/unicode_tables.h).
REMOVE, SPACE, LETTER, NUMBER, OTHER, CASED, CASE_IGNORABLE, ISSPACE = (1 << i for i in range(8))

I = regex.IGNORECASE
RX_LETTER = regex.compile(r"[\p{L}]", I)
RX_NUMBER = regex.compile(r"[\p{N}]", I)
RX_OTHER = regex.compile(r"[^\s\p{L}\p{N}]", I)


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


def final_sigma(s):
    return s.lower()[-1] == "\u03c2"


def flags_of(cp):
    if is_surrogate(cp):
        return REMOVE  # never reaches the tokenizer (UTF-8 decoding replaces them)
    c = chr(cp)
    cat = ud.category(c)
    f = 0
    # BasicTokenizer._clean_text: drop NUL, U+FFFD and controls; whitespace -> ' '.
    if cp == 0 or cp == 0xFFFD or (cat[0] == "C" and c not in "\t\n\r"):
        f |= REMOVE
    elif c in " \t\n\r" or cat == "Zs" or c.isspace():
        # Zs and \t\n\r become ' '; the rest that str.split() splits on (Zl, Zp)
        # only separate words, which is the same thing for the tokenizer.
        f |= SPACE
    if c.isspace():
        f |= ISSPACE
    if RX_LETTER.match(c):
        f |= LETTER
    if RX_NUMBER.match(c):
        f |= NUMBER
    if RX_OTHER.match(c):
        f |= OTHER
    # CPython's lower(): capital sigma is final when a Cased letter precedes it
    # (skipping Case_Ignorable ones) and none follows.
    after_cased = final_sigma("A" + c + "\u03a3")
    after_space = final_sigma(" " + c + "\u03a3")
    if after_cased and not after_space:
        f |= CASE_IGNORABLE
    elif after_space:
        f |= CASED
    return f


def build_props():
    ranges = []
    prev = None
    for cp in range(MAX_CP):
        f = flags_of(cp)
        if f != prev:
            ranges.append((cp, f))
            prev = f
    return ranges


def build_lower():
    """Single code point lower-case mappings as runs (first, last, delta, stride)."""
    pairs = []
    for cp in range(MAX_CP):
        if is_surrogate(cp) or cp in (0x130,):
            continue
        low = chr(cp).lower()
        if low != chr(cp):
            assert len(low) == 1, hex(cp)
            pairs.append((cp, ord(low) - cp))
    runs = []
    for cp, delta in pairs:
        if runs:
            first, last, d, stride = runs[-1]
            if d == delta:
                step = cp - last
                if (first == last and step in (1, 2)) or step == stride:
                    runs[-1] = (first, cp, d, step)
                    continue
        runs.append((cp, cp, delta, 1))
    return runs


def build_ccc():
    runs = []
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            continue
        c = ud.combining(chr(cp))
        if not c:
            continue
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == c:
            runs[-1] = (runs[-1][0], cp, c)
        else:
            runs.append((cp, cp, c))
    return runs


def build_decomp():
    """Canonical decompositions (one level) and which two-code-point ones compose back."""
    decomp = []
    comp = []
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            continue
        d = ud.decomposition(chr(cp))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        assert 1 <= len(parts) <= 2
        a = parts[0]
        b = parts[1] if len(parts) == 2 else 0
        decomp.append((cp, a, b))
        if b and ud.normalize("NFC", chr(cp)) == chr(cp):
            comp.append((a, b, cp))  # a primary composite
    comp.sort()
    return decomp, comp


# ---- Python models of the C lookups, to check the tables before writing them ----

def py_nfc(s, decomp_map, ccc_map, comp_map):
    SBASE, LBASE, VBASE, TBASE, LCOUNT, VCOUNT, TCOUNT = 0xAC00, 0x1100, 0x1161, 0x11A7, 19, 21, 28
    NCOUNT, SCOUNT = VCOUNT * TCOUNT, LCOUNT * VCOUNT * TCOUNT
    out = []

    def dec(cp):
        if SBASE <= cp < SBASE + SCOUNT:
            i = cp - SBASE
            out.append(LBASE + i // NCOUNT)
            out.append(VBASE + (i % NCOUNT) // TCOUNT)
            if i % TCOUNT:
                out.append(TBASE + i % TCOUNT)
            return
        if cp in decomp_map:
            a, b = decomp_map[cp]
            dec(a)
            if b:
                dec(b)
            return
        out.append(cp)

    for ch in s:
        dec(ord(ch))
    # canonical ordering (stable sort of non-starter runs)
    i = 0
    while i < len(out):
        if ccc_map.get(out[i], 0) == 0:
            i += 1
            continue
        j = i
        while j < len(out) and ccc_map.get(out[j], 0) != 0:
            j += 1
        out[i:j] = sorted(out[i:j], key=lambda c: ccc_map.get(c, 0))
        i = j

    def compose(a, b):
        if LBASE <= a < LBASE + LCOUNT and VBASE <= b < VBASE + VCOUNT:
            return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT
        if SBASE <= a < SBASE + SCOUNT and (a - SBASE) % TCOUNT == 0 and TBASE < b < TBASE + TCOUNT:
            return a + (b - TBASE)
        return comp_map.get((a, b))

    if not out:
        return ""
    res = [out[0]]
    starter = 0 if ccc_map.get(out[0], 0) == 0 else -1
    last_class = 0 if starter == 0 else 256
    for cp in out[1:]:
        cc = ccc_map.get(cp, 0)
        if starter >= 0 and (last_class < cc or last_class == 0):
            c = compose(res[starter], cp)
            if c is not None:
                res[starter] = c
                continue
        if cc == 0:
            starter = len(res)
        last_class = cc
        res.append(cp)
    return "".join(chr(c) for c in res)


def check(props, lower_runs, ccc_runs, decomp, comp):
    starts = [r[0] for r in props]
    import bisect
    for cp in range(MAX_CP):
        f = props[bisect.bisect_right(starts, cp) - 1][1]
        assert f == flags_of(cp), hex(cp)
    low = {}
    for first, last, delta, stride in lower_runs:
        for cp in range(first, last + 1, stride):
            low[cp] = cp + delta
    for cp in range(MAX_CP):
        if is_surrogate(cp) or cp == 0x130:
            continue
        want = chr(cp).lower()
        got = chr(low.get(cp, cp))
        assert want == got, hex(cp)
    ccc_map = {}
    for first, last, c in ccc_runs:
        for cp in range(first, last + 1):
            ccc_map[cp] = c
    decomp_map = {cp: (a, b) for cp, a, b in decomp}
    comp_map = {(a, b): cp for a, b, cp in comp}
    import random
    rng = random.Random(1234)
    marks = [cp for cp in ccc_map] + [0x0300, 0x0301, 0x0323, 0x0345, 0x093C, 0x05B0]
    bases = [cp for cp, _, _ in decomp] + [ord(c) for c in "aeiouAEIOUnNcCsSzZ"] + list(range(0x1100, 0x1113)) + \
        list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3)) + [0xAC00, 0xAC01, 0xD7A3]
    n = 0
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            continue
        s = chr(cp)
        assert py_nfc(s, decomp_map, ccc_map, comp_map) == ud.normalize("NFC", s), hex(cp)
        n += 1
    for _ in range(200000):
        s = "".join(chr(rng.choice(bases if rng.random() < 0.5 else marks)) for _ in range(rng.randint(1, 6)))
        s = ud.normalize("NFD", s) if rng.random() < 0.5 else s
        assert py_nfc(s, decomp_map, ccc_map, comp_map) == ud.normalize("NFC", s), [hex(ord(c)) for c in s]
        n += 1
    print(f"checked: flags and lower of every code point, NFC of {n} strings")


def main():
    props = build_props()
    lower_runs = build_lower()
    ccc_runs = build_ccc()
    decomp, comp = build_decomp()
    check(props, lower_runs, ccc_runs, decomp, comp)

    lines = []
    w = lines.append
    w("/* unicode_tables.c: Unicode data for the CLIP tokenizer, as range tables.")
    w(" *")
    w(" * GENERATED by tests/ref/tokenizer_unicode_tables.py -- do not edit; rerun it.")
    w(f" * Source: Python {sys.version.split()[0]} unicodedata (Unicode {ud.unidata_version}) for control,")
    w(" * whitespace, NFC and str.lower() (CPython Cased/Case_Ignorable measured from lower()),")
    w(f" * and the `regex` module {regex.__version__} (its own Unicode database) for the CLIP split")
    w(" * pattern's [\\p{L}], [\\p{N}] and [^\\s\\p{L}\\p{N}] classes under IGNORECASE.")
    w(" * Every table was checked against Python for every code point before writing. */")
    w('#include "tokenizer/unicode_tables.h"')
    w("")
    w(f"/* Property flags, constant from .start up to the next entry's start. */")
    w(f"const ow_uni_prop_range ow_uni_props[] = {{")
    for i in range(0, len(props), 8):
        w("    " + " ".join(f"{{0x{s:X},0x{f:X}}}," for s, f in props[i:i + 8]))
    w("};")
    w(f"const size_t ow_uni_props_count = {len(props)};")
    w("")
    w("/* The same flags for U+0000..U+007F, for a lookup without a search. */")
    w("const uint8_t ow_uni_ascii_flags[128] = {")
    ascii = [flags_of(cp) for cp in range(128)]
    for i in range(0, 128, 16):
        w("    " + " ".join(f"0x{f:02X}," for f in ascii[i:i + 16]))
    w("};")
    w("")
    w("/* Lower case: cp in [first, last] with (cp - first) % stride == 0 maps to cp + delta.")
    w(" * U+0130 (-> i + U+0307) and the final form of U+03A3 are handled in code. */")
    w("const ow_uni_lower_range ow_uni_lower[] = {")
    for i in range(0, len(lower_runs), 4):
        w("    " + " ".join(f"{{0x{a:X},0x{b:X},{d},{s}}}," for a, b, d, s in lower_runs[i:i + 4]))
    w("};")
    w(f"const size_t ow_uni_lower_count = {len(lower_runs)};")
    w("")
    w("/* Canonical combining class of [first, last]; 0 elsewhere. */")
    w("const ow_uni_ccc_range ow_uni_ccc[] = {")
    for i in range(0, len(ccc_runs), 6):
        w("    " + " ".join(f"{{0x{a:X},0x{b:X},{c}}}," for a, b, c in ccc_runs[i:i + 6]))
    w("};")
    w(f"const size_t ow_uni_ccc_count = {len(ccc_runs)};")
    w("")
    w("/* Canonical decompositions, one level (b == 0: singleton), sorted by cp. Hangul is algorithmic. */")
    w("const ow_uni_decomp ow_uni_decomps[] = {")
    for i in range(0, len(decomp), 6):
        w("    " + " ".join(f"{{0x{c:X},0x{a:X},0x{b:X}}}," for c, a, b in decomp[i:i + 6]))
    w("};")
    w(f"const size_t ow_uni_decomps_count = {len(decomp)};")
    w("")
    w("/* Primary composites: (a, b) -> cp, sorted by (a, b). */")
    w("const ow_uni_comp ow_uni_comps[] = {")
    for i in range(0, len(comp), 6):
        w("    " + " ".join(f"{{0x{a:X},0x{b:X},0x{c:X}}}," for a, b, c in comp[i:i + 6]))
    w("};")
    w(f"const size_t ow_uni_comps_count = {len(comp)};")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.normpath(OUT)}: {len(props)} property ranges, {len(lower_runs)} lower runs, "
          f"{len(ccc_runs)} ccc runs, {len(decomp)} decompositions, {len(comp)} compositions")


if __name__ == "__main__":
    main()
