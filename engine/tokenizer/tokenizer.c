/* tokenizer.c: CLIP's byte-level BPE tokenizer: vocabulary built from the gzip'd
 * merge list, BPE by merge rank, added (textual-inversion) tokens, encode with
 * BOS/EOS/padding/truncation, and decode. The text clean-up and the split pattern
 * live in clip_text.c. The same front (added tokens, encode, decode) serves BERT's
 * WordPiece tokenizer (wordpiece.c), for LDM's text encoder. */
#include "tokenizer/tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/clip_text.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/wordpiece.h"

enum {
    N_MERGES = 49152 - 256 - 2, /* merges CLIP uses: lines 1..48894 of the file */
    FIRST_MERGE_ID = 512,
    MAX_VOCAB_BYTES = 64 << 20, /* refuse to inflate more than this */
};

typedef struct added_token {
    uint32_t *cps; /* the token's code points */
    size_t n;
    char *utf8;
    int32_t id;
    int special; /* <|startoftext|> / <|endoftext|> ([CLS], [SEP], ... for BERT): skipped when decoding */
} added_token;

struct ow_tokenizer {
    /* Token id -> its bytes (the byte-level string mapped back to bytes; a
     * trailing "</w>" is kept literally, as transformers' decode sees it). */
    unsigned char *raw;
    uint32_t raw_off[OW_CLIP_VOCAB_SIZE + 1];
    /* (left id, right id) -> merge rank, open addressing. */
    uint64_t *merge_keys; /* 0 = empty; key = (left + 1) << 32 | (right + 1) */
    int32_t *merge_ranks;
    size_t merge_mask;
    int32_t byte_id[256], byte_eow_id[256];
    added_token *added;
    size_t n_added, cap_added;
    int32_t next_id;
    ow_wordpiece *wordpiece; /* BERT's WordPiece instead of CLIP's BPE; NULL for CLIP */
    int32_t base_vocab;      /* ids below it are the vocabulary's own: 49408 (CLIP) or 30522 (BERT) */
    int32_t bos_id, eos_id;  /* <|startoftext|> <|endoftext|>, or [CLS] [SEP] */
};

/* ---- small growable buffers ---- */

typedef struct ids_buf { int32_t *data; size_t len, cap; } ids_buf;
typedef struct bytes_buf { char *data; size_t len, cap; } bytes_buf;

static int ids_push(ids_buf *b, int32_t id) {
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *data = realloc(b->data, cap * sizeof *data);
        if (!data) return -1;
        b->data = data;
        b->cap = cap;
    }
    b->data[b->len++] = id;
    return 0;
}

