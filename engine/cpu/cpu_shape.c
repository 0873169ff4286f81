/* cpu_shape.c: layout and broadcast ops of the CPU backend: per-channel bias,
 * channels-first <-> channels-last transposes (blocked for the cache), nearest 2x
 * upsampling, channel concatenation and embedding lookup. */
#include <string.h>

#include "cpu/cpu_internal.h"

#define SERIAL_ELEMENTS 65536
#define TILE 32

static int parallel_for(const cpu_state *c, size_t elements) {
    return c->use_omp && c->threads > 1 && elements > SERIAL_ELEMENTS;
}

OW_CPU_HOT
static void add_scalar_row(float *out, const float *x, float v, int n) {
    for (int i = 0; i < n; i++) out[i] = x[i] + v;
}

void ow_cpu_add_channel_bias(ow_backend *b, float *out, const float *x, const float *per_channel,
                             int B, int C, int HW) {
    cpu_state *c = cpu_of(b);
    long rows = (long)B * C;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel_for(c, (size_t)rows * HW))
    for (long r = 0; r < rows; r++)
        add_scalar_row(out + (size_t)r * HW, x + (size_t)r * HW, per_channel[r], HW);
}

/* out (R, S) = x (S, R)^T for one image, in TILE x TILE blocks. */
static void transpose_blocks(float *out, const float *x, int S, int R, int s0, int s1) {
    for (int r0 = 0; r0 < R; r0 += TILE) {
        int r1 = r0 + TILE < R ? r0 + TILE : R;
        for (int s = s0; s < s1; s++) {
            const float *src = x + (size_t)s * R;
            for (int r = r0; r < r1; r++) out[(size_t)r * S + s] = src[r];
        }
    }
}

/* Transposes each of B matrices x (S, R) into out (R, S); parallel over (image, block of S). */
static void batched_transpose(cpu_state *c, float *out, const float *x, int B, int S, int R) {
    int sblocks = (S + TILE - 1) / TILE;
    long tasks = (long)B * sblocks;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel_for(c, (size_t)B * S * R))
    for (long t = 0; t < tasks; t++) {
        int bi = (int)(t / sblocks), sb = (int)(t % sblocks);
        int s0 = sb * TILE, s1 = s0 + TILE < S ? s0 + TILE : S;
        transpose_blocks(out + (size_t)bi * S * R, x + (size_t)bi * S * R, S, R, s0, s1);
    }
}

void ow_cpu_to_channels_last(ow_backend *b, float *out, const float *x, int B, int C, int HW) {
    /* (B, C, HW) -> (B, HW, C) */
    batched_transpose(cpu_of(b), out, x, B, C, HW);
}

void ow_cpu_to_channels_first(ow_backend *b, float *out, const float *x, int B, int C, int HW) {
    /* (B, HW, C) -> (B, C, HW) */
    batched_transpose(cpu_of(b), out, x, B, HW, C);
}

void ow_cpu_upsample_nearest2x(ow_backend *b, float *out, const float *x, int B, int C, int H, int W) {
    cpu_state *c = cpu_of(b);
    long rows = (long)B * C * H; /* input rows; each becomes two output rows */
    int W2 = 2 * W;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel_for(c, (size_t)rows * W * 4))
    for (long r = 0; r < rows; r++) {
        const float *src = x + (size_t)r * W;
        float *dst = out + (size_t)r * 2 * W2;
        for (int j = 0; j < W; j++) dst[2 * j] = dst[2 * j + 1] = src[j];
        memcpy(dst + W2, dst, (size_t)W2 * sizeof(float));
    }
}

void ow_cpu_concat_channels(ow_backend *b, float *out, const float *a, const float *bb,
                            int B, int Ca, int Cb, int HW) {
    cpu_state *c = cpu_of(b);
    size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel_for(c, (size_t)B * (na + nb)))
    for (int bi = 0; bi < B; bi++) {
        float *dst = out + (size_t)bi * (na + nb);
        if (na) memcpy(dst, a + (size_t)bi * na, na * sizeof(float));
        if (nb) memcpy(dst + na, bb + (size_t)bi * nb, nb * sizeof(float));
    }
}

void ow_cpu_embedding(ow_backend *b, float *out, const float *table, const int32_t *ids, int T, int D) {
    (void)b;
    for (int t = 0; t < T; t++)
        memcpy(out + (size_t)t * D, table + (size_t)ids[t] * D, (size_t)D * sizeof(float));
}
