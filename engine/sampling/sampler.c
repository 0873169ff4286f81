/* sampler.c: timesteps, sigmas and step functions of the five samplers, as
 * diffusers 0.31.0 computes them.
 *
 * diffusers does the step arithmetic on float32 tensors, with per-step
 * coefficients that are 0-dim float32 tensors. We do the same operations on
 * floats in the same order (each torch op is one IEEE operation), so results
 * agree to the last bit or nearly; the set_timesteps logic that numpy does in
 * float64 is done in double here. */
#include "sampling/sampler.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && !defined(__STRICT_ANSI__)
#pragma GCC optimize("fp-contract=off")
#endif

struct ow_sampler {
    ow_sampler_kind kind;
    ow_schedule_config config;
    int steps;              /* inference steps asked for */
    int count;              /* loop iterations (UNet evaluations) */
    float eta;
    int train_steps;        /* T */
    float *alphas_cumprod;  /* (T) */
    float final_alpha_cumprod;
    int *train_timesteps;   /* (count) integer timesteps (ddim, plms, dpm++) */
    float *timesteps;       /* (count) the UNet's timestep */
    float *sigmas;          /* (count + 1) euler, euler-a, dpm++; NULL otherwise */
    float init_noise_sigma;

    int next_step;          /* the i the next ow_sampler_step must get */
    size_t n;               /* elements per step, fixed by the first step */
    float *noise;           /* (n) when the kind draws noise */
    /* PLMS: up to 4 past model outputs (ets[0] oldest) and the sample of the
     * first step, which the second step starts again from. */
    float *ets[4];
    int ets_count;
    float *plms_sample;
    /* DPM++ 2M: the previous step's x0 prediction. */
    float *previous_x0;
    int lower_order_nums;
};

static void free_buffers(ow_sampler *s);

static const char *const kind_names[OW_SAMPLER_KIND_COUNT] = {"ddim", "plms", "euler", "euler-a", "dpm++2m-karras"};

ow_status ow_sampler_kind_parse(const char *name, ow_sampler_kind *out, ow_error *err) {
    for (int i = 0; i < OW_SAMPLER_KIND_COUNT; i++) {
        if (name && strcmp(name, kind_names[i]) == 0) {
            *out = (ow_sampler_kind)i;
            return OW_OK;
        }
    }
    return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unknown sampler \"%s\" (valid: %s)", name ? name : "(null)",
                        OW_SAMPLER_NAMES);
}

const char *ow_sampler_kind_name(ow_sampler_kind kind) {
    if ((int)kind < 0 || (int)kind >= OW_SAMPLER_KIND_COUNT) return "unknown";
    return kind_names[kind];
}

/* ---- set_timesteps: numpy's float64 arithmetic ------------------------- */

/* np.linspace(0, stop, num)[i]: i * (stop / (num - 1)), the last exactly stop. */
static double np_linspace_at(double stop, int num, int i) {
    if (num <= 1) return 0.0;
    if (i == num - 1) return stop;
    double step = stop / (double)(num - 1);
    return (double)i * step;
}

/* np.arange(start, 0, -step) for a Python int start and float step: the
 * length is ceil(-start / -step); values are start, start - step, then
 * start + i * delta with delta = (start - step) - start. Returns the length. */
static int np_arange_down(double start, double step, double *out, int capacity) {
    double length_real = ceil((0.0 - start) / (-step));
    int length = length_real > 0 ? (int)length_real : 0;
    if (length > capacity) length = capacity;
    double second = start + (-step);
    double delta = second - start;
    for (int i = 0; i < length; i++) out[i] = i == 0 ? start : i == 1 ? second : start + (double)i * delta;
    return length;
}

/* The spacing a sampler kind uses when the config names none. */
static ow_timestep_spacing effective_spacing(const ow_schedule_config *c, ow_sampler_kind kind) {
    if (c->timestep_spacing != OW_SPACING_DEFAULT) return c->timestep_spacing;
    return kind == OW_SAMPLER_DDIM || kind == OW_SAMPLER_PLMS ? OW_SPACING_LEADING : OW_SPACING_LINSPACE;
}

