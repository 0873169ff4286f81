/* embedding_read.c: ow_embedding_load — detects which embedding layout a file
 * holds and reads its tokens, vectors and metadata.
 *
 * Torch files (.pt/.bin, zip or legacy) are opened through ow_tensor_set_open,
 * i.e. the restricted pickle machine: nothing in them can run code. Their object
 * tree decides the layout (string_to_param, emb_params, clip_l/clip_g, or a
 * token -> tensor dict). .safetensors files decide from tensor names and the
 * "__metadata__" map. PNG and JSON files have their own readers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"
#include "embeddings/embedding_private.h"
#include "formats/pickle.h"
#include "formats/tensor_set.h"

#define MAX_SIDE_FILE ((size_t)256 << 20) /* PNG / JSON embeddings are read whole up to this size */

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
    if (e->nbytes != (size_t)(n * dim) * ow_dtype_size(e->dtype) || !e->data)
        return ow_error_set(err, OW_ERR_FORMAT, "%s: its data size does not match its shape", what);
    float *rows = malloc((size_t)(n * dim) * sizeof *rows);
    if (!rows) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    ow_status s = ow_tensor_entry_to_f32(e, rows, err);
    if (s != OW_OK) { free(rows); return s; }
    *n_out = (int)n;
    *dim_out = (int)dim;
    *rows_out = rows;
    return OW_OK;
}

static ow_status add_entry(ow_embedding *emb, const char *token, const ow_tensor_entry *e, int64_t clip_id, ow_error *err) {
    int n = 0, dim = 0;
    float *rows = NULL;
    char what[600];
    snprintf(what, sizeof what, "the vectors of '%.500s'", token);
    ow_status s = rows_from_entry(e, what, &n, &dim, &rows, err);
    if (s != OW_OK) return s;
    return ow_emb_append(emb, token, n, dim, rows, 0, NULL, e->dtype, clip_id, err);
}

/* SDXL: clip_l (n, 768) and clip_g (n, 1280) under one token. */
static ow_status add_sdxl(ow_embedding *emb, const char *token, const ow_tensor_entry *l, const ow_tensor_entry *g,
                          ow_error *err) {
    int nl = 0, dl = 0, ng = 0, dg = 0;
    float *rl = NULL, *rg = NULL;
    ow_status s = rows_from_entry(l, "clip_l", &nl, &dl, &rl, err);
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

static const char *tree_string(const ow_pickle_value *dict, const char *key) {
    const ow_pickle_value *v = ow_pickle_dict_get(dict, key);
    return v && ow_pickle_kind_of(v) == OW_PICKLE_STRING ? ow_pickle_string(v, NULL) : NULL;
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
    ow_status s = ow_emb_strdup(&emb->name, tree_string(root, "name"), err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint, tree_string(root, "sd_checkpoint"), err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint_name, tree_string(root, "sd_checkpoint_name"), err);
    const ow_pickle_value *step = ow_pickle_dict_get(root, "step");
    if (step && ow_pickle_kind_of(step) == OW_PICKLE_INT && ow_pickle_int(step) >= 0) emb->step = ow_pickle_int(step);
    return s;
}

static ow_status read_torch_tree(ow_embedding *emb, const ow_pickle_value *root, const char *stem, const char *ext,
                                 ow_error *err) {
    char format[64];
    if (ow_pickle_tensor(root)) { /* torch.save(tensor): diffusers accepts it with an explicit token */
        snprintf(format, sizeof format, "bare tensor %s", ext);
        ow_status s = add_entry(emb, stem, ow_pickle_tensor(root), -1, err);
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
            const char *placeholder = ow_pickle_string(key, NULL);
            const ow_pickle_value *value = keys ? ow_pickle_dict_get(params, placeholder) : ow_pickle_dict_value(params, i);
            if (!value)
                return ow_error_set(err, OW_ERR_FORMAT, "string_to_param (a %s) lists '%.200s' but holds no parameter for it",
                                    module, placeholder);
            const ow_tensor_entry *e = ow_pickle_tensor(value);
            if (!e)
                return ow_error_set(err, OW_ERR_FORMAT, "string_to_param['%.200s'] is a %s, not a tensor", placeholder,
                                    ow_pickle_kind_name(ow_pickle_kind_of(value)));
            /* One placeholder in a file with a name: A1111 / diffusers use the name as the token. */
            const char *token = n == 1 && emb->name && emb->name[0] ? emb->name : placeholder;
            s = add_entry(emb, token, e, token_id_of(ow_pickle_dict_get(ids, placeholder)), err);
        }
        int a1111 = emb->name || emb->step >= 0 || ow_pickle_dict_get(root, "name") || ow_pickle_dict_get(root, "step");
        snprintf(format, sizeof format, "%s %s (string_to_param%s)", a1111 ? "A1111" : "reference", ext,
                 module ? ", ParameterDict" : "");
    } else if (emb_params) {
        const ow_tensor_entry *e = ow_pickle_tensor(emb_params);
        if (!e) return ow_error_set(err, OW_ERR_FORMAT, "emb_params is not a tensor");
        s = add_entry(emb, emb->name && emb->name[0] ? emb->name : stem, e, -1, err);
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
        int first_dim = -1;
        for (size_t i = 0; i < n; i++) {
            const ow_tensor_entry *e = ow_pickle_tensor(ow_pickle_dict_value(root, i));
            int dim = is_vector_entry(e) ? (int)e->shape[e->ndim - 1] : -1;
            if (ow_pickle_kind_of(ow_pickle_dict_key(root, i)) != OW_PICKLE_STRING || dim < 0 ||
                (first_dim >= 0 && dim != first_dim))
                return ow_error_set(err, OW_ERR_NOT_FOUND,
                                    "the file holds no embedding layout (no string_to_param, emb_params, clip_l/clip_g, "
                                    "and not a dict of token -> vectors of one width): is it a model checkpoint?");
            first_dim = dim;
        }
        for (size_t i = 0; i < n && s == OW_OK; i++)
            s = add_entry(emb, ow_pickle_string(ow_pickle_dict_key(root, i), NULL),
                          ow_pickle_tensor(ow_pickle_dict_value(root, i)), -1, err);
        snprintf(format, sizeof format, "diffusers %s (token -> vectors)", ext);
    }
    return s == OW_OK ? ow_emb_strdup(&emb->format, format, err) : s;
}