static int bytes_append(bytes_buf *b, const void *src, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* ---- byte <-> unicode mapping (CLIP's bytes_to_unicode) ---- */

/* Byte b is vocabulary entry byte_rank(b) and stands for code point byte_char(b):
 * printable bytes 33..126, 161..172, 174..255 in order stand for themselves, the
 * other 68 bytes follow in order as U+0100 + n. */
static int is_printable_byte(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static void build_byte_tables(int32_t rank_of[256], uint32_t char_of[256]) {
    int32_t rank = 0;
    for (unsigned b = 0; b < 256; b++)
        if (is_printable_byte(b)) { rank_of[b] = rank++; char_of[b] = b; }
    uint32_t extra = 0;
    for (unsigned b = 0; b < 256; b++)
        if (!is_printable_byte(b)) { rank_of[b] = rank++; char_of[b] = 256 + extra++; }
}

/* ---- string -> id map used while loading ---- */

typedef struct string_map {
    int32_t *slots; /* -1 = empty */
    size_t mask;
    const char *strings; /* token i = strings + off[i], length off[i+1] - off[i] */
    const uint32_t *off;
} string_map;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int32_t string_map_find(const string_map *m, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slots[i];
        if (id < 0) return -1;
        size_t len = m->off[id + 1] - m->off[id];
        if (len == n && memcmp(m->strings + m->off[id], s, n) == 0) return id;
    }
}

/* Inserts id (its string is already in m->strings); returns the id already there for
 * a duplicate string, else -1. */
static int32_t string_map_insert(string_map *m, int32_t id) {
    const char *s = m->strings + m->off[id];
    size_t n = m->off[id + 1] - m->off[id];
    for (size_t i = hash_bytes(s, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t other = m->slots[i];
        if (other < 0) { m->slots[i] = id; return -1; }
        size_t len = m->off[other + 1] - m->off[other];
        if (len == n && memcmp(m->strings + m->off[other], s, n) == 0) return other;
    }
}

/* ---- merge ranks ---- */

static size_t merge_slot(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static int32_t merge_rank(const ow_tokenizer *t, int32_t left, int32_t right) {
    uint64_t key = ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
    for (size_t i = merge_slot(key, t->merge_mask);; i = (i + 1) & t->merge_mask) {
        if (t->merge_keys[i] == key) return t->merge_ranks[i];
        if (t->merge_keys[i] == 0) return -1;
    }
}

static void merge_insert(ow_tokenizer *t, int32_t left, int32_t right, int32_t rank) {
    uint64_t key = ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
    size_t i = merge_slot(key, t->merge_mask);
    while (t->merge_keys[i] != 0 && t->merge_keys[i] != key) i = (i + 1) & t->merge_mask;
    t->merge_keys[i] = key;
    t->merge_ranks[i] = rank; /* a repeated pair keeps the later rank, like dict(zip(...)) */
}

/* ---- loading ---- */

/* what: "the CLIP vocabulary"; shipped: where the file comes from, for the messages. */
static ow_status read_gzip(const char *path, const char *what, const char *shipped, char **data_out, size_t *len_out,
                           ow_error *err) {
    int fd;
    ow_error open_err = {0};
    ow_status opened = ow_file_open_regular(path, what, &fd, NULL, &open_err);
    if (opened != OW_OK)
        return ow_error_set(err, opened, "%s (it ships as %s; check the path)", open_err.message, shipped);
    errno = 0;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return ow_error_set(err, OW_ERR_IO, "cannot read %s '%s': %s", what, path,
                            errno ? strerror(errno) : "out of memory");
    }
    size_t cap = 4 << 20, len = 0;
    char *data = malloc(cap);
    if (!data) { gzclose(f); return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory to read '%s'", path); }
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_VOCAB_BYTES) {
                free(data);
                gzclose(f);
                return ow_error_set(err, OW_ERR_FORMAT, "%s '%s' inflates to more than %d MiB; it is not %s",
                                    what, path, MAX_VOCAB_BYTES >> 20, shipped);
            }
            char *bigger = realloc(data, cap * 2);
            if (!bigger) { free(data); gzclose(f); return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory to read '%s'", path); }
            data = bigger;
            cap *= 2;
        }
        int got = gzread(f, data + len, (unsigned)(cap - len));
        if (got < 0) {
            int code = 0;
            const char *why = gzerror(f, &code);
            ow_status st = ow_error_set(err, code == Z_ERRNO ? OW_ERR_IO : OW_ERR_FORMAT,
                                        "%s '%s' is damaged (gzip: %s); reinstall %s", what, path,
                                        code == Z_ERRNO ? strerror(errno) : why, shipped);
            free(data);
            gzclose(f);
            return st;
        }
        if (got == 0) {
            int code = Z_OK;
            const char *why = gzerror(f, &code);
            if (code != Z_OK) { /* Z_BUF_ERROR: the compressed stream ended early */
                ow_status st = ow_error_set(err, OW_ERR_FORMAT, "%s '%s' is damaged (gzip: %s); reinstall %s", what,
                                            path, why, shipped);
                free(data);
                gzclose(f);
                return st;
            }
            break;
        }
        if (len == 0 && gzdirect(f)) {
            free(data);
            gzclose(f);
            return ow_error_set(err, OW_ERR_FORMAT, "%s '%s' is not gzip-compressed; expected %s", what, path,
                                shipped);
        }
        len += (size_t)got;
    }
    gzclose(f);
    *data_out = data;
    *len_out = len;
    return OW_OK;
}

static int is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Maps a byte-level token string to its bytes; -1 if a character is not a byte char. */
static int token_to_raw(const char *s, size_t n, const int32_t byte_of_char[512], bytes_buf *out) {
    ow_cps cps = {0};
    if (ow_utf8_decode(s, n, &cps)) return -1;
    int rc = 0;
    for (size_t i = 0; i < cps.len && rc == 0; i++) {
        uint32_t cp = cps.data[i];
        if (cp >= 512 || byte_of_char[cp] < 0) { rc = -1; break; }
        unsigned char b = (unsigned char)byte_of_char[cp];
        if (bytes_append(out, &b, 1)) rc = -1;
    }
    ow_cps_free(&cps);
    return rc;
}

/* Registers a special token (text -> id, skipped by decode); -1 when memory ran out. */
static int add_special(ow_tokenizer *t, const char *text, int32_t id) {
    if (t->n_added == t->cap_added) {
        size_t cap = t->cap_added ? t->cap_added * 2 : 8;
        added_token *more = realloc(t->added, cap * sizeof *more);
        if (!more) return -1;
        t->added = more;
        t->cap_added = cap;
    }
    added_token *a = &t->added[t->n_added];
    ow_cps cps = {0};
    a->utf8 = strdup(text);
    if (!a->utf8 || ow_utf8_decode(text, strlen(text), &cps)) {
        free(a->utf8);
        ow_cps_free(&cps);
        return -1;
    }
    a->cps = cps.data;
    a->n = cps.len;
    a->id = id;
    a->special = 1;
    t->n_added++;
    return 0;
}

ow_status ow_tokenizer_load_wordpiece(ow_tokenizer **out, const char *path, ow_error *err) {
    if (!out || !path)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_load_wordpiece: out and path must be given");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    ow_status st = read_gzip(path, "the BERT vocabulary", "resources/bert/vocab.txt.gz", &text, &len, err);
    if (st != OW_OK) return st;
    ow_tokenizer *t = calloc(1, sizeof *t);
    if (!t) st = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory for the BERT tokenizer");
    if (st == OW_OK) st = ow_wordpiece_build(&t->wordpiece, text, len, path, err);
    free(text);
    if (st == OW_OK) {
        t->base_vocab = t->next_id = ow_wordpiece_vocab_size(t->wordpiece);
        t->bos_id = OW_BERT_CLS_ID;
        t->eos_id = OW_BERT_SEP_ID;
        /* BertTokenizerFast's special tokens, matched in the raw text as transformers does */
        static const struct { const char *text; int32_t id; } specials[] = {
            {"[PAD]", OW_BERT_PAD_ID}, {"[UNK]", OW_BERT_UNK_ID}, {"[CLS]", OW_BERT_CLS_ID},
            {"[SEP]", OW_BERT_SEP_ID}, {"[MASK]", OW_BERT_MASK_ID},
        };
        for (size_t i = 0; st == OW_OK && i < sizeof specials / sizeof specials[0]; i++)
            if (add_special(t, specials[i].text, specials[i].id))
                st = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory for the BERT tokenizer");
    }
    if (st != OW_OK) {
        ow_tokenizer_free(t);
        return st;
    }
    *out = t;
    return OW_OK;
}

int ow_tokenizer_is_wordpiece(const ow_tokenizer *t) { return t->wordpiece != NULL; }
int32_t ow_tokenizer_base_vocab_size(const ow_tokenizer *t) { return t->base_vocab; }
int32_t ow_tokenizer_bos_id(const ow_tokenizer *t) { return t->bos_id; }
int32_t ow_tokenizer_eos_id(const ow_tokenizer *t) { return t->eos_id; }

ow_status ow_tokenizer_load(ow_tokenizer **out, const char *path, ow_error *err) {
    if (!out || !path) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_load: out and path must be given");
    *out = NULL;
    char *text = NULL;
    size_t text_len = 0;
    ow_status st = read_gzip(path, "the CLIP vocabulary", "resources/clip/bpe_simple_vocab_16e6.txt.gz", &text,
                             &text_len, err);
    if (st != OW_OK) return st;

    ow_tokenizer *t = calloc(1, sizeof *t);
    bytes_buf strings = {0}, raw = {0};
    uint32_t *off = malloc((OW_CLIP_VOCAB_SIZE + 1) * sizeof *off);
    string_map map = {0};
    uint32_t (*parts)[4] = malloc((size_t)N_MERGES * sizeof *parts); /* offset/length of both halves in text */
    if (!t || !off || !parts) { st = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory for the tokenizer"); goto fail; }

    /* Ids 0..511: byte characters, then the same with "</w>". */
    int32_t rank_of[256];
    uint32_t char_of[256];
    int32_t byte_of_char[512];
    build_byte_tables(rank_of, char_of);
    for (int i = 0; i < 512; i++) byte_of_char[i] = -1;
    for (unsigned b = 0; b < 256; b++) byte_of_char[char_of[b]] = (int32_t)b;
    uint32_t char_by_rank[256];
    for (unsigned b = 0; b < 256; b++) char_by_rank[rank_of[b]] = char_of[b];
    int32_t id = 0;
    for (int eow = 0; eow < 2; eow++) {
        for (int r = 0; r < 256; r++) {
            char u[4];
            size_t n = ow_utf8_encode(char_by_rank[r], u);
            off[id++] = (uint32_t)strings.len;
            if (bytes_append(&strings, u, n) || (eow && bytes_append(&strings, "</w>", 4))) goto oom;
        }
    }
    for (unsigned b = 0; b < 256; b++) {
        t->byte_id[b] = rank_of[b];
        t->byte_eow_id[b] = 256 + rank_of[b];
    }

    /* Ids 512..49405: merges (lines 1..48894; line 0 is a version header). */
    size_t pos = 0;
    while (pos < text_len && text[pos] != '\n') pos++;
    if (pos >= text_len) {
        st = ow_error_set(err, OW_ERR_FORMAT, "the CLIP vocabulary '%s' has no merge lines (%zu bytes inflated); "
                          "expected bpe_simple_vocab_16e6.txt.gz", path, text_len);
        goto fail;
    }
    pos++;
    for (int rank = 0; rank < N_MERGES; rank++) {
        size_t line = pos;
        while (pos < text_len && text[pos] != '\n') pos++;
        size_t end = pos;
        if (line >= text_len) {
            st = ow_error_set(err, OW_ERR_FORMAT, "the CLIP vocabulary '%s' ends after %d merges; CLIP needs %d "
                              "(is the file truncated?)", path, rank, N_MERGES);
            goto fail;
        }
        pos++;
        /* merge.split(): exactly two parts separated by whitespace. */
        size_t a0 = line;
        while (a0 < end && is_ascii_space(text[a0])) a0++;
        size_t a1 = a0;
        while (a1 < end && !is_ascii_space(text[a1])) a1++;
        size_t b0 = a1;
        while (b0 < end && is_ascii_space(text[b0])) b0++;
        size_t b1 = b0;
        while (b1 < end && !is_ascii_space(text[b1])) b1++;
        size_t rest = b1;
        while (rest < end && is_ascii_space(text[rest])) rest++;
        if (a1 == a0 || b1 == b0 || rest != end) {
            st = ow_error_set(err, OW_ERR_FORMAT, "the CLIP vocabulary '%s': merge line %d is not two "
                              "space-separated symbols", path, rank + 1);
            goto fail;
        }
        off[id++] = (uint32_t)strings.len;
        if (bytes_append(&strings, text + a0, a1 - a0) || bytes_append(&strings, text + b0, b1 - b0)) goto oom;
        parts[rank][0] = (uint32_t)a0;
        parts[rank][1] = (uint32_t)(a1 - a0);
        parts[rank][2] = (uint32_t)b0;
        parts[rank][3] = (uint32_t)(b1 - b0);
    }
    off[id++] = (uint32_t)strings.len;
    if (bytes_append(&strings, "<|startoftext|>", 15)) goto oom;
    off[id++] = (uint32_t)strings.len;
    if (bytes_append(&strings, "<|endoftext|>", 13)) goto oom;
    off[id] = (uint32_t)strings.len;

    /* String -> id, refusing duplicates (CLIP's ids would then have holes). */
    map.mask = 131071;
    map.slots = malloc((map.mask + 1) * sizeof *map.slots);
    if (!map.slots) goto oom;
    memset(map.slots, 0xff, (map.mask + 1) * sizeof *map.slots);
    map.strings = strings.data;
    map.off = off;
    for (int32_t i = 0; i < OW_CLIP_VOCAB_SIZE; i++) {
        int32_t dup = string_map_insert(&map, i);
        if (dup >= 0) {
            st = ow_error_set(err, OW_ERR_FORMAT, "the CLIP vocabulary '%s': token %d repeats token %d; "
                              "this is not CLIP's merge list", path, i, dup);
            goto fail;
        }
    }

    /* Merge ranks on ids. */
    t->merge_mask = 131071;
    t->merge_keys = calloc(t->merge_mask + 1, sizeof *t->merge_keys);
    t->merge_ranks = malloc((t->merge_mask + 1) * sizeof *t->merge_ranks);
    if (!t->merge_keys || !t->merge_ranks) goto oom;
    for (int rank = 0; rank < N_MERGES; rank++) {
        int32_t left = string_map_find(&map, text + parts[rank][0], parts[rank][1]);
        int32_t right = string_map_find(&map, text + parts[rank][2], parts[rank][3]);
        if (left < 0 || right < 0) {
            st = ow_error_set(err, OW_ERR_FORMAT, "the CLIP vocabulary '%s': merge %d joins a symbol that is "
                              "not in the vocabulary; the file is damaged", path, rank + 1);
            goto fail;
        }
        if (left >= FIRST_MERGE_ID + rank || right >= FIRST_MERGE_ID + rank) {
            /* bpe_piece relies on this order (CLIP's file has it). */
            st = ow_error_set(err, OW_ERR_FORMAT, "the CLIP vocabulary '%s': merge %d joins a symbol made by a "
                              "later merge; this is not CLIP's merge list", path, rank + 1);
            goto fail;
        }
        merge_insert(t, left, right, rank);
    }

    /* Bytes of every token, for decoding. */
    for (int32_t i = 0; i < OW_CLIP_VOCAB_SIZE; i++) {
        t->raw_off[i] = (uint32_t)raw.len;
        if (i >= OW_CLIP_BOS_ID) {
            if (bytes_append(&raw, strings.data + off[i], off[i + 1] - off[i])) goto oom;
        } else if (token_to_raw(strings.data + off[i], off[i + 1] - off[i], byte_of_char, &raw)) {
            st = ow_error_set(err, OW_ERR_FORMAT, "the CLIP vocabulary '%s': token %d has a character that "
                              "is not a byte-level symbol; the file is damaged", path, i);
            goto fail;
        }
    }
    t->raw_off[OW_CLIP_VOCAB_SIZE] = (uint32_t)raw.len;
    t->raw = (unsigned char *)raw.data;
    raw.data = NULL;
    t->next_id = OW_CLIP_VOCAB_SIZE;
    t->base_vocab = OW_CLIP_VOCAB_SIZE;
    t->bos_id = OW_CLIP_BOS_ID;
    t->eos_id = OW_CLIP_EOS_ID;

    /* The special tokens split the raw text like added tokens (transformers' trie). */
    if (add_special(t, "<|startoftext|>", OW_CLIP_BOS_ID) || add_special(t, "<|endoftext|>", OW_CLIP_EOS_ID))
        goto oom;

    free(text);
    free(strings.data);
    free(off);
    free(parts);
    free(map.slots);
    *out = t;
    return OW_OK;

oom:
    st = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory to build the CLIP vocabulary from '%s'", path);
fail:
    free(text);
    free(strings.data);
    free(raw.data);
    free(off);
    free(parts);
    free(map.slots);
    ow_tokenizer_free(t);
    return st;
}

void ow_tokenizer_free(ow_tokenizer *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].cps);
        free(t->added[i].utf8);
    }
    free(t->added);
    ow_wordpiece_free(t->wordpiece);
    free(t->raw);
    free(t->merge_keys);
    free(t->merge_ranks);
    free(t);
}

