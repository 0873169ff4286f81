#!/usr/bin/env python3
"""make_bert_vocab.py: rebuilds resources/bert/vocab.txt.gz, bert-base-uncased's WordPiece
vocabulary (30,522 lines), offline, from the blingfire 0.1.8 wheel on PyPI (MIT), which
ships it compiled as blingfire/bert_base_tok.i2w.

blingfire's ids_to_text gives each id's text with the "##" continuation prefix removed
(and four special tokens lower-cased), so each id is decoded twice: alone, and after
"a" (id 1037). A piece that glues onto the "a" is a "##" continuation. The result must
equal the published vocab.txt byte for byte: its sha256 is checked.

    pip download --no-deps blingfire==0.1.8
    python tests/ref/make_bert_vocab.py blingfire-0.1.8-py3-none-any.whl

The gzip stream is written with mtime 0 and no file name, so the output is reproducible.
"""
import gzip
import hashlib
import io
import os
import sys
import tempfile
import zipfile

import numpy as np

SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"  # bert-base-uncased vocab.txt
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "bert", "vocab.txt.gz")
SPECIALS = {"[unk]": "[UNK]", "[cls]": "[CLS]", "[sep]": "[SEP]", "[mask]": "[MASK]"}


def main():
    wheel = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(wheel).extractall(tmp)
        sys.path.insert(0, tmp)
        import blingfire

        h = blingfire.load_model(os.path.join(tmp, "blingfire", "bert_base_tok.i2w"))

        def text(ids):
            return blingfire.ids_to_text(h, np.array(ids, dtype=np.int32), skip_special_tokens=False)

        tokens = []
        for i in range(30522):
            alone, after_a = text([i]), text([1037, i])
            if after_a == "a " + alone:
                tokens.append(SPECIALS.get(alone, alone))
            elif after_a == "a" + alone:
                tokens.append("##" + alone)
            else:
                sys.exit(f"id {i}: cannot tell whether {alone!r} is a continuation ({after_a!r})")
        blingfire.free_model(h)
    data = "".join(t + "\n" for t in tokens).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit(f"rebuilt vocab.txt has sha256 {digest}, not bert-base-uncased's {SHA256}")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    with open(OUT, "wb") as f:
        f.write(buf.getvalue())
    print(f"wrote {os.path.normpath(OUT)}: {len(tokens)} tokens, {len(data)} bytes (sha256 {digest}), "
          f"{len(buf.getvalue())} compressed")


if __name__ == "__main__":
    main()
