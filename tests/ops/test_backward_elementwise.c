/* test_backward_elementwise.c: the CPU backend's activation gradients, dx = dy * f'(x)
 * for SiLU, exact GELU and quick GELU, and GEGLU's (da, dg), against central finite
 * differences of double-precision forwards (ops_common.h's ref_silu, ref_gelu,
 * ref_quick_gelu; grad_check.h's fd_gradient, h = 1e-6).
 *
 * Inputs: a grid of special values (0, +-tiny, the GELU minimum near -0.75, +-10,
 * +-30, +-87 where exp under/overflows in f32, +-100) plus random values in [-8, 8]
 * and [-40, 40]; beyond that, +-1e4, +-1e30, +-FLT_MAX and +-inf must give a finite,
 * correctly limited derivative (1 for x -> +inf, 0 for x -> -inf), never NaN.
 *
 * Two tolerances:
 * - per element, |got - fd| <= 3e-5 * |dy| * T(x) + 1e-35, where T(x) is the sum of
 *   the absolute terms of f'(x) (e.g. Phi(x) + |x phi(x)| for GELU), the size the
 *   f32 arithmetic works at. The f32 derivative carries a few ulp per operation plus
 *   the rounding of exp's argument (x^2 / 2 for GELU, whose forward erfc has the same;
 *   1.702 x for quick GELU), an absolute error of |arg| * 2^-24 and so a relative one
 *   of up to 87 * 6e-8 ~ 5e-6 before exp underflows; seen: 4.3e-6 (quick GELU at
 *   x = -39), 1.4e-6 (GELU), 2.5e-7 (SiLU). 1e-35 covers what f32 cannot hold:
 *   exp underflows below e^-87.3 ~ 1.2e-38, so derivatives under ~1e-36 (times
 *   |x| <= 100) flush to 0.
 *   The finite differences are good to ~1e-10 relative (per-element loss in double).
 * - for the random inputs also grad_check.h's check_gradient, relative to max|fd|,
 *   rtol 1e-5 (the same error budget measured against the largest gradient).
 * A wrong or missing term of any derivative (the x phi(x) of GELU, the 1.702 of
 * quick GELU, the (1 - s) factor of SiLU, GEGLU's halves swapped) is an O(1)
 * relative error and fails both by orders of magnitude.
 * Also: dx aliasing dy gives the same bits, and 1 thread and 3 give the same bits. */
#include <float.h>

#include "grad_check.h"
#include "ops_common.h"

#define FD_STEP 1e-6
#define ELEM_RTOL 3e-5
#define ELEM_ATOL 1e-35
#define GLOBAL_RTOL 1e-5

typedef double (*act_fn)(double x);

/* f(x) for one element, scaled by its dy: fd_gradient of it is dy * f'(x). */
typedef struct { act_fn f; double dy; } elem_ctx;
static double elem_loss(void *vctx, const double *x) {
    const elem_ctx *c = vctx;
    return c->dy * c->f(x[0]);
}

/* Sizes of the terms of f'(x) (see the top comment), in double. */
static double sigmoid_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static double silu_terms(double x) {
    double s = sigmoid_d(x);
    return s + fabs(x) * s * (1.0 - s);
}
static double quick_gelu_terms(double x) { return silu_terms(1.702 * x); }
static double gelu_terms(double x) {
    return 0.5 * erfc(-x / sqrt(2.0)) + fabs(x) * exp(-0.5 * x * x) * 0.398942280401432678;
}

typedef void (*backward_op)(ow_backend *b, float *dx, const float *dy, const float *x, size_t n);

enum { SILU, GELU, QUICK_GELU };
typedef struct {
    const char *name;
    act_fn f;
    act_fn terms;
    int which;
} activation;

static backward_op op_of(ow_backend *b, const activation *a) {
    switch (a->which) {
    case SILU: return b->silu_backward;
    case GELU: return b->gelu_backward;
    default: return b->quick_gelu_backward;
    }
}

static float *run_backward(ow_backend *b, const activation *a, const float *x, const float *dy, size_t n) {
    float *dx_ = dev_copy(b, x, n), *ddy = dev_copy(b, dy, n), *dgrad = dev_copy(b, NULL, n);
    op_of(b, a)(b, dgrad, ddy, dx_, n);
    b->free(b, dx_);
    b->free(b, ddy);
    return dev_take(b, dgrad, n);
}

/* Per-element check: prints the worst error as a fraction of its tolerance. */
static void check_elementwise(const char *what, const float *x, const float *dy, const float *got,
                              const double *want, act_fn terms, size_t n) {
    double worst = 0.0;
    size_t at = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) { finite = 0; at = i; break; }
        double tol = ELEM_RTOL * fabs(dy[i]) * terms(x[i]) + ELEM_ATOL;
        double r = fabs((double)got[i] - want[i]) / tol;
        if (r > worst) { worst = r; at = i; }
    }
    int ok = finite && worst <= 1.0;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr,
            "%s %s: %zu values, worst err/tol %.3g at x=%.7g (got %.7g, fd %.7g, |dy| T(x) %.3g)\n",
            ok ? "ok  " : "FAIL", what, n, worst, n ? (double)x[at] : 0.0, n ? (double)got[at] : 0.0,
            n ? want[at] : 0.0, n ? fabs(dy[at]) * terms(x[at]) : 0.0);
}

