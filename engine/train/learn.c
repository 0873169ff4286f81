/* learn.c: textual inversion, ow_learn. The images are encoded once to latents
 * (the VAE encoder's mean x scaling_factor, for each image and, when flips are
 * asked for, its mirror: the encoder is not needed again, and unlike the
 * reference, which samples latent_dist each time, the latents are fixed). Each
 * step draws, per batch item, an image, a flip, a caption from the templates and a
 * timestep uniform in [0, T), adds noise as the scheduler's forward process
 * does, runs the text encoder (with the placeholder bound to the trained rows) and
 * the UNet, and takes the MSE to the noise (or to v for v-prediction models). The
 * backward pass reaches the trained rows only (model/unet_train.h,
 * model/clip_text_train.h); AdamW updates them as torch.optim.AdamW does. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"
#include "sampling/torch_rng.h"
#include "train/learn_state.h"
#include "train/learn_step.h"
#include "train/resize.h"
#include "train/templates.h"

void ow_learn_params_init(ow_learn_params *p) {
    memset(p, 0, sizeof *p);
    p->placeholder = "*";
    p->vectors = 1;
    p->steps = 5000;
    p->learning_rate = 5e-3f;
    p->scale_lr = 1;
    p->batch = 2;
    p->grad_accum = 1;
    p->size = 512;
    p->repeats = 100;
    p->flip = 0.5f;
    p->templates = "object";
    p->weight_decay = 0.01f;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- checks ---- */

/* Every image has pixels and at most 16384 a side. */
static ow_status check_images(const ow_learn_image *images, int n_images, ow_error *err) {
    for (int i = 0; i < n_images; i++)
        if (!images[i].rgb || images[i].width < 1 || images[i].height < 1 || images[i].width > 16384 ||
            images[i].height > 16384)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "training image %d has no pixels or is %dx%d (1..16384)",
                                i + 1, images[i].width, images[i].height);
    return OW_OK;
}

static ow_status check_params(const ow_model *m, const ow_learn_image *images, int n_images,
                              const ow_learn_params *p, int factor, ow_error *err) {
    if (!images || n_images < 1) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "learning needs at least one image");
    ow_status s = check_images(images, n_images, err);
    if (s != OW_OK) return s;
    if (!p->placeholder || !p->placeholder[0])
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the placeholder token is empty (the reference uses \"*\")");
    if (!p->init_word || !p->init_word[0])
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "no init word: give a word close to the concept (e.g. \"cat\")");
    if (p->vectors < 1 || p->vectors > 16)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%d vectors per token; 1 to 16 are possible", p->vectors);
    if (p->steps < 1 || p->steps > 1000000)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%d steps; 1 to 1000000 are possible", p->steps);
    if (!(p->learning_rate > 0.0f && p->learning_rate < 10.0f))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "learning rate %g must be above 0 and below 10",
                            (double)p->learning_rate);
    if (!(p->weight_decay >= 0.0f && p->weight_decay < 1.0f))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "weight decay %g must be in [0, 1)", (double)p->weight_decay);
    if (p->batch < 1 || p->batch > 64 || p->grad_accum < 1 || p->grad_accum > 1024)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "batch %d and gradient accumulation %d must be 1..64 and 1..1024",
                            p->batch, p->grad_accum);
    if (!(p->embedding_reg_weight >= 0.0f && p->embedding_reg_weight <= 1e6f))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "embedding regularisation weight %g must be in [0, 1e6]",
                            (double)p->embedding_reg_weight);
    if (p->repeats < 0 || p->repeats > 100000)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%d repeats; 0 (independent draws) to 100000 are possible",
                            p->repeats);
    if ((long)n_images * p->repeats > 1000000)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%d images x %d repeats is an epoch of over a million draws: "
                            "lower --repeats", n_images, p->repeats);
    if (!(p->flip >= 0.0f && p->flip <= 1.0f))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "flip probability %g must be in [0, 1]", (double)p->flip);
    if (p->size < factor || p->size > 4096 || p->size % factor)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "training size %d must be a multiple of %d pixels for this model (at most 4096)", p->size,
                            factor);
    if (m->embeddings)
        for (size_t i = 0; i < m->embeddings->count; i++)
            if (strcmp(m->embeddings->tokens[i].token, p->placeholder) == 0)
                return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                    "the placeholder '%s' is already an embedding token of this model (from '%s'); "
                                    "choose another one",
                                    p->placeholder, m->embeddings->tokens[i].source);
    return OW_OK;
}