/* Descending integer timesteps of DDIM (and, reversed, PLMS's base list). */
static int integer_timesteps_descending(const ow_schedule_config *c, ow_timestep_spacing spacing, int steps, int *out,
                                        ow_error *err) {
    int T = c->num_train_timesteps;
    switch (spacing) {
    case OW_SPACING_DEFAULT:
    case OW_SPACING_LINSPACE:
        for (int i = 0; i < steps; i++) out[steps - 1 - i] = (int)nearbyint(np_linspace_at(T - 1, steps, i));
        break;
    case OW_SPACING_LEADING: {
        int ratio = T / steps;
        for (int i = 0; i < steps; i++) out[steps - 1 - i] = i * ratio + c->steps_offset;
        break;
    }
    case OW_SPACING_TRAILING: {
        double *values = malloc((size_t)(steps + 1) * sizeof *values);
        if (!values) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for timesteps");
        int length = np_arange_down((double)T, (double)T / (double)steps, values, steps + 1);
        for (int i = 0; i < steps && i < length; i++) out[i] = (int)nearbyint(values[i]) - 1;
        free(values);
        if (length != steps)
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "trailing spacing gives %d timesteps for %d steps", length, steps);
        break;
    }
    }
    for (int i = 0; i < steps; i++) {
        if (out[i] < 0 || out[i] >= T)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "%d steps with steps_offset %d give timestep %d, outside the schedule's 0..%d; use "
                                "fewer steps",
                                steps, c->steps_offset, out[i], T - 1);
    }
    return OW_OK;
}

/* Euler's float32 timesteps (descending) for each spacing. */
static ow_status euler_timesteps(const ow_schedule_config *c, ow_timestep_spacing spacing, int steps, float *out,
                                 ow_error *err) {
    int T = c->num_train_timesteps;
    switch (spacing) {
    case OW_SPACING_DEFAULT:
    case OW_SPACING_LINSPACE:
        for (int i = 0; i < steps; i++) out[steps - 1 - i] = (float)np_linspace_at(T - 1, steps, i);
        break;
    case OW_SPACING_LEADING: {
        int ratio = T / steps;
        for (int i = 0; i < steps; i++) out[steps - 1 - i] = (float)(i * ratio) + (float)c->steps_offset;
        break;
    }
    case OW_SPACING_TRAILING: {
        double *values = malloc((size_t)(steps + 1) * sizeof *values);
        if (!values) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for timesteps");
        int length = np_arange_down((double)T, (double)T / (double)steps, values, steps + 1);
        for (int i = 0; i < steps && i < length; i++) out[i] = (float)nearbyint(values[i]) - 1.0f;
        free(values);
        if (length != steps)
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "trailing spacing gives %d timesteps for %d steps", length, steps);
        break;
    }
    }
    for (int i = 0; i < steps; i++) {
        if (!(out[i] >= 0.0f) || !(out[i] <= (float)(T - 1)))
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "%d steps with steps_offset %d give timestep %g, outside the schedule's 0..%d; use "
                                "fewer steps",
                                steps, c->steps_offset, (double)out[i], T - 1);
    }
    return OW_OK;
}

/* ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 as float32 tensor ops. */
static float training_sigma(float alpha_cumprod) {
    return sqrtf((1.0f - alpha_cumprod) / alpha_cumprod);
}

/* np.interp(t, arange(T), sigmas) in float64, rounded to float32. */
static float interp_sigma(const float *train_sigmas, int T, float t) {
    double x = (double)t;
    if (x <= 0.0) return train_sigmas[0];
    if (x >= (double)(T - 1)) return train_sigmas[T - 1];
    int j = (int)floor(x);
    double slope = ((double)train_sigmas[j + 1] - (double)train_sigmas[j]) / 1.0;
    return (float)(slope * (x - (double)j) + (double)train_sigmas[j]);
}

/* DPMSolverMultistepScheduler._sigma_to_t: the fractional training timestep
 * whose log-sigma matches, from float32 log_sigmas (numpy promotes mixed
 * float32/float64 to float64, except low - high, a float32 difference). */
