/* test_unet_train.c: the UNet's training pass on the tiny model
 * (tests/golden/tiny/sd-tiny-b: 3 blocks, cross-attention in two down blocks, the
 * mid block and two up blocks, 8 groups, 4 heads, context 32 wide):
 *   - forward_train gives ow_unet_forward's output;
 *   - dL/d(context) of L = sum(w * unet(x, t, context)) from the backward matches
 *     central finite differences of the forward on 32 random coordinates, for one
 *     item and for a batch of two at different timesteps (one time-embedding row
 *     per item) and at a shared timestep (the folded-bias path);
 *   - the whole textual-inversion path: CLIP text encoder (with two trained rows)
 *     -> UNet -> L, backward through the UNet to the context and through the text
 *     encoder to the rows, against finite differences on the rows. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model/clip_text_train.h"
#include "model/unet_train.h"

static ow_backend *backend;

static uint64_t seed = 777;
static float uniform(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((seed >> 40) / 16777216.0) * 2.0f - 1.0f;
}

static float *to_dev(const float *h, size_t n) {
    float *d = backend->alloc(backend, n);
    backend->upload(backend, d, h, n);
    return d;
}

static double dot_download(const float *dev, const float *w, size_t n) {
    float *host = malloc(n * sizeof *host);
    backend->download(backend, host, dev, n);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * host[i];
    free(host);
    return s;
}

/* L = sum(w * unet(sample, t, context)). */
static double unet_loss(ow_unet *u, const float *sample_dev, int B, int H, int W, const float *t, const float *context,
                        int T, const float *w) {
    const size_t nctx = (size_t)B * T * u->config.cross_attention_dim, nout = (size_t)B * 4 * H * W;
    float *c = to_dev(context, nctx), *out = backend->alloc(backend, nout);
    ow_error err = {0};
    ow_status s = ow_unet_forward(u, backend, sample_dev, B, H, W, t, c, T, out, &err);
    double L = s == OW_OK ? dot_download(out, w, nout) : NAN;
    backend->free(backend, c);
    backend->free(backend, out);
    return L;
}

/* Reports max error of got against fd over n coordinates relative to the largest |fd|. */
static void report(const char *what, const float *got, const double *fd, int n, double rtol) {
    double max_grad = 0.0, max_err = 0.0;
    int at = 0;
    for (int i = 0; i < n; i++) if (fabs(fd[i]) > max_grad) max_grad = fabs(fd[i]);
    for (int i = 0; i < n; i++) {
        double e = fabs((double)got[i] - fd[i]);
        if (!isfinite(got[i])) e = INFINITY;
        if (e > max_err) { max_err = e; at = i; }
    }
    int ok = max_grad > 1e-6 && max_err <= rtol * max_grad;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr, "%s %s: %d coordinates, max |grad| %.4g, max err %.3g at %d (backward %.6g, fd %.6g), tol %.0f%%\n",
            ok ? "ok  " : "FAIL", what, n, max_grad, max_err, at, got[at], fd[at], rtol * 100);
}

