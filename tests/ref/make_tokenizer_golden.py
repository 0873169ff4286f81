#!/usr/bin/env python3
"""make_tokenizer_golden.py: writes tests/golden/tokenizer/clip_tokenizer.json, the
expected CLIP token ids for the C tokenizer (engine/tokenizer/).

Reference: transformers 4.46.3 CLIPTokenizer (the slow Python one) on its path WITHOUT
ftfy -- the path the C code mirrors: BasicTokenizer(strip_accents=False,
do_split_on_punc=False) clean-up, CLIP regex split, byte-level BPE. ftfy may be installed
here (open-clip-torch pulls it in); this script hides it (sys.modules["ftfy"] = None)
while constructing CLIPTokenizer, so it takes its ImportError branch, and checks that
it did (tokenizer.fix_text is None).

The tokenizer is built from vocab.json / merges.txt written from
resources/clip/bpe_simple_vocab_16e6.txt.gz the way CLIP builds its vocabulary; the
script checks those ids equal open_clip 2.29.0's SimpleTokenizer vocabulary (the same
ids as openai/clip-vit-large-patch14's vocab.json) and reports how often open_clip
(which uses ftfy + html.unescape, so it differs on purpose for some text) agrees.

Added tokens (textual inversion) are registered the way tokenizer.add_tokens() does,
except that each gets a new id (49408, ...) even when the string is already a vocabulary
entry ("*"), which is what the engine does (see tokenizer.h).

Run from the repository root: python tests/ref/make_tokenizer_golden.py
"""
import bisect
import gzip
import json
import os
import random
import sys
import tempfile
import time
import unicodedata

import transformers  # noqa: E402
from transformers import AddedToken, CLIPTokenizer  # noqa: E402
from transformers.models.clip.tokenization_clip import bytes_to_unicode  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
VOCAB_GZ = os.path.join(ROOT, "resources", "clip", "bpe_simple_vocab_16e6.txt.gz")
OUT = os.path.join(ROOT, "tests", "golden", "tokenizer", "clip_tokenizer.json")
ADDED = ["*", "<my-cat>", "<cat-toy>", "S*", "<cat>", "<cat>-v2", "<kid-drawing>", "sks"]
CONTEXT = 77


