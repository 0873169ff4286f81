/* gpu_backend_ops.c: every op of the CUDA backend against the CPU backend on the same
 * random inputs (the idea of ggml's test-backend-ops): odd sizes, B > 1, strides and
 * asymmetric pads, causal and not, each matrix dtype, the backward ops with their
 * optional outputs. A case passes when max |cuda - cpu| <= rel * max |cpu| + abs, with
 * rel per dtype (f32 1e-5 of the largest value, different summation orders; bf16 2e-3:
 * the same bf16 roundings of weights and inputs, other sums; attention 1e-4).
 *
 * Prints one line per case and, with --json FILE, one JSON object per case there.
 * Without a usable CUDA device it says why and exits 77 (meson's "skipped"), so that
 * tests/gpu/run on a machine without a GPU reports a skip, never a pass.
 *
 * usage: gpu_backend_ops [--device N] [--json FILE] */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

static ow_backend *cpu, *gpu;
static FILE *json;
static int cases, failures;

/* ---- random inputs ---- */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform(float lo, float hi) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return lo + (hi - lo) * (float)((rng * 0x2545f4914f6cdd1dull) >> 40) / 16777216.0f;
}
static float *host_random(size_t n, float lo, float hi) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = uniform(lo, hi);
    return p;
}

/* ---- one buffer on both backends ---- */
typedef struct pair {
    float *c, *g;
    size_t n;
} pair;

static pair pair_of(const float *host, size_t n) {
    pair p = {cpu->alloc(cpu, n ? n : 1), gpu->alloc(gpu, n ? n : 1), n};
    if (!p.c || !p.g) {
        fprintf(stderr, "gpu_backend_ops: out of memory for %zu floats\n", n);
        exit(1);
    }
    if (host && n) {
        cpu->upload(cpu, p.c, host, n);
        gpu->upload(gpu, p.g, host, n);
    }
    return p;
}
static pair pair_random(size_t n, float lo, float hi) {
    float *h = host_random(n, lo, hi);
    pair p = pair_of(h, n);
    free(h);
    return p;
}
/* Both filled with NaN, so a value an op does not write fails. */
static pair pair_nan(size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    pair p = pair_of(h, n);
    free(h);
    return p;
}
static void pair_free(pair *p) {
    cpu->free(cpu, p->c);
    gpu->free(gpu, p->g);
}

typedef struct mpair {
    ow_matrix c, g;
} mpair;
static mpair matrix_random(int rows, int cols, ow_matrix_dtype dtype) {
    size_t n = (size_t)rows * cols;
    float *h = host_random(n, -1, 1);
    mpair m;
    float *dc = cpu->alloc(cpu, n), *dg = gpu->alloc(gpu, n);
    cpu->upload(cpu, dc, h, n);
    gpu->upload(gpu, dg, h, n);
    free(h);
    if (cpu->matrix_create(cpu, &m.c, dc, rows, cols, dtype) != OW_OK ||
        gpu->matrix_create(gpu, &m.g, dg, rows, cols, dtype) != OW_OK) {
        fprintf(stderr, "gpu_backend_ops: matrix_create (%d x %d, dtype %d) failed\n", rows, cols, (int)dtype);
        exit(1);
    }
    return m;
}
static void matrix_free(mpair *m) {
    cpu->matrix_free(cpu, &m->c);
    gpu->matrix_free(gpu, &m->g);
}
static const char *dtype_name(ow_matrix_dtype d) { return d == OW_MATRIX_BF16 ? "bf16" : d == OW_MATRIX_F16 ? "f16" : "f32"; }
static double dtype_tol(ow_matrix_dtype d) { return d == OW_MATRIX_BF16 ? 2e-3 : 1e-5; }

