/* backend.h: the backend interface. Model code calls these function pointers and
 * never knows whether the CPU (engine/cpu/) or CUDA (kernels/) runs them.
 *
 * Conventions:
 * - every activation buffer is contiguous f32 in backend memory, allocated with alloc();
 * - the weights of the matrix products are ow_matrix: f32, or bf16 on a 16-bit path;
 * - shapes are passed explicitly and written in comments as (B, C, H, W);
 * - weights follow torch's layouts: Linear (N_out, K_in), Conv2d (O, C, kh, kw);
 * - out may alias x for the element-wise ops, never for linear/conv/attention/norms.
 * Every op here will get a backward pass (textual-inversion training) and a CUDA
 * implementation; each has a test against a naive reference in tests/unit/. */
#ifndef OW_BACKEND_BACKEND_H
#define OW_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "oneword.h"

typedef struct ow_backend ow_backend;

/* The weight of a matrix product, (rows, cols) row-major in backend memory: a
 * Linear's (N_out, K_in), a Conv2d's (O, C*kh*kw). F32; BF16: the upper 16 bits
 * of each f32 value rounded to nearest even (products then accumulate in f32); or
 * F16: IEEE half precision held for memory only, converted back to f32 inside the
 * op, so that the product is the f32 one bit for bit (for weights a file stores in
 * f16, whose values f16 holds exactly: half the memory, the same result). */
typedef enum ow_matrix_dtype { OW_MATRIX_F32, OW_MATRIX_BF16, OW_MATRIX_F16 } ow_matrix_dtype;

typedef struct ow_matrix {
    union { /* (rows, cols) elements of dtype; NULL when empty (a union, so that it */
        void *ptr;      /* cannot be passed where a buffer of floats is meant) */
        float *f32;
        uint16_t *bf16;
        uint16_t *f16;
    } data;
    ow_matrix_dtype dtype;
    int rows, cols;
} ow_matrix;

/* An f32 matrix over memory the caller keeps (never freed through the backend). */
static inline ow_matrix ow_matrix_f32(const float *data, int rows, int cols) {
    ow_matrix m = {{.f32 = (float *)data}, OW_MATRIX_F32, rows, cols};
    return m;
}

struct ow_backend {
    const char *name;
    void *impl;   /* backend-private state */
    int threads;  /* worker threads (CPU) */

    /* ---- memory ---- */
    /* count floats, uninitialised; NULL when out of memory. */
    float *(*alloc)(ow_backend *b, size_t count);
    void (*free)(ow_backend *b, float *p);
    /* host -> backend and backend -> host copies of count floats. */
    void (*upload)(ow_backend *b, float *dst, const float *host_src, size_t count);
    void (*download)(ow_backend *b, float *host_dst, const float *src, size_t count);
    /* backend -> backend copy. */
    void (*copy)(ow_backend *b, float *dst, const float *src, size_t count);

    /* ---- matrix products ---- */
    /* out (M, N) = x (M, K) · w (N, K)^T + bias (N); bias may be NULL (torch Linear). */
    void (*linear)(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                   int M, int N, int K);
    /* out (B, O, Ho, Wo) = conv2d(x (B, C, H, W), w (O, C*kh*kw)) + bias (O) or NULL;
     * Ho = (H + 2*pad - kh) / stride + 1, same for Wo. */
    void (*conv2d)(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                   int B, int C, int H, int W, int O, int kh, int kw, int stride, int pad);
    /* out (B, Tq, heads*D) = softmax(q k^T * scale [+ causal mask]) v with
     * q (B, Tq, heads*D), k and v (B, Tk, heads*D); head h uses columns h*D..h*D+D-1.
     * causal: query i sees keys 0..i only. */
    void (*attention)(ow_backend *b, float *out, const float *q, const float *k, const float *v,
                      int B, int Tq, int Tk, int heads, int D, float scale, int causal);

    /* ---- normalisation ---- */
    /* x (B, C, HW) normalised per (batch, group of C/groups channels), then * gamma (C) + beta (C);
     * fuse_silu applies x * sigmoid(x) after the affine step. */
    void (*group_norm)(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int B, int C, int HW, int groups, float eps, int fuse_silu);
    /* x (M, N) normalised over N, then * gamma (N) + beta (N). */
    void (*layer_norm)(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta,
                       int M, int N, float eps);

    /* ---- element-wise (n elements) ---- */
    void (*silu)(ow_backend *b, float *out, const float *x, size_t n);       /* x * sigmoid(x) */
    void (*gelu)(ow_backend *b, float *out, const float *x, size_t n);       /* exact: x * Phi(x) */
    void (*quick_gelu)(ow_backend *b, float *out, const float *x, size_t n); /* x * sigmoid(1.702 x) */
    void (*add)(ow_backend *b, float *out, const float *x, const float *y, size_t n);
    /* out = alpha * x + beta * y */
    void (*axpby)(ow_backend *b, float *out, float alpha, const float *x, float beta, const float *y, size_t n);
    void (*scale)(ow_backend *b, float *out, const float *x, float s, size_t n);