int32_t ow_tokenizer_vocab_size(const ow_tokenizer *t) {
    return t ? t->next_id : 0;
}

/* ---- BPE ---- */

/* CLIPTokenizer.bpe of one piece (its UTF-8 bytes), appending the ids: every byte
 * starts as a symbol (the last one with "</w>"), then the adjacent pair of lowest
 * rank is merged everywhere (left to right) until no pair has a rank.
 *
 * Done with a heap of (rank, position) over a linked list of symbols, O(n log n).
 * This equals transformers' loop when every merge only joins symbols made by earlier
 * merges (checked at load, true for CLIP): then a merge creates only pairs of higher
 * rank, so all occurrences of one rank are merged, left to right, before the next. */
typedef struct bpe_candidate { int32_t rank, pos; } bpe_candidate;

static int candidate_less(bpe_candidate a, bpe_candidate b) {
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(bpe_candidate *heap, size_t *n, bpe_candidate c) {
    size_t i = (*n)++;
    while (i > 0 && candidate_less(c, heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = c;
}

static bpe_candidate heap_pop(bpe_candidate *heap, size_t *n) {
    bpe_candidate top = heap[0], last = heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n) break;
        if (child + 1 < *n && candidate_less(heap[child + 1], heap[child])) child++;
        if (!candidate_less(heap[child], last)) break;
        heap[i] = heap[child];
        i = child;
    }
    if (*n) heap[i] = last;
    return top;
}

static int bpe_piece(const ow_tokenizer *t, const unsigned char *bytes, size_t n, ids_buf *out) {
    if (n == 0) return 0;
    /* One allocation: symbols, next links, prev links, and a heap of up to 3n entries. */
    int32_t *sym = malloc(n * 3 * sizeof(int32_t) + 3 * n * sizeof(bpe_candidate));
    if (!sym) return -1;
    int32_t *next = sym + n, *prev = sym + 2 * n;
    bpe_candidate *heap = (bpe_candidate *)(sym + 3 * n);
    for (size_t i = 0; i < n; i++) {
        sym[i] = i + 1 < n ? t->byte_id[bytes[i]] : t->byte_eow_id[bytes[i]];
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        prev[i] = (int32_t)i - 1;
    }
    int rc = 0;
    size_t heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = merge_rank(t, sym[i], sym[i + 1]);
        if (r >= 0) heap_push(heap, &heap_n, (bpe_candidate){r, (int32_t)i});
    }
    while (heap_n) {
        bpe_candidate c = heap_pop(heap, &heap_n);
        int32_t p = c.pos, q = next[p];
        if (sym[p] < 0 || q < 0 || merge_rank(t, sym[p], sym[q]) != c.rank) continue; /* stale */
        sym[p] = FIRST_MERGE_ID + c.rank;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = p;
        if (prev[p] >= 0) {
            int32_t r = merge_rank(t, sym[prev[p]], sym[p]);
            if (r >= 0) heap_push(heap, &heap_n, (bpe_candidate){r, prev[p]});
        }
        if (next[p] >= 0) {
            int32_t r = merge_rank(t, sym[p], sym[next[p]]);
            if (r >= 0) heap_push(heap, &heap_n, (bpe_candidate){r, p});
        }
    }
    for (int32_t i = 0; i >= 0 && rc == 0; i = next[i]) rc = ids_push(out, sym[i]);
    free(sym);
    return rc;
}

