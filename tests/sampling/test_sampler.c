/* test_sampler.c: schedules and sampler steps against diffusers 0.31.0
 * (tests/golden/sampling/schedules.safetensors and steps.safetensors), the
 * scheduler_config.json reader, sampler names, and misuse errors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "sampling/sampler.h"
#include "sampling/schedule.h"
#include "sampling/torch_rng.h"

/* Max error relative to a scale: |got - want| / max(|want|, floor) over n
 * values, where floor is at least 1 (or the run's largest magnitude, so that
 * float32 rounding of large intermediate latents counts at its own size).
 * Prints the error, the absolute error and the number of bit-identical values;
 * fails above tol. */
static int check_rel(const char *what, const float *got, const float *want, size_t n, double floor_, double tol) {
    double worst = 0.0, worst_abs = 0.0;
    size_t where = 0, identical = 0;
    int nan_mismatch = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(want[i])) nan_mismatch = 1;
        if (memcmp(got + i, want + i, sizeof(float)) == 0) identical++;
        double scale = fabs((double)want[i]) > floor_ ? fabs((double)want[i]) : floor_;
        double a = fabs((double)got[i] - (double)want[i]);
        if (a > worst_abs) worst_abs = a;
        if (a / scale > worst) {
            worst = a / scale;
            where = i;
        }
    }
    int ok = !nan_mismatch && worst <= tol;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr,
            "%s %s: %zu values (%zu bit-identical), max err %.3g relative to max(|want|, %.3g) at [%zu] (got %.9g "
            "want %.9g; max abs err %.3g), tol %.3g\n",
            ok ? "ok  " : "FAIL", what, n, identical, worst, floor_, where, n ? (double)got[where] : 0.0,
            n ? (double)want[where] : 0.0, worst_abs, tol);
    return ok;
}

static float *load_f32(const ow_tensor_set *set, const char *name, size_t *n) {
    const ow_tensor_entry *e = ow_tensor_set_find(set, name);
    if (!e) return NULL;
    *n = (size_t)ow_tensor_entry_numel(e);
    float *data = malloc(*n * sizeof *data + 1);
    ow_error err = {0};
    if (ow_tensor_entry_to_f32(e, data, &err) != OW_OK) {
        free(data);
        return NULL;
    }
    return data;
}

/* Splits "a,b,c" into at most max pointers into a copy of text. */
static int split_list(const char *text, char *copy, size_t copy_size, char **items, int max) {
    snprintf(copy, copy_size, "%s", text ? text : "");
    int count = 0;
    for (char *p = strtok(copy, ","); p && count < max; p = strtok(NULL, ",")) items[count++] = p;
    return count;
}

static int config_for(const ow_tensor_set *set, const char *name, ow_schedule_config *config) {
    char key[128];
    snprintf(key, sizeof key, "config/%s", name);
    const char *json = ow_tensor_set_metadata(set, key);
    ow_error err = {0};
    ow_status st = json ? ow_schedule_config_parse(config, json, &err) : OW_ERR_NOT_FOUND;
    CHECK(st == OW_OK, "parse config %s: %s", name, err.message);
    return st == OW_OK;
}

static void test_names(void) {
    static const char *const names[] = {"ddim", "plms", "euler", "euler-a", "dpm++2m-karras"};
    for (int i = 0; i < 5; i++) {
        ow_sampler_kind kind;
        ow_error err = {0};
        CHECK(ow_sampler_kind_parse(names[i], &kind, &err) == OW_OK && (int)kind == i, "parse %s", names[i]);
        CHECK(strcmp(ow_sampler_kind_name(kind), names[i]) == 0, "name of %s", names[i]);
    }
    ow_sampler_kind kind;
    ow_error err = {0};
    ow_status st = ow_sampler_kind_parse("k_lms", &kind, &err);
    CHECK(st == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "k_lms") && strstr(err.message, "euler-a") &&
              strstr(err.message, "dpm++2m-karras"),
          "unknown sampler names it and lists the valid ones: %s", err.message);
    printf("ok   sampler names; unknown name: \"%s\"\n", err.message);
}

static void expect_config_error(const char *json, ow_status want, const char *fragment) {
    ow_schedule_config c;
    ow_error err = {0};
    ow_status st = ow_schedule_config_parse(&c, json, &err);
    CHECK(st == want && strstr(err.message, fragment), "config %s: status %d (want %d), message \"%s\" should contain \"%s\"",
          json, (int)st, (int)want, err.message, fragment);
}

