/* embedding.c: the in-memory textual-inversion embedding (tokens and their
 * vectors, plus the file's name, step and checkpoint), building, renaming,
 * merging (the reference repo's merge_embeddings.py semantics) and the
 * description `oneword inspect` prints. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/error.h"
#include "core/text.h"
#include "embeddings/embedding_private.h"

ow_status ow_emb_strdup(char **out, const char *s, ow_error *err) {
    *out = NULL;
    if (!s) return OW_OK;
    *out = strdup(s);
    return *out ? OW_OK : ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
}

char *ow_emb_file_stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *stem = malloc(n + 1);
    if (!stem) return NULL;
    memcpy(stem, base, n);
    stem[n] = 0;
    return stem;
}

ow_status ow_emb_check_token(const char *token, ow_error *err) {
    size_t n = token ? strlen(token) : 0;
    if (n == 0) return ow_error_set(err, OW_ERR_FORMAT, "a token is empty");
    if (n > OW_EMB_MAX_TOKEN_LEN)
        return ow_error_set(err, OW_ERR_FORMAT, "a token is %zu bytes long; at most %d are accepted", n,
                            OW_EMB_MAX_TOKEN_LEN);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
            return ow_error_set(err, OW_ERR_FORMAT, "the token '%.40s' contains a control character", token);
    return OW_OK;
}

static ow_emb_token *find_token(const ow_embedding *emb, const char *token) {
    for (size_t i = 0; i < emb->count; i++)
        if (strcmp(emb->tokens[i].token, token) == 0) return &emb->tokens[i];
    return NULL;
}

ow_status ow_emb_append(ow_embedding *emb, const char *token, int n, int dim, float *rows, int dim_g, float *rows_g,
                        ow_dtype dtype, int64_t clip_id, ow_error *err) {
    ow_status s = ow_emb_check_token(token, err);
    if (s == OW_OK && (n < 1 || n > OW_EMB_MAX_VECTORS))
        s = ow_error_set(err, OW_ERR_FORMAT, "token '%s' has %d vectors; 1 to %d are accepted", token, n,
                         OW_EMB_MAX_VECTORS);
    if (s == OW_OK && (dim < 1 || dim > OW_EMB_MAX_DIM || dim_g < 0 || dim_g > OW_EMB_MAX_DIM))
        s = ow_error_set(err, OW_ERR_FORMAT, "token '%s' has %d-wide vectors; 1 to %d are accepted", token, dim,
                         OW_EMB_MAX_DIM);
    if (s == OW_OK && emb->count >= OW_EMB_MAX_TOKENS)
        s = ow_error_set(err, OW_ERR_FORMAT, "more than %d tokens in one embedding file", OW_EMB_MAX_TOKENS);
    if (s == OW_OK && emb->count > 0 && (emb->dim != dim || emb->dim_g != dim_g))
        s = ow_error_set(err, OW_ERR_FORMAT, "token '%s' has %d-wide vectors but the others are %d wide", token, dim,
                         emb->dim);
    if (s == OW_OK && find_token(emb, token))
        s = ow_error_set(err, OW_ERR_FORMAT, "the token '%s' appears twice", token);
    if (s == OW_OK && emb->count == emb->cap) {
        size_t cap = emb->cap ? emb->cap * 2 : 4;
        ow_emb_token *grown = realloc(emb->tokens, cap * sizeof *grown);
        if (!grown) s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        else { emb->tokens = grown; emb->cap = cap; }
    }
    char *copy = NULL;
    if (s == OW_OK) s = ow_emb_strdup(&copy, token, err);
    if (s != OW_OK) {
        free(rows);
        free(rows_g);
        return s;
    }
    if (dtype != OW_DTYPE_F16 && dtype != OW_DTYPE_BF16) dtype = OW_DTYPE_F32;
    emb->tokens[emb->count++] = (ow_emb_token){copy, n, rows, rows_g, dtype, clip_id, NULL};
    emb->dim = dim;
    emb->dim_g = dim_g;
    return OW_OK;
}

ow_status ow_embedding_create(ow_embedding **out, ow_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    (*out)->step = -1;
    return OW_OK;
}

void ow_embedding_free(ow_embedding *emb) {
    if (!emb) return;
    for (size_t i = 0; i < emb->count; i++) {
        free(emb->tokens[i].token);
        free(emb->tokens[i].rows);
        free(emb->tokens[i].rows_g);
        free(emb->tokens[i].source);
    }
    free(emb->tokens);
    free(emb->format);
    free(emb->name);
    free(emb->checkpoint);
    free(emb->checkpoint_name);
    free(emb);
}

const char *ow_embedding_format(const ow_embedding *emb) { return emb->format ? emb->format : "built in memory"; }
const char *ow_embedding_name(const ow_embedding *emb) { return emb->name; }
int64_t ow_embedding_step(const ow_embedding *emb) { return emb->step; }
const char *ow_embedding_checkpoint(const ow_embedding *emb) { return emb->checkpoint; }
const char *ow_embedding_checkpoint_name(const ow_embedding *emb) { return emb->checkpoint_name; }
int ow_embedding_dim(const ow_embedding *emb) { return emb->count ? emb->dim : 0; }
int ow_embedding_is_sdxl(const ow_embedding *emb) { return emb->dim_g > 0; }
size_t ow_embedding_count(const ow_embedding *emb) { return emb->count; }

const char *ow_embedding_token(const ow_embedding *emb, size_t index) {
    return index < emb->count ? emb->tokens[index].token : NULL;
}

int ow_embedding_vectors(const ow_embedding *emb, size_t index, const float **rows, const float **rows_g) {
    if (index >= emb->count) {
        if (rows) *rows = NULL;
        if (rows_g) *rows_g = NULL;
        return 0;
    }
    if (rows) *rows = emb->tokens[index].rows;
    if (rows_g) *rows_g = emb->tokens[index].rows_g;
    return emb->tokens[index].n;
}

const char *ow_embedding_dtype(const ow_embedding *emb, size_t index) {
    return index < emb->count ? ow_dtype_name(emb->tokens[index].dtype) : "";
}

const char *ow_embedding_model_family(const ow_embedding *emb) {
    if (!emb->count) return "unknown (no tokens)";
    if (emb->dim_g) return "SDXL (clip_l 768 + clip_g 1280)";
    switch (emb->dim) {
    case 768: return "SD 1.x (CLIP ViT-L/14 text encoder, 768)";
    case 1024: return "SD 2.x (OpenCLIP ViT-H text encoder, 1024)";
    case 1280: return "LDM text-to-image (BERT text encoder, 1280)";
    default: return "an unknown text encoder";
    }
}

ow_status ow_embedding_add(ow_embedding *emb, const char *token, const float *rows, int n, int dim, ow_error *err) {
    if (!rows || n < 1 || dim < 1)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "an embedding token needs at least one vector");
    if (emb->dim_g)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "cannot add single-encoder vectors to an SDXL embedding");
    float *copy = malloc((size_t)n * (size_t)dim * sizeof *copy);
    if (!copy) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(copy, rows, (size_t)n * (size_t)dim * sizeof *copy);
    return ow_emb_append(emb, token, n, dim, copy, 0, NULL, OW_DTYPE_F32, -1, err);
}

ow_status ow_embedding_set_info(ow_embedding *emb, const char *name, int64_t step, ow_error *err) {
    char *copy = NULL;
    ow_status s = ow_emb_strdup(&copy, name, err);
    if (s != OW_OK) return s;
    free(emb->name);
    emb->name = copy;
    emb->step = step < 0 ? -1 : step;
    return OW_OK;
}

ow_status ow_embedding_rename(ow_embedding *emb, const char *old_token, const char *new_token, ow_error *err) {
    ow_emb_token *t = find_token(emb, old_token);
    if (!t) return ow_error_set(err, OW_ERR_NOT_FOUND, "there is no token '%s' to rename", old_token);
    if (strcmp(old_token, new_token) == 0) return OW_OK;
    if (ow_emb_check_token(new_token, err) != OW_OK)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cannot rename '%s' to '%s': %s", old_token, new_token,
                            err ? err->message : "bad token");
    if (find_token(emb, new_token))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cannot rename '%s' to '%s': that token is already used",
                            old_token, new_token);
    char *copy = NULL;
    ow_status s = ow_emb_strdup(&copy, new_token, err);
    if (s != OW_OK) return s;
    free(t->token);
    t->token = copy;
    t->clip_id = -1; /* the old placeholder's CLIP id no longer applies */
    return OW_OK;
}

