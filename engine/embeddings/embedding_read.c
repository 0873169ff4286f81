/* embedding_read.c: ow_embedding_load — detects which embedding layout a file
 * holds and reads its tokens, vectors and metadata.
 *
 * Torch files (.pt/.bin, zip or legacy) are opened through ow_tensor_set_open,
 * i.e. the restricted pickle machine: nothing in them can run code. Their object
 * tree decides the layout (string_to_param, emb_params, clip_l/clip_g, or a
 * token -> tensor dict). .safetensors files decide from tensor names and the
 * "__metadata__" map. PNG and JSON files have their own readers.
 *
 * Only a regular file is opened (a FIFO or device in its place is an error, not a
 * wait), PNG and JSON files are read whole up to a cap, and every token, name and
 * checkpoint name is checked as text (ow_emb_check_file_text) before it is kept. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/file.h"
#include "core/text.h"
#include "embeddings/embedding_private.h"
#include "formats/pickle.h"
#include "formats/tensor_set.h"

/* A PNG embedding is read whole: its text chunk inflates to at most ~44 MiB (the base64 of
 * OW_EMB_JSON_MAX_TEXT) and the pixel variant decodes at most 16 Mpx, so a PNG larger than
 * this is not an embedding. A .json embedding is JSON text, capped as such. */
#define MAX_PNG_FILE ((uint64_t)64 << 20)

/* ---- text from files ---- */

ow_status ow_emb_check_file_text(const char *text, size_t len, const char *what, int is_token, ow_error *err) {
    char shown[160];
    size_t shown_len = ow_text_escape(shown, sizeof shown, text, len);
    const char *more = shown_len + 7 >= sizeof shown ? "..." : ""; /* (an escape or a character is at most 6 bytes) */
    if (memchr(text, 0, len))
        return ow_error_set(err, OW_ERR_FORMAT, "the %s '%s%s' contains a NUL byte", what, shown, more);
    if (!ow_utf8_valid(text, len))
        return ow_error_set(err, OW_ERR_FORMAT, "the %s '%s%s' is not valid UTF-8", what, shown, more);
    if (is_token && ow_text_needs_escape(text, len))
        return ow_error_set(err, OW_ERR_FORMAT, "the %s '%s%s' contains a control character", what, shown, more);
    if (is_token && len > OW_EMB_MAX_TOKEN_LEN)
        return ow_error_set(err, OW_ERR_FORMAT, "the %s '%s%s' is %zu bytes long; at most %d are accepted", what, shown,
                            more, len, OW_EMB_MAX_TOKEN_LEN);
    return OW_OK;
}

/* Vectors of one tensor entry: (H) is one vector, (n, H) n vectors. */
static ow_status rows_from_entry(const ow_tensor_entry *e, const char *what, int *n_out, int *dim_out, float **rows_out,
                                 ow_error *err) {
    *rows_out = NULL;
    if (!ow_dtype_is_float(e->dtype))
        return ow_error_set(err, OW_ERR_FORMAT, "%s is a %s tensor; embedding vectors are floats", what,
                            ow_dtype_name(e->dtype));
    int64_t n, dim;
    if (e->ndim == 1) { n = 1; dim = e->shape[0]; }
    else if (e->ndim == 2) { n = e->shape[0]; dim = e->shape[1]; }
    else return ow_error_set(err, OW_ERR_FORMAT, "%s has %d dimensions; embedding vectors are (n, dim) or (dim)", what,
                             e->ndim);
    if (n < 1 || n > OW_EMB_MAX_VECTORS || dim < 1 || dim > OW_EMB_MAX_DIM)
        return ow_error_set(err, OW_ERR_FORMAT, "%s has shape (%" PRId64 ", %" PRId64 "): 1 to %d vectors of width 1 to %d are accepted",
                            what, n, dim, OW_EMB_MAX_VECTORS, OW_EMB_MAX_DIM);
    const int64_t shape[2] = {n, dim};
    size_t nbytes, f32_bytes;
    if (!ow_shape_nbytes(shape, 2, ow_dtype_size(e->dtype), &nbytes) || !ow_shape_nbytes(shape, 2, sizeof(float), &f32_bytes) ||
        e->nbytes != nbytes || !e->data)
        return ow_error_set(err, OW_ERR_FORMAT, "%s: its data size does not match its shape", what);
    float *rows = malloc(f32_bytes);
    if (!rows) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    ow_status s = ow_tensor_entry_to_f32(e, rows, err);
    if (s != OW_OK) { free(rows); return s; }
    *n_out = (int)n;
    *dim_out = (int)dim;
    *rows_out = rows;
    return OW_OK;
}

