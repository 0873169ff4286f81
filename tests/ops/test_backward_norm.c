/* test_backward_norm.c: the training side of the CPU backend's norms.
 * - group_norm_train / layer_norm_train: out bit-identical to the inference ops,
 *   mean and rstd (biased variance, eps inside the root) against double statistics;
 * - group_norm_backward (with and without the fused SiLU) and layer_norm_backward
 *   against central finite differences of L(x) = sum(dy * f(x)) with f a
 *   double-precision forward written here (grad_check.h), on odd shapes (every
 *   coordinate) and SD-sized ones (100 random coordinates, where L is summed over
 *   the one group or row that holds the coordinate: the other terms do not depend
 *   on it, and leaving them out keeps their rounding out of the difference);
 * - results independent of the thread count (bit for bit).
 *
 * Tolerance of the gradient checks: |got - fd| <= 1e-4 * max|fd| + 1e-7.
 * The finite differences are good to ~1e-8 (h = 1e-6 in double, compensated sums),
 * so the error is the f32 backward's own: x - mean, xhat, the products with gamma
 * and silu' and the two means each carry a few ulp (~1e-7 relative), and mean and
 * rstd arrive rounded to float from the train forward (with a mean of 50 the float
 * mean is off by up to half an ulp, 2e-6, which shifts every xhat). The largest
 * error seen is 2e-6 of max|fd| (offset 50; ~1.5e-7 otherwise, printed below), so
 * 1e-4 leaves a 50x margin while a missing or wrong term (mean(dxhat), the xhat * mean(dxhat * xhat) term, the
 * silu' factor, rstd) moves the gradient by O(max|fd|) and fails by far. */
#include "grad_check.h"
#include "ops_common.h"

#define FD_STEP 1e-6
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-7
#define SUBSET 100          /* coordinates checked on the large shapes */
#define FULL_FD_LIMIT 2000  /* up to this many inputs, every coordinate is checked */

/* ---- compensated (Neumaier) summation, so the loss keeps ~1e-16 relative ---- */
typedef struct { double sum, carry; } ksum;
static void ksum_add(ksum *k, double v) {
    double t = k->sum + v;
    if (fabs(k->sum) >= fabs(v)) k->carry += (k->sum - t) + v;
    else k->carry += (v - t) + k->sum;
    k->sum = t;
}
static double ksum_value(const ksum *k) { return k->sum + k->carry; }

/* mean and 1 / sqrt(biased variance + eps) of n doubles. */
static void double_statistics(const double *x, size_t n, double eps, double *mean, double *rstd) {
    ksum s = {0, 0}, v = {0, 0};
    for (size_t i = 0; i < n; i++) ksum_add(&s, x[i]);
    double m = ksum_value(&s) / (double)n;
    for (size_t i = 0; i < n; i++) ksum_add(&v, (x[i] - m) * (x[i] - m));
    *mean = m;
    *rstd = 1.0 / sqrt(ksum_value(&v) / (double)n + eps);
}

/* Coordinates to check: all of them when there are few, else SUBSET random ones. */
static size_t pick_coordinates(size_t n, size_t *idx) {
    if (n <= FULL_FD_LIMIT) {
        for (size_t i = 0; i < n; i++) idx[i] = i;
        return n;
    }
    for (size_t i = 0; i < SUBSET; i++) idx[i] = (size_t)rng_uniform(0, (double)n) % n;
    return SUBSET;
}

/* ---- group norm: double forward and loss ---- */
typedef struct {
    int B, C, HW, groups, silu;
    double eps;
    const double *gamma, *beta, *dy; /* (C), (C), (B, C, HW); gamma/beta NULL = 1/0 */
    long only_task;                  /* -1: every (batch, group); else only this one */
} group_ctx;

static double group_loss(void *vctx, const double *x) {
    const group_ctx *c = vctx;
    int cpg = c->C / c->groups;
    size_t gs = (size_t)cpg * c->HW;
    ksum L = {0, 0};
    long first = c->only_task < 0 ? 0 : c->only_task;
    long last = c->only_task < 0 ? (long)c->B * c->groups : c->only_task + 1;
    for (long t = first; t < last; t++) {
        int g = (int)(t % c->groups);
        const double *xg = x + (size_t)t * gs;
        const double *dyg = c->dy + (size_t)t * gs;
        double mean, rstd;
        double_statistics(xg, gs, c->eps, &mean, &rstd);
        for (int ci = 0; ci < cpg; ci++) {
            int ch = g * cpg + ci;
            double ga = c->gamma ? c->gamma[ch] : 1.0, be = c->beta ? c->beta[ch] : 0.0;
            for (int p = 0; p < c->HW; p++) {
                size_t k = (size_t)ci * c->HW + p;
                double y = (xg[k] - mean) * rstd * ga + be;
                if (c->silu) y = ref_silu(y);
                ksum_add(&L, dyg[k] * y);
            }
        }
    }
    return ksum_value(&L);
}