typedef struct piece_ctx {
    const ow_tokenizer *t;
    ids_buf *out;
    bytes_buf bytes;
} piece_ctx;

static int is_ascii_literal(const uint32_t *piece, size_t n, const char *literal) {
    if (strlen(literal) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (piece[i] != (unsigned char)literal[i]) return 0;
    return 1;
}

static int on_piece(void *user, const uint32_t *piece, size_t n) {
    piece_ctx *c = user;
    /* The BPE cache starts with the two special strings mapped to themselves. */
    if (is_ascii_literal(piece, n, "<|startoftext|>")) return ids_push(c->out, OW_CLIP_BOS_ID);
    if (is_ascii_literal(piece, n, "<|endoftext|>")) return ids_push(c->out, OW_CLIP_EOS_ID);
    c->bytes.len = 0;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        if (bytes_append(&c->bytes, u, ow_utf8_encode(piece[i], u))) return -1;
    }
    return bpe_piece(c->t, (const unsigned char *)c->bytes.data, c->bytes.len, c->out);
}

static int push_id(void *user, int32_t id) { return ids_push(user, id); }

/* CLIPTokenizer._tokenize (or BERT's WordPiece) of text between added tokens. */
static int tokenize_chunk(const ow_tokenizer *t, const uint32_t *cps, size_t n, ids_buf *out) {
    if (n == 0) return 0;
    if (t->wordpiece) return ow_wordpiece_tokenize(t->wordpiece, cps, n, push_id, out);
    ow_cps normalized = {0};
    piece_ctx ctx = {t, out, {0}};
    int rc = ow_clip_normalize(cps, n, &normalized);
    if (rc == 0) rc = ow_clip_split(normalized.data, normalized.len, on_piece, &ctx);
    ow_cps_free(&normalized);
    free(ctx.bytes.data);
    return rc;
}

