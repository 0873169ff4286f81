/* test_elementwise_ops.c: the element-wise, broadcast and layout ops of the CPU
 * backend against plain references: SiLU, exact GELU, quick GELU (wide input
 * range, in place too), add, axpby, scale, GEGLU, per-channel bias, both
 * transposes, nearest 2x upsampling, channel concat, embedding, and the memory
 * functions (64-byte alignment, copies). */
#include <stdint.h>

#include "ops_common.h"

typedef double (*ref_fn)(double);
typedef void (*op_fn)(ow_backend *, float *, const float *, size_t);

static void test_unary(ow_backend *b, const char *name, op_fn op, ref_fn ref, size_t n, double lo, double hi,
                       double tol, int in_place) {
    float *x = host_random(n, lo, hi);
    if (n > 8) { x[0] = 0.0f; x[1] = (float)lo; x[2] = (float)hi; x[3] = -100.0f; x[4] = 100.0f; x[5] = -1e-8f; }
    float *want = host_zeros(n);
    for (size_t i = 0; i < n; i++) want[i] = (float)ref(x[i]);
    float *dx = dev_copy(b, x, n);
    float *dout = in_place ? dx : dev_copy(b, NULL, n);
    op(b, dout, dx, n);
    float *got = dev_take(b, dout, n);
    if (!in_place) b->free(b, dx);
    char what[128];
    snprintf(what, sizeof what, "%s n=%zu x in [%g, %g]%s", name, n, lo, hi, in_place ? " in place" : "");
    check_close(what, got, want, n, tol);
    free(x); free(want); free(got);
}

