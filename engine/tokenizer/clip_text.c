/* clip_text.c: UTF-8 decoding, the no-ftfy CLIP text clean-up and the CLIP split
 * pattern on code points, mirroring transformers 4.46.3 (tokenization_clip.py,
 * BasicTokenizer in tokenization_bert.py) and CPython 3.11 str semantics. */
#include "tokenizer/clip_text.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode_tables.h"

/* ---- growable code point arrays ---- */

static int cps_reserve(ow_cps *v, size_t extra) {
    if (v->len + extra <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < v->len + extra) {
        if (cap > SIZE_MAX / 2 / sizeof(uint32_t)) return -1;
        cap *= 2;
    }
    uint32_t *data = realloc(v->data, cap * sizeof(uint32_t));
    if (!data) return -1;
    v->data = data;
    v->cap = cap;
    return 0;
}

int ow_cps_push(ow_cps *v, uint32_t cp) {
    if (cps_reserve(v, 1)) return -1;
    v->data[v->len++] = cp;
    return 0;
}

void ow_cps_free(ow_cps *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

/* ---- UTF-8 ---- */

int ow_utf8_decode(const char *text, size_t n, ow_cps *out) {
    const unsigned char *s = (const unsigned char *)text;
    if (cps_reserve(out, n)) return -1; /* never more code points than bytes */
    size_t i = 0;
    while (i < n) {
        unsigned b0 = s[i];
        if (b0 < 0x80) {
            out->data[out->len++] = b0;
            i++;
            continue;
        }
        /* Well-formed sequences (Unicode Table 3-7): length and the range allowed
         * for the second byte; later bytes are 80..BF. */
        int need;
        unsigned lo = 0x80, hi = 0xBF;
        uint32_t cp;
        if (b0 >= 0xC2 && b0 <= 0xDF) { need = 1; cp = b0 & 0x1F; }
        else if (b0 >= 0xE0 && b0 <= 0xEF) {
            need = 2; cp = b0 & 0x0F;
            if (b0 == 0xE0) lo = 0xA0;
            if (b0 == 0xED) hi = 0x9F; /* no surrogates */
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            need = 3; cp = b0 & 0x07;
            if (b0 == 0xF0) lo = 0x90;
            if (b0 == 0xF4) hi = 0x8F;
        } else {
            out->data[out->len++] = 0xFFFD; /* not a lead byte */
            i++;
            continue;
        }
        size_t j = i + 1;
        int got = 0;
        while (got < need && j < n) {
            unsigned b = s[j];
            if (b < lo || b > hi) break;
            cp = (cp << 6) | (b & 0x3F);
            lo = 0x80;
            hi = 0xBF;
            j++;
            got++;
        }
        out->data[out->len++] = got == need ? cp : 0xFFFD; /* maximal subpart -> one U+FFFD */
        i = j;
    }
    return 0;
}

size_t ow_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- table lookups ---- */

/* The flags of the last range of table (count, the first starting at 0) with start <= cp. */
static uint8_t range_flags(const ow_uni_prop_range *table, size_t count, uint32_t cp) {
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid].start <= cp) lo = mid;
        else hi = mid;
    }
    return table[lo].flags;
}

uint8_t ow_uni_flags(uint32_t cp) {
    return cp < 128 ? ow_uni_ascii_flags[cp] : range_flags(ow_uni_props, ow_uni_props_count, cp);
}

uint8_t ow_uni_bert_flags(uint32_t cp) { return range_flags(ow_uni_bert_props, ow_uni_bert_props_count, cp); }

uint32_t ow_uni_lower_simple(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    size_t lo = 0, hi = ow_uni_lower_count;
    if (cp < ow_uni_lower[0].first) return cp;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ow_uni_lower[mid].first <= cp) lo = mid;
        else hi = mid;
    }
    const ow_uni_lower_range *r = &ow_uni_lower[lo];
    if (cp <= r->last && (cp - r->first) % r->stride == 0) return (uint32_t)((int32_t)cp + r->delta);
    return cp;
}

static unsigned ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = ow_uni_ccc_count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ow_uni_ccc[mid].first <= cp) lo = mid;
        else hi = mid;
    }
    const ow_uni_ccc_range *r = &ow_uni_ccc[lo];
    return (cp >= r->first && cp <= r->last) ? r->ccc : 0;
}