/* The longest added token starting at text[i], or NULL. */
static const added_token *added_at(const ow_tokenizer *t, const uint32_t *text, size_t n, size_t i) {
    const added_token *best = NULL;
    for (size_t k = 0; k < t->n_added; k++) {
        const added_token *a = &t->added[k];
        if (a->n > n - i || (best && a->n <= best->n)) continue;
        if (memcmp(a->cps, text + i, a->n * sizeof *text) == 0) best = a;
    }
    return best;
}

/* PreTrainedTokenizer.tokenize + convert_tokens_to_ids, without BOS/EOS. */
static ow_status tokenize_all(const ow_tokenizer *t, const char *utf8, ids_buf *out, ow_error *err) {
    ow_cps text = {0};
    if (ow_utf8_decode(utf8, strlen(utf8), &text)) goto oom;
    size_t chunk = 0, i = 0;
    while (i < text.len) {
        const added_token *a = added_at(t, text.data, text.len, i);
        if (!a) { i++; continue; }
        if (tokenize_chunk(t, text.data + chunk, i - chunk, out) || ids_push(out, a->id)) goto oom;
        i += a->n;
        chunk = i;
    }
    if (text.len > chunk && tokenize_chunk(t, text.data + chunk, text.len - chunk, out)) goto oom; /* text.data is NULL when empty */
    ow_cps_free(&text);
    return OW_OK;
oom:
    ow_cps_free(&text);
    return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory to tokenize a prompt of %zu bytes", strlen(utf8));
}