static void test_config(void) {
    ow_schedule_config d, c;
    ow_schedule_config_default(&d);
    CHECK(d.num_train_timesteps == 1000 && d.beta_start == 0.00085 && d.beta_end == 0.012 &&
              d.beta_schedule == OW_BETAS_SCALED_LINEAR && d.steps_offset == 1 && !d.set_alpha_to_one &&
              !d.clip_sample && d.timestep_spacing == OW_SPACING_DEFAULT && d.prediction_type == OW_PREDICT_EPSILON,
          "SD 1.x defaults");
    ow_error err = {0};
    ow_status st = ow_schedule_config_load(&c, source_path("tests/golden/tiny/sd-tiny-a/scheduler/scheduler_config.json"), &err);
    CHECK(st == OW_OK && memcmp(&c, &d, sizeof c) == 0, "the tiny model's SD 1.x scheduler_config.json gives the defaults: %s",
          err.message);
    st = ow_schedule_config_load(&c, source_path("tests/golden/sampling/no-such-file.json"), &err);
    CHECK(st == OW_ERR_IO && strstr(err.message, "no-such-file.json"), "missing file: %s", err.message);
    st = ow_schedule_config_parse(&c, "{\"prediction_type\": \"v_prediction\", \"timestep_spacing\": \"trailing\", "
                                      "\"beta_schedule\": \"linear\", \"steps_offset\": 0, \"clip_sample\": true, "
                                      "\"final_sigmas_type\": \"sigma_min\", \"unknown_key\": [1, 2]}", &err);
    CHECK(st == OW_OK && c.prediction_type == OW_PREDICT_V && c.timestep_spacing == OW_SPACING_TRAILING &&
              c.beta_schedule == OW_BETAS_LINEAR && c.steps_offset == 0 && c.clip_sample && !c.final_sigmas_zero,
          "overrides read, unknown keys ignored: %s", err.message);
    expect_config_error("{\"beta_schedule\": \"squaredcos_cap_v2\"}", OW_ERR_UNSUPPORTED, "scaled_linear, linear");
    expect_config_error("{\"prediction_type\": \"sample\"}", OW_ERR_UNSUPPORTED, "prediction_type");
    expect_config_error("{\"thresholding\": true}", OW_ERR_UNSUPPORTED, "thresholding");
    expect_config_error("{\"rescale_betas_zero_snr\": true}", OW_ERR_UNSUPPORTED, "rescale_betas_zero_snr");
    expect_config_error("{\"trained_betas\": [0.1, 0.2]}", OW_ERR_UNSUPPORTED, "trained_betas");
    expect_config_error("{\"timestep_spacing\": \"even\"}", OW_ERR_UNSUPPORTED, "leading, linspace, trailing");
    expect_config_error("{\"beta_start\": \"small\"}", OW_ERR_FORMAT, "beta_start");
    expect_config_error("{\"steps_offset\": 1.5}", OW_ERR_FORMAT, "steps_offset");
    expect_config_error("{\"clip_sample\": 1}", OW_ERR_FORMAT, "clip_sample");
    expect_config_error("{\"num_train_timesteps\": 1}", OW_ERR_FORMAT, "num_train_timesteps");
    expect_config_error("{\"beta_end\": 1.5}", OW_ERR_FORMAT, "beta_end");
    expect_config_error("{\"beta_start\": 0.1,", OW_ERR_FORMAT, "not valid JSON");
    expect_config_error("[1, 2]", OW_ERR_FORMAT, "JSON object");
    printf("ok   scheduler config: defaults, file, overrides, %d refusals with messages\n", 13);
}