/* ---- merge ---- */

static ow_status copy_token(ow_embedding *out, const ow_embedding *in, const ow_emb_token *t, const char *label,
                            ow_error *err) {
    size_t n = (size_t)t->n * (size_t)in->dim, ng = (size_t)t->n * (size_t)in->dim_g;
    float *rows = malloc(n * sizeof *rows), *rows_g = ng ? malloc(ng * sizeof *rows_g) : NULL;
    if (!rows || (ng && !rows_g)) {
        free(rows);
        free(rows_g);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }
    memcpy(rows, t->rows, n * sizeof *rows);
    if (ng) memcpy(rows_g, t->rows_g, ng * sizeof *rows_g);
    ow_status s = ow_emb_append(out, t->token, t->n, in->dim, rows, in->dim_g, rows_g, t->dtype, t->clip_id, err);
    if (s == OW_OK && label) s = ow_emb_strdup(&out->tokens[out->count - 1].source, label, err);
    return s;
}

ow_status ow_embedding_merge(ow_embedding **out, const ow_embedding *const *inputs, const char *const *labels, size_t n,
                             ow_error *err) {
    *out = NULL;
    if (n == 0) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "nothing to merge");
    /* Widths: every input with tokens must match the first one with tokens. */
    const ow_embedding *first = NULL;
    size_t first_i = 0;
    for (size_t i = 0; i < n; i++) {
        if (!inputs[i]->count) continue;
        if (!first) { first = inputs[i]; first_i = i; continue; }
        if (inputs[i]->dim != first->dim || inputs[i]->dim_g != first->dim_g)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "cannot merge embeddings for different text encoders: '%s' is for %s, '%s' is for %s",
                                labels ? labels[first_i] : "input 1", ow_embedding_model_family(first),
                                labels ? labels[i] : "another input", ow_embedding_model_family(inputs[i]));
    }
    /* Clashes: list them all, each with the files that use it. */
    char message[sizeof err->message];
    size_t used = 0, clashes = 0;
    message[0] = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < inputs[i]->count; k++) {
            const char *tok = inputs[i]->tokens[k].token;
            size_t earlier = (size_t)-1;
            for (size_t j = 0; j < i && earlier == (size_t)-1; j++)
                if (find_token(inputs[j], tok)) earlier = j;
            if (earlier == (size_t)-1) continue;
            clashes++;
            if (used < sizeof message - 64)
                used += (size_t)snprintf(message + used, sizeof message - used, "%s'%s' (in %s and %s)",
                                         clashes > 1 ? ", " : "", tok, labels ? labels[earlier] : "an earlier input",
                                         labels ? labels[i] : "a later input");
        }
    if (clashes)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "%zu placeholder%s used by more than one file: %s; rename with --rename FILE:OLD=NEW", clashes,
                            clashes > 1 ? "s are" : " is", message);
    ow_embedding *m = NULL;
    ow_status s = ow_embedding_create(&m, err);
    for (size_t i = 0; s == OW_OK && i < n; i++)
        for (size_t k = 0; s == OW_OK && k < inputs[i]->count; k++)
            s = copy_token(m, inputs[i], &inputs[i]->tokens[k], labels ? labels[i] : NULL, err);
    if (s == OW_OK) s = ow_emb_strdup(&m->format, "merged", err);
    /* Step and checkpoint carry over only when every input agrees. */
    if (s == OW_OK && first) {
        int same_ck = 1;
        for (size_t i = 0; i < n; i++) {
            const char *a = inputs[i]->checkpoint, *b = first->checkpoint;
            if (inputs[i]->count && ((a == NULL) != (b == NULL) || (a && strcmp(a, b)))) same_ck = 0;
        }
        if (same_ck) {
            s = ow_emb_strdup(&m->checkpoint, first->checkpoint, err);
            if (s == OW_OK) s = ow_emb_strdup(&m->checkpoint_name, first->checkpoint_name, err);
        }
    }
    if (s != OW_OK) {
        ow_embedding_free(m);
        return s;
    }
    *out = m;
    return OW_OK;
}

