/* test_matmul_ops.c: linear and conv2d / conv2d_pad4 of the CPU backend against
 * plain double-precision loops, on odd sizes: bias and none, kernels 1 and 3,
 * stride 1 and 2, symmetric and asymmetric padding, B > 1, shapes that force the
 * im2col tiles, the channel chunks and the output-channel split. Each case runs with
 * f32 weights, with bf16 weights (oneDNN) and with f16 weights; the bf16 reference
 * multiplies the bf16-rounded weights and inputs, so both keep f32 accumulation's
 * tolerance. f16 weights (held for memory, multiplied as f32) must also give the f32
 * product of the same values bit for bit. */
#include "ops_common.h"

static ow_matrix_dtype dtype = OW_MATRIX_F32;

static void test_linear(ow_backend *b, int M, int N, int K, int with_bias) {
    float *x = host_random((size_t)M * K, -1, 1), *w = host_random((size_t)N * K, -1, 1);
    float *bias = with_bias ? host_random((size_t)N, -1, 1) : NULL;
    float *want = host_zeros((size_t)M * N);
    ow_matrix dw = dev_matrix(b, w, N, K, dtype);
    float *dx = dev_copy(b, x, (size_t)M * K);
    if (dtype == OW_MATRIX_BF16) {
        host_round_bf16(x, (size_t)M * K);
        host_round_bf16(w, (size_t)N * K);
    }
    if (dtype == OW_MATRIX_F16) host_round_f16(w, (size_t)N * K);
    ref_linear(want, x, w, bias, M, N, K);
    float *db = bias ? dev_copy(b, bias, (size_t)N) : NULL;
    float *dout = dev_copy(b, NULL, (size_t)M * N);
    b->linear(b, dout, dx, &dw, db, M, N, K);
    float *got = dev_take(b, dout, (size_t)M * N);
    char what[128];
    snprintf(what, sizeof what, "linear %s M=%d N=%d K=%d bias=%d", dtype_name(dtype), M, N, K, with_bias);
    check_close(what, got, want, (size_t)M * N, 5e-7 * (K + 10));
    if (dtype == OW_MATRIX_F16) { /* w already holds the f16 values */
        ow_matrix w32 = dev_matrix(b, w, N, K, OW_MATRIX_F32);
        float *d32 = dev_copy(b, NULL, (size_t)M * N);
        b->linear(b, d32, dx, &w32, db, M, N, K);
        float *got32 = dev_take(b, d32, (size_t)M * N);
        CHECK(memcmp(got, got32, (size_t)M * N * sizeof(float)) == 0, "%s: the f32 product's bits", what);
        b->matrix_free(b, &w32);
        free(got32);
    }
    b->free(b, dx); b->matrix_free(b, &dw); if (db) b->free(b, db);
    free(x); free(w); free(bias); free(want); free(got);
}

static void test_conv(ow_backend *b, int B, int C, int H, int W, int O, int kh, int kw, int stride,
                      int pt, int pb, int pl, int pr, int with_bias, int use_pad4) {
    int Ho = (H + pt + pb - kh) / stride + 1, Wo = (W + pl + pr - kw) / stride + 1;
    size_t nx = (size_t)B * C * H * W, nw = (size_t)O * C * kh * kw, no = (size_t)B * O * Ho * Wo;
    float *x = host_random(nx, -1, 1), *w = host_random(nw, -1, 1);
    float *bias = with_bias ? host_random((size_t)O, -1, 1) : NULL;
    float *want = host_zeros(no);
    float *dx = dev_copy(b, x, nx), *db = bias ? dev_copy(b, bias, (size_t)O) : NULL;
    ow_matrix dw = dev_matrix(b, w, O, C * kh * kw, dtype);
    if (dtype == OW_MATRIX_BF16) {
        host_round_bf16(x, nx);
        host_round_bf16(w, nw);
    }
    if (dtype == OW_MATRIX_F16) host_round_f16(w, nw);
    ref_conv2d(want, x, w, bias, B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr);
    float *dout = dev_copy(b, NULL, no);
    if (use_pad4) b->conv2d_pad4(b, dout, dx, &dw, db, B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr);
    else b->conv2d(b, dout, dx, &dw, db, B, C, H, W, O, kh, kw, stride, pt);
    float *got = dev_take(b, dout, no);
    char what[200];
    snprintf(what, sizeof what, "conv2d%s %s B=%d C=%d %dx%d O=%d k=%dx%d s=%d pad=(%d,%d,%d,%d) bias=%d -> %dx%d",
             use_pad4 ? "_pad4" : "", dtype_name(dtype), B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr, with_bias, Ho,
             Wo);
    check_close(what, got, want, no, 5e-7 * ((double)C * kh * kw + 10));
    if (dtype == OW_MATRIX_F16) { /* w already holds the f16 values */
        ow_matrix w32 = dev_matrix(b, w, O, C * kh * kw, OW_MATRIX_F32);
        float *d32 = dev_copy(b, NULL, no);
        b->conv2d_pad4(b, d32, dx, &w32, db, B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr);
        float *got32 = dev_take(b, d32, no);
        CHECK(memcmp(got, got32, no * sizeof(float)) == 0, "%s: the f32 product's bits", what);
        b->matrix_free(b, &w32);
        free(got32);
    }
    b->free(b, dx); b->matrix_free(b, &dw); if (db) b->free(b, db);
    free(x); free(w); free(bias); free(want); free(got);
}

