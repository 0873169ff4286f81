/* embedding_json.c: embeddings as JSON — our own .json layout
 * {"format": "oneword-embedding", "name", "step", "sd_checkpoint",
 *  "sd_checkpoint_name", "tokens": [{"token", "dtype", "vectors": [[...]], "clip_g"?}]}
 * (read and write), and A1111's JSON dict from PNG embeddings (read). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "embeddings/embedding_private.h"

#define JSON_FORMAT_NAME "oneword-embedding"
#define JSON_MAX_DEPTH 16

/* Rows from a JSON list of lists of numbers ((n, dim)), or a flat list (one vector). */
static ow_status parse_rows(json_object *arr, const char *what, int *n_out, int *dim_out, float **rows_out,
                            ow_error *err) {
    *rows_out = NULL;
    if (!json_object_is_type(arr, json_type_array) || json_object_array_length(arr) == 0)
        return ow_error_set(err, OW_ERR_FORMAT, "%s is not a non-empty list of vectors", what);
    size_t n = json_object_array_length(arr);
    int flat = !json_object_is_type(json_object_array_get_idx(arr, 0), json_type_array);
    size_t rows = flat ? 1 : n;
    size_t dim = flat ? n : json_object_array_length(json_object_array_get_idx(arr, 0));
    if (rows > OW_EMB_MAX_VECTORS || dim < 1 || dim > OW_EMB_MAX_DIM)
        return ow_error_set(err, OW_ERR_FORMAT, "%s has %zu vectors of width %zu: 1 to %d vectors of width 1 to %d are accepted",
                            what, rows, dim, OW_EMB_MAX_VECTORS, OW_EMB_MAX_DIM);
    float *out = malloc(rows * dim * sizeof *out);
    if (!out) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t r = 0; r < rows; r++) {
        json_object *row = flat ? arr : json_object_array_get_idx(arr, r);
        if (!json_object_is_type(row, json_type_array) || json_object_array_length(row) != dim) {
            free(out);
            return ow_error_set(err, OW_ERR_FORMAT, "%s: vector %zu does not have %zu numbers like the first", what, r, dim);
        }
        for (size_t c = 0; c < dim; c++) {
            json_object *x = json_object_array_get_idx(row, c);
            if (!json_object_is_type(x, json_type_double) && !json_object_is_type(x, json_type_int)) {
                free(out);
                return ow_error_set(err, OW_ERR_FORMAT, "%s: item [%zu][%zu] is not a number", what, r, c);
            }
            out[r * dim + c] = (float)json_object_get_double(x);
        }
    }
    *n_out = (int)rows;
    *dim_out = (int)dim;
    *rows_out = out;
    return OW_OK;
}

static const char *get_string(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                            : NULL;
}

static void get_step(ow_embedding *emb, json_object *o) {
    json_object *v;
    if (json_object_object_get_ex(o, "step", &v) && json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0)
        emb->step = json_object_get_int64(v);
}

static ow_status read_info(ow_embedding *emb, json_object *root, ow_error *err) {
    ow_status s = ow_emb_strdup(&emb->name, get_string(root, "name"), err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint, get_string(root, "sd_checkpoint"), err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint_name, get_string(root, "sd_checkpoint_name"), err);
    get_step(emb, root);
    return s;
}

