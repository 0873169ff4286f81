/* learn_state.c: making, checking, saving and loading ow_learn_state. Floats go into
 * the metadata as C99 hexadecimal (%a), so a saved state reads back bit for bit. */
#include "train/learn_state.h"
#include "train/templates.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/text.h"
#include "formats/safetensors.h"
#include "formats/tensor_set.h"

#define STATE_FORMAT "oneword-learn-state"

uint64_t ow_fingerprint(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

ow_status ow_learn_images_id_add(ow_learn_images_id *id, const float *plane, int n, ow_error *err) {
    id->fingerprint = ow_fingerprint(id->fingerprint, plane, (size_t)n * n * sizeof *plane);
    const int g = n < OW_IMAGES_SUMMARY_GRID ? n : OW_IMAGES_SUMMARY_GRID;
    float *grown = realloc(id->summary, (id->n_summary + (size_t)g * g) * sizeof *grown);
    if (!grown) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory identifying the training images");
    id->summary = grown;
    float *out = grown + id->n_summary;
    for (int by = 0; by < g; by++)
        for (int bx = 0; bx < g; bx++) {
            /* block (by, bx) covers rows [by n / g, (by + 1) n / g) and the same columns */
            const int y0 = by * n / g, y1 = (by + 1) * n / g, x0 = bx * n / g, x1 = (bx + 1) * n / g;
            double sum = 0.0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) sum += plane[(size_t)y * n + x];
            out[by * g + bx] = (float)(sum / ((double)(y1 - y0) * (x1 - x0)));
        }
    id->n_summary += (size_t)g * g;
    return OW_OK;
}

void ow_learn_images_id_clear(ow_learn_images_id *id) {
    free(id->summary);
    id->summary = NULL;
    id->n_summary = 0;
}

/* Whether two runs' images are the same pictures (see ow_learn_images_id). */
static int same_images(const ow_learn_images_id *a, const ow_learn_images_id *b) {
    if (a->fingerprint == b->fingerprint) return 1;
    if (!a->summary || !b->summary || a->n_summary != b->n_summary) return 0;
    for (size_t i = 0; i < a->n_summary; i++)
        if (!(fabsf(a->summary[i] - b->summary[i]) <= OW_IMAGES_SUMMARY_TOLERANCE)) return 0;
    return 1;
}

void ow_learn_state_free(ow_learn_state *s) {
    if (!s) return;
    free(s->images.summary);
    free(s->epoch);
    free(s->placeholder);
    free(s->init_word);
    free(s->templates);
    free(s->rows);
    free(s->m1);
    free(s->m2);
    free(s);
}

int ow_learn_state_step(const ow_learn_state *s) { return s ? s->step : 0; }

ow_precision ow_learn_state_precision(const ow_learn_state *s) {
    return s && s->precision >= 0 ? (ow_precision)s->precision : OW_PRECISION_AUTO;
}

void ow_learn_state_params(const ow_learn_state *s, ow_learn_params *p) {
    p->placeholder = s->placeholder;
    p->init_word = s->init_word;
    p->templates = s->templates;
    p->vectors = s->vectors;
    p->steps = s->steps;
    p->batch = s->batch;
    p->grad_accum = s->grad_accum;
    p->size = s->size;
    p->scale_lr = s->scale_lr;
    p->force_placeholder = s->force_placeholder;
    p->learning_rate = s->learning_rate;
    p->flip = s->flip;
    p->center_crop = s->center_crop;
    p->weight_decay = s->weight_decay;
    p->seed = s->seed;
    p->embedding_reg_weight = s->embedding_reg_weight;
    p->rescale_norm = s->rescale_norm;
    p->repeats = s->repeats;
}

static ow_learn_state *state_new(int vectors, int H) {
    ow_learn_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t n = (size_t)vectors * H;
    s->rows = malloc(n * sizeof *s->rows);
    s->m1 = malloc(n * sizeof *s->m1);
    s->m2 = malloc(n * sizeof *s->m2);
    if (!s->rows || !s->m1 || !s->m2) {
        ow_learn_state_free(s);
        return NULL;
    }
    s->vectors = vectors;
    s->H = H;
    return s;
}

