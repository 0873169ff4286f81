/* fuzz_wordpiece.c: libFuzzer harness for BERT's WordPiece tokenizer (wordpiece.h), the
 * reader of a vocab.txt ($ONEWORD_BERT_VOCAB may name any file) and the tokenizer of
 * prompts. The first byte chooses: odd, the rest is a vocabulary (built, then used on a
 * fixed prompt); even, the rest is a prompt for bert-base-uncased's vocabulary. Every
 * result must be in range ([CLS] ... [SEP] then [PAD], ids below the vocabulary size),
 * every failure must explain itself; never a crash, a leak, a hang or UB. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/wordpiece.h"

static ow_tokenizer *bert;

static void check_encoding(const ow_tokenizer *t, const char *text) {
    int32_t ids[77];
    ow_error err = {0};
    ow_status s = ow_tokenizer_encode(t, text, ids, 77, OW_BERT_PAD_ID, NULL, &err);
    if (s != OW_OK) {
        if (!err.message[0]) abort();
        return;
    }
    if (ids[0] != ow_tokenizer_bos_id(t)) abort();
    for (int i = 0; i < 77; i++)
        if (ids[i] < 0 || ids[i] >= ow_tokenizer_vocab_size(t)) abort();
    char decoded[512];
    if (ow_tokenizer_decode(t, ids, 77, decoded, sizeof decoded, NULL, &err) != OW_OK && !err.message[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    ow_error err = {0};
    if (data[0] & 1) {
        ow_wordpiece *wp = NULL;
        ow_status s = ow_wordpiece_build(&wp, (const char *)data + 1, size - 1, "fuzz", &err);
        if (s != OW_OK && (!err.message[0] || wp)) abort();
        if (s == OW_OK) {
            int32_t n = ow_wordpiece_vocab_size(wp);
            for (int32_t id = 0; id < n; id += 1 + n / 64) {
                size_t len;
                const char *piece = ow_wordpiece_text(wp, id, &len);
                if (ow_wordpiece_find(wp, piece, len) != id) abort(); /* every line is found as itself */
            }
            ow_wordpiece_free(wp);
        }
    } else {
        if (!bert) {
            char path[4096];
            if (ow_tokenizer_load_wordpiece(&bert, ow_tokenizer_bert_vocab_path(path, sizeof path), &err) != OW_OK)
                abort();
        }
        check_encoding(bert, text);
    }
    free(text);
    return 0;
}
