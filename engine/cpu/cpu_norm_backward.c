/* cpu_norm_backward.c: the gradients of GroupNorm (optionally fused with SiLU) and
 * LayerNorm with respect to the input x only (gamma and beta are frozen; no weight
 * gradient is computed), from the statistics their training forwards (cpu_norm.c)
 * wrote.
 *
 * Backward, for one normalised set of n values (a (batch, group) or a row), with
 * xhat = (x - mean) * rstd and g the gradient reaching the affine output
 * (dy, times silu'(xhat * gamma + beta) when the SiLU was fused):
 *   dxhat = g * gamma
 *   dx    = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
 * The two means are sums in float lanes over short blocks combined in double, as
 * in the forward's statistics. Each set is worked by one thread, in a fixed order,
 * so results do not depend on the thread count. */
#include <math.h>

#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"

/* The forward's blocking (cpu_norm.c): 16 float lanes over blocks of 256 values,
 * each block's total added in double. */
#define LANES 16
#define BLOCK 256
/* Below this many values in all a norm runs on one thread (as in cpu_norm.c). */
#define SERIAL_VALUES 32768.0

/* ---- backwards ---- */

/* d/da silu(a) = s (1 + a (1 - s)) with s = sigmoid(a); s and 1 - s both come from
 * e = exp(-|a|) <= 1, so neither overflows nor cancels for large |a|. Past |a| = 1e4
 * the result is exactly 1 or 0; the clamp keeps a = +-inf from giving inf * 0 = NaN.
 * (The same as cpu_elementwise_backward.c's, kept local so both loops inline it.) */
static inline float silu_derivative(float a) {
    a = a > 1e4f ? 1e4f : a;
    a = a < -1e4f ? -1e4f : a;
    float e = ow_expf(a < 0.0f ? a : -a);
    float r = 1.0f / (1.0f + e);
    float s = a >= 0.0f ? r : e * r;
    float one_minus_s = a >= 0.0f ? e * r : r;
    return s * (1.0f + a * one_minus_s);
}

/* One channel of a group (n values): dxhat = dy * gamma, times silu'(pre-activation)
 * when fused, written to dxhat; adds sum(dxhat) and sum(dxhat * xhat) to the two
 * sums. The pre-activation is the forward's own expression (x - mean) * (rstd * gamma) + beta.
 * Inlined twice below with silu a constant, so each loop vectorises without a test inside. */
static inline void group_dxhat(float *dxhat, const float *dy, const float *x, size_t n, float mean, float rstd,
                               float gamma, float beta, int silu, double *sum_dxhat, double *sum_dxhat_xhat) {
    float a = rstd * gamma;
    double s1 = 0.0, s2 = 0.0;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float lane1[LANES] = {0}, lane2[LANES] = {0};
        for (size_t j = 0; j < BLOCK; j += LANES)
            for (int l = 0; l < LANES; l++) {
                size_t k = i + j + l;
                float centred = x[k] - mean;
                float d = dy[k] * gamma;
                if (silu) d *= silu_derivative(centred * a + beta);
                dxhat[k] = d;
                lane1[l] += d;
                lane2[l] += d * (centred * rstd);
            }
        float t1 = 0.0f, t2 = 0.0f;
        for (int l = 0; l < LANES; l++) { t1 += lane1[l]; t2 += lane2[l]; }
        s1 += t1;
        s2 += t2;
    }
    for (; i < n; i++) {
        float centred = x[i] - mean;
        float d = dy[i] * gamma;
        if (silu) d *= silu_derivative(centred * a + beta);
        dxhat[i] = d;
        s1 += d;
        s2 += (double)d * (centred * rstd);
    }
    *sum_dxhat += s1;
    *sum_dxhat_xhat += s2;
}

OW_CPU_HOT
static void group_dxhat_row(float *dxhat, const float *dy, const float *x, size_t n, float mean, float rstd,
                            float gamma, float beta, int silu, double *sum_dxhat, double *sum_dxhat_xhat) {
    if (silu)
        group_dxhat(dxhat, dy, x, n, mean, rstd, gamma, beta, 1, sum_dxhat, sum_dxhat_xhat);
    else
        group_dxhat(dxhat, dy, x, n, mean, rstd, gamma, beta, 0, sum_dxhat, sum_dxhat_xhat);
}

