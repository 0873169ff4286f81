/* cpu_gemm.c: the matrix-product ops of the CPU backend: Linear (one product
 * split into row or column slices across threads) and 2-D convolution (1x1 stride 1
 * as a direct product per image; everything else as an im2col tile per thread
 * followed by a product, so the unfolded input never exceeds the per-thread scratch).
 * f32 weights multiply through OpenBLAS; bf16 weights through oneDNN, the f32
 * activations rounded to bf16 as they are copied into the thread's scratch. */
#include <stddef.h>
#include <string.h>

#include <cblas.h>

#include "cpu/cpu_internal.h"

/* Below this many multiply-adds a product runs on one thread. */
#define SERIAL_MACS 262144.0

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

void ow_cpu_gemm_rows_bf16(cpu_state *c, int M, int N, int K, const float *x, long ldx, const uint16_t *B, long brs,
                           long bcs, float *out, long ldo, int accumulate) {
    uint16_t *xb = ow_cpu_scratch16(c);
    int kstep = (size_t)K < OW_CPU_SCRATCH16 ? K : (int)OW_CPU_SCRATCH16;
    int rows = (int)(OW_CPU_SCRATCH16 / (size_t)kstep);
    for (int k0 = 0; k0 < K; k0 += kstep) {
        int nk = min_int(kstep, K - k0);
        for (int r = 0; r < M; r += rows) {
            int nr = min_int(rows, M - r);
            ow_cpu_rows_to_bf16(xb, (size_t)nk, x + (size_t)r * ldx + k0, (size_t)ldx, nr, nk);
            ow_cpu_dnnl_gemm(c->dnnl, nr, N, nk, xb, nk, 1, B + (size_t)k0 * brs, brs, bcs, out + (size_t)r * ldo, ldo,
                             accumulate || k0 > 0);
        }
    }
}

/* out rows [r0, r1) of a Linear, columns [n0, n1). */
static void linear_block(cpu_state *c, float *out, const float *x, const ow_matrix *wm, const float *bias,
                         int N, int K, int r0, int r1, int n0, int n1) {
    int rows = r1 - r0, cols = n1 - n0;
    if (rows <= 0 || cols <= 0) return;
    float beta = 0.0f;
    if (bias) {
        for (int r = r0; r < r1; r++) memcpy(out + (size_t)r * N + n0, bias + n0, (size_t)cols * sizeof(float));
        beta = 1.0f;
    }
    if (K == 0) {
        if (!bias)
            for (int r = r0; r < r1; r++) memset(out + (size_t)r * N + n0, 0, (size_t)cols * sizeof(float));
        return;
    }
    if (wm->dtype == OW_MATRIX_BF16) {
        /* B = w^T: B[k][n] = w[n*K + k] */
        ow_cpu_gemm_rows_bf16(c, rows, cols, K, x + (size_t)r0 * K, K, wm->data.bf16 + (size_t)n0 * K, 1,
                              K, out + (size_t)r0 * N + n0, N, bias != NULL);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, K, 1.0f, x + (size_t)r0 * K, K,
                wm->data.f32 + (size_t)n0 * K, K, beta, out + (size_t)r0 * N + n0, N);
}

void ow_cpu_linear(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                   int M, int N, int K) {
    cpu_state *c = cpu_of(b);
    ow_cpu_blas_threads(c);
    if (M <= 0 || N <= 0) return;
    ow_matrix view;
    w = ow_cpu_matrix_f32(c, w, &view);
    int parts = c->use_omp ? c->threads : 1;
    if ((double)M * N * K < SERIAL_MACS) parts = 1;
    if (parts == 1) {
        linear_block(c, out, x, w, bias, N, K, 0, M, 0, N);
        return;
    }
    /* Split the longer side, in slices that are multiples of 16 where possible. */
    int split_rows = M >= N;
    int len = split_rows ? M : N;
    int slice = (len + parts - 1) / parts;
    slice = (slice + 15) / 16 * 16;
    int nslices = (len + slice - 1) / slice;
    #pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int s = 0; s < nslices; s++) {
        int a0 = s * slice, a1 = min_int(len, a0 + slice);
        if (split_rows) linear_block(c, out, x, w, bias, N, K, a0, a1, 0, N);
        else linear_block(c, out, x, w, bias, N, K, 0, M, a0, a1);
    }
}