static void test_schedules(const ow_tensor_set *set) {
    char buffers[3][512];
    char *configs[16], *kinds[8], *steps_list[16];
    int nconfigs = split_list(ow_tensor_set_metadata(set, "configs"), buffers[0], sizeof buffers[0], configs, 16);
    int nkinds = split_list(ow_tensor_set_metadata(set, "kinds"), buffers[1], sizeof buffers[1], kinds, 8);
    int nsteps = split_list(ow_tensor_set_metadata(set, "steps"), buffers[2], sizeof buffers[2], steps_list, 16);
    CHECK(nconfigs >= 5 && nkinds == 5 && nsteps >= 4, "schedules golden lists configs, kinds, steps");
    int schedules = 0, timestep_mismatches = 0, init_mismatches = 0, init_identical = 0;
    double worst_sigma = 0.0;
    size_t sigma_values = 0, sigma_identical = 0, timestep_values = 0;
    for (int ci = 0; ci < nconfigs; ci++) {
        ow_schedule_config config;
        if (!config_for(set, configs[ci], &config)) continue;
        char key[256];
        snprintf(key, sizeof key, "%s/alphas_cumprod", configs[ci]);
        size_t n = 0;
        float *want = load_f32(set, key, &n);
        CHECK(want && n == (size_t)config.num_train_timesteps, "golden %s", key);
        if (want) {
            float *got = malloc(n * sizeof *got);
            ow_error err = {0};
            CHECK(ow_schedule_alphas_cumprod(&config, got, &err) == OW_OK, "alphas_cumprod %s", err.message);
            char what[256];
            snprintf(what, sizeof what, "alphas_cumprod, config %s", configs[ci]);
            check_rel(what, got, want, n, 0.0, 0.0); /* float32 as torch computes it: bit for bit */
            free(got);
            free(want);
        }
        for (int ki = 0; ki < nkinds; ki++) {
            ow_sampler_kind kind;
            ow_error err = {0};
            if (ow_sampler_kind_parse(kinds[ki], &kind, &err) != OW_OK) continue;
            for (int si = 0; si < nsteps; si++) {
                int steps = atoi(steps_list[si]);
                ow_sampler *s = NULL;
                ow_status st = ow_sampler_create(&s, kind, &config, steps, 0.0f, &err);
                CHECK(st == OW_OK, "create %s %s %d: %s", configs[ci], kinds[ki], steps, err.message);
                if (st != OW_OK) continue;
                schedules++;
                size_t nt = 0, ns = 0, ni = 0;
                snprintf(key, sizeof key, "%s/%s/%d/timesteps", configs[ci], kinds[ki], steps);
                float *ts = load_f32(set, key, &nt);
                snprintf(key, sizeof key, "%s/%s/%d/sigmas", configs[ci], kinds[ki], steps);
                float *sig = load_f32(set, key, &ns);
                snprintf(key, sizeof key, "%s/%s/%d/init_noise_sigma", configs[ci], kinds[ki], steps);
                float *init = load_f32(set, key, &ni);
                int count = ow_sampler_num_steps(s);
                CHECK(ts && (size_t)count == nt, "%s/%s/%d: %d iterations, diffusers has %zu timesteps", configs[ci],
                      kinds[ki], steps, count, nt);
                for (size_t i = 0; ts && i < nt && (size_t)count == nt; i++) {
                    timestep_values++;
                    if (ow_sampler_timestep(s, (int)i) != ts[i]) {
                        if (!timestep_mismatches)
                            fprintf(stderr, "FAIL %s/%s/%d timestep[%zu] = %.9g, want %.9g\n", configs[ci], kinds[ki],
                                    steps, i, (double)ow_sampler_timestep(s, (int)i), (double)ts[i]);
                        timestep_mismatches++;
                    }
                }
                if (sig) {
                    CHECK(ns == (size_t)count + 1, "%s/%s/%d: %zu sigmas", configs[ci], kinds[ki], steps, ns);
                    for (size_t i = 0; i < ns && ns == (size_t)count + 1; i++) {
                        float g = ow_sampler_sigma(s, (int)i);
                        double e = fabs((double)g - (double)sig[i]) / (sig[i] > 1e-3f ? (double)sig[i] : 1e-3);
                        if (e > worst_sigma) worst_sigma = e;
                        if (e > 1e-6)
                            fprintf(stderr, "FAIL %s/%s/%d sigma[%zu] = %.9g, want %.9g\n", configs[ci], kinds[ki], steps,
                                    i, (double)g, (double)sig[i]);
                        sigma_identical += memcmp(&g, &sig[i], sizeof g) == 0;
                        sigma_values++;
                    }
                } else {
                    CHECK(isnan(ow_sampler_sigma(s, 0)), "%s has no sigmas", kinds[ki]);
                }
                float init_got = ow_sampler_init_noise_sigma(s);
                if (init && ni == 1 && init_got == init[0]) init_identical++;
                if (init && ni == 1 && !(fabs((double)init_got - (double)init[0]) <= 1e-6 * fabs((double)init[0]))) {
                    init_mismatches++;
                    fprintf(stderr, "FAIL %s/%s/%d init_noise_sigma %.9g, want %.9g\n", configs[ci], kinds[ki], steps,
                            (double)ow_sampler_init_noise_sigma(s), (double)init[0]);
                }
                free(ts);
                free(sig);
                free(init);
                ow_sampler_free(s);
            }
        }
    }
    CHECK(timestep_mismatches == 0, "%d timesteps differ", timestep_mismatches);
    CHECK(init_mismatches == 0, "%d init_noise_sigma differ", init_mismatches);
    CHECK(worst_sigma <= 1e-6, "sigmas max rel err %.3g", worst_sigma);
    printf("%s %d schedules: %zu timesteps equal; init_noise_sigma within 1e-6 rel (%d bit-identical); %zu sigmas "
           "(%zu bit-identical), max rel err %.3g (tol 1e-6)\n",
           timestep_mismatches || init_mismatches || worst_sigma > 1e-6 ? "FAIL" : "ok  ", schedules, timestep_values,
           init_identical, sigma_values, sigma_identical, worst_sigma);
}