    /* ---- shape and broadcast ---- */
    /* out (M, N) = x[:, :N] * gelu(x[:, N:]) for x (M, 2N) (diffusers GEGLU). */
    void (*geglu)(ow_backend *b, float *out, const float *x, int M, int N);
    /* out (B, C, HW) = x (B, C, HW) + per_channel (B, C) broadcast over HW. */
    void (*add_channel_bias)(ow_backend *b, float *out, const float *x, const float *per_channel,
                             int B, int C, int HW);
    /* out (B, HW, C) = transpose of x (B, C, HW); and the inverse. */
    void (*to_channels_last)(ow_backend *b, float *out, const float *x, int B, int C, int HW);
    void (*to_channels_first)(ow_backend *b, float *out, const float *x, int B, int C, int HW);
    /* out (B, C, 2H, 2W) = nearest-neighbour 2x upsampling of x (B, C, H, W). */
    void (*upsample_nearest2x)(ow_backend *b, float *out, const float *x, int B, int C, int H, int W);
    /* out (B, Ca+Cb, HW) = concatenation of a (B, Ca, HW) and b (B, Cb, HW) along channels. */
    void (*concat_channels)(ow_backend *b, float *out, const float *a, const float *bb,
                            int B, int Ca, int Cb, int HW);
    /* out (T, D) = table[ids[t]] for table (V, D); ids are host memory, checked by the caller. */
    void (*embedding)(ow_backend *b, float *out, const float *table, const int32_t *ids, int T, int D);

    void (*destroy)(ow_backend *b);

    /* ---- appended after the first version (keep existing fields in place) ---- */
    /* conv2d with its own padding per side (zeros): Ho = (H + pad_top + pad_bottom - kh) / stride + 1,
     * Wo = (W + pad_left + pad_right - kw) / stride + 1. For the VAE encoder's Downsample2D,
     * which pads (left 0, right 1, top 0, bottom 1) and then convolves with stride 2, pad 0:
     * call conv2d_pad4(..., 2, 0, 1, 0, 1). conv2d(pad) is conv2d_pad4(pad, pad, pad, pad). */
    void (*conv2d_pad4)(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias,
                        int B, int C, int H, int W, int O, int kh, int kw, int stride,
                        int pad_top, int pad_bottom, int pad_left, int pad_right);

    /* ---- training: gradients with respect to inputs only ------------------------
     * Textual inversion never differentiates a weight: no op here computes or
     * allocates a weight gradient. Each backward overwrites its outputs (dx = ...),
     * except embedding_backward, which accumulates into the rows it owns; model code
     * sums the branches of a residual with add(). The *_train forwards are the
     * inference ops that also write what their backward needs (statistics, the
     * attention log-sum-exp); their outputs are identical to the inference ops'. */

    /* dx (M, K) = dy (M, N) · w (N, K)   (backward of linear; the bias has no input gradient). */
    void (*linear_backward)(ow_backend *b, float *dx, const float *dy, const ow_matrix *w, int M, int N, int K);
    /* dx (B, C, H, W) from dy (B, O, Ho, Wo) of conv2d_pad4 with the same arguments
     * (a transposed convolution; stride 2 and asymmetric pads included). */
    void (*conv2d_backward)(ow_backend *b, float *dx, const float *dy, const ow_matrix *w,
                            int B, int C, int H, int W, int O, int kh, int kw, int stride,
                            int pad_top, int pad_bottom, int pad_left, int pad_right);
    /* attention, also writing lse (B, heads, Tq): log(sum_j exp(s_ij)) of each query row's
     * scaled (and masked) scores, what the backward needs to recompute the probabilities. */
    void (*attention_train)(ow_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                            int B, int Tq, int Tk, int heads, int D, float scale, int causal);
    /* dq (B, Tq, heads*D), dk, dv (B, Tk, heads*D) from dout (B, Tq, heads*D), flash-style:
     * the probabilities are recomputed in tiles from q, k and lse; no Tq x Tk matrix is
     * ever held. out is attention_train's output (for the row terms sum(dout * out)).
     * dq, dk or dv may be NULL when that gradient is not needed. */
    void (*attention_backward)(ow_backend *b, float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, const float *out, const float *lse,
                               int B, int Tq, int Tk, int heads, int D, float scale, int causal);
    /* group_norm, also writing mean and rstd (B, groups). */
    void (*group_norm_train)(ow_backend *b, float *out, float *mean, float *rstd, const float *x, const float *gamma,
                             const float *beta, int B, int C, int HW, int groups, float eps, int fuse_silu);
    /* dx (B, C, HW) from dy of group_norm(x) (with the fused SiLU when fuse_silu). */
    void (*group_norm_backward)(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                const float *beta, const float *mean, const float *rstd,
                                int B, int C, int HW, int groups, int fuse_silu);
    /* layer_norm, also writing mean and rstd (M). */
    void (*layer_norm_train)(ow_backend *b, float *out, float *mean, float *rstd, const float *x, const float *gamma,
                             const float *beta, int M, int N, float eps);
    /* dx (M, N) from dy of layer_norm(x). */
    void (*layer_norm_backward)(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                const float *mean, const float *rstd, int M, int N);
    /* dx = dy * f'(x) for the element-wise activations (n elements; dx may alias dy). */
    void (*silu_backward)(ow_backend *b, float *dx, const float *dy, const float *x, size_t n);
    void (*gelu_backward)(ow_backend *b, float *dx, const float *dy, const float *x, size_t n);
    void (*quick_gelu_backward)(ow_backend *b, float *dx, const float *dy, const float *x, size_t n);
    /* dx (M, 2N) from dy (M, N) of geglu(x). */
    void (*geglu_backward)(ow_backend *b, float *dx, const float *dy, const float *x, int M, int N);
    /* dx (B, C, H, W) = the sum over each 2x2 block of dy (B, C, 2H, 2W). */
    void (*upsample_nearest2x_backward)(ow_backend *b, float *dx, const float *dy, int B, int C, int H, int W);
    /* da (B, Ca, HW) and db (B, Cb, HW) from dy (B, Ca+Cb, HW); either may be NULL. */
    void (*concat_channels_backward)(ow_backend *b, float *da, float *db, const float *dy, int B, int Ca, int Cb,
                                     int HW);
    /* Scatter-add into the trained rows only: for every t with first_row <= ids[t] <
     * first_row + n_rows, drows[ids[t] - first_row] (n_rows, D) += dy[t] (T, D); other
     * positions (frozen vocabulary rows) are skipped. ids are host memory. */
    void (*embedding_backward)(ow_backend *b, float *drows, const float *dy, const int32_t *ids, int T, int D,
                               int first_row, int n_rows);