/* token: token_len bytes from the file, checked here before anything else uses it. */
static ow_status add_entry(ow_embedding *emb, const char *token, size_t token_len, const ow_tensor_entry *e,
                           int64_t clip_id, ow_error *err) {
    ow_status s = ow_emb_check_file_text(token, token_len, "token", 1, err);
    if (s != OW_OK) return s;
    int n = 0, dim = 0;
    float *rows = NULL;
    char what[600];
    snprintf(what, sizeof what, "the vectors of '%s'", token); /* checked: at most OW_EMB_MAX_TOKEN_LEN bytes */
    s = rows_from_entry(e, what, &n, &dim, &rows, err);
    if (s != OW_OK) return s;
    return ow_emb_append(emb, token, n, dim, rows, 0, NULL, e->dtype, clip_id, err);
}

/* SDXL: clip_l (n, 768) and clip_g (n, 1280) under one token. */
static ow_status add_sdxl(ow_embedding *emb, const char *token, const ow_tensor_entry *l, const ow_tensor_entry *g,
                          ow_error *err) {
    int nl = 0, dl = 0, ng = 0, dg = 0;
    float *rl = NULL, *rg = NULL;
    ow_status s = ow_emb_check_file_text(token, strlen(token), "token", 1, err);
    if (s == OW_OK) s = rows_from_entry(l, "clip_l", &nl, &dl, &rl, err);
    if (s == OW_OK) s = rows_from_entry(g, "clip_g", &ng, &dg, &rg, err);
    if (s == OW_OK && nl != ng)
        s = ow_error_set(err, OW_ERR_FORMAT, "SDXL embedding: clip_l has %d vectors but clip_g has %d", nl, ng);
    if (s != OW_OK) {
        free(rl);
        free(rg);
        return s;
    }
    return ow_emb_append(emb, token, nl, dl, rl, dg, rg, l->dtype, -1, err);
}

static int is_vector_entry(const ow_tensor_entry *e) {
    return e && ow_dtype_is_float(e->dtype) && (e->ndim == 1 || e->ndim == 2);
}

/* ---- torch files: the object tree ---- */

/* The string value of key in dict, checked as text from the file; *out NULL when absent or not a string. */
static ow_status tree_text(const ow_pickle_value *dict, const char *key, const char **out, ow_error *err) {
    const ow_pickle_value *v = ow_pickle_dict_get(dict, key);
    *out = NULL;
    if (!v || ow_pickle_kind_of(v) != OW_PICKLE_STRING) return OW_OK;
    size_t len = 0;
    const char *text = ow_pickle_string(v, &len);
    ow_status s = ow_emb_check_file_text(text, len, key, 0, err);
    if (s == OW_OK) *out = text;
    return s;
}

/* A string_to_token value: a 0-dim integer tensor (reference repo) or an int. */
static int64_t token_id_of(const ow_pickle_value *v) {
    if (!v) return -1;
    if (ow_pickle_kind_of(v) == OW_PICKLE_INT) return ow_pickle_int(v);
    const ow_tensor_entry *e = ow_pickle_tensor(v);
    if (e && e->data && ow_tensor_entry_numel(e) == 1) {
        if (e->dtype == OW_DTYPE_I64 && e->nbytes == 8) { int64_t x; memcpy(&x, e->data, 8); return x; }
        if (e->dtype == OW_DTYPE_I32 && e->nbytes == 4) { int32_t x; memcpy(&x, e->data, 4); return x; }
    }
    return -1;
}

static ow_status read_metadata_tree(ow_embedding *emb, const ow_pickle_value *root, ow_error *err) {
    const char *name, *checkpoint, *checkpoint_name;
    ow_status s = tree_text(root, "name", &name, err);
    if (s == OW_OK) s = tree_text(root, "sd_checkpoint", &checkpoint, err);
    if (s == OW_OK) s = tree_text(root, "sd_checkpoint_name", &checkpoint_name, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->name, name, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint, checkpoint, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint_name, checkpoint_name, err);
    const ow_pickle_value *step = ow_pickle_dict_get(root, "step");
    if (step && ow_pickle_kind_of(step) == OW_PICKLE_INT && ow_pickle_int(step) >= 0) emb->step = ow_pickle_int(step);
    return s;
}