int main(void) {
    rng_seed(1);
    ow_backend *b = make_backend(3);
    CHECK(b->conv2d_pad4 != NULL, "conv2d_pad4 is set");
    CHECK(b->matrix_supports(b, OW_MATRIX_BF16), "the CPU backend multiplies bf16 matrices (oneDNN)");
    CHECK(b->matrix_supports(b, OW_MATRIX_F16), "the CPU backend holds f16 matrices");
    static const ow_matrix_dtype passes[3] = {OW_MATRIX_F32, OW_MATRIX_BF16, OW_MATRIX_F16};
    for (int pass = 0; pass < 3; pass++) {
    dtype = passes[pass];

    test_linear(b, 1, 1, 1, 1);
    test_linear(b, 7, 5, 3, 0);
    test_linear(b, 77, 93, 61, 1);     /* rows split */
    test_linear(b, 13, 301, 127, 1);   /* columns split */
    test_linear(b, 130, 67, 129, 0);
    test_linear(b, 5, 9, 0, 1);        /* K = 0: bias only */

    /* 1x1 stride 1: the direct path; then 1x1 with stride / padding through im2col. */
    test_conv(b, 2, 7, 9, 11, 5, 1, 1, 1, 0, 0, 0, 0, 1, 0);
    test_conv(b, 3, 33, 17, 15, 70, 1, 1, 1, 0, 0, 0, 0, 0, 0);
    test_conv(b, 2, 5, 9, 8, 3, 1, 1, 2, 0, 0, 0, 0, 1, 0);
    /* 3x3 pad 1 stride 1 (ResNet conv) and stride 2 (Downsample2D, padding=1). */
    test_conv(b, 2, 13, 19, 17, 11, 3, 3, 1, 1, 1, 1, 1, 1, 0);
    test_conv(b, 3, 6, 13, 18, 9, 3, 3, 2, 1, 1, 1, 1, 1, 0);
    test_conv(b, 1, 4, 9, 9, 3, 3, 3, 2, 1, 1, 1, 1, 0, 0);
    /* VAE encoder downsample: pad right 1, bottom 1, then stride 2 pad 0. */
    test_conv(b, 2, 5, 12, 10, 7, 3, 3, 2, 0, 1, 0, 1, 1, 1);
    test_conv(b, 1, 3, 11, 13, 4, 3, 3, 2, 0, 1, 0, 1, 0, 1);
    test_conv(b, 2, 3, 7, 9, 5, 3, 3, 1, 2, 0, 1, 3, 1, 1);    /* arbitrary asymmetric */
    /* Rectangular and larger kernels, no padding. */
    test_conv(b, 1, 3, 10, 12, 4, 2, 5, 1, 0, 0, 0, 0, 1, 0);
    test_conv(b, 2, 2, 8, 8, 3, 5, 5, 1, 2, 2, 2, 2, 1, 0);
    /* Many columns: several im2col tiles per image. */
    test_conv(b, 2, 9, 45, 47, 6, 3, 3, 1, 1, 1, 1, 1, 1, 0);
    /* Few positions, many output channels: the output-channel split. */
    test_conv(b, 2, 40, 5, 5, 200, 3, 3, 1, 1, 1, 1, 1, 1, 0);
    /* More unfolded rows than the scratch holds for 16 columns: channel chunks (C*9 > 65536). */
    test_conv(b, 1, 7300, 3, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0);
    /* bf16 rows longer than the scratch holds: products in chunks of K. */
    if (dtype == OW_MATRIX_BF16) test_linear(b, 3, 5, (1 << 21) + 77, 1);
    }

    b->destroy(b);
    CHECK_DONE();
}
