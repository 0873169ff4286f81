/* embeddings.c: textual-inversion embeddings in a loaded model — the public
 * ow_model_add_embedding* calls, prompt encoding where a token with k vectors
 * becomes k consecutive ids (as A1111 and diffusers' maybe_convert_prompt do; the
 * 77-token limit counts the expanded ids), and the extra text-encoder rows.
 *
 * Each token is added to the model's tokenizer (ow_tokenizer_add_token: matched
 * case-sensitively anywhere in the raw prompt, like transformers' added tokens)
 * and its vectors are appended to one row table; id vocab_size + r of the text
 * encoder selects row r. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"

static void warn(ow_model *m, const char *fmt, ...) OW_PRINTF(2, 3);
static void warn(ow_model *m, const char *fmt, ...) {
    if (!m->log) return;
    char message[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    m->log(m->log_user, 1, message);
}

void ow_model_embeddings_free(ow_model *m) {
    ow_model_embeddings *e = m->embeddings;
    if (!e) return;
    for (size_t i = 0; i < e->count; i++) {
        free(e->tokens[i].token);
        free(e->tokens[i].source);
    }
    free(e->tokens);
    free(e->rows);
    if (e->device_rows) m->backend->free(m->backend, e->device_rows);
    free(e);
    m->embeddings = NULL;
}

size_t ow_model_embedding_count(const ow_model *m) {
    return m->embeddings ? m->embeddings->count : 0;
}

static const ow_model_token *find(const ow_model_embeddings *e, const char *token) {
    for (size_t i = 0; e && i < e->count; i++)
        if (strcmp(e->tokens[i].token, token) == 0) return &e->tokens[i];
    return NULL;
}

static const ow_model_token *find_id(const ow_model_embeddings *e, int32_t id) {
    for (size_t i = 0; e && i < e->count; i++)
        if (e->tokens[i].tokenizer_id == id) return &e->tokens[i];
    return NULL;
}

ow_status ow_model_add_embedding_data(ow_model *m, const ow_embedding *emb, const char *source, ow_error *err) {
    const int H = m->text_encoder->config.hidden_size;
    if (!source) source = "memory";
    if (ow_embedding_is_sdxl(emb))
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "'%s' is an SDXL embedding (clip_l + clip_g); oneword generates with SD 1.x models only so "
                            "far, so it cannot be used yet", source);
    if (ow_embedding_dim(emb) != H)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "'%s' holds %d-wide vectors, made for %s, but this model's text encoder takes %d-wide ones: "
                            "use an embedding trained for this kind of model", source, ow_embedding_dim(emb),
                            ow_embedding_model_family(emb), H);
    /* Check every token first, so a failure adds nothing. */
    int new_rows = 0;
    for (size_t i = 0; i < ow_embedding_count(emb); i++) {
        const char *tok = ow_embedding_token(emb, i);
        const ow_model_token *old = find(m->embeddings, tok);
        if (old)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "the token '%s' of '%s' is already loaded from '%s'; rename one of them "
                                "(oneword merge --rename or convert)", tok, source, old->source);
        for (size_t j = 0; j < i; j++)
            if (strcmp(ow_embedding_token(emb, j), tok) == 0)
                return ow_error_set(err, OW_ERR_FORMAT, "'%s' holds the token '%s' twice", source, tok);
        new_rows += ow_embedding_vectors(emb, i, NULL, NULL);
    }
    if (!m->embeddings && !(m->embeddings = calloc(1, sizeof *m->embeddings)))
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    ow_model_embeddings *e = m->embeddings;
    if (e->n_rows + new_rows > e->rows_cap) {
        int cap = e->rows_cap ? e->rows_cap : 16;
        while (cap < e->n_rows + new_rows) cap *= 2;
        float *grown = realloc(e->rows, (size_t)cap * (size_t)H * sizeof *grown);
        if (!grown) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        e->rows = grown;
        e->rows_cap = cap;
    }
    if (e->count + ow_embedding_count(emb) > e->cap) {
        size_t cap = e->cap ? e->cap : 8;
        while (cap < e->count + ow_embedding_count(emb)) cap *= 2;
        ow_model_token *grown = realloc(e->tokens, cap * sizeof *grown);
        if (!grown) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        e->tokens = grown;
        e->cap = cap;
    }
    for (size_t i = 0; i < ow_embedding_count(emb); i++) {
        const char *tok = ow_embedding_token(emb, i);
        const float *rows;
        int n = ow_embedding_vectors(emb, i, &rows, NULL);
        int32_t id;
        ow_status s = ow_tokenizer_add_token(m->tokenizer, tok, &id, err);
        if (s != OW_OK) return ow_error_prefix(err, "token '%s' of '%s'", tok, source);
        ow_model_token t = {strdup(tok), strdup(source), id, e->n_rows, n};
        if (!t.token || !t.source) {
            free(t.token);
            free(t.source);
            return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        }
        memcpy(e->rows + (size_t)e->n_rows * H, rows, (size_t)n * H * sizeof *rows);
        e->n_rows += n;
        e->tokens[e->count++] = t;
    }
    return OW_OK;
}