static ow_status read_torch_tree(ow_embedding *emb, const ow_pickle_value *root, const char *stem, const char *ext,
                                 ow_error *err) {
    char format[64];
    if (ow_pickle_tensor(root)) { /* torch.save(tensor): diffusers accepts it with an explicit token */
        snprintf(format, sizeof format, "bare tensor %s", ext);
        ow_status s = add_entry(emb, stem, strlen(stem), ow_pickle_tensor(root), -1, err);
        return s == OW_OK ? ow_emb_strdup(&emb->format, format, err) : s;
    }
    if (ow_pickle_kind_of(root) != OW_PICKLE_DICT)
        return ow_error_set(err, OW_ERR_NOT_FOUND, "the file holds a %s, not an embedding",
                            ow_pickle_kind_name(ow_pickle_kind_of(root)));
    ow_status s = read_metadata_tree(emb, root, err);
    if (s != OW_OK) return s;
    const ow_pickle_value *params = ow_pickle_dict_get(root, "string_to_param");
    const ow_pickle_value *emb_params = ow_pickle_dict_get(root, "emb_params");
    const ow_pickle_value *clip_l = ow_pickle_dict_get(root, "clip_l"), *clip_g = ow_pickle_dict_get(root, "clip_g");
    if (params) {
        /* A torch.nn.ParameterDict (the reference repo's EmbeddingManager.save) arrives as its state:
         * "_parameters" maps each placeholder to its Parameter; torch >= 1.12 also keeps the dict's key
         * order in "_keys" (values None). Older torch has "_parameters" only (an OrderedDict). */
        const char *module = ow_pickle_module_class(params);
        const ow_pickle_value *keys = NULL;
        if (module) {
            keys = ow_pickle_dict_get(params, "_keys");
            params = ow_pickle_dict_get(params, "_parameters");
            if (ow_pickle_kind_of(params) != OW_PICKLE_DICT || ow_pickle_module_class(params))
                return ow_error_set(err, OW_ERR_FORMAT, "string_to_param is a %s without a _parameters dict", module);
            if (keys && (ow_pickle_kind_of(keys) != OW_PICKLE_DICT || ow_pickle_module_class(keys)))
                return ow_error_set(err, OW_ERR_FORMAT, "string_to_param is a %s whose _keys is a %s, not a dict", module,
                                    ow_pickle_kind_name(ow_pickle_kind_of(keys)));
        } else if (ow_pickle_kind_of(params) == OW_PICKLE_OBJECT) {
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "string_to_param is a pickled %s, not a dict of token -> vectors",
                                ow_pickle_string(params, NULL));
        }
        const ow_pickle_value *order = keys ? keys : params;
        if (ow_pickle_kind_of(params) != OW_PICKLE_DICT || ow_pickle_len(order) == 0)
            return ow_error_set(err, OW_ERR_FORMAT, "string_to_param is a %s, not a dict of token -> vectors",
                                ow_pickle_kind_name(ow_pickle_kind_of(params)));
        if (ow_pickle_len(order) > OW_EMB_MAX_TOKENS)
            return ow_error_set(err, OW_ERR_FORMAT, "string_to_param holds %zu tokens; at most %d are accepted",
                                ow_pickle_len(order), OW_EMB_MAX_TOKENS);
        const ow_pickle_value *ids = ow_pickle_dict_get(root, "string_to_token");
        size_t n = ow_pickle_len(order);
        for (size_t i = 0; i < n && s == OW_OK; i++) {
            const ow_pickle_value *key = ow_pickle_dict_key(order, i);
            if (ow_pickle_kind_of(key) != OW_PICKLE_STRING)
                return ow_error_set(err, OW_ERR_FORMAT, "string_to_param has a %s key; placeholders are strings",
                                    ow_pickle_kind_name(ow_pickle_kind_of(key)));
            size_t placeholder_len = 0;
            const char *placeholder = ow_pickle_string(key, &placeholder_len);
            if ((s = ow_emb_check_file_text(placeholder, placeholder_len, "string_to_param key", 1, err)) != OW_OK) return s;
            const ow_pickle_value *value = keys ? ow_pickle_dict_get(params, placeholder) : ow_pickle_dict_value(params, i);
            if (!value)
                return ow_error_set(err, OW_ERR_FORMAT, "string_to_param (a %s) lists '%s' but holds no parameter for it",
                                    module, placeholder);
            const ow_tensor_entry *e = ow_pickle_tensor(value);
            if (!e)
                return ow_error_set(err, OW_ERR_FORMAT, "string_to_param['%s'] is a %s, not a tensor", placeholder,
                                    ow_pickle_kind_name(ow_pickle_kind_of(value)));
            /* One placeholder in a file with a name: A1111 / diffusers use the name as the token. */
            const char *token = n == 1 && emb->name && emb->name[0] ? emb->name : placeholder;
            s = add_entry(emb, token, token == placeholder ? placeholder_len : strlen(token), e,
                          token_id_of(ow_pickle_dict_get(ids, placeholder)), err);
        }
        int a1111 = emb->name || emb->step >= 0 || ow_pickle_dict_get(root, "name") || ow_pickle_dict_get(root, "step");
        snprintf(format, sizeof format, "%s %s (string_to_param%s)", a1111 ? "A1111" : "reference", ext,
                 module ? ", ParameterDict" : "");
    } else if (emb_params) {
        const ow_tensor_entry *e = ow_pickle_tensor(emb_params);
        if (!e) return ow_error_set(err, OW_ERR_FORMAT, "emb_params is not a tensor");
        const char *token = emb->name && emb->name[0] ? emb->name : stem;
        s = add_entry(emb, token, strlen(token), e, -1, err);
        snprintf(format, sizeof format, "emb_params %s", ext);
    } else if (clip_l && clip_g) {
        if (!ow_pickle_tensor(clip_l) || !ow_pickle_tensor(clip_g))
            return ow_error_set(err, OW_ERR_FORMAT, "clip_l / clip_g are not tensors");
        s = add_sdxl(emb, emb->name && emb->name[0] ? emb->name : stem, ow_pickle_tensor(clip_l), ow_pickle_tensor(clip_g),
                     err);
        snprintf(format, sizeof format, "SDXL %s (clip_l + clip_g)", ext);
    } else {
        size_t n = ow_pickle_len(root);
        if (n == 0 || n > OW_EMB_MAX_TOKENS)
            return ow_error_set(err, OW_ERR_NOT_FOUND, "the file holds no embedding (no string_to_param, emb_params, "
                                                       "clip_l/clip_g or token -> vector entries)");
        int64_t first_dim = -1;
        for (size_t i = 0; i < n; i++) {
            const ow_tensor_entry *e = ow_pickle_tensor(ow_pickle_dict_value(root, i));
            int64_t dim = is_vector_entry(e) ? e->shape[e->ndim - 1] : -1;
            if (ow_pickle_kind_of(ow_pickle_dict_key(root, i)) != OW_PICKLE_STRING || dim < 0 ||
                (first_dim >= 0 && dim != first_dim))
                return ow_error_set(err, OW_ERR_NOT_FOUND,
                                    "the file holds no embedding layout (no string_to_param, emb_params, clip_l/clip_g, "
                                    "and not a dict of token -> vectors of one width): is it a model checkpoint?");
            first_dim = dim;
        }
        for (size_t i = 0; i < n && s == OW_OK; i++) {
            size_t key_len = 0;
            const char *key = ow_pickle_string(ow_pickle_dict_key(root, i), &key_len);
            s = add_entry(emb, key, key_len, ow_pickle_tensor(ow_pickle_dict_value(root, i)), -1, err);
        }
        snprintf(format, sizeof format, "diffusers %s (token -> vectors)", ext);
    }
    return s == OW_OK ? ow_emb_strdup(&emb->format, format, err) : s;
}