/* Runs group_norm_train and group_norm_backward on b; returns dx (host). */
static float *group_run(ow_backend *b, const float *x, const float *gamma, const float *beta, const float *dy,
                        int B, int C, int HW, int groups, float eps, int silu, float *out_h, float *mean_h,
                        float *rstd_h) {
    size_t n = (size_t)B * C * HW, stats = (size_t)B * groups;
    float *dx_ = dev_copy(b, x, n), *ddy = dev_copy(b, dy, n);
    float *dg = gamma ? dev_copy(b, gamma, (size_t)C) : NULL, *db = beta ? dev_copy(b, beta, (size_t)C) : NULL;
    float *dout = dev_copy(b, NULL, n), *dmean = dev_copy(b, NULL, stats), *drstd = dev_copy(b, NULL, stats);
    float *dgrad = dev_copy(b, NULL, n);
    b->group_norm_train(b, dout, dmean, drstd, dx_, dg, db, B, C, HW, groups, eps, silu);
    b->group_norm_backward(b, dgrad, ddy, dx_, dg, db, dmean, drstd, B, C, HW, groups, silu);
    b->download(b, out_h, dout, n);
    b->download(b, mean_h, dmean, stats);
    b->download(b, rstd_h, drstd, stats);
    float *grad = dev_take(b, dgrad, n);
    b->free(b, dx_); b->free(b, ddy); b->free(b, dout); b->free(b, dmean); b->free(b, drstd);
    if (dg) b->free(b, dg);
    if (db) b->free(b, db);
    return grad;
}

/* The inference op's output, for the bit-identity check. */
static float *group_inference(ow_backend *b, const float *x, const float *gamma, const float *beta, int B, int C,
                              int HW, int groups, float eps, int silu) {
    size_t n = (size_t)B * C * HW;
    float *dx_ = dev_copy(b, x, n), *dout = dev_copy(b, NULL, n);
    float *dg = gamma ? dev_copy(b, gamma, (size_t)C) : NULL, *db = beta ? dev_copy(b, beta, (size_t)C) : NULL;
    b->group_norm(b, dout, dx_, dg, db, B, C, HW, groups, eps, silu);
    b->free(b, dx_);
    if (dg) b->free(b, dg);
    if (db) b->free(b, db);
    return dev_take(b, dout, n);
}

