/* wordpiece.c: BERT's normalizer, pre-tokenizer and WordPiece (see wordpiece.h). */
#include "tokenizer/wordpiece.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/unicode_tables.h"

enum { MAX_WORD_CHARS = 100 }; /* tokenizers' WordPiece max_input_chars_per_word */

struct ow_wordpiece {
    char *text;        /* the vocabulary lines, each NUL-terminated */
    uint32_t *offset;  /* (count + 1): id -> start of its line in text */
    int32_t count;
    int32_t *slots;    /* open addressing: id, or -1 when empty */
    size_t mask;
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int32_t ow_wordpiece_vocab_size(const ow_wordpiece *wp) { return wp->count; }

const char *ow_wordpiece_text(const ow_wordpiece *wp, int32_t id, size_t *len) {
    *len = wp->offset[id + 1] - wp->offset[id] - 1;
    return wp->text + wp->offset[id];
}

int32_t ow_wordpiece_find(const ow_wordpiece *wp, const char *s, size_t n) {
    for (size_t k = hash_bytes(s, n) & wp->mask;; k = (k + 1) & wp->mask) {
        int32_t id = wp->slots[k];
        if (id < 0) return -1;
        size_t len;
        const char *t = ow_wordpiece_text(wp, id, &len);
        if (len == n && memcmp(t, s, n) == 0) return id;
    }
}

void ow_wordpiece_free(ow_wordpiece *wp) {
    if (!wp) return;
    free(wp->text);
    free(wp->offset);
    free(wp->slots);
    free(wp);
}

ow_status ow_wordpiece_build(ow_wordpiece **out, const char *text, size_t len, const char *name, ow_error *err) {
    *out = NULL;
    if (len > (64u << 20))
        return ow_error_set(err, OW_ERR_FORMAT, "the BERT vocabulary '%s' is %zu bytes: not a vocab.txt", name, len);
    ow_wordpiece *wp = calloc(1, sizeof *wp);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (len && text[len - 1] != '\n') lines++;
    if (wp) wp->text = malloc(len + 1), wp->offset = malloc((lines + 1) * sizeof *wp->offset);
    size_t cap = 16;
    while (cap < 2 * lines) cap *= 2;
    if (wp) wp->slots = malloc(cap * sizeof *wp->slots);
    if (!wp || !wp->text || !wp->offset || !wp->slots) {
        ow_wordpiece_free(wp);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory for the BERT vocabulary '%s'", name);
    }
    memcpy(wp->text, text, len);
    wp->text[len] = '\n';
    for (size_t k = 0; k < cap; k++) wp->slots[k] = -1;
    wp->mask = cap - 1;
    ow_status st = OW_OK;
    size_t pos = 0;
    for (size_t id = 0; id < lines && st == OW_OK; id++) {
        size_t start = pos;
        while (wp->text[pos] != '\n') pos++;
        size_t n = pos - start;
        if (n && wp->text[pos - 1] == '\r') wp->text[pos - 1] = '\0', n--; /* a vocab.txt saved with CRLF */
        wp->text[pos++] = '\0';
        wp->offset[id] = (uint32_t)start;
        wp->offset[id + 1] = (uint32_t)pos;
        wp->count = (int32_t)id + 1;
        if (n == 0) {
            st = ow_error_set(err, OW_ERR_FORMAT, "the BERT vocabulary '%s': line %zu is empty", name, id + 1);
            break;
        }
        wp->count = (int32_t)id; /* not yet findable while it is checked */
        int32_t dup = ow_wordpiece_find(wp, wp->text + start, n);
        wp->count = (int32_t)id + 1;
        if (dup >= 0) {
            st = ow_error_set(err, OW_ERR_FORMAT, "the BERT vocabulary '%s': line %zu repeats line %d ('%.*s')", name,
                              id + 1, dup + 1, (int)(n < 64 ? n : 64), wp->text + start);
            break;
        }
        size_t k = hash_bytes(wp->text + start, n) & wp->mask;
        while (wp->slots[k] >= 0) k = (k + 1) & wp->mask;
        wp->slots[k] = (int32_t)id;
    }
    static const struct { int32_t id; const char *text; } specials[] = {
        {OW_BERT_PAD_ID, "[PAD]"}, {OW_BERT_UNK_ID, "[UNK]"}, {OW_BERT_CLS_ID, "[CLS]"},
        {OW_BERT_SEP_ID, "[SEP]"}, {OW_BERT_MASK_ID, "[MASK]"},
    };
    for (size_t i = 0; st == OW_OK && i < sizeof specials / sizeof specials[0]; i++)
        if (ow_wordpiece_find(wp, specials[i].text, strlen(specials[i].text)) != specials[i].id)
            st = ow_error_set(err, OW_ERR_FORMAT,
                              "the BERT vocabulary '%s' has %d lines and no %s at id %d: it is not bert-base-uncased's "
                              "vocab.txt (resources/bert/vocab.txt.gz)",
                              name, wp->count, specials[i].text, specials[i].id);
    if (st != OW_OK) {
        ow_wordpiece_free(wp);
        return st;
    }
    *out = wp;
    return OW_OK;
}

int ow_bert_normalize(const uint32_t *text, size_t n, ow_cps *out) {
    ow_cps cleaned = {0}, decomposed = {0};
    int rc = -1;
    /* clean_text and handle_chinese_chars */
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = text[i];
        uint8_t f = ow_uni_bert_flags(cp);
        if (f & OW_UNI_BERT_REMOVE) continue;
        if (f & OW_UNI_BERT_SPACE) cp = ' ';
        if (f & OW_UNI_BERT_CJK) {
            if (ow_cps_push(&cleaned, ' ') || ow_cps_push(&cleaned, cp) || ow_cps_push(&cleaned, ' ')) goto done;
        } else if (ow_cps_push(&cleaned, cp)) {
            goto done;
        }
    }
    /* strip_accents: NFD (in runs between the starters it keeps whole), nonspacing marks dropped */
    size_t run = 0;
    for (size_t i = 0; i <= cleaned.len; i++) {
        if (i < cleaned.len && !(ow_uni_bert_flags(cleaned.data[i]) & OW_UNI_BERT_NFD_KEEP)) continue;
        if (i > run && ow_uni_nfd(cleaned.data + run, i - run, &decomposed)) goto done; /* data is NULL when empty */
        if (i < cleaned.len && ow_cps_push(&decomposed, cleaned.data[i])) goto done;
        run = i + 1;
    }
    /* then lowercase, per code point (no final-sigma rule) */
    for (size_t i = 0; i < decomposed.len; i++) {
        uint32_t cp = decomposed.data[i];
        if (ow_uni_bert_flags(cp) & OW_UNI_BERT_MARK_NONSPACING) continue;
        if (cp == 0x130) { /* LATIN CAPITAL LETTER I WITH DOT ABOVE: i + COMBINING DOT ABOVE */
            if (ow_cps_push(out, 'i') || ow_cps_push(out, 0x307)) goto done;
        } else if (ow_cps_push(out, ow_uni_lower_simple(cp))) {
            goto done;
        }
    }
    rc = 0;
done:
    ow_cps_free(&cleaned);
    ow_cps_free(&decomposed);
    return rc;
}

