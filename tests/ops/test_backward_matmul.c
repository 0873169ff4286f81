/* test_backward_matmul.c: the input gradients of linear and conv2d_pad4 on the CPU
 * backend (linear_backward, conv2d_backward) against finite differences of a naive
 * double-precision forward, L(x) = sum(dy * f(x)) for a fixed random dy; and against
 * the adjoint written as plain loops, on every value. Shapes: odd sizes, B > 1,
 * kernels 1x1 (the direct product and, with stride 2, through col2im), 3x3 with
 * stride 1 and 2, pad 1, the VAE's (0,1,0,1) and arbitrary asymmetric pads, a stride
 * that leaves input rows unread, several channel blocks and several column tiles per
 * image. dx is filled with NaN beforehand, so any value the backward does not write
 * fails. Finally the result must be the same bits with 1, 2 and 3 threads.
 *
 * Each difference L(x + h e_i) - L(x - h e_i) only sums the outputs near x_i (the
 * row of a Linear; for a convolution, a window one stride wider on each side than the
 * outputs that can read x_i): the other outputs' terms are the same in both and
 * cancel, so leaving them out changes nothing but rounding and time.
 *
 * Tolerance: |got - fd| <= RTOL * max|fd| + ATOL. The losses are linear in x, so the
 * central difference in double (h = 1e-6) is exact up to ~1e-9; the f32 backward sums
 * at most a few hundred products of values in [-1, 1], whose rounding (bounded by
 * n * 2^-24 of the sum of magnitudes, ~2e-5 for n = 300, typically far less) stays
 * well inside 1e-4 of the largest gradient, while a wrong tap, pad, stride or
 * transpose moves values by the size of the gradient itself. */
#include "grad_check.h"
#include "ops_common.h"

#define RTOL 1e-4
#define ATOL 1e-6
#define FD_H 1e-6
/* Above this many multiply-adds of (windowed) forward work in all, finite differences
 * are taken on a random subset of SUBSET coordinates (the adjoint loops still cover
 * every value). */
#define FD_BUDGET 2e7
#define SUBSET 100

/* ---- finite differences on all or some coordinates ---- */

/* Picks which coordinates of x (n of them) get a finite difference: all when the work
 * fits the budget, else the first, the last and random others. Returns the count. */
static size_t pick_coordinates(size_t *idx, size_t n, double macs_per_loss) {
    if (2.0 * (double)n * macs_per_loss <= FD_BUDGET || n <= SUBSET) {
        for (size_t i = 0; i < n; i++) idx[i] = i;
        return n;
    }
    idx[0] = 0;
    idx[1] = n - 1;
    for (size_t k = 2; k < SUBSET; k++) idx[k] = (size_t)rng_uniform(0, (double)n) % n;
    return SUBSET;
}

/* Tells a loss which coordinate is being moved, so that it may skip far outputs. */
typedef void (*focus_fn)(void *ctx, size_t i);

/* Compares got (n values) with the central differences of loss at the picked coordinates;
 * macs_per_loss is one windowed forward's work (it sizes the subset). */
static void check_fd(const char *what, grad_loss_fn loss, focus_fn focus, void *ctx, const float *x,
                     const float *got, size_t n, double macs_per_loss) {
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    size_t m = pick_coordinates(idx, n, macs_per_loss);
    double *xd = to_double(x, n);
    double *want = malloc((m ? m : 1) * sizeof *want);
    float *got_at = malloc((m ? m : 1) * sizeof *got_at);
    for (size_t k = 0; k < m; k++) {
        size_t i = idx[k];
        focus(ctx, i);
        double saved = xd[i];
        xd[i] = saved + FD_H;
        double up = loss(ctx, xd);
        xd[i] = saved - FD_H;
        double down = loss(ctx, xd);
        xd[i] = saved;
        want[k] = (up - down) / (2.0 * FD_H);
        got_at[k] = got[i];
    }
    char label[300];
    snprintf(label, sizeof label, "%s, fd on %s%zu", what, m == n ? "all " : "random ", m);
    check_gradient(label, got_at, want, m, RTOL, ATOL);
    free(idx); free(xd); free(want); free(got_at);
}

static float *dev_nan(ow_backend *b, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    float *d = dev_copy(b, h, n);
    free(h);
    return d;
}