/* The init word's token ids (*n of them): one token, or with several vectors up to
 * one token per vector (kohya's multi-token init: vector i starts from token i mod
 * n). Otherwise an error that shows how the word splits. */
static ow_status init_word_ids(ow_model *m, const char *word, int vectors, int32_t *ids, int *n_ids, ow_error *err) {
    size_t n = 0;
    ow_status s = ow_tokenizer_tokenize(m->tokenizer, word, NULL, 0, &n, err);
    if (s != OW_OK) return ow_error_prefix(err, "init word");
    int32_t pieces[64];
    int in_vocab = n >= 1 && n <= 64 && ow_tokenizer_tokenize(m->tokenizer, word, pieces, 64, &n, err) == OW_OK;
    for (size_t i = 0; in_vocab && i < n; i++) in_vocab = pieces[i] < ow_tokenizer_base_vocab_size(m->tokenizer);
    if (in_vocab && (n == 1 || (int)n <= vectors)) {
        memcpy(ids, pieces, n * sizeof *ids);
        *n_ids = (int)n;
        return OW_OK;
    }
    ow_word_split_info split;
    if (ow_word_split(m->tokenizer, word, &split, err) != OW_OK) return ow_error_prefix(err, "init word");
    char try_these[320] = "";
    size_t used = 0;
    for (int i = 0; i < split.n_suggestions; i++)
        used += (size_t)snprintf(try_these + used, sizeof try_these - used, "%s\"%s\"",
                                 i == 0 ? "" : i + 1 == split.n_suggestions ? " or " : ", ", split.suggestions[i]);
    const char *shown = in_vocab ? split.pieces : "";
    char advice[400];
    if (split.n_suggestions)
        snprintf(advice, sizeof advice, "use one word: %s, or another common word close to the concept", try_these);
    else
        snprintf(advice, sizeof advice, "use a single common word close to the concept (e.g. \"cat\", \"toy\", \"painting\")");
    if (n > 1 && n <= 16 && in_vocab)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "the init word '%s' is %zu CLIP tokens: %s; it must be one token: %s; or learn %zu "
                            "vectors (not %d) to start one from each token (as kohya does)",
                            word, n, shown, advice, n, vectors);
    return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the init word '%s' is %zu CLIP tokens%s%s; it must be one token: %s",
                        word, n, shown[0] ? ": " : "", shown, advice);
}

/* An ordinary word of the vocabulary (letters only, one token) cannot be used for its
 * meaning in prompts any more once it is a placeholder. */
static ow_status check_placeholder(ow_model *m, const char *placeholder, int force, ow_error *err) {
    int letters = 1;
    for (const unsigned char *c = (const unsigned char *)placeholder; *c; c++) letters &= isalpha(*c) != 0;
    size_t n = 0;
    ow_status s = ow_tokenizer_tokenize(m->tokenizer, placeholder, NULL, 0, &n, err);
    if (s != OW_OK) return ow_error_prefix(err, "placeholder");
    if (ow_tokenizer_is_wordpiece(m->tokenizer) && n != 1) /* the reference's get_bert_token_for_string */
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "the placeholder '%s' is %zu WordPiece tokens; LDM's BERT text encoder learns a placeholder "
                            "that is one (as the reference requires): use \"*\", its default, or another single "
                            "symbol or rare word",
                            placeholder, n);
    if (letters && n == 1 && !force)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "the placeholder '%s' is an ordinary word of the vocabulary: prompts could no longer use it "
                            "for its meaning; choose a new string such as \"<%s>\" (or force it)",
                            placeholder, placeholder);
    return OW_OK;
}

/* ---- images to latents ---- */

/* dst (size, size, channels) = src (h, w, channels) resized to size x size as PIL's
 * BICUBIC does (the reference's default): the whole picture, or with crop its largest
 * centred square, cut as the reference's center_crop cuts its array: rows
 * [(h - side) / 2, (h + side) / 2) and the same columns, side = min(w, h). */
