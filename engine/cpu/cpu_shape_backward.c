/* cpu_shape_backward.c: input gradients of the CPU backend's layout ops: nearest 2x
 * upsampling (each input pixel collects its 2x2 block), channel concatenation (the
 * gradient is split back into its two parts) and the embedding lookup (scatter-add
 * into the trained rows only; the frozen vocabulary rows get nothing). */
#include <string.h>

#include "cpu/cpu_internal.h"

#define SERIAL_ELEMENTS 65536

static int parallel_for(const cpu_state *c, size_t elements) {
    return c->use_omp && c->threads > 1 && elements > SERIAL_ELEMENTS;
}

/* dx (W) = the sums of the 2x2 blocks of two rows of dy (2W each). */
OW_CPU_HOT
static void sum_2x2_row(float *dx, const float *top, const float *bottom, int W) {
    for (int j = 0; j < W; j++)
        dx[j] = (top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1]);
}

void ow_cpu_upsample_nearest2x_backward(ow_backend *b, float *dx, const float *dy, int B, int C, int H, int W) {
    cpu_state *c = cpu_of(b);
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0) return;
    long rows = (long)B * C * H; /* rows of dx (B, C, H, W); row r collects rows 2r and 2r+1 of dy */
    size_t W2 = (size_t)2 * W;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel_for(c, (size_t)rows * W * 4))
    for (long r = 0; r < rows; r++) {
        const float *top = dy + (size_t)r * 2 * W2;
        sum_2x2_row(dx + (size_t)r * W, top, top + W2, W);
    }
}

void ow_cpu_concat_channels_backward(ow_backend *b, float *da, float *db, const float *dy, int B, int Ca, int Cb,
                                     int HW) {
    cpu_state *c = cpu_of(b);
    if (B <= 0 || HW <= 0 || Ca < 0 || Cb < 0) return;
    size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    size_t moved = (da ? na : 0) + (db ? nb : 0);
    if (moved == 0) return;
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (parallel_for(c, (size_t)B * moved))
    for (int bi = 0; bi < B; bi++) {
        const float *src = dy + (size_t)bi * (na + nb); /* (Ca + Cb, HW) of image bi */
        if (da && na) memcpy(da + (size_t)bi * na, src, na * sizeof(float));
        if (db && nb) memcpy(db + (size_t)bi * nb, src + na, nb * sizeof(float));
    }
}

void ow_cpu_embedding_backward(ow_backend *b, float *drows, const float *dy, const int32_t *ids, int T, int D,
                               int first_row, int n_rows) {
    (void)b;
    if (D <= 0 || n_rows <= 0) return;
    /* T is a prompt's length (77 for CLIP): serial, so repeated ids add in position order. */
    for (int t = 0; t < T; t++) {
        long row = (long)ids[t] - first_row;
        if (row < 0 || row >= n_rows) continue; /* a frozen vocabulary row, or not one of ours */
        float *dst = drows + (size_t)row * D;
        const float *src = dy + (size_t)t * D;
        for (int d = 0; d < D; d++) dst[d] += src[d];
    }
}