/* WordPiece of one word (code points). */
static int wordpiece_word(const ow_wordpiece *wp, const uint32_t *word, size_t n, ow_wordpiece_id_fn fn,
                          void *user) {
    if (n > MAX_WORD_CHARS) return fn(user, OW_BERT_UNK_ID);
    char utf8[4 * MAX_WORD_CHARS], candidate[2 + 4 * MAX_WORD_CHARS] = "##";
    size_t cut[MAX_WORD_CHARS + 1]; /* cut[i]: where code point i starts in utf8 */
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        cut[i] = bytes;
        bytes += ow_utf8_encode(word[i], utf8 + bytes);
    }
    cut[n] = bytes;
    int32_t pieces[MAX_WORD_CHARS];
    size_t n_pieces = 0, start = 0;
    while (start < n) {
        int32_t id = -1;
        size_t end = n;
        while (end > start) { /* the longest piece from start that is in the vocabulary */
            size_t len = cut[end] - cut[start];
            if (start == 0) {
                id = ow_wordpiece_find(wp, utf8, len);
            } else {
                memcpy(candidate + 2, utf8 + cut[start], len);
                id = ow_wordpiece_find(wp, candidate, len + 2);
            }
            if (id >= 0) break;
            end--;
        }
        if (id < 0) return fn(user, OW_BERT_UNK_ID);
        pieces[n_pieces++] = id;
        start = end;
    }
    for (size_t i = 0; i < n_pieces; i++)
        if (fn(user, pieces[i])) return -1;
    return 0;
}

int ow_wordpiece_tokenize(const ow_wordpiece *wp, const uint32_t *text, size_t n, ow_wordpiece_id_fn fn, void *user) {
    ow_cps norm = {0};
    if (ow_bert_normalize(text, n, &norm)) return -1;
    int rc = 0;
    size_t i = 0;
    while (i < norm.len && rc == 0) {
        uint8_t f = ow_uni_bert_flags(norm.data[i]);
        if (norm.data[i] == ' ' || (f & OW_UNI_BERT_SPLIT)) {
            i++;
            continue;
        }
        size_t start = i++;
        if (!(f & OW_UNI_BERT_PUNCTUATION))
            while (i < norm.len && norm.data[i] != ' ' &&
                   !(ow_uni_bert_flags(norm.data[i]) & (OW_UNI_BERT_SPLIT | OW_UNI_BERT_PUNCTUATION)))
                i++;
        rc = wordpiece_word(wp, norm.data + start, i - start, fn, user);
    }
    ow_cps_free(&norm);
    return rc;
}
