/* schedule.c: scheduler_config.json (json-c) and the training-time
 * alphas_cumprod, computed in float32 the way diffusers + torch do. */
#include "sampling/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/error.h"
#include "core/file.h"

/* torch.linspace and the float32 tensor ops below must be evaluated exactly as
 * written (see torch_linspace_f32): no contraction of a*b+c into an FMA except
 * where we call fmaf ourselves. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && !defined(__STRICT_ANSI__)
#pragma GCC optimize("fp-contract=off")
#endif

#define MAX_TRAIN_TIMESTEPS 100000

void ow_schedule_config_default(ow_schedule_config *c) {
    memset(c, 0, sizeof *c);
    c->num_train_timesteps = 1000;
    c->beta_start = 0.00085;
    c->beta_end = 0.012;
    c->beta_schedule = OW_BETAS_SCALED_LINEAR;
    c->steps_offset = 1;
    c->set_alpha_to_one = 0;
    c->clip_sample = 0;
    c->clip_sample_range = 1.0;
    c->timestep_spacing = OW_SPACING_DEFAULT;
    c->prediction_type = OW_PREDICT_EPSILON;
    c->lower_order_final = 1;
    c->euler_at_final = 0;
    c->final_sigmas_zero = 1;
}

/* ---- JSON helpers: a key that is absent or null keeps the default ------- */

static json_object *get_key(json_object *root, const char *key) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, key, &v) || !v || json_object_is_type(v, json_type_null)) return NULL;
    return v;
}

static ow_status wrong_type(const char *key, json_object *v, const char *want, ow_error *err) {
    return ow_error_set(err, OW_ERR_FORMAT, "scheduler config: \"%s\" is %s, expected %s", key,
                        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), want);
}

static ow_status read_number(json_object *root, const char *key, double *out, ow_error *err) {
    json_object *v = get_key(root, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return wrong_type(key, v, "a number", err);
    *out = json_object_get_double(v);
    return OW_OK;
}

static ow_status read_int(json_object *root, const char *key, int lo, int hi, int *out, ow_error *err) {
    json_object *v = get_key(root, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_int)) return wrong_type(key, v, "an integer", err);
    int64_t i = json_object_get_int64(v);
    if (i < lo || i > hi)
        return ow_error_set(err, OW_ERR_FORMAT, "scheduler config: \"%s\" is %lld, expected %d to %d", key,
                            (long long)i, lo, hi);
    *out = (int)i;
    return OW_OK;
}

static ow_status read_bool(json_object *root, const char *key, int *out, ow_error *err) {
    json_object *v = get_key(root, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_boolean)) return wrong_type(key, v, "true or false", err);
    *out = json_object_get_boolean(v) ? 1 : 0;
    return OW_OK;
}

/* Reads a string key and maps it through names[] (NULL-terminated); values
 * listed in refused[] get OW_ERR_UNSUPPORTED. */
static ow_status read_choice(json_object *root, const char *key, const char *const *names, const char *valid_list,
                             int *out, ow_error *err) {
    json_object *v = get_key(root, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_string)) return wrong_type(key, v, "a string", err);
    const char *s = json_object_get_string(v);
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return OW_OK;
        }
    }
    return ow_error_set(err, OW_ERR_UNSUPPORTED, "scheduler config: %s \"%s\" is not supported (supported: %s)", key,
                        s, valid_list);
}

/* A boolean option we only support in one state. */
static ow_status refuse_if_true(json_object *root, const char *key, const char *why, ow_error *err) {
    int value = 0;
    ow_status st = read_bool(root, key, &value, err);
    if (st != OW_OK) return st;
    if (value) return ow_error_set(err, OW_ERR_UNSUPPORTED, "scheduler config: \"%s\": true is not supported (%s)", key, why);
    return OW_OK;
}