static void test_group_norm(ow_backend *b, int B, int C, int HW, int groups, float eps, int silu, double offset,
                            int affine) {
    size_t n = (size_t)B * C * HW, stats = (size_t)B * groups;
    int cpg = C / groups;
    size_t gs = (size_t)cpg * HW;
    float *x = host_random(n, offset - 1, offset + 1), *dy = host_random(n, -1, 1);
    float *gamma = affine ? host_random((size_t)C, -1.0, 2.0) : NULL;
    float *beta = affine ? host_random((size_t)C, -0.5, 0.5) : NULL;
    float *out = host_zeros(n), *mean = host_zeros(stats), *rstd = host_zeros(stats);
    float *grad = group_run(b, x, gamma, beta, dy, B, C, HW, groups, eps, silu, out, mean, rstd);
    char what[200];
    snprintf(what, sizeof what, "B=%d C=%d HW=%d groups=%d eps=%g silu=%d offset=%g%s", B, C, HW, groups, eps, silu,
             offset, affine ? "" : " gamma=beta=NULL");

    /* train forward: the inference op's output exactly, statistics against double */
    float *want_out = group_inference(b, x, gamma, beta, B, C, HW, groups, eps, silu);
    char label[260];
    snprintf(label, sizeof label, "group_norm_train out == group_norm %s", what);
    check_close(label, out, want_out, n, 0.0);
    double *xd = to_double(x, n);
    float *want_mean = host_zeros(stats), *want_rstd = host_zeros(stats);
    double max_rstd = 0.0;
    for (size_t t = 0; t < stats; t++) {
        double m, r;
        double_statistics(xd + t * gs, gs, eps, &m, &r);
        want_mean[t] = (float)m;
        want_rstd[t] = (float)r;
        if (r > max_rstd) max_rstd = r;
    }
    snprintf(label, sizeof label, "group_norm_train mean %s", what);
    check_close(label, mean, want_mean, stats, 2e-7 * (1.0 + fabs(offset)));
    snprintf(label, sizeof label, "group_norm_train rstd %s", what);
    check_close(label, rstd, want_rstd, stats, 1e-6 * max_rstd);

    /* backward against finite differences */
    double *gd = gamma ? to_double(gamma, (size_t)C) : NULL, *bd = beta ? to_double(beta, (size_t)C) : NULL;
    double *dyd = to_double(dy, n);
    group_ctx ctx = {B, C, HW, groups, silu, eps, gd, bd, dyd, -1};
    size_t *idx = malloc((n < SUBSET ? SUBSET : n) * sizeof *idx);
    size_t count = pick_coordinates(n, idx);
    double *want = malloc(count * sizeof *want);
    float *got = malloc(count * sizeof *got);
    if (count == n) {
        fd_gradient(group_loss, &ctx, xd, n, FD_STEP, want);
        memcpy(got, grad, n * sizeof *got);
    } else {
        for (size_t k = 0; k < count; k++) {
            ctx.only_task = (long)(idx[k] / gs); /* the (batch, group) holding this coordinate */
            double saved = xd[idx[k]];
            /* fd_gradient over the one coordinate: x + idx[k] seen as a vector of 1 */
            xd[idx[k]] = saved + FD_STEP;
            double up = group_loss(&ctx, xd);
            xd[idx[k]] = saved - FD_STEP;
            double down = group_loss(&ctx, xd);
            xd[idx[k]] = saved;
            want[k] = (up - down) / (2.0 * FD_STEP);
            got[k] = grad[idx[k]];
        }
    }
    snprintf(label, sizeof label, "group_norm_backward %s (%s)", what, count == n ? "all coordinates" : "subset");
    check_gradient(label, got, want, count, GRAD_RTOL, GRAD_ATOL);

    free(x); free(dy); free(gamma); free(beta); free(out); free(mean); free(rstd); free(grad); free(want_out);
    free(xd); free(want_mean); free(want_rstd); free(gd); free(bd); free(dyd); free(idx); free(want); free(got);
}

/* ---- layer norm: double forward and loss ---- */
typedef struct {
    int M, N;
    double eps;
    const double *gamma, *beta, *dy; /* (N), (N), (M, N) */
    int only_row;                    /* -1: every row */
} layer_ctx;

static double layer_loss(void *vctx, const double *x) {
    const layer_ctx *c = vctx;
    ksum L = {0, 0};
    int first = c->only_row < 0 ? 0 : c->only_row, last = c->only_row < 0 ? c->M : c->only_row + 1;
    for (int r = first; r < last; r++) {
        const double *xr = x + (size_t)r * c->N, *dyr = c->dy + (size_t)r * c->N;
        double mean, rstd;
        double_statistics(xr, (size_t)c->N, c->eps, &mean, &rstd);
        for (int j = 0; j < c->N; j++) {
            double y = (xr[j] - mean) * rstd * (c->gamma ? c->gamma[j] : 1.0) + (c->beta ? c->beta[j] : 0.0);
            ksum_add(&L, dyr[j] * y);
        }
    }
    return ksum_value(&L);
}

static float *layer_run(ow_backend *b, const float *x, const float *gamma, const float *beta, const float *dy, int M,
                        int N, float eps, float *out_h, float *mean_h, float *rstd_h) {
    size_t n = (size_t)M * N;
    float *dx_ = dev_copy(b, x, n), *ddy = dev_copy(b, dy, n);
    float *dg = gamma ? dev_copy(b, gamma, (size_t)N) : NULL, *db = beta ? dev_copy(b, beta, (size_t)N) : NULL;
    float *dout = dev_copy(b, NULL, n), *dmean = dev_copy(b, NULL, (size_t)M), *drstd = dev_copy(b, NULL, (size_t)M);
    float *dgrad = dev_copy(b, NULL, n);
    b->layer_norm_train(b, dout, dmean, drstd, dx_, dg, db, M, N, eps);
    b->layer_norm_backward(b, dgrad, ddy, dx_, dg, dmean, drstd, M, N);
    b->download(b, out_h, dout, n);
    b->download(b, mean_h, dmean, (size_t)M);
    b->download(b, rstd_h, drstd, (size_t)M);
    float *grad = dev_take(b, dgrad, n);
    b->free(b, dx_); b->free(b, ddy); b->free(b, dout); b->free(b, dmean); b->free(b, drstd);
    if (dg) b->free(b, dg);
    if (db) b->free(b, db);
    return grad;
}