/* ---- comparison ---- */
static void compare(const char *what, const pair *p, double rel, double abs_tol) {
    float *hc = malloc((p->n ? p->n : 1) * sizeof *hc), *hg = malloc((p->n ? p->n : 1) * sizeof *hg);
    cpu->download(cpu, hc, p->c, p->n);
    gpu->download(gpu, hg, p->g, p->n);
    ow_error err = {0};
    int device_ok = gpu->status(gpu, &err) == OW_OK;
    double max_err = 0, ref = 0;
    size_t at = 0, bad = 0;
    for (size_t i = 0; i < p->n; i++) {
        double r = fabs((double)hc[i]);
        if (r > ref) ref = r;
        double e = fabs((double)hg[i] - hc[i]);
        if (!isfinite(hg[i]) || !isfinite(hc[i])) {
            bad++;
            e = INFINITY;
        }
        if (e > max_err || (bad == 1 && e == INFINITY && at == 0)) {
            max_err = e;
            at = i;
        }
    }
    const double tol = rel * ref + abs_tol;
    const int ok = device_ok && !bad && max_err <= tol;
    cases++;
    failures += !ok;
    printf("%s %s: %zu values, max |cuda - cpu| %.3g at [%zu] (cuda %.7g, cpu %.7g), tol %.3g%s%s\n", ok ? "ok  " : "FAIL",
           what, p->n, max_err, at, p->n ? hg[at] : 0.0, p->n ? hc[at] : 0.0, tol, bad ? ", non-finite values" : "",
           device_ok ? "" : err.message);
    if (json)
        fprintf(json, "{\"op\": \"%s\", \"ok\": %s, \"values\": %zu, \"max_abs_err\": %.6g, \"ref_max_abs\": %.6g, "
                      "\"tol\": %.6g}\n", what, ok ? "true" : "false", p->n, isfinite(max_err) ? max_err : -1.0, ref, tol);
    free(hc);
    free(hg);
}

/* ---- the cases ---- */
static void test_linear(int M, int N, int K, int bias, ow_matrix_dtype dt) {
    pair x = pair_random((size_t)M * K, -1, 1), out = pair_nan((size_t)M * N), b = pair_random((size_t)N, -1, 1);
    mpair w = matrix_random(N, K, dt);
    cpu->linear(cpu, out.c, x.c, &w.c, bias ? b.c : NULL, M, N, K);
    gpu->linear(gpu, out.g, x.g, &w.g, bias ? b.g : NULL, M, N, K);
    char what[160];
    snprintf(what, sizeof what, "linear %s M=%d N=%d K=%d bias=%d", dtype_name(dt), M, N, K, bias);
    compare(what, &out, dtype_tol(dt), 1e-6);
    pair dy = pair_random((size_t)M * N, -1, 1), dx = pair_nan((size_t)M * K);
    cpu->linear_backward(cpu, dx.c, dy.c, &w.c, M, N, K);
    gpu->linear_backward(gpu, dx.g, dy.g, &w.g, M, N, K);
    snprintf(what, sizeof what, "linear_backward %s M=%d N=%d K=%d", dtype_name(dt), M, N, K);
    compare(what, &dx, dtype_tol(dt), 1e-6);
    pair_free(&x); pair_free(&out); pair_free(&b); pair_free(&dy); pair_free(&dx); matrix_free(&w);
}