static double sigma_to_t(double sigma, const float *log_sigmas, int T) {
    double log_sigma = log(sigma > 1e-10 ? sigma : 1e-10);
    int low = 0;
    for (int j = 0; j < T; j++)
        if (log_sigma - (double)log_sigmas[j] >= 0.0) low = j;
    if (low > T - 2) low = T - 2;
    int high = low + 1;
    float low_value = log_sigmas[low], high_value = log_sigmas[high];
    float span = low_value - high_value;
    double w = ((double)low_value - log_sigma) / (double)span;
    if (w < 0.0) w = 0.0;
    if (w > 1.0) w = 1.0;
    return (1.0 - w) * (double)low + w * (double)high;
}

static ow_status setup_ddim(ow_sampler *s, ow_error *err) {
    s->count = s->steps;
    ow_status st = integer_timesteps_descending(&s->config, effective_spacing(&s->config, s->kind), s->steps,
                                                 s->train_timesteps, err);
    if (st != OW_OK) return st;
    for (int i = 0; i < s->count; i++) s->timesteps[i] = (float)s->train_timesteps[i];
    s->init_noise_sigma = 1.0f;
    return OW_OK;
}

/* PNDMScheduler.set_timesteps with skip_prk_steps: base list ascending, then
 * [base[:-1], base[-2:-1], base[-1:]] reversed. */
static ow_status setup_plms(ow_sampler *s, ow_error *err) {
    int N = s->steps;
    /* The reversed list is the descending timesteps with the second one
     * repeated: 901, 801, 801, 701, ..., 1 for 10 leading steps. */
    int *descending = s->train_timesteps;
    ow_status st = integer_timesteps_descending(&s->config, effective_spacing(&s->config, s->kind), N, descending, err);
    if (st != OW_OK) return st;
    if (N >= 2) {
        memmove(descending + 2, descending + 1, (size_t)(N - 1) * sizeof *descending);
        descending[1] = descending[2];
    }
    s->count = N >= 2 ? N + 1 : 1;
    for (int i = 0; i < s->count; i++) s->timesteps[i] = (float)s->train_timesteps[i];
    s->init_noise_sigma = 1.0f;
    return OW_OK;
}

static ow_status setup_euler(ow_sampler *s, ow_error *err) {
    int T = s->train_steps;
    s->count = s->steps;
    ow_timestep_spacing spacing = effective_spacing(&s->config, s->kind);
    ow_status st = euler_timesteps(&s->config, spacing, s->steps, s->timesteps, err);
    if (st != OW_OK) return st;
    float *train_sigmas = malloc((size_t)T * sizeof *train_sigmas);
    if (!train_sigmas) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for sigmas");
    for (int t = 0; t < T; t++) train_sigmas[t] = training_sigma(s->alphas_cumprod[t]);
    for (int i = 0; i < s->count; i++) s->sigmas[i] = interp_sigma(train_sigmas, T, s->timesteps[i]);
    /* EulerDiscreteScheduler honours final_sigmas_type; the ancestral one always ends at 0. */
    s->sigmas[s->count] = s->kind == OW_SAMPLER_EULER && !s->config.final_sigmas_zero ? train_sigmas[0] : 0.0f;
    free(train_sigmas);
    for (int i = 0; i < s->count; i++) s->train_timesteps[i] = (int)s->timesteps[i];
    float max_sigma = 0.0f;
    for (int i = 0; i <= s->count; i++)
        if (s->sigmas[i] > max_sigma) max_sigma = s->sigmas[i];
    if (spacing == OW_SPACING_LEADING)
        s->init_noise_sigma = sqrtf(max_sigma * max_sigma + 1.0f);
    else
        s->init_noise_sigma = max_sigma;
    return OW_OK;
}

