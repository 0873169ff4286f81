/* embeddings.h: textual-inversion tokens loaded into a model (internal): the
 * token table, prompt encoding with multi-vector expansion, and the extra rows
 * handed to the text encoder. Implemented in pipeline/embeddings.c. */
#ifndef OW_PIPELINE_EMBEDDINGS_H
#define OW_PIPELINE_EMBEDDINGS_H

#include <stdint.h>

#include "model/clip_text.h"
#include "oneword.h"

typedef struct ow_model_token {
    char *token;          /* as typed in prompts */
    char *source;         /* the file it came from */
    int32_t tokenizer_id; /* id the tokenizer gives it (49408, 49409, ...) */
    int first_row, n;     /* its vectors: rows first_row .. first_row + n - 1 of the table */
} ow_model_token;

typedef struct ow_model_embeddings {
    ow_model_token *tokens;
    size_t count, cap;
    float *rows;            /* (n_rows, H) host copy */
    int n_rows, rows_cap;
    float *device_rows;     /* (device_count, H) in backend memory, refreshed when rows grow */
    int device_count;
    ow_clip_text_extra extra;
} ow_model_embeddings;

void ow_model_embeddings_free(ow_model *model);

/* The model's text_length ids of text (77 for SD 1.x; ids has room for OW_CLIP_CONTEXT): BOS, the content ids with each embedding token expanded to
 * one id per vector (text-encoder ids vocab_size + row), EOS, padding. The limit
 * applies after expansion; a cut end is reported through the model's log. */
ow_status ow_model_encode_ids(ow_model *model, const char *text, const char *what, int32_t *ids, ow_error *err);

/* The extra rows for ow_clip_text_forward (NULL when no embedding is loaded). */
ow_status ow_model_text_extra(ow_model *model, const ow_clip_text_extra **extra, ow_error *err);

/* The text encoder output for one prompt (host (text_length, H)), as generation computes it. */
ow_status ow_model_encode_prompt(ow_model *model, const char *text, int clip_skip, float *out, ow_error *err);

#endif