static void test_conv(int B, int C, int H, int W, int O, int k, int stride, int pt, int pb, int pl, int pr, int bias,
                      ow_matrix_dtype dt) {
    const int Ho = (H + pt + pb - k) / stride + 1, Wo = (W + pl + pr - k) / stride + 1;
    pair x = pair_random((size_t)B * C * H * W, -1, 1), out = pair_nan((size_t)B * O * Ho * Wo);
    pair b = pair_random((size_t)O, -1, 1);
    mpair w = matrix_random(O, C * k * k, dt);
    cpu->conv2d_pad4(cpu, out.c, x.c, &w.c, bias ? b.c : NULL, B, C, H, W, O, k, k, stride, pt, pb, pl, pr);
    gpu->conv2d_pad4(gpu, out.g, x.g, &w.g, bias ? b.g : NULL, B, C, H, W, O, k, k, stride, pt, pb, pl, pr);
    char what[200];
    snprintf(what, sizeof what, "conv2d %s B=%d C=%d %dx%d O=%d k=%d s=%d pad=(%d,%d,%d,%d) bias=%d", dtype_name(dt), B, C,
             H, W, O, k, stride, pt, pb, pl, pr, bias);
    compare(what, &out, dtype_tol(dt), 1e-6);
    pair dy = pair_random(out.n, -1, 1), dx = pair_nan(x.n);
    cpu->conv2d_backward(cpu, dx.c, dy.c, &w.c, B, C, H, W, O, k, k, stride, pt, pb, pl, pr);
    gpu->conv2d_backward(gpu, dx.g, dy.g, &w.g, B, C, H, W, O, k, k, stride, pt, pb, pl, pr);
    snprintf(what, sizeof what, "conv2d_backward %s B=%d C=%d %dx%d O=%d k=%d s=%d pad=(%d,%d,%d,%d)", dtype_name(dt), B,
             C, H, W, O, k, stride, pt, pb, pl, pr);
    compare(what, &dx, dtype_tol(dt), 1e-6);
    pair_free(&x); pair_free(&out); pair_free(&b); pair_free(&dy); pair_free(&dx); matrix_free(&w);
}