/* ---- linear ---- */

typedef struct {
    const float *dy, *w; /* dy (M, N), w (N, K) */
    int M, N, K;
    int row;             /* the row of x being moved: only its outputs are summed */
} linear_ctx;

static void linear_focus(void *vctx, size_t i) {
    linear_ctx *c = vctx;
    c->row = (int)(i / (size_t)c->K);
}

/* sum(dy * (x w^T)) in double for x (M, K), over the focused row's outputs. */
static double linear_loss(void *vctx, const double *x) {
    const linear_ctx *c = vctx;
    double L = 0.0;
    for (int m = 0; m < c->M; m++)
        for (int n = 0; n < c->N; n++) {
            if (m != c->row) continue;
            double s = 0.0;
            for (int k = 0; k < c->K; k++) s += x[(size_t)m * c->K + k] * c->w[(size_t)n * c->K + k];
            L += c->dy[(size_t)m * c->N + n] * s;
        }
    return L;
}

/* dx = dy w in plain double loops. */
static double *ref_linear_backward(const float *dy, const float *w, int M, int N, int K) {
    double *dx = calloc((size_t)M * K + 1, sizeof *dx);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) dx[(size_t)m * K + k] += (double)dy[(size_t)m * N + n] * w[(size_t)n * K + k];
    return dx;
}

/* The weights' dtype in this pass. With bf16 weights, dy is rounded to bf16 as well
 * (the backend does so before multiplying), so the references are given the rounded
 * values and the tolerances stay f32's. f16 weights are rounded to f16 and must give
 * the f32 backward's bits on those values. */
static ow_matrix_dtype dtype = OW_MATRIX_F32;

static void round_for_dtype(float *w, size_t nw, float *dy, size_t ndy) {
    if (dtype == OW_MATRIX_F16) host_round_f16(w, nw); /* f16 weights multiply as f32 */
    if (dtype != OW_MATRIX_BF16) return;
    host_round_bf16(w, nw);
    host_round_bf16(dy, ndy);
}

static float *run_linear_backward(ow_backend *b, const float *dy, const float *w, int M, int N, int K) {
    size_t nx = (size_t)M * K;
    float *d_dy = dev_copy(b, dy, (size_t)M * N), *d_dx = dev_nan(b, nx);
    ow_matrix d_w = dev_matrix(b, w, N, K, dtype);
    b->linear_backward(b, d_dx, d_dy, &d_w, M, N, K);
    b->free(b, d_dy); b->matrix_free(b, &d_w);
    return dev_take(b, d_dx, nx);
}

static void test_linear(ow_backend *b, int M, int N, int K) {
    size_t nx = (size_t)M * K;
    float *x = host_random(nx, -1, 1), *w = host_random((size_t)N * K, -1, 1), *dy = host_random((size_t)M * N, -1, 1);
    round_for_dtype(w, (size_t)N * K, dy, (size_t)M * N);
    float *got = run_linear_backward(b, dy, w, M, N, K);
    char what[160];
    snprintf(what, sizeof what, "linear_backward %s M=%d N=%d K=%d", dtype_name(dtype), M, N, K);
    linear_ctx ctx = {dy, w, M, N, K, 0};
    check_fd(what, linear_loss, linear_focus, &ctx, x, got, nx, (double)N * K);
    double *adj = ref_linear_backward(dy, w, M, N, K);
    snprintf(what, sizeof what, "linear_backward %s M=%d N=%d K=%d, adjoint loops", dtype_name(dtype), M, N, K);
    check_gradient(what, got, adj, nx, RTOL, ATOL);
    if (dtype == OW_MATRIX_F16) { /* multiplied as f32: the f32 backward's bits on the same values */
        dtype = OW_MATRIX_F32;
        float *f32 = run_linear_backward(b, dy, w, M, N, K);
        dtype = OW_MATRIX_F16;
        CHECK(memcmp(got, f32, nx * sizeof(float)) == 0, "%s: the f32 backward's bits", what);
        free(f32);
    }
    free(x); free(w); free(dy); free(got); free(adj);
}

/* ---- convolution ---- */

typedef struct {
    int B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr, Ho, Wo;
} conv_shape;