static void test_layer_norm(ow_backend *b, int M, int N, float eps, double offset, int affine) {
    size_t n = (size_t)M * N;
    float *x = host_random(n, offset - 2, offset + 2), *dy = host_random(n, -1, 1);
    float *gamma = affine ? host_random((size_t)N, -1.0, 2.0) : NULL;
    float *beta = affine ? host_random((size_t)N, -0.5, 0.5) : NULL;
    float *out = host_zeros(n), *mean = host_zeros((size_t)M), *rstd = host_zeros((size_t)M);
    float *grad = layer_run(b, x, gamma, beta, dy, M, N, eps, out, mean, rstd);
    char what[160], label[260];
    snprintf(what, sizeof what, "M=%d N=%d eps=%g offset=%g%s", M, N, eps, offset, affine ? "" : " gamma=beta=NULL");

    float *dx_ = dev_copy(b, x, n), *dout = dev_copy(b, NULL, n);
    float *dg = gamma ? dev_copy(b, gamma, (size_t)N) : NULL, *db = beta ? dev_copy(b, beta, (size_t)N) : NULL;
    b->layer_norm(b, dout, dx_, dg, db, M, N, eps);
    float *want_out = dev_take(b, dout, n);
    b->free(b, dx_);
    if (dg) b->free(b, dg);
    if (db) b->free(b, db);
    snprintf(label, sizeof label, "layer_norm_train out == layer_norm %s", what);
    check_close(label, out, want_out, n, 0.0);

    double *xd = to_double(x, n);
    float *want_mean = host_zeros((size_t)M), *want_rstd = host_zeros((size_t)M);
    double max_rstd = 0.0;
    for (int r = 0; r < M; r++) {
        double m, s;
        double_statistics(xd + (size_t)r * N, (size_t)N, eps, &m, &s);
        want_mean[r] = (float)m;
        want_rstd[r] = (float)s;
        if (s > max_rstd) max_rstd = s;
    }
    snprintf(label, sizeof label, "layer_norm_train mean %s", what);
    check_close(label, mean, want_mean, (size_t)M, 2e-7 * (2.0 + fabs(offset)));
    snprintf(label, sizeof label, "layer_norm_train rstd %s", what);
    check_close(label, rstd, want_rstd, (size_t)M, 1e-6 * max_rstd);

    double *gd = gamma ? to_double(gamma, (size_t)N) : NULL, *bd = beta ? to_double(beta, (size_t)N) : NULL;
    double *dyd = to_double(dy, n);
    layer_ctx ctx = {M, N, eps, gd, bd, dyd, -1};
    size_t *idx = malloc((n < SUBSET ? SUBSET : n) * sizeof *idx);
    size_t count = pick_coordinates(n, idx);
    double *want = malloc(count * sizeof *want);
    float *got = malloc(count * sizeof *got);
    if (count == n) {
        fd_gradient(layer_loss, &ctx, xd, n, FD_STEP, want);
        memcpy(got, grad, n * sizeof *got);
    } else {
        for (size_t k = 0; k < count; k++) {
            ctx.only_row = (int)(idx[k] / (size_t)N);
            double saved = xd[idx[k]];
            xd[idx[k]] = saved + FD_STEP;
            double up = layer_loss(&ctx, xd);
            xd[idx[k]] = saved - FD_STEP;
            double down = layer_loss(&ctx, xd);
            xd[idx[k]] = saved;
            want[k] = (up - down) / (2.0 * FD_STEP);
            got[k] = grad[idx[k]];
        }
    }
    snprintf(label, sizeof label, "layer_norm_backward %s (%s)", what, count == n ? "all coordinates" : "subset");
    check_gradient(label, got, want, count, GRAD_RTOL, GRAD_ATOL);

    free(x); free(dy); free(gamma); free(beta); free(out); free(mean); free(rstd); free(grad); free(want_out);
    free(xd); free(want_mean); free(want_rstd); free(gd); free(bd); free(dyd); free(idx); free(want); free(got);
}