/* ---- describe ---- */

typedef struct text_buf {
    char *data;
    size_t len, cap;
    int failed;
} text_buf;

static void tb_printf(text_buf *b, const char *fmt, ...) OW_PRINTF(2, 3);
static void tb_printf(text_buf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->failed = 1; return; }
        if (b->data && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) { b->failed = 1; return; }
        b->data = grown;
        b->cap = cap;
    }
}

/* The dtype of the whole file: the tokens' dtype if they agree, "mixed" otherwise. */
static const char *file_dtype(const ow_embedding *emb) {
    if (!emb->count) return "-";
    for (size_t i = 1; i < emb->count; i++)
        if (emb->tokens[i].dtype != emb->tokens[0].dtype) return "mixed";
    return ow_dtype_name(emb->tokens[0].dtype);
}

static ow_status describe_json(const ow_embedding *emb, const char *path, char **text, ow_error *err) {
    json_object *root = json_object_new_object();
    if (!root) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    if (path) json_object_object_add(root, "file", json_object_new_string(path));
    json_object_object_add(root, "format", json_object_new_string(ow_embedding_format(emb)));
    json_object_object_add(root, "name", emb->name ? json_object_new_string(emb->name) : NULL);
    json_object_object_add(root, "step", emb->step >= 0 ? json_object_new_int64(emb->step) : NULL);
    json_object_object_add(root, "dim", json_object_new_int(ow_embedding_dim(emb)));
    if (emb->dim_g) json_object_object_add(root, "dim_clip_g", json_object_new_int(emb->dim_g));
    json_object_object_add(root, "dtype", json_object_new_string(file_dtype(emb)));
    json_object_object_add(root, "sdxl", json_object_new_boolean(emb->dim_g > 0));
    json_object_object_add(root, "model", json_object_new_string(ow_embedding_model_family(emb)));
    json_object_object_add(root, "sd_checkpoint", emb->checkpoint ? json_object_new_string(emb->checkpoint) : NULL);
    json_object_object_add(root, "sd_checkpoint_name",
                           emb->checkpoint_name ? json_object_new_string(emb->checkpoint_name) : NULL);
    json_object *tokens = json_object_new_array();
    int total = 0;
    for (size_t i = 0; i < emb->count; i++) {
        json_object *t = json_object_new_object();
        json_object_object_add(t, "token", json_object_new_string(emb->tokens[i].token));
        json_object_object_add(t, "vectors", json_object_new_int(emb->tokens[i].n));
        json_object_object_add(t, "dtype", json_object_new_string(ow_dtype_name(emb->tokens[i].dtype)));
        if (emb->tokens[i].source) json_object_object_add(t, "source", json_object_new_string(emb->tokens[i].source));
        json_object_array_add(tokens, t);
        total += emb->tokens[i].n;
    }
    json_object_object_add(root, "tokens", tokens);
    json_object_object_add(root, "vectors", json_object_new_int(total));
    const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n = s ? strlen(s) : 0;
    *text = s ? malloc(n + 2) : NULL;
    if (*text) {
        memcpy(*text, s, n);
        (*text)[n] = '\n';
        (*text)[n + 1] = 0;
    }
    json_object_put(root);
    return *text ? OW_OK : ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
}