static conv_shape make_conv(int B, int C, int H, int W, int O, int kh, int kw, int stride, int pt, int pb, int pl,
                            int pr) {
    conv_shape s = {B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr, 0, 0};
    s.Ho = (H + pt + pb - kh) / stride + 1;
    s.Wo = (W + pl + pr - kw) / stride + 1;
    return s;
}

static size_t conv_nx(const conv_shape *s) { return (size_t)s->B * s->C * s->H * s->W; }
static size_t conv_ny(const conv_shape *s) { return (size_t)s->B * s->O * s->Ho * s->Wo; }
static size_t conv_nw(const conv_shape *s) { return (size_t)s->O * s->C * s->kh * s->kw; }
/* Work of one windowed forward: the outputs near one x, each a sum over C * kh * kw. */
static double conv_window_macs(const conv_shape *s) {
    double rows = (double)(s->kh + 2 * s->stride) / s->stride + 1, cols = (double)(s->kw + 2 * s->stride) / s->stride + 1;
    return rows * cols * s->O * s->C * s->kh * s->kw;
}

typedef struct {
    conv_shape s;
    const float *dy, *w; /* dy (B, O, Ho, Wo), w (O, C, kh, kw) */
    int fb, fy, fx;      /* image, row and column of the x being moved */
} conv_ctx;

static void conv_focus(void *vctx, size_t i) {
    conv_ctx *c = vctx;
    const conv_shape *s = &c->s;
    c->fx = (int)(i % (size_t)s->W);
    c->fy = (int)(i / (size_t)s->W % (size_t)s->H);
    c->fb = (int)(i / ((size_t)s->W * s->H * s->C));
}

/* Whether an output whose window starts at input row (or column) start, kernel k, may
 * read input index at: a stride wider on each side than the window itself. */
static int near(int start, int k, int stride, int at) { return start >= at - k - stride && start <= at + stride; }

/* sum(dy * conv2d_pad4(x)) in double for x (B, C, H, W): the forward written out, over
 * the outputs near the focused x. */
static double conv_loss(void *vctx, const double *x) {
    const conv_ctx *c = vctx;
    const conv_shape *s = &c->s;
    double L = 0.0;
    for (int bi = 0; bi < s->B; bi++)
        for (int o = 0; o < s->O; o++)
            for (int oy = 0; oy < s->Ho; oy++)
                for (int ox = 0; ox < s->Wo; ox++) {
                    if (bi != c->fb || !near(oy * s->stride - s->pt, s->kh, s->stride, c->fy) ||
                        !near(ox * s->stride - s->pl, s->kw, s->stride, c->fx))
                        continue;
                    double acc = 0.0;
                    for (int ch = 0; ch < s->C; ch++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int iy = oy * s->stride - s->pt + i, ix = ox * s->stride - s->pl + j;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                                acc += x[(((size_t)bi * s->C + ch) * s->H + iy) * s->W + ix] *
                                       c->w[(((size_t)o * s->C + ch) * s->kh + i) * s->kw + j];
                            }
                    L += c->dy[(((size_t)bi * s->O + o) * s->Ho + oy) * s->Wo + ox] * acc;
                }
    return L;
}

/* The adjoint of the forward in plain double loops: each output's dy goes back along every tap. */
static double *ref_conv_backward(const conv_shape *s, const float *dy, const float *w) {
    double *dx = calloc(conv_nx(s) + 1, sizeof *dx);
    for (int bi = 0; bi < s->B; bi++)
        for (int o = 0; o < s->O; o++)
            for (int oy = 0; oy < s->Ho; oy++)
                for (int ox = 0; ox < s->Wo; ox++) {
                    double g = dy[(((size_t)bi * s->O + o) * s->Ho + oy) * s->Wo + ox];
                    for (int ch = 0; ch < s->C; ch++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int iy = oy * s->stride - s->pt + i, ix = ox * s->stride - s->pl + j;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                                dx[(((size_t)bi * s->C + ch) * s->H + iy) * s->W + ix] +=
                                    g * w[(((size_t)o * s->C + ch) * s->kh + i) * s->kw + j];
                            }
                }
    return dx;
}