ow_status ow_learn_state_make(const ow_learn_params *p, int H, int step, int adam_t, const float *rows,
                              const float *m1, const float *m2, const ow_torch_rng *rng, const ow_learn_epoch *epoch,
                              uint64_t model_fingerprint, ow_precision precision, const ow_learn_images_id *images,
                              ow_learn_state **out, ow_error *err) {
    *out = NULL;
    ow_learn_state *s = state_new(p->vectors, H);
    if (!s) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory saving the training state");
    s->placeholder = strdup(p->placeholder);
    s->init_word = strdup(p->init_word);
    s->templates = strdup(p->templates ? p->templates : "object");
    if (!s->placeholder || !s->init_word || !s->templates) {
        ow_learn_state_free(s);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory saving the training state");
    }
    s->steps = p->steps;
    s->batch = p->batch;
    s->grad_accum = p->grad_accum;
    s->size = p->size;
    s->scale_lr = p->scale_lr;
    s->force_placeholder = p->force_placeholder;
    s->learning_rate = p->learning_rate;
    s->flip = p->flip;
    s->center_crop = p->center_crop != 0;
    s->weight_decay = p->weight_decay;
    s->embedding_reg_weight = p->embedding_reg_weight;
    s->rescale_norm = p->rescale_norm;
    s->repeats = p->repeats;
    s->seed = p->seed;
    s->step = step;
    s->adam_t = adam_t;
    const size_t n = (size_t)p->vectors * H * sizeof(float);
    memcpy(s->rows, rows, n);
    memcpy(s->m1, m1, n);
    memcpy(s->m2, m2, n);
    s->rng = *rng;
    if (epoch && epoch->order && epoch->len > 0) {
        if (!(s->epoch = malloc((size_t)epoch->len * sizeof *s->epoch))) {
            ow_learn_state_free(s);
            return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory saving the training state");
        }
        memcpy(s->epoch, epoch->order, (size_t)epoch->len * sizeof *s->epoch);
        s->epoch_len = epoch->len;
        s->epoch_pos = epoch->pos;
    }
    s->model_fingerprint = model_fingerprint;
    s->precision = (int)precision;
    s->images.fingerprint = images->fingerprint;
    s->images.masked = images->masked;
    if (images->n_summary) {
        s->images.summary = malloc(images->n_summary * sizeof *s->images.summary);
        if (!s->images.summary) {
            ow_learn_state_free(s);
            return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory saving the training state");
        }
        memcpy(s->images.summary, images->summary, images->n_summary * sizeof *s->images.summary);
        s->images.n_summary = images->n_summary;
    }
    *out = s;
    return OW_OK;
}

