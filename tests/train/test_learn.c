/* test_learn.c: ow_learn on the tiny model (tests/golden/tiny/sd-tiny-b): bad
 * arguments refused with messages that say what to do; a short run reports a
 * finite loss every step, moves the placeholder's row away from the init word's,
 * is bit-for-bit repeatable with the same seed, can be stopped by its progress
 * callback (keeping the last step), leaves the token usable by ow_generate, and
 * resumes from a saved state exactly (3 + 3 steps = 6 steps, bit for bit), refusing
 * a resume on another model or other images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "oneword.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"
#include "train/learn_state.h"
#include "train/learn_step.h"

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
        images[i] = (ow_learn_image){pixels[i], 32, 32, NULL};
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

/* Saves the state of step `at` to the file named by user. */
typedef struct saver { const char *path; int at, saved; } saver;
static int save_state(void *user, int step, const ow_embedding *emb, const ow_learn_state *state) {
    saver *sv = user;
    (void)emb;
    if (step != sv->at) return 0;
    ow_error err = {0};
    sv->saved = ow_learn_state_save(state, sv->path, &err) == OW_OK;
    CHECK(sv->saved, "saving the state of step %d: %s", step, err.message);
    return 1; /* stop here, as a killed run would */
}

/* 6 steps in one go against 3 steps, a state saved to a file, and 3 more resumed from it. */
static void resume_is_exact(void) {
    ow_error err = {0};
    ow_model *whole = open_model(), *first = open_model(), *second = open_model();
    if (!whole || !first || !second) return;
    progress_log l1 = {.all_finite = 1}, l2 = {.all_finite = 1}, l3 = {.all_finite = 1};
    ow_learn_params p = short_run(&l1);
    p.steps = 6;
    ow_embedding *a = NULL, *b = NULL, *c = NULL;
    ow_status s = ow_learn(whole, images, 2, &p, &a, &err);
    CHECK(s == OW_OK, "6 steps: %s", err.message);

    char path[] = "/tmp/ow-learn-state-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    saver sv = {path, 3, 0};
    ow_learn_params p1 = short_run(&l2);
    p1.steps = 6;
    p1.save_every = 3;
    p1.on_checkpoint = save_state;
    p1.checkpoint_user = &sv;
    s = ow_learn(first, images, 2, &p1, &b, &err);
    CHECK(s == OW_ERR_CANCELLED && sv.saved && ow_embedding_step(b) == 3, "stopped after step 3 with its state saved: %s",
          err.message);
    ow_learn_state *state = NULL;
    s = ow_learn_state_load(&state, path, &err);
    CHECK(s == OW_OK && ow_learn_state_step(state) == 3, "the state reads back at step 3: %s", err.message);
    ow_learn_params p2;
    ow_learn_params_init(&p2);
    if (state) ow_learn_state_params(state, &p2);
    p2.progress = on_progress;
    p2.progress_user = &l3;
    p2.resume = state;
    s = ow_learn(second, images, 2, &p2, &c, &err);
    CHECK(s == OW_OK && l3.calls == 3, "resumed for steps 4..6: %s (%d steps)", err.message, l3.calls);
    const float *ra = NULL, *rc = NULL;
    if (a) ow_embedding_vectors(a, 0, &ra, NULL);
    if (c) ow_embedding_vectors(c, 0, &rc, NULL);
    CHECK(ra && rc && memcmp(ra, rc, 32 * sizeof *ra) == 0 && l3.last_loss == l1.last_loss && ow_embedding_step(c) == 6,
          "resumed run = uninterrupted run, bit for bit (last loss %.6g vs %.6g)", l3.last_loss, l1.last_loss);
    if (ra && rc && memcmp(ra, rc, 32 * sizeof *ra) == 0) printf("ok   3 steps + resume 3 = 6 steps, bit for bit\n");

    /* Resuming on another model, or with other images, is refused. */
    ow_model *other = NULL;
    ow_model_options opts;
    ow_model_options_init(&opts);
    if (ow_model_open(&other, source_path("tests/golden/tiny/sd-tiny-a"), &opts, &err) == OW_OK && state) {
        ow_embedding *d = NULL;
        s = ow_learn(other, images, 2, &p2, &d, &err);
        CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "another model"), "resume on another model: %s",
              err.message);
        printf("ok   resume on another model refused: %s\n", err.message);
        ow_embedding_free(d);
    }
    ow_model_close(other);
    ow_model *fourth = open_model();
    if (fourth && state) {
        ow_embedding *d = NULL;
        s = ow_learn(fourth, images, 1, &p2, &d, &err);
        CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "images differ"), "resume with other images: %s",
              err.message);
        printf("ok   resume with other images refused: %s\n", err.message);
        ow_embedding_free(d);
    }
    ow_model_close(fourth);
    /* The state says the run computed in fp32; a bf16 model may not continue it. */
    CHECK(state && ow_learn_state_precision(state) == OW_PRECISION_FP32, "the state records fp32 (got %d)",
          state ? (int)ow_learn_state_precision(state) : -9);
    ow_model *in_bf16 = NULL;
    ow_model_options_init(&opts);
    opts.precision = OW_PRECISION_BF16;
    if (state && ow_model_open(&in_bf16, source_path("tests/golden/tiny/sd-tiny-b"), &opts, &err) == OW_OK) {
        ow_embedding *d = NULL;
        s = ow_learn(in_bf16, images, 2, &p2, &d, &err);
        CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "computed in fp32") && strstr(err.message, "--precision fp32"),
              "resume in bf16 of an fp32 run: %s", err.message);
        printf("ok   resume in bf16 of an fp32 run refused: %s\n", err.message);
        ow_embedding_free(d);
    }
    ow_model_close(in_bf16);

    /* The same pictures converted by another process (GIMP's babl) may differ in the last
     * bits: resuming on them is allowed and lands within 1e-5 of the uninterrupted run. A
     * 6x6 patch painted over is another picture. */
    static float nudged[2][32 * 32 * 3], painted[2][32 * 32 * 3];
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 32 * 32 * 3; k++) {
            nudged[i][k] = pixels[i][k] + (k % 3 == 0 ? 3e-7f : k % 3 == 1 ? -3e-7f : 0.0f);
            painted[i][k] = pixels[i][k];
        }
    for (int y = 10; y < 16; y++)
        for (int x = 10; x < 16; x++)
            for (int c = 0; c < 3; c++) painted[1][(y * 32 + x) * 3 + c] = 1.0f - pixels[1][(y * 32 + x) * 3 + c];
    ow_learn_image nudged_images[2] = {{nudged[0], 32, 32, NULL}, {nudged[1], 32, 32, NULL}};
    ow_learn_image painted_images[2] = {{painted[0], 32, 32, NULL}, {painted[1], 32, 32, NULL}};
    ow_model *fifth = open_model(), *sixth = open_model();
    if (fifth && sixth && state) {
        ow_embedding *d = NULL, *e = NULL;
        s = ow_learn(fifth, nudged_images, 2, &p2, &d, &err);
        const float *rd = NULL;
        if (d) ow_embedding_vectors(d, 0, &rd, NULL);
        double worst = 0.0;
        for (int j = 0; rd && ra && j < 32; j++) worst = fmax(worst, fabs((double)rd[j] - ra[j]));
        CHECK(s == OW_OK && rd && ra && worst <= 1e-5, "resume on the same pictures, last bits changed: %s (max difference %g)",
              err.message, worst);
        printf("ok   resume on the same pictures with their last bits changed: allowed, %g from the uninterrupted run\n", worst);
        s = ow_learn(sixth, painted_images, 2, &p2, &e, &err);
        CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "images differ"), "resume with a patch painted over: %s",
              err.message);
        printf("ok   resume with a 6x6 patch painted over refused: %s\n", err.message);
        ow_embedding_free(d);
        ow_embedding_free(e);
    }
    ow_model_close(fifth);
    ow_model_close(sixth);
    unlink(path);
    ow_learn_state_free(state);
    ow_embedding_free(a);
    ow_embedding_free(b);
    ow_embedding_free(c);
    ow_model_close(whole);
    ow_model_close(first);
    ow_model_close(second);
}