static void test_attention(int B, int Tq, int Tk, int heads, int D, int causal) {
    const size_t nq = (size_t)B * Tq * heads * D, nk = (size_t)B * Tk * heads * D;
    const float scale = 1.0f / sqrtf((float)D);
    pair q = pair_random(nq, -2, 2), k = pair_random(nk, -2, 2), v = pair_random(nk, -1, 1);
    pair out = pair_nan(nq), lse = pair_nan((size_t)B * heads * Tq);
    cpu->attention_train(cpu, out.c, lse.c, q.c, k.c, v.c, B, Tq, Tk, heads, D, scale, causal);
    gpu->attention_train(gpu, out.g, lse.g, q.g, k.g, v.g, B, Tq, Tk, heads, D, scale, causal);
    char what[160];
    snprintf(what, sizeof what, "attention B=%d Tq=%d Tk=%d heads=%d D=%d causal=%d", B, Tq, Tk, heads, D, causal);
    compare(what, &out, 1e-4, 1e-6);
    snprintf(what, sizeof what, "attention lse B=%d Tq=%d Tk=%d heads=%d D=%d causal=%d", B, Tq, Tk, heads, D, causal);
    compare(what, &lse, 1e-5, 1e-6);
    pair plain = pair_nan(nq);
    cpu->attention(cpu, plain.c, q.c, k.c, v.c, B, Tq, Tk, heads, D, scale, causal);
    gpu->attention(gpu, plain.g, q.g, k.g, v.g, B, Tq, Tk, heads, D, scale, causal);
    snprintf(what, sizeof what, "attention (inference) B=%d Tq=%d Tk=%d heads=%d D=%d causal=%d", B, Tq, Tk, heads, D,
             causal);
    compare(what, &plain, 1e-4, 1e-6);
    pair dout = pair_random(nq, -1, 1), dq = pair_nan(nq), dk = pair_nan(nk), dv = pair_nan(nk);
    cpu->attention_backward(cpu, dq.c, dk.c, dv.c, dout.c, q.c, k.c, v.c, out.c, lse.c, B, Tq, Tk, heads, D, scale,
                            causal);
    gpu->attention_backward(gpu, dq.g, dk.g, dv.g, dout.g, q.g, k.g, v.g, out.g, lse.g, B, Tq, Tk, heads, D, scale,
                            causal);
    const char *names[3] = {"dq", "dk", "dv"};
    pair *grads[3] = {&dq, &dk, &dv};
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "attention_backward %s B=%d Tq=%d Tk=%d heads=%d D=%d causal=%d", names[i], B, Tq, Tk,
                 heads, D, causal);
        compare(what, grads[i], 1e-4, 1e-6);
    }
    /* dq alone (what textual inversion asks of cross-attention's keys is none) */
    pair dq2 = pair_nan(nq);
    cpu->attention_backward(cpu, dq2.c, NULL, NULL, dout.c, q.c, k.c, v.c, out.c, lse.c, B, Tq, Tk, heads, D, scale,
                            causal);
    gpu->attention_backward(gpu, dq2.g, NULL, NULL, dout.g, q.g, k.g, v.g, out.g, lse.g, B, Tq, Tk, heads, D, scale,
                            causal);
    snprintf(what, sizeof what, "attention_backward dq only B=%d Tq=%d Tk=%d heads=%d D=%d", B, Tq, Tk, heads, D);
    compare(what, &dq2, 1e-4, 1e-6);
    pair *all[] = {&q, &k, &v, &out, &lse, &plain, &dout, &dq, &dk, &dv, &dq2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_group_norm(int B, int C, int HW, int groups, int silu) {
    const size_t n = (size_t)B * C * HW;
    pair x = pair_random(n, -3, 5), g = pair_random((size_t)C, 0.5f, 1.5f), be = pair_random((size_t)C, -1, 1);
    pair out = pair_nan(n), mean = pair_nan((size_t)B * groups), rstd = pair_nan((size_t)B * groups);
    cpu->group_norm_train(cpu, out.c, mean.c, rstd.c, x.c, g.c, be.c, B, C, HW, groups, 1e-5f, silu);
    gpu->group_norm_train(gpu, out.g, mean.g, rstd.g, x.g, g.g, be.g, B, C, HW, groups, 1e-5f, silu);
    char what[160];
    snprintf(what, sizeof what, "group_norm B=%d C=%d HW=%d groups=%d silu=%d", B, C, HW, groups, silu);
    compare(what, &out, 1e-5, 1e-6);
    snprintf(what, sizeof what, "group_norm mean, rstd B=%d C=%d HW=%d groups=%d", B, C, HW, groups);
    compare(what, &mean, 1e-6, 1e-6);
    compare(what, &rstd, 1e-6, 1e-6);
    pair dy = pair_random(n, -1, 1), dx = pair_nan(n);
    cpu->group_norm_backward(cpu, dx.c, dy.c, x.c, g.c, be.c, mean.c, rstd.c, B, C, HW, groups, silu);
    gpu->group_norm_backward(gpu, dx.g, dy.g, x.g, g.g, be.g, mean.g, rstd.g, B, C, HW, groups, silu);
    snprintf(what, sizeof what, "group_norm_backward B=%d C=%d HW=%d groups=%d silu=%d", B, C, HW, groups, silu);
    compare(what, &dx, 1e-5, 1e-6);
    pair *all[] = {&x, &g, &be, &out, &mean, &rstd, &dy, &dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_layer_norm(int M, int N) {
    const size_t n = (size_t)M * N;
    pair x = pair_random(n, -3, 5), g = pair_random((size_t)N, 0.5f, 1.5f), be = pair_random((size_t)N, -1, 1);
    pair out = pair_nan(n), mean = pair_nan((size_t)M), rstd = pair_nan((size_t)M);
    cpu->layer_norm_train(cpu, out.c, mean.c, rstd.c, x.c, g.c, be.c, M, N, 1e-5f);
    gpu->layer_norm_train(gpu, out.g, mean.g, rstd.g, x.g, g.g, be.g, M, N, 1e-5f);
    char what[120];
    snprintf(what, sizeof what, "layer_norm M=%d N=%d", M, N);
    compare(what, &out, 1e-5, 1e-6);
    pair dy = pair_random(n, -1, 1), dx = pair_nan(n);
    cpu->layer_norm_backward(cpu, dx.c, dy.c, x.c, g.c, mean.c, rstd.c, M, N);
    gpu->layer_norm_backward(gpu, dx.g, dy.g, x.g, g.g, mean.g, rstd.g, M, N);
    snprintf(what, sizeof what, "layer_norm_backward M=%d N=%d", M, N);
    compare(what, &dx, 1e-5, 1e-6);
    pair *all[] = {&x, &g, &be, &out, &mean, &rstd, &dy, &dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

typedef void (*unary_fn)(ow_backend *, float *, const float *, size_t);
typedef void (*unary_backward_fn)(ow_backend *, float *, const float *, const float *, size_t);

static void test_unary(const char *name, size_t off_fwd, size_t off_bwd, size_t n) {
    pair x = pair_random(n, -6, 6), out = pair_nan(n), dy = pair_random(n, -1, 1), dx = pair_nan(n);
    unary_fn fc = *(unary_fn *)((char *)cpu + off_fwd), fg = *(unary_fn *)((char *)gpu + off_fwd);
    fc(cpu, out.c, x.c, n);
    fg(gpu, out.g, x.g, n);
    char what[80];
    snprintf(what, sizeof what, "%s n=%zu", name, n);
    compare(what, &out, 1e-6, 1e-6);
    unary_backward_fn bc = *(unary_backward_fn *)((char *)cpu + off_bwd), bg = *(unary_backward_fn *)((char *)gpu + off_bwd);
    bc(cpu, dx.c, dy.c, x.c, n);
    bg(gpu, dx.g, dy.g, x.g, n);
    snprintf(what, sizeof what, "%s_backward n=%zu", name, n);
    compare(what, &dx, 1e-6, 1e-6);
    pair_free(&x); pair_free(&out); pair_free(&dy); pair_free(&dx);
}

static void test_shapes(void) {
    const int B = 2, C = 37, H = 9, W = 13, HW = H * W;
    const size_t n = (size_t)B * C * HW;
    pair x = pair_random(n, -1, 1), y = pair_random(n, -1, 1), out = pair_nan(n);
    char what[120];
    cpu->add(cpu, out.c, x.c, y.c, n);
    gpu->add(gpu, out.g, x.g, y.g, n);
    compare("add", &out, 1e-7, 0);
    cpu->axpby(cpu, out.c, 0.3f, x.c, -1.7f, y.c, n);
    gpu->axpby(gpu, out.g, 0.3f, x.g, -1.7f, y.g, n);
    compare("axpby", &out, 1e-6, 1e-7);
    cpu->scale(cpu, out.c, x.c, 0.18215f, n);
    gpu->scale(gpu, out.g, x.g, 0.18215f, n);
    compare("scale", &out, 1e-7, 0);
    pair pc = pair_random((size_t)B * C, -1, 1);
    cpu->add_channel_bias(cpu, out.c, x.c, pc.c, B, C, HW);
    gpu->add_channel_bias(gpu, out.g, x.g, pc.g, B, C, HW);
    compare("add_channel_bias", &out, 1e-7, 0);
    cpu->to_channels_last(cpu, out.c, x.c, B, C, HW);
    gpu->to_channels_last(gpu, out.g, x.g, B, C, HW);
    compare("to_channels_last", &out, 0, 0);
    cpu->to_channels_first(cpu, out.c, x.c, B, C, HW);
    gpu->to_channels_first(gpu, out.g, x.g, B, C, HW);
    compare("to_channels_first", &out, 0, 0);
    pair up = pair_nan(4 * n);
    cpu->upsample_nearest2x(cpu, up.c, x.c, B, C, H, W);
    gpu->upsample_nearest2x(gpu, up.g, x.g, B, C, H, W);
    compare("upsample_nearest2x", &up, 0, 0);
    pair dup = pair_random(4 * n, -1, 1), dsum = pair_nan(n);
    cpu->upsample_nearest2x_backward(cpu, dsum.c, dup.c, B, C, H, W);
    gpu->upsample_nearest2x_backward(gpu, dsum.g, dup.g, B, C, H, W);
    compare("upsample_nearest2x_backward", &dsum, 1e-6, 1e-7);
    const int Cb = 11;
    pair bb = pair_random((size_t)B * Cb * HW, -1, 1), cat = pair_nan((size_t)B * (C + Cb) * HW);
    cpu->concat_channels(cpu, cat.c, x.c, bb.c, B, C, Cb, HW);
    gpu->concat_channels(gpu, cat.g, x.g, bb.g, B, C, Cb, HW);
    compare("concat_channels", &cat, 0, 0);
    pair dcat = pair_random(cat.n, -1, 1), da = pair_nan(n), db = pair_nan(bb.n);
    cpu->concat_channels_backward(cpu, da.c, db.c, dcat.c, B, C, Cb, HW);
    gpu->concat_channels_backward(gpu, da.g, db.g, dcat.g, B, C, Cb, HW);
    compare("concat_channels_backward a", &da, 0, 0);
    compare("concat_channels_backward b", &db, 0, 0);
    const int M = 77, N = 45;
    pair gx = pair_random((size_t)M * 2 * N, -3, 3), go = pair_nan((size_t)M * N);
    cpu->geglu(cpu, go.c, gx.c, M, N);
    gpu->geglu(gpu, go.g, gx.g, M, N);
    compare("geglu", &go, 1e-6, 1e-7);
    pair gdy = pair_random(go.n, -1, 1), gdx = pair_nan(gx.n);
    cpu->geglu_backward(cpu, gdx.c, gdy.c, gx.c, M, N);
    gpu->geglu_backward(gpu, gdx.g, gdy.g, gx.g, M, N);
    compare("geglu_backward", &gdx, 1e-6, 1e-7);
    /* embedding: a table with learned rows past the vocabulary; ids repeat */
    const int V = 50, D = 24, T = 13, first = 40, rows = 10;
    int32_t ids[13] = {0, 49, 41, 7, 41, 45, 2, 49, 40, 13, 41, 3, 48};
    pair table = pair_random((size_t)V * D, -1, 1), emb = pair_nan((size_t)T * D);
    cpu->embedding(cpu, emb.c, table.c, ids, T, D);
    gpu->embedding(gpu, emb.g, table.g, ids, T, D);
    compare("embedding", &emb, 0, 0);
    float *zeros = calloc((size_t)rows * D, sizeof *zeros);
    pair edy = pair_random((size_t)T * D, -1, 1), drows = pair_of(zeros, (size_t)rows * D);
    cpu->embedding_backward(cpu, drows.c, edy.c, ids, T, D, first, rows);
    gpu->embedding_backward(gpu, drows.g, edy.g, ids, T, D, first, rows);
    snprintf(what, sizeof what, "embedding_backward T=%d rows %d..%d (repeated ids)", T, first, first + rows - 1);
    compare(what, &drows, 1e-6, 1e-7);
    free(zeros);
    pair *all[] = {&x, &y, &out, &pc, &up, &dup, &dsum, &bb, &cat, &dcat, &da, &db, &gx, &go, &gdy, &gdx, &table, &emb,
                   &edy, &drows};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_matrix_download(ow_matrix_dtype dt) {
    mpair m = matrix_random(33, 70, dt);
    const size_t n = 33 * 70;
    pair back = pair_nan(n);
    float *h = malloc(n * sizeof *h);
    cpu->matrix_download(cpu, h, &m.c);
    cpu->upload(cpu, back.c, h, n);
    gpu->matrix_download(gpu, h, &m.g);
    gpu->upload(gpu, back.g, h, n);
    char what[60];
    snprintf(what, sizeof what, "matrix_download %s", dtype_name(dt));
    compare(what, &back, 0, 0);
    free(h);
    pair_free(&back);
    matrix_free(&m);
}

int main(int argc, char **argv) {
    int device = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            if (!(json = fopen(argv[++i], "w"))) {
                fprintf(stderr, "gpu_backend_ops: cannot write %s\n", argv[i]);
                return 1;
            }
        } else {
            fprintf(stderr, "usage: gpu_backend_ops [--device N] [--json FILE]\n");
            return 2;
        }
    }
    ow_error err = {0};
    if (ow_cuda_backend_create(&gpu, device, &err) != OW_OK) {
        printf("skipped: no CUDA backend here: %s\n", err.message);
        return 77;
    }
    if (ow_cpu_backend_create(&cpu, 0, &err) != OW_OK) {
        fprintf(stderr, "gpu_backend_ops: %s\n", err.message);
        return 1;
    }
    char kernels[400];
    gpu->describe_kernels(gpu, kernels, sizeof kernels);
    printf("# %s\n", kernels);

    const ow_matrix_dtype dtypes[3] = {OW_MATRIX_F32, OW_MATRIX_BF16, OW_MATRIX_F16};
    for (int d = 0; d < 3; d++) {
        ow_matrix_dtype dt = dtypes[d];
        test_linear(1, 1, 1, 1, dt);
        test_linear(77, 93, 61, 1, dt);
        test_linear(154, 320, 768, 0, dt);  /* cross-attention k/v of a guided batch */
        test_linear(4096, 320, 320, 1, dt); /* a 64x64 latent's q projection */
        test_linear(5, 9, 0, 1, dt);        /* K = 0: bias only */
        test_conv(2, 13, 19, 17, 11, 3, 1, 1, 1, 1, 1, 1, dt);
        test_conv(3, 6, 13, 18, 9, 3, 2, 1, 1, 1, 1, 1, dt);  /* Downsample2D */
        test_conv(2, 5, 12, 10, 7, 3, 2, 0, 1, 0, 1, 0, dt);  /* the VAE's (0, 1, 0, 1) */
        test_conv(2, 33, 17, 15, 70, 1, 1, 0, 0, 0, 0, 1, dt); /* 1x1 shortcut */
        test_conv(1, 320, 64, 64, 320, 3, 1, 1, 1, 1, 1, 1, dt); /* SD 1.5's first level */
        test_conv(1, 7300, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, dt);  /* CK far above the tile */
        test_matrix_download(dt);
    }
    test_attention(1, 1, 1, 1, 8, 0);
    test_attention(2, 77, 77, 12, 64, 1);   /* CLIP's causal self-attention */
    test_attention(2, 256, 77, 8, 40, 0);   /* cross-attention */
    test_attention(2, 333, 333, 5, 24, 0);  /* odd sizes */
    test_attention(1, 4096, 4096, 8, 40, 0); /* SD 1.5's 64x64 self-attention (several query blocks) */
    test_attention(1, 77, 77, 8, 64, 1);
    test_group_norm(2, 64, 37, 32, 0);
    test_group_norm(2, 320, 4096, 32, 1);
    test_group_norm(1, 96, 7, 3, 1);
    test_layer_norm(154, 768);
    test_layer_norm(7, 33);
    test_unary("silu", offsetof(ow_backend, silu), offsetof(ow_backend, silu_backward), 100003);
    test_unary("gelu", offsetof(ow_backend, gelu), offsetof(ow_backend, gelu_backward), 100003);
    test_unary("quick_gelu", offsetof(ow_backend, quick_gelu), offsetof(ow_backend, quick_gelu_backward), 100003);
    test_shapes();

    ow_error final = {0};
    if (gpu->status(gpu, &final) != OW_OK) {
        printf("FAIL the device reported: %s\n", final.message);
        failures++;
    }
    printf("%d cases, %d failed\n", cases, failures);
    if (json) fclose(json);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return failures ? 1 : 0;
}
