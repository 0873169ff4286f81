/* test_learn_step.c: two textual-inversion steps on the tiny model sd-tiny-b against
 * the diffusers textual_inversion example's step (tests/golden/train/
 * learn_step.safetensors from tests/ref/make_learn_step_golden.py): the same
 * captions (our tokenizer must give the example's ids), latents, noise and timesteps;
 * loss, the gradient of the placeholder's row and the row after each AdamW step
 * must agree within 1e-4 relative (max abs difference / max abs value), for an
 * epsilon model and the same model as v-prediction. Loss weights (masks): all 0.5
 * halves loss and gradient exactly; the weights of complementary halves (left/right,
 * one batch item/the other) add up to the unweighted loss and gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"
#include "train/learn_step.h"
#include "step_golden.h"

enum { STEPS = 2, B = 2, T = 77, H = 32, LAT = 8, NLAT = 4 * LAT * LAT };

/* The loss and gradient of step 1's batch under weights (B, LAT*LAT) or NULL. */
static double weighted(ow_learn_step *w, ow_model *m, const int32_t *ids, const float *x0, const float *noise,
                       const float *timesteps, const float *weights, const float *alphas, int first_row, float *grad) {
    ow_error err = {0};
    double loss = -1.0;
    memset(grad, 0, H * sizeof *grad);
    ow_status s = ow_learn_step_run(w, m, ids, x0, noise, timesteps, weights, alphas, 1.0, first_row, 1, grad, &loss, &err);
    CHECK(s == OW_OK, "weighted step: %s", err.message);
    return loss;
}

static void check_weights(ow_learn_step *w, ow_model *m, const int32_t *ids, const float *x0, const float *noise,
                          const int32_t *t_int, const float *alphas, int first_row) {
    enum { P = LAT * LAT };
    const float timesteps[B] = {(float)t_int[0], (float)t_int[1]};
    float half[B * P], left[B * P], right[B * P], first[B * P], second[B * P];
    for (int i = 0; i < B * P; i++) {
        const int x = i % LAT, item = i / P;
        half[i] = 0.5f;
        left[i] = x < LAT / 2;
        right[i] = x >= LAT / 2;
        first[i] = item == 0;
        second[i] = item == 1;
    }
    float g_all[H], g_half[H], g_a[H], g_b[H], g_sum[H], g_twice[H];
    const double all = weighted(w, m, ids, x0, noise, timesteps, NULL, alphas, first_row, g_all);
    const double h = weighted(w, m, ids, x0, noise, timesteps, half, alphas, first_row, g_half);
    for (int j = 0; j < H; j++) g_twice[j] = 2.0f * g_half[j];
    CHECK(2.0 * h == all && memcmp(g_twice, g_all, sizeof g_all) == 0,
          "weights 0.5: loss %.9g = half of %.9g and the gradient halves, exactly", h, all);
    if (2.0 * h == all && memcmp(g_twice, g_all, sizeof g_all) == 0)
        printf("ok   weights 0.5 everywhere: loss %.7g = %.7g / 2, gradient halved, bit for bit\n", h, all);
    const float *pairs[2][2] = {{left, right}, {first, second}};
    const char *names[2] = {"left / right half of every latent", "batch item 1 / item 2"};
    for (int k = 0; k < 2; k++) {
        const double a = weighted(w, m, ids, x0, noise, timesteps, pairs[k][0], alphas, first_row, g_a);
        const double b = weighted(w, m, ids, x0, noise, timesteps, pairs[k][1], alphas, first_row, g_b);
        for (int j = 0; j < H; j++) g_sum[j] = g_a[j] + g_b[j];
        const float sum = (float)(a + b), want = (float)all;
        char what[128];
        snprintf(what, sizeof what, "weights on %s (losses %.5g + %.5g): loss adds up", names[k], a, b);
        check_relative(what, &sum, &want, 1);
        snprintf(what, sizeof what, "weights on %s: gradient adds up", names[k]);
        check_relative(what, g_sum, g_all, H);
        CHECK(fabs(a - b) > 1e-3 * all, "the two parts weigh differently (%g vs %g)", a, b);
    }
}