ow_status ow_learn_state_check(const ow_learn_state *s, const ow_learn_params *p, int H, uint64_t model_fingerprint,
                               ow_precision precision, const ow_learn_images_id *images, ow_error *err) {
#define SAME(cond, what, ...)                                                                                    \
    do {                                                                                                         \
        if (!(cond))                                                                                             \
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cannot resume: " what " (resume with the run's own " \
                                "options, or start a new run)", __VA_ARGS__);                                    \
    } while (0)
    SAME(model_fingerprint == s->model_fingerprint, "the run was made with another model%s", "");
    SAME(H == s->H, "the run's vectors are %d wide, this model's %d", s->H, H);
    /* bf16 and fp32 steps differ in their last bits: the run would not continue as it was */
    SAME(s->precision < 0 || s->precision == (int)precision, "the run computed in %s, this model runs in %s: resume "
         "it in %s (--precision %s, or the precision in the plug-in's Set Model)",
         ow_precision_name((ow_precision)s->precision), ow_precision_name(precision),
         ow_precision_name((ow_precision)s->precision), ow_precision_name((ow_precision)s->precision));
    /* what shapes the views before the views themselves: the message names the option */
    SAME(p->size == s->size, "the run trained at %d pixels, not %d", s->size, p->size);
    SAME(p->flip == s->flip, "the run flipped with probability %g", (double)s->flip);
    SAME((p->center_crop != 0) == s->center_crop, "the run %s its images' centred squares (--center-crop)",
         s->center_crop ? "trained on" : "did not crop to");
    SAME(images->masked < 0 || s->images.masked < 0 || images->masked == s->images.masked,
         "the run learned %s loss masks (%s)", s->images.masked ? "with" : "without",
         s->images.masked ? "give --masks or --alpha-mask again, as it was given" : "leave out --masks and --alpha-mask");
    SAME(same_images(images, &s->images), "the training images differ from the run's%s", "");
    SAME(strcmp(p->placeholder, s->placeholder) == 0, "the run learned '%s', not '%s'", s->placeholder, p->placeholder);
    SAME(strcmp(p->init_word, s->init_word) == 0, "the run started from '%s', not '%s'", s->init_word, p->init_word);
    SAME(strcmp(p->templates ? p->templates : "object", s->templates) == 0, "the run used %s%s", strchr(s->templates, '{') ||
         strchr(s->templates, '[') ? "other caption templates" : "the templates ", strchr(s->templates, '{') ||
         strchr(s->templates, '[') ? "" : s->templates);
    SAME(p->vectors == s->vectors, "the run has %d vectors per token, not %d", s->vectors, p->vectors);
    SAME(p->batch == s->batch && p->grad_accum == s->grad_accum, "the run used batch %d x %d", s->batch, s->grad_accum);
    SAME(p->learning_rate == s->learning_rate && p->scale_lr == s->scale_lr && p->weight_decay == s->weight_decay,
         "the run's learning rate %g (scaled %d, weight decay %g) differs", (double)s->learning_rate, s->scale_lr,
         (double)s->weight_decay);
    SAME(p->repeats == s->repeats, "the run drew its images %s", s->repeats ? "in epochs of other repeats" :
         "independently (it predates --repeats: resume it with --repeats 0)");
    SAME(p->embedding_reg_weight == s->embedding_reg_weight && !p->rescale_norm == !s->rescale_norm,
         "the run's norm constraints (embedding regularisation %g, rescaled norm %s) differ",
         (double)s->embedding_reg_weight, s->rescale_norm ? "on" : "off");
    SAME(p->seed == s->seed, "the run's seed is %" PRIu64, s->seed);
    SAME(p->steps >= s->step, "the run is at step %d already, more than %d steps", s->step, p->steps);
#undef SAME
    return OW_OK;
}

/* ---- file ---- */

ow_status ow_learn_state_save(const ow_learn_state *s, const char *path, ow_error *err) {
    char text[32][64];
    int k = 0;
#define PUT(fmt, ...) (snprintf(text[k], sizeof text[k], fmt, __VA_ARGS__), text[k++])
    const char *meta[] = {
        "format", STATE_FORMAT, "version", "1",
        "placeholder", s->placeholder, "init_word", s->init_word, "templates", s->templates,
        "vectors", PUT("%d", s->vectors), "steps", PUT("%d", s->steps), "batch", PUT("%d", s->batch),
        "grad_accum", PUT("%d", s->grad_accum), "size", PUT("%d", s->size), "scale_lr", PUT("%d", s->scale_lr),
        "force_placeholder", PUT("%d", s->force_placeholder), "learning_rate", PUT("%a", (double)s->learning_rate),
        "flip", PUT("%a", (double)s->flip), "center_crop", PUT("%d", s->center_crop),
        "weight_decay", PUT("%a", (double)s->weight_decay),
        "embedding_reg_weight", PUT("%a", (double)s->embedding_reg_weight), "rescale_norm", PUT("%d", s->rescale_norm),
        "repeats", PUT("%d", s->repeats), "epoch_pos", PUT("%d", s->epoch_pos),
        "masked", PUT("%d", s->images.masked),
        "seed", PUT("%" PRIu64, s->seed), "step", PUT("%d", s->step), "adam_step", PUT("%d", s->adam_t),
        "rng_seed", PUT("%" PRIu64, s->rng.seed), "rng_left", PUT("%d", (int)s->rng.left),
        "rng_next", PUT("%u", (unsigned)s->rng.next), "rng_has_cached_normal", PUT("%d", (int)s->rng.has_cached_normal),
        "rng_cached_normal", PUT("%a", s->rng.cached_normal), "rng_kernel", PUT("%d", (int)s->rng.kernel),
        "model_fingerprint", PUT("%016" PRIx64, s->model_fingerprint),
        "precision", s->precision >= 0 ? ow_precision_name((ow_precision)s->precision) : "unknown",
        "images_fingerprint", PUT("%016" PRIx64, s->images.fingerprint), NULL};
#undef PUT
    const int64_t shape[2] = {s->vectors, s->H}, words[1] = {OW_MT19937_N};
    const size_t n = (size_t)s->vectors * s->H * sizeof(float);
    ow_tensor_entry e[6] = {
        {.name = "rows", .dtype = OW_DTYPE_F32, .ndim = 2, .data = (const unsigned char *)s->rows, .nbytes = n},
        {.name = "adam_m1", .dtype = OW_DTYPE_F32, .ndim = 2, .data = (const unsigned char *)s->m1, .nbytes = n},
        {.name = "adam_m2", .dtype = OW_DTYPE_F32, .ndim = 2, .data = (const unsigned char *)s->m2, .nbytes = n},
        {.name = "rng_state", .dtype = OW_DTYPE_I32, .ndim = 1, .data = (const unsigned char *)s->rng.state,
         .nbytes = sizeof s->rng.state},
        {.name = "images_summary", .dtype = OW_DTYPE_F32, .ndim = 1, .data = (const unsigned char *)s->images.summary,
         .nbytes = s->images.n_summary * sizeof(float), .shape = {(int64_t)s->images.n_summary}},
    };
    size_t n_entries = 4;
    if (s->images.n_summary) e[n_entries++] = e[4];
    if (s->epoch)
        e[n_entries++] = (ow_tensor_entry){.name = "epoch", .dtype = OW_DTYPE_I32, .ndim = 1,
                                           .data = (const unsigned char *)s->epoch,
                                           .nbytes = (size_t)s->epoch_len * sizeof *s->epoch, .shape = {s->epoch_len}};
    for (int i = 0; i < 3; i++) memcpy(e[i].shape, shape, sizeof shape);
    memcpy(e[3].shape, words, sizeof words);
    return ow_safetensors_write(path, e, n_entries, meta, err);
}

static ow_status meta_int(const ow_tensor_set *set, const char *key, long lo, long hi, long *out, ow_error *err) {
    const char *v = ow_tensor_set_metadata(set, key);
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi)
        return ow_error_set(err, OW_ERR_FORMAT, "training state: '%s' is missing or not a number in %ld..%ld", key, lo, hi);
    *out = x;
    return OW_OK;
}

static ow_status meta_u64(const ow_tensor_set *set, const char *key, int base, uint64_t *out, ow_error *err) {
    const char *v = ow_tensor_set_metadata(set, key);
    char *end = NULL;
    unsigned long long x = v ? strtoull(v, &end, base) : 0;
    if (!v || !*v || *end) return ow_error_set(err, OW_ERR_FORMAT, "training state: '%s' is missing or malformed", key);
    *out = (uint64_t)x;
    return OW_OK;
}

static ow_status meta_double(const ow_tensor_set *set, const char *key, double *out, ow_error *err) {
    const char *v = ow_tensor_set_metadata(set, key);
    char *end = NULL;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || !isfinite(x))
        return ow_error_set(err, OW_ERR_FORMAT, "training state: '%s' is missing or not a finite number", key);
    *out = x;
    return OW_OK;
}