/* DPMSolverMultistepScheduler.set_timesteps with use_karras_sigmas (rho 7). */
static ow_status setup_dpmpp_karras(ow_sampler *s, ow_error *err) {
    int T = s->train_steps, N = s->steps;
    float *log_sigmas = malloc((size_t)T * sizeof *log_sigmas);
    if (!log_sigmas) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for sigmas");
    for (int t = 0; t < T; t++) log_sigmas[t] = (float)log((double)training_sigma(s->alphas_cumprod[t]));
    double sigma_min = (double)training_sigma(s->alphas_cumprod[0]);
    double sigma_max = (double)training_sigma(s->alphas_cumprod[T - 1]);
    const double rho = 7.0;
    double min_inv_rho = pow(sigma_min, 1.0 / rho);
    double max_inv_rho = pow(sigma_max, 1.0 / rho);
    s->count = N;
    for (int i = 0; i < N; i++) {
        double ramp = np_linspace_at(1.0, N, i);
        double sigma = pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), rho);
        double t = nearbyint(sigma_to_t(sigma, log_sigmas, T));
        s->train_timesteps[i] = (int)t;
        s->timesteps[i] = (float)t;
        s->sigmas[i] = (float)sigma;
    }
    s->sigmas[N] = s->config.final_sigmas_zero ? 0.0f : (float)sigma_min;
    free(log_sigmas);
    s->init_noise_sigma = 1.0f;
    return OW_OK;
}

ow_status ow_sampler_create(ow_sampler **out, ow_sampler_kind kind, const ow_schedule_config *config, int steps,
                            float eta, ow_error *err) {
    *out = NULL;
    if ((int)kind < 0 || (int)kind >= OW_SAMPLER_KIND_COUNT)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unknown sampler kind %d (valid: %s)", (int)kind,
                            OW_SAMPLER_NAMES);
    ow_schedule_config defaults;
    if (!config) {
        ow_schedule_config_default(&defaults);
        config = &defaults;
    }
    if ((unsigned)config->beta_schedule > OW_BETAS_LINEAR || (unsigned)config->timestep_spacing > OW_SPACING_TRAILING ||
        (unsigned)config->prediction_type > OW_PREDICT_V)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "schedule config has an invalid beta_schedule (%d), "
                            "timestep_spacing (%d) or prediction_type (%d)", (int)config->beta_schedule,
                            (int)config->timestep_spacing, (int)config->prediction_type);
    int T = config->num_train_timesteps;
    if (T < 2)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "num_train_timesteps %d must be at least 2", T);
    if (steps < 1 || steps > T)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%d sampling steps: must be 1 to %d (num_train_timesteps)",
                            steps, T);
    if (kind == OW_SAMPLER_DDIM && !(eta >= 0.0f && eta <= 1.0f))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "DDIM eta %g must be in [0, 1]", (double)eta);

    ow_sampler *s = calloc(1, sizeof *s);
    if (!s) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for the sampler");
    s->kind = kind;
    s->config = *config;
    /* keys the scheduler file lacked: this sampler's diffusers class's own defaults
     * (DDIMScheduler: set_alpha_to_one and clip_sample true; PNDMScheduler: false) */
    if (s->config.set_alpha_to_one < 0) s->config.set_alpha_to_one = kind == OW_SAMPLER_DDIM;
    if (s->config.clip_sample < 0) s->config.clip_sample = kind == OW_SAMPLER_DDIM;
    s->steps = steps;
    s->eta = kind == OW_SAMPLER_DDIM ? eta : 0.0f;
    s->train_steps = T;
    s->alphas_cumprod = malloc((size_t)T * sizeof *s->alphas_cumprod);
    s->train_timesteps = malloc((size_t)(steps + 1) * sizeof *s->train_timesteps);
    s->timesteps = malloc((size_t)(steps + 1) * sizeof *s->timesteps);
    int has_sigmas = kind == OW_SAMPLER_EULER || kind == OW_SAMPLER_EULER_ANCESTRAL || kind == OW_SAMPLER_DPMPP_2M_KARRAS;
    if (has_sigmas) s->sigmas = malloc((size_t)(steps + 2) * sizeof *s->sigmas);
    if (!s->alphas_cumprod || !s->train_timesteps || !s->timesteps || (has_sigmas && !s->sigmas)) {
        ow_sampler_free(s);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for the sampler's schedule");
    }
    ow_status st = ow_schedule_alphas_cumprod(config, s->alphas_cumprod, err);
    if (st == OW_OK) {
        s->final_alpha_cumprod = s->config.set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
        switch (kind) {
        case OW_SAMPLER_DDIM: st = setup_ddim(s, err); break;
        case OW_SAMPLER_PLMS: st = setup_plms(s, err); break;
        case OW_SAMPLER_EULER:
        case OW_SAMPLER_EULER_ANCESTRAL: st = setup_euler(s, err); break;
        case OW_SAMPLER_DPMPP_2M_KARRAS: st = setup_dpmpp_karras(s, err); break;
        }
    }
    if (st != OW_OK) {
        ow_sampler_free(s);
        return ow_error_prefix(err, "%s sampler with %d steps", kind_names[kind], steps);
    }
    *out = s;
    return OW_OK;
}