/* Images whose masks are 0 everywhere teach nothing: the row only decays, as AdamW's
 * weight decay does with a zero gradient, to init x (1 - lr wd)^steps, bit for bit. A
 * half mask teaches something. */
static void masks_weigh_the_loss(void) {
    ow_model *m = open_model(), *m2 = open_model();
    if (!m || !m2) return;
    static float zero[32 * 32], left[32 * 32];
    for (int i = 0; i < 32 * 32; i++) left[i] = i % 32 < 16;
    ow_learn_image masked[2] = {{pixels[0], 32, 32, zero}, {pixels[1], 32, 32, zero}};
    progress_log log = {.all_finite = 1};
    ow_learn_params p = short_run(&log);
    p.steps = 4;
    ow_embedding *emb = NULL, *emb2 = NULL;
    ow_error err = {0};
    ow_status s = ow_learn(m, masked, 2, &p, &emb, &err);
    CHECK(s == OW_OK && log.last_loss == 0.0f, "fully masked: %s, loss %g", err.message, log.last_loss);
    /* the init word's row, decayed */
    int32_t ids[77];
    const float *rows = NULL;
    float want[32];
    const double lr = (double)p.learning_rate * p.batch;
    if (s == OW_OK && ow_model_encode_ids(m, "square", "init", ids, &err) == OW_OK) {
        m->backend->download(m->backend, want, m->text_encoder->token_embedding.data + (size_t)ids[1] * 32, 32);
        for (int k = 0; k < p.steps; k++)
            for (int j = 0; j < 32; j++) want[j] = (float)(want[j] * (1.0 - lr * p.weight_decay));
        ow_embedding_vectors(emb, 0, &rows, NULL);
        CHECK(rows && memcmp(rows, want, sizeof want) == 0, "fully masked images: the row only decays");
        if (rows && memcmp(rows, want, sizeof want) == 0)
            printf("ok   masks all 0: loss 0 and the row = init x (1 - lr wd)^4, bit for bit\n");
    }
    masked[0].mask = masked[1].mask = left;
    s = ow_learn(m2, masked, 2, &p, &emb2, &err);
    const float *rows2 = NULL;
    if (emb2) ow_embedding_vectors(emb2, 0, &rows2, NULL);
    CHECK(s == OW_OK && log.last_loss > 0.0f && rows2 && memcmp(rows2, want, sizeof want) != 0,
          "half-masked images are learned from: %s, loss %g", err.message, log.last_loss);
    ow_embedding_free(emb);
    ow_embedding_free(emb2);
    ow_model_close(m);
    ow_model_close(m2);
}

