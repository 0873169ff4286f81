/* cpu_gemm_backward.c: input gradients of the CPU backend's matrix-product ops
 * (textual inversion never differentiates a weight, see backend.h).
 *
 * linear_backward is one product dx = dy · w, cut into row (or column) slices that
 * the threads share. conv2d_backward is a transposed convolution: for one image and
 * one block of input channels, cols = w^T · dy is formed one tile of output columns
 * at a time (the tile bounded by the per-thread scratch) and scattered back into that
 * block of dx (col2im); 1x1 stride-1 convolutions are a plain product per image.
 *
 * bf16 weights multiply through oneDNN (cpu_gemm.c), dy rounded to bf16 as it is
 * copied into the thread's scratch.
 *
 * Every task writes a part of dx that no other task touches, and how the work is cut
 * depends on the shapes only, never on the thread count: each value of dx is summed
 * in the same order with 1 thread or 64, so the result is the same bits. */
#include <stddef.h>
#include <string.h>

#include <cblas.h>

#include "cpu/cpu_internal.h"

/* Below this many multiply-adds a product runs on one thread. */
#define SERIAL_MACS 262144.0
/* Linear: a product is cut into at most this many slices, none shorter than MIN_SLICE. */
#define LINEAR_SLICES 32
#define LINEAR_MIN_SLICE 64
/* Convolution: rows of w^T (input channel x tap) per task, and columns per tile. */
#define CONV_TARGET_ROWS 128
#define CONV_MAX_COLUMNS 1024
/* 1x1 convolution: columns per task, and the number of tasks worth aiming for. */
#define DIRECT_COLUMNS 512
#define DIRECT_TASKS 32

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int round_up16(int n) { return (n + 15) / 16 * 16; }

static void zero_floats(float *p, size_t n) {
    if (n) memset(p, 0, n * sizeof(float));
}

/* ---- linear ---- */

/* dx rows [r0, r1), columns [k0, k1) of dx (M, K) = dy (M, N) · w (N, K). */
static void linear_backward_block(cpu_state *c, float *dx, const float *dy, const ow_matrix *w, int N, int K,
                                  int r0, int r1, int k0, int k1) {
    int rows = r1 - r0, cols = k1 - k0;
    if (rows <= 0 || cols <= 0) return;
    if (N == 0) {
        for (int r = r0; r < r1; r++) zero_floats(dx + (size_t)r * K + k0, (size_t)cols);
        return;
    }
    if (w->dtype == OW_MATRIX_BF16) {
        ow_cpu_gemm_rows_bf16(c, rows, cols, N, dy + (size_t)r0 * N, N, w->data.bf16 + k0, K, 1,
                              dx + (size_t)r0 * K + k0, K, 0);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, N, 1.0f, dy + (size_t)r0 * N, N,
                w->data.f32 + k0, K, 0.0f, dx + (size_t)r0 * K + k0, K);
}

void ow_cpu_linear_backward(ow_backend *b, float *dx, const float *dy, const ow_matrix *w, int M, int N, int K) {
    cpu_state *c = cpu_of(b);
    ow_cpu_blas_threads(c);
    if (M <= 0 || K <= 0) return;
    ow_matrix view;
    w = ow_cpu_matrix_f32(c, w, &view);
    if (!c->use_omp) { /* OpenBLAS has the threads: one call */
        linear_backward_block(c, dx, dy, w, N, K, 0, M, 0, K);
        return;
    }
    /* Slice the longer side of dx (multiples of 16, at least LINEAR_MIN_SLICE long). */
    int split_rows = M >= K;
    int len = split_rows ? M : K;
    int slice = max_int(LINEAR_MIN_SLICE, round_up16((len + LINEAR_SLICES - 1) / LINEAR_SLICES));
    int nslices = (len + slice - 1) / slice;
    int parallel = c->threads > 1 && nslices > 1 && (double)M * N * K >= SERIAL_MACS;
    #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (parallel)
    for (int s = 0; s < nslices; s++) {
        int a0 = s * slice, a1 = min_int(len, a0 + slice);
        if (split_rows) linear_backward_block(c, dx, dy, w, N, K, a0, a1, 0, K);
        else linear_backward_block(c, dx, dy, w, N, K, 0, M, a0, a1);
    }
}