ow_status ow_model_add_embedding(ow_model *m, const char *path, ow_error *err) {
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_load(&emb, path, err);
    if (s != OW_OK) return s;
    s = ow_model_add_embedding_data(m, emb, path, err);
    ow_embedding_free(emb);
    return s;
}

static int is_embedding_name(const char *name) {
    static const char *const exts[] = {".pt", ".bin", ".safetensors", ".png", ".json"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || name[0] == '.') return 0;
    if (strcasecmp(dot, ".png") == 0) { /* A1111 skips its "<name>.preview.png" thumbnails */
        size_t n = (size_t)(dot - name);
        if (n >= 8 && strncasecmp(dot - 8, ".preview", 8) == 0) return 0;
    }
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0) return 1;
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ow_status ow_model_add_embedding_dir(ow_model *m, const char *dir, ow_error *err) {
    DIR *d = opendir(dir);
    if (!d) return ow_error_set(err, OW_ERR_IO, "cannot open the embeddings folder '%s'", dir);
    char **names = NULL;
    size_t count = 0, cap = 0;
    ow_status s = OW_OK;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!is_embedding_name(entry->d_name)) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 32;
            char **grown = realloc(names, cap * sizeof *grown);
            if (!grown) { s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory"); break; }
            names = grown;
        }
        if (!(names[count] = strdup(entry->d_name))) { s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory"); break; }
        count++;
    }
    closedir(d);
    if (s == OW_OK) qsort(names, count, sizeof *names, compare_names); /* the same order on every system */
    for (size_t i = 0; s == OW_OK && i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) continue;
        ow_error file_err = {0};
        ow_embedding *emb = NULL;
        ow_status fs = ow_embedding_load(&emb, path, &file_err);
        if (fs == OW_OK && ow_embedding_count(emb) == 1) {
            /* As A1111: a one-token file is used under its file name. */
            char *stem = strdup(names[i]);
            if (stem) *strrchr(stem, '.') = 0;
            fs = stem ? ow_embedding_rename(emb, ow_embedding_token(emb, 0), stem, &file_err)
                      : ow_error_set(&file_err, OW_ERR_OUT_OF_MEMORY, "out of memory");
            free(stem);
        }
        if (fs == OW_OK) fs = ow_model_add_embedding_data(m, emb, path, &file_err);
        if (fs == OW_ERR_OUT_OF_MEMORY) s = ow_error_set(err, fs, "%s", file_err.message);
        else if (fs != OW_OK) warn(m, "skipping embedding '%s': %s", path, file_err.message);
        ow_embedding_free(emb);
    }
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
    return s;
}

/* ---- prompts ---- */