/* The dry run's views: one per image and its mirror, resized as learning does; the
 * masks follow the views; a bad size is refused. */
static void views_are_the_training_views(void) {
    ow_learn_params p;
    ow_learn_params_init(&p);
    p.size = 16;
    static float left[32 * 32];
    for (int i = 0; i < 32 * 32; i++) left[i] = i % 32 < 16;
    ow_learn_image ims[2] = {images[0], {pixels[1], 32, 32, left}};
    const int n = ow_learn_view_count(2, &p);
    float views[4 * 16 * 16 * 3], masks[4 * 16 * 16];
    ow_error err = {0};
    ow_status s = ow_learn_views(ims, 2, &p, views, masks, &err);
    CHECK(s == OW_OK && n == 4, "4 views (2 images, flip 0.5): %d, %s", n, err.message);
    int mirrored = 1, in_range = 1, mask_ok = 1;
    for (int v = 0; v < 4; v += 2)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                for (int c = 0; c < 3; c++) {
                    const float a = views[((v * 16 + y) * 16 + x) * 3 + c], b = views[(((v + 1) * 16 + y) * 16 + 15 - x) * 3 + c];
                    mirrored &= a == b;
                    in_range &= a >= 0.0f && a <= 1.0f;
                }
                mask_ok &= masks[(v * 16 + y) * 16 + x] == masks[((v + 1) * 16 + y) * 16 + 15 - x];
                if (v == 0) mask_ok &= masks[y * 16 + x] == 1.0f;
            }
    mask_ok &= masks[2 * 256 + 0] == 1.0f && masks[2 * 256 + 15] == 0.0f && masks[3 * 256 + 0] == 0.0f;
    CHECK(mirrored && in_range && mask_ok, "views: mirrors %d, in [0, 1] %d, masks %d", mirrored, in_range, mask_ok);
    if (mirrored && in_range && mask_ok) printf("ok   dry-run views: 4 views, each mirror exact, masks follow (1 / left half)\n");
    p.size = 4;
    s = ow_learn_views(ims, 2, &p, views, masks, &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT, "size 4 refused: %s", err.message);
}

