/* test_backward_attention.c: attention_train and attention_backward of the CPU backend.
 * (a) attention_train's out equals the inference op's and its lse (B, heads, Tq) equals
 *     a double-precision log-sum-exp;
 * (b) dq, dk, dv against central finite differences of a naive double forward of
 *     L = sum(dy * attention(q, k, v)): every coordinate on the small shapes, 64 random
 *     coordinates per input on the large ones (where the loss is restricted to the head,
 *     or the query row, the coordinate can change), and on every shape every element
 *     against a double-precision analytic backward;
 * (c) NULL gradients: each subset of {dq, dk, dv} gives the same numbers as all three;
 * (d) thread independence: 1, 2 and 7 threads (the fused and two-pass schedules) agree.
 * Shapes: odd sizes, B > 1, several heads, causal (CLIP's mask) with Tq = Tk and
 * Tq != Tk both ways, cross-attention (Tk = 77), several query and key tiles, Tk = 1,
 * Tq = 1, large scores, keys beyond the forward's scratch, and Tk = 0. */
#include "grad_check.h"
#include "ops_common.h"

typedef struct shape {
    int B, Tq, Tk, heads, D;
    float scale;
    int causal;
    double range; /* q and k uniform in [-range, range) */
} shape;

static size_t q_count(const shape *s) { return (size_t)s->B * s->Tq * s->heads * s->D; }
static size_t k_count(const shape *s) { return (size_t)s->B * s->Tk * s->heads * s->D; }
static size_t lse_count(const shape *s) { return (size_t)s->B * s->heads * s->Tq; }
static int seen_keys(const shape *s, int i) { return s->causal ? (i + 1 < s->Tk ? i + 1 : s->Tk) : s->Tk; }

/* ---- double-precision references ---- */

/* p[0..seen) <- scale * q_i . k_j for query i of head h of batch b; returns the maximum. */
static double ref_scores(const shape *s, const double *q, const double *k, int b, int h, int i, double *p) {
    size_t HD = (size_t)s->heads * s->D;
    const double *qi = q + ((size_t)b * s->Tq + i) * HD + (size_t)h * s->D;
    double m = -INFINITY;
    for (int j = 0; j < seen_keys(s, i); j++) {
        const double *kj = k + ((size_t)b * s->Tk + j) * HD + (size_t)h * s->D;
        double acc = 0.0;
        for (int d = 0; d < s->D; d++) acc += qi[d] * kj[d];
        p[j] = acc * s->scale;
        if (p[j] > m) m = p[j];
    }
    return m;
}

/* lse (B, heads, Tq) of the scaled, masked scores. */
static void ref_lse(const shape *s, const double *q, const double *k, double *lse) {
    double *p = malloc((size_t)s->Tk * sizeof *p);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->heads; h++)
            for (int i = 0; i < s->Tq; i++) {
                double m = ref_scores(s, q, k, b, h, i, p), sum = 0.0;
                for (int j = 0; j < seen_keys(s, i); j++) sum += exp(p[j] - m);
                lse[((size_t)b * s->heads + h) * s->Tq + i] = m + log(sum);
            }
    free(p);
}

/* The loss L = sum(dy * attention(q, k, v)) for finite differences. The input under
 * test is x; only the batch, head and query rows a coordinate can change are summed
 * when only_b >= 0 (the other terms do not depend on it). */
typedef struct loss_ctx {
    const shape *s;
    const double *q, *k, *v, *dy;
    int which; /* x replaces 0: q, 1: k, 2: v */
    int only_b, only_h, only_i; /* -1: all */
    int first_i;                /* rows before it are left out (they cannot see the key) */
    double *p;                  /* Tk */
} loss_ctx;

