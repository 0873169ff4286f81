/* cpu_elementwise_backward.c: input gradients of the CPU backend's activations,
 * dx = dy * f'(x), for SiLU, exact GELU and quick GELU, and of GEGLU. The
 * derivatives use cpu_math.h's exp and 1 + erf, as the forwards do, and are
 * written so that no |x| overflows or cancels (the sigmoid from exp(-|x|) <= 1,
 * GELU's Phi from erfc on the negative side) and +-inf gives the limits 1 and 0. Loops run in chunks across threads
 * like cpu_elementwise.c; each element depends on its own inputs only, so results
 * do not depend on the thread count. dx may alias dy. */
#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"

/* Below this many elements a loop runs on one thread (as in cpu_elementwise.c). */
#define SERIAL_ELEMENTS 65536
#define CHUNK 16384

#define QUICK_GELU_K 1.702f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

/* Past this |x| the f32 derivatives are exactly their limits (1 or 0); clamping there
 * keeps x = +-inf (or 1.702 x overflowing) from making inf * 0 = NaN. NaN stays NaN. */
#define DERIVATIVE_LIMIT 1e4f
static inline float clamp_for_derivative(float x) {
    x = x > DERIVATIVE_LIMIT ? DERIVATIVE_LIMIT : x;
    return x < -DERIVATIVE_LIMIT ? -DERIVATIVE_LIMIT : x;
}

/* d/dx x sigmoid(x) = s (1 + x (1 - s)); s and 1 - s both come from e = exp(-|x|),
 * so for x << 0 s is e / (1 + e) (not 1 / (1 + huge)) and for x >> 0 1 - s keeps its digits. */
static inline float silu_derivative(float x) {
    x = clamp_for_derivative(x);
    float e = ow_expf(x < 0.0f ? x : -x);
    float r = 1.0f / (1.0f + e);
    float s = x >= 0.0f ? r : e * r;
    float one_minus_s = x >= 0.0f ? e * r : r;
    return s * (1.0f + x * one_minus_s);
}

/* d/dx x Phi(x) = Phi(x) + x phi(x), Phi from 1 + erf (erfc for x < 0, like the forward). */
static inline float gelu_derivative(float x) {
    x = clamp_for_derivative(x);
    float cdf = 0.5f * ow_one_plus_erff(x * INV_SQRT2);
    float pdf = INV_SQRT_2PI * ow_expf(-0.5f * x * x);
    return cdf + x * pdf;
}

OW_CPU_HOT
static void silu_backward_row(float *dx, const float *dy, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * silu_derivative(x[i]);
}

OW_CPU_HOT
static void gelu_backward_row(float *dx, const float *dy, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * gelu_derivative(x[i]);
}

/* d/dx x sigmoid(k x) = s + k x s (1 - s) with s = sigmoid(k x): SiLU's derivative at k x. */
OW_CPU_HOT
static void quick_gelu_backward_row(float *dx, const float *dy, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * silu_derivative(QUICK_GELU_K * x[i]);
}

typedef void (*backward_row_fn)(float *dx, const float *dy, const float *x, size_t n);

/* Runs row(dx, dy, x) over [0, n) in chunks, across threads when n is large. */
static void for_chunks(cpu_state *c, backward_row_fn row, float *dx, const float *dy, const float *x, size_t n) {
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    int parallel = c->use_omp && c->threads > 1 && n > SERIAL_ELEMENTS;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (size_t ci = 0; ci < nchunks; ci++) {
        size_t start = ci * CHUNK;
        size_t count = n - start < CHUNK ? n - start : CHUNK;
        row(dx + start, dy + start, x + start, count);
    }
}

void ow_cpu_silu_backward(ow_backend *b, float *dx, const float *dy, const float *x, size_t n) {
    for_chunks(cpu_of(b), silu_backward_row, dx, dy, x, n);
}

void ow_cpu_gelu_backward(ow_backend *b, float *dx, const float *dy, const float *x, size_t n) {
    for_chunks(cpu_of(b), gelu_backward_row, dx, dy, x, n);
}

void ow_cpu_quick_gelu_backward(ow_backend *b, float *dx, const float *dy, const float *x, size_t n) {
    for_chunks(cpu_of(b), quick_gelu_backward_row, dx, dy, x, n);
}

/* One row of GEGLU, out = a * gelu(g) with x = [a | g] (2N) and dy (N):
 * da = dy * gelu(g) into dx[0, N), dg = dy * a * gelu'(g) into dx[N, 2N). */
OW_CPU_HOT
static void geglu_backward_row(float *dx, const float *dy, const float *x, size_t n) {
    const float *a = x, *g = x + n;
    float *da = dx, *dg = dx + n;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i], d = dy[i];
        da[i] = d * ow_gelu_exact(gi);
        dg[i] = d * a[i] * gelu_derivative(gi);
    }
}

void ow_cpu_geglu_backward(ow_backend *b, float *dx, const float *dy, const float *x, int M, int N) {
    cpu_state *c = cpu_of(b);
    if (M <= 0 || N <= 0) return;
    int parallel = c->use_omp && c->threads > 1 && (size_t)M * N > SERIAL_ELEMENTS;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel)
    for (int r = 0; r < M; r++)
        geglu_backward_row(dx + (size_t)r * 2 * N, dy + (size_t)r * N, x + (size_t)r * 2 * N, (size_t)N);
}