static float *run_conv_backward(ow_backend *b, const conv_shape *s, const float *dy, const float *w) {
    float *d_dy = dev_copy(b, dy, conv_ny(s)), *d_dx = dev_nan(b, conv_nx(s));
    ow_matrix d_w = dev_matrix(b, w, s->O, s->C * s->kh * s->kw, dtype);
    b->conv2d_backward(b, d_dx, d_dy, &d_w, s->B, s->C, s->H, s->W, s->O, s->kh, s->kw, s->stride, s->pt, s->pb,
                       s->pl, s->pr);
    b->free(b, d_dy); b->matrix_free(b, &d_w);
    return dev_take(b, d_dx, conv_nx(s));
}

static void conv_name(char *out, size_t size, const conv_shape *s) {
    snprintf(out, size, "conv2d_backward %s B=%d C=%d %dx%d O=%d k=%dx%d s=%d pad=(%d,%d,%d,%d) -> %dx%d",
             dtype_name(dtype), s->B, s->C,
             s->H, s->W, s->O, s->kh, s->kw, s->stride, s->pt, s->pb, s->pl, s->pr, s->Ho, s->Wo);
}

static void test_conv(ow_backend *b, int B, int C, int H, int W, int O, int kh, int kw, int stride, int pt, int pb,
                      int pl, int pr) {
    conv_shape s = make_conv(B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr);
    size_t nx = conv_nx(&s);
    float *x = host_random(nx, -1, 1), *w = host_random(conv_nw(&s), -1, 1), *dy = host_random(conv_ny(&s), -1, 1);
    round_for_dtype(w, conv_nw(&s), dy, conv_ny(&s));
    float *got = run_conv_backward(b, &s, dy, w);
    char name[200], what[260];
    conv_name(name, sizeof name, &s);
    conv_ctx ctx = {s, dy, w, 0, 0, 0};
    check_fd(name, conv_loss, conv_focus, &ctx, x, got, nx, conv_window_macs(&s));
    double *adj = ref_conv_backward(&s, dy, w);
    snprintf(what, sizeof what, "%s, adjoint loops", name);
    check_gradient(what, got, adj, nx, RTOL, ATOL);
    if (dtype == OW_MATRIX_F16) { /* multiplied as f32: the f32 backward's bits on the same values */
        dtype = OW_MATRIX_F32;
        float *f32 = run_conv_backward(b, &s, dy, w);
        dtype = OW_MATRIX_F16;
        CHECK(memcmp(got, f32, nx * sizeof(float)) == 0, "%s: the f32 backward's bits", name);
        free(f32);
    }
    free(x); free(w); free(dy); free(got); free(adj);
}

/* ---- the same bits with any thread count ---- */

static void test_threads_linear(ow_backend **bs, int nb, int M, int N, int K) {
    float *w = host_random((size_t)N * K, -1, 1), *dy = host_random((size_t)M * N, -1, 1);
    float *first = run_linear_backward(bs[0], dy, w, M, N, K);
    for (int i = 1; i < nb; i++) {
        float *other = run_linear_backward(bs[i], dy, w, M, N, K);
        char what[160];
        snprintf(what, sizeof what, "linear_backward %s M=%d N=%d K=%d: %d threads vs %d, bitwise", dtype_name(dtype), M, N, K,
                 bs[i]->threads, bs[0]->threads);
        check_close(what, other, first, (size_t)M * K, 0.0);
        CHECK(memcmp(other, first, (size_t)M * K * sizeof(float)) == 0, "%s", what);
        free(other);
    }
    free(w); free(dy); free(first);
}

static void test_threads_conv(ow_backend **bs, int nb, int B, int C, int H, int W, int O, int kh, int kw,
                              int stride, int pt, int pb, int pl, int pr) {
    conv_shape s = make_conv(B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr);
    float *w = host_random(conv_nw(&s), -1, 1), *dy = host_random(conv_ny(&s), -1, 1);
    float *first = run_conv_backward(bs[0], &s, dy, w);
    char name[200];
    conv_name(name, sizeof name, &s);
    for (int i = 1; i < nb; i++) {
        float *other = run_conv_backward(bs[i], &s, dy, w);
        char what[300];
        snprintf(what, sizeof what, "%s: %d threads vs %d, bitwise", name, bs[i]->threads, bs[0]->threads);
        check_close(what, other, first, conv_nx(&s), 0.0);
        CHECK(memcmp(other, first, conv_nx(&s) * sizeof(float)) == 0, "%s", what);
        free(other);
    }
    free(w); free(dy); free(first);
}

