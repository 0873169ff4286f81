/* embedding_write.c: ow_embedding_save — writes embeddings in the layouts other
 * tools load, always atomically (temporary file + fsync + rename).
 *
 * .pt / .bin are torch zip archives that torch.load(weights_only=True) accepts:
 * <root>/data.pkl (a protocol-2 pickle we emit opcode by opcode, using only the
 * globals torch._utils._rebuild_tensor_v2, collections.OrderedDict and the
 * torch.*Storage classes), <root>/data/<key> (raw little-endian storages),
 * <root>/byteorder and <root>/version, all stored uncompressed, built in memory
 * with libzip and then written atomically. .safetensors goes through
 * ow_safetensors_write; .json through ow_emb_write_json. Each token is written in
 * the dtype it was read with, so values round-trip bit for bit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <zip.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "embeddings/embedding_private.h"
#include "formats/safetensors.h"
#include "tokenizer/tokenizer.h"

#define A1111_PLACEHOLDER "*"
#define A1111_PLACEHOLDER_ID 265 /* CLIP's id of "*", what A1111 stores in string_to_token */
#define BERT_STAR_ID 1008        /* bert-base-uncased's id of "*", the reference's LDM placeholder */

/* ---- tensor bytes in the stored dtype ---- */

static unsigned char *encode_rows(const float *rows, size_t n, ow_dtype dtype, size_t *nbytes) {
    size_t elem = dtype == OW_DTYPE_F32 ? 4 : 2;
    unsigned char *out = malloc(n * elem + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (dtype == OW_DTYPE_F32) {
            memcpy(out + 4 * i, &rows[i], 4); /* little-endian hosts only, as the rest of the engine */
        } else {
            uint16_t h = dtype == OW_DTYPE_F16 ? ow_f32_to_f16(rows[i]) : ow_f32_to_bf16(rows[i]);
            out[2 * i] = (unsigned char)(h & 0xff);
            out[2 * i + 1] = (unsigned char)(h >> 8);
        }
    }
    *nbytes = n * elem;
    return out;
}

/* ---- a growable byte buffer and pickle opcodes ---- */

typedef struct bytes {
    unsigned char *data;
    size_t len, cap;
    int failed;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) { b->failed = 1; return; }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void op(bytes *b, unsigned char c) { put(b, &c, 1); }