    /* ---- the weights of the matrix products ---- */
    /* Which matrix dtype the products run fastest in on this machine (BF16 where the
     * processor has AMX or AVX512-BF16 and the backend has kernels for them). */
    ow_matrix_dtype preferred_matrix_dtype;
    /* Whether the backend can hold and multiply matrices of this dtype. */
    int (*matrix_supports)(ow_backend *b, ow_matrix_dtype dtype);
    /* Makes *out a (rows, cols) matrix of dtype from f32 (rows, cols), which it takes
     * over: f32 becomes the matrix, or is converted and freed. On failure (out of
     * memory, a dtype the backend lacks) f32 is freed too and *out zeroed. */
    ow_status (*matrix_create)(ow_backend *b, ow_matrix *out, float *f32, int rows, int cols, ow_matrix_dtype dtype);
    /* Frees a matrix made by matrix_create (safe on a zeroed one) and zeroes it. */
    void (*matrix_free)(ow_backend *b, ow_matrix *m);
    /* host (rows, cols) = the matrix's values as f32. */
    void (*matrix_download)(ow_backend *b, float *host, const ow_matrix *m);
    /* The products inside attention (q k^T and p v): F32, or BF16 (q, k, v and the
     * probabilities rounded to bf16, scores, softmax and sums in f32). A setting the
     * backend's owner may change between ops; F32 after creation. */
    ow_matrix_dtype attention_dtype;
    /* The kernels the products run on, for --verbose and the benchmarks
     * ("OpenBLAS SkylakeX (f32); oneDNN brg:avx512_core_amx_bf16 (bf16)"). */
    void (*describe_kernels)(ow_backend *b, char *out, size_t cap);
    /* Waits for the work queued so far and reports the first failure since the backend
     * was made (ops return nothing: a backend that runs them asynchronously keeps the
     * first error and skips the ops after it). OW_OK on the CPU, which never queues. */
    ow_status (*status)(ow_backend *b, ow_error *err);
};

/* The CPU backend (always available). threads <= 0 means all cores. */
ow_status ow_cpu_backend_create(ow_backend **out, int threads, ow_error *err);

/* The CUDA backend (kernels/) on device `device` (0-based). Fails with a message that
 * says why when the build has no CUDA backend, no driver or device is there, or the
 * device is older than sm_80. */
ow_status ow_cuda_backend_create(ow_backend **out, int device, ow_error *err);
/* How many CUDA devices this process can use; 0 with the reason in why (cap bytes)
 * when none (no driver, no device, a build without CUDA). */
int ow_cuda_device_count(char *why, size_t cap);

/* The backend a device name asks for: "cpu"; "cuda" or "cuda:N" (an error, with its
 * reason, when that device cannot be used); "auto" or NULL: CUDA device 0 when one is
 * usable, else the CPU (a device that is there but fails to start is said through log
 * as a warning; a machine without CUDA says nothing). threads is the CPU's. */
ow_status ow_backend_create_for_device(ow_backend **out, const char *device, int threads, ow_log_fn log,
                                       void *log_user, ow_error *err);

#endif