ow_status ow_tokenizer_tokenize(const ow_tokenizer *t, const char *utf8, int32_t *ids, size_t capacity,
                                size_t *n_out, ow_error *err) {
    if (!t || !utf8 || !n_out || (capacity && !ids))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_tokenize: tokenizer, text and n_out must be given");
    ids_buf buf = {0};
    ow_status st = tokenize_all(t, utf8, &buf, err);
    if (st == OW_OK) {
        size_t n = buf.len < capacity ? buf.len : capacity;
        if (n) memcpy(ids, buf.data, n * sizeof *ids); /* buf.data is NULL for an empty prompt */
        *n_out = buf.len;
    }
    free(buf.data);
    return st;
}

ow_status ow_tokenizer_encode(const ow_tokenizer *t, const char *utf8, int32_t *ids, int context, int pad_id,
                              ow_tokenize_info *info, ow_error *err) {
    if (!t || !utf8 || !ids)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_encode: tokenizer, text and ids must be given");
    if (context < 2)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_encode: context %d is too short; it must hold "
                            "BOS and EOS (CLIP uses 77)", context);
    ids_buf buf = {0};
    ow_status st = tokenize_all(t, utf8, &buf, err);
    if (st != OW_OK) { free(buf.data); return st; }
    size_t keep = buf.len < (size_t)context - 2 ? buf.len : (size_t)context - 2;
    ids[0] = t->bos_id;
    if (keep) memcpy(ids + 1, buf.data, keep * sizeof *ids); /* buf.data is NULL for an empty prompt */
    ids[keep + 1] = t->eos_id;
    for (size_t i = keep + 2; i < (size_t)context; i++) ids[i] = pad_id;
    if (info) {
        memset(info, 0, sizeof *info);
        info->n_tokens = buf.len > (size_t)INT32_MAX - 2 ? INT32_MAX : (int)buf.len + 2;
        info->n_used = (int)keep + 2;
        info->truncated = keep < buf.len;
        info->n_cut = info->n_tokens - info->n_used;
        if (info->truncated) {
            size_t needed = 0;
            st = ow_tokenizer_decode(t, buf.data + keep, buf.len - keep, info->cut_text, sizeof info->cut_text,
                                     &needed, err);
            if (st == OW_OK && needed > sizeof info->cut_text) {
                /* Did not fit: end with "..." at a character boundary. */
                size_t end = sizeof info->cut_text - 4;
                while (end > 0 && ((unsigned char)info->cut_text[end] & 0xC0) == 0x80) end--;
                memcpy(info->cut_text + end, "...", 4);
            }
        }
    }
    free(buf.data);
    return st;
}

