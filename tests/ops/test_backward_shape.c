/* test_backward_shape.c: the input gradients of the CPU backend's layout ops.
 * upsample_nearest2x_backward against finite differences of a double-precision
 * nearest upsampling, L(x) = sum(dy * up(x)), on odd and large sizes (the parallel
 * path) and with 1 vs 3 threads; concat_channels_backward split back exactly, with
 * either part NULL (and left untouched); embedding_backward checked exactly: ids that
 * mix frozen vocabulary rows, trained rows (repeated, so they accumulate), and ids
 * past the trained rows, which must be skipped. Outputs are filled with NaN (or, for
 * the accumulating embedding gradient, known values) beforehand, so anything the
 * backward forgets to write fails; the trained rows sit between guard rows that must
 * stay untouched. */
#include "grad_check.h"
#include "ops_common.h"

#define FD_H 1e-6

static float *dev_fill(ow_backend *b, size_t n, float v) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = v;
    float *d = dev_copy(b, h, n);
    free(h);
    return d;
}

/* ---- nearest 2x upsampling ---- */

typedef struct {
    const float *dy; /* (B, C, 2H, 2W) */
    int B, C, H, W;
} upsample_ctx;

/* sum(dy * upsample_nearest2x(x)) in double, the forward written out: out[y][x] = in[y/2][x/2]. */
static double upsample_loss(void *vctx, const double *x) {
    const upsample_ctx *c = vctx;
    int H2 = 2 * c->H, W2 = 2 * c->W;
    double L = 0.0;
    for (long plane = 0; plane < (long)c->B * c->C; plane++)
        for (int y = 0; y < H2; y++)
            for (int xx = 0; xx < W2; xx++)
                L += (double)c->dy[((size_t)plane * H2 + y) * W2 + xx] *
                     x[((size_t)plane * c->H + y / 2) * c->W + xx / 2];
    return L;
}

static float *run_upsample_backward(ow_backend *b, const float *dy, int B, int C, int H, int W) {
    size_t nx = (size_t)B * C * H * W;
    float *d_dy = dev_copy(b, dy, nx * 4), *d_dx = dev_fill(b, nx, NAN);
    b->upsample_nearest2x_backward(b, d_dx, d_dy, B, C, H, W);
    b->free(b, d_dy);
    return dev_take(b, d_dx, nx);
}

static void test_upsample(ow_backend *b, int B, int C, int H, int W, int use_fd) {
    size_t nx = (size_t)B * C * H * W;
    float *x = host_random(nx, -1, 1), *dy = host_random(nx * 4, -1, 1);
    float *got = run_upsample_backward(b, dy, B, C, H, W);
    double *want = malloc((nx ? nx : 1) * sizeof *want);
    char what[160];
    if (use_fd) {
        upsample_ctx ctx = {dy, B, C, H, W};
        double *xd = to_double(x, nx);
        fd_gradient(upsample_loss, &ctx, xd, nx, FD_H, want);
        free(xd);
        snprintf(what, sizeof what, "upsample_nearest2x_backward B=%d C=%d %dx%d, fd", B, C, H, W);
    } else {
        /* too large for differences of the whole loss: the 2x2 sums in double */
        int W2 = 2 * W;
        for (size_t i = 0; i < nx; i++) {
            size_t plane = i / ((size_t)H * W), y = i / W % H, xx = i % W;
            const float *top = dy + (plane * 2 * H + 2 * y) * W2 + 2 * xx;
            want[i] = (double)top[0] + top[1] + top[W2] + top[W2 + 1];
        }
        snprintf(what, sizeof what, "upsample_nearest2x_backward B=%d C=%d %dx%d, 2x2 sums in double", B, C, H, W);
    }
    /* Each value is a sum of 4 floats in [-1, 1]: three roundings of at most 2^-24 * 4
     * each, so 1e-6 of max|grad| (~4) plus 1e-7 holds it; a missed or extra term is ~0.5. */
    check_gradient(what, got, want, nx, 1e-6, 1e-7);
    free(x); free(dy); free(got); free(want);
}

static void test_upsample_threads(ow_backend *b1, ow_backend *b3, int B, int C, int H, int W) {
    size_t nx = (size_t)B * C * H * W;
    float *dy = host_random(nx * 4, -1, 1);
    float *one = run_upsample_backward(b1, dy, B, C, H, W), *three = run_upsample_backward(b3, dy, B, C, H, W);
    char what[160];
    snprintf(what, sizeof what, "upsample_nearest2x_backward B=%d C=%d %dx%d: 3 threads vs 1, bitwise", B, C, H, W);
    check_close(what, three, one, nx, 0.0);
    CHECK(memcmp(one, three, nx * sizeof(float)) == 0, "%s", what);
    free(dy); free(one); free(three);
}

