/* cpu_internal.h: what the CPU backend's files share: the private state behind
 * ow_backend.impl, the threading rules, and the op entry points each file defines.
 *
 * Threading: one pool only. Every parallel loop is an OpenMP loop with
 * num_threads(threads); OpenBLAS is set to one thread and called from inside those
 * loops on slices of each matrix product (rows of a Linear, column tiles of a
 * convolution, query tiles of an attention head), so the two runtimes never
 * oversubscribe the cores. Built without OpenMP, the loops run serially and
 * OpenBLAS gets the threads instead (each product is then a single sgemm call). */
#ifndef OW_CPU_CPU_INTERNAL_H
#define OW_CPU_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* Hot inner loops get x86-64-v4 (AVX-512) and x86-64-v3 (AVX2) clones chosen at load time, so the library
 * stays runnable on any x86-64 while using the wide units where they exist. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__clang__)
#define OW_CPU_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define OW_CPU_HOT
#endif

/* GCC keeps floating-point selects (x < c ? a : b) out of vectorised loops while it
 * must preserve FP exception flags; the backend never reads those flags, so let the
 * exp/erf/norm loops vectorise. (Clang vectorises them as they are.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* Per-thread scratch (floats): bounds the im2col tile and the attention score tile. */
#define OW_CPU_SCRATCH_FLOATS ((size_t)1 << 20) /* 4 MiB */

/* Per-thread scratch for bf16 copies of activations (elements). */
#define OW_CPU_SCRATCH16 ((size_t)1 << 21) /* 4 MiB */

typedef struct cpu_dnnl cpu_dnnl;

typedef struct cpu_state {
    int threads;        /* OpenMP threads for every parallel loop */
    int use_omp;        /* 1 when built with OpenMP: OpenBLAS then runs single-threaded */
    float *scratch;     /* threads * OW_CPU_SCRATCH_FLOATS, 64-byte aligned */
    uint16_t *scratch16; /* threads * OW_CPU_SCRATCH16 when bf16 products exist, else NULL */
    cpu_dnnl *dnnl;     /* oneDNN for the bf16 products; NULL when it could not start */
    float *staging;     /* an F16 matrix's values as f32 during one product (see ow_cpu_matrix_f32) */
    size_t staging_floats; /* its size: the largest F16 matrix made, so that a product never grows it */
} cpu_state;

static inline cpu_state *cpu_of(ow_backend *b) { return (cpu_state *)b->impl; }

/* Index of the calling thread inside a parallel region (0 outside). */
int ow_cpu_thread_index(void);
/* Makes sure OpenBLAS runs with the thread count this backend wants for its calls. */
void ow_cpu_blas_threads(cpu_state *c);

/* cpu_matrix.c: matrices, conversions, the kernels' description */
void ow_cpu_matrix_ops(ow_backend *b); /* fills the matrix_* entries of the function table */
/* dst = src rounded to bf16 (nearest even), and back. */
void ow_cpu_to_bf16(uint16_t *restrict dst, const float *restrict src, size_t n);
void ow_cpu_from_bf16(float *restrict dst, const uint16_t *restrict src, size_t n);
/* dst = src from IEEE half precision (exact). */
void ow_cpu_from_f16(float *restrict dst, const uint16_t *restrict src, size_t n);
/* What a product multiplies by: m itself when F32 or BF16; for F16, its values as f32
 * in the backend's staging buffer, described by *view. The buffer was sized when the
 * matrix was made, so this cannot fail; it holds one matrix at a time (the products
 * of one backend run one after another). */
const ow_matrix *ow_cpu_matrix_f32(cpu_state *c, const ow_matrix *m, ow_matrix *view);
/* dst (rows, ld_dst) = src (rows, cols; row stride ld_src) rounded to bf16, each row's
 * columns beyond cols zeroed. */
void ow_cpu_rows_to_bf16(uint16_t *dst, size_t ld_dst, const float *src, size_t ld_src, int rows, int cols);

/* cpu_dnnl.c: bf16 products through oneDNN */
cpu_dnnl *ow_cpu_dnnl_create(int threads); /* NULL when oneDNN cannot start */
void ow_cpu_dnnl_destroy(cpu_dnnl *d);
int ow_cpu_dnnl_fast(const cpu_dnnl *d);          /* the processor has bf16 instructions */
/* "oneDNN 2.6.3, AMX-BF16[, <the first product's implementation, e.g. brg:avx512_core_amx_bf16>]" */
void ow_cpu_dnnl_describe(const cpu_dnnl *d, char *out, size_t cap);
/* C (M, N) = A (M, K) . B (K, N) (+ C when accumulate); A[i][k] = A[i*ars + k*acs],
 * B[k][j] = B[k*brs + j*bcs], C[i][j] = C[i*ldc + j]. On the calling thread. */
void ow_cpu_dnnl_gemm(cpu_dnnl *d, int M, int N, int K, const uint16_t *A, long ars, long acs, const uint16_t *B,
                      long brs, long bcs, float *C, long ldc, int accumulate);
/* This thread's bf16 scratch (OW_CPU_SCRATCH16 elements). */
static inline uint16_t *ow_cpu_scratch16(cpu_state *c) {
    return c->scratch16 + (size_t)ow_cpu_thread_index() * OW_CPU_SCRATCH16;
}

/* cpu_gemm.c */
/* out (M, N) = x (M, K) . B (K, N) (+ out when accumulate) for x f32 with row stride
 * ldx, rounded to bf16 block by block in this thread's scratch, and B bf16 with
 * strides (brs, bcs); out has row stride ldo. */