/* Where an unfolded tile goes: f32 (f32 != NULL) or rounded to bf16. */
typedef struct col_dest {
    float *f32;
    uint16_t *bf16;
} col_dest;

static void col_zero(col_dest d, size_t at, int n) {
    if (n <= 0) return;
    if (d.f32) memset(d.f32 + at, 0, (size_t)n * sizeof(float));
    else memset(d.bf16 + at, 0, (size_t)n * sizeof(uint16_t));
}

static void col_copy(col_dest d, size_t at, const float *src, int n) {
    if (n <= 0) return;
    if (d.f32) memcpy(d.f32 + at, src, (size_t)n * sizeof(float));
    else ow_cpu_to_bf16(d.bf16 + at, src, (size_t)n);
}

/* A strided run (a stride-2 convolution's row), gathered into a block of f32 so that
 * the bf16 rounding runs over whole blocks. */
static void col_copy_strided(col_dest d, size_t at, const float *src, int lo, int hi, int stride) {
    float gathered[64];
    for (int t = lo; t < hi; t += 64) {
        int n = hi - t < 64 ? hi - t : 64;
        for (int i = 0; i < n; i++) gathered[i] = src[(ptrdiff_t)(t + i) * stride];
        col_copy(d, at + (size_t)t, gathered, n);
    }
}

/* Unfolds input channels [c0, c1) of one image x (C, H, W) for output positions
 * [p0, p0 + np) into col ((c1 - c0) * kh * kw, np): row (c, i, j) holds
 * x[c, oy*stride - pt + i, ox*stride - pl + j] or 0 outside the image. */
static void im2col_tile(col_dest col, const float *x, int c0, int c1, int H, int W, int kh, int kw,
                        int stride, int pt, int pl, int Wo, int p0, int np) {
    size_t row = 0;
    for (int ch = c0; ch < c1; ch++) {
        const float *xc = x + (size_t)ch * H * W;
        for (int i = 0; i < kh; i++) {
            for (int j = 0; j < kw; j++, row++) {
                size_t dst = row * (size_t)np;
                int p = p0, end = p0 + np;
                while (p < end) {
                    int oy = p / Wo, ox = p % Wo;
                    int run = min_int(Wo - ox, end - p); /* positions left on this output row */
                    int iy = oy * stride - pt + i;
                    size_t d = dst + (size_t)(p - p0);
                    if (iy < 0 || iy >= H) {
                        col_zero(col, d, run);
                    } else {
                        const float *src = xc + (size_t)iy * W;
                        int ix0 = ox * stride - pl + j;
                        /* positions t in [lo, hi) read inside the row; zeros around them */
                        int lo = ix0 < 0 ? (-ix0 + stride - 1) / stride : 0;
                        int hi = W - ix0 <= 0 ? 0 : (W - ix0 + stride - 1) / stride;
                        if (lo > run) lo = run;
                        if (hi > run) hi = run;
                        if (hi < lo) hi = lo;
                        col_zero(col, d, lo);
                        if (stride == 1) col_copy(col, d + (size_t)lo, src + ix0 + lo, hi - lo);
                        else col_copy_strided(col, d, src + ix0, lo, hi, stride);
                        col_zero(col, d + (size_t)hi, run - hi);
                    }
                    p += run;
                }
            }
        }
    }
}