/* ---- added tokens ---- */

ow_status ow_tokenizer_add_token(ow_tokenizer *t, const char *token, int32_t *id_out, ow_error *err) {
    if (!t || !token || !token[0])
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_add_token: the token must be a non-empty string");
    ow_cps cps = {0};
    size_t len = strlen(token);
    if (ow_utf8_decode(token, len, &cps)) goto oom;
    /* Refuse ill-formed UTF-8 (it would never match a prompt decoded with U+FFFD). */
    size_t bytes = 0;
    for (size_t i = 0; i < cps.len; i++) {
        char u[4];
        size_t n = ow_utf8_encode(cps.data[i], u);
        if (bytes + n > len || memcmp(token + bytes, u, n) != 0) {
            ow_cps_free(&cps);
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "added token '%s' is not valid UTF-8", token);
        }
        bytes += n;
    }
    for (size_t k = 0; k < t->n_added; k++) {
        added_token *a = &t->added[k];
        if (a->n == cps.len && memcmp(a->cps, cps.data, cps.len * sizeof *cps.data) == 0) {
            ow_cps_free(&cps);
            if (a->special)
                return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "'%s' is one of the tokenizer's special tokens; "
                                    "choose another placeholder (such as '*' or '<my-concept>')", token);
            if (id_out) *id_out = a->id;
            return OW_OK;
        }
    }
    if (t->n_added == t->cap_added) {
        size_t cap = t->cap_added * 2;
        added_token *more = realloc(t->added, cap * sizeof *more);
        if (!more) goto oom;
        t->added = more;
        t->cap_added = cap;
    }
    added_token *a = &t->added[t->n_added];
    a->utf8 = strdup(token);
    if (!a->utf8) goto oom;
    a->cps = cps.data;
    a->n = cps.len;
    a->id = t->next_id++;
    a->special = 0;
    t->n_added++;
    if (id_out) *id_out = a->id;
    return OW_OK;
oom:
    ow_cps_free(&cps);
    return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory to add token '%s'", token);
}

/* ---- decoding ---- */

/* CLIPTokenizer.convert_tokens_to_string: joined bytes, "</w>" -> ' ', UTF-8 with
 * U+FFFD, str.strip(); appended to out. */
static int tokens_to_string(const bytes_buf *raw, bytes_buf *out) {
    bytes_buf spaced = {0};
    int rc = 0;
    for (size_t i = 0; i < raw->len && rc == 0;) {
        if (raw->len - i >= 4 && memcmp(raw->data + i, "</w>", 4) == 0) {
            rc = bytes_append(&spaced, " ", 1);
            i += 4;
        } else {
            rc = bytes_append(&spaced, raw->data + i, 1);
            i++;
        }
    }
    ow_cps cps = {0};
    if (rc == 0 && spaced.len) rc = ow_utf8_decode(spaced.data, spaced.len, &cps);
    size_t start = 0, end = cps.len;
    while (start < end && (ow_uni_flags(cps.data[start]) & OW_UNI_ISSPACE)) start++;
    while (end > start && (ow_uni_flags(cps.data[end - 1]) & OW_UNI_ISSPACE)) end--;
    for (size_t i = start; i < end && rc == 0; i++) {
        char u[4];
        rc = bytes_append(out, u, ow_utf8_encode(cps.data[i], u));
    }
    ow_cps_free(&cps);
    free(spaced.data);
    return rc;
}