static ow_status resize_square(const float *src, int w, int h, int channels, int crop, float *dst, int size,
                               ow_error *err) {
    const int side = w < h ? w : h;
    if (!crop || w == h) return ow_resize_bicubic(src, w, h, channels, dst, size, size, err);
    const int top = (h - side) / 2, left = (w - side) / 2;
    float *square = malloc((size_t)side * side * channels * sizeof *square);
    if (!square) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory cropping a training image");
    for (int y = 0; y < side; y++)
        memcpy(square + (size_t)y * side * channels, src + ((size_t)(top + y) * w + left) * channels,
               (size_t)side * channels * sizeof *square);
    ow_status s = ow_resize_bicubic(square, side, side, channels, dst, size, size, err);
    free(square);
    return s;
}

/* dst (size, size, 3) in [0, 1] = the image rgb (h, w, 3) resized to size x size
 * (resize_square), clamped to [0, 1] as the reference's 8-bit result is, mirrored
 * when flip. */
static ow_status training_view(const ow_learn_image *im, int size, int crop, int flip, float *dst, ow_error *err) {
    float *rgb = malloc((size_t)size * size * 3 * sizeof *rgb);
    if (!rgb) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory resizing a training image");
    ow_status s = resize_square(im->rgb, im->width, im->height, 3, crop, rgb, size, err);
    for (int y = 0; y < size && s == OW_OK; y++)
        for (int x = 0; x < size; x++) {
            const float *p = rgb + ((size_t)y * size + (flip ? size - 1 - x : x)) * 3;
            for (int c = 0; c < 3; c++) {
                float v = p[c];
                if (!(v >= 0.0f)) v = 0.0f; /* NaN too */
                if (v > 1.0f) v = 1.0f;
                dst[((size_t)y * size + x) * 3 + c] = v;
            }
        }
    free(rgb);
    return s;
}

/* dst (3, size, size) in [-1, 1]: the training view as the VAE encoder takes it. */
static ow_status image_to_planar(const ow_learn_image *im, int size, int crop, int flip, float *dst, ow_error *err) {
    float *view = malloc((size_t)size * size * 3 * sizeof *view);
    if (!view) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory resizing a training image");
    ow_status s = training_view(im, size, crop, flip, view, err);
    for (size_t i = 0; i < (size_t)size * size && s == OW_OK; i++)
        for (int c = 0; c < 3; c++) dst[(size_t)c * size * size + i] = view[i * 3 + c] * 2.0f - 1.0f;
    free(view);
    return s;
}

/* mask (size, size) in [0, 1]: the image's mask resized (and cropped) as its pixels
 * are, clamped, mirrored when flip; 1 everywhere without a mask. */
static ow_status training_mask(const ow_learn_image *im, int size, int crop, int flip, float *dst, ow_error *err) {
    const size_t n = (size_t)size * size;
    if (!im->mask) {
        for (size_t i = 0; i < n; i++) dst[i] = 1.0f;
        return OW_OK;
    }
    float *mask = malloc(n * sizeof *mask);
    if (!mask) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory resizing a training mask");
    ow_status s = resize_square(im->mask, im->width, im->height, 1, crop, mask, size, err);
    for (int y = 0; y < size && s == OW_OK; y++)
        for (int x = 0; x < size; x++) {
            const float v = mask[(size_t)y * size + (flip ? size - 1 - x : x)];
            dst[(size_t)y * size + x] = !(v >= 0.0f) ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    free(mask);
    return s;
}

int ow_learn_view_count(int n_images, const ow_learn_params *p) { return n_images * (p->flip > 0.0f ? 2 : 1); }

ow_status ow_learn_views(const ow_learn_image *images, int n_images, const ow_learn_params *p, float *views,
                         float *masks, ow_error *err) {
    if (!images || n_images < 1 || !p) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "no images or parameters");
    if (p->size < 8 || p->size > 4096)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "training size %d must be 8 to 4096 pixels", p->size);
    ow_status s = check_images(images, n_images, err);
    if (s != OW_OK) return s;
    const int per = ow_learn_view_count(1, p);
    const size_t n = (size_t)p->size * p->size;
    for (int i = 0; i < n_images && s == OW_OK; i++)
        for (int v = 0; v < per && s == OW_OK; v++) {
            const size_t k = (size_t)i * per + v;
            s = training_view(&images[i], p->size, p->center_crop, v, views + k * n * 3, err);
            if (s == OW_OK && masks) s = training_mask(&images[i], p->size, p->center_crop, v, masks + k * n, err);
        }
    return s;
}