/* --center-crop: a 64x32 image, blue with red left and right quarters (and its 32x64
 * twin with red top and bottom quarters), viewed at 16x16 without flips: the cropped
 * views are the blue centre alone (every pixel within 1e-6 of it), the whole-image
 * views show the red at their outer quarter (columns 0..3, 12..15: red above 0.8), the
 * mask is cropped with its image; the option is kept by the training state and a
 * resume with the other choice is refused. */
static void center_crop_views(void) {
    static float wide[32 * 64 * 3], tall[64 * 32 * 3], wide_mask[32 * 64];
    const float blue[3] = {0.15f, 0.3f, 0.8f}, red[3] = {0.9f, 0.15f, 0.15f};
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 64; x++) {
            const int outer = x < 16 || x >= 48;
            memcpy(&wide[(y * 64 + x) * 3], outer ? red : blue, sizeof blue);
            memcpy(&tall[(x * 32 + y) * 3], outer ? red : blue, sizeof blue); /* transposed */
            wide_mask[y * 64 + x] = outer ? 0.0f : 1.0f;
        }
    ow_learn_image ims[2] = {{wide, 64, 32, wide_mask}, {tall, 32, 64, NULL}};
    ow_learn_params p;
    ow_learn_params_init(&p);
    p.size = 16;
    p.flip = 0.0f;
    float views[2 * 16 * 16 * 3], masks[2 * 16 * 16];
    ow_error err = {0};
    double off_blue = 0.0, mask_low = 1.0;
    p.center_crop = 1;
    ow_status s = ow_learn_views(ims, 2, &p, views, masks, &err);
    for (int k = 0; s == OW_OK && k < 2 * 16 * 16; k++) {
        for (int c = 0; c < 3; c++) off_blue = fmax(off_blue, fabs(views[k * 3 + c] - blue[c]));
        if (k < 256) mask_low = fmin(mask_low, masks[k]);
    }
    CHECK(s == OW_OK && off_blue < 1e-6 && mask_low > 0.999, "cropped views: %s, %g from blue, mask min %g", err.message,
          off_blue, mask_low);
    if (s == OW_OK && off_blue < 1e-6)
        printf("ok   --center-crop: the views of 64x32 and 32x64 images are their blue centres (max %.1g off), the mask "
               "cropped with them (min %.3f)\n", off_blue, mask_low);
    p.center_crop = 0;
    s = ow_learn_views(ims, 2, &p, views, masks, &err);
    double red_wide = 1.0, red_tall = 1.0;
    for (int y = 0; s == OW_OK && y < 16; y++)
        for (int i = 0; i < 4; i++) {
            const int outer[2] = {i, 15 - i};
            for (int e = 0; e < 2; e++) {
                red_wide = fmin(red_wide, views[(y * 16 + outer[e]) * 3]);        /* wide: left / right columns */
                red_tall = fmin(red_tall, views[(256 + outer[e] * 16 + y) * 3]);  /* tall: top / bottom rows */
            }
        }
    CHECK(s == OW_OK && red_wide > 0.8 && red_tall > 0.8 && masks[0] < 0.01,
          "whole views: %s, red at least %g / %g in the outer quarters, mask %g", err.message, red_wide, red_tall, masks[0]);
    if (s == OW_OK && red_wide > 0.8 && red_tall > 0.8)
        printf("ok   without it the whole images are squeezed: red >= %.3f / %.3f in the outer quarters\n", red_wide,
               red_tall);

    /* An odd margin: an 11x8 image whose pixels hold their column is cut at columns 1..8,
     * as the reference's img[:, (w - crop) // 2 : (w + crop) // 2]; at size 8 the resize keeps it. */
    static float columns[8 * 11 * 3], cut[8 * 8 * 3];
    for (int k = 0; k < 8 * 11; k++)
        for (int c = 0; c < 3; c++) columns[k * 3 + c] = (float)(k % 11) / 16.0f;
    ow_learn_image odd[1] = {{columns, 11, 8, NULL}};
    p.size = 8;
    p.center_crop = 1;
    s = ow_learn_views(odd, 1, &p, cut, NULL, &err);
    int at_one = s == OW_OK;
    for (int k = 0; at_one && k < 8 * 8; k++) at_one = fabsf(cut[k * 3] - (float)(k % 8 + 1) / 16.0f) < 1e-6f;
    CHECK(at_one, "11x8 cropped at columns 1..8: %s, first %g last %g", err.message, cut[0] * 16, cut[7 * 3] * 16);
    if (at_one) printf("ok   an 11x8 image is cut at columns 1..8 ((11 - 8) // 2 = 1, as the reference)\n");
    p.size = 16;

    /* The state keeps it; resuming with the other choice is refused. */
    ow_model *m = open_model(), *m2 = open_model();
    if (!m || !m2) return;
    char path[] = "/tmp/ow-learn-crop-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    progress_log log = {.all_finite = 1};
    ow_learn_params run = short_run(&log);
    run.steps = 2;
    run.center_crop = 1;
    run.save_every = 1;
    saver sv = {path, 1, 0};
    run.on_checkpoint = save_state;
    run.checkpoint_user = &sv;
    ow_embedding *emb = NULL;
    ow_learn_image wide_only[1] = {{wide, 64, 32, NULL}};
    s = ow_learn(m, wide_only, 1, &run, &emb, &err);
    ow_learn_state *state = NULL;
    if (sv.saved) s = ow_learn_state_load(&state, path, &err);
    ow_learn_params back;
    ow_learn_params_init(&back);
    if (state) ow_learn_state_params(state, &back);
    CHECK(state && back.center_crop == 1, "the state keeps --center-crop: %d (%s)", back.center_crop, err.message);
    ow_embedding *d = NULL;
    back.center_crop = 0;
    back.resume = state;
    s = state ? ow_learn(m2, wide_only, 1, &back, &d, &err) : OW_ERR_INVALID_ARGUMENT;
    CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "--center-crop"), "resume without the crop: %s", err.message);
    if (s == OW_ERR_INVALID_ARGUMENT) printf("ok   the state keeps center_crop; resuming without it refused: %s\n", err.message);
    ow_embedding_free(emb);
    ow_embedding_free(d);
    ow_learn_state_free(state);
    unlink(path);
    ow_model_close(m);
    ow_model_close(m2);

    /* A state saved before center_crop existed reads as not cropping. */
    state = NULL;
    s = ow_learn_state_load(&state, source_path("tests/golden/formats/learn_state_tiny.safetensors"), &err);
    ow_learn_params_init(&back);
    back.center_crop = 1;
    if (state) ow_learn_state_params(state, &back);
    CHECK(s == OW_OK && back.center_crop == 0, "an older state: %s, center_crop %d", err.message, back.center_crop);
    if (s == OW_OK && back.center_crop == 0) printf("ok   a state saved before the option: center_crop 0\n");
    ow_learn_state_free(state);
}