/* dx = rstd * (dxhat - m1 - xhat * m2) over n values; dx holds dxhat on entry. */
OW_CPU_HOT
static void norm_dx_row(float *dx, const float *x, size_t n, float mean, float rstd, float m1, float m2) {
    for (size_t i = 0; i < n; i++) {
        float xhat = (x[i] - mean) * rstd;
        dx[i] = rstd * (dx[i] - m1 - xhat * m2);
    }
}

void ow_cpu_group_norm_backward(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                const float *beta, const float *mean, const float *rstd, int B, int C, int HW,
                                int groups, int fuse_silu) {
    cpu_state *c = cpu_of(b);
    if (B <= 0 || C <= 0 || HW <= 0 || groups <= 0) return;
    int cpg = C / groups;
    long tasks = (long)B * groups;
    size_t group_size = (size_t)cpg * HW;
    int parallel = c->use_omp && c->threads > 1 && (double)tasks * group_size > SERIAL_VALUES;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (long t = 0; t < tasks; t++) {
        int g = (int)(t % groups);
        size_t base = (size_t)t * group_size; /* (b, g*cpg, 0) */
        float m = mean[t], r = rstd[t];
        double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
        for (int ci = 0; ci < cpg; ci++) {
            int ch = g * cpg + ci;
            size_t off = base + (size_t)ci * HW;
            group_dxhat_row(dx + off, dy + off, x + off, (size_t)HW, m, r, gamma ? gamma[ch] : 1.0f,
                            beta ? beta[ch] : 0.0f, fuse_silu, &sum_dxhat, &sum_dxhat_xhat);
        }
        float m1 = (float)(sum_dxhat / (double)group_size);
        float m2 = (float)(sum_dxhat_xhat / (double)group_size);
        norm_dx_row(dx + base, x + base, group_size, m, r, m1, m2);
    }
}

/* One row of layer norm: sum(dxhat) and sum(dxhat * xhat) with dxhat = dy * gamma. */
OW_CPU_HOT
static void layer_dxhat_sums(const float *dy, const float *x, const float *gamma, size_t n, float mean, float rstd,
                             double *sum_dxhat, double *sum_dxhat_xhat) {
    double s1 = 0.0, s2 = 0.0;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float lane1[LANES] = {0}, lane2[LANES] = {0};
        for (size_t j = 0; j < BLOCK; j += LANES)
            for (int l = 0; l < LANES; l++) {
                size_t k = i + j + l;
                float d = dy[k] * (gamma ? gamma[k] : 1.0f);
                lane1[l] += d;
                lane2[l] += d * ((x[k] - mean) * rstd);
            }
        float t1 = 0.0f, t2 = 0.0f;
        for (int l = 0; l < LANES; l++) { t1 += lane1[l]; t2 += lane2[l]; }
        s1 += t1;
        s2 += t2;
    }
    for (; i < n; i++) {
        float d = dy[i] * (gamma ? gamma[i] : 1.0f);
        s1 += d;
        s2 += (double)d * ((x[i] - mean) * rstd);
    }
    *sum_dxhat = s1;
    *sum_dxhat_xhat = s2;
}

/* dx = rstd * (dy * gamma - m1 - xhat * m2) over one row. */
OW_CPU_HOT
static void layer_dx_row(float *dx, const float *dy, const float *x, const float *gamma, size_t n, float mean,
                         float rstd, float m1, float m2) {
    for (size_t i = 0; i < n; i++) {
        float xhat = (x[i] - mean) * rstd;
        float d = dy[i] * (gamma ? gamma[i] : 1.0f);
        dx[i] = rstd * (d - m1 - xhat * m2);
    }
}

void ow_cpu_layer_norm_backward(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                const float *mean, const float *rstd, int M, int N) {
    cpu_state *c = cpu_of(b);
    if (M <= 0 || N <= 0) return;
    int parallel = c->use_omp && c->threads > 1 && (double)M * N > SERIAL_VALUES;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (int r = 0; r < M; r++) {
        size_t off = (size_t)r * N;
        double sum_dxhat, sum_dxhat_xhat;
        layer_dxhat_sums(dy + off, x + off, gamma, (size_t)N, mean[r], rstd[r], &sum_dxhat, &sum_dxhat_xhat);
        float m1 = (float)(sum_dxhat / N), m2 = (float)(sum_dxhat_xhat / N);
        layer_dx_row(dx + off, dy + off, x + off, gamma, (size_t)N, mean[r], rstd[r], m1, m2);
    }
}