/* ---- convolution ---- */

/* The adjoint of cpu_gemm.c's im2col_tile: adds col ((c1 - c0) * kh * kw, np), whose
 * row (c, i, j) and column p belong to output position p0 + p, into dx (C, H, W) at
 * [c, oy*stride - pt + i, ox*stride - pl + j]; entries that fall in the padding are
 * dropped. Taps and positions are visited in a fixed order. */
OW_CPU_HOT
static void col2im_tile_add(float *dx, const float *col, int c0, int c1, int H, int W, int kh, int kw,
                            int stride, int pt, int pl, int Wo, int p0, int np) {
    size_t row = 0;
    for (int ch = c0; ch < c1; ch++) {
        float *dxc = dx + (size_t)ch * H * W;
        for (int i = 0; i < kh; i++) {
            for (int j = 0; j < kw; j++, row++) {
                const float *src = col + row * (size_t)np;
                int p = p0, end = p0 + np;
                while (p < end) {
                    int oy = p / Wo, ox = p % Wo;
                    int run = min_int(Wo - ox, end - p); /* positions left on this output row */
                    int iy = oy * stride - pt + i;
                    if (iy >= 0 && iy < H) {
                        const float *s = src + (p - p0);
                        float *dst = dxc + (size_t)iy * W;
                        int ix0 = ox * stride - pl + j;
                        /* positions t in [lo, hi) land inside the row */
                        int lo = ix0 < 0 ? (-ix0 + stride - 1) / stride : 0;
                        int hi = W - ix0 <= 0 ? 0 : (W - ix0 + stride - 1) / stride;
                        if (lo > run) lo = run;
                        if (hi > run) hi = run;
                        if (stride == 1 && hi > lo) {
                            float *d = dst + ix0 + lo; /* inside the row: 0 <= ix0 + lo < W */
                            for (int t = 0; t < hi - lo; t++) d[t] += s[lo + t];
                        } else if (stride > 1) {
                            for (int t = lo; t < hi; t++) dst[ix0 + (ptrdiff_t)t * stride] += s[t];
                        }
                    }
                    p += run;
                }
            }
        }
    }
}

/* This thread's bf16 copy of dy[:, p0 : p0 + np] (O rows of stride P), (O, np). */
static const uint16_t *dy_tile_bf16(cpu_state *c, const float *dyb, int O, int P, int p0, int np) {
    uint16_t *t = ow_cpu_scratch16(c);
    ow_cpu_rows_to_bf16(t, (size_t)np, dyb + p0, (size_t)P, O, np);
    return t;
}

/* Columns of dy a bf16 tile of O rows may hold (0: O rows do not fit). */
static int bf16_tile_columns(int O) { return (int)(OW_CPU_SCRATCH16 / (size_t)(O > 0 ? O : 1)); }