/* kohya's multi-token init: with as many vectors as the init word has tokens, vector
 * i starts from token i's row (checked after 1 step with learning rate ~0: the rows
 * have not moved measurably). */
static void multi_token_init(void) {
    ow_model *m = open_model();
    if (!m) return;
    progress_log log = {.all_finite = 1};
    ow_learn_params p = short_run(&log);
    p.init_word = "glorpwizzle"; /* "gl" + "or" + "p" + "wi" + "zzle" */
    p.vectors = 5;
    p.steps = 1;
    p.learning_rate = 1e-9f;
    ow_embedding *emb = NULL;
    ow_error err = {0};
    int32_t ids[77];
    ow_status s = ow_model_encode_ids(m, "glorpwizzle", "init", ids, &err);
    if (s == OW_OK) s = ow_learn(m, images, 2, &p, &emb, &err);
    CHECK(s == OW_OK, "5 vectors from a 5-token init word: %s", err.message);
    const float *rows = NULL;
    int n = emb ? ow_embedding_vectors(emb, 0, &rows, NULL) : 0;
    double worst = 0.0;
    for (int v = 0; v < n && v < 5; v++) {
        float want[32];
        m->backend->download(m->backend, want, m->text_encoder->token_embedding.data + (size_t)ids[1 + v] * 32, 32);
        for (int j = 0; j < 32; j++) worst = fmax(worst, fabs((double)rows[v * 32 + j] - want[j]));
    }
    CHECK(n == 5 && worst < 1e-6, "vector i = token i's row: %d vectors, max diff %g", n, worst);
    if (n == 5 && worst < 1e-6) printf("ok   5-token init word, 5 vectors: vector i starts at token i (max diff %.1g)\n", worst);
    p.vectors = 4;
    p.placeholder = "<other>";
    expect_refused(m, &p, 2, "or learn 5 vectors (not 4) to start one from each token", "a 5-token init word for 4 vectors");
    ow_embedding_free(emb);
    ow_model_close(m);
}