void ow_cpu_gemm_rows_bf16(cpu_state *c, int M, int N, int K, const float *x, long ldx, const uint16_t *B, long brs,
                           long bcs, float *out, long ldo, int accumulate);
void ow_cpu_linear(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                   int M, int N, int K);
void ow_cpu_conv2d(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                   int B, int C, int H, int W, int O, int kh, int kw, int stride, int pad);
void ow_cpu_conv2d_pad4(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                        int B, int C, int H, int W, int O, int kh, int kw, int stride,
                        int pad_top, int pad_bottom, int pad_left, int pad_right);

/* cpu_attention.c */
/* With attention_dtype BF16, attention over fewer keys than this keeps f32 products:
 * cross-attention's 77 keys and the small levels' self-attention (SD 1.5's 16x16 at
 * 512 px), where rounding the copies costs more than bf16 saves, and where bf16 scores
 * cost accuracy: with 256 the shapes model's 256-key attention in bf16 moved its bf16
 * images to 26 dB PSNR from fp32's, with 1024 they stay at 40 dB
 * (tests/e2e/test_shapes_prompts.c). */
#define OW_CPU_ATTENTION_BF16_MIN_KEYS 1024
void ow_cpu_attention(ow_backend *b, float *out, const float *q, const float *k, const float *v,
                      int B, int Tq, int Tk, int heads, int D, float scale, int causal);

/* cpu_norm.c */
void ow_cpu_group_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int B, int C, int HW, int groups, float eps, int fuse_silu);
void ow_cpu_layer_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int M, int N, float eps);

/* cpu_elementwise.c */
void ow_cpu_silu(ow_backend *b, float *out, const float *x, size_t n);
void ow_cpu_gelu(ow_backend *b, float *out, const float *x, size_t n);
void ow_cpu_quick_gelu(ow_backend *b, float *out, const float *x, size_t n);
void ow_cpu_add(ow_backend *b, float *out, const float *x, const float *y, size_t n);
void ow_cpu_axpby(ow_backend *b, float *out, float alpha, const float *x, float beta, const float *y, size_t n);
void ow_cpu_scale(ow_backend *b, float *out, const float *x, float s, size_t n);
void ow_cpu_geglu(ow_backend *b, float *out, const float *x, int M, int N);
/* Row kernels shared with the norms and attention. */
void ow_cpu_silu_row(float *out, const float *x, size_t n);

/* cpu_shape.c */
void ow_cpu_add_channel_bias(ow_backend *b, float *out, const float *x, const float *per_channel,
                             int B, int C, int HW);
void ow_cpu_to_channels_last(ow_backend *b, float *out, const float *x, int B, int C, int HW);
void ow_cpu_to_channels_first(ow_backend *b, float *out, const float *x, int B, int C, int HW);
void ow_cpu_upsample_nearest2x(ow_backend *b, float *out, const float *x, int B, int C, int H, int W);
void ow_cpu_concat_channels(ow_backend *b, float *out, const float *a, const float *bb,
                            int B, int Ca, int Cb, int HW);
void ow_cpu_embedding(ow_backend *b, float *out, const float *table, const int32_t *ids, int T, int D);

/* ---- backward passes (inputs only; see backend.h) ---- */
/* cpu_gemm_backward.c */
void ow_cpu_linear_backward(ow_backend *b, float *dx, const float *dy, const ow_matrix *w, int M, int N, int K);
void ow_cpu_conv2d_backward(ow_backend *b, float *dx, const float *dy, const ow_matrix *w, int B, int C, int H, int W,
                            int O, int kh, int kw, int stride, int pad_top, int pad_bottom, int pad_left, int pad_right);
/* cpu_attention_backward.c */
void ow_cpu_attention_train(ow_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                            int B, int Tq, int Tk, int heads, int D, float scale, int causal);
void ow_cpu_attention_backward(ow_backend *b, float *dq, float *dk, float *dv, const float *dout, const float *q,
                               const float *k, const float *v, const float *out, const float *lse, int B, int Tq, int Tk,
                               int heads, int D, float scale, int causal);
/* cpu_norm_backward.c */
void ow_cpu_group_norm_train(ow_backend *b, float *out, float *mean, float *rstd, const float *x, const float *gamma,
                             const float *beta, int B, int C, int HW, int groups, float eps, int fuse_silu);
void ow_cpu_group_norm_backward(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                const float *beta, const float *mean, const float *rstd, int B, int C, int HW, int groups,
                                int fuse_silu);
void ow_cpu_layer_norm_train(ow_backend *b, float *out, float *mean, float *rstd, const float *x, const float *gamma,
                             const float *beta, int M, int N, float eps);
void ow_cpu_layer_norm_backward(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                const float *mean, const float *rstd, int M, int N);
/* cpu_elementwise_backward.c */
void ow_cpu_silu_backward(ow_backend *b, float *dx, const float *dy, const float *x, size_t n);
void ow_cpu_gelu_backward(ow_backend *b, float *dx, const float *dy, const float *x, size_t n);
void ow_cpu_quick_gelu_backward(ow_backend *b, float *dx, const float *dy, const float *x, size_t n);
void ow_cpu_geglu_backward(ow_backend *b, float *dx, const float *dy, const float *x, int M, int N);
/* cpu_shape_backward.c */
void ow_cpu_upsample_nearest2x_backward(ow_backend *b, float *dx, const float *dy, int B, int C, int H, int W);
void ow_cpu_concat_channels_backward(ow_backend *b, float *da, float *db, const float *dy, int B, int Ca, int Cb,
                                     int HW);
void ow_cpu_embedding_backward(ow_backend *b, float *drows, const float *dy, const int32_t *ids, int T, int D,
                               int first_row, int n_rows);

#endif