static void pk_string(bytes *b, const char *s) { /* BINUNICODE */
    uint32_t n = (uint32_t)strlen(s);
    unsigned char head[5] = {'X', (unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                             (unsigned char)(n >> 24)};
    put(b, head, 5);
    put(b, s, n);
}

static void pk_int(bytes *b, int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) { /* BININT */
        uint32_t u = (uint32_t)(int32_t)v;
        unsigned char x[5] = {'J', (unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        put(b, x, 5);
    } else { /* LONG1 with 8 bytes, two's complement */
        uint64_t u = (uint64_t)v;
        unsigned char x[10] = {0x8a, 8};
        for (int i = 0; i < 8; i++) x[2 + i] = (unsigned char)(u >> (8 * i));
        put(b, x, 10);
    }
}

static void pk_global(bytes *b, const char *module, const char *name) {
    op(b, 'c');
    put(b, module, strlen(module));
    op(b, '\n');
    put(b, name, strlen(name));
    op(b, '\n');
}

static void pk_optional_string(bytes *b, const char *s) {
    if (s) pk_string(b, s);
    else op(b, 'N');
}

/* A tensor as torch.save writes it:
 * _rebuild_tensor_v2(persistent_id(('storage', <Storage>, key, 'cpu', numel)), 0, size, stride, False, OrderedDict()) */
static void pk_tensor(bytes *b, const char *storage_class, int key, int ndim, const int64_t *shape) {
    char key_text[24];
    snprintf(key_text, sizeof key_text, "%d", key);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    pk_string(b, "storage");
    pk_global(b, "torch", storage_class);
    pk_string(b, key_text);
    pk_string(b, "cpu");
    pk_int(b, numel);
    op(b, 't');
    op(b, 'Q'); /* BINPERSID */
    pk_int(b, 0);
    op(b, '(');
    for (int d = 0; d < ndim; d++) pk_int(b, shape[d]);
    op(b, 't');
    op(b, '(');
    int64_t stride = 1;
    int64_t strides[2] = {0, 0};
    for (int d = ndim - 1; d >= 0; d--) { strides[d] = stride; stride *= shape[d]; }
    for (int d = 0; d < ndim; d++) pk_int(b, strides[d]);
    op(b, 't');
    op(b, 0x89); /* NEWFALSE: requires_grad */
    pk_global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    op(b, 't');
    op(b, 'R');
}

static const char *storage_class(ow_dtype dtype) {
    return dtype == OW_DTYPE_F16 ? "HalfStorage" : dtype == OW_DTYPE_BF16 ? "BFloat16Storage" : "FloatStorage";
}

/* Storages of the archive, in key order. */
typedef struct storage_list {
    unsigned char **data;
    size_t *size;
    int count;
} storage_list;

static int add_storage(storage_list *st, unsigned char *data, size_t size) {
    unsigned char **d = realloc(st->data, (size_t)(st->count + 1) * sizeof *d);
    if (d) st->data = d;
    size_t *s = d ? realloc(st->size, (size_t)(st->count + 1) * sizeof *s) : NULL;
    if (s) st->size = s;
    if (!d || !s || !data) { free(data); return -1; }
    st->data[st->count] = data;
    st->size[st->count] = size;
    return st->count++;
}

static void free_storages(storage_list *st) {
    for (int i = 0; i < st->count; i++) free(st->data[i]);
    free(st->data);
    free(st->size);
}

/* Pickles the rows of token t as a tensor ((n, dim), or (dim) when flat) into b. */
static int pk_token_tensor(bytes *b, storage_list *st, const ow_emb_token *t, int dim) {
    size_t nbytes = 0;
    unsigned char *data = encode_rows(t->rows, (size_t)t->n * (size_t)dim, t->dtype, &nbytes);
    int key = add_storage(st, data, nbytes);
    if (key < 0) return -1;
    int64_t shape[2] = {t->n, dim};
    pk_tensor(b, storage_class(t->dtype), key, 2, shape);
    return 0;
}

static int pk_token_id(bytes *b, storage_list *st, int64_t id) {
    unsigned char *data = malloc(8);
    if (!data) return -1;
    uint64_t u = (uint64_t)id;
    for (int i = 0; i < 8; i++) data[i] = (unsigned char)(u >> (8 * i));
    int key = add_storage(st, data, 8);
    if (key < 0) return -1;
    pk_tensor(b, "LongStorage", key, 0, NULL);
    return 0;
}

/* ---- the zip archive ---- */

static ow_status zip_error(zip_t *za, const char *what, ow_error *err) {
    return ow_error_set(err, OW_ERR_IO, "building the torch archive (%s): %s", what, za ? zip_strerror(za) : "libzip");
}

static ow_status add_member(zip_t *za, const char *name, const void *data, size_t size, ow_error *err) {
    zip_source_t *src = zip_source_buffer(za, data, size, 0);
    if (!src) return zip_error(za, name, err);
    zip_int64_t index = zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (index < 0) {
        zip_source_free(src);
        return zip_error(za, name, err);
    }
    if (zip_set_file_compression(za, (zip_uint64_t)index, ZIP_CM_STORE, 0) != 0) return zip_error(za, name, err);
    /* A fixed date (1980-01-01), so the same embedding gives the same bytes. */
    if (zip_file_set_dostime(za, (zip_uint64_t)index, 0, (1 << 5) | 1, 0) != 0) return zip_error(za, name, err);
    return OW_OK;
}

static ow_status write_torch_zip(const char *path, const bytes *pickle, const storage_list *st, ow_error *err) {
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *mem = zip_source_buffer_create(NULL, 0, 0, &zerr);
    zip_t *za = mem ? zip_open_from_source(mem, ZIP_TRUNCATE, &zerr) : NULL;
    if (!za) {
        if (mem) zip_source_free(mem);
        zip_error_fini(&zerr);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "cannot start an in-memory zip archive");
    }
    zip_error_fini(&zerr);
    zip_source_keep(mem);
    /* torch names the root folder after the file; "archive" is what it uses for buffers. */
    ow_status s = add_member(za, "archive/data.pkl", pickle->data, pickle->len, err);
    if (s == OW_OK) s = add_member(za, "archive/byteorder", "little", 6, err);
    char name[64];
    for (int i = 0; s == OW_OK && i < st->count; i++) {
        snprintf(name, sizeof name, "archive/data/%d", i);
        s = add_member(za, name, st->data[i], st->size[i], err);
    }
    if (s == OW_OK) s = add_member(za, "archive/version", "3\n", 2, err);
    if (s != OW_OK) {
        zip_discard(za);
        zip_source_free(mem);
        return s;
    }
    if (zip_close(za) != 0) {
        s = zip_error(za, "closing", err);
        zip_discard(za);
        zip_source_free(mem);
        return s;
    }
    /* Read the finished archive back out of the memory source. */
    zip_stat_t stat;
    unsigned char *data = NULL;
    if (zip_source_stat(mem, &stat) == 0 && (stat.valid & ZIP_STAT_SIZE) && zip_source_open(mem) == 0) {
        data = malloc(stat.size ? stat.size : 1);
        if (data && zip_source_read(mem, data, stat.size) != (zip_int64_t)stat.size) {
            free(data);
            data = NULL;
        }
        zip_source_close(mem);
    }
    if (!data) s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "cannot read back the zip archive built in memory");
    else s = ow_atomic_write(path, data, stat.size, err);
    free(data);
    zip_source_free(mem);
    return s;
}