static void run_case(const char *name, ow_prediction_type prediction) {
    char key[64];
    ow_error err = {0};
    ow_model *m = NULL;
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = 2;
    ow_status s = ow_model_open(&m, source_path("tests/golden/tiny/sd-tiny-b"), &opts, &err);
    CHECK(s == OW_OK, "open sd-tiny-b: %s", err.message);
    if (s != OW_OK) return;
    m->schedule.prediction_type = prediction;

    /* "*" joins the model with the init word's row, as in the example */
    float *init_row = golden_values("init_row", H, 0);
    int32_t square = -1;
    int32_t probe[T];
    if (ow_model_encode_ids(m, "square", "init word", probe, &err) == OW_OK && probe[2] == 49407) square = probe[1];
    float ours_init[H] = {0};
    if (square >= 0) m->backend->download(m->backend, ours_init, m->text_encoder->token_embedding.data + (size_t)square * H, H);
    if (init_row) check_relative("init word 'square': our token row = the example's init row", ours_init, init_row, H);
    const int first_row = add_placeholder(m, init_row, H);
    s = first_row >= 0 ? OW_OK : OW_ERR_INVALID_ARGUMENT;

    snprintf(key, sizeof key, "%s.ids", name);
    int32_t *ids = golden_values(key, STEPS * B * T, 1);
    snprintf(key, sizeof key, "%s.x0", name);
    float *x0 = golden_values(key, STEPS * B * NLAT, 0);
    snprintf(key, sizeof key, "%s.noise", name);
    float *noise = golden_values(key, STEPS * B * NLAT, 0);
    snprintf(key, sizeof key, "%s.timesteps", name);
    int32_t *t_int = golden_values(key, STEPS * B, 1);
    snprintf(key, sizeof key, "%s.loss", name);
    float *want_loss = golden_values(key, STEPS, 0);
    snprintf(key, sizeof key, "%s.grad", name);
    float *want_grad = golden_values(key, STEPS * H, 0);
    snprintf(key, sizeof key, "%s.row", name);
    float *want_row = golden_values(key, STEPS * H, 0);
    const char *caption[STEPS][B] = {{"a photo of a *", "a rendering of a *"}, {"the photo of a *", "a cropped photo of the *"}};

    float *alphas = malloc((size_t)m->schedule.num_train_timesteps * sizeof *alphas);
    float m1[H] = {0}, m2[H] = {0};
    ow_adamw opt = {H, m1, m2, 0};
    ow_learn_step work = {0};
    if (s == OW_OK) s = ow_schedule_alphas_cumprod(&m->schedule, alphas, &err);
    if (s == OW_OK) s = ow_learn_step_init(&work, m, B, LAT, 0, &err);
    CHECK(s == OW_OK, "set up the step: %s", err.message);
    for (int k = 0; k < STEPS && s == OW_OK && ids && x0 && noise && t_int && want_loss && want_grad && want_row; k++) {
        for (int i = 0; i < B; i++) {
            int32_t mine[T];
            ow_status e = ow_model_encode_ids(m, caption[k][i], "caption", mine, &err);
            const int same = e == OW_OK && memcmp(mine, ids + ((size_t)k * B + i) * T, sizeof mine) == 0;
            CHECK(same, "[%s] caption '%s': our ids = the example's (%s)", name, caption[k][i], err.message);
            if (same) printf("ok   [%s] caption '%s': our 77 ids = the example's\n", name, caption[k][i]);
        }
        float timesteps[B], grad[H] = {0};
        for (int i = 0; i < B; i++) timesteps[i] = (float)t_int[k * B + i];
        double loss = 0.0;
        s = ow_learn_step_run(&work, m, ids + (size_t)k * B * T, x0 + (size_t)k * B * NLAT, noise + (size_t)k * B * NLAT,
                              timesteps, NULL, alphas, 1.0, first_row, 1, grad, &loss, &err);
        CHECK(s == OW_OK, "[%s] step %d: %s", name, k + 1, err.message);
        if (s != OW_OK) break;
        char what[96];
        const float got_loss = (float)loss;
        snprintf(what, sizeof what, "[%s] step %d (t = %d, %d) loss", name, k + 1, t_int[k * B], t_int[k * B + 1]);
        check_relative(what, &got_loss, want_loss + k, 1);
        snprintf(what, sizeof what, "[%s] step %d gradient of the row", name, k + 1);
        check_relative(what, grad, want_grad + (size_t)k * H, H);
        float *row = m->embeddings->rows + (size_t)first_row * H, before[H], delta[H], want_delta[H];
        memcpy(before, row, sizeof before);
        ow_adamw_step(&opt, row, grad, 1e-2f, 1e-2f);
        snprintf(what, sizeof what, "[%s] step %d row after AdamW (lr 1e-2, wd 1e-2)", name, k + 1);
        check_relative(what, row, want_row + (size_t)k * H, H);
        /* the update itself, against the example's (row_k - row_k-1) */
        for (int j = 0; j < H; j++) {
            delta[j] = row[j] - before[j];
            want_delta[j] = want_row[(size_t)k * H + j] - (k ? want_row[(size_t)(k - 1) * H + j] : init_row[j]);
        }
        snprintf(what, sizeof what, "[%s] step %d AdamW update of the row", name, k + 1);
        check_relative(what, delta, want_delta, H);
    }
    if (s == OW_OK && prediction == OW_PREDICT_EPSILON && ids && x0 && noise && t_int) check_weights(&work, m, ids, x0, noise, t_int, alphas, first_row);
    ow_learn_step_free(&work, m);
    free(alphas); free(init_row); free(ids); free(x0); free(noise); free(t_int); free(want_loss); free(want_grad);
    free(want_row);
    ow_model_close(m);
}

int main(void) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, source_path("tests/golden/train/learn_step.safetensors"), &err);
    CHECK(s == OW_OK, "open the golden: %s", err.message);
    if (s == OW_OK) {
        golden = set;
        run_case("eps", OW_PREDICT_EPSILON);
        run_case("v", OW_PREDICT_V);
    }
    ow_tensor_set_free(set);
    CHECK_DONE();
}
