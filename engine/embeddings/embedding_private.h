/* embedding_private.h: the layout of an ow_embedding and the helpers shared by
 * the readers and writers of engine/embeddings (internal). */
#ifndef OW_EMBEDDINGS_EMBEDDING_PRIVATE_H
#define OW_EMBEDDINGS_EMBEDDING_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "oneword.h"

/* Bounds on what a file may declare (beyond them it is refused as corrupt). */
#define OW_EMB_MAX_TOKENS 4096   /* tokens in one file */
#define OW_EMB_MAX_VECTORS 1024  /* vectors of one token (A1111 allows up to 75) */
#define OW_EMB_MAX_DIM 8192      /* width of one vector */
#define OW_EMB_MAX_TOKEN_LEN 512 /* bytes of one token string */

/* One placeholder and its vectors. */
typedef struct ow_emb_token {
    char *token;
    int n;            /* vectors */
    float *rows;      /* (n, dim) f32, the stored values converted exactly */
    float *rows_g;    /* SDXL only: clip_g rows (n, dim_g); NULL otherwise */
    ow_dtype dtype;   /* dtype as stored (F32, F16, BF16; F64 is kept as F32) */
    int64_t clip_id;  /* string_to_token id from a reference/A1111 file; -1 unknown */
    char *source;     /* the file it came from (merge), may be NULL */
} ow_emb_token;

struct ow_embedding {
    char *format;           /* what was read ("A1111 .pt", ...); "built in memory" for new ones */
    char *name;             /* the file's concept name (A1111 'name'), NULL if none */
    char *checkpoint;       /* A1111 'sd_checkpoint' (model hash), NULL if none */
    char *checkpoint_name;  /* A1111 'sd_checkpoint_name', NULL if none */
    int64_t step;           /* training step, -1 if none */
    int dim;                /* width of every token's rows (SDXL: clip_l width) */
    int dim_g;              /* SDXL: clip_g width; 0 otherwise */
    ow_emb_token *tokens;
    size_t count, cap;
};

/* strdup that reports failure through err (s may be NULL: *out = NULL). */
ow_status ow_emb_strdup(char **out, const char *s, ow_error *err);

/* Appends a token taking ownership of rows / rows_g (freed on failure too). */
ow_status ow_emb_append(ow_embedding *emb, const char *token, int n, int dim, float *rows, int dim_g, float *rows_g,
                        ow_dtype dtype, int64_t clip_id, ow_error *err);

/* Checks a token string: non-empty, at most OW_EMB_MAX_TOKEN_LEN bytes, no control characters. */
ow_status ow_emb_check_token(const char *token, ow_error *err);

/* The file name without folder and extension ("dir/my-cat.pt" -> "my-cat"); malloc'd. */
char *ow_emb_file_stem(const char *path);

/* Readers of the formats that are not tensor files (embedding_png.c, embedding_json.c). */
ow_status ow_emb_read_png(ow_embedding *emb, const unsigned char *data, size_t len, const char *stem, ow_error *err);
ow_status ow_emb_read_json_text(ow_embedding *emb, const char *text, size_t len, const char *stem, ow_error *err);
/* A1111's JSON object (string_to_param with TORCHTENSOR lists), parsed by json-c. */
struct json_object;
ow_status ow_emb_from_a1111_json(ow_embedding *emb, struct json_object *root, const char *stem, ow_error *err);

/* Writers (embedding_write.c). */
ow_status ow_emb_write_json(const ow_embedding *emb, const char *path, ow_error *err);

#endif
