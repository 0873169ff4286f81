/* unicode_tables.h: the Unicode range tables the CLIP tokenizer reads (data in the
 * generated unicode_tables.c, made by tests/ref/tokenizer_unicode_tables.py), and
 * BERT's (bert_unicode_tables.c, made by tests/ref/bert_unicode_tables.py). */
#ifndef OW_TOKENIZER_UNICODE_TABLES_H
#define OW_TOKENIZER_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* Property flags of a code point. */
enum {
    OW_UNI_REMOVE = 1 << 0,          /* dropped by BasicTokenizer._clean_text (C*, NUL, U+FFFD) */
    OW_UNI_SPACE = 1 << 1,           /* separates words (becomes ' ') */
    OW_UNI_LETTER = 1 << 2,          /* matches [\p{L}] of the CLIP pattern (IGNORECASE) */
    OW_UNI_NUMBER = 1 << 3,          /* matches [\p{N}] */
    OW_UNI_OTHER = 1 << 4,           /* matches [^\s\p{L}\p{N}] */
    OW_UNI_CASED = 1 << 5,           /* CPython Cased (for the final sigma rule) */
    OW_UNI_CASE_IGNORABLE = 1 << 6,  /* CPython Case_Ignorable */
    OW_UNI_ISSPACE = 1 << 7,         /* Python str.isspace() (for strip() in decoding) */
};

/* BERT's properties (ow_uni_bert_props), as tokenizers' BertNormalizer and
 * BertPreTokenizer see them (their own Unicode tables, not unicodedata's). */
enum {
    OW_UNI_BERT_REMOVE = 1 << 0,          /* dropped by clean_text */
    OW_UNI_BERT_SPACE = 1 << 1,           /* becomes ' ' in clean_text */
    OW_UNI_BERT_MARK_NONSPACING = 1 << 2, /* dropped after NFD when accents are stripped */
    OW_UNI_BERT_PUNCTUATION = 1 << 3,     /* a word of its own */
    OW_UNI_BERT_SPLIT = 1 << 4,           /* separates words (besides ' ') */
    OW_UNI_BERT_CJK = 1 << 5,             /* gets a space on each side */
    OW_UNI_BERT_NFD_KEEP = 1 << 6,        /* left whole by NFD (a starter) */
};

typedef struct ow_uni_prop_range { uint32_t start; uint8_t flags; } ow_uni_prop_range;
typedef struct ow_uni_lower_range { uint32_t first, last; int32_t delta; uint8_t stride; } ow_uni_lower_range;
typedef struct ow_uni_ccc_range { uint32_t first, last; uint8_t ccc; } ow_uni_ccc_range;
typedef struct ow_uni_decomp { uint32_t cp, a, b; } ow_uni_decomp;
typedef struct ow_uni_comp { uint32_t a, b, cp; } ow_uni_comp;

extern const ow_uni_prop_range ow_uni_props[];
extern const size_t ow_uni_props_count;
extern const uint8_t ow_uni_ascii_flags[128];
extern const ow_uni_prop_range ow_uni_bert_props[];
extern const size_t ow_uni_bert_props_count;
extern const ow_uni_lower_range ow_uni_lower[];
extern const size_t ow_uni_lower_count;
extern const ow_uni_ccc_range ow_uni_ccc[];
extern const size_t ow_uni_ccc_count;
extern const ow_uni_decomp ow_uni_decomps[];
extern const size_t ow_uni_decomps_count;
extern const ow_uni_comp ow_uni_comps[];
extern const size_t ow_uni_comps_count;

#endif
