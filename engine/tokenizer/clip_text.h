/* clip_text.h: the text side of the CLIP tokenizer (internal): UTF-8 decoding with
 * replacement, the no-ftfy clean-up of transformers' CLIPTokenizer (BasicTokenizer:
 * control removal, whitespace, CJK spacing, NFC, lower case) and the CLIP split
 * pattern. Everything works on arrays of code points. Functions returning int give
 * 0 on success and -1 when memory ran out. */
#ifndef OW_TOKENIZER_CLIP_TEXT_H
#define OW_TOKENIZER_CLIP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* A growable array of code points. Zero-initialise; free with ow_cps_free. */
typedef struct ow_cps {
    uint32_t *data;
    size_t len, cap;
} ow_cps;

int ow_cps_push(ow_cps *v, uint32_t cp);
void ow_cps_free(ow_cps *v);

/* Appends the code points of n bytes of UTF-8 to out. Ill-formed input is replaced
 * like Python's bytes.decode('utf-8', errors='replace'): one U+FFFD per maximal
 * subpart of an ill-formed sequence (surrogates and overlong forms are ill-formed). */
int ow_utf8_decode(const char *s, size_t n, ow_cps *out);

/* Writes the UTF-8 form of cp (< 0x110000, not a surrogate) to out; returns its length. */
size_t ow_utf8_encode(uint32_t cp, char out[4]);

/* The OW_UNI_* property flags of cp (unicode_tables.h). */
uint8_t ow_uni_flags(uint32_t cp);

/* The OW_UNI_BERT_* flags of cp. */
uint8_t ow_uni_bert_flags(uint32_t cp);

/* The simple (one code point) lower-case mapping of cp; U+0130 maps to itself here
 * (its full lower case is two code points). */
uint32_t ow_uni_lower_simple(uint32_t cp);

/* unicodedata.normalize("NFD", ...) of text[0..n), appended to out. */
int ow_uni_nfd(const uint32_t *text, size_t n, ow_cps *out);

/* transformers' `" ".join(BasicTokenizer(strip_accents=False, do_split_on_punc=False)
 * .tokenize(text))`: drops NUL, U+FFFD and control characters, turns whitespace into
 * ' ', puts spaces around CJK ideographs, applies NFC, splits on whitespace and lower-
 * cases each word (str.lower(): full mapping with the final sigma rule). The result
 * (appended to out) is the words joined by single U+0020, without leading or trailing
 * spaces. */
int ow_clip_normalize(const uint32_t *text, size_t n, ow_cps *out);

/* Receives each piece of the CLIP split; returns 0 to go on, non-zero to stop (the
 * value is returned by ow_clip_split). */
typedef int (*ow_clip_piece_fn)(void *user, const uint32_t *piece, size_t n);

/* re.findall of CLIP's pattern (IGNORECASE) over normalised text:
 * <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * Characters no alternative matches (spaces, U+0345) are skipped. */
int ow_clip_split(const uint32_t *text, size_t n, ow_clip_piece_fn fn, void *user);

#endif
