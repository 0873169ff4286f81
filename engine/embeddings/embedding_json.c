/* embedding_json.c: embeddings as JSON — our own .json layout
 * {"format": "oneword-embedding", "name", "step", "sd_checkpoint",
 *  "sd_checkpoint_name", "tokens": [{"token", "dtype", "vectors": [[...]], "clip_g"?}]}
 * (read and write), and A1111's JSON dict from PNG embeddings (read).
 *
 * JSON from a file is measured before json-c parses it (ow_emb_parse_json): its size,
 * the values, lists and objects it would allocate and NUL characters are checked by one
 * pass over the text, the depth by the tokener, so a small file cannot make the tree
 * large. The writer refuses what the reader would refuse. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/atomic_file.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/half.h"
#include "embeddings/embedding_private.h"

#define JSON_FORMAT_NAME "oneword-embedding"

/* What json-c would allocate for text, counted without parsing: values (at most one more
 * than the commas and colons, strings included), lists and objects; a raw NUL or a \u0000
 * escape is refused too. Counts are upper bounds (a comma inside a string counts). */
static ow_status check_json_budget(const char *text, size_t len, const char *where, ow_error *err) {
    if (len > OW_EMB_JSON_MAX_TEXT)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "the %s holds %zu bytes of JSON, more than the %zu MiB an embedding can need "
                            "(refused before parsing)", where, len, OW_EMB_JSON_MAX_TEXT >> 20);
    size_t values = 1, lists = 0, objects = 0;
    for (size_t i = 0; i < len; i++) {
        switch (text[i]) {
        case ',': case ':': values++; break;
        case '[': lists++; break;
        case '{': objects++; break;
        case '\\':
            if (len - i >= 6 && memcmp(text + i + 1, "u0000", 5) == 0)
                return ow_error_set(err, OW_ERR_FORMAT,
                                    "the %s holds a NUL character (\\u0000 at byte %zu) in its JSON; tokens and names "
                                    "cannot contain one", where, i);
            i++; /* the escaped character is not a separator */
            break;
        case '\0':
            return ow_error_set(err, OW_ERR_FORMAT, "the %s holds a NUL byte at byte %zu of its JSON", where, i);
        default: break;
        }
    }
    if (values > OW_EMB_JSON_MAX_VALUES)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "the %s holds about %zu JSON values, more than the %zu an embedding can need "
                            "(refused before parsing)", where, values, OW_EMB_JSON_MAX_VALUES);
    if (lists > OW_EMB_JSON_MAX_LISTS || objects > OW_EMB_JSON_MAX_OBJECTS)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "the %s holds %zu JSON lists and %zu objects, more than the %zu and %zu an embedding can "
                            "need (refused before parsing)", where, lists, objects, OW_EMB_JSON_MAX_LISTS,
                            OW_EMB_JSON_MAX_OBJECTS);
    return OW_OK;
}

static int only_whitespace(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') return 0;
    return 1;
}

ow_status ow_emb_parse_json(const char *text, size_t len, const char *where, json_object **root, ow_error *err) {
    *root = NULL;
    ow_status s = check_json_budget(text, len, where, err);
    if (s != OW_OK) return s;
    json_tokener *tok = json_tokener_new_ex(OW_EMB_JSON_MAX_DEPTH);
    if (!tok) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len); /* len <= OW_EMB_JSON_MAX_TEXT < INT_MAX */
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int extra = obj && end < len && !only_whitespace(text + end, len - end);
    if (!obj || extra) {
        json_object_put(obj);
        return ow_error_set(err, OW_ERR_FORMAT, "the %s does not hold valid JSON (%s)", where,
                            extra                           ? "extra data after the object"
                            : jerr == json_tokener_continue ? "it ends too early"
                                                            : json_tokener_error_desc(jerr));
    }
    *root = obj;
    return OW_OK;
}

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
    size_t count, bytes;
    if (rows > OW_EMB_MAX_VECTORS || dim < 1 || dim > OW_EMB_MAX_DIM || !ow_checked_mul_size(rows, dim, &count) ||
        !ow_checked_mul_size(count, sizeof(float), &bytes))
        return ow_error_set(err, OW_ERR_FORMAT, "%s has %zu vectors of width %zu: 1 to %d vectors of width 1 to %d are accepted",
                            what, rows, dim, OW_EMB_MAX_VECTORS, OW_EMB_MAX_DIM);
    float *out = malloc(bytes);
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

/* The string member key of o, checked as text from a file; *out NULL when absent or not a string. */
static ow_status get_text(json_object *o, const char *key, int is_token, const char **out, ow_error *err) {
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return OW_OK;
    const char *text = json_object_get_string(v);
    ow_status s = ow_emb_check_file_text(text, (size_t)json_object_get_string_len(v), key, is_token, err);
    if (s == OW_OK) *out = text;
    return s;
}

