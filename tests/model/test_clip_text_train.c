/* test_clip_text_train.c: the CLIP text encoder's training pass on the tiny model
 * (tests/golden/tiny/sd-tiny-b/text_encoder): forward_train gives the inference
 * output; the backward's gradient of L = sum(w * out) with respect to the extra
 * (trained) rows matches central finite differences of the forward, for clip skip
 * 1 and 2, with a row used at several positions and in a batch of two; frozen
 * vocabulary rows get nothing; a tape without extra rows is a no-op. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model/clip_text_train.h"

static ow_backend *backend;

static float *to_dev(const float *h, size_t n) {
    float *d = backend->alloc(backend, n);
    backend->upload(backend, d, h, n);
    return d;
}

/* L = sum(w * encoder(ids, rows)) in double. */
static double loss(const ow_clip_text *enc, const int32_t *ids, int B, int T, int skip, const float *rows, int n_rows,
                   const float *w) {
    const int H = enc->config.hidden_size;
    const size_t n = (size_t)B * T * H;
    float *drows = to_dev(rows, (size_t)n_rows * H);
    ow_clip_text_extra extra = {drows, n_rows};
    float *out = backend->alloc(backend, n);
    ow_error err = {0};
    ow_status s = ow_clip_text_forward(enc, backend, ids, B, T, skip, &extra, out, &err);
    float *host = malloc(n * sizeof *host);
    backend->download(backend, host, out, n);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)w[i] * host[i];
    free(host);
    backend->free(backend, out);
    backend->free(backend, drows);
    return s == OW_OK ? sum : NAN;
}

static uint64_t seed = 12345;
static float uniform(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((seed >> 40) / 16777216.0) * 2.0f - 1.0f;
}

static void check_gradient_case(const ow_clip_text *enc, int B, int skip) {
    const int T = 77, H = enc->config.hidden_size, V = enc->config.vocab_size, n_rows = 2;
    int32_t *ids = malloc((size_t)B * T * sizeof *ids);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t id = t == 0 ? 49406 : t < 8 ? 320 + 37 * t + b : 49407;
            if (t == 3) id = V;                         /* row 0 */
            if (t == 5 || (t == 6 && b == 1)) id = V + 1; /* row 1, twice in the second item */
            ids[(size_t)b * T + t] = id;
        }
    const size_t n = (size_t)B * T * H;
    float *rows = malloc((size_t)n_rows * H * sizeof *rows), *w = malloc(n * sizeof *w);
    for (int i = 0; i < n_rows * H; i++) rows[i] = 0.02f * uniform();
    for (size_t i = 0; i < n; i++) w[i] = uniform();

    /* Analytic: forward_train + backward. */
    float *drows_dev = to_dev(rows, (size_t)n_rows * H), *out = backend->alloc(backend, n);
    ow_clip_text_extra extra = {drows_dev, n_rows};
    ow_clip_text_tape *tape = NULL;
    ow_error err = {0};
    ow_status s = ow_clip_text_forward_train(enc, backend, ids, B, T, skip, &extra, out, &tape, &err);
    CHECK(s == OW_OK, "forward_train: %s", err.message);
    if (s != OW_OK) return;
    /* The training output is the inference output. */
    float *train_out = malloc(n * sizeof *train_out), *infer_out = malloc(n * sizeof *infer_out);
    backend->download(backend, train_out, out, n);
    float *out2 = backend->alloc(backend, n);
    s = ow_clip_text_forward(enc, backend, ids, B, T, skip, &extra, out2, &err);
    backend->download(backend, infer_out, out2, n);
    char what[96];
    snprintf(what, sizeof what, "B=%d skip=%d: forward_train output = inference output", B, skip);
    check_close(what, train_out, infer_out, n, 1e-6);
    float *grad_rows = calloc((size_t)n_rows * H, sizeof *grad_rows);
    float *grad_dev = to_dev(grad_rows, (size_t)n_rows * H), *dout = to_dev(w, n);
    s = ow_clip_text_backward(enc, backend, tape, dout, grad_dev, &err);
    CHECK(s == OW_OK, "backward: %s", err.message);
    backend->download(backend, grad_rows, grad_dev, (size_t)n_rows * H);

    /* Numerical: central differences on every coordinate of both rows. The forward is
     * f32: h = 1e-2 on rows of magnitude 0.02 keeps rounding noise (~1e-6 * |L| / h)
     * and the O(h^2) truncation well under the 1% tolerance; a wrong term in any
     * backward op moves the gradient by far more (checked by breaking one). */
    double max_grad = 0.0, max_err = 0.0;
    int at = 0;
    float *fd = malloc((size_t)n_rows * H * sizeof *fd);
    for (int i = 0; i < n_rows * H; i++) {
        const float h = 1e-2f, saved = rows[i];
        rows[i] = saved + h;
        double up = loss(enc, ids, B, T, skip, rows, n_rows, w);
        rows[i] = saved - h;
        double down = loss(enc, ids, B, T, skip, rows, n_rows, w);
        rows[i] = saved;
        fd[i] = (float)((up - down) / (2.0 * h));
        if (fabs(fd[i]) > max_grad) max_grad = fabs(fd[i]);
    }
    for (int i = 0; i < n_rows * H; i++) {
        double e = fabs((double)grad_rows[i] - fd[i]);
        if (e > max_err) { max_err = e; at = i; }
    }
    int ok = max_grad > 1e-3 && max_err <= 1e-2 * max_grad;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr,
            "%s B=%d skip=%d: d L / d rows (%d x %d) vs finite differences: max |grad| %.4g, max err %.3g at [%d] "
            "(backward %.6g, fd %.6g), tol 1%%\n",
            ok ? "ok  " : "FAIL", B, skip, n_rows, H, max_grad, max_err, at, grad_rows[at], fd[at]);

    /* Accumulation: a second backward adds the same gradient again. */
    s = ow_clip_text_backward(enc, backend, tape, dout, grad_dev, &err);
    float *twice = malloc((size_t)n_rows * H * sizeof *twice);
    backend->download(backend, twice, grad_dev, (size_t)n_rows * H);
    for (int i = 0; i < n_rows * H; i++) twice[i] *= 0.5f;
    snprintf(what, sizeof what, "B=%d skip=%d: backward accumulates into the rows", B, skip);
    check_close(what, twice, grad_rows, (size_t)n_rows * H, 1e-6);

    ow_clip_text_tape_free(backend, tape);
    backend->free(backend, out);
    backend->free(backend, out2);
    backend->free(backend, drows_dev);
    backend->free(backend, grad_dev);
    backend->free(backend, dout);
    free(ids); free(rows); free(w); free(train_out); free(infer_out); free(grad_rows); free(fd); free(twice);
}

