/* schedule.h: the noise schedule of a diffusion model (diffusers'
 * scheduler/scheduler_config.json) and the training-time alphas it defines.
 *
 * The defaults are Stable Diffusion 1.x's: scaled_linear betas from 0.00085 to
 * 0.012 over 1000 steps, steps_offset 1, set_alpha_to_one false, clip_sample
 * false, prediction_type epsilon, and no timestep_spacing (each sampler's
 * diffusers default: leading for ddim/plms, linspace for euler/euler-a). A config file only
 * overrides the keys it has; keys we cannot honour are refused with an error
 * that names them rather than silently giving different images. */
#ifndef OW_SAMPLING_SCHEDULE_H
#define OW_SAMPLING_SCHEDULE_H

#include "oneword.h"

typedef enum ow_beta_schedule {
    OW_BETAS_SCALED_LINEAR = 0, /* linspace(sqrt(start), sqrt(end), T)^2 */
    OW_BETAS_LINEAR,            /* linspace(start, end, T) */
} ow_beta_schedule;

typedef enum ow_prediction_type {
    OW_PREDICT_EPSILON = 0, /* the UNet predicts the noise */
    OW_PREDICT_V,           /* v-prediction (SD 2.x 768 models) */
} ow_prediction_type;

/* When a config file does not name a spacing, diffusers gives each scheduler
 * class its own default when the pipeline switches schedulers
 * (Scheduler.from_config(pipe.scheduler.config) drops keys that were only
 * defaults): leading for DDIM and PNDM, linspace for the Euler kinds and
 * DPM-Solver. OW_SPACING_DEFAULT stands for that. */
typedef enum ow_timestep_spacing {
    OW_SPACING_DEFAULT = 0, /* the sampler's diffusers default (SD 1.x configs have no key) */
    OW_SPACING_LEADING,
    OW_SPACING_LINSPACE,
    OW_SPACING_TRAILING,
} ow_timestep_spacing;

typedef struct ow_schedule_config {
    int num_train_timesteps;        /* T, 1000 */
    double beta_start;              /* 0.00085 */
    double beta_end;                /* 0.012 */
    ow_beta_schedule beta_schedule; /* scaled_linear */
    int steps_offset;               /* 1 */
    int set_alpha_to_one;           /* 0: the step after the last uses alphas_cumprod[0]; -1: the sampler's own */
    int clip_sample;                /* 0; 1: DDIM clamps the predicted x0; -1: the sampler's own */
    double clip_sample_range;       /* 1.0 */
    ow_timestep_spacing timestep_spacing; /* default: per sampler, see above */
    ow_prediction_type prediction_type;   /* epsilon */
    /* DPM-Solver++ options (diffusers' DPMSolverMultistepScheduler). */
    int lower_order_final;          /* 1 */
    int euler_at_final;             /* 0 */
    int final_sigmas_zero;          /* 1: final_sigmas_type "zero"; 0: "sigma_min" (DPM++ and euler) */
} ow_schedule_config;

/* Stable Diffusion 1.x defaults. */
void ow_schedule_config_default(ow_schedule_config *config);

/* A scheduler_config.json text, read as diffusers reads it when a pipeline's scheduler
 * is switched (Scheduler.from_config): a key the file has is used by every sampler; a
 * key it lacks takes the diffusers class's own default (0.31: beta_start 0.0001,
 * beta_end 0.02, linear, steps_offset 0, epsilon; set_alpha_to_one and clip_sample
 * -1, which each sampler resolves: DDIM true and true, PNDM false; the spacing per
 * sampler as OW_SPACING_DEFAULT says), not SD 1.x's. */
ow_status ow_schedule_config_parse(ow_schedule_config *config, const char *json_text, ow_error *err);

/* Same, from a file (e.g. <model>/scheduler/scheduler_config.json). */
ow_status ow_schedule_config_load(ow_schedule_config *config, const char *path, ow_error *err);

/* alphas_cumprod (T floats) computed as diffusers does in float32: betas from
 * torch.linspace (as torch computes it on x86-64), alphas = 1 - betas, a
 * cumulative product accumulated in double and rounded per element. */
ow_status ow_schedule_alphas_cumprod(const ow_schedule_config *config, float *out, ow_error *err);

#endif
