/* cpu_elementwise.c: the element-wise ops of the CPU backend (SiLU, exact GELU,
 * quick GELU, add, axpby, scale) and GEGLU. Each splits n into chunks across
 * threads and runs a loop the compiler vectorises (see cpu_math.h). out may alias x. */
#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"

/* Below this many elements a loop runs on one thread. */
#define SERIAL_ELEMENTS 65536
#define CHUNK 16384

/* Runs body(start, count) over [0, n) in chunks, in parallel when n is large. */
#define FOR_CHUNKS(c, n, body)                                                              \
    do {                                                                                    \
        size_t nchunks_ = ((n) + CHUNK - 1) / CHUNK;                                        \
        int parallel_ = (c)->use_omp && (c)->threads > 1 && (n) > SERIAL_ELEMENTS;          \
        _Pragma("omp parallel for num_threads((c)->threads) schedule(static) if (parallel_)") \
        for (size_t ci_ = 0; ci_ < nchunks_; ci_++) {                                       \
            size_t start = ci_ * CHUNK;                                                     \
            size_t count = (n) - start < CHUNK ? (n) - start : CHUNK;                       \
            body;                                                                           \
        }                                                                                   \
    } while (0)

void ow_cpu_silu_row(float *out, const float *x, size_t n);

/* In blocks: the exponentials first, then the quotients. GCC 12 vectorises
 * x / (1 + exp(-x)) in one loop into four masked divisions per vector (6 ns a value
 * on an AVX-512 Xeon); split, the same operations cost 0.9 ns. out may alias x. */
#define SILU_BLOCK 256
OW_CPU_HOT
void ow_cpu_silu_row(float *out, const float *x, size_t n) {
    float e[SILU_BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += SILU_BLOCK) {
        size_t m = n - i0 < SILU_BLOCK ? n - i0 : SILU_BLOCK;
        for (size_t j = 0; j < m; j++) e[j] = ow_expf(-x[i0 + j]);
        for (size_t j = 0; j < m; j++) out[i0 + j] = x[i0 + j] / (1.0f + e[j]);
    }
}

OW_CPU_HOT
static void gelu_row(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = ow_gelu_exact(x[i]);
}

OW_CPU_HOT
static void quick_gelu_row(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = v / (1.0f + ow_expf(-1.702f * v));
    }
}

OW_CPU_HOT
static void add_row(float *out, const float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] + y[i];
}

OW_CPU_HOT
static void axpby_row(float *out, float alpha, const float *x, float beta, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = alpha * x[i] + beta * y[i];
}

OW_CPU_HOT
static void scale_row(float *out, const float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] * s;
}

/* out[i] = a[i] * gelu(g[i]); out may alias a. */
OW_CPU_HOT
static void geglu_row(float *out, const float *a, const float *g, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] * ow_gelu_exact(g[i]);
}

void ow_cpu_silu(ow_backend *b, float *out, const float *x, size_t n) {
    cpu_state *c = cpu_of(b);
    FOR_CHUNKS(c, n, ow_cpu_silu_row(out + start, x + start, count));
}

void ow_cpu_gelu(ow_backend *b, float *out, const float *x, size_t n) {
    cpu_state *c = cpu_of(b);
    FOR_CHUNKS(c, n, gelu_row(out + start, x + start, count));
}

void ow_cpu_quick_gelu(ow_backend *b, float *out, const float *x, size_t n) {
    cpu_state *c = cpu_of(b);
    FOR_CHUNKS(c, n, quick_gelu_row(out + start, x + start, count));
}

void ow_cpu_add(ow_backend *b, float *out, const float *x, const float *y, size_t n) {
    cpu_state *c = cpu_of(b);
    FOR_CHUNKS(c, n, add_row(out + start, x + start, y + start, count));
}

void ow_cpu_axpby(ow_backend *b, float *out, float alpha, const float *x, float beta, const float *y, size_t n) {
    cpu_state *c = cpu_of(b);
    FOR_CHUNKS(c, n, axpby_row(out + start, alpha, x + start, beta, y + start, count));
}

void ow_cpu_scale(ow_backend *b, float *out, const float *x, float s, size_t n) {
    cpu_state *c = cpu_of(b);
    FOR_CHUNKS(c, n, scale_row(out + start, x + start, s, count));
}

void ow_cpu_geglu(ow_backend *b, float *out, const float *x, int M, int N) {
    cpu_state *c = cpu_of(b);
    if (M <= 0 || N <= 0) return;
    int parallel = c->use_omp && c->threads > 1 && (size_t)M * N > SERIAL_ELEMENTS;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (int r = 0; r < M; r++) {
        const float *row = x + (size_t)r * 2 * N;
        geglu_row(out + (size_t)r * N, row, row + N, (size_t)N);
    }
}