static double attention_loss(void *vctx, const double *x) {
    loss_ctx *c = vctx;
    const shape *s = c->s;
    const double *q = c->which == 0 ? x : c->q, *k = c->which == 1 ? x : c->k, *v = c->which == 2 ? x : c->v;
    size_t HD = (size_t)s->heads * s->D;
    int b0 = c->only_b >= 0 ? c->only_b : 0, b1 = c->only_b >= 0 ? c->only_b + 1 : s->B;
    int h0 = c->only_h >= 0 ? c->only_h : 0, h1 = c->only_h >= 0 ? c->only_h + 1 : s->heads;
    int i0 = c->only_i >= 0 ? c->only_i : c->first_i, i1 = c->only_i >= 0 ? c->only_i + 1 : s->Tq;
    double L = 0.0;
    for (int b = b0; b < b1; b++)
        for (int h = h0; h < h1; h++)
            for (int i = i0; i < i1; i++) {
                int seen = seen_keys(s, i);
                double m = ref_scores(s, q, k, b, h, i, c->p), sum = 0.0;
                for (int j = 0; j < seen; j++) { c->p[j] = exp(c->p[j] - m); sum += c->p[j]; }
                const double *dyi = c->dy + ((size_t)b * s->Tq + i) * HD + (size_t)h * s->D;
                for (int d = 0; d < s->D; d++) {
                    double acc = 0.0;
                    for (int j = 0; j < seen; j++) acc += c->p[j] * v[((size_t)b * s->Tk + j) * HD + (size_t)h * s->D + d];
                    L += dyi[d] * acc / sum;
                }
            }
    return L;
}

/* The analytic backward in double: P, dP = dy v^T, dS = P o (dP - rowsum(dy o out)),
 * dq = scale dS k, dk = scale dS^T q, dv = P^T dy. */
static void ref_backward(const shape *s, const double *q, const double *k, const double *v, const double *dy,
                         double *dq, double *dk, double *dv) {
    size_t HD = (size_t)s->heads * s->D;
    memset(dq, 0, q_count(s) * sizeof *dq);
    memset(dk, 0, k_count(s) * sizeof *dk);
    memset(dv, 0, k_count(s) * sizeof *dv);
    double *p = malloc((size_t)s->Tk * sizeof *p), *o = malloc((size_t)s->D * sizeof *o);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->heads; h++)
            for (int i = 0; i < s->Tq; i++) {
                int seen = seen_keys(s, i);
                double m = ref_scores(s, q, k, b, h, i, p), sum = 0.0;
                for (int j = 0; j < seen; j++) { p[j] = exp(p[j] - m); sum += p[j]; }
                for (int j = 0; j < seen; j++) p[j] /= sum;
                size_t qi = ((size_t)b * s->Tq + i) * HD + (size_t)h * s->D;
                double delta = 0.0;
                for (int d = 0; d < s->D; d++) {
                    o[d] = 0.0;
                    for (int j = 0; j < seen; j++) o[d] += p[j] * v[((size_t)b * s->Tk + j) * HD + (size_t)h * s->D + d];
                    delta += dy[qi + d] * o[d];
                }
                for (int j = 0; j < seen; j++) {
                    size_t kj = ((size_t)b * s->Tk + j) * HD + (size_t)h * s->D;
                    double dp = 0.0;
                    for (int d = 0; d < s->D; d++) dp += dy[qi + d] * v[kj + d];
                    double ds = p[j] * (dp - delta);
                    for (int d = 0; d < s->D; d++) {
                        dq[qi + d] += s->scale * ds * k[kj + d];
                        dk[kj + d] += s->scale * ds * q[qi + d];
                        dv[kj + d] += p[j] * dy[qi + d];
                    }
                }
            }
    free(p);
    free(o);
}

/* grad[t] = dL/dx[idx[t]] by central differences, L restricted to what x[idx[t]] can change. */
static void fd_gradient_subset(loss_ctx *c, double *x, const size_t *idx, size_t m, double h, double *grad) {
    const shape *s = c->s;
    size_t HD = (size_t)s->heads * s->D, rows = c->which == 0 ? (size_t)s->Tq : (size_t)s->Tk;
    for (size_t t = 0; t < m; t++) {
        size_t i = idx[t];
        c->only_b = (int)(i / (rows * HD));
        c->only_h = (int)(i % HD / (size_t)s->D);
        c->only_i = c->which == 0 ? (int)(i / HD % rows) : -1;            /* q_i changes row i only */
        c->first_i = c->which != 0 && s->causal ? (int)(i / HD % rows) : 0; /* key j: rows i >= j */
        double saved = x[i];
        x[i] = saved + h;
        double up = attention_loss(c, x);
        x[i] = saved - h;
        double down = attention_loss(c, x);
        x[i] = saved;
        grad[t] = (up - down) / (2.0 * h);
    }
    c->only_b = c->only_h = c->only_i = -1;
    c->first_i = 0;
}