static void get_step(ow_embedding *emb, json_object *o) {
    json_object *v;
    if (json_object_object_get_ex(o, "step", &v) && json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0)
        emb->step = json_object_get_int64(v);
}

static ow_status read_info(ow_embedding *emb, json_object *root, ow_error *err) {
    const char *name, *checkpoint, *checkpoint_name;
    ow_status s = get_text(root, "name", 0, &name, err);
    if (s == OW_OK) s = get_text(root, "sd_checkpoint", 0, &checkpoint, err);
    if (s == OW_OK) s = get_text(root, "sd_checkpoint_name", 0, &checkpoint_name, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->name, name, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint, checkpoint, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint_name, checkpoint_name, err);
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
        /* (A key cannot hold a NUL: ow_emb_parse_json refused \u0000, so strlen is its length.) */
        s = ow_emb_check_file_text(key, strlen(key), "string_to_param key", 1, err);
        if (s != OW_OK) return s;
        json_object *tensor;
        char what[600];
        snprintf(what, sizeof what, "string_to_param['%s']", key); /* checked: at most OW_EMB_MAX_TOKEN_LEN bytes */
        if (!json_object_is_type(value, json_type_object) || !json_object_object_get_ex(value, "TORCHTENSOR", &tensor))
            return ow_error_set(err, OW_ERR_FORMAT, "%s is not a {\"TORCHTENSOR\": [...]} object", what);
        const char *token = count == 1 ? (emb->name && emb->name[0] ? emb->name : stem) : key;
        s = ow_emb_check_file_text(token, strlen(token), "token", 1, err);
        if (s != OW_OK) return s;
        int n = 0, dim = 0;
        float *rows = NULL;
        s = parse_rows(tensor, what, &n, &dim, &rows, err);
        if (s != OW_OK) return s;
        json_object *id = NULL;
        int64_t clip_id = ids && json_object_object_get_ex(ids, key, &id) && json_object_is_type(id, json_type_int)
                              ? json_object_get_int64(id) : -1;
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
    json_object *root = NULL;
    ow_status parsed = ow_emb_parse_json(text, len, "file", &root, err);
    if (parsed != OW_OK) return parsed;
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
            const char *token = NULL, *dtype = NULL;
            if (json_object_is_type(t, json_type_object)) {
                s = get_text(t, "token", 1, &token, err);
                if (s == OW_OK) s = get_text(t, "dtype", 0, &dtype, err);
                if (s != OW_OK) break;
            }
            if (!token || !json_object_object_get_ex(t, "vectors", &vectors)) {
                s = ow_error_set(err, OW_ERR_FORMAT, "tokens[%zu] needs \"token\" (a string) and \"vectors\"", i);
                break;
            }
            int rows_n = 0, dim = 0, gn = 0, gdim = 0;
            float *rows = NULL, *rows_g = NULL;
            char what[600];
            snprintf(what, sizeof what, "the vectors of '%s'", token); /* checked: at most OW_EMB_MAX_TOKEN_LEN bytes */
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
            s = ow_emb_append(emb, token, rows_n, dim, rows, gdim, rows_g, parse_dtype(dtype), -1, err);
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
    uint64_t numbers = 0; /* at most OW_EMB_MAX_TOKENS * OW_EMB_MAX_VECTORS * 2 * OW_EMB_MAX_DIM < 2^37 */
    for (size_t i = 0; i < emb->count; i++) {
        const ow_emb_token *t = &emb->tokens[i];
        size_t n = (size_t)t->n * (size_t)emb->dim, ng = (size_t)t->n * (size_t)emb->dim_g;
        numbers += (uint64_t)n + ng;
        for (size_t k = 0; k < n + ng; k++)
            if (!isfinite(k < n ? t->rows[k] : t->rows_g[k - n]))
                return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                    "token '%s' has a value that is not a finite number, which JSON cannot hold; "
                                    "write .safetensors or .pt instead", t->token);
    }
    if (numbers > OW_EMB_JSON_MAX_VALUES - 64)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "the embedding has %llu numbers; a .json embedding holds at most %zu (what the reader "
                            "accepts): write .safetensors or .pt instead", (unsigned long long)numbers,
                            OW_EMB_JSON_MAX_VALUES - 64);
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
        /* Nothing the reader would refuse is written (many short vectors can pass the number check). */
        ow_error why = {0};
        char *with_newline = NULL;
        if (check_json_budget(text, n, "embedding", &why) != OW_OK)
            s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%s: too large for a .json embedding; write .safetensors or "
                             ".pt instead", why.message);
        else if (!(with_newline = malloc(n + 2)))
            s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
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