/* ---- safetensors ---- */

/* A "__metadata__" value checked as text from the file. (The safetensors reader keeps C
 * strings: a \u0000 in the header would end one early; that reader refuses it.) */
static ow_status metadata_text(const ow_tensor_set *set, const char *key, const char **out, ow_error *err) {
    *out = ow_tensor_set_metadata(set, key);
    ow_status s = *out ? ow_emb_check_file_text(*out, strlen(*out), key, 0, err) : OW_OK;
    if (s != OW_OK) *out = NULL;
    return s;
}

static ow_status read_safetensors(ow_embedding *emb, const ow_tensor_set *set, const char *stem, ow_error *err) {
    const char *name, *checkpoint, *checkpoint_name;
    ow_status s = metadata_text(set, "name", &name, err);
    if (s == OW_OK) s = metadata_text(set, "sd_checkpoint", &checkpoint, err);
    if (s == OW_OK) s = metadata_text(set, "sd_checkpoint_name", &checkpoint_name, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->name, name, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint, checkpoint, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint_name, checkpoint_name, err);
    if (s != OW_OK) return s;
    const char *step = ow_tensor_set_metadata(set, "step");
    if (step) {
        char *end;
        long long v = strtoll(step, &end, 10);
        if (*step && !*end && v >= 0) emb->step = v;
    }
    const char *token = name && name[0] ? name : stem;
    const ow_tensor_entry *emb_params = ow_tensor_set_find(set, "emb_params");
    const ow_tensor_entry *l = ow_tensor_set_find(set, "clip_l"), *g = ow_tensor_set_find(set, "clip_g");
    const char *format;
    if (emb_params) {
        s = add_entry(emb, token, strlen(token), emb_params, -1, err);
        format = "A1111 .safetensors (emb_params)";
    } else if (l && g) {
        s = add_sdxl(emb, token, l, g, err);
        format = "SDXL .safetensors (clip_l + clip_g)";
    } else {
        size_t n = ow_tensor_set_count(set);
        if (n == 0 || n > OW_EMB_MAX_TOKENS)
            return ow_error_set(err, OW_ERR_NOT_FOUND, "the file holds no embedding (%zu tensors)", n);
        for (size_t i = 0; i < n; i++) {
            const ow_tensor_entry *e = ow_tensor_set_entry(set, i);
            if (!is_vector_entry(e) || e->shape[e->ndim - 1] != ow_tensor_set_entry(set, 0)->shape[ow_tensor_set_entry(set, 0)->ndim - 1])
                return ow_error_set(err, OW_ERR_NOT_FOUND,
                                    "the file holds no embedding layout (no emb_params, clip_l/clip_g, and not "
                                    "token -> vectors of one width): is it a model checkpoint?");
        }
        /* Keep the file's order (the set's entries are in file order). */
        for (size_t i = 0; i < n && s == OW_OK; i++) {
            const ow_tensor_entry *e = ow_tensor_set_entry(set, i);
            s = add_entry(emb, e->name, strlen(e->name), e, -1, err);
        }
        format = "diffusers .safetensors (token -> vectors)";
    }
    return s == OW_OK ? ow_emb_strdup(&emb->format, format, err) : s;
}