/* Metadata text of at most cap bytes, valid UTF-8. */
static ow_status meta_text(const ow_tensor_set *set, const char *key, size_t cap, char **out, ow_error *err) {
    const char *v = ow_tensor_set_metadata(set, key);
    if (!v || !*v || strlen(v) > cap || !ow_utf8_valid(v, strlen(v)))
        return ow_error_set(err, OW_ERR_FORMAT, "training state: '%s' is missing or not text", key);
    if (!(*out = strdup(v))) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    return OW_OK;
}

static ow_status load_from(const ow_tensor_set *set, ow_learn_state **out, ow_error *err) {
    const char *format = ow_tensor_set_metadata(set, "format");
    if (!format || strcmp(format, STATE_FORMAT) != 0)
        return ow_error_set(err, OW_ERR_FORMAT, "not a oneword training state (no \"format\": \"" STATE_FORMAT "\")");
    const ow_tensor_entry *rows = ow_tensor_set_find(set, "rows"), *m1 = ow_tensor_set_find(set, "adam_m1"),
                          *m2 = ow_tensor_set_find(set, "adam_m2"), *words = ow_tensor_set_find(set, "rng_state"),
                          *summary = ow_tensor_set_find(set, "images_summary"), *epoch = ow_tensor_set_find(set, "epoch");
    if (!rows || rows->dtype != OW_DTYPE_F32 || rows->ndim != 2 || rows->shape[0] < 1 || rows->shape[0] > 16 ||
        rows->shape[1] < 1 || rows->shape[1] > 65536)
        return ow_error_set(err, OW_ERR_FORMAT, "training state: 'rows' is missing or not (1..16, H) F32");
    const int vectors = (int)rows->shape[0], H = (int)rows->shape[1];
    const ow_tensor_entry *same[2] = {m1, m2};
    for (int i = 0; i < 2; i++)
        if (!same[i] || same[i]->dtype != OW_DTYPE_F32 || same[i]->nbytes != rows->nbytes)
            return ow_error_set(err, OW_ERR_FORMAT, "training state: the AdamW moments do not match the rows");
    if (!words || words->dtype != OW_DTYPE_I32 || words->nbytes != sizeof(((ow_torch_rng *)0)->state))
        return ow_error_set(err, OW_ERR_FORMAT, "training state: 'rng_state' is not %d I32 words", OW_MT19937_N);
    if (summary && (summary->dtype != OW_DTYPE_F32 || summary->ndim != 1 || summary->shape[0] < 1 ||
                    summary->shape[0] > 64 * 1024 * 1024))
        return ow_error_set(err, OW_ERR_FORMAT, "training state: 'images_summary' is not a list of F32 block means");
    if (epoch && (epoch->dtype != OW_DTYPE_I32 || epoch->ndim != 1 || epoch->shape[0] < 1 ||
                  epoch->shape[0] > 1000000))
        return ow_error_set(err, OW_ERR_FORMAT, "training state: 'epoch' is not a list of I32 image numbers");
    ow_learn_state *s = state_new(vectors, H);
    if (!s) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    if (epoch) {
        s->epoch_len = (int)epoch->shape[0];
        if (!(s->epoch = malloc(epoch->nbytes))) {
            ow_learn_state_free(s);
            return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        }
        memcpy(s->epoch, epoch->data, epoch->nbytes);
    }
    if (summary) {
        s->images.n_summary = (size_t)summary->shape[0];
        if (!(s->images.summary = malloc(summary->nbytes))) {
            ow_learn_state_free(s);
            return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        }
        memcpy(s->images.summary, summary->data, summary->nbytes);
    }
    memcpy(s->rows, rows->data, rows->nbytes);
    memcpy(s->m1, m1->data, m1->nbytes);
    memcpy(s->m2, m2->data, m2->nbytes);
    memcpy(s->rng.state, words->data, words->nbytes);
    long v;
    double d;
    ow_status st = OW_OK;
#define INT(key, lo, hi, field) if (st == OW_OK && (st = meta_int(set, key, lo, hi, &v, err)) == OW_OK) field = (int)v
#define DBL(key, field) if (st == OW_OK && (st = meta_double(set, key, &d, err)) == OW_OK) field = d
    if (st == OW_OK) st = meta_text(set, "placeholder", 512, &s->placeholder, err);
    if (st == OW_OK) st = meta_text(set, "init_word", 512, &s->init_word, err);
    if (st == OW_OK) st = meta_text(set, "templates", OW_TEMPLATES_MAX_TEXT, &s->templates, err);
    INT("vectors", vectors, vectors, s->vectors);
    INT("steps", 1, 1000000, s->steps);
    INT("batch", 1, 64, s->batch);
    INT("grad_accum", 1, 1024, s->grad_accum);
    INT("size", 8, 4096, s->size);
    INT("scale_lr", 0, 1, s->scale_lr);
    INT("force_placeholder", 0, 1, s->force_placeholder);
    DBL("learning_rate", s->learning_rate);
    DBL("flip", s->flip);
    /* absent from states saved before center_crop was an option: those did not crop */
    if (st == OW_OK && ow_tensor_set_metadata(set, "center_crop")) {
        INT("center_crop", 0, 1, s->center_crop);
    }
    DBL("weight_decay", s->weight_decay);
    /* options added later: absent in older states, where they were off */
    if (ow_tensor_set_metadata(set, "embedding_reg_weight")) DBL("embedding_reg_weight", s->embedding_reg_weight);
    if (ow_tensor_set_metadata(set, "rescale_norm")) INT("rescale_norm", 0, 1, s->rescale_norm);
    if (ow_tensor_set_metadata(set, "repeats")) INT("repeats", 0, 100000, s->repeats);
    s->images.masked = -1;
    if (ow_tensor_set_metadata(set, "masked")) INT("masked", 0, 1, s->images.masked);
    if (ow_tensor_set_metadata(set, "epoch_pos")) INT("epoch_pos", 0, s->epoch_len, s->epoch_pos);
    if (st == OW_OK) st = meta_u64(set, "seed", 10, &s->seed, err);
    INT("step", 0, 1000000, s->step);
    INT("adam_step", 0, 1000000, s->adam_t);
    if (st == OW_OK) st = meta_u64(set, "rng_seed", 10, &s->rng.seed, err);
    INT("rng_left", 1, OW_MT19937_N + 1, s->rng.left);
    INT("rng_next", 0, OW_MT19937_N, s->rng.next);
    INT("rng_has_cached_normal", 0, 1, s->rng.has_cached_normal);
    DBL("rng_cached_normal", s->rng.cached_normal);
    INT("rng_kernel", 0, 1, s->rng.kernel);
    if (st == OW_OK) st = meta_u64(set, "model_fingerprint", 16, &s->model_fingerprint, err);
    /* absent from states saved before it was recorded: any precision may resume those */
    s->precision = -1;
    const char *precision = ow_tensor_set_metadata(set, "precision");
    ow_precision parsed;
    if (st == OW_OK && precision && strcmp(precision, "unknown") != 0) {
        if (ow_precision_parse(precision, &parsed) != 0 || parsed == OW_PRECISION_AUTO)
            st = ow_error_set(err, OW_ERR_FORMAT, "training state: 'precision' is not fp32 or bf16");
        else
            s->precision = (int)parsed;
    }
    if (st == OW_OK) st = meta_u64(set, "images_fingerprint", 16, &s->images.fingerprint, err);
#undef INT
#undef DBL
    if (st != OW_OK) {
        ow_learn_state_free(s);
        return st;
    }
    *out = s;
    return OW_OK;
}

ow_status ow_learn_state_load(ow_learn_state **out, const char *path, ow_error *err) {
    *out = NULL;
    ow_tensor_set *set = NULL;
    ow_status s = ow_tensor_set_open(&set, path, err);
    if (s != OW_OK) return s;
    s = load_from(set, out, err);
    ow_tensor_set_free(set);
    if (s != OW_OK) ow_error_prefix(err, "%s", path);
    return s;
}
