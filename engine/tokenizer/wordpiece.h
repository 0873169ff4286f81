/* wordpiece.h: BERT's WordPiece tokenizer (internal; the public face is ow_tokenizer,
 * loaded with ow_tokenizer_load_wordpiece), as LDM's BERTEmbedder runs it through
 * transformers' BertTokenizerFast("bert-base-uncased"), i.e. tokenizers' pipeline:
 *
 *   BertNormalizer   drop NUL, U+FFFD and control characters (C* but \t \n \r),
 *                    whitespace to ' ', spaces around CJK ideographs, strip accents
 *                    (NFD, then nonspacing marks Mn dropped), lower case per code point;
 *   BertPreTokenizer split on whitespace, every punctuation character (P*, ASCII
 *                    punctuation) a word of its own;
 *   WordPiece        greedy longest match from the left, pieces after the first
 *                    prefixed "##"; a word with no split, or longer than 100 code
 *                    points, is one [UNK].
 *
 * The vocabulary is vocab.txt (one token per line; the id is the line number). */
#ifndef OW_TOKENIZER_WORDPIECE_H
#define OW_TOKENIZER_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "oneword.h"
#include "tokenizer/clip_text.h"

#define OW_BERT_PAD_ID 0
#define OW_BERT_UNK_ID 100
#define OW_BERT_CLS_ID 101
#define OW_BERT_SEP_ID 102
#define OW_BERT_MASK_ID 103
#define OW_BERT_VOCAB_SIZE 30522

typedef struct ow_wordpiece ow_wordpiece;

/* Builds the vocabulary from the text of vocab.txt (len bytes; name for messages).
 * A vocabulary without [PAD] [UNK] [CLS] [SEP] [MASK] at bert-base-uncased's ids, or
 * with an empty or repeated line, is refused. */
ow_status ow_wordpiece_build(ow_wordpiece **out, const char *text, size_t len, const char *name, ow_error *err);
void ow_wordpiece_free(ow_wordpiece *wp);

int32_t ow_wordpiece_vocab_size(const ow_wordpiece *wp);
/* The id of a vocabulary entry (n bytes), or -1. */
int32_t ow_wordpiece_find(const ow_wordpiece *wp, const char *s, size_t n);
/* The text of id (0 <= id < vocab size) and its length. */
const char *ow_wordpiece_text(const ow_wordpiece *wp, int32_t id, size_t *len);

/* Receives each id; returns 0 to go on, -1 (out of memory) to stop. */
typedef int (*ow_wordpiece_id_fn)(void *user, int32_t id);

/* The ids of text[0..n) (no [CLS]/[SEP]). Returns 0, or -1 when memory ran out or fn failed. */
int ow_wordpiece_tokenize(const ow_wordpiece *wp, const uint32_t *text, size_t n, ow_wordpiece_id_fn fn, void *user);

/* BertNormalizer's output for text[0..n), appended to out (for tests and messages). */
int ow_bert_normalize(const uint32_t *text, size_t n, ow_cps *out);

#endif