static const ow_uni_decomp *decomp_of(uint32_t cp) {
    size_t lo = 0, hi = ow_uni_decomps_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ow_uni_decomps[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return (lo < ow_uni_decomps_count && ow_uni_decomps[lo].cp == cp) ? &ow_uni_decomps[lo] : NULL;
}

/* Hangul syllables (Unicode 3.12, algorithmic). */
enum {
    HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
    HANGUL_LCOUNT = 19, HANGUL_VCOUNT = 21, HANGUL_TCOUNT = 28,
    HANGUL_NCOUNT = HANGUL_VCOUNT * HANGUL_TCOUNT, HANGUL_SCOUNT = HANGUL_LCOUNT * HANGUL_NCOUNT,
};

/* The primary composite of a + b, or 0 when there is none. */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LCOUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_VCOUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VCOUNT + (b - HANGUL_V)) * HANGUL_TCOUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SCOUNT && (a - HANGUL_S) % HANGUL_TCOUNT == 0 &&
        b > HANGUL_T && b < HANGUL_T + HANGUL_TCOUNT)
        return a + (b - HANGUL_T);
    size_t lo = 0, hi = ow_uni_comps_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ow_uni_comp *c = &ow_uni_comps[mid];
        if (c->a < a || (c->a == a && c->b < b)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < ow_uni_comps_count && ow_uni_comps[lo].a == a && ow_uni_comps[lo].b == b) return ow_uni_comps[lo].cp;
    return 0;
}

static int decompose_into(uint32_t cp, ow_cps *out, int depth) {
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SCOUNT) {
        uint32_t i = cp - HANGUL_S;
        if (ow_cps_push(out, HANGUL_L + i / HANGUL_NCOUNT) ||
            ow_cps_push(out, HANGUL_V + (i % HANGUL_NCOUNT) / HANGUL_TCOUNT))
            return -1;
        return (i % HANGUL_TCOUNT) ? ow_cps_push(out, HANGUL_T + i % HANGUL_TCOUNT) : 0;
    }
    const ow_uni_decomp *d = cp >= 0xC0 && depth < 8 ? decomp_of(cp) : NULL;
    if (!d) return ow_cps_push(out, cp);
    if (decompose_into(d->a, out, depth + 1)) return -1;
    return d->b ? decompose_into(d->b, out, depth + 1) : 0;
}

/* Decomposition and canonical ordering of text[0..n), appended to out (NFD). */
int ow_uni_nfd(const uint32_t *text, size_t n, ow_cps *out) {
    size_t base = out->len;
    for (size_t i = 0; i < n; i++)
        if (decompose_into(text[i], out, 0)) return -1;
    uint32_t *d = out->data + base;
    size_t m = out->len - base;
    /* Canonical ordering: stable insertion sort of each run of non-starters. */
    for (size_t i = 1; i < m; i++) {
        unsigned c = ccc_of(d[i]);
        if (c == 0) continue;
        uint32_t cp = d[i];
        size_t j = i;
        while (j > 0 && ccc_of(d[j - 1]) > c) {
            d[j] = d[j - 1];
            j--;
        }
        d[j] = cp;
    }
    return 0;
}

/* unicodedata.normalize("NFC", ...) of text[0..n), appended to out. */
static int nfc(const uint32_t *text, size_t n, ow_cps *out) {
    int plain = 1; /* below U+0300 nothing composes and NFC is the identity */
    for (size_t i = 0; i < n && plain; i++) plain = text[i] < 0x300;
    if (plain) {
        if (n == 0) return 0;
        if (cps_reserve(out, n)) return -1;
        memcpy(out->data + out->len, text, n * sizeof *text);
        out->len += n;
        return 0;
    }
    size_t base = out->len;
    if (ow_uni_nfd(text, n, out)) return -1;
    uint32_t *d = out->data + base;
    size_t m = out->len - base;
    /* Canonical composition. */
    if (m == 0) return 0;
    size_t starter = 0, kept = 1;
    int have_starter = ccc_of(d[0]) == 0;
    unsigned last_class = have_starter ? 0 : 256;
    for (size_t i = 1; i < m; i++) {
        uint32_t cp = d[i];
        unsigned c = ccc_of(cp);
        if (have_starter && (last_class < c || last_class == 0)) {
            uint32_t composite = compose_pair(d[starter], cp);
            if (composite) {
                d[starter] = composite;
                continue;
            }
        }
        if (c == 0) {
            starter = kept;
            have_starter = 1;
        }
        last_class = c;
        d[kept++] = cp;
    }
    out->len = base + kept;
    return 0;
}

