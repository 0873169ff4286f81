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

/* Bounds on JSON from a file (our .json, A1111's JSON inside a PNG), checked before
 * json-c builds anything. A legitimate A1111 embedding is at most 75 vectors of 1024
 * floats (SD 2) or 77 of 1280 (LDM): ~100,000 numbers, ~2.5 MB as Python writes them
 * (~25 bytes a number). Our own .json writes a number in at most ~16 bytes and
 * refuses to write more than OW_EMB_JSON_MAX_VALUES of them. json-c spends ~70-100
 * bytes per number, ~150 per list and ~800 per object, so a parse within these caps
 * needs at most ~130 MiB whatever the text holds, a legitimate one ~10 MiB. */
#define OW_EMB_JSON_MAX_TEXT ((size_t)32 << 20)      /* bytes of JSON text */
#define OW_EMB_JSON_MAX_VALUES ((size_t)1 << 20)     /* numbers, strings and other values */
#define OW_EMB_JSON_MAX_LISTS ((size_t)1 << 16)      /* [ ... ]: one per vector, plus a few */
#define OW_EMB_JSON_MAX_OBJECTS ((size_t)(2 * OW_EMB_MAX_TOKENS + 64)) /* { ... }: one or two per token */
#define OW_EMB_JSON_MAX_DEPTH 16                     /* nesting; both layouts need 5 */

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

/* Checks text read from a file before it is kept (embedding_read.c): len bytes, no NUL,
 * valid UTF-8, and for a token (is_token) no control character either, so that it can
 * be written to any format and printed as it is. what names it in the message ("token",
 * "name"), which shows the text escaped. OW_ERR_FORMAT when it is refused. */
ow_status ow_emb_check_file_text(const char *text, size_t len, const char *what, int is_token, ow_error *err);

/* The file name without folder and extension ("dir/my-cat.pt" -> "my-cat"); malloc'd. */
char *ow_emb_file_stem(const char *path);

/* Readers of the formats that are not tensor files (embedding_png.c, embedding_json.c). */
ow_status ow_emb_read_png(ow_embedding *emb, const unsigned char *data, size_t len, const char *stem, ow_error *err);
ow_status ow_emb_read_json_text(ow_embedding *emb, const char *text, size_t len, const char *stem, ow_error *err);
/* A1111's JSON object (string_to_param with TORCHTENSOR lists), parsed by json-c. */
struct json_object;
/* Parses JSON text from a file into *root after checking, without building anything, its
 * size, how many values, lists and objects json-c would allocate (the OW_EMB_JSON_MAX_*
 * bounds) and that it holds no NUL character (raw or \u0000, which json-c would cut a
 * key at); the depth is bounded while parsing. where names the text in messages ("file",
 * "'sd-ti-embedding' chunk"). Only whitespace may follow the value. */
ow_status ow_emb_parse_json(const char *text, size_t len, const char *where, struct json_object **root, ow_error *err);
ow_status ow_emb_from_a1111_json(ow_embedding *emb, struct json_object *root, const char *stem, ow_error *err);

/* Writers (embedding_write.c). */
ow_status ow_emb_write_json(const ow_embedding *emb, const char *path, ow_error *err);

#endif
