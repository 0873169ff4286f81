/* cuda_kernels.h: the CUDA backend's kernels (cuda_kernels.cu) as plain C launchers,
 * so that the backend's glue (cuda_backend.c) stays C and calls cuBLAS for the
 * matrix products itself. Every launcher enqueues on `stream` and returns the launch's
 * cudaError_t as an int (0: cudaSuccess); nothing here synchronises.
 *
 * Layouts and semantics are the CPU backend's (engine/backend/backend.h): activations
 * contiguous f32, shapes in comments, torch's definitions. ids are device memory here
 * (the glue uploads the host ids first). */
#ifndef OW_KERNELS_CUDA_KERNELS_H
#define OW_KERNELS_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *owk_stream;

/* ---- conversions (n values) ---- */
int owk_f32_to_bf16(uint16_t *dst, const float *src, size_t n, owk_stream s); /* round to nearest even */
int owk_f16_to_f32(float *dst, const uint16_t *src, size_t n, owk_stream s);
int owk_f32_to_f16(uint16_t *dst, const float *src, size_t n, owk_stream s);
int owk_bf16_to_f32(float *dst, const uint16_t *src, size_t n, owk_stream s);

/* ---- element-wise ---- */
int owk_silu(float *out, const float *x, size_t n, owk_stream s);
int owk_gelu(float *out, const float *x, size_t n, owk_stream s);       /* exact: x * Phi(x) */
int owk_quick_gelu(float *out, const float *x, size_t n, owk_stream s); /* x * sigmoid(1.702 x) */
int owk_add(float *out, const float *x, const float *y, size_t n, owk_stream s);
int owk_axpby(float *out, float alpha, const float *x, float beta, const float *y, size_t n, owk_stream s);
int owk_scale(float *out, const float *x, float a, size_t n, owk_stream s);
/* out (M, N) = bias (N) on every row. */
int owk_fill_rows(float *out, const float *bias, int M, int N, owk_stream s);
/* out (O rows of P, row stride ld) = bias (O) along each row. */
int owk_fill_channels(float *out, const float *bias, int O, int P, size_t ld, owk_stream s);
/* out (M, N) = x[:, :N] * gelu(x[:, N:]) for x (M, 2N). */
int owk_geglu(float *out, const float *x, int M, int N, owk_stream s);
/* out (B, C, HW) = x + per_channel (B, C). */
int owk_add_channel_bias(float *out, const float *x, const float *per_channel, int B, int C, int HW, owk_stream s);
/* out (B, cols, rows) = x (B, rows, cols) transposed per batch item. */
int owk_transpose(float *out, const float *x, int B, int rows, int cols, owk_stream s);
/* out (B, C, 2H, 2W) = nearest 2x of x (B, C, H, W). */
int owk_upsample2x(float *out, const float *x, int B, int C, int H, int W, owk_stream s);
/* out (B, Ca+Cb, HW) = [a (B, Ca, HW); b (B, Cb, HW)]. */
int owk_concat(float *out, const float *a, const float *b, int B, int Ca, int Cb, int HW, owk_stream s);
/* out (T, D) = table[ids[t]]. */
int owk_embedding(float *out, const float *table, const int32_t *ids, int T, int D, owk_stream s);

/* ---- element-wise backward ---- */
int owk_silu_backward(float *dx, const float *dy, const float *x, size_t n, owk_stream s);
int owk_gelu_backward(float *dx, const float *dy, const float *x, size_t n, owk_stream s);
int owk_quick_gelu_backward(float *dx, const float *dy, const float *x, size_t n, owk_stream s);
/* dx (M, 2N) from dy (M, N) of geglu(x). */
int owk_geglu_backward(float *dx, const float *dy, const float *x, int M, int N, owk_stream s);
/* dx (B, C, H, W) = sum over each 2x2 block of dy (B, C, 2H, 2W). */
int owk_upsample2x_backward(float *dx, const float *dy, int B, int C, int H, int W, owk_stream s);
/* da (B, Ca, HW), db (B, Cb, HW) from dy (B, Ca+Cb, HW); either may be NULL. */
int owk_concat_backward(float *da, float *db, const float *dy, int B, int Ca, int Cb, int HW, owk_stream s);
/* drows (n_rows, D) += dy[t] for every t with first_row <= ids[t] < first_row + n_rows,
 * in t order (deterministic). */
int owk_embedding_backward(float *drows, const float *dy, const int32_t *ids, int T, int D, int first_row, int n_rows,
                           owk_stream s);

/* ---- convolution helpers (one image, output positions [p0, p0 + np)) ---- */
/* col (C*kh*kw, np) row-major: row (c, i, j), column p holds x[c, oy*stride - pt + i,
 * ox*stride - pl + j] (0 outside) for output position p0 + p = oy * Wo + ox. f32 or bf16. */
int owk_im2col(float *col, const float *x, int C, int H, int W, int kh, int kw, int stride, int pt, int pl, int Wo,
               int p0, int np, owk_stream s);
int owk_im2col_bf16(uint16_t *col, const float *x, int C, int H, int W, int kh, int kw, int stride, int pt, int pl,
                    int Wo, int p0, int np, owk_stream s);
/* dx (C, H, W) += the entries of col (as im2col lays them out) that land inside the image. */
int owk_col2im_add(float *dx, const float *col, int C, int H, int W, int kh, int kw, int stride, int pt, int pl,
                   int Ho, int Wo, int p0, int np, owk_stream s);

/* ---- normalisation (statistics in double, torch's biased variance) ---- */
/* mean, rstd (B, groups) may be NULL (inference). */
int owk_group_norm(float *out, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int B,
                   int C, int HW, int groups, float eps, int fuse_silu, owk_stream s);
int owk_group_norm_backward(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                            const float *mean, const float *rstd, int B, int C, int HW, int groups, int fuse_silu,
                            owk_stream s);
/* mean, rstd (M) may be NULL. */
int owk_layer_norm(float *out, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int M,
                   int N, float eps, owk_stream s);
int owk_layer_norm_backward(float *dx, const float *dy, const float *x, const float *gamma, const float *mean,
                            const float *rstd, int M, int N, owk_stream s);

/* ---- attention helpers: scores of one batch item's query rows [i0, i0 + nr) ---- */
/* S (heads, nr, Tk): each row softmax(S * scale [causal: keys j <= i0 + r]) in place;
 * lse (heads, Tq) at [h * Tq + i0 + r] gets max + log(sum) of the scaled scores when
 * not NULL. */
int owk_softmax_rows(float *S, float *lse, int heads, int nr, int Tk, int Tq, int i0, float scale, int causal,
                     owk_stream s);
/* P (heads, nr, Tk) = exp(S * scale - lse) (0 where causal hides a key), in place. */
int owk_probabilities(float *S, const float *lse, int heads, int nr, int Tk, int Tq, int i0, float scale, int causal,
                      owk_stream s);
/* delta (heads, nr) = sum_d dout * out per head and query row (both (nr, heads*D)). */
int owk_row_deltas(float *delta, const float *dout, const float *out, int heads, int nr, int D, owk_stream s);
/* dS (heads, nr, Tk) = P * (dP - delta) * scale, written over dP. */
int owk_score_gradient(float *dP, const float *P, const float *delta, int heads, int nr, int Tk, float scale,
                       owk_stream s);

#ifdef __cplusplus
}
#endif

#endif
