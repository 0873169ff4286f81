/* test_learn.c: ow_learn on the tiny model (tests/golden/tiny/sd-tiny-b): bad
 * arguments refused with messages that say what to do; a short run reports a
 * finite loss every step, moves the placeholder's row away from the init word's,
 * is bit-for-bit repeatable with the same seed, can be stopped by its progress
 * callback (keeping the last step), and leaves the token usable by ow_generate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "oneword.h"

typedef struct progress_log {
    int calls, stop_at;
    float first_loss, last_loss;
    int all_finite;
} progress_log;

static int on_progress(void *user, int step, int total, float loss, double seconds) {
    progress_log *log = user;
    (void)total;
    (void)seconds;
    if (log->calls == 0) log->first_loss = loss;
    log->last_loss = loss;
    log->all_finite &= isfinite(loss) && loss >= 0.0f;
    log->calls++;
    return log->stop_at && step >= log->stop_at;
}

static ow_model *open_model(void) {
    ow_model *m = NULL;
    ow_error err = {0};
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = 2;
    ow_status s = ow_model_open(&m, source_path("tests/golden/tiny/sd-tiny-b"), &opts, &err);
    CHECK(s == OW_OK, "open the tiny model: %s", err.message);
    return m;
}

/* Two 32x32 training images: a red square on blue, and the same shifted. */
static float pixels[2][32 * 32 * 3];
static ow_learn_image images[2];
static void make_images(void) {
    for (int i = 0; i < 2; i++) {
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int inside = x >= 8 + 4 * i && x < 24 + 4 * i && y >= 8 && y < 24;
                float *p = &pixels[i][(y * 32 + x) * 3];
                p[0] = inside ? 0.9f : 0.1f;
                p[1] = 0.1f;
                p[2] = inside ? 0.1f : 0.8f;
            }
        images[i] = (ow_learn_image){pixels[i], 32, 32};
    }
}

static void expect_refused(ow_model *m, const ow_learn_params *p, int n_images, const char *want, const char *what) {
    ow_embedding *emb = NULL;
    ow_error err = {0};
    ow_status s = ow_learn(m, images, n_images, p, &emb, &err);
    int ok = s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, want) && !emb;
    CHECK(ok, "%s: status %d '%s' (want '%s')", what, s, err.message, want);
    if (ok) printf("ok   %s: %s\n", what, err.message);
    ow_embedding_free(emb);
}

static ow_learn_params short_run(progress_log *log) {
    ow_learn_params p;
    ow_learn_params_init(&p);
    p.init_word = "square";
    p.steps = 12;
    p.size = 32;
    p.batch = 2;
    p.seed = 42;
    p.progress = on_progress;
    p.progress_user = log;
    return p;
}

int main(void) {
    make_images();
    ow_model *m = open_model();
    if (!m) CHECK_DONE();
    progress_log log = {.all_finite = 1};
    ow_learn_params p = short_run(&log);

    ow_learn_params bad = p;
    expect_refused(m, &bad, 0, "at least one image", "no images");
    bad.init_word = "glorpwizzle";
    expect_refused(m, &bad, 2, "\" + \"", "an init word of several tokens");
    bad = p;
    bad.placeholder = "dog";
    expect_refused(m, &bad, 2, "ordinary word", "a placeholder that is a word");
    bad = p;
    bad.size = 36;
    expect_refused(m, &bad, 2, "multiple of", "a size the model cannot take");
    bad = p;
    bad.learning_rate = NAN;
    expect_refused(m, &bad, 2, "learning rate", "a NaN learning rate");

    /* A short run. */
    ow_embedding *emb = NULL;
    ow_error err = {0};
    ow_status s = ow_learn(m, images, 2, &p, &emb, &err);
    CHECK(s == OW_OK && emb, "learn 12 steps: %s", err.message);
    CHECK(log.calls == 12 && log.all_finite, "progress called %d times with finite losses (first %g, last %g)",
          log.calls, log.first_loss, log.last_loss);
    printf("     12 steps at 32x32, batch 2: loss %.4f at step 1, %.4f at step 12\n", log.first_loss, log.last_loss);
    const float *rows = NULL;
    int n = emb ? ow_embedding_vectors(emb, 0, &rows, NULL) : 0;
    CHECK(emb && ow_embedding_count(emb) == 1 && strcmp(ow_embedding_token(emb, 0), "*") == 0 && n == 1 &&
              ow_embedding_dim(emb) == 32 && ow_embedding_step(emb) == 12,
          "the embedding holds '*' with one 32-wide vector at step 12");

    /* The same seed on a fresh model: the same rows, bit for bit. */
    ow_model *m2 = open_model();
    progress_log log2 = {.all_finite = 1};
    ow_learn_params p2 = short_run(&log2);
    ow_embedding *emb2 = NULL;
    s = ow_learn(m2, images, 2, &p2, &emb2, &err);
    const float *rows2 = NULL;
    if (s == OW_OK) ow_embedding_vectors(emb2, 0, &rows2, NULL);
    CHECK(s == OW_OK && rows && rows2 && memcmp(rows, rows2, 32 * sizeof *rows) == 0 && log2.last_loss == log.last_loss,
          "the same seed gives the same embedding bit for bit (%s)", err.message);

    /* The row moved away from the init word's (AdamW moves each coordinate by ~lr per step). */
    ow_model *m3 = open_model();
    progress_log log3 = {.all_finite = 1, .stop_at = 1};
    ow_learn_params p3 = short_run(&log3);
    p3.learning_rate = 1e-12f; /* one negligible step: the init word's row */
    ow_embedding *init = NULL;
    s = ow_learn(m3, images, 2, &p3, &init, &err);
    CHECK(s == OW_ERR_CANCELLED && init && ow_embedding_step(init) == 1 && log3.calls == 1,
          "a run stopped by its callback after step 1 keeps step 1: status %d, %s", s, err.message);
    const float *init_rows = NULL;
    if (init) ow_embedding_vectors(init, 0, &init_rows, NULL);
    double moved = 0.0;
    for (int i = 0; rows && init_rows && i < 32; i++) moved = fmax(moved, fabs((double)rows[i] - init_rows[i]));
    const double lr = 5e-3 * 2; /* base x batch */
    CHECK(moved > 0.5 * lr && moved < 12 * lr * 1.5, "12 steps moved the row by at most %.4g (lr %.3g)", moved, lr);
    printf("     the learned row moved up to %.4f from the init word's (12 steps, lr %.3g)\n", moved, lr);

    /* A second run with the same placeholder on the same model is refused. */
    expect_refused(m, &p, 2, "already an embedding token", "learning '*' twice in one model");

    /* The learned token is usable at once. */
    ow_generate_params g;
    ow_generate_params_init(&g);
    g.prompt = "a photo of *";
    g.steps = 2;
    g.width = g.height = 32;
    g.n_images = 1;
    float *out = malloc(32 * 32 * 3 * sizeof *out);
    s = ow_generate(m, &g, out, &err);
    CHECK(s == OW_OK, "generate with the learned token: %s", err.message);
    free(out);

    ow_embedding_free(emb);
    ow_embedding_free(emb2);
    ow_embedding_free(init);
    ow_model_close(m);
    ow_model_close(m2);
    ow_model_close(m3);
    CHECK_DONE();
}