int main(void) {
    ow_error err = {0};
    if (ow_cpu_backend_create(&backend, 2, &err) != OW_OK) { fprintf(stderr, "%s\n", err.message); return 1; }
    ow_clip_text_config config;
    ow_status s = ow_clip_text_config_load(&config, source_path("tests/golden/tiny/sd-tiny-b/text_encoder/config.json"), &err);
    CHECK(s == OW_OK, "config: %s", err.message);
    ow_tensor_set *file = NULL;
    if (s == OW_OK)
        s = ow_tensor_set_open(&file, source_path("tests/golden/tiny/sd-tiny-b/text_encoder/model.safetensors"), &err);
    CHECK(s == OW_OK, "weights: %s", err.message);
    if (s != OW_OK) CHECK_DONE();
    ow_weights w = {.set = file, .prefix = "", .what = "text encoder"};
    ow_clip_text *enc = NULL;
    s = ow_clip_text_load(&enc, &config, &w, backend, &err);
    CHECK(s == OW_OK, "load: %s", err.message);
    if (s == OW_OK) {
        check_gradient_case(enc, 1, 1);
        check_gradient_case(enc, 2, 1);
        check_gradient_case(enc, 1, 2);

        /* Without extra rows the backward has nothing to do and says so by succeeding. */
        int32_t ids[77];
        for (int t = 0; t < 77; t++) ids[t] = t ? 49407 : 49406;
        const size_t n = (size_t)77 * config.hidden_size;
        float *out = backend->alloc(backend, n), *dout = backend->alloc(backend, n);
        ow_clip_text_tape *tape = NULL;
        s = ow_clip_text_forward_train(enc, backend, ids, 1, 77, 1, NULL, out, &tape, &err);
        CHECK(s == OW_OK && ow_clip_text_backward(enc, backend, tape, dout, NULL, &err) == OW_OK,
              "a pass without extra rows: %s", err.message);
        ow_clip_text_tape_free(backend, tape);
        backend->free(backend, out);
        backend->free(backend, dout);
        printf("     tape of SD 1.x's encoder (H 768, I 3072, 12 layers) at B=2, T=77: %.1f MiB\n",
               ow_clip_text_tape_floats(&(ow_clip_text_config){.hidden_size = 768, .intermediate_size = 3072,
                                                               .num_attention_heads = 12, .num_hidden_layers = 12},
                                        2, 77, 1) * 4.0 / 1048576.0);
        ow_clip_text_free(enc);
    }
    ow_tensor_set_free(file);
    backend->destroy(backend);
    CHECK_DONE();
}
