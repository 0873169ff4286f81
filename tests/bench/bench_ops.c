/* bench_ops.c: times the CPU backend on the hot shapes of an SD 1.5 UNet at 512x512,
 * batch 2 (64x64 latents -> 4096 tokens at the top level), and prints one line per op:
 *   name <TAB> best milliseconds <TAB> GFLOP/s (or GB/s for memory-bound ops).
 * The matrix products run twice: f32 weights (OpenBLAS), then bf16 weights (oneDNN,
 * names ending in _bf16); the kernels chosen are printed first.
 * Usage: bench_ops [threads] [repeats]. tests/bench/run prints it beside PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/backend.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float *filled(ow_backend *b, size_t n, unsigned seed) {
    float *d = b->alloc(b, n);
    if (!d) {
        fprintf(stderr, "bench_ops: out of memory allocating %zu floats\n", n);
        exit(1);
    }
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        d[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 2.0f; /* CPU backend: host memory */
    }
    return d;
}

static ow_matrix weight(ow_backend *b, int rows, int cols, unsigned seed, ow_matrix_dtype dtype) {
    ow_matrix m;
    if (b->matrix_create(b, &m, filled(b, (size_t)rows * cols, seed), rows, cols, dtype) != OW_OK) {
        fprintf(stderr, "bench_ops: out of memory for a %d x %d weight\n", rows, cols);
        exit(1);
    }
    return m;
}

typedef struct bench {
    ow_backend *b;
    int repeats;
} bench;

#define TIME(bn, name, work, unit, body)                                                  \
    do {                                                                                  \
        body; /* warm-up */                                                               \
        double best_ = 1e30;                                                              \
        for (int r_ = 0; r_ < (bn)->repeats; r_++) {                                      \
            double t0_ = now_ms();                                                        \
            body;                                                                         \
            double t_ = now_ms() - t0_;                                                   \
            if (t_ < best_) best_ = t_;                                                   \
        }                                                                                 \
        printf("%s\t%.3f\t%.2f %s\n", name, best_, (work) / (best_ * 1e6), unit);         \
        fflush(stdout);                                                                   \
    } while (0)

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    ow_backend *b = NULL;
    ow_error err = {0};
    if (ow_cpu_backend_create(&b, threads, &err) != OW_OK) {
        fprintf(stderr, "bench_ops: %s\n", err.message);
        return 1;
    }
    bench bn = {b, repeats < 1 ? 1 : repeats};
    printf("# cpu backend, %d threads, best of %d\n", b->threads, bn.repeats);

    const int B = 2, C = 320, H = 64, W = 64, T = H * W, heads = 8, D = 40, ctx = 77, ff = 1280;
    for (int pass = 0; pass < 2; pass++) {
    ow_matrix_dtype dt = pass ? OW_MATRIX_BF16 : OW_MATRIX_F32;
    const char *sfx = pass ? "_bf16" : "";
    b->attention_dtype = dt;
    char name[96];
#define NAME(s) (snprintf(name, sizeof name, "%s%s", s, sfx), name)
    /* conv 3x3 320 -> 320 at 64x64, pad 1 (ResnetBlock2D) */
    {
        float *x = filled(b, (size_t)B * C * T, 1), *bias = filled(b, C, 3);
        ow_matrix w3 = weight(b, C, C * 9, 2, dt), w1 = weight(b, C, C, 2, dt);
        float *out = filled(b, (size_t)B * C * T, 4);
        double flops = 2.0 * B * C * T * (double)C * 9;
        TIME(&bn, NAME("conv3x3_320_64x64_b2"), flops, "GFLOP/s",
             b->conv2d(b, out, x, &w3, bias, B, C, H, W, C, 3, 3, 1, 1));
        TIME(&bn, NAME("conv1x1_320_64x64_b2"), 2.0 * B * C * T * (double)C, "GFLOP/s",
             b->conv2d(b, out, x, &w1, bias, B, C, H, W, C, 1, 1, 1, 0));
        float *out2 = filled(b, (size_t)B * C * T / 4, 5);
        TIME(&bn, NAME("conv3x3_s2_320_64x64_b2"), flops / 4, "GFLOP/s",
             b->conv2d(b, out2, x, &w3, bias, B, C, H, W, C, 3, 3, 2, 1));
        if (!pass)
            TIME(&bn, "group_norm_silu_320_64x64_b2", 2.0 * B * C * T * 4, "GB/s",
                 b->group_norm(b, out, x, bias, bias, B, C, T, 32, 1e-5f, 1));
        b->free(b, x); b->matrix_free(b, &w3); b->matrix_free(b, &w1); b->free(b, bias); b->free(b, out);
        b->free(b, out2);
    }
    /* self-attention 4096 tokens x 8 heads x 40, cross-attention 4096 x 77 */
    {
        size_t nq = (size_t)B * T * heads * D, nc = (size_t)B * ctx * heads * D;
        float *q = filled(b, nq, 6), *k = filled(b, nq, 7), *v = filled(b, nq, 8), *out = filled(b, nq, 9);
        float *kc = filled(b, nc, 10), *vc = filled(b, nc, 11);
        float scale = 0.15811388f; /* 1/sqrt(40) */
        TIME(&bn, NAME("attention_self_4096x4096_h8_d40_b2"), 4.0 * B * heads * (double)T * T * D, "GFLOP/s",
             b->attention(b, out, q, k, v, B, T, T, heads, D, scale, 0));
        TIME(&bn, NAME("attention_cross_4096x77_h8_d40_b2"), 4.0 * B * heads * (double)T * ctx * D, "GFLOP/s",
             b->attention(b, out, q, kc, vc, B, T, ctx, heads, D, scale, 0));
        b->free(b, q); b->free(b, k); b->free(b, v); b->free(b, out); b->free(b, kc); b->free(b, vc);
    }
    /* GEGLU feed-forward: Linear 320 -> 2*1280 on 8192 rows, geglu, Linear 1280 -> 320 */
    {
        int M = B * T;
        float *x = filled(b, (size_t)M * C, 12), *b1 = filled(b, 2 * ff, 14);
        ow_matrix w1 = weight(b, 2 * ff, C, 13, dt), w2 = weight(b, C, ff, 17, dt);
        float *h = filled(b, (size_t)M * 2 * ff, 15), *g = filled(b, (size_t)M * ff, 16);
        float *out = filled(b, (size_t)M * C, 18);
        TIME(&bn, NAME("linear_8192x320_to_2560"), 2.0 * M * 2 * ff * (double)C, "GFLOP/s",
             b->linear(b, h, x, &w1, b1, M, 2 * ff, C));
        if (!pass) TIME(&bn, "geglu_8192x1280", (double)M * 3 * ff * 4, "GB/s", b->geglu(b, g, h, M, ff));
        TIME(&bn, NAME("linear_8192x1280_to_320"), 2.0 * M * ff * (double)C, "GFLOP/s",
             b->linear(b, out, g, &w2, b1, M, C, ff));
        if (!pass)
            TIME(&bn, "layer_norm_8192x320", (double)M * C * 2 * 4, "GB/s", b->layer_norm(b, out, x, b1, b1, M, C, 1e-5f));
        b->free(b, x); b->matrix_free(b, &w1); b->free(b, b1); b->free(b, h); b->free(b, g); b->matrix_free(b, &w2);
        b->free(b, out);
    }
#undef NAME
    }
    char kernels[512];
    b->describe_kernels(b, kernels, sizeof kernels);
    printf("# kernels: %s\n", kernels);
    b->destroy(b);
    return 0;
}
