/* cpu_norm.c: GroupNorm (optionally fused with SiLU) and LayerNorm with torch's
 * semantics: biased variance, eps added inside the square root. Statistics are
 * two-pass (mean, then the mean of squared deviations) with float partial sums
 * over short runs combined in double, so large groups (e.g. 20 channels x 4096
 * pixels) stay accurate. Parallel over (batch, group) and over rows. */
#include <math.h>

#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"

OW_CPU_HOT
static double sum_row(const float *x, size_t n) {
    double total = 0.0;
    for (size_t i = 0; i < n; i += 256) {
        size_t end = i + 256 < n ? i + 256 : n;
        float s = 0.0f;
        for (size_t j = i; j < end; j++) s += x[j];
        total += s;
    }
    return total;
}

OW_CPU_HOT
static double sum_sq_dev_row(const float *x, size_t n, float mean) {
    double total = 0.0;
    for (size_t i = 0; i < n; i += 256) {
        size_t end = i + 256 < n ? i + 256 : n;
        float s = 0.0f;
        for (size_t j = i; j < end; j++) {
            float d = x[j] - mean;
            s += d * d;
        }
        total += s;
    }
    return total;
}

/* out = (x - mean) * a + c over n values, then SiLU if asked. Subtracting the mean
 * first (rather than folding it into c) avoids cancellation when |mean| >> std. */
OW_CPU_HOT
static void affine_row(float *out, const float *x, size_t n, float mean, float a, float c, int silu) {
    if (silu) {
        for (size_t i = 0; i < n; i++) out[i] = ow_silu((x[i] - mean) * a + c);
    } else {
        for (size_t i = 0; i < n; i++) out[i] = (x[i] - mean) * a + c;
    }
}

void ow_cpu_group_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int B, int C, int HW, int groups, float eps, int fuse_silu) {
    cpu_state *c = cpu_of(b);
    if (B <= 0 || C <= 0 || HW <= 0 || groups <= 0) return;
    int cpg = C / groups; /* channels per group; the caller guarantees C % groups == 0 */
    long tasks = (long)B * groups;
    size_t group_size = (size_t)cpg * HW;
    int parallel = c->use_omp && c->threads > 1 && (double)tasks * group_size > 32768.0;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (long t = 0; t < tasks; t++) {
        int g = (int)(t % groups);
        size_t base = (size_t)t * group_size; /* (b, g*cpg, 0) */
        const float *xg = x + base;
        double mean = sum_row(xg, group_size) / (double)group_size;
        double var = sum_sq_dev_row(xg, group_size, (float)mean) / (double)group_size;
        float rstd = (float)(1.0 / sqrt(var + (double)eps));
        for (int ci = 0; ci < cpg; ci++) {
            int ch = g * cpg + ci;
            float a = rstd * (gamma ? gamma[ch] : 1.0f);
            affine_row(out + base + (size_t)ci * HW, xg + (size_t)ci * HW, (size_t)HW, (float)mean, a,
                       beta ? beta[ch] : 0.0f, fuse_silu);
        }
    }
}

OW_CPU_HOT
static void layer_norm_apply(float *out, const float *x, const float *gamma, const float *beta,
                             int N, float mean, float rstd) {
    for (int j = 0; j < N; j++) {
        float y = (x[j] - mean) * rstd;
        out[j] = y * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
    }
}

void ow_cpu_layer_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int M, int N, float eps) {
    cpu_state *c = cpu_of(b);
    if (M <= 0 || N <= 0) return;
    int parallel = c->use_omp && c->threads > 1 && (double)M * N > 32768.0;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * N;
        double mean = sum_row(xr, (size_t)N) / N;
        double var = sum_sq_dev_row(xr, (size_t)N, (float)mean) / N;
        float rstd = (float)(1.0 / sqrt(var + (double)eps));
        layer_norm_apply(out + (size_t)r * N, xr, gamma, beta, N, (float)mean, rstd);
    }
}