void ow_sampler_free(ow_sampler *s) {
    if (!s) return;
    free(s->alphas_cumprod);
    free(s->train_timesteps);
    free(s->timesteps);
    free(s->sigmas);
    free_buffers(s);
    free(s);
}

ow_sampler_kind ow_sampler_get_kind(const ow_sampler *s) { return s->kind; }
int ow_sampler_num_steps(const ow_sampler *s) { return s->count; }

float ow_sampler_timestep(const ow_sampler *s, int i) {
    if (i < 0 || i >= s->count) return NAN;
    return s->timesteps[i];
}

float ow_sampler_sigma(const ow_sampler *s, int i) {
    if (!s->sigmas || i < 0 || i > s->count) return NAN;
    return s->sigmas[i];
}

float ow_sampler_init_noise_sigma(const ow_sampler *s) { return s->init_noise_sigma; }

int ow_sampler_uses_noise(const ow_sampler *s) {
    return s->kind == OW_SAMPLER_EULER_ANCESTRAL || (s->kind == OW_SAMPLER_DDIM && s->eta > 0.0f);
}

void ow_sampler_scale_input(const ow_sampler *s, int i, const float *x, float *out, size_t n) {
    if ((s->kind == OW_SAMPLER_EULER || s->kind == OW_SAMPLER_EULER_ANCESTRAL) && i >= 0 && i < s->count) {
        float sigma = s->sigmas[i];
        float denominator = sqrtf(sigma * sigma + 1.0f);
        for (size_t k = 0; k < n; k++) out[k] = x[k] / denominator;
    } else if (out != x) {
        memmove(out, x, n * sizeof *out);
    }
}

/* ---- step functions (float32, torch's operation order) ----------------- */

static float alpha_at(const ow_sampler *s, int t) {
    return t >= 0 ? s->alphas_cumprod[t] : s->final_alpha_cumprod;
}

/* DDIMScheduler.step. */
static void ddim_step(ow_sampler *s, int i, const float *eps, float *x, size_t n, const float *noise) {
    int t = s->train_timesteps[i];
    int prev_t = t - s->train_steps / s->steps;
    float alpha_t = alpha_at(s, t), alpha_prev = alpha_at(s, prev_t);
    float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;
    float sqrt_alpha_t = sqrtf(alpha_t), sqrt_beta_t = sqrtf(beta_t), sqrt_alpha_prev = sqrtf(alpha_prev);
    float variance = (beta_prev / beta_t) * (1.0f - alpha_t / alpha_prev);
    float std_dev = s->eta * sqrtf(variance);
    float direction_coeff = sqrtf(1.0f - alpha_prev - std_dev * std_dev);
    int v_prediction = s->config.prediction_type == OW_PREDICT_V;
    float clip = (float)s->config.clip_sample_range;
    for (size_t k = 0; k < n; k++) {
        float x0, pred_eps;
        if (v_prediction) {
            x0 = sqrt_alpha_t * x[k] - sqrt_beta_t * eps[k];
            pred_eps = sqrt_alpha_t * eps[k] + sqrt_beta_t * x[k];
        } else {
            x0 = (x[k] - sqrt_beta_t * eps[k]) / sqrt_alpha_t;
            pred_eps = eps[k];
        }
        if (s->config.clip_sample) x0 = x0 < -clip ? -clip : x0 > clip ? clip : x0;
        float prev = sqrt_alpha_prev * x0 + direction_coeff * pred_eps;
        if (noise) prev = prev + std_dev * noise[k];
        x[k] = prev;
    }
}