ow_status ow_emb_from_a1111_json(ow_embedding *emb, json_object *root, const char *stem, ow_error *err) {
    if (!json_object_is_type(root, json_type_object))
        return ow_error_set(err, OW_ERR_FORMAT, "the embedding JSON is not an object");
    ow_status s = read_info(emb, root, err);
    if (s != OW_OK) return s;
    json_object *params, *ids = NULL;
    if (!json_object_object_get_ex(root, "string_to_param", &params) || !json_object_is_type(params, json_type_object) ||
        json_object_object_length(params) == 0)
        return ow_error_set(err, OW_ERR_FORMAT, "the embedding JSON has no string_to_param object");
    json_object_object_get_ex(root, "string_to_token", &ids);
    int count = json_object_object_length(params);
    json_object_object_foreach(params, key, value) {
        json_object *tensor;
        char what[600];
        snprintf(what, sizeof what, "string_to_param['%.500s']", key);
        if (!json_object_is_type(value, json_type_object) || !json_object_object_get_ex(value, "TORCHTENSOR", &tensor))
            return ow_error_set(err, OW_ERR_FORMAT, "%s is not a {\"TORCHTENSOR\": [...]} object", what);
        int n = 0, dim = 0;
        float *rows = NULL;
        s = parse_rows(tensor, what, &n, &dim, &rows, err);
        if (s != OW_OK) return s;
        json_object *id = NULL;
        int64_t clip_id = ids && json_object_object_get_ex(ids, key, &id) && json_object_is_type(id, json_type_int)
                              ? json_object_get_int64(id) : -1;
        const char *token = count == 1 ? (emb->name && emb->name[0] ? emb->name : stem) : key;
        s = ow_emb_append(emb, token, n, dim, rows, 0, NULL, OW_DTYPE_F32, clip_id, err);
        if (s != OW_OK) return s;
    }
    return OW_OK;
}

static ow_dtype parse_dtype(const char *name) {
    ow_dtype d = OW_DTYPE_F32;
    if (name && ow_dtype_parse(name, &d) == 0 && (d == OW_DTYPE_F16 || d == OW_DTYPE_BF16)) return d;
    return OW_DTYPE_F32;
}

ow_status ow_emb_read_json_text(ow_embedding *emb, const char *text, size_t len, const char *stem, ow_error *err) {
    json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (!tok) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    json_object *root = len <= INT32_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root)
        return ow_error_set(err, OW_ERR_FORMAT, "not valid JSON (%s)",
                            jerr == json_tokener_continue ? "it ends too early" : json_tokener_error_desc(jerr));
    ow_status s = OW_OK;
    json_object *tokens;
    if (!json_object_is_type(root, json_type_object)) {
        s = ow_error_set(err, OW_ERR_FORMAT, "the JSON is not an object");
    } else if (json_object_object_get_ex(root, "string_to_param", &tokens)) {
        s = ow_emb_from_a1111_json(emb, root, stem, err); /* A1111's dict, saved as text */
        if (s == OW_OK) s = ow_emb_strdup(&emb->format, "A1111 JSON (string_to_param)", err);
    } else if (!json_object_object_get_ex(root, "tokens", &tokens) || !json_object_is_type(tokens, json_type_array)) {
        s = ow_error_set(err, OW_ERR_NOT_FOUND, "the JSON has no \"tokens\" list (expected {\"format\": \"" JSON_FORMAT_NAME
                                                "\", \"tokens\": [{\"token\": ..., \"vectors\": [[...]]}]})");
    } else {
        s = read_info(emb, root, err);
        size_t n = json_object_array_length(tokens);
        if (s == OW_OK && n > OW_EMB_MAX_TOKENS)
            s = ow_error_set(err, OW_ERR_FORMAT, "%zu tokens; at most %d are accepted", n, OW_EMB_MAX_TOKENS);
        for (size_t i = 0; s == OW_OK && i < n; i++) {
            json_object *t = json_object_array_get_idx(tokens, i), *vectors, *g = NULL;
            const char *token = json_object_is_type(t, json_type_object) ? get_string(t, "token") : NULL;
            if (!token || !json_object_object_get_ex(t, "vectors", &vectors)) {
                s = ow_error_set(err, OW_ERR_FORMAT, "tokens[%zu] needs \"token\" (a string) and \"vectors\"", i);
                break;
            }
            int rows_n = 0, dim = 0, gn = 0, gdim = 0;
            float *rows = NULL, *rows_g = NULL;
            char what[600];
            snprintf(what, sizeof what, "the vectors of '%.500s'", token);
            s = parse_rows(vectors, what, &rows_n, &dim, &rows, err);
            if (s == OW_OK && json_object_object_get_ex(t, "clip_g", &g)) {
                s = parse_rows(g, "clip_g", &gn, &gdim, &rows_g, err);
                if (s == OW_OK && gn != rows_n)
                    s = ow_error_set(err, OW_ERR_FORMAT, "'%s' has %d clip_l vectors but %d clip_g vectors", token, rows_n, gn);
            }
            if (s != OW_OK) {
                free(rows);
                free(rows_g);
                break;
            }
            s = ow_emb_append(emb, token, rows_n, dim, rows, gdim, rows_g, parse_dtype(get_string(t, "dtype")), -1, err);
        }
        if (s == OW_OK) s = ow_emb_strdup(&emb->format, "oneword .json", err);
    }
    json_object_put(root);
    return s;
}