/* ---- channel concatenation ---- */

/* which: 3 = both parts, 1 = da only (db NULL), 2 = db only (da NULL). */
static void test_concat(ow_backend *b, int B, int Ca, int Cb, int HW, int which) {
    size_t na = (size_t)B * Ca * HW, nb = (size_t)B * Cb * HW, ny = na + nb;
    float *dy = host_random(ny, -1, 1);
    float *d_dy = dev_copy(b, dy, ny);
    float *d_a = (which & 1) ? dev_fill(b, na, NAN) : NULL, *d_b = (which & 2) ? dev_fill(b, nb, NAN) : NULL;
    b->concat_channels_backward(b, d_a, d_b, d_dy, B, Ca, Cb, HW);
    float *want_a = host_zeros(na), *want_b = host_zeros(nb);
    for (int bi = 0; bi < B; bi++) {
        memcpy(want_a + (size_t)bi * Ca * HW, dy + (size_t)bi * (Ca + Cb) * HW, (size_t)Ca * HW * sizeof(float));
        memcpy(want_b + (size_t)bi * Cb * HW, dy + ((size_t)bi * (Ca + Cb) + Ca) * HW, (size_t)Cb * HW * sizeof(float));
    }
    char what[160];
    if (d_a) {
        float *got = dev_take(b, d_a, na);
        snprintf(what, sizeof what, "concat_channels_backward B=%d Ca=%d Cb=%d HW=%d: da%s", B, Ca, Cb, HW,
                 d_b ? "" : " (db NULL)");
        check_close(what, got, want_a, na, 0.0);
        free(got);
    }
    if (d_b) {
        float *got = dev_take(b, d_b, nb);
        snprintf(what, sizeof what, "concat_channels_backward B=%d Ca=%d Cb=%d HW=%d: db%s", B, Ca, Cb, HW,
                 which & 1 ? "" : " (da NULL)");
        check_close(what, got, want_b, nb, 0.0);
        free(got);
    }
    /* dy is read only */
    float *dy_after = dev_take(b, d_dy, ny);
    CHECK(memcmp(dy_after, dy, ny * sizeof(float)) == 0, "concat_channels_backward left dy unchanged");
    free(dy); free(dy_after); free(want_a); free(want_b);
}

/* Concatenation followed by its backward gives the parts back: the two ops agree on the layout. */
static void test_concat_roundtrip(ow_backend *b, int B, int Ca, int Cb, int HW) {
    size_t na = (size_t)B * Ca * HW, nb = (size_t)B * Cb * HW;
    float *a = host_random(na, -1, 1), *bb = host_random(nb, -1, 1);
    float *d_a = dev_copy(b, a, na), *d_b = dev_copy(b, bb, nb), *d_cat = dev_copy(b, NULL, na + nb);
    b->concat_channels(b, d_cat, d_a, d_b, B, Ca, Cb, HW);
    float *g_a = dev_fill(b, na, NAN), *g_b = dev_fill(b, nb, NAN);
    b->concat_channels_backward(b, g_a, g_b, d_cat, B, Ca, Cb, HW);
    float *got_a = dev_take(b, g_a, na), *got_b = dev_take(b, g_b, nb);
    char what[160];
    snprintf(what, sizeof what, "concat_channels then its backward B=%d Ca=%d Cb=%d HW=%d: a", B, Ca, Cb, HW);
    check_close(what, got_a, a, na, 0.0);
    snprintf(what, sizeof what, "concat_channels then its backward B=%d Ca=%d Cb=%d HW=%d: b", B, Ca, Cb, HW);
    check_close(what, got_b, bb, nb, 0.0);
    b->free(b, d_a); b->free(b, d_b); b->free(b, d_cat);
    free(a); free(bb); free(got_a); free(got_b);
}

/* ---- embedding lookup ---- */

/* Values k/16 with |k| <= 64: every sum below is exact in float, in any order. */
static float *host_sixteenths(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)((int)rng_uniform(-64, 65) / 16.0);
    return p;
}

#define GUARD 1234.5f /* the value of the rows around the trained ones */