/* ---- backend calls ---- */

typedef struct inputs {
    float *q, *k, *v, *dy;   /* host */
    float *out, *lse;        /* host, from attention_train */
} inputs;

static float *host_nan(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

/* attention_train on the backend: out and lse into host arrays. */
static void run_train(ow_backend *b, const shape *s, const inputs *in, float **out, float **lse) {
    size_t nq = q_count(s), nk = k_count(s), nl = lse_count(s);
    float *dq = dev_copy(b, in->q, nq), *dk = dev_copy(b, in->k, nk), *dv = dev_copy(b, in->v, nk);
    float *nan_out = host_nan(nq), *nan_lse = host_nan(nl);
    float *dout = dev_copy(b, nan_out, nq), *dlse = dev_copy(b, nan_lse, nl);
    b->attention_train(b, dout, dlse, dq, dk, dv, s->B, s->Tq, s->Tk, s->heads, s->D, s->scale, s->causal);
    *out = dev_take(b, dout, nq);
    *lse = dev_take(b, dlse, nl);
    b->free(b, dq); b->free(b, dk); b->free(b, dv);
    free(nan_out); free(nan_lse);
}

/* attention_backward on the backend; a gradient is computed when its pointer is non-NULL
 * (the backend buffer starts as NaN so that every element must be written). */
static void run_backward(ow_backend *b, const shape *s, const inputs *in, float **gq, float **gk, float **gv) {
    size_t nq = q_count(s), nk = k_count(s), nl = lse_count(s);
    float *q = dev_copy(b, in->q, nq), *k = dev_copy(b, in->k, nk), *v = dev_copy(b, in->v, nk);
    float *dy = dev_copy(b, in->dy, nq), *out = dev_copy(b, in->out, nq), *lse = dev_copy(b, in->lse, nl);
    float *nan_q = host_nan(nq), *nan_k = host_nan(nk);
    float *dq = gq ? dev_copy(b, nan_q, nq) : NULL, *dk = gk ? dev_copy(b, nan_k, nk) : NULL;
    float *dv = gv ? dev_copy(b, nan_k, nk) : NULL;
    b->attention_backward(b, dq, dk, dv, dy, q, k, v, out, lse, s->B, s->Tq, s->Tk, s->heads, s->D, s->scale,
                          s->causal);
    if (gq) *gq = dev_take(b, dq, nq);
    if (gk) *gk = dev_take(b, dk, nk);
    if (gv) *gv = dev_take(b, dv, nk);
    b->free(b, q); b->free(b, k); b->free(b, v); b->free(b, dy); b->free(b, out); b->free(b, lse);
    free(nan_q); free(nan_k);
}

static void describe(char *buf, size_t n, const char *what, const shape *s) {
    snprintf(buf, n, "%s B=%d Tq=%d Tk=%d heads=%d D=%d scale=%.3g causal=%d |qk|<=%g", what, s->B, s->Tq, s->Tk,
             s->heads, s->D, s->scale, s->causal, s->range);
}

/* Gradient tolerance: |got - want| <= 1e-6 + 1e-4 * max|want|. The backend's gradients
 * are f32 sums of at most a few hundred products per tile (sgemm), tiles added in
 * order, with P = exp(S - lse) from f32 scores: relative error ~1e-6 typically and a
 * few 1e-5 at worst. The double finite differences (h = 1e-6) are good to ~1e-9.
 * So 1e-4 sits above f32 rounding and far below a wrong term: dropping delta, the
 * scale or the mask changes gradients by a fraction of max|grad|, not 1e-4 of it. */
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-6
#define FD_STEP 1e-6
#define FD_SUBSET 64

static void check_one_gradient(const char *name, const shape *s, int which, const float *got, const double *ref,
                               loss_ctx *ctx, double *x, size_t n, int full_fd) {
    char what[200], label[64];
    snprintf(label, sizeof label, "%s vs analytic double", name);
    describe(what, sizeof what, label, s);
    check_gradient(what, got, ref, n, GRAD_RTOL, GRAD_ATOL);
    ctx->which = which;
    if (full_fd) {
        double *fd = malloc((n ? n : 1) * sizeof *fd);
        fd_gradient(attention_loss, ctx, x, n, FD_STEP, fd);
        snprintf(label, sizeof label, "%s vs finite differences", name);
        describe(what, sizeof what, label, s);
        check_gradient(what, got, fd, n, GRAD_RTOL, GRAD_ATOL);
        free(fd);
        return;
    }
    /* A random subset; the tolerance's scale is max|grad| over all of them (from the
     * analytic reference), as a subset may miss the largest. */
    size_t idx[FD_SUBSET];
    float sub_got[FD_SUBSET];
    double fd[FD_SUBSET + 1], scale = 0.0;
    for (size_t i = 0; i < n; i++) if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (int t = 0; t < FD_SUBSET; t++) {
        idx[t] = (size_t)rng_uniform(0, (double)n);
        sub_got[t] = got[idx[t]];
    }
    fd_gradient_subset(ctx, x, idx, FD_SUBSET, FD_STEP, fd);
    snprintf(label, sizeof label, "%s vs finite differences (%d random)", name, FD_SUBSET);
    describe(what, sizeof what, label, s);
    check_gradient(what, sub_got, fd, FD_SUBSET, 0.0, GRAD_ATOL + GRAD_RTOL * scale);
}

/* (a), (b), (c) on one shape; returns nothing, counts checks. */
static void test_shape(ow_backend *b, const shape *s, int full_fd) {
    size_t nq = q_count(s), nk = k_count(s), nl = lse_count(s);
    inputs in;
    in.q = host_random(nq, -s->range, s->range);
    in.k = host_random(nk, -s->range, s->range);
    in.v = host_random(nk, -1, 1);
    in.dy = host_random(nq, -1, 1);
    char what[200];

    /* (a) the forward: out as the inference op's, lse as the double log-sum-exp */
    run_train(b, s, &in, &in.out, &in.lse);
    float *want_out = host_nan(nq);
    {
        float *dq = dev_copy(b, in.q, nq), *dk = dev_copy(b, in.k, nk), *dv = dev_copy(b, in.v, nk);
        float *dout = dev_copy(b, want_out, nq);
        b->attention(b, dout, dq, dk, dv, s->B, s->Tq, s->Tk, s->heads, s->D, s->scale, s->causal);
        free(want_out);
        want_out = dev_take(b, dout, nq);
        b->free(b, dq); b->free(b, dk); b->free(b, dv);
    }
    describe(what, sizeof what, "train out vs attention", s);
    check_close(what, in.out, want_out, nq, 1e-6);
    double *dqd = to_double(in.q, nq), *dkd = to_double(in.k, nk), *dvd = to_double(in.v, nk);
    double *dyd = to_double(in.dy, nq);
    double *lse_ref = malloc((nl ? nl : 1) * sizeof *lse_ref);
    ref_lse(s, dqd, dkd, lse_ref);
    double lse_max = 0.0;
    for (size_t i = 0; i < nl; i++) if (fabs(lse_ref[i]) > lse_max) lse_max = fabs(lse_ref[i]);
    float *lse_want = malloc((nl ? nl : 1) * sizeof *lse_want);
    for (size_t i = 0; i < nl; i++) lse_want[i] = (float)lse_ref[i];
    /* f32 scores (D products of |q||k| <= range^2, times scale) and an f32 log of the sum */
    describe(what, sizeof what, "train lse vs double", s);
    check_close(what, in.lse, lse_want, nl, 2e-6 + 2e-7 * lse_max + 2e-7 * s->range * s->range * s->D * s->scale);

    /* (b) the gradients */
    float *gq, *gk, *gv;
    run_backward(b, s, &in, &gq, &gk, &gv);
    double *rq = malloc(nq * sizeof *rq), *rk = malloc(nk * sizeof *rk), *rv = malloc(nk * sizeof *rv);
    ref_backward(s, dqd, dkd, dvd, dyd, rq, rk, rv);
    loss_ctx ctx = {s, dqd, dkd, dvd, dyd, 0, -1, -1, -1, 0, malloc((size_t)s->Tk * sizeof(double))};
    check_one_gradient("dq", s, 0, gq, rq, &ctx, dqd, nq, full_fd);
    check_one_gradient("dk", s, 1, gk, rk, &ctx, dkd, nk, full_fd);
    check_one_gradient("dv", s, 2, gv, rv, &ctx, dvd, nk, full_fd);

    /* (c) NULL gradients: every subset gives the same numbers as all three */
    for (int mask = 0; mask < 7; mask++) {
        int want_q = mask & 1, want_k = mask & 2, want_v = mask & 4;
        float *pq = NULL, *pk = NULL, *pv = NULL;
        run_backward(b, s, &in, want_q ? &pq : NULL, want_k ? &pk : NULL, want_v ? &pv : NULL);
        char label[64];
        snprintf(label, sizeof label, "only {%s%s%s} vs all:", want_q ? " dq" : "", want_k ? " dk" : "",
                 want_v ? " dv" : "");
        describe(what, sizeof what, label, s);
        if (pq) check_close(what, pq, gq, nq, 1e-6);
        if (pk) check_close(what, pk, gk, nk, 1e-6);
        if (pv) check_close(what, pv, gv, nk, 1e-6);
        free(pq); free(pk); free(pv);
    }

    free(ctx.p);
    free(rq); free(rk); free(rv); free(gq); free(gk); free(gv);
    free(lse_ref); free(lse_want); free(want_out);
    free(dqd); free(dkd); free(dvd); free(dyd);
    free(in.q); free(in.k); free(in.v); free(in.dy); free(in.out); free(in.lse);
}

/* (d) the same forward and backward on backends with different thread counts. */
static void test_threads(ow_backend **backends, const int *counts, int n, const shape *s) {
    size_t nq = q_count(s), nk = k_count(s), nl = lse_count(s);
    inputs in;
    in.q = host_random(nq, -s->range, s->range);
    in.k = host_random(nk, -s->range, s->range);
    in.v = host_random(nk, -1, 1);
    in.dy = host_random(nq, -1, 1);
    run_train(backends[0], s, &in, &in.out, &in.lse);
    float *gq, *gk, *gv;
    run_backward(backends[0], s, &in, &gq, &gk, &gv);
    char what[200], label[64];
    for (int t = 1; t < n; t++) {
        float *out, *lse, *tq, *tk, *tv;
        run_train(backends[t], s, &in, &out, &lse);
        run_backward(backends[t], s, &in, &tq, &tk, &tv); /* the same out and lse as threads=1 */
        const char *names[5] = {"out", "lse", "dq", "dk", "dv"};
        const float *got[5] = {out, lse, tq, tk, tv}, *want[5] = {in.out, in.lse, gq, gk, gv};
        size_t count[5] = {nq, nl, nq, nk, nk};
        for (int o = 0; o < 5; o++) {
            snprintf(label, sizeof label, "threads %d vs %d: %s", counts[t], counts[0], names[o]);
            describe(what, sizeof what, label, s);
            check_close(what, got[o], want[o], count[o], 1e-6);
        }
        free(out); free(lse); free(tq); free(tk); free(tv);
    }
    free(gq); free(gk); free(gv);
    free(in.q); free(in.k); free(in.v); free(in.dy); free(in.out); free(in.lse);
}

/* Keys beyond the forward's score scratch (online softmax there); the backward only
 * has more key tiles. Checked against the analytic double backward (no finite
 * differences: each loss evaluation would cost Tk * Tq * D). */
static void test_long_keys(ow_backend *b, const shape *s) {
    size_t nq = q_count(s), nk = k_count(s), nl = lse_count(s);
    inputs in;
    in.q = host_random(nq, -s->range, s->range);
    in.k = host_random(nk, -s->range, s->range);
    in.v = host_random(nk, -1, 1);
    in.dy = host_random(nq, -1, 1);
    run_train(b, s, &in, &in.out, &in.lse);
    float *want_out = host_nan(nq);
    ref_attention(want_out, in.q, in.k, in.v, s->B, s->Tq, s->Tk, s->heads, s->D, s->scale, s->causal);
    char what[200];
    describe(what, sizeof what, "train out vs double", s);
    check_close(what, in.out, want_out, nq, 2e-6);
    double *dqd = to_double(in.q, nq), *dkd = to_double(in.k, nk), *dvd = to_double(in.v, nk);
    double *dyd = to_double(in.dy, nq), *lse_ref = malloc(nl * sizeof *lse_ref);
    ref_lse(s, dqd, dkd, lse_ref);
    float *lse_want = malloc(nl * sizeof *lse_want);
    for (size_t i = 0; i < nl; i++) lse_want[i] = (float)lse_ref[i];
    describe(what, sizeof what, "train lse vs double", s);
    /* the forward sums these in double; f32 exponentials and scores leave ~1e-6 */
    check_close(what, in.lse, lse_want, nl, 1e-5);
    float *gq, *gk, *gv;
    run_backward(b, s, &in, &gq, &gk, &gv);
    double *rq = malloc(nq * sizeof *rq), *rk = malloc(nk * sizeof *rk), *rv = malloc(nk * sizeof *rv);
    ref_backward(s, dqd, dkd, dvd, dyd, rq, rk, rv);
    /* relative only: spread over a million keys, the gradients are ~1e-6 themselves */
    describe(what, sizeof what, "dq vs analytic double", s);
    check_gradient(what, gq, rq, nq, GRAD_RTOL, 0.0);
    describe(what, sizeof what, "dk vs analytic double", s);
    check_gradient(what, gk, rk, nk, GRAD_RTOL, 0.0);
    describe(what, sizeof what, "dv vs analytic double", s);
    check_gradient(what, gv, rv, nk, GRAD_RTOL, 0.0);
    free(rq); free(rk); free(rv); free(gq); free(gk); free(gv);
    free(dqd); free(dkd); free(dvd); free(dyd); free(lse_ref); free(lse_want); free(want_out);
    free(in.q); free(in.k); free(in.v); free(in.dy); free(in.out); free(in.lse);
}

/* Tk = 0: out is zeros (as the inference op), lse the empty sum's log, dq zeros. */
static void test_no_keys(ow_backend *b) {
    shape s = {2, 3, 0, 2, 4, 0.5f, 0, 1};
    size_t nq = q_count(&s), nl = lse_count(&s);
    inputs in = {host_random(nq, -1, 1), host_zeros(0), host_zeros(0), host_random(nq, -1, 1), NULL, NULL};
    run_train(b, &s, &in, &in.out, &in.lse);
    float *zeros = host_zeros(nq), *gq, *gk, *gv;
    check_close("Tk=0: train out is zeros", in.out, zeros, nq, 0.0);
    int all_minus_inf = 1;
    for (size_t i = 0; i < nl; i++) all_minus_inf &= isinf(in.lse[i]) && in.lse[i] < 0;
    CHECK(all_minus_inf, "Tk=0: lse should be -inf everywhere");
    printf("%s Tk=0: lse is -inf in all %zu rows\n", all_minus_inf ? "ok  " : "FAIL", nl);
    run_backward(b, &s, &in, &gq, &gk, &gv);
    check_close("Tk=0: dq is zeros", gq, zeros, nq, 0.0);
    /* nothing to compute: must not touch anything */
    b->attention_backward(b, NULL, NULL, NULL, in.dy, in.q, in.k, in.v, in.out, in.lse, s.B, s.Tq, s.Tk, s.heads,
                          s.D, s.scale, s.causal);
    free(gq); free(gk); free(gv); free(zeros);
    free(in.q); free(in.k); free(in.v); free(in.dy); free(in.out); free(in.lse);
}

int main(void) {
    rng_seed(14);
    ow_backend *b = make_backend(2);

    /* Small shapes: finite differences on every coordinate. */
    const shape small[] = {
        {2, 5, 7, 3, 4, 0.5f, 0, 1},                  /* odd sizes, B > 1, several heads */
        {2, 9, 9, 2, 8, 1.0f / 2.8284271f, 1, 1},     /* causal, Tq = Tk: CLIP's mask */
        {1, 7, 5, 2, 3, 0.6f, 1, 1},                  /* causal, Tq > Tk: rows past Tk see all keys */
        {1, 5, 8, 1, 6, 0.4f, 1, 1},                  /* causal, Tq < Tk: keys past Tq never seen */
        {2, 6, 1, 2, 5, 0.45f, 0, 1},                 /* Tk = 1: out = v_0, dq = dk = 0 */
        {1, 6, 1, 1, 4, 0.5f, 1, 1},                  /* Tk = 1, causal */
        {1, 1, 6, 2, 4, 0.5f, 0, 1},                  /* Tq = 1 */
        {1, 11, 13, 2, 6, 1.0f, 0, 3},                /* scores up to ~50: the lse keeps exp in range */
        {1, 12, 10, 1, 5, 1.0f, 1, 3},
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) test_shape(b, &small[i], 1);

    /* Larger shapes: several query tiles (128 rows) and key tiles (256 keys), partial
     * tiles, tile pairs skipped by the causal mask; finite differences on a subset. */
    const shape large[] = {
        {2, 70, 77, 2, 40, 1.0f / 6.3245553f, 0, 1},   /* cross-attention: 77 context tokens */
        {1, 300, 333, 1, 24, 1.0f / 4.8989795f, 0, 1}, /* several tiles both ways */
        {1, 300, 300, 1, 40, 1.0f / 6.3245553f, 1, 1}, /* causal over several tiles */
        {1, 130, 530, 1, 16, 0.25f, 1, 1},             /* causal, Tq < Tk over three key tiles */
        {1, 530, 130, 1, 8, 0.35f, 1, 1},              /* causal, Tq > Tk */
        {1, 257, 270, 1, 8, 0.35f, 1, 1},              /* causal: only the last row sees key tile 2 */
        {1, 200, 280, 1, 8, 1.0f, 0, 2.5},             /* scores up to ~50 over several tiles */
    };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) test_shape(b, &large[i], 0);

    const shape long_keys[] = {
        {1, 3, 1100000, 1, 2, 0.5f, 0, 1},
        {1, 3, 1100000, 1, 2, 0.5f, 1, 1},
    };
    for (size_t i = 0; i < sizeof long_keys / sizeof long_keys[0]; i++) test_long_keys(b, &long_keys[i]);
    test_no_keys(b);

    /* (d) Thread counts: with B*heads = 1, 2 threads take the two-pass schedule; with
     * B*heads = 6, 2 threads take the fused one; with B*heads = 4, 7 threads take the
     * two-pass one; 1 thread is always fused. */
    int counts[] = {1, 2, 7};
    ow_backend *backends[3] = {make_backend(1), make_backend(2), make_backend(7)};
    const shape threaded[] = {
        {1, 300, 333, 1, 40, 1.0f / 6.3245553f, 0, 1},
        {1, 300, 300, 1, 40, 1.0f / 6.3245553f, 1, 1},
        {2, 150, 77, 3, 40, 1.0f / 6.3245553f, 0, 1},
        {2, 260, 260, 2, 24, 0.2f, 1, 1},
    };
    for (size_t i = 0; i < sizeof threaded / sizeof threaded[0]; i++) test_threads(backends, counts, 3, &threaded[i]);
    for (int t = 0; t < 3; t++) backends[t]->destroy(backends[t]);

    b->destroy(b);
    CHECK_DONE();
}