def build_tokenizer(tmp):
    merges = gzip.open(VOCAB_GZ).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in merges[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == len(set(vocab)) == 49408
    with open(os.path.join(tmp, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(tmp, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    saved = sys.modules.get("ftfy")
    sys.modules["ftfy"] = None  # `import ftfy` fails: CLIPTokenizer takes its no-ftfy path
    try:
        tok = CLIPTokenizer(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"), do_lower_case=True,
                            model_max_length=CONTEXT)
    finally:
        if saved is None:
            del sys.modules["ftfy"]  # open_clip (used for the cross-check) needs the real one
        else:
            sys.modules["ftfy"] = saved
    assert tok.fix_text is None, "ftfy path taken; the golden must come from the no-ftfy path"
    return tok, vocab


def add_tokens_new_ids(tok, tokens):
    """tokenizer.add_tokens(tokens), but every token gets a new id."""
    ids = []
    for s in tokens:
        idx = 49408 + len(ids)
        at = AddedToken(s, rstrip=False, lstrip=False, normalized=True, special=False)
        tok._added_tokens_decoder[idx] = at
        tok._added_tokens_encoder[s] = idx
        ids.append(idx)
    tok._update_trie()
    tok._update_total_vocab_size()
    return ids


def prompts():
    P = []
    # Stable Diffusion style prompts, weights and brackets.
    P += [
        "a photo of a cat", "A Photo Of A Cat", "a painting of a fox in the style of van gogh",
        "masterpiece, best quality, (ultra-detailed:1.2), 1girl, solo, looking at viewer",
        "((masterpiece)), [blurry], (red hair:1.3), {blue eyes}, <lora:detail:0.8>",
        "portrait of an old man, 85mm, f/1.8, bokeh, 4k, 8K UHD, HDR, trending on artstation",
        "a cozy cabin in the woods at night, snow, warm light, cinematic lighting, octane render",
        "(((best quality))), ((beautiful)), (detailed:1.1), [[low quality]], lowres, bad anatomy",
        "landscape | mountains | lake | sunset -- ar 16:9 --v 5", "oil painting::2 watercolor::-0.5",
        "cat:dog:0.5, [cat|dog], [cat:dog:10], (cat)+++ (dog)---",
        "a cute corgi wearing sunglasses, digital art, by greg rutkowski and alphonse mucha",
        "cyberpunk city street, neon signs, rain, reflections, blade runner 2049 aesthetic",
        "A astronaut riding a horse on mars, highly detailed, sharp focus, unreal engine 5",
        "studio ghibli style, a girl on a hill, clouds, summer, anime screencap",
        "isometric voxel art of a tiny island, pastel colors, 3d render, blender",
        "macro photograph of a dew drop on a leaf, shallow depth of field, nikon d850",
        "low poly, flat shading, minimalism, vector art, svg, logo design",
        "an ancient greek statue of a robot, marble, museum lighting, photorealistic",
        "children's drawing of a house with a sun, crayon, on paper",
        "a bowl of ramen, food photography, steam, chopsticks, top-down view",
        "black and white photo, film grain, 35mm, kodak tri-x 400, street photography",
        "(masterpiece:1.4), (best quality:1.4), (photorealistic:1.4), 8k raw photo",
        "EasyNegative, bad_prompt_version2, (worst quality, low quality:1.4), watermark, text",
        "<my-cat> sitting on a chair", "a photo of *", "a painting of * in the style of <kid-drawing>",
    ]
    # Punctuation, numbers, decimals, symbols.
    P += [
        "Hello, world!", "What?! No way...", "wait -- really? (yes) [no] {maybe}",
        "3.14159 2.71828 1e-5 -0.5 +7 1,000,000 12:30 2024-01-31 1/2 50%",
        "version 1.5.2 v2.1 sd-xl 0.9", "$100 €50 £20 ¥1000 ₹500 ₿0.01", "#hashtag @mention ^caret ~tilde `backtick`",
        "a+b=c; x*y/z; a<b>c; a&b|c; a\\b", "\"quoted\" 'single' «guillemets» „low“ ‚single‘ ‹angle›",
        "...", "!!!", "?!", "---", "___", "***", "* * *", "**bold** __under__", "C++ C# F# .NET node.js",
        "100% 99.9% 0.001 007 2^10 3²", "1st 2nd 3rd 4th 21st 100th", "½ ⅓ ¼ ¾ ⅛", "Ⅰ Ⅱ Ⅲ Ⅳ ⅻ",
        "①②③ ⑴⑵ ⒈⒉ ❶❷", "٠١٢٣٤٥٦٧٨٩ ۰۱۲ १२३ ๑๒๓", "12345678901234567890", "0x1F600 0b1010 0o777",
        "π≈3.14, e^(iπ)+1=0, ∑x², √2, ∞, ∂f/∂x, ∫dx", "→ ← ↑ ↓ ⇒ ⇔ ✓ ✗ ★ ☆ ♥ ♦ ♣ ♠",
        "•bullet ·middle ‣tri ◦white", "em—dash en–dash minus−sign hyphen‐x", "…ellipsis…",
    ]
    # Apostrophes and contractions.
    P += [
        "it's the cat's toy", "don't won't can't shouldn't", "they're we've I'm you'll he'd",
        "IT'S DON'T THEY'RE WE'VE I'M YOU'LL HE'D", "'s 't 're 've 'm 'll 'd", "''s '''t 'x 'S",
        "rock 'n' roll", "o'clock ma'am y'all", "the 90's and '80s", "it’s curly ’s", "l'amour d'été",
        "'ſ 'ſtart", "x'ſ", "<|ſtartoftext|>", "a'b'c'd", "'", "''", "dogs' bones", "'re're",
    ]
    # Accents, other scripts, CJK.
    P += [
        "café crème brûlée naïve résumé façade", "CAFÉ CRÈME BRÛLÉE NAÏVE", "Ærøskøbing Ålesund Øresund",
        "Straße STRASSE straße", "Ğüşçöı İstanbul ıiIİ", "Łódź Kraków Gdańsk Wrocław", "Dvořák Škoda Žižkov",
        "Ελληνικά ΟΔΟΣ ΟΔΟΣ. ΣΑΣ Σ σ ς", "ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ", "Москва Россия ПРИВЕТ мир", "Українська їжак ґанок",
        "ქართული", "Հայերեն", "עברית שלום", "العربية مرحبا بالعالم", "فارسی", "हिन्दी नमस्ते", "বাংলা", "தமிழ்",
        "ไทย สวัสดี", "ລາວ", "မြန်မာ", "ខ្មែរ", "한국어 안녕하세요", "각 가각", "日本語 こんにちは カタカナ ｶﾀｶﾅ",
        "中文 你好世界", "一个穿着红色衣服的女孩在雨中", "猫と犬", "東京タワー", "漢字かな交じり文",
        "𠀀𠀁𪜀 𫝀 𫠠 𬺰", "豈 更 車", "丽 丸", "Việt Nam Tiếng Việt", "Yorùbá Ọ̀rọ̀", "Diné bizaad",
        "ᏣᎳᎩ", "ᚠᚢᚦ", "ꦗꦮ", "𝕳𝖊𝖑𝖑𝖔 𝓦𝓸𝓻𝓵𝓭", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ﬁ ﬂ ﬀ ﬃ", "Ǆ ǅ ǆ Ǉ ǈ",
        "ᾼ ᾳ ῼ Ὠι", "K Å Ω ℃", "ꞵ Ᵽ ɐ", "Ⓐⓑⓒ 🅰", "ᴀʙᴄ ˢᵘᵖ", "Ǳ ǲ ǳ",
    ]
    # Combining marks and normalisation.
    P += [
        "cafe\u0301 vs caf\u00e9", "e\u0301\u0300 e\u0300\u0301", "a\u0323\u0302 a\u0302\u0323",
        "n\u0303o\u0308", "A\u030A \u212B \u00C5", "\u1100\u1161\u11A8 \uAC00\u11A8", "q\u0307\u0323",
        "\u0915\u093C \u0958", "\u0d4a \u0d46\u0d3e", "\u05b8\u05b0 \u05d1\u05bc", "x\u0345 \u03b1\u0345",
        "\u0300start", "z\u0301\u0301\u0301\u0301\u0301\u0301", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
        "o\u0338 \u226f >\u0338", "\u0041\u030a\u0301", "\u1e9b\u0323", "\u0399\u0308\u0301 \u03b9\u0308\u0301",
    ]
    # Emoji.
    P += [
        "I love pizza 🍕🍕🍕", "😀😃😄😁", "👍🏻 👍🏼 👍🏽 👍🏾 👍🏿", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 🏴‍☠️",
        "❤️ ❤ ♥️", "🇺🇸 🇯🇵 🇩🇪", "👩🏽‍💻 coding", "#️⃣ 1️⃣ *️⃣", "🫠 🫨 🩷", "a🐱b", "cat🐈dog🐕",
        "🧑‍🎨 painting a 🌅", "emoji at end 🎉", "🎉 emoji at start", "☕️ coffee ☕", "✨sparkles✨",
    ]
    # Whitespace and control characters.
    P += [
        "", " ", "   ", "\t", "\n", "\r\n", " \t \n ", "\u00a0", "\u3000", "\u2028\u2029",
        "  leading spaces", "trailing spaces   ", "multiple    spaces   between", "tab\tseparated\twords",
        "new\nline\nprompt", "windows\r\nline\r\nends", "nbsp\u00a0between\u00a0words", "thin\u2009space\u202fnarrow",
        "ideographic\u3000space", "line\u2028separator", "para\u2029separator", "zero\u200bwidth\u200cjoiner\u200dx",
        "soft\u00adhyphen", "bom\ufeffchar", "control\x01\x02\x1fchars", "del\x7fchar", "c1\x85\x9fcontrols",
        "vertical\x0btab\x0cfeed", "file\x1cgroup\x1drecord\x1eunit\x1fsep", "rtl\u200fmark\u200eltr",
        "private\ue000use", "noncharacter\ufdd0x", "replacement\ufffdchar", "mongolian\u180evowel",
        "\t\tindented prompt\n\n", "ogham\u1680space", "en\u2002em\u2003quad\u2000",
    ]
    # HTML entities (left as they are on the no-ftfy path), URLs, hashtags, markup.
    P += [
        "Tom &amp; Jerry", "&lt;tag&gt; &quot;q&quot; &#39;s &#x27; &nbsp; &copy;", "a&amp;amp;b",
        "https://example.com/path?query=1&x=y#frag", "http://www.some-site.org/a_b/c.png", "user@example.com",
        "#art #photography #nofilter", "@artist_name on twitter", "<b>bold</b> <i>it</i> <br/>",
        "[img]url[/img]", "C:\\Users\\me\\file.txt", "/usr/local/bin", "www.google.com",
        "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b", "<|startoftext|>x<|endoftext|>",
        "<|STARTOFTEXT|>", "<|EndOfText|>", "<|endoftext|", "<|endoftext|><|endoftext|>", "</w>", "a</w>b",
    ]
    # Mixed case, long words, repetition.
    P += [
        "CamelCaseWord camelCase SCREAMING_SNAKE kebab-case", "MiXeD CaSe PrOmPt", "ALL CAPS PROMPT",
        "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababababababab", "zzzzzzzzzz",
        "the the the the the", "photo photo photo photorealistic photorealism", "ok OK Ok oK",
        "x" * 200, "9" * 50, "." * 40, "🎉" * 20,
    ]
    # Placeholders (in the plain tokenizer these are ordinary text).
    P += [
        "a photo of * on the beach", "*", "**", "a*b", "S*", "a photo of S*", "<my-cat>", "<My-Cat>",
        "a <my-cat>s toy", "<my-cat><my-cat>", "<my-cat>*<cat-toy>", "<cat>-v2 and <cat>-v3 and <cat>",
        "<cat-toy> <CAT-TOY>", "a painting of <kid-drawing> by *", "sks dog", "asksk", "* *  *",
        "photo of *, highly detailed", "(* :1.2)", "[*]", "'*'", "*'s hat",
    ]
    # Very long prompts (> 77 tokens).
    words = ("a beautiful detailed painting of a mountain landscape with a river and trees in autumn "
             "golden hour light dramatic clouds reflections in the water by a famous artist").split()
    P.append(" ".join(words * 3))
    P.append(", ".join(["highly detailed"] * 40))
    P.append(" ".join(f"word{i}" for i in range(100)))
    P.append("a " * 76)
    P.append("a " * 75)
    P.append("a " * 74)
    P.append("cat " * 80)
    P.append(("masterpiece, best quality, " * 10) + "<my-cat> at the end")
    P.append("日本語の長い文章です。" * 10)
    P.append("🐱" * 40)
    return P


def random_prompts(rng, n):
    """Random mixtures of words, punctuation, numbers, scripts and emoji."""
    pieces = ["cat", "Dog", "photo", "of", "a", "(", ")", "[", "]", ":1.2", ",", ".", "!", "?", "'s", "'T",
              "café", "ΟΔΟΣ", "Σ", "москва", "日本", "中", "한국", "🍕", "👍🏽", "👨‍👩‍👧", "\u0301", "\t", "\n",
              "\u00a0", " ", "  ", "3.5", "42", "1e3", "#tag", "@me", "http://x.y/z", "&amp;", "<b>", "_",
              "-", "—", "…", "ß", "İ", "ǅ", "ﬁ", "½", "Ⅻ", "①", "\u200b", "\x07", "\ufeff", "ي", "ह", "ก",
              "*", "<my-cat>", "<cat>", "<cat>-v2", "S*", "sks", "<|endoftext|>", "x\u0345", "ſ"]
    out = []
    for _ in range(n):
        k = rng.randint(1, 30)
        out.append("".join(rng.choice(pieces) + (" " if rng.random() < 0.6 else "") for _ in range(k)))
    return out


def boundary_prompts():
    """Text made of the code points at every property boundary of the C tables, so
    every range of the generated tables is exercised through the whole tokenizer."""
    sys.path.insert(0, os.path.dirname(__file__))
    import tokenizer_unicode_tables as tables  # noqa: E402
    cps = set()
    prev = None
    for cp in range(0x110000):
        if tables.is_surrogate(cp):
            continue
        f = tables.flags_of(cp)
        if f != prev:
            cps.update((cp - 1, cp))
            prev = f
    for first, last, _, _ in tables.build_lower():
        cps.update((first, last))
    for first, last, _ in tables.build_ccc():
        cps.update((first, last))
    cps = sorted(cp for cp in cps if 0 < cp < 0x110000 and not tables.is_surrogate(cp))
    out = []
    for i in range(0, len(cps), 16):
        group = cps[i:i + 16]
        out.append(" ".join(f"a{chr(c)}b{chr(c)}{chr(c)}1" for c in group))
    return out


def normalize_cases(rng):
    cps = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if unicodedata.normalize("NFC", c) != c or c.lower() != c or unicodedata.combining(c):
            cps.append(cp)
    out = []
    for i in range(0, len(cps), 48):
        out.append(" ".join("x" + chr(c) for c in cps[i:i + 48]))
    marks = [cp for cp in cps if unicodedata.combining(chr(cp))]
    bases = [cp for cp in cps if not unicodedata.combining(chr(cp))] + [ord(c) for c in "aeiouAEIOUsSΣσ"]
    for _ in range(600):
        s = "".join(chr(rng.choice(bases if rng.random() < 0.5 else marks)) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.5:
            s = unicodedata.normalize("NFD", s)
        out.append(s)
    # Final sigma in many contexts (cased / case-ignorable neighbours).
    ctx = ["", "A", "a", " ", "'", ".", "\u0301", "1", "Σ", "ς", "\u00ad", "ˆ", ":", "\u0345"]
    for a in ctx:
        for b in ctx:
            out.append(f"X{a}Σ{b}")
            out.append(f"{a}Σ{b}Y")
    return out


def main():
    t0 = time.time()
    rng = random.Random(20241125)
    with tempfile.TemporaryDirectory() as tmp:
        tok, vocab = build_tokenizer(tmp)
        tok_added, _ = build_tokenizer(tmp)
    added_ids = add_tokens_new_ids(tok_added, ADDED)

    # The vocabulary must be CLIP's: open_clip's SimpleTokenizer encoder, and known ids.
    import open_clip.tokenizer as oct
    oc = oct.SimpleTokenizer()
    # open_clip 2.29 names the two specials <start_of_text>/<end_of_text>; ids are the same.
    want = {v: i for i, v in enumerate(vocab[:49406])}
    want.update({"<start_of_text>": 49406, "<end_of_text>": 49407})
    assert oc.encoder == want, "vocabulary differs from open_clip's"
    known = tok("a photo of a cat").input_ids
    assert known == [49406, 320, 1125, 539, 320, 2368, 49407], known

    cases = []

    def add_case(text, added, raw=None, kind="prompt"):
        t = tok_added if added else tok
        ids = t.convert_tokens_to_ids(t.tokenize(text))
        case = {"kind": kind, "added": added}
        if raw is not None:
            case["bytes_hex"] = raw.hex()
        else:
            case["text"] = text
        case["ids"] = ids
        if kind == "prompt":
            enc = t(text, padding="max_length", max_length=CONTEXT, truncation=True).input_ids
            assert len(enc) == CONTEXT
            case["ids77"] = enc
            case["decoded"] = t.decode([49406] + ids + [49407], skip_special_tokens=True)
        cases.append(case)

    base = prompts()
    rand = random_prompts(rng, 160)
    for p in base + rand:
        add_case(p, False)
    for p in base + rand:
        if any(a in p for a in ADDED):
            add_case(p, True)
    # Invalid UTF-8: decoded like bytes.decode("utf-8", errors="replace").
    invalid = [b"\xff", b"abc\xffdef", b"caf\xc3", b"\xc3\x28", b"\xe2\x82", b"\xe2\x28\xa1", b"\xf0\x9f\x98",
               b"\xf0\x9f\x98 cat", b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong", b"\xe0\x80\xaf", b"\xf5\x80\x80\x80",
               b"\xf4\x90\x80\x80 too big", b"\x80\x80\x80", b"ok \xfe\xfe ok", b"<my-\xffcat>", b"<my-cat>\xff*",
               b"a\xc3\xa9\xcc\x81\xff\xcc\x81", b"\xe6\x97\xa5\xe6\x9c", b"dog\xf0\x9f\x90\x95\xf0\x9f\x90"]
    for raw in invalid:
        text = raw.decode("utf-8", errors="replace")
        add_case(text, False, raw=raw)
        add_case(text, True, raw=raw)
    for p in boundary_prompts():
        add_case(p, False, kind="unicode")
    # Cross-check the new-id registration against the real tokenizer.add_tokens() on
    # every case whose text holds no token that add_tokens() maps to an existing entry.
    with tempfile.TemporaryDirectory() as tmp:
        real, _ = build_tokenizer(tmp)
    real.add_tokens(ADDED)
    remap = {real.convert_tokens_to_ids(s): i for s, i in zip(ADDED, added_ids)}
    colliding = [s for s in ADDED if real.convert_tokens_to_ids(s) < 49408]
    n_cross = 0
    for c in cases:
        if c["added"] and "text" in c and not any(s in c["text"] for s in colliding):
            want = [remap.get(i, i) if i >= 49408 else i for i in real.convert_tokens_to_ids(real.tokenize(c["text"]))]
            assert want == c["ids"], c["text"]
            n_cross += 1
    print(f"add_tokens() cross-check: {n_cross} cases agree; strings add_tokens() maps to existing entries: "
          f"{', '.join(f'{s!r}->{real.convert_tokens_to_ids(s)}' for s in colliding)}")
    norm = [{"text": s, "want": " ".join(tok.nlp.tokenize(s))} for s in normalize_cases(rng)]

    # How often does open_clip (ftfy + html.unescape + whitespace_clean + lower) agree?
    prompts_only = [c for c in cases if c["kind"] == "prompt" and not c["added"] and "text" in c]
    agree = sum(oc.encode(c["text"]) == c["ids"] for c in prompts_only)
    plain = [c for c in prompts_only if c["text"].isascii() and "&" not in c["text"] and c["text"].isprintable()
             and "<|" not in c["text"]]
    agree_plain = sum(oc.encode(c["text"]) == c["ids"] for c in plain)
    assert agree_plain == len(plain), "open_clip disagrees on a plain ASCII prompt"

    golden = {
        "about": "CLIP token ids from transformers %s CLIPTokenizer (slow, no ftfy); "
                 "made by tests/ref/make_tokenizer_golden.py" % transformers.__version__,
        "context": CONTEXT,
        "pad_id": 49407,
        "added_tokens": [{"text": s, "id": i} for s, i in zip(ADDED, added_ids)],
        "cases": cases,
        "normalize": norm,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("{\n")
        for k in ("about", "context", "pad_id", "added_tokens"):
            f.write(f" {json.dumps(k)}: {json.dumps(golden[k], ensure_ascii=False)},\n")
        f.write(' "cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n ],\n \"normalize\": [\n")
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in norm))
        f.write("\n ]\n}\n")
    kinds = {}
    for c in cases:
        key = (c["kind"], c["added"])
        kinds[key] = kinds.get(key, 0) + 1
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes): {len(cases)} cases "
          f"({', '.join(k[0] + ('+added' if k[1] else '') + ': ' + str(v) for k, v in sorted(kinds.items()))}), "
          f"{len(norm)} normalisation cases, {sum(len(c['ids']) > 75 for c in cases if c['kind'] == 'prompt')} "
          f"prompts longer than 75 tokens")
    print(f"open_clip agrees on {agree}/{len(prompts_only)} prompts ({agree_plain}/{len(plain)} plain ASCII ones); "
          f"it differs by design where ftfy/html.unescape/CJK spacing matter")
    print(f"took {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