/* weights (lat, lat) = the training mask averaged over each latent pixel's factor x
 * factor block (all 1 without a mask). */
static ow_status mask_to_latent(const ow_learn_image *im, int size, int crop, int factor, int flip, float *weights,
                                ow_error *err) {
    const int lat = size / factor;
    float *mask = malloc((size_t)size * size * sizeof *mask);
    if (!mask) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory resizing a training mask");
    ow_status s = training_mask(im, size, crop, flip, mask, err);
    for (int y = 0; y < lat && s == OW_OK; y++)
        for (int x = 0; x < lat; x++) {
            double sum = 0.0;
            for (int dy = 0; dy < factor; dy++)
                for (int dx = 0; dx < factor; dx++) sum += mask[(size_t)(y * factor + dy) * size + x * factor + dx];
            weights[y * lat + x] = (float)(sum / (factor * factor));
        }
    free(mask);
    return s;
}

/* latents (n_views, C, h, w) host: view 2i = image i, 2i+1 = its mirror (when flips);
 * each view as the encoder takes it is added to id. */
static ow_status encode_latents(ow_model *m, const ow_learn_image *images, int n_images, int size, int crop,
                                int flips, float *latents, ow_learn_images_id *id, ow_error *err) {
    ow_backend *b = m->backend;
    ow_checkpoint *ck = NULL;
    ow_vae *enc = NULL;
    ow_weights w;
    ow_status s = ow_model_open_checkpoint(m, &ck, err);
    if (s == OW_OK) s = ow_model_part_weights(m, ck, OW_PART_VAE, &w, err);
    if (s == OW_OK) s = ow_vae_load(&enc, ow_checkpoint_vae_config(ck), &w, b, OW_VAE_ENCODER, err);
    if (s != OW_OK) {
        ow_checkpoint_close(ck);
        return ow_error_prefix(err, "loading the VAE encoder");
    }
    const int f = ow_vae_scale_factor(&enc->config), C = enc->config.latent_channels, h = size / f;
    const float scaling = enc->config.scaling_factor;
    const size_t npix = (size_t)3 * size * size, nlat = (size_t)C * h * h;
    float *host = malloc(npix * sizeof *host);
    float *img = b->alloc(b, npix), *mean = b->alloc(b, nlat);
    if (!host || !img || !mean) s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory encoding training images");
    const int views = flips ? 2 : 1;
    for (int i = 0; i < n_images && s == OW_OK; i++)
        for (int v = 0; v < views && s == OW_OK; v++) {
            s = image_to_planar(&images[i], size, crop, v, host, err);
            if (s != OW_OK) break;
            for (int c = 0; c < 3 && s == OW_OK; c++)
                s = ow_learn_images_id_add(id, host + (size_t)c * size * size, size, err);
            if (s != OW_OK) break;
            b->upload(b, img, host, npix);
            s = ow_vae_encode(enc, b, img, 1, size, size, mean, NULL, err);
            if (s != OW_OK) break;
            float *dst = latents + ((size_t)i * views + v) * nlat;
            b->download(b, dst, mean, nlat);
            for (size_t k = 0; k < nlat; k++) dst[k] *= scaling;
        }
    free(host);
    if (img) b->free(b, img);
    if (mean) b->free(b, mean);
    ow_vae_free(enc);
    ow_checkpoint_close(ck);
    return s;
}

/* What identifies the frozen model a run reads: a few of its token rows (the init
 * word's among them) and the UNet's first convolution. */