static void unet_case(ow_unet *u, int B, int shared_t) {
    const int H = 16, W = 16, T = 77, Cc = u->config.cross_attention_dim;
    const size_t nin = (size_t)B * 4 * H * W, nctx = (size_t)B * T * Cc;
    float *sample = malloc(nin * sizeof *sample), *context = malloc(nctx * sizeof *context);
    float *w = malloc(nin * sizeof *w), t[2] = {321.0f, shared_t ? 321.0f : 40.0f};
    for (size_t i = 0; i < nin; i++) { sample[i] = uniform(); w[i] = uniform(); }
    for (size_t i = 0; i < nctx; i++) context[i] = uniform();
    float *sample_dev = to_dev(sample, nin), *ctx_dev = to_dev(context, nctx);
    float *out = backend->alloc(backend, nin), *out_ref = backend->alloc(backend, nin);
    ow_error err = {0};
    ow_status s = ow_unet_forward(u, backend, sample_dev, B, H, W, t, ctx_dev, T, out_ref, &err);
    float *a = malloc(nin * sizeof *a), *r = malloc(nin * sizeof *r);
    backend->download(backend, r, out_ref, nin);
    float *zeros = calloc(nctx, sizeof *zeros);
    float *dctx_dev = to_dev(zeros, nctx), *w_dev = to_dev(w, nin);
    float *dctx = malloc(nctx * sizeof *dctx), *dctx_ckpt = malloc(nctx * sizeof *dctx_ckpt);
    char what[160];
    /* With gradient checkpointing, then keeping every block's tape: the same bits. */
    size_t live[2] = {0, 0}, peak[2] = {0, 0};
    for (int keep = 0; keep < 2; keep++) {
        ow_unet_tape *tape = NULL;
        s = ow_unet_forward_train(u, backend, sample_dev, B, H, W, t, ctx_dev, T, !keep, out, &tape, &err);
        CHECK(s == OW_OK, "forward_train: %s", err.message);
        if (s != OW_OK) return;
        backend->download(backend, a, out, nin);
        snprintf(what, sizeof what, "B=%d%s%s: forward_train output = ow_unet_forward, bit for bit", B,
                 shared_t ? " shared t" : "", keep ? ", every tape kept" : ", checkpointed");
        CHECK(memcmp(a, r, nin * sizeof *a) == 0, "%s", what);
        if (memcmp(a, r, nin * sizeof *a) == 0) printf("ok   %s\n", what);
        live[keep] = ow_unet_tape_live_floats(tape);
        backend->upload(backend, dctx_dev, zeros, nctx);
        s = ow_unet_backward_context(u, backend, tape, w_dev, dctx_dev, &err);
        CHECK(s == OW_OK, "backward: %s", err.message);
        peak[keep] = ow_unet_tape_peak_floats(tape);
        printf("     %s: tape %.2f MiB after the forward, peak %.2f MiB during the backward\n",
               keep ? "every tape kept" : "checkpointed", live[keep] * 4.0 / 1048576.0, peak[keep] * 4.0 / 1048576.0);
        backend->download(backend, keep ? dctx : dctx_ckpt, dctx_dev, nctx);
        CHECK(ow_unet_backward_context(u, backend, tape, w_dev, dctx_dev, &err) == OW_ERR_INVALID_ARGUMENT,
              "a tape is used once");
        ow_unet_tape_free(tape);
    }
    snprintf(what, sizeof what, "B=%d%s: d L / d context the same with and without checkpointing, bit for bit", B,
             shared_t ? " shared t" : "");
    CHECK(memcmp(dctx, dctx_ckpt, nctx * sizeof *dctx) == 0, "%s", what);
    if (memcmp(dctx, dctx_ckpt, nctx * sizeof *dctx) == 0) printf("ok   %s\n", what);
    CHECK(live[1] > live[0] && peak[1] > peak[0], "keeping every tape holds more after the forward (%zu vs %zu floats)",
          live[1], live[0]);

    /* f32 forward: h = 1e-2 on context values of magnitude 1 (see the note in test_clip_text_train.c). */
    enum { N = 32 };
    float got[N];
    double fd[N];
    for (int k = 0; k < N; k++) {
        size_t i = (size_t)((uniform() * 0.5f + 0.5f) * (float)(nctx - 1));
        const float h = 2e-2f, saved = context[i];
        context[i] = saved + h;
        double up = unet_loss(u, sample_dev, B, H, W, t, context, T, w);
        context[i] = saved - h;
        double down = unet_loss(u, sample_dev, B, H, W, t, context, T, w);
        context[i] = saved;
        fd[k] = (up - down) / (2.0 * h);
        got[k] = dctx[i];
    }
    snprintf(what, sizeof what, "B=%d%s: d L / d context vs finite differences", B, shared_t ? " shared t" : "");
    report(what, got, fd, N, 2e-2);
    backend->free(backend, sample_dev);
    backend->free(backend, ctx_dev);
    backend->free(backend, out);
    backend->free(backend, out_ref);
    backend->free(backend, dctx_dev);
    backend->free(backend, w_dev);
    free(sample); free(context); free(w); free(a); free(r); free(zeros); free(dctx); free(dctx_ckpt);
}

/* L(rows) = sum(w * unet(sample, t, clip(ids, rows))). */
static double path_loss(const ow_clip_text *enc, ow_unet *u, const int32_t *ids, const float *rows, int n_rows,
                        const float *sample_dev, const float *t, const float *w) {
    const int T = 77, H = enc->config.hidden_size;
    float *rows_dev = to_dev(rows, (size_t)n_rows * H), *ctx = backend->alloc(backend, (size_t)T * H);
    ow_clip_text_extra extra = {rows_dev, n_rows};
    ow_error err = {0};
    ow_status s = ow_clip_text_forward(enc, backend, ids, 1, T, 1, &extra, ctx, &err);
    float *out = backend->alloc(backend, 4 * 16 * 16);
    if (s == OW_OK) s = ow_unet_forward(u, backend, sample_dev, 1, 16, 16, t, ctx, T, out, &err);
    double L = s == OW_OK ? dot_download(out, w, 4 * 16 * 16) : NAN;
    backend->free(backend, rows_dev);
    backend->free(backend, ctx);
    backend->free(backend, out);
    return L;
}