static void test_embedding(ow_backend *b, const int32_t *ids, int T, int D, int first_row, int n_rows,
                           const char *label) {
    size_t ny = (size_t)T * D, nr = (size_t)n_rows * D;
    float *dy = host_sixteenths(ny), *rows0 = host_sixteenths(nr);
    /* drows sits between a guard row before and two after, which must stay as they are */
    float *d_dy = dev_copy(b, dy, ny), *d_all = dev_fill(b, nr + 3 * (size_t)D, GUARD);
    b->upload(b, d_all + D, rows0, nr);
    b->embedding_backward(b, d_all + D, d_dy, ids, T, D, first_row, n_rows);
    float *all = dev_take(b, d_all, nr + 3 * (size_t)D), *got = all + D;
    /* the rule written out: drows[r] = rows0[r] + sum of dy[t] over the t with ids[t] == first_row + r */
    float *want = malloc((nr ? nr : 1) * sizeof *want);
    int hits = 0;
    for (int r = 0; r < n_rows; r++)
        for (int d = 0; d < D; d++) {
            double s = rows0[(size_t)r * D + d];
            for (int t = 0; t < T; t++)
                if (ids[t] == first_row + r) s += dy[(size_t)t * D + d];
            want[(size_t)r * D + d] = (float)s;
        }
    for (int t = 0; t < T; t++) hits += ids[t] >= first_row && ids[t] < first_row + n_rows;
    char what[200];
    snprintf(what, sizeof what, "embedding_backward %s: T=%d D=%d rows %d..%d, %d of %d ids trained", label, T, D,
             first_row, first_row + n_rows - 1, hits, T);
    check_close(what, got, want, nr, 0.0);
    int guards_intact = 1;
    for (size_t i = 0; i < (size_t)D; i++) guards_intact &= all[i] == GUARD;
    for (size_t i = D + nr; i < nr + 3 * (size_t)D; i++) guards_intact &= all[i] == GUARD;
    CHECK(guards_intact, "embedding_backward %s: nothing written outside the %d trained rows", label, n_rows);
    float *dy_after = dev_take(b, d_dy, ny);
    CHECK(memcmp(dy_after, dy, ny * sizeof(float)) == 0, "embedding_backward left dy unchanged");
    free(dy); free(rows0); free(all); free(want); free(dy_after);
}

int main(void) {
    rng_seed(14);
    ow_backend *b = make_backend(2);
    CHECK(b->upsample_nearest2x_backward && b->concat_channels_backward && b->embedding_backward,
          "the backward ops are set");

    test_upsample(b, 1, 1, 1, 1, 1);
    test_upsample(b, 2, 3, 5, 7, 1);
    test_upsample(b, 1, 4, 6, 3, 1);
    test_upsample(b, 2, 8, 64, 40, 0); /* 163840 inputs: the parallel path */
    test_upsample(b, 1, 3, 1, 129, 0);
    ow_backend *b1 = make_backend(1), *b3 = make_backend(3);
    test_upsample_threads(b1, b3, 2, 8, 64, 40);

    test_concat(b, 1, 1, 1, 1, 3);
    test_concat(b, 2, 3, 5, 7, 3);
    test_concat(b, 3, 4, 2, 33, 1);
    test_concat(b, 3, 4, 2, 33, 2);
    test_concat(b, 2, 0, 5, 6, 3);          /* empty first part */
    test_concat(b, 2, 64, 32, 4096, 3);     /* the parallel path */
    test_concat_roundtrip(b, 2, 7, 3, 45);

    /* A CLIP-like prompt: vocabulary 0..99, trained rows 100..103. */
    enum { VOCAB = 100, NEW = 4 };
    int32_t prompt[] = {99, 100, 5, 101, 100, 103, 0, 100, 42, 99, 103, 7};
    test_embedding(b, prompt, (int)(sizeof prompt / sizeof prompt[0]), 24, VOCAB, NEW, "mixed, repeated");
    int32_t none[] = {0, 1, 2, 99, 98};
    test_embedding(b, none, 5, 16, VOCAB, NEW, "vocabulary only");
    /* Ids past the trained rows (first_row + n_rows and beyond) are not ours: skipped. */
    int32_t past[] = {100, 104, 101, 105, 101, 103}; /* 104, 105 would land on the guard rows */
    test_embedding(b, past, 6, 8, VOCAB, NEW, "ids past the trained rows");
    /* Trained rows starting at 0, and the 49408-row CLIP vocabulary with one new row at the end. */
    int32_t low[] = {0, 0, 1, 2, 3, 0};
    test_embedding(b, low, 6, 5, 0, 3, "first_row 0");
    int32_t clip[77];
    for (int t = 0; t < 77; t++) clip[t] = t == 0 ? 49406 : t == 5 || t == 9 ? 49408 : t < 12 ? 320 + t : 49407;
    test_embedding(b, clip, 77, 768, 49408, 1, "CLIP sizes");

    b1->destroy(b1); b3->destroy(b3);
    b->destroy(b);
    CHECK_DONE();
}