void ow_cpu_conv2d_pad4(ow_backend *b, float *out, const float *x, const ow_matrix *wm, const float *bias,
                        int B, int C, int H, int W, int O, int kh, int kw, int stride,
                        int pt, int pb, int pl, int pr) {
    cpu_state *c = cpu_of(b);
    ow_cpu_blas_threads(c);
    int Ho = (H + pt + pb - kh) / stride + 1;
    int Wo = (W + pl + pr - kw) / stride + 1;
    if (B <= 0 || O <= 0 || Ho <= 0 || Wo <= 0) return;
    ow_matrix view;
    wm = ow_cpu_matrix_f32(c, wm, &view);
    int P = Ho * Wo;
    int taps = kh * kw;
    size_t CK = (size_t)C * taps;
    int bf16 = wm->dtype == OW_MATRIX_BF16;
    const float *w = bf16 ? NULL : wm->data.f32;
    const uint16_t *w16 = bf16 ? wm->data.bf16 : NULL;
    /* bf16 1x1 products take the tiled path too: it rounds the input as it copies it */
    int direct = !bf16 && kh == 1 && kw == 1 && stride == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0;
    int threads = c->use_omp ? c->threads : 1;

    /* Column tile: as wide as the scratch allows (whole channels; at least 16 columns,
     * fewer channels per pass when even that does not fit), narrowed until there is
     * work for every thread; then output channels are split too if still short. */
    int ptile;
    int cchunk = C;
    if (direct) {
        ptile = P;
    } else {
        size_t cols = OW_CPU_SCRATCH_FLOATS / (CK ? CK : 1);
        if (cols < 16) {
            cols = 16;
            cchunk = (int)(OW_CPU_SCRATCH_FLOATS / (16 * (size_t)taps));
            if (cchunk < 1) cchunk = 1;
        }
        ptile = (int)(cols < (size_t)P ? cols : (size_t)P);
        if (ptile > 512) ptile = 512;
    }
    double macs = (double)B * P * O * (double)CK;
    if (macs < SERIAL_MACS) threads = 1;
    while (threads > 1 && (long)B * ((P + ptile - 1) / ptile) < 2L * threads && ptile > 64)
        ptile = max_int(64, ptile / 2);
    if (ptile < P && ptile >= 16) ptile = ptile / 16 * 16;
    int ptiles = (P + ptile - 1) / ptile;
    int otile = O;
    long tasks = (long)B * ptiles;
    if (threads > 1 && tasks < 2L * threads) {
        int want = (int)((2L * threads + tasks - 1) / tasks);
        otile = max_int(32, (O + want - 1) / want);
        otile = min_int(O, (otile + 7) / 8 * 8);
    }
    int otiles = (O + otile - 1) / otile;
    long ntasks = tasks * otiles;

    #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (threads > 1)
    for (long task = 0; task < ntasks; task++) {
        int ot = (int)(task % otiles);
        int pti = (int)((task / otiles) % ptiles);
        int bi = (int)(task / ((long)otiles * ptiles));
        int o0 = ot * otile, no = min_int(O, o0 + otile) - o0;
        int p0 = pti * ptile, np = min_int(P, p0 + ptile) - p0;
        const float *xb = x + (size_t)bi * C * H * W;
        float *ob = out + (size_t)bi * O * P + (size_t)o0 * P + p0; /* (no, np) with row stride P */
        float beta = 0.0f;
        if (bias) {
            for (int o = 0; o < no; o++) {
                float v = bias[o0 + o];
                float *row = ob + (size_t)o * P;
                for (int p = 0; p < np; p++) row[p] = v;
            }
            beta = 1.0f;
        }
        if (C == 0) {
            if (!bias) for (int o = 0; o < no; o++) memset(ob + (size_t)o * P, 0, (size_t)np * sizeof(float));
            continue;
        }
        if (direct) {
            /* out (no, np) = w (no, C) . x (C, np) with row stride HW. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, no, np, C, 1.0f, w + (size_t)o0 * C, C,
                        xb + p0, P, beta, ob, P);
            continue;
        }
        col_dest col = {NULL, NULL};
        if (bf16) col.bf16 = ow_cpu_scratch16(c);
        else col.f32 = c->scratch + (size_t)ow_cpu_thread_index() * OW_CPU_SCRATCH_FLOATS;
        for (int c0 = 0; c0 < C; c0 += cchunk) {
            int c1 = min_int(C, c0 + cchunk);
            int kdim = (c1 - c0) * taps;
            im2col_tile(col, xb, c0, c1, H, W, kh, kw, stride, pt, pl, Wo, p0, np);
            /* out (no, np) += w[o0:, c0*taps : c1*taps] (no, kdim) . col (kdim, np) */
            size_t woff = (size_t)o0 * CK + (size_t)c0 * taps;
            if (bf16)
                ow_cpu_dnnl_gemm(c->dnnl, no, np, kdim, w16 + woff, (long)CK, 1, col.bf16, np, 1, ob, P, beta != 0.0f);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, no, np, kdim, 1.0f, w + woff, (int)CK, col.f32,
                            np, beta, ob, P);
            beta = 1.0f;
        }
    }
}

void ow_cpu_conv2d(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                   int B, int C, int H, int W, int O, int kh, int kw, int stride, int pad) {
    ow_cpu_conv2d_pad4(b, out, x, w, bias, B, C, H, W, O, kh, kw, stride, pad, pad, pad, pad);
}