/* Replays one diffusers run: seeded latents times init_noise_sigma, a stand-in
 * model output from a second generator, and compares every step. */
static void run_one(const ow_tensor_set *set, const char *name, double tol) {
    char key[256];
    snprintf(key, sizeof key, "run/%s", name);
    const char *desc = ow_tensor_set_metadata(set, key);
    char config_name[64], kind_name[64];
    int steps = 0;
    double eta = 0.0;
    unsigned long long seed = 0;
    size_t n = 0;
    CHECK(desc && sscanf(desc, "%63s %63s %d %lf %llu %zu", config_name, kind_name, &steps, &eta, &seed, &n) == 6,
          "run %s description \"%s\"", name, desc ? desc : "(missing)");
    if (!desc) return;
    ow_schedule_config config;
    if (!config_for(set, config_name, &config)) return;
    ow_sampler_kind kind;
    ow_error err = {0};
    if (ow_sampler_kind_parse(kind_name, &kind, &err) != OW_OK) return;
    ow_sampler *s = NULL;
    if (ow_sampler_create(&s, kind, &config, steps, (float)eta, &err) != OW_OK) {
        CHECK(0, "create %s: %s", name, err.message);
        return;
    }
    int count = ow_sampler_num_steps(s);
    size_t nx = 0, nin = 0;
    snprintf(key, sizeof key, "%s/x", name);
    float *want_x = load_f32(set, key, &nx);
    snprintf(key, sizeof key, "%s/xin", name);
    float *want_in = load_f32(set, key, &nin);
    CHECK(want_x && want_in && nx == (size_t)count * n && nin == nx, "%s: golden has %d steps of %zu values", name,
          count, n);
    if (!want_x || !want_in || nx != (size_t)count * n || nin != nx) {
        free(want_x);
        free(want_in);
        ow_sampler_free(s);
        return;
    }
    float *x = malloc(n * sizeof *x), *xin = malloc(n * sizeof *xin), *eps = malloc(n * sizeof *eps);
    float *got_x = malloc(nx * sizeof *got_x), *got_in = malloc(nx * sizeof *got_in);
    ow_torch_rng rng, model_rng;
    ow_torch_rng_seed(&rng, seed);
    ow_torch_rng_seed(&model_rng, seed + 1000);
    ow_torch_randn(&rng, x, n);
    float init = ow_sampler_init_noise_sigma(s);
    for (size_t k = 0; k < n; k++) x[k] = x[k] * init;
    ow_status st = OW_OK;
    for (int i = 0; i < count && st == OW_OK; i++) {
        ow_sampler_scale_input(s, i, x, xin, n);
        ow_torch_randn(&model_rng, eps, n);
        st = ow_sampler_step(s, i, eps, x, n, &rng, &err);
        memcpy(got_in + (size_t)i * n, xin, n * sizeof *xin);
        memcpy(got_x + (size_t)i * n, x, n * sizeof *x);
    }
    CHECK(st == OW_OK, "%s steps: %s", name, err.message);
    /* torch's float32 steps round at the size of the largest latents of the
     * run (its sqrt/log/exp are also not always correctly rounded), so errors
     * are measured relative to that size, or to |want| where larger. */
    double peak = 1.0;
    for (size_t k = 0; k < nx; k++) {
        if (fabs((double)want_x[k]) > peak) peak = fabs((double)want_x[k]);
        if (fabs((double)want_in[k]) > peak) peak = fabs((double)want_in[k]);
    }
    char what[256];
    snprintf(what, sizeof what, "%-17s %-14s %2d steps eta %.1f: UNet inputs", name, kind_name, count, eta);
    check_rel(what, got_in, want_in, nx, peak, tol);
    snprintf(what, sizeof what, "%-17s %-14s %2d steps eta %.1f: latents   ", name, kind_name, count, eta);
    check_rel(what, got_x, want_x, nx, peak, tol);
    free(x);
    free(xin);
    free(eps);
    free(got_x);
    free(got_in);
    free(want_x);
    free(want_in);
    ow_sampler_free(s);
}