/* PNDMScheduler._get_prev_sample. */
static void plms_prev_sample(const ow_sampler *s, const float *sample, int t, int prev_t, const float *model_output,
                             float *out, size_t n) {
    float alpha_t = alpha_at(s, t), alpha_prev = alpha_at(s, prev_t);
    float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;
    float sample_coeff = sqrtf(alpha_prev / alpha_t);
    float denominator = alpha_t * sqrtf(beta_prev) + sqrtf(alpha_t * beta_t * alpha_prev);
    float alpha_diff = alpha_prev - alpha_t;
    int v_prediction = s->config.prediction_type == OW_PREDICT_V;
    float sqrt_alpha_t = sqrtf(alpha_t), sqrt_beta_t = sqrtf(beta_t);
    for (size_t k = 0; k < n; k++) {
        float mo = model_output[k];
        if (v_prediction) mo = sqrt_alpha_t * mo + sqrt_beta_t * sample[k];
        out[k] = sample_coeff * sample[k] - alpha_diff * mo / denominator;
    }
}

/* PNDMScheduler.step_plms; the step counter is i. */
static void plms_step(ow_sampler *s, int i, const float *eps, float *x, size_t n) {
    int ratio = s->train_steps / s->steps;
    int t = s->train_timesteps[i];
    int prev_t = t - ratio;
    if (i != 1) {
        if (s->ets_count == 4) { /* keep the last 3, then append */
            float *oldest = s->ets[0];
            memmove(s->ets, s->ets + 1, 3 * sizeof s->ets[0]);
            s->ets[3] = oldest;
            s->ets_count = 3;
        }
        memcpy(s->ets[s->ets_count++], eps, n * sizeof *eps);
    } else {
        prev_t = t;
        t = t + ratio;
    }
    float *combined = s->noise; /* scratch: PLMS draws no noise */
    const float *e1 = s->ets_count >= 1 ? s->ets[s->ets_count - 1] : NULL;
    const float *e2 = s->ets_count >= 2 ? s->ets[s->ets_count - 2] : NULL;
    const float *e3 = s->ets_count >= 3 ? s->ets[s->ets_count - 3] : NULL;
    const float *e4 = s->ets_count >= 4 ? s->ets[s->ets_count - 4] : NULL;
    const float *sample = x;
    if (s->ets_count == 1 && i == 0) {
        memcpy(combined, eps, n * sizeof *eps);
        memcpy(s->plms_sample, x, n * sizeof *x);
    } else if (s->ets_count == 1 && i == 1) {
        for (size_t k = 0; k < n; k++) combined[k] = (eps[k] + e1[k]) / 2.0f;
        sample = s->plms_sample;
    } else if (s->ets_count == 2) {
        for (size_t k = 0; k < n; k++) combined[k] = (3.0f * e1[k] - e2[k]) / 2.0f;
    } else if (s->ets_count == 3) {
        for (size_t k = 0; k < n; k++) combined[k] = (23.0f * e1[k] - 16.0f * e2[k] + 5.0f * e3[k]) / 12.0f;
    } else {
        const float one_24th = (float)(1.0 / 24.0);
        for (size_t k = 0; k < n; k++)
            combined[k] = one_24th * (55.0f * e1[k] - 59.0f * e2[k] + 37.0f * e3[k] - 9.0f * e4[k]);
    }
    plms_prev_sample(s, sample, t, prev_t, combined, x, n);
}