/* ---- safetensors ---- */

static ow_status read_safetensors(ow_embedding *emb, const ow_tensor_set *set, const char *stem, ow_error *err) {
    const char *name = ow_tensor_set_metadata(set, "name");
    ow_status s = ow_emb_strdup(&emb->name, name, err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint, ow_tensor_set_metadata(set, "sd_checkpoint"), err);
    if (s == OW_OK) s = ow_emb_strdup(&emb->checkpoint_name, ow_tensor_set_metadata(set, "sd_checkpoint_name"), err);
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
        s = add_entry(emb, token, emb_params, -1, err);
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
            s = add_entry(emb, e->name, e, -1, err);
        }
        format = "diffusers .safetensors (token -> vectors)";
    }
    return s == OW_OK ? ow_emb_strdup(&emb->format, format, err) : s;
}

/* ---- whole small files (PNG, JSON) ---- */

static ow_status read_whole(const char *path, unsigned char **out, size_t *len, ow_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ow_error_set(err, OW_ERR_IO, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > MAX_SIDE_FILE) {
        fclose(f);
        return ow_error_set(err, OW_ERR_FORMAT, "'%s' is larger than %zu MiB: too big for an embedding", path,
                            MAX_SIDE_FILE >> 20);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *data = malloc(size + 1);
    if (!data) { fclose(f); return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory"); }
    size_t got = fread(data, 1, size, f);
    fclose(f);
    if (got != size) { free(data); return ow_error_set(err, OW_ERR_IO, "cannot read '%s'", path); }
    data[size] = 0;
    *out = data;
    *len = size;
    return OW_OK;
}

static const char *extension_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot : "";
}

ow_status ow_embedding_load(ow_embedding **out, const char *path, ow_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return ow_error_set(err, OW_ERR_IO, "cannot open '%s': no such file", path);
    if (S_ISDIR(st.st_mode)) return ow_error_set(err, OW_ERR_NOT_FOUND, "'%s' is a folder, not an embedding file", path);
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_create(&emb, err);
    if (s != OW_OK) return s;
    char *stem = ow_emb_file_stem(path);
    if (!stem) { ow_embedding_free(emb); return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory"); }
    const char *ext = extension_of(path);

    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (!f) s = ow_error_set(err, OW_ERR_IO, "cannot open '%s'", path);
    else if (got == 8 && memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0) {
        unsigned char *data = NULL;
        size_t len = 0;
        s = read_whole(path, &data, &len, err);
        if (s == OW_OK) s = ow_emb_read_png(emb, data, len, stem, err);
        free(data);
    } else if (strcasecmp(ext, ".json") == 0) {
        unsigned char *data = NULL;
        size_t len = 0;
        s = read_whole(path, &data, &len, err);
        if (s == OW_OK) s = ow_emb_read_json_text(emb, (const char *)data, len, stem, err);
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