/* The norm constraints. embedding_reg_weight on fully masked images (no diffusion
 * gradient): the rows follow AdamW on w |r - c|^2 alone, bit for bit, and the loss is
 * that term. rescale_norm: every vector ends at the vocabulary's mean row norm. */
static void norm_constraints(void) {
    ow_model *m = open_model(), *m2 = open_model();
    if (!m || !m2) return;
    static float zero[32 * 32];
    ow_learn_image masked[2] = {{pixels[0], 32, 32, zero}, {pixels[1], 32, 32, zero}};
    progress_log log = {.all_finite = 1};
    ow_learn_params p = short_run(&log);
    p.steps = 4;
    p.embedding_reg_weight = 50.0f;
    ow_embedding *emb = NULL, *emb2 = NULL;
    ow_error err = {0};
    ow_status s = ow_learn(m, masked, 2, &p, &emb, &err);
    CHECK(s == OW_OK, "embedding_reg_weight run: %s", err.message);
    int32_t ids[77];
    float c[32], r[32], g[32], m1[32] = {0}, m2v[32] = {0};
    double want_loss = 0.0;
    if (s == OW_OK && ow_model_encode_ids(m, "square", "init", ids, &err) == OW_OK) {
        m->backend->download(m->backend, c, m->text_encoder->token_embedding.data + (size_t)ids[1] * 32, 32);
        memcpy(r, c, sizeof r);
        ow_adamw opt = {32, m1, m2v, 0};
        for (int k = 0; k < p.steps; k++) {
            double term = 0.0;
            for (int j = 0; j < 32; j++) {
                const double d = (double)r[j] - c[j];
                term += d * d;
                g[j] = (float)(2.0 * p.embedding_reg_weight * d);
            }
            want_loss = p.embedding_reg_weight * term;
            ow_adamw_step(&opt, r, g, p.learning_rate * p.batch, p.weight_decay);
        }
        const float *rows = NULL;
        ow_embedding_vectors(emb, 0, &rows, NULL);
        CHECK(rows && memcmp(rows, r, sizeof r) == 0, "embedding_reg_weight: the rows follow AdamW on w |r - c|^2");
        CHECK(fabs(log.last_loss - want_loss) <= 1e-6 * fabs(want_loss) && want_loss > 0,
              "embedding_reg_weight: the loss is the term (%g, want %g)", log.last_loss, want_loss);
        if (rows && memcmp(rows, r, sizeof r) == 0)
            printf("ok   embedding_reg_weight 50 on masked images: the rows follow AdamW on w |r - c|^2 bit for bit, "
                   "loss %g at step 4\n", log.last_loss);
    }

    /* rescale_norm, two vectors */
    progress_log log2 = {.all_finite = 1};
    ow_learn_params q = short_run(&log2);
    q.steps = 3;
    q.vectors = 2;
    q.rescale_norm = 1;
    double vocab = 0.0;
    float row[32];
    for (int v = 0; v < m2->text_encoder->config.vocab_size; v++) {
        m2->backend->download(m2->backend, row, m2->text_encoder->token_embedding.data + (size_t)v * 32, 32);
        double sq = 0.0;
        for (int j = 0; j < 32; j++) sq += (double)row[j] * row[j];
        vocab += sqrt(sq);
    }
    vocab /= m2->text_encoder->config.vocab_size;
    s = ow_learn(m2, images, 2, &q, &emb2, &err);
    CHECK(s == OW_OK, "rescale_norm run: %s", err.message);
    const float *rows = NULL;
    int n = 0;
    if (emb2) n = ow_embedding_vectors(emb2, 0, &rows, NULL);
    double worst = 0.0;
    for (int i = 0; rows && i < n; i++) {
        double sq = 0.0;
        for (int j = 0; j < 32; j++) sq += (double)rows[i * 32 + j] * rows[i * 32 + j];
        worst = fmax(worst, fabs(sqrt(sq) - vocab) / vocab);
    }
    CHECK(rows && worst <= 1e-6, "rescale_norm: the vectors' norms are within %g of the vocabulary's mean %g", worst,
          vocab);
    if (rows && worst <= 1e-6)
        printf("ok   rescale_norm: both vectors at the vocabulary's mean norm %.6f (worst %.1e relative)\n", vocab,
               worst);
    ow_embedding_free(emb);
    ow_embedding_free(emb2);
    ow_model_close(m);
    ow_model_close(m2);
}

