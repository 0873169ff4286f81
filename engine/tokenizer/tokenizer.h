/* tokenizer.h: CLIP's byte-level BPE tokenizer, as Stable Diffusion's text encoder
 * expects its input.
 *
 * Bit-exact with transformers 4.46.3 `CLIPTokenizer` (the slow Python one) on its
 * path without ftfy: BasicTokenizer(strip_accents=False, do_split_on_punc=False)
 * clean-up (control characters and U+FFFD dropped, whitespace to ' ', spaces around
 * CJK ideographs, NFC, str.lower() per word), the CLIP split pattern
 * `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
 * (IGNORECASE), bytes mapped to unicode, BPE merges by rank with `</w>` closing each
 * word. (With ftfy installed, transformers runs ftfy.fix_text + html unescaping
 * instead, which is not what we mirror; SD pipelines normally run without ftfy.)
 *
 * The vocabulary is built from bpe_simple_vocab_16e6.txt.gz exactly as CLIP does:
 * 256 byte characters, the same with `</w>`, merges 1..48894 joined, then
 * <|startoftext|> = 49406 and <|endoftext|> = 49407 (49408 ids, the same as the
 * Hugging Face openai/clip-vit-large-patch14 vocab.json).
 *
 * Invalid UTF-8 never fails: it is replaced like Python's errors='replace' (one
 * U+FFFD per maximal ill-formed subpart) and U+FFFD is then dropped by the clean-up.
 *
 * A loaded tokenizer is read-only for encode/decode, so several threads may encode
 * with it at once; ow_tokenizer_add_token must not run concurrently with them. */
#ifndef OW_TOKENIZER_TOKENIZER_H
#define OW_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "oneword.h"

#define OW_CLIP_BOS_ID 49406    /* <|startoftext|> */
#define OW_CLIP_EOS_ID 49407    /* <|endoftext|> (SD 1.x pads with it) */
#define OW_CLIP_VOCAB_SIZE 49408
#define OW_CLIP_CONTEXT 77

/* ow_tokenizer itself, ow_tokenizer_open, ow_tokenizer_free and ow_word_split are public
 * (oneword.h). */

/* What ow_tokenizer_encode did with a prompt. */
typedef struct ow_tokenize_info {
    int n_tokens;        /* tokens the whole prompt needs, BOS and EOS included */
    int n_used;          /* tokens written before the padding, BOS and EOS included */
    int truncated;       /* 1 when content tokens did not fit and were cut */
    int n_cut;           /* how many content tokens were cut */
    char cut_text[512];  /* the cut tokens decoded (lower-cased, as CLIP sees them);
                            ends in "..." when it did not fit here */
} ow_tokenize_info;

/* Reads the gzip-compressed BPE merge list (resources/clip/bpe_simple_vocab_16e6.txt.gz)
 * and builds the tokenizer. A missing, truncated or malformed file is an error that
 * names the file and what was wrong. */
ow_status ow_tokenizer_load(ow_tokenizer **out, const char *vocab_gz_path, ow_error *err);

/* BERT's WordPiece tokenizer (bert-base-uncased, for LDM's text encoder) from its
 * vocab.txt, gzip'd (resources/bert/vocab.txt.gz), bit-exact with transformers'
 * BertTokenizerFast (wordpiece.h). It has the same interface as CLIP's: encode gives
 * [CLS] ... [SEP] then pad_id (LDM pads with [PAD] = 0), added tokens get ids from
 * 30522 on, and [PAD] [UNK] [CLS] [SEP] [MASK] in a prompt are those tokens. */
ow_status ow_tokenizer_load_wordpiece(ow_tokenizer **out, const char *vocab_gz_path, ow_error *err);

/* Where BERT's vocabulary is: $ONEWORD_BERT_VOCAB, the installed copy, or the source tree's. */
const char *ow_tokenizer_bert_vocab_path(char *buffer, size_t cap);

/* 1 for BERT's WordPiece, 0 for CLIP's BPE. */
int ow_tokenizer_is_wordpiece(const ow_tokenizer *t);
/* Ids below this are the vocabulary's own (49408 for CLIP, 30522 for BERT); added tokens follow. */
int32_t ow_tokenizer_base_vocab_size(const ow_tokenizer *t);
/* The ids that open and close every encoded prompt: <|startoftext|> <|endoftext|>, or [CLS] [SEP]. */
int32_t ow_tokenizer_bos_id(const ow_tokenizer *t);
int32_t ow_tokenizer_eos_id(const ow_tokenizer *t);

/* Where the vocabulary is: $ONEWORD_VOCAB, the installed copy, or the source tree's
 * (for programs run from the build folder); buffer (cap bytes) may hold the result. */
const char *ow_tokenizer_vocab_path(char *buffer, size_t cap);

/* Number of ids in use: 49408 (30522 for BERT) plus the added tokens. */
int32_t ow_tokenizer_vocab_size(const ow_tokenizer *t);

/* The model input for a prompt, as diffusers makes it (padding="max_length",
 * truncation=True): ids[0] = BOS, the content tokens, EOS, then pad_id up to
 * `context` ids (SD 1.x pads with 49407, SD 2.x with 0). A prompt whose tokens do
 * not fit keeps its first context-2 content tokens; info (may be NULL) reports the
 * counts and the cut text so the caller can warn. ids must hold `context` (>= 2) ids. */
ow_status ow_tokenizer_encode(const ow_tokenizer *t, const char *utf8, int32_t *ids, int context, int pad_id,
                              ow_tokenize_info *info, ow_error *err);

/* All content ids of a prompt (no BOS/EOS, no limit), like transformers'
 * `tokenizer(text, add_special_tokens=False).input_ids`. Writes at most `capacity`
 * ids and sets *n_out to the full count (call with capacity 0 to size a buffer). */
ow_status ow_tokenizer_tokenize(const ow_tokenizer *t, const char *utf8, int32_t *ids, size_t capacity,
                                size_t *n_out, ow_error *err);

/* Adds a whole-unit token for textual inversion ("<my-cat>", "*") and returns its id:
 * 49408 for the first, then 49409, ... Like transformers' tokenizer.add_tokens([...]):
 * the raw prompt is split at every occurrence of an added token (case-sensitive,
 * anywhere, even inside a word; the longest one wins where several start at the same
 * place), the token becomes its id and the text around it is tokenized on its own.
 * Adding the same string again returns the id it already has. One deliberate
 * difference: a string that already is a vocabulary entry (such as "*", entry 9)
 * still gets a new id here, because the engine binds each placeholder to a new
 * embedding row; transformers would reuse the entry's id. The special tokens
 * <|startoftext|> and <|endoftext|> are refused. */
ow_status ow_tokenizer_add_token(ow_tokenizer *t, const char *token, int32_t *id_out, ow_error *err);

/* Text of ids, as transformers' decode(ids, skip_special_tokens=True): BOS/EOS are
 * skipped, `</w>` becomes a space, bytes are decoded with U+FFFD for invalid UTF-8,
 * added tokens appear as themselves separated by spaces. Writes a NUL-terminated
 * string of at most out_size bytes (cut at a character boundary) and sets *needed
 * (may be NULL) to the full length + 1. An id outside 0..vocab_size-1 is an error. */
ow_status ow_tokenizer_decode(const ow_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t out_size,
                              size_t *needed, ow_error *err);

/* The text as CLIP's BPE sees it: `" ".join(BasicTokenizer(strip_accents=False,
 * do_split_on_punc=False).tokenize(text))`. *out is malloc'ed; free() it. */
ow_status ow_tokenizer_normalize(const char *utf8, char **out, ow_error *err);

#endif