/* ---- string_to_token ids ---- */

/* The reference repo maps each placeholder to its single token id: CLIP's for SD
 * (768 wide), BERT's WordPiece for its LDM text2img model (1280 wide), whose
 * EmbeddingManager puts the vector wherever that id stands. Tokens read from a file
 * keep their id; new ones get the tokenizer's id when they are one token (the
 * vocabulary is found as the model loader finds it), otherwise "*"'s: 265 for CLIP
 * (what A1111 writes, and what A1111 and diffusers ignore), 1008 for BERT. In the
 * one-token A1111 layout the key is "*", so its id is "*"'s. */
static void fill_token_ids(const ow_embedding *emb, int single, int64_t *ids) {
    const int bert = emb->dim == 1280;
    ow_tokenizer *tok = NULL;
    char path[4096];
    ow_status loaded = bert ? ow_tokenizer_load_wordpiece(&tok, ow_tokenizer_bert_vocab_path(path, sizeof path), NULL)
                            : ow_tokenizer_load(&tok, ow_tokenizer_vocab_path(path, sizeof path), NULL);
    if (loaded != OW_OK) tok = NULL;
    int64_t star = bert ? BERT_STAR_ID : A1111_PLACEHOLDER_ID;
    for (size_t i = 0; i < emb->count; i++) {
        ids[i] = emb->tokens[i].clip_id >= 0 ? emb->tokens[i].clip_id : star;
        if (emb->tokens[i].clip_id >= 0 || single) continue;
        int32_t id[2];
        size_t n = 0;
        if (tok && ow_tokenizer_tokenize(tok, emb->tokens[i].token, id, 2, &n, NULL) == OW_OK && n == 1) ids[i] = id[0];
    }
    ow_tokenizer_free(tok);
}

/* ---- layouts ---- */

/* {'string_to_token': {tok: id}, 'string_to_param': {tok: (n, H)}, 'name', 'step',
 * 'sd_checkpoint', 'sd_checkpoint_name'}. One token: A1111's layout (placeholder '*',
 * name = the token). Several: the reference repo's layout (placeholders = tokens). */
static ow_status write_string_to_param(const ow_embedding *emb, const char *path, ow_error *err) {
    bytes b = {0};
    storage_list st = {0};
    int single = emb->count == 1, bad = 0;
    int64_t *ids = malloc(emb->count * sizeof *ids);
    if (!ids) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    fill_token_ids(emb, single, ids);
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    pk_string(&b, "string_to_token");
    op(&b, '}');
    op(&b, '(');
    for (size_t i = 0; i < emb->count && !bad; i++) {
        const ow_emb_token *t = &emb->tokens[i];
        pk_string(&b, single ? A1111_PLACEHOLDER : t->token);
        bad |= pk_token_id(&b, &st, ids[i]);
    }
    op(&b, 'u');
    pk_string(&b, "string_to_param");
    op(&b, '}');
    op(&b, '(');
    for (size_t i = 0; i < emb->count && !bad; i++) {
        pk_string(&b, single ? A1111_PLACEHOLDER : emb->tokens[i].token);
        bad |= pk_token_tensor(&b, &st, &emb->tokens[i], emb->dim);
    }
    op(&b, 'u');
    /* A1111 writes all four keys (None when unknown); the reference layout has none. */
    const char *name = single ? emb->tokens[0].token : emb->name;
    if (single || name) { pk_string(&b, "name"); pk_optional_string(&b, name); }
    if (single || emb->step >= 0) {
        pk_string(&b, "step");
        if (emb->step >= 0) pk_int(&b, emb->step);
        else op(&b, 'N');
    }
    if (single || emb->checkpoint) { pk_string(&b, "sd_checkpoint"); pk_optional_string(&b, emb->checkpoint); }
    if (single || emb->checkpoint_name) {
        pk_string(&b, "sd_checkpoint_name");
        pk_optional_string(&b, emb->checkpoint_name);
    }
    op(&b, 'u');
    op(&b, '.');
    ow_status s = b.failed || bad ? ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory") : write_torch_zip(path, &b, &st, err);
    free(b.data);
    free_storages(&st);
    free(ids);
    return s;
}

