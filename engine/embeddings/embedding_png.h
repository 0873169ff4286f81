/* embedding_png.h: the PNG text-chunk reader and base64 decoder behind A1111's
 * PNG embeddings (internal; exposed for tests and the fuzz harness). */
#ifndef OW_EMBEDDINGS_EMBEDDING_PNG_H
#define OW_EMBEDDINGS_EMBEDDING_PNG_H

#include <stddef.h>

#include "oneword.h"

/* Finds the first tEXt/zTXt/iTXt chunk with this keyword in a PNG held in memory
 * and returns its text (decompressed, NUL-terminated, malloc'd). Walks every chunk
 * up to the keyword's, checking lengths and CRCs. The text is bounded (~44 MiB, the
 * base64 of the largest JSON an embedding may hold): a compressed one is measured
 * before its buffer is allocated and refused beyond the bound. OW_ERR_NOT_FOUND when
 * the PNG is valid but has no such chunk; OW_ERR_FORMAT for a broken or oversized one. */
ow_status ow_png_find_text(const unsigned char *data, size_t len, const char *keyword, char **text, size_t *text_len,
                           ow_error *err);

/* Standard or URL-safe base64 (whitespace ignored) into a malloc'd buffer. */
ow_status ow_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len, ow_error *err);

#endif