static void test_runs(const ow_tensor_set *set) {
    char buffer[2048];
    char *runs[64];
    int nruns = split_list(ow_tensor_set_metadata(set, "runs"), buffer, sizeof buffer, runs, 64);
    CHECK(nruns >= 20, "steps golden lists %d runs", nruns);
    /* float32 step arithmetic in torch's order: within 1e-6 of the run's scale. */
    for (int r = 0; r < nruns; r++) run_one(set, runs[r], 1e-6);
}

static void test_misuse(void) {
    ow_schedule_config config;
    ow_schedule_config_default(&config);
    ow_sampler *s = NULL;
    ow_error err = {0};
    CHECK(ow_sampler_create(&s, OW_SAMPLER_DDIM, &config, 0, 0.0f, &err) == OW_ERR_INVALID_ARGUMENT && !s &&
              strstr(err.message, "0 sampling steps"),
          "0 steps refused: %s", err.message);
    CHECK(ow_sampler_create(&s, OW_SAMPLER_DDIM, &config, 10, 1.5f, &err) == OW_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "eta"),
          "eta 1.5 refused: %s", err.message);
    CHECK(ow_sampler_create(&s, OW_SAMPLER_DDIM, &config, 1000, 0.0f, &err) == OW_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "timestep 1000"),
          "1000 leading steps with offset 1 reach timestep 1000: %s", err.message);
    CHECK(ow_sampler_create(&s, OW_SAMPLER_EULER, &config, 1001, 0.0f, &err) == OW_ERR_INVALID_ARGUMENT,
          "more steps than training timesteps refused: %s", err.message);
    CHECK(ow_sampler_create(&s, (ow_sampler_kind)9, &config, 10, 0.0f, &err) == OW_ERR_INVALID_ARGUMENT,
          "unknown kind refused: %s", err.message);
    ow_schedule_config bad = config;
    bad.timestep_spacing = (ow_timestep_spacing)7;
    CHECK(ow_sampler_create(&s, OW_SAMPLER_DDIM, &bad, 10, 0.0f, &err) == OW_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "timestep_spacing"),
          "invalid spacing value refused: %s", err.message);

    float x[32] = {0}, eps[32] = {0};
    CHECK(ow_sampler_create(&s, OW_SAMPLER_EULER_ANCESTRAL, NULL, 5, 0.0f, &err) == OW_OK, "create euler-a");
    CHECK(ow_sampler_uses_noise(s), "euler-a draws noise");
    CHECK(ow_sampler_step(s, 1, eps, x, 32, NULL, &err) == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "order"),
          "step out of order: %s", err.message);
    CHECK(ow_sampler_step(s, 0, eps, x, 32, NULL, &err) == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "rng"),
          "euler-a without a generator: %s", err.message);
    ow_torch_rng rng;
    ow_torch_rng_seed(&rng, 1);
    CHECK(ow_sampler_step(s, 0, eps, x, 32, &rng, &err) == OW_OK, "step 0");
    CHECK(ow_sampler_step(s, 1, eps, x, 16, &rng, &err) == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "32"),
          "changing n refused: %s", err.message);
    ow_sampler_free(s);
    CHECK(ow_sampler_create(&s, OW_SAMPLER_PLMS, NULL, 3, 0.0f, &err) == OW_OK, "create plms");
    CHECK(!ow_sampler_uses_noise(s) && ow_sampler_num_steps(s) == 4, "plms 3 steps: 4 evaluations, no noise");
    for (int i = 0; i < 4; i++) CHECK(ow_sampler_step(s, i, eps, x, 32, NULL, &err) == OW_OK, "plms step %d", i);
    CHECK(ow_sampler_step(s, 4, eps, x, 32, NULL, &err) == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "only 4"),
          "step past the end: %s", err.message);
    ow_sampler_free(s);
    ow_sampler_free(NULL);
    printf("ok   misuse refused with messages (steps, eta, timestep range, order, n, rng)\n");
}

int main(void) {
    test_names();
    test_config();
    test_misuse();
    ow_tensor_set *schedules = NULL, *steps = NULL;
    ow_error err = {0};
    ow_status st = ow_tensor_set_open(&schedules, source_path("tests/golden/sampling/schedules.safetensors"), &err);
    CHECK(st == OW_OK, "open schedules golden: %s", err.message);
    if (st == OW_OK) {
        test_schedules(schedules);
        ow_tensor_set_free(schedules);
    }
    st = ow_tensor_set_open(&steps, source_path("tests/golden/sampling/steps.safetensors"), &err);
    CHECK(st == OW_OK, "open steps golden: %s", err.message);
    if (st == OW_OK) {
        test_runs(steps);
        ow_tensor_set_free(steps);
    }
    CHECK_DONE();
}