static const char *extension_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot : "";
}

ow_status ow_embedding_load(ow_embedding **out, const char *path, ow_error *err) {
    *out = NULL;
    /* Only a regular file: opened without blocking, so a FIFO in its place is an error, not a wait. */
    FILE *f = NULL;
    ow_status s = ow_file_fopen_regular(path, "embedding file", &f, NULL, err);
    if (s != OW_OK) {
        struct stat st; /* (stat never blocks) */
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return ow_error_set(err, OW_ERR_NOT_FOUND, "'%s' is a folder, not an embedding file", path);
        return s;
    }
    unsigned char head[8] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    ow_embedding *emb = NULL;
    s = ow_embedding_create(&emb, err);
    if (s != OW_OK) return s;
    char *stem = ow_emb_file_stem(path);
    if (!stem) { ow_embedding_free(emb); return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory"); }
    const char *ext = extension_of(path);

    int png = got == 8 && memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (png || strcasecmp(ext, ".json") == 0) {
        char *data = NULL;
        size_t len = 0;
        s = ow_file_read_all(path, png ? "PNG embedding" : "JSON embedding", png ? MAX_PNG_FILE : OW_EMB_JSON_MAX_TEXT,
                             &data, &len, err);
        if (s == OW_OK)
            s = png ? ow_emb_read_png(emb, (const unsigned char *)data, len, stem, err)
                    : ow_emb_read_json_text(emb, data, len, stem, err);
        free(data);
    } else {
        ow_tensor_set *set = NULL;
        s = ow_tensor_set_open(&set, path, err);
        if (s == OW_OK) {
            const ow_pickle_value *root = ow_tensor_set_pickle_root(set);
            char ext_label[16];
            snprintf(ext_label, sizeof ext_label, "%s", *ext ? ext : ".pt");
            s = root ? read_torch_tree(emb, root, stem, ext_label, err) : read_safetensors(emb, set, stem, err);
            ow_tensor_set_free(set);
        }
    }
    free(stem);
    if (s == OW_OK && emb->count == 0) s = ow_error_set(err, OW_ERR_NOT_FOUND, "the file holds no tokens");
    if (s != OW_OK) {
        ow_embedding_free(emb);
        if (err && !strstr(err->message, path)) ow_error_prefix(err, "'%s'", path);
        return s;
    }
    *out = emb;
    return OW_OK;
}