int main(void) {
    rng_seed(4);
    ow_backend *b = make_backend(3);
    char what[128];

    /* memory */
    float *p = b->alloc(b, 3);
    CHECK(p && ((uintptr_t)p % 64) == 0, "alloc(3) is 64-byte aligned (%p)", (void *)p);
    b->free(b, p);
    p = b->alloc(b, 0);
    CHECK(p != NULL, "alloc(0) returns a pointer that free accepts");
    b->free(b, p);
    CHECK(b->alloc(b, SIZE_MAX / 2) == NULL, "alloc of SIZE_MAX/2 floats fails cleanly");
    {
        size_t n = 1001;
        float *h = host_random(n, -1, 1), *back = host_zeros(n);
        float *d1 = dev_copy(b, h, n), *d2 = dev_copy(b, NULL, n);
        b->copy(b, d2, d1, n);
        b->download(b, back, d2, n);
        check_close("upload, copy, download round trip", back, h, n, 0.0);
        b->free(b, d1); b->free(b, d2);
        free(h); free(back);
    }

    size_t sizes[] = {1, 17, 100003};
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s];
        test_unary(b, "silu", b->silu, ref_silu, n, -12, 12, 2e-6, 0);
        test_unary(b, "gelu", b->gelu, ref_gelu, n, -8, 8, 2e-6, 0);
        test_unary(b, "quick_gelu", b->quick_gelu, ref_quick_gelu, n, -12, 12, 2e-6, 0);
    }
    test_unary(b, "silu", b->silu, ref_silu, 5003, -3, 3, 1e-6, 1);
    test_unary(b, "gelu", b->gelu, ref_gelu, 5003, -3, 3, 1e-6, 1);
    test_unary(b, "gelu", b->gelu, ref_gelu, 5003, -0.01, 0.01, 1e-8, 0); /* small x: no cancellation */

    /* Relative accuracy in the tails, where the values are tiny: got / want against 1. */
    {
        size_t n = 4001;
        float *x = host_random(n, -9, -2.5), *ratio = host_zeros(n), *ones = host_zeros(n);
        float *dx = dev_copy(b, x, n), *dout = dev_copy(b, NULL, n);
        b->gelu(b, dout, dx, n);
        float *got = dev_take(b, dout, n);
        for (size_t i = 0; i < n; i++) { ratio[i] = (float)(got[i] / ref_gelu(x[i])); ones[i] = 1.0f; }
        /* float rounding of x^2 / 2 (up to ~40) in the exponent bounds this at ~1e-5. */
        check_close("gelu x in [-9, -2.5]: got / want", ratio, ones, n, 2e-5);
        dout = dev_copy(b, NULL, n);
        b->silu(b, dout, dx, n);
        free(got);
        got = dev_take(b, dout, n);
        for (size_t i = 0; i < n; i++) ratio[i] = (float)(got[i] / ref_silu(x[i]));
        check_close("silu x in [-9, -2.5]: got / want", ratio, ones, n, 1e-6);
        b->free(b, dx);
        free(x); free(ratio); free(ones); free(got);
    }

    /* add, axpby, scale (out aliasing x) */
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s] + 70000 * (s == 2);
        float *x = host_random(n, -2, 2), *y = host_random(n, -2, 2);
        float *w1 = host_zeros(n), *w2 = host_zeros(n), *w3 = host_zeros(n);
        for (size_t i = 0; i < n; i++) {
            w1[i] = x[i] + y[i];
            w2[i] = (float)(0.75 * x[i] - 1.25 * y[i]);
            w3[i] = (float)(-0.3 * (double)x[i]);
        }
        float *dx = dev_copy(b, x, n), *dy = dev_copy(b, y, n), *dout = dev_copy(b, NULL, n);
        b->add(b, dout, dx, dy, n);
        float *g1 = host_zeros(n);
        b->download(b, g1, dout, n);
        snprintf(what, sizeof what, "add n=%zu", n);
        check_close(what, g1, w1, n, 0.0);
        b->axpby(b, dout, 0.75f, dx, -1.25f, dy, n);
        b->download(b, g1, dout, n);
        snprintf(what, sizeof what, "axpby n=%zu", n);
        check_close(what, g1, w2, n, 1e-6);
        b->scale(b, dx, dx, -0.3f, n);
        b->download(b, g1, dx, n);
        snprintf(what, sizeof what, "scale n=%zu in place", n);
        check_close(what, g1, w3, n, 1e-6);
        b->free(b, dx); b->free(b, dy); b->free(b, dout);
        free(x); free(y); free(w1); free(w2); free(w3); free(g1);
    }

    /* geglu: out (M, N) = x[:, :N] * gelu(x[:, N:]) */
    {
        int M = 37, N = 53;
        float *x = host_random((size_t)M * 2 * N, -4, 4), *want = host_zeros((size_t)M * N);
        for (int m = 0; m < M; m++)
            for (int j = 0; j < N; j++)
                want[(size_t)m * N + j] =
                    (float)(x[(size_t)m * 2 * N + j] * ref_gelu(x[(size_t)m * 2 * N + N + j]));
        float *dx = dev_copy(b, x, (size_t)M * 2 * N), *dout = dev_copy(b, NULL, (size_t)M * N);
        b->geglu(b, dout, dx, M, N);
        float *got = dev_take(b, dout, (size_t)M * N);
        check_close("geglu M=37 N=53", got, want, (size_t)M * N, 4e-6);
        b->free(b, dx);
        free(x); free(want); free(got);
    }

    /* add_channel_bias, transposes, upsample, concat */
    {
        int B = 2, C = 7, H = 5, W = 9, HW = H * W, Cb = 3;
        size_t n = (size_t)B * C * HW;
        float *x = host_random(n, -1, 1), *pc = host_random((size_t)B * C, -1, 1);
        float *want = host_zeros(n), *got = host_zeros(n);
        for (int bi = 0; bi < B; bi++)
            for (int ch = 0; ch < C; ch++)
                for (int i = 0; i < HW; i++) {
                    size_t idx = ((size_t)bi * C + ch) * HW + i;
                    want[idx] = x[idx] + pc[bi * C + ch];
                }
        float *dx = dev_copy(b, x, n), *dpc = dev_copy(b, pc, (size_t)B * C), *dout = dev_copy(b, NULL, n);
        b->add_channel_bias(b, dout, dx, dpc, B, C, HW);
        b->download(b, got, dout, n);
        check_close("add_channel_bias B=2 C=7 HW=45", got, want, n, 0.0);

        for (int bi = 0; bi < B; bi++)
            for (int ch = 0; ch < C; ch++)
                for (int i = 0; i < HW; i++) want[((size_t)bi * HW + i) * C + ch] = x[((size_t)bi * C + ch) * HW + i];
        b->to_channels_last(b, dout, dx, B, C, HW);
        b->download(b, got, dout, n);
        check_close("to_channels_last (2,7,45) -> (2,45,7)", got, want, n, 0.0);
        float *dback = dev_copy(b, NULL, n);
        b->to_channels_first(b, dback, dout, B, C, HW);
        b->download(b, got, dback, n);
        check_close("to_channels_first undoes to_channels_last", got, x, n, 0.0);
        b->free(b, dback);

        size_t nu = n * 4;
        float *wu = host_zeros(nu), *gu = host_zeros(nu);
        for (int bc = 0; bc < B * C; bc++)
            for (int y = 0; y < 2 * H; y++)
                for (int xx = 0; xx < 2 * W; xx++)
                    wu[((size_t)bc * 2 * H + y) * 2 * W + xx] = x[((size_t)bc * H + y / 2) * W + xx / 2];
        float *du = dev_copy(b, NULL, nu);
        b->upsample_nearest2x(b, du, dx, B, C, H, W);
        b->download(b, gu, du, nu);
        check_close("upsample_nearest2x (2,7,5,9) -> (2,7,10,18)", gu, wu, nu, 0.0);
        b->free(b, du);
        free(wu); free(gu);

        size_t nb = (size_t)B * Cb * HW, nc = n + nb;
        float *y = host_random(nb, -1, 1), *wc = host_zeros(nc), *gc = host_zeros(nc);
        for (int bi = 0; bi < B; bi++) {
            memcpy(wc + (size_t)bi * (C + Cb) * HW, x + (size_t)bi * C * HW, (size_t)C * HW * sizeof(float));
            memcpy(wc + ((size_t)bi * (C + Cb) + C) * HW, y + (size_t)bi * Cb * HW, (size_t)Cb * HW * sizeof(float));
        }
        float *dy = dev_copy(b, y, nb), *dc = dev_copy(b, NULL, nc);
        b->concat_channels(b, dc, dx, dy, B, C, Cb, HW);
        b->download(b, gc, dc, nc);
        check_close("concat_channels (2,7,45) + (2,3,45)", gc, wc, nc, 0.0);
        b->free(b, dy); b->free(b, dc);
        free(y); free(wc); free(gc);

        b->free(b, dx); b->free(b, dpc); b->free(b, dout);
        free(x); free(pc); free(want); free(got);
    }

    /* A large transpose (parallel path, partial blocks). */
    {
        int B = 2, C = 70, HW = 1031;
        size_t n = (size_t)B * C * HW;
        float *x = host_random(n, -1, 1), *want = host_zeros(n);
        for (int bi = 0; bi < B; bi++)
            for (int ch = 0; ch < C; ch++)
                for (int i = 0; i < HW; i++) want[((size_t)bi * HW + i) * C + ch] = x[((size_t)bi * C + ch) * HW + i];
        float *dx = dev_copy(b, x, n), *dout = dev_copy(b, NULL, n);
        b->to_channels_last(b, dout, dx, B, C, HW);
        float *got = dev_take(b, dout, n);
        check_close("to_channels_last (2,70,1031)", got, want, n, 0.0);
        b->free(b, dx);
        free(x); free(want); free(got);
    }

    /* embedding */
    {
        int V = 11, D = 13, T = 6;
        int32_t ids[6] = {0, 10, 3, 3, 7, 1};
        float *table = host_random((size_t)V * D, -1, 1), *want = host_zeros((size_t)T * D);
        for (int t = 0; t < T; t++) memcpy(want + (size_t)t * D, table + (size_t)ids[t] * D, (size_t)D * sizeof(float));
        float *dt = dev_copy(b, table, (size_t)V * D), *dout = dev_copy(b, NULL, (size_t)T * D);
        b->embedding(b, dout, dt, ids, T, D);
        float *got = dev_take(b, dout, (size_t)T * D);
        check_close("embedding T=6 D=13 V=11", got, want, (size_t)T * D, 0.0);
        b->free(b, dt);
        free(table); free(want); free(got);
    }

    b->destroy(b);
    CHECK_DONE();
}