/* ---- thread-count independence: 1 thread against 3, bit for bit ---- */
static void test_threads(ow_backend *one, ow_backend *three) {
    {
        int B = 2, C = 64, HW = 1024, groups = 32, silu = 1;
        size_t n = (size_t)B * C * HW, stats = (size_t)B * groups;
        float *x = host_random(n, -2, 2), *dy = host_random(n, -1, 1);
        float *gamma = host_random((size_t)C, 0.5, 1.5), *beta = host_random((size_t)C, -0.5, 0.5);
        float *out1 = host_zeros(n), *mean1 = host_zeros(stats), *rstd1 = host_zeros(stats);
        float *out3 = host_zeros(n), *mean3 = host_zeros(stats), *rstd3 = host_zeros(stats);
        float *g1 = group_run(one, x, gamma, beta, dy, B, C, HW, groups, 1e-5f, silu, out1, mean1, rstd1);
        float *g3 = group_run(three, x, gamma, beta, dy, B, C, HW, groups, 1e-5f, silu, out3, mean3, rstd3);
        check_close("group_norm_train out, 1 vs 3 threads (B=2 C=64 HW=1024 groups=32 silu=1)", out3, out1, n, 0.0);
        check_close("group_norm_train mean, 1 vs 3 threads", mean3, mean1, stats, 0.0);
        check_close("group_norm_train rstd, 1 vs 3 threads", rstd3, rstd1, stats, 0.0);
        check_close("group_norm_backward dx, 1 vs 3 threads", g3, g1, n, 0.0);
        free(x); free(dy); free(gamma); free(beta); free(out1); free(mean1); free(rstd1);
        free(out3); free(mean3); free(rstd3); free(g1); free(g3);
    }
    {
        int M = 154, N = 768;
        size_t n = (size_t)M * N;
        float *x = host_random(n, -2, 2), *dy = host_random(n, -1, 1);
        float *gamma = host_random((size_t)N, 0.5, 1.5), *beta = host_random((size_t)N, -0.5, 0.5);
        float *out1 = host_zeros(n), *mean1 = host_zeros((size_t)M), *rstd1 = host_zeros((size_t)M);
        float *out3 = host_zeros(n), *mean3 = host_zeros((size_t)M), *rstd3 = host_zeros((size_t)M);
        float *g1 = layer_run(one, x, gamma, beta, dy, M, N, 1e-5f, out1, mean1, rstd1);
        float *g3 = layer_run(three, x, gamma, beta, dy, M, N, 1e-5f, out3, mean3, rstd3);
        check_close("layer_norm_train out, 1 vs 3 threads (M=154 N=768)", out3, out1, n, 0.0);
        check_close("layer_norm_train mean, 1 vs 3 threads", mean3, mean1, (size_t)M, 0.0);
        check_close("layer_norm_train rstd, 1 vs 3 threads", rstd3, rstd1, (size_t)M, 0.0);
        check_close("layer_norm_backward dx, 1 vs 3 threads", g3, g1, n, 0.0);
        free(x); free(dy); free(gamma); free(beta); free(out1); free(mean1); free(rstd1);
        free(out3); free(mean3); free(rstd3); free(g1); free(g3);
    }
}

int main(void) {
    rng_seed(14);
    ow_backend *b = make_backend(3);
    /* group norm: odd shapes, every coordinate */
    test_group_norm(b, 2, 6, 5, 3, 1e-5f, 0, 0, 1);
    test_group_norm(b, 2, 6, 5, 3, 1e-5f, 1, 0, 1);
    test_group_norm(b, 2, 32, 9, 32, 1e-5f, 0, 0, 1);   /* one channel per group */
    test_group_norm(b, 2, 32, 9, 32, 1e-6f, 1, 0, 1);
    test_group_norm(b, 1, 4, 7, 2, 1e-5f, 1, 0, 0);     /* no affine */
    test_group_norm(b, 1, 3, 1, 3, 1e-3f, 1, 0, 1);     /* one value per group: eps alone sets rstd */
    /* blocks of 256 plus a tail, a large mean, and SD's largest group norm: 100 coordinates each */
    test_group_norm(b, 2, 12, 300, 4, 1e-5f, 1, 50, 1);
    test_group_norm(b, 1, 320, 64 * 64, 32, 1e-5f, 0, 0, 1);
    test_group_norm(b, 1, 320, 64 * 64, 32, 1e-6f, 1, 0, 1);
    /* layer norm */
    test_layer_norm(b, 3, 7, 1e-5f, 0, 1);
    test_layer_norm(b, 5, 300, 1e-5f, 0, 1);            /* one block of 256 plus a tail */
    test_layer_norm(b, 13, 37, 1e-5f, 50, 1);           /* large mean */
    test_layer_norm(b, 4, 9, 1e-5f, 0, 0);              /* no affine */
    test_layer_norm(b, 1, 1, 1e-5f, 0, 1);              /* one value: the gradient is zero */
    test_layer_norm(b, 77, 768, 1e-5f, 0, 1);           /* CLIP's text encoder */
    ow_backend *one = make_backend(1);
    test_threads(one, b);
    one->destroy(one);
    b->destroy(b);
    CHECK_DONE();
}