static void whole_path(const ow_clip_text *enc, ow_unet *u) {
    const int T = 77, H = enc->config.hidden_size, V = enc->config.vocab_size, n_rows = 2;
    int32_t ids[77];
    for (int i = 0; i < T; i++) ids[i] = i == 0 ? 49406 : i < 6 ? 320 + 11 * i : 49407;
    ids[2] = V;     /* "a photo of * ..." with two trained rows */
    ids[3] = V + 1;
    float rows[2 * 64], w[4 * 16 * 16], sample[4 * 16 * 16], t[1] = {500.0f};
    for (int i = 0; i < n_rows * H; i++) rows[i] = 0.02f * uniform();
    for (int i = 0; i < 4 * 16 * 16; i++) { w[i] = uniform(); sample[i] = uniform(); }
    float *sample_dev = to_dev(sample, 4 * 16 * 16), *rows_dev = to_dev(rows, (size_t)n_rows * H);
    float *ctx = backend->alloc(backend, (size_t)T * H), *out = backend->alloc(backend, 4 * 16 * 16);
    ow_clip_text_extra extra = {rows_dev, n_rows};
    ow_clip_text_tape *ctape = NULL;
    ow_unet_tape *utape = NULL;
    ow_error err = {0};
    ow_status s = ow_clip_text_forward_train(enc, backend, ids, 1, T, 1, &extra, ctx, &ctape, &err);
    if (s == OW_OK) s = ow_unet_forward_train(u, backend, sample_dev, 1, 16, 16, t, ctx, T, 0, out, &utape, &err);
    float zeros[77 * 64] = {0};
    float *dctx = to_dev(zeros, (size_t)T * H), *drows = to_dev(zeros, (size_t)n_rows * H), *w_dev = to_dev(w, 4 * 16 * 16);
    if (s == OW_OK) s = ow_unet_backward_context(u, backend, utape, w_dev, dctx, &err);
    if (s == OW_OK) s = ow_clip_text_backward(enc, backend, ctape, dctx, drows, &err);
    CHECK(s == OW_OK, "text encoder + unet training pass: %s", err.message);
    float got[2 * 64];
    backend->download(backend, got, drows, (size_t)n_rows * H);
    double fd[2 * 64];
    for (int i = 0; i < n_rows * H; i++) {
        const float h = 1e-2f, saved = rows[i];
        rows[i] = saved + h;
        double up = path_loss(enc, u, ids, rows, n_rows, sample_dev, t, w);
        rows[i] = saved - h;
        double down = path_loss(enc, u, ids, rows, n_rows, sample_dev, t, w);
        rows[i] = saved;
        fd[i] = (up - down) / (2.0 * h);
    }
    report("text encoder + unet: d L / d trained rows vs finite differences", got, fd, n_rows * H, 2e-2);
    ow_clip_text_tape_free(backend, ctape);
    ow_unet_tape_free(utape);
    backend->free(backend, sample_dev);
    backend->free(backend, rows_dev);
    backend->free(backend, ctx);
    backend->free(backend, out);
    backend->free(backend, dctx);
    backend->free(backend, drows);
    backend->free(backend, w_dev);
}

int main(void) {
    ow_error err = {0};
    if (ow_cpu_backend_create(&backend, 2, &err) != OW_OK) { fprintf(stderr, "%s\n", err.message); return 1; }
    ow_unet_config config;
    ow_status s = ow_unet_config_load(&config, source_path("tests/golden/tiny/sd-tiny-b/unet/config.json"), &err);
    CHECK(s == OW_OK, "unet config: %s", err.message);
    ow_tensor_set *file = NULL, *text_file = NULL;
    if (s == OW_OK)
        s = ow_tensor_set_open(&file, source_path("tests/golden/tiny/sd-tiny-b/unet/diffusion_pytorch_model.safetensors"), &err);
    CHECK(s == OW_OK, "unet weights: %s", err.message);
    if (s != OW_OK) CHECK_DONE();
    ow_weights w = {.set = file, .prefix = "", .what = "unet"};
    ow_unet *unet = NULL;
    s = ow_unet_load(&unet, &config, &w, backend, &err);
    CHECK(s == OW_OK, "unet load: %s", err.message);
    if (s == OW_OK) {
        unet_case(unet, 1, 1);
        unet_case(unet, 2, 0);
        unet_case(unet, 2, 1);

        ow_clip_text_config tc;
        s = ow_clip_text_config_load(&tc, source_path("tests/golden/tiny/sd-tiny-b/text_encoder/config.json"), &err);
        if (s == OW_OK)
            s = ow_tensor_set_open(&text_file, source_path("tests/golden/tiny/sd-tiny-b/text_encoder/model.safetensors"),
                                   &err);
        ow_clip_text *enc = NULL;
        ow_weights tw = {.set = text_file, .prefix = "", .what = "text encoder"};
        if (s == OW_OK) s = ow_clip_text_load(&enc, &tc, &tw, backend, &err);
        CHECK(s == OW_OK, "text encoder: %s", err.message);
        if (s == OW_OK) whole_path(enc, unet);
        ow_clip_text_free(enc);
        ow_unet_free(unet);
    }
    ow_tensor_set_free(file);
    ow_tensor_set_free(text_file);
    backend->destroy(backend);
    CHECK_DONE();
}