/* Euler: the x0 prediction for sigma (eps or v). */
static float euler_x0(int v_prediction, float sigma, float x, float mo) {
    if (!v_prediction) return x - sigma * mo;
    float s2 = sigma * sigma;
    return mo * (-sigma / sqrtf(s2 + 1.0f)) + x / (s2 + 1.0f);
}

/* EulerDiscreteScheduler.step with s_churn 0 (sigma_hat = sigma). */
static void euler_step(ow_sampler *s, int i, const float *eps, float *x, size_t n) {
    float sigma = s->sigmas[i];
    float sigma_hat = sigma * 1.0f;
    float dt = s->sigmas[i + 1] - sigma_hat;
    int v_prediction = s->config.prediction_type == OW_PREDICT_V;
    for (size_t k = 0; k < n; k++) {
        float x0 = v_prediction ? euler_x0(1, sigma, x[k], eps[k]) : euler_x0(0, sigma_hat, x[k], eps[k]);
        float derivative = (x[k] - x0) / sigma_hat;
        x[k] = x[k] + derivative * dt;
    }
}

/* EulerAncestralDiscreteScheduler.step. */
static void euler_ancestral_step(ow_sampler *s, int i, const float *eps, float *x, size_t n, const float *noise) {
    float sigma_from = s->sigmas[i], sigma_to = s->sigmas[i + 1];
    float from2 = sigma_from * sigma_from, to2 = sigma_to * sigma_to;
    float sigma_up = sqrtf(to2 * (from2 - to2) / from2);
    float sigma_down = sqrtf(to2 - sigma_up * sigma_up);
    float dt = sigma_down - sigma_from;
    int v_prediction = s->config.prediction_type == OW_PREDICT_V;
    for (size_t k = 0; k < n; k++) {
        float x0 = euler_x0(v_prediction, sigma_from, x[k], eps[k]);
        float derivative = (x[k] - x0) / sigma_from;
        float prev = x[k] + derivative * dt;
        x[k] = prev + noise[k] * sigma_up;
    }
}

/* DPM-Solver's (alpha_t, sigma_t) of a sigma, as float32 tensor ops. */
static void dpm_alpha_sigma(float sigma, float *alpha_t, float *sigma_t) {
    *alpha_t = 1.0f / sqrtf(sigma * sigma + 1.0f);
    *sigma_t = sigma * *alpha_t;
}

static float dpm_lambda(float alpha_t, float sigma_t) { return logf(alpha_t) - logf(sigma_t); }

/* DPMSolverMultistepScheduler.step, dpmsolver++, order 2, midpoint. */
static void dpmpp_2m_step(ow_sampler *s, int i, const float *eps, float *x, size_t n) {
    int N = s->count;
    const ow_schedule_config *c = &s->config;
    int lower_order_final =
        i == N - 1 && (c->euler_at_final || (c->lower_order_final && N < 15) || c->final_sigmas_zero);
    int v_prediction = c->prediction_type == OW_PREDICT_V;

    /* convert_model_output: x0 at sigmas[i]; becomes m0. */
    float alpha_now, sigma_now;
    dpm_alpha_sigma(s->sigmas[i], &alpha_now, &sigma_now);
    float *x0 = s->noise; /* scratch: DPM++ 2M draws no noise */
    for (size_t k = 0; k < n; k++)
        x0[k] = v_prediction ? alpha_now * x[k] - sigma_now * eps[k] : (x[k] - sigma_now * eps[k]) / alpha_now;

    float alpha_t, sigma_t, alpha_s0, sigma_s0;
    dpm_alpha_sigma(s->sigmas[i + 1], &alpha_t, &sigma_t);
    dpm_alpha_sigma(s->sigmas[i], &alpha_s0, &sigma_s0);
    float lambda_t = dpm_lambda(alpha_t, sigma_t), lambda_s0 = dpm_lambda(alpha_s0, sigma_s0);
    float h = lambda_t - lambda_s0;
    float sample_coeff = sigma_t / sigma_s0;
    float d0_coeff = alpha_t * (expf(-h) - 1.0f);
    if (s->lower_order_nums < 1 || lower_order_final) {
        for (size_t k = 0; k < n; k++) x[k] = sample_coeff * x[k] - d0_coeff * x0[k];
    } else {
        float alpha_s1, sigma_s1;
        dpm_alpha_sigma(s->sigmas[i - 1], &alpha_s1, &sigma_s1);
        float lambda_s1 = dpm_lambda(alpha_s1, sigma_s1);
        float h_0 = lambda_s0 - lambda_s1;
        float r0 = h_0 / h;
        float d1_scale = 1.0f / r0;
        float d1_coeff = 0.5f * d0_coeff;
        const float *m1 = s->previous_x0;
        for (size_t k = 0; k < n; k++) {
            float d1 = d1_scale * (x0[k] - m1[k]);
            x[k] = sample_coeff * x[k] - d0_coeff * x0[k] - d1_coeff * d1;
        }
    }
    memcpy(s->previous_x0, x0, n * sizeof *x0);
    if (s->lower_order_nums < 2) s->lower_order_nums++;
}