ow_status ow_model_encode_ids(ow_model *m, const char *text, const char *what, int32_t *ids, ow_error *err) {
    const ow_model_embeddings *e = m->embeddings;
    const int context = m->text_length, room = context - 2;
    const int32_t base = m->text_encoder->config.vocab_size;
    if (!text) text = "";
    size_t n = 0;
    ow_status s = ow_tokenizer_tokenize(m->tokenizer, text, NULL, 0, &n, err);
    if (s != OW_OK) return ow_error_prefix(err, "%s", what);
    int32_t *content = malloc((n ? n : 1) * sizeof *content);
    if (!content) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    s = ow_tokenizer_tokenize(m->tokenizer, text, content, n, &n, err);
    if (s != OW_OK) { free(content); return ow_error_prefix(err, "%s", what); }
    int used = 0;
    size_t total = 0, first_cut = n;
    int cut_inside = 0; /* the cut falls inside a multi-vector token */
    ids[used++] = ow_tokenizer_bos_id(m->tokenizer);
    for (size_t i = 0; i < n; i++) {
        const ow_model_token *t = content[i] >= ow_tokenizer_base_vocab_size(m->tokenizer) ? find_id(e, content[i]) : NULL;
        if (!t && content[i] >= base) { /* a token table cut shorter than the tokenizer's vocabulary */
            const int32_t id = content[i];
            free(content);
            return ow_error_set(err, OW_ERR_FORMAT, "%s: token id %d is outside the text encoder's %d-row token table",
                                what, (int)id, (int)base);
        }
        int k = t ? t->n : 1;
        for (int v = 0; v < k; v++) {
            if (used - 1 < room) ids[used++] = t ? base + t->first_row + v : content[i];
            else if (first_cut == n) { first_cut = i; cut_inside = v > 0; }
        }
        total += (size_t)k;
    }
    ids[used++] = ow_tokenizer_eos_id(m->tokenizer);
    while (used < context) ids[used++] = m->pad_id;
    if (first_cut < n && m->log) {
        char cut[400];
        size_t needed = 0;
        if (ow_tokenizer_decode(m->tokenizer, content + first_cut, n - first_cut, cut, sizeof cut, &needed, NULL) != OW_OK)
            snprintf(cut, sizeof cut, "?");
        warn(m, "the %s is %zu tokens long after expanding embeddings; the text encoder reads %d, so this end was cut%s: \"%s%s\"",
             what, total + 2, context, cut_inside ? " (starting inside the vectors of its first token)" : "", cut,
             needed > sizeof cut ? "..." : "");
    }
    free(content);
    return OW_OK;
}

ow_status ow_model_text_extra(ow_model *m, const ow_clip_text_extra **extra, ow_error *err) {
    *extra = NULL;
    ow_model_embeddings *e = m->embeddings;
    if (!e || e->n_rows == 0) return OW_OK;
    ow_backend *b = m->backend;
    const size_t H = (size_t)m->text_encoder->config.hidden_size;
    if (e->device_count != e->n_rows) {
        if (e->device_rows) b->free(b, e->device_rows);
        e->device_count = 0;
        e->device_rows = b->alloc(b, (size_t)e->n_rows * H);
        if (!e->device_rows) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for embedding vectors");
        b->upload(b, e->device_rows, e->rows, (size_t)e->n_rows * H);
        e->device_count = e->n_rows;
    }
    e->extra.rows = e->device_rows;
    e->extra.count = e->device_count;
    *extra = &e->extra;
    return OW_OK;
}

ow_status ow_model_encode_prompt(ow_model *m, const char *text, int clip_skip, float *out, ow_error *err) {
    int32_t ids[OW_CLIP_CONTEXT];
    ow_status s = ow_model_encode_ids(m, text, "prompt", ids, err);
    const ow_clip_text_extra *extra = NULL;
    if (s == OW_OK) s = ow_model_text_extra(m, &extra, err);
    if (s != OW_OK) return s;
    ow_backend *b = m->backend;
    const size_t n = (size_t)m->text_length * (size_t)m->text_encoder->config.hidden_size;
    float *dev = b->alloc(b, n);
    if (!dev) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    s = ow_clip_text_forward(m->text_encoder, b, ids, 1, m->text_length, clip_skip, extra, dev, err);
    if (s == OW_OK) b->download(b, out, dev, n);
    b->free(b, dev);
    return s;
}