static ow_status parse_object(ow_schedule_config *c, json_object *root, ow_error *err) {
    ow_status st;
    if ((st = read_int(root, "num_train_timesteps", 2, MAX_TRAIN_TIMESTEPS, &c->num_train_timesteps, err))) return st;
    if ((st = read_number(root, "beta_start", &c->beta_start, err))) return st;
    if ((st = read_number(root, "beta_end", &c->beta_end, err))) return st;
    static const char *const schedules[] = {"scaled_linear", "linear", NULL};
    int schedule = (int)c->beta_schedule;
    if ((st = read_choice(root, "beta_schedule", schedules, "scaled_linear, linear", &schedule, err))) return st;
    c->beta_schedule = (ow_beta_schedule)schedule;
    if (get_key(root, "trained_betas"))
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "scheduler config: \"trained_betas\" is not supported; use beta_start/beta_end with "
                            "beta_schedule scaled_linear or linear");
    if ((st = read_int(root, "steps_offset", 0, MAX_TRAIN_TIMESTEPS, &c->steps_offset, err))) return st;
    if ((st = read_bool(root, "set_alpha_to_one", &c->set_alpha_to_one, err))) return st;
    if ((st = read_bool(root, "clip_sample", &c->clip_sample, err))) return st;
    if ((st = read_number(root, "clip_sample_range", &c->clip_sample_range, err))) return st;
    static const char *const spacings[] = {"leading", "linspace", "trailing", NULL};
    int spacing = -1;
    if ((st = read_choice(root, "timestep_spacing", spacings, "leading, linspace, trailing", &spacing, err))) return st;
    if (spacing >= 0) c->timestep_spacing = (ow_timestep_spacing)(OW_SPACING_LEADING + spacing);
    static const char *const predictions[] = {"epsilon", "v_prediction", NULL};
    int prediction = (int)c->prediction_type;
    if ((st = read_choice(root, "prediction_type", predictions, "epsilon, v_prediction", &prediction, err))) return st;
    c->prediction_type = (ow_prediction_type)prediction;
    if ((st = read_bool(root, "lower_order_final", &c->lower_order_final, err))) return st;
    if ((st = read_bool(root, "euler_at_final", &c->euler_at_final, err))) return st;
    static const char *const finals[] = {"sigma_min", "zero", NULL};
    int final_zero = c->final_sigmas_zero;
    if ((st = read_choice(root, "final_sigmas_type", finals, "zero, sigma_min", &final_zero, err))) return st;
    c->final_sigmas_zero = final_zero;
    static const char *const interpolations[] = {"linear", NULL};
    int interpolation = 0;
    if ((st = read_choice(root, "interpolation_type", interpolations, "linear", &interpolation, err))) return st;
    static const char *const timestep_types[] = {"discrete", NULL};
    int timestep_type = 0;
    if ((st = read_choice(root, "timestep_type", timestep_types, "discrete", &timestep_type, err))) return st;
    if ((st = refuse_if_true(root, "thresholding", "dynamic thresholding is for pixel-space models", err))) return st;
    if ((st = refuse_if_true(root, "rescale_betas_zero_snr", "zero-terminal-SNR schedules are not implemented", err)))
        return st;

    if (!(c->beta_start > 0.0) || !(c->beta_end > 0.0) || !(c->beta_end < 1.0) || !(c->beta_start < 1.0))
        return ow_error_set(err, OW_ERR_FORMAT, "scheduler config: beta_start %g and beta_end %g must be in (0, 1)",
                            c->beta_start, c->beta_end);
    if (!(c->clip_sample_range > 0.0))
        return ow_error_set(err, OW_ERR_FORMAT, "scheduler config: clip_sample_range %g must be positive",
                            c->clip_sample_range);
    return OW_OK;
}

ow_status ow_schedule_config_parse(ow_schedule_config *c, const char *json_text, ow_error *err) {
    ow_schedule_config_default(c);
    /* what a key the file lacks is: the diffusers classes' defaults (DDIMScheduler, PNDMScheduler,
     * EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler agree on
     * these in diffusers 0.31; the two that differ are resolved per sampler) */
    c->beta_start = 0.0001;
    c->beta_end = 0.02;
    c->beta_schedule = OW_BETAS_LINEAR;
    c->steps_offset = 0;
    c->set_alpha_to_one = -1;
    c->clip_sample = -1;
    enum json_tokener_error jerr = json_tokener_success;
    json_object *root = json_tokener_parse_verbose(json_text, &jerr);
    if (!root || jerr != json_tokener_success) {
        if (root) json_object_put(root);
        return ow_error_set(err, OW_ERR_FORMAT, "scheduler config is not valid JSON (%s)", json_tokener_error_desc(jerr));
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return ow_error_set(err, OW_ERR_FORMAT, "scheduler config must be a JSON object");
    }
    ow_status st = parse_object(c, root, err);
    json_object_put(root);
    if (st != OW_OK) ow_schedule_config_default(c);
    return st;
}

ow_status ow_schedule_config_load(ow_schedule_config *c, const char *path, ow_error *err) {
    ow_schedule_config_default(c);
    char *text;
    size_t size;
    ow_status st = ow_file_read_all(path, "scheduler config", (uint64_t)1 << 24, &text, &size, err);
    if (st != OW_OK) return st;
    st = ow_schedule_config_parse(c, text, err);
    if (st != OW_OK) ow_error_prefix(err, "%s", path);
    free(text);
    return st;
}

/* ---- alphas_cumprod ----------------------------------------------------- */

/* torch.linspace(start, end, n, dtype=float32) on x86-64: step in float, the
 * first half counted from start and the second half from end, each as one
 * fused multiply-add (GCC contracts start + step * i in torch's AVX2 build). */
static void torch_linspace_f32(double start, double end, int n, float *out) {
    float s = (float)start, e = (float)end;
    float step = (e - s) / (float)(n - 1);
    int halfway = n / 2;
    for (int i = 0; i < n; i++)
        out[i] = i < halfway ? fmaf(step, (float)i, s) : fmaf(-step, (float)(n - i - 1), e);
}

ow_status ow_schedule_alphas_cumprod(const ow_schedule_config *c, float *out, ow_error *err) {
    int T = c->num_train_timesteps;
    if (T < 2 || T > MAX_TRAIN_TIMESTEPS)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "num_train_timesteps %d must be 2 to %d", T, MAX_TRAIN_TIMESTEPS);
    if (c->beta_schedule == OW_BETAS_SCALED_LINEAR) {
        torch_linspace_f32(sqrt(c->beta_start), sqrt(c->beta_end), T, out);
        for (int i = 0; i < T; i++) out[i] = out[i] * out[i];
    } else {
        torch_linspace_f32(c->beta_start, c->beta_end, T, out);
    }
    double product = 1.0;
    for (int i = 0; i < T; i++) {
        float alpha = 1.0f - out[i];
        product *= (double)alpha;
        out[i] = (float)product;
    }
    return OW_OK;
}
