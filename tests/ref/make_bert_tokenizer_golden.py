#!/usr/bin/env python3
"""make_bert_tokenizer_golden.py: writes tests/golden/tokenizer/bert_tokenizer.json, the
expected BERT WordPiece ids for the C tokenizer (engine/tokenizer/wordpiece.c).

Reference: transformers 4.46.3 BertTokenizerFast (tokenizers' BertNormalizer,
BertPreTokenizer and WordPiece), built from resources/bert/vocab.txt.gz with
do_lower_case=True, as LDM's BERTTokenizer loads "bert-base-uncased". Each case holds:
  ids    tokenizer(text, add_special_tokens=False).input_ids
  ids77  tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids
         (what ldm.modules.encoders.modules.BERTTokenizer gives the text encoder), up to
         its [SEP]: the [PAD] (0) ids after it are checked here and left out
The prompts are those of the CLIP golden (make_tokenizer_golden.py: SD-style prompts,
punctuation, scripts, combining marks, emoji, whitespace and controls, long prompts),
random mixtures, text at every boundary of the BERT property table (bert_unicode_tables.py), and BERT's own
cases (special tokens in the text, words over 100 characters, unknown characters).

Run from the repository root: python tests/ref/make_bert_tokenizer_golden.py
"""
import gzip
import json
import os
import random
import sys
import tempfile

import transformers
from transformers import BertTokenizerFast

sys.path.insert(0, os.path.dirname(__file__))
import make_tokenizer_golden as clip_golden  # noqa: E402
import bert_unicode_tables as tables  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
VOCAB_GZ = os.path.join(ROOT, "resources", "bert", "vocab.txt.gz")
OUT = os.path.join(ROOT, "tests", "golden", "tokenizer", "bert_tokenizer.json")


def bert_prompts():
    return [
        "[MASK]", "a [MASK] cat", "[CLS] x [SEP]", "[PAD][PAD]", "[UNK]", "[mask] lower", "[ MASK ]", "x[SEP]y",
        "unaffable", "unbelievably photorealistic", "a sculpture of *", "a photo of a * in the snow",
        "İstanbul İİ ıI", "ΟΔΟΣ ΣΑΣ σς", "Straße ẞ", "naïve café Ångström", "ﬁ ﬂ ǅ Ⅻ ①", "a" * 100,
        "a" * 101, "b" * 150 + " c", "x" * 99 + "é", "supercalifragilisticexpialidocious" * 3,
        "\u0301\u0301", "a\u0301\u0302\u0303b", "\u00ad\u200b\ufeff", "line\u2028sep para\u2029sep",
        "tab\tnew\nline\rret", "\x0b\x0c\x85", "🤖 robot ☃ snowman", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "한국어 日本語 中文",
        "ǈǉǋ", "ῼ ᾼ", "2023-01-01T12:00:00Z", "e.g. i.e. U.S.A.", "$5.99/lb", "¿qué? ¡sí!", "«a» ‹b›",
        "it's a dog's life", "don't", "x##y ##z", "#", "##", "###",
    ]


def boundary_prompts():
    cps, prev = set(), None
    for cp in range(0x110000):
        if tables.is_surrogate(cp):
            continue
        f = tables.flags_of(cp)
        if f != prev:
            cps.update((cp - 1, cp))
            prev = f
    cps = sorted(cp for cp in cps if 0 < cp < 0x110000 and not tables.is_surrogate(cp))
    return [" ".join(f"a{chr(c)}b{chr(c)}{chr(c)}1" for c in cps[i:i + 16]) for i in range(0, len(cps), 16)]


def main():
    rng = random.Random(20261201)
    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "vocab.txt")
        with open(vocab, "wb") as f:
            f.write(gzip.open(VOCAB_GZ).read())
        tok = BertTokenizerFast(vocab_file=vocab, do_lower_case=True)
    texts = clip_golden.prompts() + bert_prompts() + clip_golden.random_prompts(rng, 200) + boundary_prompts()
    cases = []
    for text in texts:
        ids = tok(text, add_special_tokens=False).input_ids
        ids77 = tok(text, padding="max_length", max_length=77, truncation=True).input_ids
        used = min(len(ids), 75) + 2  # [CLS], the content kept, [SEP]; the rest is [PAD] = 0
        assert len(ids77) == 77 and ids77[used - 1] == 102 and all(i == 0 for i in ids77[used:])
        cases.append({"text": text, "ids": ids, "ids77": ids77[:used]})
    golden = {
        "reference": f"transformers {transformers.__version__} BertTokenizerFast(vocab.txt, do_lower_case=True)",
        "vocab_size": tok.vocab_size,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    n_unk = sum(100 in c["ids"] for c in cases)
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {len(cases)} cases ({n_unk} with [UNK]), "
          f"{os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