static void free_buffers(ow_sampler *s) {
    free(s->noise);
    s->noise = NULL;
    for (int j = 0; j < 4; j++) {
        free(s->ets[j]);
        s->ets[j] = NULL;
    }
    free(s->plms_sample);
    s->plms_sample = NULL;
    free(s->previous_x0);
    s->previous_x0 = NULL;
}

/* Allocates the per-run buffers at the first step, once n is known. */
static ow_status allocate_buffers(ow_sampler *s, size_t n, ow_error *err) {
    if (n > SIZE_MAX / 8 / sizeof(float))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%zu sampler values is too many", n);
    int ok = (s->noise = malloc(n * sizeof *s->noise)) != NULL;
    if (ok && s->kind == OW_SAMPLER_PLMS) {
        ok = (s->plms_sample = malloc(n * sizeof *s->plms_sample)) != NULL;
        for (int j = 0; ok && j < 4; j++) ok = (s->ets[j] = malloc(n * sizeof *s->ets[j])) != NULL;
    }
    if (ok && s->kind == OW_SAMPLER_DPMPP_2M_KARRAS) ok = (s->previous_x0 = malloc(n * sizeof *s->previous_x0)) != NULL;
    if (!ok) {
        free_buffers(s);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for %s sampler buffers (%zu values)",
                            kind_names[s->kind], n);
    }
    s->n = n;
    return OW_OK;
}

ow_status ow_sampler_step(ow_sampler *s, int i, const float *model_output, float *x, size_t n, ow_torch_rng *rng,
                          ow_error *err) {
    if (i != s->next_step)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%s step %d out of order: the next step is %d of %d",
                            kind_names[s->kind], i, s->next_step, s->count);
    if (i >= s->count)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%s step %d: the sampler has only %d steps",
                            kind_names[s->kind], i, s->count);
    if (n == 0) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%s step with no values", kind_names[s->kind]);
    if (i > 0 && n != s->n)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%s step %d has %zu values but the first step had %zu",
                            kind_names[s->kind], i, n, s->n);
    int uses_noise = ow_sampler_uses_noise(s);
    if (uses_noise && !rng)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "%s step needs a noise generator (rng is NULL)",
                            kind_names[s->kind]);
    if (!s->noise) {
        ow_status st = allocate_buffers(s, n, err);
        if (st != OW_OK) return st;
    }
    if (uses_noise) ow_torch_randn(rng, s->noise, n);

    switch (s->kind) {
    case OW_SAMPLER_DDIM: ddim_step(s, i, model_output, x, n, uses_noise ? s->noise : NULL); break;
    case OW_SAMPLER_PLMS: plms_step(s, i, model_output, x, n); break;
    case OW_SAMPLER_EULER: euler_step(s, i, model_output, x, n); break;
    case OW_SAMPLER_EULER_ANCESTRAL: euler_ancestral_step(s, i, model_output, x, n, s->noise); break;
    case OW_SAMPLER_DPMPP_2M_KARRAS: dpmpp_2m_step(s, i, model_output, x, n); break;
    }
    s->next_step = i + 1;
    return OW_OK;
}