/* ---- writing ---- */

/* A float that reads back to the same f32: "%.9g" (shortest would also do). */
static json_object *number(float x) {
    char text[32];
    snprintf(text, sizeof text, "%.9g", (double)x);
    return json_object_new_double_s((double)x, text);
}

static json_object *rows_json(const float *rows, int n, int dim) {
    json_object *list = json_object_new_array();
    for (int r = 0; r < n; r++) {
        json_object *row = json_object_new_array();
        for (int c = 0; c < dim; c++) json_object_array_add(row, number(rows[(size_t)r * dim + c]));
        json_object_array_add(list, row);
    }
    return list;
}

ow_status ow_emb_write_json(const ow_embedding *emb, const char *path, ow_error *err) {
    for (size_t i = 0; i < emb->count; i++) {
        const ow_emb_token *t = &emb->tokens[i];
        size_t n = (size_t)t->n * (size_t)emb->dim, ng = (size_t)t->n * (size_t)emb->dim_g;
        for (size_t k = 0; k < n + ng; k++)
            if (!isfinite(k < n ? t->rows[k] : t->rows_g[k - n]))
                return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                    "token '%s' has a value that is not a finite number, which JSON cannot hold; "
                                    "write .safetensors or .pt instead", t->token);
    }
    json_object *root = json_object_new_object();
    if (!root) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    json_object_object_add(root, "format", json_object_new_string(JSON_FORMAT_NAME));
    json_object_object_add(root, "name", emb->name ? json_object_new_string(emb->name) : NULL);
    json_object_object_add(root, "step", emb->step >= 0 ? json_object_new_int64(emb->step) : NULL);
    if (emb->checkpoint) json_object_object_add(root, "sd_checkpoint", json_object_new_string(emb->checkpoint));
    if (emb->checkpoint_name)
        json_object_object_add(root, "sd_checkpoint_name", json_object_new_string(emb->checkpoint_name));
    json_object *tokens = json_object_new_array();
    for (size_t i = 0; i < emb->count; i++) {
        const ow_emb_token *t = &emb->tokens[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "token", json_object_new_string(t->token));
        json_object_object_add(o, "dtype", json_object_new_string(ow_dtype_name(t->dtype)));
        json_object_object_add(o, "vectors", rows_json(t->rows, t->n, emb->dim));
        if (t->rows_g) json_object_object_add(o, "clip_g", rows_json(t->rows_g, t->n, emb->dim_g));
        json_object_array_add(tokens, o);
    }
    json_object_object_add(root, "tokens", tokens);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    ow_status s = text ? OW_OK : ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    if (s == OW_OK) {
        size_t n = strlen(text);
        char *with_newline = malloc(n + 2);
        if (!with_newline) s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        else {
            memcpy(with_newline, text, n);
            with_newline[n] = '\n';
            s = ow_atomic_write(path, with_newline, n + 1, err);
            free(with_newline);
        }
    }
    json_object_put(root);
    return s;
}