/* BasicTokenizer._is_chinese_char. */
static int is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* CPython's Final_Sigma test for the capital sigma at word[i]. */
static int is_final_sigma(const uint32_t *word, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && (ow_uni_flags(word[j - 1]) & OW_UNI_CASE_IGNORABLE)) j--;
    if (j == 0 || !(ow_uni_flags(word[j - 1]) & OW_UNI_CASED)) return 0;
    j = i + 1;
    while (j < n && (ow_uni_flags(word[j]) & OW_UNI_CASE_IGNORABLE)) j++;
    return j == n || !(ow_uni_flags(word[j]) & OW_UNI_CASED);
}

/* str.lower() of one word, appended to out. */
static int lower_word(const uint32_t *word, size_t n, ow_cps *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = word[i];
        if (cp == 0x130) { /* LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE */
            if (ow_cps_push(out, 'i') || ow_cps_push(out, 0x307)) return -1;
        } else if (cp == 0x3A3) {
            if (ow_cps_push(out, is_final_sigma(word, n, i) ? 0x3C2 : 0x3C3)) return -1;
        } else if (ow_cps_push(out, ow_uni_lower_simple(cp))) {
            return -1;
        }
    }
    return 0;
}

int ow_clip_normalize(const uint32_t *text, size_t n, ow_cps *out) {
    ow_cps cleaned = {0}, composed = {0};
    int rc = -1;
    /* _clean_text and _tokenize_chinese_chars. */
    if (cps_reserve(&cleaned, n)) goto done;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = text[i];
        uint8_t f = ow_uni_flags(cp);
        if (f & OW_UNI_REMOVE) continue;
        if (f & OW_UNI_SPACE) cp = ' ';
        if (is_cjk(cp)) {
            if (ow_cps_push(&cleaned, ' ') || ow_cps_push(&cleaned, cp) || ow_cps_push(&cleaned, ' ')) goto done;
        } else if (ow_cps_push(&cleaned, cp)) {
            goto done;
        }
    }
    if (nfc(cleaned.data, cleaned.len, &composed)) goto done;
    /* whitespace_tokenize, lower() per word, " ".join. */
    int first = 1;
    size_t i = 0;
    while (i < composed.len) {
        while (i < composed.len && (ow_uni_flags(composed.data[i]) & OW_UNI_SPACE)) i++;
        size_t start = i;
        while (i < composed.len && !(ow_uni_flags(composed.data[i]) & OW_UNI_SPACE)) i++;
        if (i == start) break;
        if (!first && ow_cps_push(out, ' ')) goto done;
        first = 0;
        if (lower_word(composed.data + start, i - start, out)) goto done;
    }
    rc = 0;
done:
    ow_cps_free(&cleaned);
    ow_cps_free(&composed);
    return rc;
}

/* Matches an ASCII literal at text[i] case-insensitively as the regex module does
 * (only 's' has a non-ASCII case partner: U+017F LATIN SMALL LETTER LONG S). */
static size_t match_literal(const uint32_t *text, size_t n, size_t i, const char *literal) {
    size_t len = strlen(literal);
    if (n - i < len) return 0;
    for (size_t k = 0; k < len; k++) {
        uint32_t c = text[i + k];
        uint32_t want = (unsigned char)literal[k];
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c == 0x17F) c = 's';
        if (c != want) return 0;
    }
    return len;
}

int ow_clip_split(const uint32_t *text, size_t n, ow_clip_piece_fn fn, void *user) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t i = 0;
    while (i < n) {
        size_t len = match_literal(text, n, i, "<|startoftext|>");
        if (!len) len = match_literal(text, n, i, "<|endoftext|>");
        for (size_t k = 0; !len && k < sizeof contractions / sizeof contractions[0]; k++)
            len = match_literal(text, n, i, contractions[k]);
        if (!len) {
            uint8_t f = ow_uni_flags(text[i]);
            if (f & OW_UNI_LETTER) {
                len = 1;
                while (i + len < n && (ow_uni_flags(text[i + len]) & OW_UNI_LETTER)) len++;
            } else if (f & OW_UNI_NUMBER) {
                len = 1;
            } else if (f & OW_UNI_OTHER) {
                len = 1;
                while (i + len < n && (ow_uni_flags(text[i + len]) & OW_UNI_OTHER)) len++;
            } else {
                i++; /* whitespace, or a character no alternative matches */
                continue;
            }
        }
        int stop = fn(user, text + i, len);
        if (stop) return stop;
        i += len;
    }
    return 0;
}