/* Text from the file (or a path), escaped for display into a buffer of the describe
 * (one per field of a line), so a name cannot clear the screen or fake a line. */
typedef struct shown_text {
    char text[4 * OW_EMB_MAX_TOKEN_LEN + 64];
} shown_text;

static const char *shown(shown_text *out, const char *s) {
    ow_text_escape(out->text, sizeof out->text, s, strlen(s));
    return out->text;
}

ow_status ow_embedding_describe(const ow_embedding *emb, const char *path, int json, char **text, ow_error *err) {
    *text = NULL;
    if (json) return describe_json(emb, path, text, err); /* json-c escapes control characters */
    text_buf b = {0};
    shown_text a, c;
    int total = 0;
    for (size_t i = 0; i < emb->count; i++) total += emb->tokens[i].n;
    if (path) tb_printf(&b, "file:       %s\n", shown(&a, path));
    tb_printf(&b, "kind:       textual-inversion embedding\n");
    tb_printf(&b, "format:     %s\n", ow_embedding_format(emb));
    tb_printf(&b, "name:       %s\n", emb->name ? shown(&a, emb->name) : "(none)");
    tb_printf(&b, "tokens:     %zu\n", emb->count);
    tb_printf(&b, "vectors:    %d\n", total);
    if (emb->dim_g)
        tb_printf(&b, "dim:        %d (clip_l) + %d (clip_g)\n", emb->dim, emb->dim_g);
    else
        tb_printf(&b, "dim:        %d\n", ow_embedding_dim(emb));
    tb_printf(&b, "dtype:      %s\n", file_dtype(emb));
    if (emb->step >= 0) tb_printf(&b, "step:       %" PRId64 "\n", emb->step);
    else tb_printf(&b, "step:       (not recorded)\n");
    tb_printf(&b, "made for:   %s\n", ow_embedding_model_family(emb));
    if (emb->dim_g)
        tb_printf(&b, "            (oneword reads it but generates with SD 1.x models only so far)\n");
    if (emb->checkpoint && emb->checkpoint_name)
        tb_printf(&b, "checkpoint: %s (%s)\n", shown(&a, emb->checkpoint), shown(&c, emb->checkpoint_name));
    else if (emb->checkpoint || emb->checkpoint_name)
        tb_printf(&b, "checkpoint: %s\n", shown(&a, emb->checkpoint ? emb->checkpoint : emb->checkpoint_name));
    for (size_t i = 0; i < emb->count; i++) {
        const ow_emb_token *t = &emb->tokens[i];
        tb_printf(&b, "  %-24s %3d vector%s x %d  %s%s%s\n", shown(&a, t->token), t->n, t->n == 1 ? " " : "s",
                  emb->dim, ow_dtype_name(t->dtype), t->source ? "  from " : "", t->source ? shown(&c, t->source) : "");
    }
    if (b.failed || !b.data) {
        free(b.data);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *text = b.data;
    return OW_OK;
}
