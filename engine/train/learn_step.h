/* learn_step.h: one forward and backward pass of textual inversion on a batch the
 * caller has drawn, and the optimiser that uses its gradient. ow_learn draws the
 * batch (image, flip, caption, timestep, noise) and loops; the PyTorch-step test
 * feeds the batch of a diffusers textual_inversion step instead. */
#ifndef OW_TRAIN_LEARN_STEP_H
#define OW_TRAIN_LEARN_STEP_H

#include <stdint.h>

#include "oneword.h"
#include "pipeline/pipeline.h"

/* Buffers for batches of B latents (C, lat, lat), allocated once. */
typedef struct ow_learn_step {
    int B, T, H, lat, n_rows;
    int checkpointing;                   /* the UNet's gradient checkpointing (unet_train.h) */
    size_t nlat;                         /* C * lat * lat */
    float *sample, *target, *pred;       /* host (B, nlat) */
    float *grad_rows;                    /* host (n_rows, H) */
    float *zeros;                        /* host, max(B*T*H, n_rows*H) */
    float *rows_dev, *drows_dev;         /* backend (n_rows, H) */
    float *sample_dev, *pred_dev, *dout_dev; /* backend (B, nlat) */
    float *context, *dcontext;           /* backend (B, T, H) */
} ow_learn_step;

/* For the model as it is now (its extra rows included): later rows are not seen. */
ow_status ow_learn_step_init(ow_learn_step *w, ow_model *m, int B, int lat, int checkpointing, ow_error *err);
void ow_learn_step_free(ow_learn_step *w, ow_model *m);

/* One micro-batch:
 *   ids (B, T)        token ids, the trained rows as vocab_size + row
 *   x0, noise (B, nlat) clean latents (scaled) and their noise
 *   timesteps (B)     integer-valued, in [0, num_train_timesteps)
 *   weights (B, lat*lat) loss weight of each latent pixel (all channels), or NULL: 1
 *   alphas            the schedule's alphas_cumprod (num_train_timesteps)
 * noisy = sqrt(a) x0 + sqrt(1-a) noise; target = noise, or sqrt(a) noise -
 * sqrt(1-a) x0 for v-prediction; loss = mean(weights (unet(noisy) - target)^2)
 * (kohya's masked loss: the mean runs over every pixel, weighted or not).
 * *loss gets the loss; grad (n_train, H) += grad_scale * dloss/d(rows first_row ..
 * first_row + n_train) of the model's row table (uploaded here). */
ow_status ow_learn_step_run(ow_learn_step *w, ow_model *m, const int32_t *ids, const float *x0, const float *noise,
                            const float *timesteps, const float *weights, const float *alphas, double grad_scale, int first_row,
                            int n_train, float *grad, double *loss, ow_error *err);

/* torch.optim.AdamW (betas 0.9, 0.999, eps 1e-8; decoupled weight decay) on n values. */
typedef struct ow_adamw {
    size_t n;
    float *m1, *m2;  /* first and second moments (n) */
    int t;           /* steps taken */
} ow_adamw;

/* One step: t += 1, then params (n) updated from grad (n). */
void ow_adamw_step(ow_adamw *opt, float *params, const float *grad, float lr, float weight_decay);

#endif