/* dx (C, HW) = w^T (C, O) · dy (O, HW) for one image, channels [c0, c1), columns [p0, p1). */
static void direct_backward_block(cpu_state *c, float *dxb, const float *dyb, const ow_matrix *w, int C, int O, int P,
                                  int c0, int c1, int p0, int p1) {
    if (w->dtype == OW_MATRIX_BF16) {
        int step = bf16_tile_columns(O);
        for (int p = p0; p < p1; p += step) {
            int np = min_int(step, p1 - p);
            const uint16_t *t = dy_tile_bf16(c, dyb, O, P, p, np);
            /* A = w^T: A[ch][o] = w[o*C + c0 + ch] */
            ow_cpu_dnnl_gemm(c->dnnl, c1 - c0, np, O, w->data.bf16 + c0, 1, C, t, np, 1,
                             dxb + (size_t)c0 * P + p, P, 0);
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c1 - c0, p1 - p0, O, 1.0f, w->data.f32 + c0, C,
                dyb + p0, P, 0.0f, dxb + (size_t)c0 * P + p0, P);
}

/* 1x1 stride 1 without padding: tasks are (image, block of channels, block of columns). */
static void direct_backward(cpu_state *c, float *dx, const float *dy, const ow_matrix *w, int B, int C, int O, int P) {
    if (!c->use_omp) {
        for (int bi = 0; bi < B; bi++)
            direct_backward_block(c, dx + (size_t)bi * C * P, dy + (size_t)bi * O * P, w, C, O, P, 0, C, 0, P);
        return;
    }
    int pchunk = min_int(P, DIRECT_COLUMNS);
    int ptiles = (P + pchunk - 1) / pchunk;
    long per_channel_tasks = (long)B * ptiles;
    int cblocks = per_channel_tasks >= DIRECT_TASKS ? 1 : (int)((DIRECT_TASKS + per_channel_tasks - 1) / per_channel_tasks);
    int cchunk = min_int(C, max_int(64, round_up16((C + cblocks - 1) / cblocks)));
    int ctiles = (C + cchunk - 1) / cchunk;
    long ntasks = per_channel_tasks * ctiles;
    int parallel = c->threads > 1 && ntasks > 1 && (double)B * P * C * O >= SERIAL_MACS;
    #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (parallel)
    for (long task = 0; task < ntasks; task++) {
        int ct = (int)(task % ctiles);
        int pti = (int)((task / ctiles) % ptiles);
        int bi = (int)(task / ((long)ctiles * ptiles));
        int c0 = ct * cchunk, p0 = pti * pchunk;
        direct_backward_block(c, dx + (size_t)bi * C * P, dy + (size_t)bi * O * P, w, C, O, P, c0,
                              min_int(C, c0 + cchunk), p0, min_int(P, p0 + pchunk));
    }
}

static float weight_at(const ow_matrix *w, size_t i) {
    if (w->dtype == OW_MATRIX_F32) return (w->data.f32)[i];
    float f;
    ow_cpu_from_bf16(&f, w->data.bf16 + i, 1);
    return f;
}

/* Kernels with more taps than fit 16 columns of scratch (or, for bf16 weights, more
 * output channels than a tile of dy holds): plain loops, one (image, channel) per task. */
static void naive_backward(cpu_state *c, float *dx, const float *dy, const ow_matrix *w, int B, int C, int H, int W,
                           int O, int kh, int kw, int stride, int pt, int pl, int Ho, int Wo) {
    long ntasks = (long)B * C;
    #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (c->use_omp && c->threads > 1)
    for (long task = 0; task < ntasks; task++) {
        int bi = (int)(task / C), ch = (int)(task % C);
        float *dxc = dx + (size_t)task * H * W;
        zero_floats(dxc, (size_t)H * W);
        for (int o = 0; o < O; o++) {
            const float *dyo = dy + ((size_t)bi * O + o) * Ho * Wo;
            size_t wk = ((size_t)o * C + ch) * kh * kw;
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    for (int oy = 0; oy < Ho; oy++) {
                        int iy = oy * stride - pt + i;
                        if (iy < 0 || iy >= H) continue;
                        for (int ox = 0; ox < Wo; ox++) {
                            int ix = ox * stride - pl + j;
                            if (ix >= 0 && ix < W) dxc[(size_t)iy * W + ix] += weight_at(w, wk + (size_t)(i * kw + j)) * dyo[(size_t)oy * Wo + ox];
                        }
                    }
        }
    }
}

void ow_cpu_conv2d_backward(ow_backend *b, float *dx, const float *dy, const ow_matrix *w, int B, int C, int H, int W,
                            int O, int kh, int kw, int stride, int pt, int pb, int pl, int pr) {
    cpu_state *c = cpu_of(b);
    ow_cpu_blas_threads(c);
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0) return;
    size_t HW = (size_t)H * W;
    if (O <= 0 || kh <= 0 || kw <= 0 || stride <= 0 || H + pt + pb < kh || W + pl + pr < kw) {
        zero_floats(dx, (size_t)B * C * HW); /* no output depends on x */
        return;
    }
    int Ho = (H + pt + pb - kh) / stride + 1;
    int Wo = (W + pl + pr - kw) / stride + 1;
    int P = Ho * Wo;
    int taps = kh * kw;
    ow_matrix view;
    w = ow_cpu_matrix_f32(c, w, &view);
    int bf16 = w->dtype == OW_MATRIX_BF16;
    if (bf16 && bf16_tile_columns(O) < 16) {
        naive_backward(c, dx, dy, w, B, C, H, W, O, kh, kw, stride, pt, pl, Ho, Wo);
        return;
    }
    if (kh == 1 && kw == 1 && stride == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0) {
        direct_backward(c, dx, dy, w, B, C, O, P);
        return;
    }
    if ((size_t)taps * 16 > OW_CPU_SCRATCH_FLOATS) {
        naive_backward(c, dx, dy, w, B, C, H, W, O, kh, kw, stride, pt, pl, Ho, Wo);
        return;
    }

    /* A task is (image, block of cchunk input channels): about CONV_TARGET_ROWS rows of
     * w^T (whole multiples of 8 channels once there are that many), and its column tile
     * as wide as the scratch allows, at most CONV_MAX_COLUMNS. */
    int cchunk = (CONV_TARGET_ROWS + taps - 1) / taps;
    if (cchunk > 8) cchunk = (cchunk + 7) / 8 * 8;
    cchunk = min_int(cchunk, (int)(OW_CPU_SCRATCH_FLOATS / (16 * (size_t)taps)));
    cchunk = max_int(1, min_int(C, cchunk));
    int cblocks = (C + cchunk - 1) / cchunk;
    size_t kmax = (size_t)cchunk * taps;
    int ptile = (int)(OW_CPU_SCRATCH_FLOATS / kmax);
    ptile = min_int(min_int(ptile, CONV_MAX_COLUMNS), P);
    if (bf16) ptile = min_int(ptile, bf16_tile_columns(O));
    if (ptile < P) ptile = ptile / 16 * 16;
    size_t CK = (size_t)C * taps;
    long ntasks = (long)B * cblocks;
    int parallel = c->use_omp && c->threads > 1 && ntasks > 1 && (double)B * P * O * (double)CK >= SERIAL_MACS;

    #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (parallel)
    for (long task = 0; task < ntasks; task++) {
        int bi = (int)(task / cblocks);
        int c0 = (int)(task % cblocks) * cchunk, c1 = min_int(C, c0 + cchunk);
        int kdim = (c1 - c0) * taps;
        float *dxb = dx + (size_t)bi * C * HW;
        const float *dyb = dy + (size_t)bi * O * P;
        float *col = c->scratch + (size_t)ow_cpu_thread_index() * OW_CPU_SCRATCH_FLOATS;
        zero_floats(dxb + (size_t)c0 * HW, (size_t)(c1 - c0) * HW);
        for (int p0 = 0; p0 < P; p0 += ptile) {
            int np = min_int(P, p0 + ptile) - p0;
            /* col (kdim, np) = w[:, c0*taps : c1*taps]^T (kdim, O) . dy[:, p0 : p0+np] (O, np) */
            if (bf16)
                ow_cpu_dnnl_gemm(c->dnnl, kdim, np, O, w->data.bf16 + (size_t)c0 * taps, 1, (long)CK,
                                 dy_tile_bf16(c, dyb, O, P, p0, np), np, 1, col, np, 0);
            else
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kdim, np, O, 1.0f,
                            w->data.f32 + (size_t)c0 * taps, (int)CK, dyb + p0, P, 0.0f, col, np);
            col2im_tile_add(dxb, col, c0, c1, H, W, kh, kw, stride, pt, pl, Wo, p0, np);
        }
    }
}