int main(void) {
    rng_seed(14);
    ow_backend *b = make_backend(2);
    CHECK(b->linear_backward != NULL && b->conv2d_backward != NULL, "the backward ops are set");
    static const ow_matrix_dtype passes[3] = {OW_MATRIX_F32, OW_MATRIX_BF16, OW_MATRIX_F16};
    for (int pass = 0; pass < 3; pass++) {
    dtype = passes[pass];

    test_linear(b, 1, 1, 1);
    test_linear(b, 7, 5, 3);
    test_linear(b, 77, 93, 61);   /* rows split */
    test_linear(b, 13, 301, 127); /* columns split */
    test_linear(b, 130, 67, 129);
    test_linear(b, 5, 0, 9);      /* N = 0: dx = 0 */

    /* 3x3 pad 1 stride 1 (ResNet conv), odd sizes. */
    test_conv(b, 2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1);
    /* Stride 2 pad 1 (UNet Downsample2D) on odd sizes. */
    test_conv(b, 2, 3, 7, 9, 4, 3, 3, 2, 1, 1, 1, 1);
    test_conv(b, 1, 4, 9, 6, 3, 3, 3, 2, 1, 1, 1, 1);
    /* VAE Downsample2D: pads (top 0, bottom 1, left 0, right 1), stride 2, on even and odd sizes. */
    test_conv(b, 2, 3, 8, 6, 5, 3, 3, 2, 0, 1, 0, 1);
    test_conv(b, 1, 3, 7, 9, 4, 3, 3, 2, 0, 1, 0, 1);
    /* Stride 2 without padding on an even size: the last row and column are never read (dx = 0 there). */
    test_conv(b, 1, 2, 8, 8, 3, 3, 3, 2, 0, 0, 0, 0);
    /* 1x1: the direct product; with stride 2 through col2im (odd sizes drop a row). */
    test_conv(b, 2, 5, 6, 7, 4, 1, 1, 1, 0, 0, 0, 0);
    test_conv(b, 2, 5, 7, 6, 3, 1, 1, 2, 0, 0, 0, 0);
    /* Arbitrary asymmetric pads; a rectangular kernel without padding. */
    test_conv(b, 2, 3, 7, 9, 5, 3, 3, 1, 2, 0, 1, 3);
    test_conv(b, 1, 3, 10, 12, 4, 2, 5, 1, 0, 0, 0, 0);
    /* Larger: two channel blocks of 16 (fd on a random subset). */
    test_conv(b, 1, 32, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1);
    /* Several column tiles of at most 1024 positions, tile edges inside an output row. */
    test_conv(b, 1, 4, 40, 44, 3, 3, 3, 1, 1, 1, 1, 1);
    test_conv(b, 1, 6, 69, 71, 5, 3, 3, 2, 1, 1, 1, 1);
    /* Both: 37 channels = blocks of 16 + 16 + 5, and 1188 positions = tiles of 1024 + 164. */
    test_conv(b, 1, 37, 36, 33, 3, 3, 3, 1, 1, 1, 1, 1);
    /* 1x1 direct split into channel and column blocks (576 = 512 + 64 columns, 150 = 64 + 64 + 22 channels). */
    test_conv(b, 1, 150, 24, 24, 8, 1, 1, 1, 0, 0, 0, 0);
    /* bf16: more output channels than a tile of dy holds for 16 columns (the plain loops). */
    if (dtype == OW_MATRIX_BF16) test_conv(b, 1, 2, 3, 3, 140000, 1, 1, 1, 0, 0, 0, 0);

    ow_backend *bs[3] = {make_backend(1), make_backend(2), make_backend(3)};
    test_threads_linear(bs, 3, 300, 200, 150);
    test_threads_linear(bs, 3, 13, 301, 127);
    test_threads_conv(bs, 3, 2, 37, 40, 44, 16, 3, 3, 1, 1, 1, 1, 1);
    test_threads_conv(bs, 3, 1, 24, 33, 35, 8, 3, 3, 2, 0, 1, 0, 1);
    test_threads_conv(bs, 3, 2, 150, 24, 24, 70, 1, 1, 1, 0, 0, 0, 0);
    for (int i = 0; i < 3; i++) bs[i]->destroy(bs[i]);
    }

    b->destroy(b);
    CHECK_DONE();
}