static const float grid[] = {0.0f, 1e-30f, -1e-30f, 1e-6f, -1e-6f, 0.1f, -0.1f, 0.5f, -0.5f, 0.7517915f, -0.7517915f,
                             1.0f, -1.0f, 1.5f, -1.5f, 2.0f, -2.0f, 3.0f, -3.0f, 5.0f, -5.0f, 8.0f, -8.0f, 10.0f,
                             -10.0f, 13.0f, -13.0f, 15.0f, -15.0f, 20.0f, -20.0f, 30.0f, -30.0f, 51.3f, -51.3f,
                             87.0f, -87.0f, 88.5f, -88.5f, 100.0f, -100.0f};
#define NGRID (sizeof grid / sizeof grid[0])
#define NRANDOM 2000
#define NWIDE 300

static void test_activation(ow_backend *b, const activation *a) {
    size_t n = NGRID + NRANDOM + NWIDE;
    float *x = malloc(n * sizeof *x);
    memcpy(x, grid, sizeof grid);
    for (size_t i = 0; i < NRANDOM; i++) x[NGRID + i] = (float)rng_uniform(-8, 8);
    for (size_t i = 0; i < NWIDE; i++) x[NGRID + NRANDOM + i] = (float)rng_uniform(-40, 40);
    float *dy = host_random(n, -2, 2);
    float *got = run_backward(b, a, x, dy, n);

    double *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) {
        elem_ctx ctx = {a->f, dy[i]};
        double xi = x[i];
        fd_gradient(elem_loss, &ctx, &xi, 1, FD_STEP, &want[i]);
    }
    char what[160];
    snprintf(what, sizeof what, "%s_backward per element (grid incl. 0, +-10, +-30, +-100; [-8, 8]; [-40, 40])",
             a->name);
    check_elementwise(what, x, dy, got, want, a->terms, n);
    snprintf(what, sizeof what, "%s_backward on [-8, 8]", a->name);
    check_gradient(what, got + NGRID, want + NGRID, NRANDOM, GLOBAL_RTOL, 0.0);

    /* far out: finite, and the limits 1 (x -> +inf) and 0 (x -> -inf) */
    const float far[] = {1e4f, -1e4f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY};
    size_t nf = sizeof far / sizeof far[0];
    float ones[sizeof far / sizeof far[0]];
    for (size_t i = 0; i < nf; i++) ones[i] = 1.0f;
    float *gf = run_backward(b, a, far, ones, nf);
    int good = 1;
    for (size_t i = 0; i < nf; i++) {
        float limit = far[i] > 0 ? 1.0f : 0.0f;
        if (!isfinite(gf[i]) || fabsf(gf[i] - limit) > 1e-6f) good = 0;
    }
    check_count++;
    if (!good) check_failures++;
    fprintf(good ? stdout : stderr, "%s %s_backward at +-1e4, +-1e30, +-FLT_MAX, +-inf: %g %g %g %g %g %g %g %g "
            "(want 1 0 1 0 1 0 1 0)\n", good ? "ok  " : "FAIL", a->name, gf[0], gf[1], gf[2], gf[3], gf[4], gf[5],
            gf[6], gf[7]);

    /* dx aliasing dy */
    float *dxb = dev_copy(b, x, n), *buf = dev_copy(b, dy, n);
    op_of(b, a)(b, buf, buf, dxb, n);
    float *aliased = dev_take(b, buf, n);
    b->free(b, dxb);
    snprintf(what, sizeof what, "%s_backward with dx == dy", a->name);
    check_close(what, aliased, got, n, 0.0);

    free(x); free(dy); free(got); free(want); free(gf); free(aliased);
}

static void test_activation_threads(ow_backend *one, ow_backend *three, const activation *a) {
    size_t n = 300001; /* several chunks across threads and a ragged last one */
    float *x = host_random(n, -12, 12), *dy = host_random(n, -1, 1);
    float *g1 = run_backward(one, a, x, dy, n), *g3 = run_backward(three, a, x, dy, n);
    char what[96];
    snprintf(what, sizeof what, "%s_backward n=%zu, 1 vs 3 threads", a->name, n);
    check_close(what, g3, g1, n, 0.0);
    free(x); free(dy); free(g1); free(g3);
}