static int is_special_id(const ow_tokenizer *t, int32_t id) {
    for (size_t k = 0; k < t->n_added; k++)
        if (t->added[k].id == id) return t->added[k].special;
    return 0;
}

ow_status ow_tokenizer_decode(const ow_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t out_size,
                              size_t *needed, ow_error *err) {
    if (!t || (n && !ids) || (out_size && !out))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_decode: tokenizer and buffers must be given");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->next_id)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cannot decode token id %d: ids run from 0 to %d",
                                ids[i], t->next_id - 1);
    /* transformers' _decode: byte-level runs and added tokens become separate
     * pieces, joined by single spaces. */
    bytes_buf text = {0}, run = {0};
    int pieces = 0, rc = 0;
    for (size_t i = 0; i <= n && rc == 0; i++) {
        int32_t id = i < n ? ids[i] : -1;
        if (id >= 0 && is_special_id(t, id)) continue;
        if (id >= 0 && id < t->base_vocab && t->wordpiece) {
            /* BertTokenizer.convert_tokens_to_string: " ".join(tokens).replace(" ##", "") */
            size_t len;
            const char *piece = ow_wordpiece_text(t->wordpiece, id, &len);
            int glue = len > 2 && piece[0] == '#' && piece[1] == '#';
            if (run.data && !glue) rc = bytes_append(&run, " ", 1);
            if (rc == 0) rc = glue && run.data ? bytes_append(&run, piece + 2, len - 2) : bytes_append(&run, piece, len);
            continue;
        }
        if (id >= 0 && id < t->base_vocab) {
            rc = bytes_append(&run, t->raw + t->raw_off[id], t->raw_off[id + 1] - t->raw_off[id]);
            continue; /* every token has bytes, so run.data marks a pending run */
        }
        /* An added token or the end: flush the pending run. */
        if (run.data) {
            size_t before = text.len;
            if (pieces && (rc = bytes_append(&text, " ", 1))) break;
            size_t after_sep = text.len;
            rc = tokens_to_string(&run, &text);
            if (rc == 0 && text.len == after_sep && id >= 0) {
                text.len = before; /* an empty piece before an added token is dropped */
                if (text.data) text.data[before] = '\0';
            } else {
                pieces++;
            }
            free(run.data);
            run = (bytes_buf){0};
        }
        if (id >= 0 && rc == 0) {
            const added_token *a = NULL;
            for (size_t k = 0; k < t->n_added && !a; k++)
                if (t->added[k].id == id) a = &t->added[k];
            if (pieces) rc = bytes_append(&text, " ", 1);
            if (rc == 0) rc = bytes_append(&text, a->utf8, strlen(a->utf8));
            pieces++;
        }
    }
    free(run.data);
    if (rc) {
        free(text.data);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory to decode %zu tokens", n);
    }
    if (needed) *needed = text.len + 1;
    if (out_size) {
        size_t len = text.len < out_size - 1 ? text.len : out_size - 1;
        if (len < text.len) /* cut at a character boundary */
            while (len > 0 && ((unsigned char)text.data[len] & 0xC0) == 0x80) len--;
        if (len) memcpy(out, text.data, len);
        out[len] = '\0';
    }
    free(text.data);
    return OW_OK;
}

ow_status ow_tokenizer_normalize(const char *utf8, char **out, ow_error *err) {
    if (!utf8 || !out) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_tokenizer_normalize: text and out must be given");
    *out = NULL;
    ow_cps text = {0}, norm = {0};
    bytes_buf res = {0};
    int rc = ow_utf8_decode(utf8, strlen(utf8), &text);
    if (rc == 0) rc = ow_clip_normalize(text.data, text.len, &norm);
    if (rc == 0) rc = bytes_append(&res, "", 0);
    for (size_t i = 0; i < norm.len && rc == 0; i++) {
        char u[4];
        rc = bytes_append(&res, u, ow_utf8_encode(norm.data[i], u));
    }
    ow_cps_free(&text);
    ow_cps_free(&norm);
    if (rc) {
        free(res.data);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "no memory to normalize a prompt of %zu bytes", strlen(utf8));
    }
    *out = res.data;
    return OW_OK;
}
