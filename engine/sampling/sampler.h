/* sampler.h: the sampler loop's scheduler, matching diffusers 0.31.0.
 *
 * Kinds (names as the CLI and plug-in spell them):
 *   ddim            DDIMScheduler, with eta (eta > 0 draws noise every step)
 *   plms            PNDMScheduler with skip_prk_steps (as SD uses): steps + 1
 *                   UNet evaluations, the second repeats the first timestep
 *   euler           EulerDiscreteScheduler (s_churn 0)
 *   euler-a         EulerAncestralDiscreteScheduler (noise every step)
 *   dpm++2m-karras  DPMSolverMultistepScheduler, dpmsolver++, order 2, midpoint,
 *                   Karras sigmas, first order at the final step
 *
 * The generation loop, for a latent x of n floats:
 *     ow_torch_randn(&rng, x, n); scale x by ow_sampler_init_noise_sigma(s);
 *     for (i = 0; i < ow_sampler_num_steps(s); i++) {
 *         ow_sampler_scale_input(s, i, x, unet_in, n);
 *         eps = unet(unet_in, ow_sampler_timestep(s, i)) (+ guidance);
 *         ow_sampler_step(s, i, eps, x, n, &rng, err);
 *     }
 * Noise is drawn from the same generator as the initial latents, in the order
 * diffusers draws it, so a seed reproduces a diffusers CPU-generator run.
 * Steps must be taken in order 0, 1, 2, ...; the sampler keeps the history
 * (PLMS, DPM++) itself. Arrays are host floats for now. */
#ifndef OW_SAMPLING_SAMPLER_H
#define OW_SAMPLING_SAMPLER_H

#include <stddef.h>

#include "oneword.h"
#include "sampling/schedule.h"
#include "sampling/torch_rng.h"

typedef enum ow_sampler_kind {
    OW_SAMPLER_DDIM = 0,
    OW_SAMPLER_PLMS,
    OW_SAMPLER_EULER,
    OW_SAMPLER_EULER_ANCESTRAL,
    OW_SAMPLER_DPMPP_2M_KARRAS,
} ow_sampler_kind;

#define OW_SAMPLER_KIND_COUNT 5
/* "ddim, plms, euler, euler-a, dpm++2m-karras" */
#define OW_SAMPLER_NAMES "ddim, plms, euler, euler-a, dpm++2m-karras"

/* Name -> kind; an unknown name fails with a message listing the valid ones. */
ow_status ow_sampler_kind_parse(const char *name, ow_sampler_kind *out, ow_error *err);
const char *ow_sampler_kind_name(ow_sampler_kind kind);

typedef struct ow_sampler ow_sampler;

/* steps: inference steps (1 .. num_train_timesteps). eta: DDIM's noise weight
 * in [0, 1]; ignored by the other kinds, as diffusers ignores it. */
ow_status ow_sampler_create(ow_sampler **out, ow_sampler_kind kind, const ow_schedule_config *config, int steps,
                            float eta, ow_error *err);
void ow_sampler_free(ow_sampler *s);

ow_sampler_kind ow_sampler_get_kind(const ow_sampler *s);
/* Loop iterations = UNet evaluations (steps, or steps + 1 for PLMS with steps > 1). */
int ow_sampler_num_steps(const ow_sampler *s);
/* The timestep to give the UNet at iteration i (an integer for ddim/plms/dpm++,
 * possibly fractional for euler with linspace spacing). */
float ow_sampler_timestep(const ow_sampler *s, int i);
/* The noise level sigma at iteration i (0 <= i <= num_steps; the last is the
 * final sigma), for euler, euler-a and dpm++2m-karras; NAN for ddim and plms. */
float ow_sampler_sigma(const ow_sampler *s, int i);
/* Factor for the initial N(0, 1) latents (1, or sqrt(sigma_max^2 + 1) for the
 * Euler kinds with leading spacing). */
float ow_sampler_init_noise_sigma(const ow_sampler *s);
/* Whether ow_sampler_step draws noise (euler-a, ddim with eta > 0). */
int ow_sampler_uses_noise(const ow_sampler *s);

/* The UNet input at iteration i: x / sqrt(sigma^2 + 1) for the Euler kinds, x
 * otherwise. out may equal x. */
void ow_sampler_scale_input(const ow_sampler *s, int i, const float *x, float *out, size_t n);

/* One step: model_output (the guided UNet output, n floats) and x (the latents
 * at iteration i) give x at iteration i + 1, in place. i must be the next
 * iteration and n the same on every call; rng is needed when
 * ow_sampler_uses_noise (else it may be NULL). */
ow_status ow_sampler_step(ow_sampler *s, int i, const float *model_output, float *x, size_t n, ow_torch_rng *rng,
                          ow_error *err);

#endif