/* diffusers: {token: (n, H)} */
static ow_status write_token_dict_pt(const ow_embedding *emb, const char *path, ow_error *err) {
    bytes b = {0};
    storage_list st = {0};
    int bad = 0;
    op(&b, 0x80);
    op(&b, 2);
    op(&b, '}');
    op(&b, '(');
    for (size_t i = 0; i < emb->count && !bad; i++) {
        pk_string(&b, emb->tokens[i].token);
        bad |= pk_token_tensor(&b, &st, &emb->tokens[i], emb->dim);
    }
    op(&b, 'u');
    op(&b, '.');
    ow_status s = b.failed || bad ? ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory") : write_torch_zip(path, &b, &st, err);
    free(b.data);
    free_storages(&st);
    return s;
}

/* .safetensors: A1111 {"emb_params"} or SDXL {"clip_l", "clip_g"} (one token, name in
 * the metadata), or diffusers {token: (n, H)}. */
static ow_status write_safetensors(const ow_embedding *emb, const char *path, int a1111, ow_error *err) {
    size_t n = emb->dim_g ? 2 : emb->count;
    ow_tensor_entry *entries = calloc(n, sizeof *entries);
    if (!entries) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    ow_status s = OW_OK;
    for (size_t i = 0; i < n && s == OW_OK; i++) {
        const ow_emb_token *t = &emb->tokens[emb->dim_g ? 0 : i];
        int g = emb->dim_g && i == 1, dim = g ? emb->dim_g : emb->dim;
        size_t nbytes = 0;
        unsigned char *data = encode_rows(g ? t->rows_g : t->rows, (size_t)t->n * (size_t)dim, t->dtype, &nbytes);
        if (!data) { s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory"); break; }
        entries[i].name = emb->dim_g ? (char *)(g ? "clip_g" : "clip_l") : a1111 ? (char *)"emb_params" : t->token;
        entries[i].dtype = t->dtype;
        entries[i].ndim = 2;
        entries[i].shape[0] = t->n;
        entries[i].shape[1] = dim;
        entries[i].data = data;
        entries[i].nbytes = nbytes;
    }
    if (s == OW_OK) {
        const char *meta[12];
        int k = 0;
        char step[32];
        const char *name = (a1111 || emb->dim_g) ? emb->tokens[0].token : emb->name;
        if (name) { meta[k++] = "name"; meta[k++] = name; }
        if (emb->step >= 0) {
            snprintf(step, sizeof step, "%" PRId64, emb->step);
            meta[k++] = "step";
            meta[k++] = step;
        }
        if (emb->checkpoint) { meta[k++] = "sd_checkpoint"; meta[k++] = emb->checkpoint; }
        if (emb->checkpoint_name) { meta[k++] = "sd_checkpoint_name"; meta[k++] = emb->checkpoint_name; }
        meta[k++] = "format";
        meta[k++] = "oneword-embedding";
        meta[k] = NULL;
        s = ow_safetensors_write(path, entries, n, meta, err);
    }
    for (size_t i = 0; i < n; i++) free((void *)entries[i].data);
    free(entries);
    return s;
}

static const char *extension_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot : "";
}

ow_status ow_embedding_save(const ow_embedding *emb, const char *path, ow_embedding_layout layout, ow_error *err) {
    if (emb->count == 0) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the embedding has no tokens to write");
    const char *ext = extension_of(path);
    int pt = strcasecmp(ext, ".pt") == 0 || strcasecmp(ext, ".ckpt") == 0, bin = strcasecmp(ext, ".bin") == 0;
    int st = strcasecmp(ext, ".safetensors") == 0, json = strcasecmp(ext, ".json") == 0;
    if (!pt && !bin && !st && !json)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "cannot tell the format from '%s': name it .pt, .bin, .safetensors or .json", path);
    if (json) return ow_emb_write_json(emb, path, err);
    if (emb->dim_g) {
        if (!st)
            return ow_error_set(err, OW_ERR_UNSUPPORTED,
                                "SDXL embeddings (clip_l + clip_g) are written as .safetensors or .json only");
        if (emb->count != 1)
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "an SDXL .safetensors file holds one token, this has %zu",
                                emb->count);
        return write_safetensors(emb, path, 0, err);
    }
    if (layout == OW_EMBEDDING_LAYOUT_AUTO)
        layout = bin ? OW_EMBEDDING_LAYOUT_DIFFUSERS
                     : st && emb->count > 1 ? OW_EMBEDDING_LAYOUT_DIFFUSERS : OW_EMBEDDING_LAYOUT_A1111;
    if (st && layout == OW_EMBEDDING_LAYOUT_A1111 && emb->count != 1)
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "the A1111 .safetensors layout (emb_params) holds one token and this embedding has %zu: "
                            "use --layout diffusers, or write .pt (the reference layout holds several)", emb->count);
    if (st) return write_safetensors(emb, path, layout == OW_EMBEDDING_LAYOUT_A1111, err);
    return layout == OW_EMBEDDING_LAYOUT_DIFFUSERS ? write_token_dict_pt(emb, path, err)
                                                   : write_string_to_param(emb, path, err);
}
