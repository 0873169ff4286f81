/* learn_step.c: a textual-inversion forward and backward pass on a given batch
 * (learn_step.h), and torch.optim.AdamW. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/clip_text_train.h"
#include "model/unet_train.h"
#include "pipeline/embeddings.h"
#include "train/learn_step.h"

ow_status ow_learn_step_init(ow_learn_step *w, ow_model *m, int B, int lat, int checkpointing, ow_error *err) {
    ow_backend *b = m->backend;
    const ow_model_embeddings *E = m->embeddings;
    memset(w, 0, sizeof *w);
    w->B = B;
    w->T = m->text_length;
    w->H = m->text_encoder->config.hidden_size;
    w->lat = lat;
    w->checkpointing = checkpointing;
    w->n_rows = E ? E->n_rows : 0;
    w->nlat = (size_t)m->unet->config.in_channels * lat * lat;
    const size_t nb = (size_t)B * w->nlat, nctx = (size_t)B * w->T * w->H, nrows = (size_t)w->n_rows * w->H;
    w->sample = malloc(nb * sizeof *w->sample);
    w->target = malloc(nb * sizeof *w->target);
    w->pred = malloc(nb * sizeof *w->pred);
    w->grad_rows = malloc((nrows ? nrows : 1) * sizeof *w->grad_rows);
    w->zeros = calloc(nctx > nrows ? nctx : nrows, sizeof *w->zeros);
    w->rows_dev = b->alloc(b, nrows ? nrows : 1);
    w->drows_dev = b->alloc(b, nrows ? nrows : 1);
    w->sample_dev = b->alloc(b, nb);
    w->pred_dev = b->alloc(b, nb);
    w->dout_dev = b->alloc(b, nb);
    w->context = b->alloc(b, nctx);
    w->dcontext = b->alloc(b, nctx);
    if (!w->sample || !w->target || !w->pred || !w->grad_rows || !w->zeros || !w->rows_dev || !w->drows_dev ||
        !w->sample_dev || !w->pred_dev || !w->dout_dev || !w->context || !w->dcontext) {
        ow_learn_step_free(w, m);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for a training batch of %d latents %dx%d", B,
                            lat, lat);
    }
    return OW_OK;
}

void ow_learn_step_free(ow_learn_step *w, ow_model *m) {
    ow_backend *b = m->backend;
    free(w->sample);
    free(w->target);
    free(w->pred);
    free(w->grad_rows);
    free(w->zeros);
    float *dev[] = {w->rows_dev, w->drows_dev, w->sample_dev, w->pred_dev, w->dout_dev, w->context, w->dcontext};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) b->free(b, dev[i]);
    memset(w, 0, sizeof *w);
}

ow_status ow_learn_step_run(ow_learn_step *w, ow_model *m, const int32_t *ids, const float *x0, const float *noise,
                            const float *timesteps, const float *weights, const float *alphas, double grad_scale, int first_row,
                            int n_train, float *grad, double *loss, ow_error *err) {
    ow_backend *b = m->backend;
    const ow_model_embeddings *E = m->embeddings;
    const int B = w->B, T = w->T, H = w->H;
    const size_t N = (size_t)B * w->nlat;
    if (!E || E->n_rows != w->n_rows || first_row < 0 || n_train < 1 || first_row + n_train > w->n_rows)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "training rows %d..%d are not in the model's %d extra rows",
                            first_row, first_row + n_train, w->n_rows);
    for (int i = 0; i < B; i++) {
        const int t = (int)timesteps[i];
        if (t < 0 || t >= m->schedule.num_train_timesteps || (float)t != timesteps[i])
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "training timestep %g is not an integer in [0, %d)",
                                (double)timesteps[i], m->schedule.num_train_timesteps);
        const double a = alphas[t], sa = sqrt(a), sb = sqrt(1.0 - a);
        for (size_t k = 0; k < w->nlat; k++) {
            const size_t j = (size_t)i * w->nlat + k;
            w->sample[j] = (float)(sa * x0[j] + sb * noise[j]);
            w->target[j] = m->schedule.prediction_type == OW_PREDICT_V ? (float)(sa * noise[j] - sb * x0[j]) : noise[j];
        }
    }
    b->upload(b, w->rows_dev, E->rows, (size_t)w->n_rows * H);
    b->upload(b, w->sample_dev, w->sample, N);
    const ow_clip_text_extra extra = {w->rows_dev, w->n_rows};
    ow_clip_text_tape *ctape = NULL;
    ow_unet_tape *utape = NULL;
    ow_status s = ow_clip_text_forward_train(m->text_encoder, b, ids, B, T, 1, &extra, w->context, &ctape, err);
    if (s == OW_OK)
        s = ow_unet_forward_train(m->unet, b, w->sample_dev, B, w->lat, w->lat, timesteps, w->context, T,
                                  w->checkpointing, w->pred_dev, &utape, err);
    /* loss = mean((pred - target)^2); dloss/dpred = 2 (pred - target) / N */
    if (s == OW_OK) {
        b->download(b, w->pred, w->pred_dev, N);
        const size_t plane = (size_t)w->lat * w->lat;
        double sum = 0.0;
        for (size_t j = 0; j < N; j++) {
            const double d = (double)w->pred[j] - w->target[j];
            const double wt = weights ? weights[j / w->nlat * plane + j % plane] : 1.0;
            sum += wt * d * d;
            w->pred[j] = (float)(2.0 * wt * d / (double)N * grad_scale);
        }
        *loss = sum / (double)N;
        b->upload(b, w->dout_dev, w->pred, N);
        b->upload(b, w->dcontext, w->zeros, (size_t)B * T * H);
        b->upload(b, w->drows_dev, w->zeros, (size_t)w->n_rows * H);
        s = ow_unet_backward_context(m->unet, b, utape, w->dout_dev, w->dcontext, err);
    }
    if (s == OW_OK) s = ow_clip_text_backward(m->text_encoder, b, ctape, w->dcontext, w->drows_dev, err);
    if (s == OW_OK) {
        b->download(b, w->grad_rows, w->drows_dev, (size_t)w->n_rows * H);
        const float *mine = w->grad_rows + (size_t)first_row * H;
        for (size_t k = 0; k < (size_t)n_train * H; k++) grad[k] += mine[k];
    }
    ow_unet_tape_free(utape);
    ow_clip_text_tape_free(b, ctape);
    return s;
}

void ow_adamw_step(ow_adamw *opt, float *params, const float *grad, float lr, float weight_decay) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    opt->t++;
    const double c1 = 1.0 - pow(b1, opt->t), c2 = 1.0 - pow(b2, opt->t);
    for (size_t i = 0; i < opt->n; i++) {
        const double p = params[i] * (1.0 - (double)lr * weight_decay);
        opt->m1[i] = (float)(b1 * opt->m1[i] + (1.0 - b1) * grad[i]);
        opt->m2[i] = (float)(b2 * opt->m2[i] + (1.0 - b2) * (double)grad[i] * grad[i]);
        const double mhat = opt->m1[i] / c1, vhat = opt->m2[i] / c2;
        params[i] = (float)(p - lr * mhat / (sqrt(vhat) + eps));
    }
}
