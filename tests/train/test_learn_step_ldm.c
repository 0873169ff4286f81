/* test_learn_step_ldm.c: one textual-inversion step on the tiny LDM text2img model
 * (tests/golden/ldm/ldm-tiny.ckpt: BERT text encoder) against the reference's step
 * (tests/golden/ldm/learn_step.safetensors from tests/ref/make_ldm_text2img.py): the
 * placeholder "*" must be one WordPiece, its vector starts from the init word's token
 * row, our WordPiece ids are the reference's with the placeholder's id standing for the
 * learned vector, and the loss and the vector's gradient agree within 1e-4 relative.
 * The backward pass runs through the BERT encoder: not causal, 64-wide heads, no q/k/v
 * bias, erf GELU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"
#include "train/learn_step.h"
#include "step_golden.h"

enum { B = 2, T = 77, H = 48, LAT = 8, NLAT = 4 * LAT * LAT };

int main(void) {
    ow_error err = {0};
    ow_tensor_set *set = NULL;
    CHECK(ow_tensor_set_open(&set, source_path("tests/golden/ldm/learn_step.safetensors"), &err) == OW_OK,
          "open the LDM step golden: %s", err.message);
    if (!set) CHECK_DONE();
    golden = set;
    ow_model *m = NULL;
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = 2;
    ow_status s = ow_model_open(&m, source_path("tests/golden/ldm/ldm-tiny.ckpt"), &opts, &err);
    CHECK(s == OW_OK, "open ldm-tiny.ckpt: %s", err.message);
    if (s != OW_OK) CHECK_DONE();

    /* the init word's token row, as the reference's get_embedding_for_tkn gives it */
    float *init_row = golden_values("init_row", H, 0);
    int32_t probe[T];
    float ours_init[H] = {0};
    s = ow_model_encode_ids(m, "sculpture", "init word", probe, &err);
    CHECK(s == OW_OK && probe[0] == 101 && probe[2] == 102, "'sculpture' is one WordPiece: %d %d %d", probe[0], probe[1],
          probe[2]);
    if (s == OW_OK)
        m->backend->download(m->backend, ours_init, m->text_encoder->token_embedding.data + (size_t)probe[1] * H, H);
    if (init_row) check_relative("init word 'sculpture': our token row = the reference's", ours_init, init_row, H);
    const int first_row = add_placeholder(m, init_row, H);
    s = first_row >= 0 ? OW_OK : OW_ERR_INVALID_ARGUMENT;

    int32_t *ids = golden_values("ids", B * T, 1);
    float *x0 = golden_values("x0", B * NLAT, 0), *noise = golden_values("noise", B * NLAT, 0);
    int32_t *t_int = golden_values("timesteps", B, 1);
    float *want_loss = golden_values("loss", 1, 0), *want_grad = golden_values("grad", H, 0);
    const int32_t placeholder_id = atoi(ow_tensor_set_metadata(set, "placeholder_id"));
    const char *captions[B] = {"a photo of a *", "a rendering of the *"};
    int32_t mine[B * T];
    for (int i = 0; i < B && ids; i++) {
        s = ow_model_encode_ids(m, captions[i], "caption", mine + i * T, &err);
        int same = s == OW_OK;
        for (int j = 0; same && j < T; j++) {
            const int32_t want = ids[i * T + j] == placeholder_id ? m->text_encoder->config.vocab_size + first_row
                                                                   : ids[i * T + j];
            same = mine[i * T + j] == want;
        }
        CHECK(same, "caption '%s': our ids = the reference's, '*' (WordPiece %d) as the learned row", captions[i],
              placeholder_id);
    }
    float *alphas = malloc((size_t)m->schedule.num_train_timesteps * sizeof *alphas);
    ow_learn_step work = {0};
    if (s == OW_OK) s = ow_schedule_alphas_cumprod(&m->schedule, alphas, &err);
    if (s == OW_OK) s = ow_learn_step_init(&work, m, B, LAT, 0, &err);
    CHECK(s == OW_OK, "set up the step: %s", err.message);
    if (s == OW_OK && ids && x0 && noise && t_int && want_loss && want_grad) {
        float timesteps[B] = {(float)t_int[0], (float)t_int[1]}, grad[H] = {0};
        double loss = 0.0;
        s = ow_learn_step_run(&work, m, mine, x0, noise, timesteps, NULL, alphas, 1.0, first_row, 1, grad, &loss, &err);
        CHECK(s == OW_OK, "LDM step: %s", err.message);
        const float got_loss = (float)loss;
        check_relative("LDM text2img step (t = 93, 761) loss vs the reference's", &got_loss, want_loss, 1);
        check_relative("LDM text2img step: gradient of the learned vector through BERT", grad, want_grad, H);
    }
    ow_learn_step_free(&work, m);
    free(alphas); free(init_row); free(ids); free(x0); free(noise); free(t_int); free(want_loss); free(want_grad);
    ow_model_close(m);
    ow_tensor_set_free(set);
    CHECK_DONE();
}
