/* word_split.c: the CLIP vocabulary without a model (ow_tokenizer_open finds it as
 * ow_model_open does), and how a word splits into CLIP tokens with the one-token
 * words it holds (ow_word_split): what Learn says about an init word, in its error
 * and, as the user types, in the plug-in's dialog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

#define VOCAB_FILE "clip/bpe_simple_vocab_16e6.txt.gz"
#define BERT_VOCAB_FILE "bert/vocab.txt.gz"
#define SPLIT_MAX_IDS 64

/* $env, the installed data file, or the source tree's copy. */
static const char *data_file(const char *env_name, const char *file, char *buffer, size_t cap) {
    const char *env = getenv(env_name);
    if (env && *env) return env;
    snprintf(buffer, cap, "%s/%s", OW_DATADIR, file);
    if (access(buffer, R_OK) == 0) return buffer;
    snprintf(buffer, cap, "%s/resources/%s", OW_SOURCE_DIR, file);
    return buffer;
}

const char *ow_tokenizer_vocab_path(char *buffer, size_t cap) {
    return data_file("ONEWORD_VOCAB", VOCAB_FILE, buffer, cap);
}

const char *ow_tokenizer_bert_vocab_path(char *buffer, size_t cap) {
    return data_file("ONEWORD_BERT_VOCAB", BERT_VOCAB_FILE, buffer, cap);
}

ow_status ow_tokenizer_open(ow_tokenizer **out, const char *vocab_path, ow_error *err) {
    char buffer[4096];
    return ow_tokenizer_load(out, vocab_path ? vocab_path : ow_tokenizer_vocab_path(buffer, sizeof buffer), err);
}

/* The text of one vocabulary token, without the space its "</w>" decodes to. */
static void piece_text(const ow_tokenizer *t, int32_t id, char *out, size_t cap) {
    out[0] = '\0';
    if (ow_tokenizer_decode(t, &id, 1, out, cap, NULL, NULL) != OW_OK) out[0] = '\0';
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ') out[--n] = '\0';
    size_t lead = strspn(out, " ");
    if (lead) memmove(out, out + lead, n - lead + 1);
}

static int is_letter(unsigned char c) {
    return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A word people could type as the init word: min_len letters or more (a non-ASCII
 * byte counts as a letter), one vocabulary token on its own. */
static int one_token_word(const ow_tokenizer *t, const char *word, size_t min_len) {
    size_t len = strlen(word);
    if (len < min_len) return 0;
    for (const unsigned char *c = (const unsigned char *)word; *c; c++)
        if (!is_letter(*c)) return 0;
    int32_t id[2];
    size_t n = 0;
    return ow_tokenizer_tokenize(t, word, id, 2, &n, NULL) == OW_OK && n == 1 && id[0] < ow_tokenizer_base_vocab_size(t);
}

/* Adds word to the suggestions (longest first, no repeats, at most OW_WORD_SUGGESTIONS). */
static void suggest(ow_word_split_info *out, const char *word) {
    size_t len = strlen(word);
    if (len >= sizeof out->suggestions[0]) return;
    for (int k = 0; k < out->n_suggestions; k++)
        if (strcmp(out->suggestions[k], word) == 0) return;
    int at = out->n_suggestions;
    while (at > 0 && strlen(out->suggestions[at - 1]) < len) at--;
    if (at >= OW_WORD_SUGGESTIONS) return;
    int last = out->n_suggestions < OW_WORD_SUGGESTIONS ? out->n_suggestions : OW_WORD_SUGGESTIONS - 1;
    memmove(out->suggestions[at + 1], out->suggestions[at], (size_t)(last - at) * sizeof out->suggestions[0]);
    memcpy(out->suggestions[at], word, len + 1);
    if (out->n_suggestions < OW_WORD_SUGGESTIONS) out->n_suggestions++;
}

ow_status ow_word_split(const ow_tokenizer *t, const char *text, ow_word_split_info *out, ow_error *err) {
    memset(out, 0, sizeof *out);
    if (!t || !text) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_word_split: tokenizer and text must be given");
    int32_t ids[SPLIT_MAX_IDS];
    size_t n = 0;
    ow_status s = ow_tokenizer_tokenize(t, text, ids, SPLIT_MAX_IDS, &n, err);
    if (s != OW_OK) return s;
    out->n_tokens = (int)n;
    size_t shown = n < SPLIT_MAX_IDS ? n : SPLIT_MAX_IDS, used = 0;
    for (size_t i = 0; i < shown; i++) {
        char piece[sizeof out->suggestions[0]];
        if (ids[i] < ow_tokenizer_base_vocab_size(t)) piece_text(t, ids[i], piece, sizeof piece);
        else ow_tokenizer_decode(t, &ids[i], 1, piece, sizeof piece, NULL, NULL); /* an added token */
        if (used + strlen(piece) + 8 >= sizeof out->pieces) {
            snprintf(out->pieces + used, sizeof out->pieces - used, " + ...");
            break;
        }
        used += (size_t)snprintf(out->pieces + used, sizeof out->pieces - used, "%s\"%s\"", i ? " + " : "", piece);
    }
    if (n < 2) return OW_OK;
    /* Each word's longest beginning that is a one-token word ("dinosaur" of
     * "dinosaurus"; the whole word when it is one), cut between characters. */
    char word[sizeof out->suggestions[0]];
    for (const char *p = text; *p;) {
        if (!is_letter((unsigned char)*p)) { p++; continue; }
        size_t len = 0;
        while (is_letter((unsigned char)p[len])) len++;
        for (size_t cut = len < sizeof word - 1 ? len : sizeof word - 1; cut >= 3; cut--) {
            if (cut < len && ((unsigned char)p[cut] & 0xC0) == 0x80) continue;
            memcpy(word, p, cut);
            word[cut] = '\0';
            for (char *c = word; *c; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
            if (one_token_word(t, word, 3)) { suggest(out, word); break; }
        }
        p += len;
    }
    /* The pieces that are words of four letters or more on their own ("orange"). */
    for (size_t i = 0; i < shown; i++) {
        if (ids[i] >= ow_tokenizer_base_vocab_size(t)) continue;
        piece_text(t, ids[i], word, sizeof word);
        if (one_token_word(t, word, 4)) suggest(out, word);
    }
    return OW_OK;
}