static uint64_t model_fingerprint(ow_model *m, int32_t init_id) {
    ow_backend *b = m->backend;
    const int H = m->text_encoder->config.hidden_size;
    const ow_conv *conv_in = &m->unet->conv_in;
    const size_t nconv = (size_t)conv_in->out * conv_in->in * conv_in->kernel * conv_in->kernel;
    float *host = malloc(((size_t)5 * H > nconv ? (size_t)5 * H : nconv) * sizeof *host);
    if (!host) return 0;
    uint64_t h = OW_FINGERPRINT_START;
    const int32_t ids[5] = {init_id, 320, 1125, 2368, 49405}; /* CLIP ids; a smaller vocabulary (BERT's) wraps */
    const int32_t V = m->text_encoder->config.vocab_size;
    for (int i = 0; i < 5; i++) {
        b->download(b, host, m->text_encoder->token_embedding.data + (size_t)(ids[i] % V) * H, (size_t)H);
        h = ow_fingerprint(h, host, (size_t)H * sizeof *host);
    }
    b->matrix_download(b, host, &conv_in->weight); /* f32 at any precision (OW_MATRIX_MIN_16BIT_COLS) */
    h = ow_fingerprint(h, host, nconv * sizeof *host);
    free(host);
    return h;
}

/* ---- the loop ---- */

/* The embedding of rows (n, H): token = placeholder, named after it, at step. */
static ow_status make_embedding(const char *placeholder, const float *rows, int n, int H, int step, ow_embedding **out,
                                ow_error *err) {
    *out = NULL;
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_create(&emb, err);
    if (s == OW_OK) s = ow_embedding_add(emb, placeholder, rows, n, H, err);
    if (s == OW_OK) s = ow_embedding_set_info(emb, placeholder, step, err);
    if (s != OW_OK) {
        ow_embedding_free(emb);
        return s;
    }
    *out = emb;
    return OW_OK;
}

/* The mean L2 norm of the text encoder's vocabulary rows (its own table, without
 * added embeddings); 0 when out of memory. */
static double mean_row_norm(ow_model *m) {
    const int H = m->text_encoder->config.hidden_size, V = m->text_encoder->config.vocab_size;
    float *row = malloc((size_t)H * sizeof *row);
    if (!row) return 0.0;
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        m->backend->download(m->backend, row, m->text_encoder->token_embedding.data + (size_t)v * H, (size_t)H);
        double sq = 0.0;
        for (int k = 0; k < H; k++) sq += (double)row[k] * row[k];
        sum += sqrt(sq);
    }
    free(row);
    return sum / V;
}

/* The reference's embedding regularisation: w x mean over (i, j) of <d_i, d_j>, d =
 * rows - coarse (n, H); that is w |sum_i d_i|^2 / n^2. grad (n, H) += its gradient,
 * 2 w sum_i d_i / n^2 in every row. Returns the term. */
static double coarse_loss(const float *rows, const float *coarse, int n, int H, float w, float *grad) {
    double term = 0.0;
    for (int k = 0; k < H; k++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) sum += (double)rows[(size_t)i * H + k] - coarse[(size_t)i * H + k];
        term += sum * sum;
        for (int i = 0; i < n; i++) grad[(size_t)i * H + k] += (float)(2.0 * w * sum / ((double)n * n));
    }
    return w * term / ((double)n * n);
}

/* Each of the n rows (n, H) rescaled to L2 norm `norm`. */
static void rescale_rows(float *rows, int n, int H, double norm) {
    for (int i = 0; i < n; i++) {
        float *r = rows + (size_t)i * H;
        double sq = 0.0;
        for (int k = 0; k < H; k++) sq += (double)r[k] * r[k];
        if (sq > 0.0)
            for (int k = 0; k < H; k++) r[k] = (float)(r[k] * (norm / sqrt(sq)));
    }
}

/* Uniform integer in [0, n). */
static int draw(ow_torch_rng *rng, int n) { return (int)(ow_torch_rng_u64(rng) % (uint64_t)n); }

/* The next image: with epochs (the reference's repeats: its training set holds each
 * image `repeats` times and is shuffled every epoch) the next of the epoch's order, a
 * new shuffle (Fisher-Yates) when it is used up; without, a uniform draw. */