/* ---- GEGLU: out (M, N) = a * gelu(g) with x = [a | g] (M, 2N) ---- */
typedef struct { int M, N; const double *dy; int only_row; } geglu_ctx;
static double geglu_loss(void *vctx, const double *x) {
    const geglu_ctx *c = vctx;
    double L = 0.0;
    int first = c->only_row < 0 ? 0 : c->only_row, last = c->only_row < 0 ? c->M : c->only_row + 1;
    for (int r = first; r < last; r++)
        for (int j = 0; j < c->N; j++) {
            const double *row = x + (size_t)r * 2 * c->N;
            L += c->dy[(size_t)r * c->N + j] * row[j] * ref_gelu(row[c->N + j]);
        }
    return L;
}

static float *geglu_run(ow_backend *b, const float *x, const float *dy, int M, int N) {
    size_t nx = (size_t)M * 2 * N, ny = (size_t)M * N;
    float *dx_ = dev_copy(b, x, nx), *ddy = dev_copy(b, dy, ny), *dgrad = dev_copy(b, NULL, nx);
    b->geglu_backward(b, dgrad, ddy, dx_, M, N);
    b->free(b, dx_);
    b->free(b, ddy);
    return dev_take(b, dgrad, nx);
}

/* x: the value half a in [-2, 2], the gate half g in [-g_range, g_range]. */
static float *geglu_input(int M, int N, double g_range) {
    float *x = malloc((size_t)M * 2 * N * sizeof *x);
    for (int r = 0; r < M; r++)
        for (int j = 0; j < 2 * N; j++)
            x[(size_t)r * 2 * N + j] = (float)(j < N ? rng_uniform(-2, 2) : rng_uniform(-g_range, g_range));
    return x;
}

static void test_geglu(ow_backend *b, int M, int N, double g_range, size_t subset) {
    size_t nx = (size_t)M * 2 * N, ny = (size_t)M * N;
    float *x = geglu_input(M, N, g_range), *dy = host_random(ny, -1, 1);
    float *got = geglu_run(b, x, dy, M, N);
    double *xd = to_double(x, nx), *dyd = to_double(dy, ny);
    geglu_ctx ctx = {M, N, dyd, -1};
    size_t count = subset ? subset : nx;
    double *want = malloc(count * sizeof *want);
    float *sel = malloc(count * sizeof *sel);
    if (!subset) {
        fd_gradient(geglu_loss, &ctx, xd, nx, FD_STEP, want);
        memcpy(sel, got, nx * sizeof *sel);
    } else {
        /* coordinates across both halves; L summed over the coordinate's row only */
        for (size_t k = 0; k < count; k++) {
            size_t i = (size_t)rng_uniform(0, (double)nx) % nx;
            ctx.only_row = (int)(i / (2 * (size_t)N));
            double saved = xd[i];
            xd[i] = saved + FD_STEP;
            double up = geglu_loss(&ctx, xd);
            xd[i] = saved - FD_STEP;
            double down = geglu_loss(&ctx, xd);
            xd[i] = saved;
            want[k] = (up - down) / (2.0 * FD_STEP);
            sel[k] = got[i];
        }
    }
    char what[160];
    snprintf(what, sizeof what, "geglu_backward M=%d N=%d gate in [-%g, %g] (%s)", M, N, g_range, g_range,
             subset ? "subset" : "all coordinates");
    check_gradient(what, sel, want, count, GLOBAL_RTOL, 1e-30);
    int finite = 1;
    for (size_t i = 0; i < nx; i++) if (!isfinite(got[i])) finite = 0;
    CHECK(finite, "geglu_backward M=%d N=%d: non-finite gradient", M, N);
    free(x); free(dy); free(got); free(xd); free(dyd); free(want); free(sel);
}

static void test_geglu_threads(ow_backend *one, ow_backend *three) {
    int M = 64, N = 1280;
    float *x = geglu_input(M, N, 8), *dy = host_random((size_t)M * N, -1, 1);
    float *g1 = geglu_run(one, x, dy, M, N), *g3 = geglu_run(three, x, dy, M, N);
    check_close("geglu_backward M=64 N=1280, 1 vs 3 threads", g3, g1, (size_t)M * 2 * N, 0.0);
    free(x); free(dy); free(g1); free(g3);
}

int main(void) {
    rng_seed(15);
    ow_backend *b = make_backend(3);
    const activation acts[] = {
        {"silu", ref_silu, silu_terms, SILU},
        {"gelu", ref_gelu, gelu_terms, GELU},
        {"quick_gelu", ref_quick_gelu, quick_gelu_terms, QUICK_GELU},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) test_activation(b, &acts[i]);
    test_geglu(b, 3, 7, 4, 0);
    test_geglu(b, 2, 5, 30, 0);        /* gates far in both tails */
    test_geglu(b, 77, 1280, 6, 100);   /* SD's GEGLU at 77 tokens */
    ow_backend *one = make_backend(1);
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) test_activation_threads(one, b, &acts[i]);
    test_geglu_threads(one, b);
    one->destroy(one);
    b->destroy(b);
    CHECK_DONE();
}
