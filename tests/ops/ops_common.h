/* ops_common.h: what the op tests share: a seeded random source, backend buffers
 * filled from host arrays, and the naive references every op is compared with
 * (plain loops, double accumulation, torch's definitions written out). */
#ifndef OW_TESTS_OPS_COMMON_H
#define OW_TESTS_OPS_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/half.h"
#include "check.h"

/* ---- random numbers (xorshift64*, uniform in [lo, hi)) ---- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline void rng_seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }
static inline double rng_uniform(double lo, double hi) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return lo + (hi - lo) * (double)(r >> 11) / 9007199254740992.0;
}
static inline float *host_random(size_t n, double lo, double hi) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_uniform(lo, hi);
    return p;
}
static inline float *host_zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ---- backend buffers ---- */
static inline ow_backend *make_backend(int threads) {
    ow_backend *b = NULL;
    ow_error err = {0};
    if (ow_cpu_backend_create(&b, threads, &err) != OW_OK) {
        fprintf(stderr, "cannot create the cpu backend: %s\n", err.message);
        exit(1);
    }
    return b;
}
static inline float *dev_copy(ow_backend *b, const float *host, size_t n) {
    float *d = b->alloc(b, n);
    if (!d) { fprintf(stderr, "backend alloc of %zu floats failed\n", n); exit(1); }
    if (host) b->upload(b, d, host, n);
    return d;
}
/* Downloads n floats into a new host array and frees the backend buffer. */
static inline float *dev_take(ow_backend *b, float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    b->download(b, h, d, n);
    b->free(b, d);
    return h;
}

/* A (rows, cols) matrix-product weight of dtype in backend memory, from host f32. */
static inline ow_matrix dev_matrix(ow_backend *b, const float *host, int rows, int cols, ow_matrix_dtype dtype) {
    ow_matrix m;
    if (b->matrix_create(b, &m, dev_copy(b, host, (size_t)rows * cols), rows, cols, dtype) != OW_OK) {
        fprintf(stderr, "matrix_create (%d x %d, dtype %d) failed\n", rows, cols, (int)dtype);
        exit(1);
    }
    return m;
}
/* Rounds x to the nearest bf16 value (ties to even), what a bf16 product reads. */
static inline void host_round_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        uint32_t low = u & 0xffffu, up = u >> 16;
        if (low > 0x8000u || (low == 0x8000u && (up & 1u))) up++;
        u = up << 16;
        memcpy(&x[i], &u, sizeof u);
    }
}
/* Rounds x to the nearest f16 value (ties to even), as a file stored in f16 holds it. */
static inline void host_round_f16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = ow_f16_to_f32(ow_f32_to_f16(x[i]));
}
static inline const char *dtype_name(ow_matrix_dtype dtype) {
    return dtype == OW_MATRIX_BF16 ? "bf16" : dtype == OW_MATRIX_F16 ? "f16" : "f32";
}

/* ---- references ---- */
static inline void ref_linear(float *out, const float *x, const float *w, const float *bias, int M, int N, int K) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)m * K + k] * w[(size_t)n * K + k];
            out[(size_t)m * N + n] = (float)s;
        }
}

static inline void ref_conv2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H,
                              int W, int O, int kh, int kw, int stride, int pt, int pb, int pl, int pr) {
    int Ho = (H + pt + pb - kh) / stride + 1, Wo = (W + pl + pr - kw) / stride + 1;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int iy = oy * stride - pt + i, ix = ox * stride - pl + j;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += (double)x[(((size_t)b * C + c) * H + iy) * W + ix] *
                                     w[(((size_t)o * C + c) * kh + i) * kw + j];
                            }
                    out[(((size_t)b * O + o) * Ho + oy) * Wo + ox] = (float)s;
                }
}

static inline void ref_attention(float *out, const float *q, const float *k, const float *v, int B, int Tq, int Tk,
                                 int heads, int D, float scale, int causal) {
    size_t HD = (size_t)heads * D;
    double *p = malloc((size_t)Tk * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < Tq; i++) {
                int seen = causal ? (i + 1 < Tk ? i + 1 : Tk) : Tk;
                double m = -INFINITY, sum = 0.0;
                for (int j = 0; j < seen; j++) {
                    double s = 0.0;
                    for (int d = 0; d < D; d++)
                        s += (double)q[((size_t)b * Tq + i) * HD + h * D + d] * k[((size_t)b * Tk + j) * HD + h * D + d];
                    p[j] = s * scale;
                    if (p[j] > m) m = p[j];
                }
                for (int j = 0; j < seen; j++) { p[j] = exp(p[j] - m); sum += p[j]; }
                for (int d = 0; d < D; d++) {
                    double acc = 0.0;
                    for (int j = 0; j < seen; j++) acc += p[j] * v[((size_t)b * Tk + j) * HD + h * D + d];
                    out[((size_t)b * Tq + i) * HD + h * D + d] = (float)(acc / sum);
                }
            }
    free(p);
}

static inline double ref_silu(double x) { return x / (1.0 + exp(-x)); }
/* 0.5 x (1 + erf(x / sqrt 2)), written with erfc so that the negative tail keeps its digits. */
static inline double ref_gelu(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static inline double ref_quick_gelu(double x) { return x / (1.0 + exp(-1.702 * x)); }

static inline void ref_group_norm(float *out, const float *x, const float *gamma, const float *beta, int B, int C,
                                  int HW, int groups, float eps, int silu) {
    int cpg = C / groups;
    size_t n = (size_t)cpg * HW;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < groups; g++) {
            const float *xg = x + ((size_t)b * C + (size_t)g * cpg) * HW;
            double mean = 0.0, var = 0.0;
            for (size_t i = 0; i < n; i++) mean += xg[i];
            mean /= (double)n;
            for (size_t i = 0; i < n; i++) var += (xg[i] - mean) * (xg[i] - mean);
            var /= (double)n;
            for (int ci = 0; ci < cpg; ci++) {
                int ch = g * cpg + ci;
                for (int p = 0; p < HW; p++) {
                    size_t idx = ((size_t)b * C + ch) * HW + p;
                    double y = (x[idx] - mean) / sqrt(var + eps) * gamma[ch] + beta[ch];
                    out[idx] = (float)(silu ? ref_silu(y) : y);
                }
            }
        }
}

static inline void ref_layer_norm(float *out, const float *x, const float *gamma, const float *beta, int M, int N,
                                  float eps) {
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * N;
        double mean = 0.0, var = 0.0;
        for (int j = 0; j < N; j++) mean += r[j];
        mean /= N;
        for (int j = 0; j < N; j++) var += (r[j] - mean) * (r[j] - mean);
        var /= N;
        for (int j = 0; j < N; j++)
            out[(size_t)m * N + j] = (float)((r[j] - mean) / sqrt(var + eps) * gamma[j] + beta[j]);
    }
}

#endif