static int next_image(ow_learn_epoch *e, ow_torch_rng *rng, int n_images) {
    if (!e->order) return draw(rng, n_images);
    if (e->pos >= e->len) {
        for (int i = 0; i < e->len; i++) e->order[i] = i % n_images;
        for (int i = e->len - 1; i > 0; i--) {
            const int j = draw(rng, i + 1);
            const int32_t t = e->order[i];
            e->order[i] = e->order[j];
            e->order[j] = t;
        }
        e->pos = 0;
    }
    return e->order[e->pos++];
}

ow_status ow_learn(ow_model *m, const ow_learn_image *images, int n_images, const ow_learn_params *p,
                   ow_embedding **out, ow_error *err) {
    *out = NULL;
    if (!m || !p) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "ow_learn: no model or parameters");
    ow_backend *b = m->backend;
    const ow_unet_config *ucfg = &m->unet->config;
    const int vae_factor = ow_vae_scale_factor(&m->vae->config), unet_factor = 1 << (ucfg->num_blocks - 1);
    const int factor = vae_factor * unet_factor;
    ow_status s = check_params(m, images, n_images, p, factor, err);
    if (s != OW_OK) return s;
    int32_t init_ids[16];
    int n_init = 0;
    if ((s = init_word_ids(m, p->init_word, p->vectors, init_ids, &n_init, err)) != OW_OK) return s;
    const int32_t init_id = init_ids[0];
    if ((s = check_placeholder(m, p->placeholder, p->force_placeholder, err)) != OW_OK) return s;

    const ow_clip_text_config *tc = &m->text_encoder->config;
    const int H = tc->hidden_size, T = m->text_length, B = p->batch, nvec = p->vectors;
    const int lat_c = ucfg->in_channels, lat = p->size / vae_factor;
    const size_t nlat = (size_t)lat_c * lat * lat;
    const int views = ow_learn_view_count(1, p);
    size_t n_templates = 0;
    char **templates = NULL;
    s = ow_train_template_list(p->templates ? p->templates : "object", &templates, &n_templates, err);
    if (s != OW_OK) return s;

    /* The placeholder joins the model with the init word's embedding in every vector (token v mod n of a
     * multi-token init word in vector v). */
    float *init = malloc((size_t)nvec * H * sizeof *init);
    if (!init) {
        ow_train_template_list_free(templates, n_templates);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int v = 0; v < nvec; v++)
        b->download(b, init + (size_t)v * H, m->text_encoder->token_embedding.data + (size_t)init_ids[v % n_init] * H,
                    (size_t)H);
    /* the vocabulary's mean row norm, for rescale_norm (before the placeholder joins) */
    const double vocab_norm = p->rescale_norm ? mean_row_norm(m) : 0.0;
    ow_embedding *emb = NULL;
    s = ow_embedding_create(&emb, err);
    if (s == OW_OK) s = ow_embedding_add(emb, p->placeholder, init, nvec, H, err);
    if (s == OW_OK) s = ow_model_add_embedding_data(m, emb, "learning", err);
    ow_embedding_free(emb);
    emb = NULL;
    if (s == OW_OK && p->rescale_norm && !(vocab_norm > 0.0))
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory measuring the vocabulary's norms");
    if (s != OW_OK) {
        free(init);
        ow_train_template_list_free(templates, n_templates);
        return s;
    }
    float *coarse = init; /* (nvec, H) the init-word rows, for embedding_reg_weight */
    ow_model_embeddings *E = m->embeddings;
    const int first_row = E->tokens[E->count - 1].first_row;

    /* Everything the loop needs, allocated once. */
    float *latents = malloc((size_t)n_images * views * nlat * sizeof *latents);
    int masked = 0;
    for (int i = 0; i < n_images; i++) masked |= images[i].mask != NULL;
    const size_t nplane = (size_t)lat * lat;
    float *view_weights = masked ? malloc((size_t)n_images * views * nplane * sizeof *view_weights) : NULL;
    float *weights = masked ? malloc((size_t)B * nplane * sizeof *weights) : NULL;
    float *alphas = malloc((size_t)m->schedule.num_train_timesteps * sizeof *alphas);
    int32_t *template_ids = malloc(n_templates * T * sizeof *template_ids), *ids = malloc((size_t)B * T * sizeof *ids);
    float *x0 = malloc((size_t)B * nlat * sizeof *x0), *noise = malloc((size_t)B * nlat * sizeof *noise);
    float *timesteps = malloc((size_t)B * sizeof *timesteps), *grad = calloc((size_t)nvec * H, sizeof *grad);
    ow_adamw opt = {(size_t)nvec * H, calloc((size_t)nvec * H, sizeof(float)), calloc((size_t)nvec * H, sizeof(float)), 0};
    ow_learn_step work;
    s = ow_learn_step_init(&work, m, B, lat, p->gradient_checkpointing, err);
    if (s == OW_OK && (!latents || !alphas || !template_ids || !ids || !x0 || !noise || !timesteps || !grad || !opt.m1 ||
                       !opt.m2 || (masked && (!view_weights || !weights))))
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for training at %dx%d, batch %d", p->size, p->size, B);
    if (s == OW_OK) s = ow_schedule_alphas_cumprod(&m->schedule, alphas, err);
    for (size_t k = 0; k < n_templates && s == OW_OK; k++) {
        char text[4096];
        if (ow_train_caption(templates[k], p->placeholder, text, sizeof text) != 0)
            s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "training caption %zu is too long with the placeholder", k + 1);
        else
            s = ow_model_encode_ids(m, text, "training caption", template_ids + k * T, err);
    }
    /* What identifies the run's images: the views the VAE encoder takes and the mask
     * weights; not the latents, whose last bits may differ between processes. */
    ow_learn_images_id images_id = {masked, OW_FINGERPRINT_START, NULL, 0};
    if (s == OW_OK) s = encode_latents(m, images, n_images, p->size, p->center_crop != 0, views == 2, latents, &images_id,
                                       err);
    for (int i = 0; i < n_images && masked && s == OW_OK; i++)
        for (int v = 0; v < views && s == OW_OK; v++) {
            float *plane = view_weights + ((size_t)i * views + v) * nplane;
            s = mask_to_latent(&images[i], p->size, p->center_crop != 0, vae_factor, v, plane, err);
            if (s == OW_OK) s = ow_learn_images_id_add(&images_id, plane, lat, err);
        }

    ow_torch_rng rng;
    ow_torch_rng_seed(&rng, p->seed);
    ow_learn_epoch epoch = {NULL, n_images * p->repeats, n_images * p->repeats}; /* used up: shuffled at the first draw */
    if (p->repeats > 0 && s == OW_OK && !(epoch.order = malloc((size_t)epoch.len * sizeof *epoch.order)))
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for the image order");
    const uint64_t model_fp = s == OW_OK ? model_fingerprint(m, init_id) : 0;
    int first_step = 0;
    if (s == OW_OK && p->resume) {
        const ow_learn_state *r = p->resume;
        s = ow_learn_state_check(r, p, H, model_fp, ow_model_precision(m), &images_id, err);
        if (s == OW_OK) {
            const size_t bytes = (size_t)nvec * H * sizeof(float);
            memcpy(E->rows + (size_t)first_row * H, r->rows, bytes);
            memcpy(opt.m1, r->m1, bytes);
            memcpy(opt.m2, r->m2, bytes);
            opt.t = r->adam_t;
            rng = r->rng;
            first_step = r->step;
            if (epoch.order) {
                int fits = r->epoch && r->epoch_len == epoch.len;
                for (int i = 0; fits && i < epoch.len; i++) fits = r->epoch[i] >= 0 && r->epoch[i] < n_images;
                if (!fits)
                    s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cannot resume: the run's image order does not fit "
                                     "%d images x %d repeats (resume with the run's own images)", n_images, p->repeats);
                else {
                    memcpy(epoch.order, r->epoch, (size_t)epoch.len * sizeof *epoch.order);
                    epoch.pos = r->epoch_pos;
                }
            }
        }
    }
    const float lr = p->learning_rate * (p->scale_lr ? (float)(B * p->grad_accum) : 1.0f);
    float *trained = E->rows + (size_t)first_row * H; /* (nvec, H) host, the model's own row table */
    const double started = now_seconds();
    int step = first_step;
    for (; step < p->steps && s == OW_OK; step++) {
        memset(grad, 0, (size_t)nvec * H * sizeof *grad);
        double loss_sum = 0.0;
        for (int micro = 0; micro < p->grad_accum && s == OW_OK; micro++) {
            /* the batch: views, captions, timesteps, noise */
            for (int i = 0; i < B; i++) {
                int image = next_image(&epoch, &rng, n_images);
                int flip = views == 2 && (double)(ow_torch_rng_u64(&rng) >> 11) / 9007199254740992.0 < p->flip;
                memcpy(x0 + (size_t)i * nlat, latents + ((size_t)image * views + flip) * nlat, nlat * sizeof *x0);
                if (weights)
                    memcpy(weights + (size_t)i * nplane, view_weights + ((size_t)image * views + flip) * nplane,
                           nplane * sizeof *weights);
                memcpy(ids + (size_t)i * T, template_ids + (size_t)draw(&rng, (int)n_templates) * T, T * sizeof *ids);
                timesteps[i] = (float)draw(&rng, m->schedule.num_train_timesteps);
            }
            ow_torch_randn(&rng, noise, (size_t)B * nlat);
            double loss = 0.0;
            s = ow_learn_step_run(&work, m, ids, x0, noise, timesteps, weights, alphas, 1.0 / p->grad_accum, first_row, nvec,
                                  grad, &loss, err);
            loss_sum += loss;
        }
        if (s == OW_OK) s = m->backend->status(m->backend, err); /* a device's first failure, if any op failed */
        if (s != OW_OK) break;
        if (p->embedding_reg_weight > 0.0f) loss_sum += p->grad_accum * coarse_loss(trained, coarse, nvec, H,
                                                                                  p->embedding_reg_weight, grad);
        ow_adamw_step(&opt, trained, grad, lr, p->weight_decay);
        if (p->rescale_norm) rescale_rows(trained, nvec, H, vocab_norm);
        const float loss = (float)(loss_sum / p->grad_accum);
        if (!isfinite(loss)) {
            s = ow_error_set(err, OW_ERR_FORMAT, "the training loss became %g at step %d: lower the learning rate",
                             (double)loss, step + 1);
            break;
        }
        E->device_count = 0; /* callbacks may generate (previews): the model's device rows are refreshed */
        int stop = p->progress && p->progress(p->progress_user, step + 1, p->steps, loss, now_seconds() - started);
        if (!stop && p->save_every > 0 && p->on_checkpoint && ((step + 1) % p->save_every == 0 || step + 1 == p->steps)) {
            ow_embedding *snapshot = NULL;
            ow_learn_state *state = NULL;
            s = make_embedding(p->placeholder, trained, nvec, H, step + 1, &snapshot, err);
            if (s == OW_OK)
                s = ow_learn_state_make(p, H, step + 1, opt.t, trained, opt.m1, opt.m2, &rng, &epoch, model_fp,
                                        ow_model_precision(m), &images_id, &state, err);
            if (s == OW_OK) stop = p->on_checkpoint(p->checkpoint_user, step + 1, snapshot, state);
            ow_embedding_free(snapshot);
            ow_learn_state_free(state);
            if (s != OW_OK) break;
        }
        if (stop) {
            step++;
            s = ow_error_set(err, OW_ERR_CANCELLED, "learning stopped after step %d of %d", step, p->steps);
            break;
        }
    }
    E->device_count = 0; /* the model's device copy of its rows is stale: refreshed on next use */

    /* The embedding of the last completed step. */
    if (s == OW_OK || s == OW_ERR_CANCELLED) {
        ow_error e2 = {0};
        ow_status made = make_embedding(p->placeholder, trained, nvec, H, step, out, &e2);
        if (made != OW_OK) s = ow_error_set(err, made, "%s", e2.message);
    }
    free(latents); free(alphas); free(template_ids); free(ids); free(x0); free(noise); free(timesteps); free(grad);
    free(opt.m1); free(opt.m2); free(coarse); free(epoch.order); free(view_weights); ow_learn_images_id_clear(&images_id); free(weights);
    ow_train_template_list_free(templates, n_templates);
    ow_learn_step_free(&work, m);
    return s;
}
