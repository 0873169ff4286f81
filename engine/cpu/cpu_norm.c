/* cpu_norm.c: GroupNorm (optionally fused with SiLU) and LayerNorm with torch's
 * semantics: biased variance, eps added inside the square root. Statistics are
 * two-pass (mean, then the mean of squared deviations) with float partial sums
 * over short runs combined in double, so large groups (e.g. 20 channels x 4096
 * pixels) stay accurate. Parallel over (batch, group) and over rows. The training
 * forwards also write mean and rstd (what cpu_norm_backward.c needs); the inference
 * ops are the same computation without them. */
#include <math.h>

#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"

/* Sums in 16 float lanes over blocks of 256 values, each block's total added in
 * double: vectorises, and the error does not grow with the group size. */
#define LANES 16
#define BLOCK 256
/* Below this many values in all a norm runs on one thread. */
#define SERIAL_VALUES 32768.0

/* ---- statistics ---- */

OW_CPU_HOT
static double sum_row(const float *x, size_t n) {
    double total = 0.0;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float lane[LANES] = {0};
        for (size_t j = 0; j < BLOCK; j += LANES)
            for (int l = 0; l < LANES; l++) lane[l] += x[i + j + l];
        float s = 0.0f;
        for (int l = 0; l < LANES; l++) s += lane[l];
        total += s;
    }
    for (; i < n; i++) total += x[i];
    return total;
}

OW_CPU_HOT
static double sum_sq_dev_row(const float *x, size_t n, float mean) {
    double total = 0.0;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float lane[LANES] = {0};
        for (size_t j = 0; j < BLOCK; j += LANES)
            for (int l = 0; l < LANES; l++) {
                float d = x[i + j + l] - mean;
                lane[l] += d * d;
            }
        float s = 0.0f;
        for (int l = 0; l < LANES; l++) s += lane[l];
        total += s;
    }
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        total += d * d;
    }
    return total;
}

/* mean and rstd = 1 / sqrt(biased variance + eps) of n values, rounded to float
 * exactly where the inference ops round them. */
static void row_statistics(const float *x, size_t n, float eps, float *mean_out, float *rstd_out) {
    double mean = sum_row(x, n) / (double)n;
    double var = sum_sq_dev_row(x, n, (float)mean) / (double)n;
    *mean_out = (float)mean;
    *rstd_out = (float)(1.0 / sqrt(var + (double)eps));
}

/* ---- forwards ---- */

/* out = (x - mean) * a + c over n values, then SiLU if asked (cpu_norm.c's affine_row). */
OW_CPU_HOT
static void group_affine_row(float *out, const float *x, size_t n, float mean, float a, float c, int silu) {
    for (size_t i = 0; i < n; i++) out[i] = (x[i] - mean) * a + c;
    if (silu) ow_cpu_silu_row(out, out, n);
}

void ow_cpu_group_norm_train(ow_backend *b, float *out, float *mean, float *rstd, const float *x, const float *gamma,
                             const float *beta, int B, int C, int HW, int groups, float eps, int fuse_silu) {
    cpu_state *c = cpu_of(b);
    if (B <= 0 || C <= 0 || HW <= 0 || groups <= 0) return;
    int cpg = C / groups; /* channels per group; the caller guarantees C % groups == 0 */
    long tasks = (long)B * groups;
    size_t group_size = (size_t)cpg * HW;
    int parallel = c->use_omp && c->threads > 1 && (double)tasks * group_size > SERIAL_VALUES;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (long t = 0; t < tasks; t++) {
        int g = (int)(t % groups);
        size_t base = (size_t)t * group_size; /* (b, g*cpg, 0) */
        const float *xg = x + base;
        float m, r;
        row_statistics(xg, group_size, eps, &m, &r);
        if (mean) mean[t] = m; /* (B, groups) */
        if (rstd) rstd[t] = r;
        for (int ci = 0; ci < cpg; ci++) {
            int ch = g * cpg + ci;
            float a = r * (gamma ? gamma[ch] : 1.0f);
            group_affine_row(out + base + (size_t)ci * HW, xg + (size_t)ci * HW, (size_t)HW, m, a,
                             beta ? beta[ch] : 0.0f, fuse_silu);
        }
    }
}

/* out (N) = (x - mean) * rstd * gamma + beta . */
OW_CPU_HOT
static void layer_affine_row(float *out, const float *x, const float *gamma, const float *beta, int N, float mean,
                             float rstd) {
    for (int j = 0; j < N; j++) {
        float y = (x[j] - mean) * rstd;
        out[j] = y * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
    }
}

void ow_cpu_layer_norm_train(ow_backend *b, float *out, float *mean, float *rstd, const float *x, const float *gamma,
                             const float *beta, int M, int N, float eps) {
    cpu_state *c = cpu_of(b);
    if (M <= 0 || N <= 0) return;
    int parallel = c->use_omp && c->threads > 1 && (double)M * N > SERIAL_VALUES;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * N;
        float m, s;
        row_statistics(xr, (size_t)N, eps, &m, &s);
        if (mean) mean[r] = m; /* (M) */
        if (rstd) rstd[r] = s;
        layer_affine_row(out + (size_t)r * N, xr, gamma, beta, N, m, s);
    }
}


void ow_cpu_group_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int B, int C, int HW, int groups, float eps, int fuse_silu) {
    ow_cpu_group_norm_train(b, out, NULL, NULL, x, gamma, beta, B, C, HW, groups, eps, fuse_silu);
}

void ow_cpu_layer_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int M, int N, float eps) {
    ow_cpu_layer_norm_train(b, out, NULL, NULL, x, gamma, beta, M, N, eps);
}