/* --repeats: the images are drawn in shuffled epochs holding each image `repeats`
 * times. With 2 images x 3 repeats and batch 2, steps 1-3 use up the first epoch and
 * step 4 starts a second: the state's order then holds each image 3 times, 2 taken. */
typedef struct epoch_probe { int at, ok, pos; int count[2]; } epoch_probe;
static int probe_epoch(void *user, int step, const ow_embedding *emb, const ow_learn_state *state) {
    epoch_probe *e = user;
    (void)emb;
    if (step != e->at) return 0;
    e->ok = state->epoch && state->epoch_len == 6 && state->repeats == 3;
    e->pos = state->epoch_pos;
    for (int i = 0; e->ok && i < 6; i++) {
        if (state->epoch[i] < 0 || state->epoch[i] > 1) e->ok = 0;
        else e->count[state->epoch[i]]++;
    }
    return 1;
}

static void epochs_hold_each_image_repeats_times(void) {
    ow_model *m = open_model();
    if (!m) return;
    progress_log log = {.all_finite = 1};
    ow_learn_params p = short_run(&log);
    p.steps = 8;
    p.repeats = 3;
    p.save_every = 4;
    epoch_probe probe = {.at = 4};
    p.on_checkpoint = probe_epoch;
    p.checkpoint_user = &probe;
    ow_embedding *emb = NULL;
    ow_error err = {0};
    ow_learn(m, images, 2, &p, &emb, &err);
    CHECK(probe.ok && probe.count[0] == 3 && probe.count[1] == 3 && probe.pos == 2,
          "2 images x 3 repeats after 8 draws: the order holds image 0 %d times, image 1 %d times, %d taken",
          probe.count[0], probe.count[1], probe.pos);
    if (probe.ok && probe.count[0] == 3 && probe.count[1] == 3 && probe.pos == 2)
        printf("ok   --repeats 3 with 2 images: after 8 draws the second epoch holds each image 3 times, 2 taken\n");
    ow_embedding_free(emb);
    ow_model_close(m);
}

int main(void) {
    make_images();
    multi_token_init();
    views_are_the_training_views();
    center_crop_views();
    masks_weigh_the_loss();
    norm_constraints();
    epochs_hold_each_image_repeats_times();
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
    resume_is_exact();
    CHECK_DONE();
}
