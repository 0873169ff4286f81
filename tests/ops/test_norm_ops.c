/* test_norm_ops.c: group_norm (with and without the fused SiLU) and layer_norm of
 * the CPU backend against plain double-precision references (torch semantics:
 * biased variance, eps inside the square root), including a large offset that a
 * one-pass E[x^2] - E[x]^2 would get wrong, and one group of 20 x 4096 values. */
#include "ops_common.h"

static void test_group_norm(ow_backend *b, int B, int C, int HW, int groups, float eps, int silu, double offset) {
    size_t n = (size_t)B * C * HW;
    float *x = host_random(n, offset - 1, offset + 1);
    float *gamma = host_random((size_t)C, 0.5, 1.5), *beta = host_random((size_t)C, -0.5, 0.5);
    float *want = host_zeros(n);
    ref_group_norm(want, x, gamma, beta, B, C, HW, groups, eps, silu);
    float *dx = dev_copy(b, x, n), *dg = dev_copy(b, gamma, (size_t)C), *db = dev_copy(b, beta, (size_t)C);
    float *dout = dev_copy(b, NULL, n);
    b->group_norm(b, dout, dx, dg, db, B, C, HW, groups, eps, silu);
    float *got = dev_take(b, dout, n);
    char what[160];
    snprintf(what, sizeof what, "group_norm B=%d C=%d HW=%d groups=%d eps=%g silu=%d offset=%g", B, C, HW, groups,
             eps, silu, offset);
    check_close(what, got, want, n, 4e-6 + 2e-7 * fabs(offset));
    b->free(b, dx); b->free(b, dg); b->free(b, db);
    free(x); free(gamma); free(beta); free(want); free(got);
}

static void test_layer_norm(ow_backend *b, int M, int N, float eps, double offset) {
    size_t n = (size_t)M * N;
    float *x = host_random(n, offset - 2, offset + 2);
    float *gamma = host_random((size_t)N, 0.5, 1.5), *beta = host_random((size_t)N, -0.5, 0.5);
    float *want = host_zeros(n);
    ref_layer_norm(want, x, gamma, beta, M, N, eps);
    float *dx = dev_copy(b, x, n), *dg = dev_copy(b, gamma, (size_t)N), *db = dev_copy(b, beta, (size_t)N);
    float *dout = dev_copy(b, NULL, n);
    b->layer_norm(b, dout, dx, dg, db, M, N, eps);
    float *got = dev_take(b, dout, n);
    char what[128];
    snprintf(what, sizeof what, "layer_norm M=%d N=%d eps=%g offset=%g", M, N, eps, offset);
    check_close(what, got, want, n, 5e-6 * (1 + fabs(offset)));
    b->free(b, dx); b->free(b, dg); b->free(b, db);
    free(x); free(gamma); free(beta); free(want); free(got);
}

int main(void) {
    rng_seed(3);
    ow_backend *b = make_backend(3);
    test_group_norm(b, 1, 1, 1, 1, 1e-5f, 0, 0);
    test_group_norm(b, 2, 12, 35, 4, 1e-5f, 0, 0);
    test_group_norm(b, 3, 12, 35, 4, 1e-6f, 1, 0);
    test_group_norm(b, 2, 96, 49, 32, 1e-6f, 1, 3);    /* SD: 32 groups, eps 1e-6 (VAE) */
    test_group_norm(b, 1, 40, 4096, 2, 1e-5f, 0, 100); /* 20 x 4096 values per group, mean 100 */
    test_group_norm(b, 2, 6, 7, 6, 1e-3f, 1, 0);       /* one channel per group, eps matters */
    test_layer_norm(b, 1, 1, 1e-5f, 0);                /* one value: output is beta */
    test_layer_norm(b, 77, 768, 1e-5f, 0);
    test_layer_norm(b, 13, 37, 1e-5f, 50);
    test_layer_norm(b, 300, 321, 1e-6f, 0);
    b->destroy(b);
    CHECK_DONE();
}
