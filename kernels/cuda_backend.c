/* cuda_backend.c: the backend interface (engine/backend/backend.h) on an NVIDIA GPU.
 * Memory is the device's stream-ordered pool (cudaMallocAsync on one stream, so the
 * per-op activations of ow_run cost no device-wide synchronisation); the matrix
 * products are cuBLAS (f32 SGEMM; bf16 weights through cublasGemmEx on the tensor
 * cores with f32 accumulation; f16 weights converted to f32 per product, as the CPU
 * backend does, so the product is the f32 one); everything else is cuda_kernels.cu.
 *
 * cuBLAS is opened with dlopen when a backend is created, so a oneword built with CUDA
 * starts on machines without the CUDA libraries or a driver (it runs on the CPU
 * there); the CUDA runtime is linked statically and finds the driver itself.
 *
 * Ops return nothing (the interface's rule): the first failure (a launch, a cuBLAS
 * call, an allocation inside an op) is kept, later ops are skipped, and status()
 * reports it after waiting for the queued work.
 *
 * Attention materialises the scores of a block of query rows for every head of one
 * batch item (at most ATTENTION_SCRATCH_FLOATS of them) and runs both products as
 * strided-batched SGEMMs; the backward recomputes the probabilities from the saved
 * log-sum-exp per block. In this first version attention runs in f32 whatever
 * attention_dtype says (more exact than the CPU's bf16 attention). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "core/error.h"
#include "cuda_kernels.h"

/* Scratch for one product's im2col tile or one block of attention scores (floats). */
#define PRODUCT_SCRATCH_FLOATS ((size_t)64 << 20)    /* 256 MiB */
#define ATTENTION_SCRATCH_FLOATS ((size_t)64 << 20)  /* per scores buffer */

/* ---- cuBLAS through dlopen ---- */
typedef struct cublas_api {
    void *lib;
    int version;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*get_version)(cublasHandle_t, int *);
    cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
                            const float *, int, const float *, int, const float *, float *, int);
    cublasStatus_t (*sgemm_strided)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                    const float *, const float *, int, long long, const float *, int, long long,
                                    const float *, float *, int, long long, int);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                              const void *, cudaDataType, int, const void *, cudaDataType, int, const void *, void *,
                              cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
} cublas_api;

static ow_status open_cublas(cublas_api *api, ow_error *err) {
    char names[4][64];
    snprintf(names[0], sizeof names[0], "libcublas.so.%d", CUDART_VERSION / 1000);
    snprintf(names[1], sizeof names[1], "libcublas.so.%d", CUDART_VERSION / 1000 + 1);
    snprintf(names[2], sizeof names[2], "libcublas.so");
    snprintf(names[3], sizeof names[3], "/usr/local/cuda/lib64/libcublas.so");
    for (int i = 0; i < 4 && !api->lib; i++) api->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!api->lib)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "cuda backend: cuBLAS (%s) is not installed or not on the "
                            "library path: %s", names[0], dlerror());
#define LOAD(field, symbol)                                                                              \
    do {                                                                                                 \
        *(void **)&api->field = dlsym(api->lib, symbol);                                                 \
        if (!api->field) {                                                                               \
            dlclose(api->lib);                                                                           \
            api->lib = NULL;                                                                             \
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "cuda backend: cuBLAS lacks %s (too old?)", symbol); \
        }                                                                                                \
    } while (0)
    LOAD(create, "cublasCreate_v2");
    LOAD(destroy, "cublasDestroy_v2");
    LOAD(set_stream, "cublasSetStream_v2");
    LOAD(get_version, "cublasGetVersion_v2");
    LOAD(sgemm, "cublasSgemm_v2");
    LOAD(sgemm_strided, "cublasSgemmStridedBatched");
    LOAD(gemm_ex, "cublasGemmEx");
#undef LOAD
    return OW_OK;
}

/* ---- state ---- */
typedef struct cuda_state {
    int device;
    cudaStream_t stream;
    cublas_api blas;
    cublasHandle_t handle;
    ow_status failure;     /* the first failure (OW_OK while none) */
    char message[256];
    int32_t *ids;          /* device copy of an op's host ids */
    size_t ids_cap;
    void *scratch[3];      /* per-op scratch buffers, grown on demand */
    size_t scratch_bytes[3];
    float *staging;        /* an f16 matrix as f32 during one product (sized when the matrix is made) */
    size_t staging_floats;
    char device_name[256];
    int sm;
} cuda_state;

static cuda_state *cuda_of(ow_backend *b) { return (cuda_state *)b->impl; }
static owk_stream stream_of(cuda_state *c) { return (owk_stream)c->stream; }

static void fail(cuda_state *c, ow_status status, const char *fmt, const char *what, int code) {
    if (c->failure != OW_OK) return;
    c->failure = status;
    snprintf(c->message, sizeof c->message, fmt, what, code);
}

/* Keeps a launch's or runtime call's error; returns 1 when all is well. */
static int cuda_ok(cuda_state *c, int code, const char *what) {
    if (code == 0) return 1;
    char text[200];
    snprintf(text, sizeof text, "%s: %s", what, cudaGetErrorString((cudaError_t)code));
    fail(c, code == cudaErrorMemoryAllocation ? OW_ERR_OUT_OF_MEMORY : OW_ERR_IO, "cuda backend: %s (error %d)", text,
         code);
    return 0;
}

static int blas_ok(cuda_state *c, cublasStatus_t st, const char *what) {
    if (st == CUBLAS_STATUS_SUCCESS) return 1;
    fail(c, st == CUBLAS_STATUS_ALLOC_FAILED ? OW_ERR_OUT_OF_MEMORY : OW_ERR_IO, "cuda backend: cuBLAS %s failed "
         "(status %d)", what, (int)st);
    return 0;
}

/* Scratch buffer `which` of at least bytes; NULL (failure kept) when it cannot grow. */
static void *scratch(cuda_state *c, int which, size_t bytes) {
    if (c->scratch_bytes[which] >= bytes) return c->scratch[which];
    if (c->scratch[which]) cudaFreeAsync(c->scratch[which], c->stream);
    c->scratch[which] = NULL;
    c->scratch_bytes[which] = 0;
    if (!cuda_ok(c, cudaMallocAsync(&c->scratch[which], bytes, c->stream), "scratch")) return NULL;
    c->scratch_bytes[which] = bytes;
    return c->scratch[which];
}

static const int32_t *device_ids(cuda_state *c, const int32_t *host, int T) {
    if ((size_t)T > c->ids_cap) {
        if (c->ids) cudaFreeAsync(c->ids, c->stream);
        c->ids = NULL;
        c->ids_cap = 0;
        if (!cuda_ok(c, cudaMallocAsync((void **)&c->ids, (size_t)T * sizeof *c->ids, c->stream), "ids")) return NULL;
        c->ids_cap = (size_t)T;
    }
    if (!cuda_ok(c, cudaMemcpyAsync(c->ids, host, (size_t)T * sizeof *host, cudaMemcpyHostToDevice, c->stream), "ids"))
        return NULL;
    if (!cuda_ok(c, cudaStreamSynchronize(c->stream), "ids")) return NULL; /* the host ids may change after return */
    return c->ids;
}

#define SKIP_IF_FAILED(c) do { if ((c)->failure != OW_OK) return; } while (0)
#define LAUNCH(c, call) cuda_ok((c), (call), #call)

/* ---- memory ---- */
static float *cuda_alloc(ow_backend *b, size_t count) {
    cuda_state *c = cuda_of(b);
    void *p = NULL;
    if (count > SIZE_MAX / sizeof(float)) return NULL;
    if (cudaMallocAsync(&p, (count ? count : 1) * sizeof(float), c->stream) != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is reported by NULL, not kept */
        return NULL;
    }
    return p;
}

static void cuda_free(ow_backend *b, float *p) {
    if (p) cudaFreeAsync(p, cuda_of(b)->stream);
}

static void cuda_upload(ow_backend *b, float *dst, const float *host, size_t count) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (!count) return;
    if (cuda_ok(c, cudaMemcpyAsync(dst, host, count * sizeof(float), cudaMemcpyHostToDevice, c->stream), "upload"))
        cuda_ok(c, cudaStreamSynchronize(c->stream), "upload");
}

static void cuda_download(ow_backend *b, float *host, const float *src, size_t count) {
    cuda_state *c = cuda_of(b);
    if (!count) return;
    if (c->failure != OW_OK) { /* the caller reads something defined; status() says what went wrong */
        memset(host, 0, count * sizeof(float));
        return;
    }
    if (cuda_ok(c, cudaMemcpyAsync(host, src, count * sizeof(float), cudaMemcpyDeviceToHost, c->stream), "download"))
        cuda_ok(c, cudaStreamSynchronize(c->stream), "download");
}

static void cuda_copy(ow_backend *b, float *dst, const float *src, size_t count) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (count && dst != src)
        cuda_ok(c, cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToDevice, c->stream), "copy");
}

static void zero(cuda_state *c, float *p, size_t count) {
    if (count) cuda_ok(c, cudaMemsetAsync(p, 0, count * sizeof(float), c->stream), "memset");
}

/* ---- matrix products ---- */
static const float ONE = 1.0f;

/* An F16 matrix's values as f32 in the staging buffer (sized when it was made). */
static const ow_matrix *as_f32(cuda_state *c, const ow_matrix *m, ow_matrix *view) {
    if (m->dtype != OW_MATRIX_F16) return m;
    size_t n = (size_t)m->rows * (size_t)m->cols;
    LAUNCH(c, owk_f16_to_f32(c->staging, m->data.f16, n, stream_of(c)));
    *view = (ow_matrix){{.f32 = c->staging}, OW_MATRIX_F32, m->rows, m->cols};
    return view;
}

/* Column-major C (m, n) = op(A) (m, k) . op(B) (k, n) + beta C, A and B both f32 or
 * both bf16 (f32 accumulation on the tensor cores). */
static void gemm(cuda_state *c, int bf16, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                 const void *A, int lda, const void *B, int ldb, float beta, float *C, int ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    if (!bf16) {
        blas_ok(c, c->blas.sgemm(c->handle, ta, tb, m, n, k, &ONE, A, lda, B, ldb, &beta, C, ldc), "sgemm");
        return;
    }
    blas_ok(c, c->blas.gemm_ex(c->handle, ta, tb, m, n, k, &ONE, A, CUDA_R_16BF, lda, B, CUDA_R_16BF, ldb, &beta, C,
                               CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "gemm (bf16)");
}

/* x (rows, cols) as bf16 in scratch `which`. */
static const uint16_t *bf16_copy(cuda_state *c, int which, const float *x, size_t n) {
    uint16_t *h = scratch(c, which, (n ? n : 1) * sizeof(uint16_t));
    if (h) LAUNCH(c, owk_f32_to_bf16(h, x, n, stream_of(c)));
    return h;
}

static void cuda_linear(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias, int M, int N,
                        int K) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (M <= 0 || N <= 0) return;
    float beta = 0.0f;
    if (bias) {
        LAUNCH(c, owk_fill_rows(out, bias, M, N, stream_of(c)));
        beta = 1.0f;
    } else if (K == 0) {
        zero(c, out, (size_t)M * N);
    }
    if (K == 0) return;
    ow_matrix view;
    w = as_f32(c, w, &view);
    /* row-major out (M, N) = x (M, K) . w (N, K)^T is column-major out^T (N, M) = w^T . x^T */
    if (w->dtype == OW_MATRIX_BF16) {
        const uint16_t *xb = bf16_copy(c, 0, x, (size_t)M * K);
        if (xb) gemm(c, 1, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, w->data.bf16, K, xb, K, beta, out, N);
    } else {
        gemm(c, 0, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, w->data.f32, K, x, K, beta, out, N);
    }
}

static void cuda_linear_backward(ow_backend *b, float *dx, const float *dy, const ow_matrix *w, int M, int N, int K) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (M <= 0 || K <= 0) return;
    if (N <= 0) {
        zero(c, dx, (size_t)M * K);
        return;
    }
    ow_matrix view;
    w = as_f32(c, w, &view);
    /* dx (M, K) = dy (M, N) . w (N, K): column-major dx^T (K, M) = w^T (K, N) . dy^T (N, M) */
    if (w->dtype == OW_MATRIX_BF16) {
        const uint16_t *db = bf16_copy(c, 0, dy, (size_t)M * N);
        if (db) gemm(c, 1, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, w->data.bf16, K, db, N, 0.0f, dx, K);
    } else {
        gemm(c, 0, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, w->data.f32, K, dy, N, 0.0f, dx, K);
    }
}

static void cuda_conv2d_pad4(ow_backend *b, float *out, const float *x, const ow_matrix *wm, const float *bias, int B,
                             int C, int H, int W, int O, int kh, int kw, int stride, int pt, int pb, int pl, int pr) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    const int Ho = (H + pt + pb - kh) / stride + 1, Wo = (W + pl + pr - kw) / stride + 1;
    if (B <= 0 || O <= 0 || Ho <= 0 || Wo <= 0) return;
    const int P = Ho * Wo;
    const size_t CK = (size_t)C * kh * kw;
    ow_matrix view;
    wm = as_f32(c, wm, &view);
    const int bf16 = wm->dtype == OW_MATRIX_BF16;
    const int direct = !bf16 && kh == 1 && kw == 1 && stride == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0;
    size_t tile = CK ? PRODUCT_SCRATCH_FLOATS / CK : (size_t)P;
    if (tile < 1) tile = 1;
    if (tile > (size_t)P) tile = (size_t)P;
    void *col = direct || CK == 0 ? NULL : scratch(c, 0, CK * tile * (bf16 ? sizeof(uint16_t) : sizeof(float)));
    if (!direct && CK && !col) return;
    for (int bi = 0; bi < B && c->failure == OW_OK; bi++) {
        const float *xb = x + (size_t)bi * C * H * W;
        float *ob = out + (size_t)bi * O * P;
        float beta = 0.0f;
        if (bias) {
            LAUNCH(c, owk_fill_channels(ob, bias, O, P, (size_t)P, stream_of(c)));
            beta = 1.0f;
        } else if (CK == 0) {
            zero(c, ob, (size_t)O * P);
        }
        if (CK == 0) continue;
        /* row-major out (O, P) = w (O, CK) . col (CK, P): column-major out^T (P, O) = col^T (P, CK) . w^T (CK, O) */
        if (direct) {
            gemm(c, 0, CUBLAS_OP_N, CUBLAS_OP_N, P, O, C, xb, P, wm->data.f32, C, beta, ob, P);
            continue;
        }
        for (int p0 = 0; p0 < P && c->failure == OW_OK; p0 += (int)tile) {
            const int np = P - p0 < (int)tile ? P - p0 : (int)tile;
            if (bf16) {
                LAUNCH(c, owk_im2col_bf16(col, xb, C, H, W, kh, kw, stride, pt, pl, Wo, p0, np, stream_of(c)));
                gemm(c, 1, CUBLAS_OP_N, CUBLAS_OP_N, np, O, (int)CK, col, np, wm->data.bf16, (int)CK, beta, ob + p0, P);
            } else {
                LAUNCH(c, owk_im2col(col, xb, C, H, W, kh, kw, stride, pt, pl, Wo, p0, np, stream_of(c)));
                gemm(c, 0, CUBLAS_OP_N, CUBLAS_OP_N, np, O, (int)CK, col, np, wm->data.f32, (int)CK, beta, ob + p0, P);
            }
        }
    }
}

static void cuda_conv2d(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias, int B, int C,
                        int H, int W, int O, int kh, int kw, int stride, int pad) {
    cuda_conv2d_pad4(b, out, x, w, bias, B, C, H, W, O, kh, kw, stride, pad, pad, pad, pad);
}

static void cuda_conv2d_backward(ow_backend *b, float *dx, const float *dy, const ow_matrix *wm, int B, int C, int H,
                                 int W, int O, int kh, int kw, int stride, int pt, int pb, int pl, int pr) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0) return;
    zero(c, dx, (size_t)B * C * H * W);
    if (O <= 0 || kh <= 0 || kw <= 0 || stride <= 0 || H + pt + pb < kh || W + pl + pr < kw) return;
    const int Ho = (H + pt + pb - kh) / stride + 1, Wo = (W + pl + pr - kw) / stride + 1, P = Ho * Wo;
    const size_t CK = (size_t)C * kh * kw;
    ow_matrix view;
    wm = as_f32(c, wm, &view);
    const int bf16 = wm->dtype == OW_MATRIX_BF16;
    size_t tile = PRODUCT_SCRATCH_FLOATS / CK;
    if (tile < 1) tile = 1;
    if (tile > (size_t)P) tile = (size_t)P;
    float *cols = scratch(c, 0, CK * tile * sizeof(float));
    if (!cols) return;
    for (int bi = 0; bi < B && c->failure == OW_OK; bi++) {
        const float *dyb = dy + (size_t)bi * O * P;
        float *dxb = dx + (size_t)bi * C * H * W;
        const void *A = dyb;
        if (bf16 && !(A = bf16_copy(c, 1, dyb, (size_t)O * P))) return;
        for (int p0 = 0; p0 < P && c->failure == OW_OK; p0 += (int)tile) {
            const int np = P - p0 < (int)tile ? P - p0 : (int)tile;
            /* cols (CK, np) = w^T (CK, O) . dy[:, p0:] (O, np): column-major cols^T (np, CK) = dy^T . w */
            const void *At = bf16 ? (const void *)((const uint16_t *)A + p0) : (const void *)((const float *)A + p0);
            gemm(c, bf16, CUBLAS_OP_N, CUBLAS_OP_T, np, (int)CK, O, At, P, wm->data.ptr, (int)CK, 0.0f, cols, np);
            LAUNCH(c, owk_col2im_add(dxb, cols, C, H, W, kh, kw, stride, pt, pl, Ho, Wo, p0, np, stream_of(c)));
        }
    }
}

/* ---- attention ---- */

/* Query rows per block so that heads x rows x Tk scores fit the scratch. */
static int query_block(int heads, int Tq, int Tk) {
    size_t rows = ATTENTION_SCRATCH_FLOATS / ((size_t)heads * (Tk > 0 ? Tk : 1));
    if (rows < 1) rows = 1;
    return rows < (size_t)Tq ? (int)rows : Tq;
}

/* Column-major strided-batched SGEMM over heads. */
static void gemm_heads(cuda_state *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *A,
                       int lda, long long sa, const float *B, int ldb, long long sb, float beta, float *C, int ldc,
                       long long sc, int heads) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    blas_ok(c, c->blas.sgemm_strided(c->handle, ta, tb, m, n, k, &ONE, A, lda, sa, B, ldb, sb, &beta, C, ldc, sc, heads),
            "strided sgemm");
}

static void attention_forward(ow_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                              int B, int Tq, int Tk, int heads, int D, float scale, int causal) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (B <= 0 || Tq <= 0 || heads <= 0 || D <= 0) return;
    const int HD = heads * D, nr_max = query_block(heads, Tq, Tk);
    float *S = scratch(c, 1, (size_t)heads * nr_max * (Tk > 0 ? Tk : 1) * sizeof(float));
    if (!S) return;
    for (int bi = 0; bi < B && c->failure == OW_OK; bi++) {
        const float *qb = q + (size_t)bi * Tq * HD, *kb = k + (size_t)bi * Tk * HD, *vb = v + (size_t)bi * Tk * HD;
        float *ob = out + (size_t)bi * Tq * HD, *lb = lse ? lse + (size_t)bi * heads * Tq : NULL;
        for (int i0 = 0; i0 < Tq && c->failure == OW_OK; i0 += nr_max) {
            const int nr = Tq - i0 < nr_max ? Tq - i0 : nr_max;
            const long long splane = (long long)nr * Tk;
            /* S_h (nr, Tk) = q_h k_h^T: column-major S^T (Tk, nr) = k_h (as (D, Tk))^T . q_h (as (D, nr)) */
            gemm_heads(c, CUBLAS_OP_T, CUBLAS_OP_N, Tk, nr, D, kb, HD, D, qb + (size_t)i0 * HD, HD, D, 0.0f, S, Tk,
                       splane, heads);
            LAUNCH(c, owk_softmax_rows(S, lb, heads, nr, Tk, Tq, i0, scale, causal, stream_of(c)));
            /* O_h (nr, D) = P_h v_h: column-major O^T (D, nr) = v_h^T (D, Tk) . P^T (Tk, nr) */
            gemm_heads(c, CUBLAS_OP_N, CUBLAS_OP_N, D, nr, Tk, vb, HD, D, S, Tk, splane, 0.0f, ob + (size_t)i0 * HD, HD,
                       D, heads);
            if (Tk == 0) zero(c, ob + (size_t)i0 * HD, (size_t)nr * HD);
        }
    }
}

static void cuda_attention(ow_backend *b, float *out, const float *q, const float *k, const float *v, int B, int Tq,
                           int Tk, int heads, int D, float scale, int causal) {
    attention_forward(b, out, NULL, q, k, v, B, Tq, Tk, heads, D, scale, causal);
}

static void cuda_attention_train(ow_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                                 int B, int Tq, int Tk, int heads, int D, float scale, int causal) {
    attention_forward(b, out, lse, q, k, v, B, Tq, Tk, heads, D, scale, causal);
}

static void cuda_attention_backward(ow_backend *b, float *dq, float *dk, float *dv, const float *dout, const float *q,
                                    const float *k, const float *v, const float *out, const float *lse, int B, int Tq,
                                    int Tk, int heads, int D, float scale, int causal) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (B <= 0 || heads <= 0 || D <= 0) return;
    const int HD = heads * D;
    if (Tq <= 0 || Tk <= 0) {
        if (dq) zero(c, dq, (size_t)B * (Tq > 0 ? Tq : 0) * HD);
        if (dk) zero(c, dk, (size_t)B * (Tk > 0 ? Tk : 0) * HD);
        if (dv) zero(c, dv, (size_t)B * (Tk > 0 ? Tk : 0) * HD);
        return;
    }
    const int nr_max = query_block(heads, Tq, Tk);
    const size_t sbytes = (size_t)heads * nr_max * Tk * sizeof(float);
    float *P = scratch(c, 1, sbytes), *dP = scratch(c, 2, sbytes + (size_t)heads * nr_max * sizeof(float));
    if (!P || !dP) return;
    float *delta = dP + (size_t)heads * nr_max * Tk;
    for (int bi = 0; bi < B && c->failure == OW_OK; bi++) {
        const size_t qo = (size_t)bi * Tq * HD, ko = (size_t)bi * Tk * HD;
        const float *qb = q + qo, *kb = k + ko, *vb = v + ko, *dob = dout + qo, *outb = out + qo;
        const float *lb = lse + (size_t)bi * heads * Tq;
        for (int i0 = 0; i0 < Tq && c->failure == OW_OK; i0 += nr_max) {
            const int nr = Tq - i0 < nr_max ? Tq - i0 : nr_max;
            const long long splane = (long long)nr * Tk;
            const float beta = i0 > 0 ? 1.0f : 0.0f; /* dk, dv sum over the query blocks */
            const float *qi = qb + (size_t)i0 * HD, *doi = dob + (size_t)i0 * HD;
            gemm_heads(c, CUBLAS_OP_T, CUBLAS_OP_N, Tk, nr, D, kb, HD, D, qi, HD, D, 0.0f, P, Tk, splane, heads);
            LAUNCH(c, owk_probabilities(P, lb, heads, nr, Tk, Tq, i0, scale, causal, stream_of(c)));
            LAUNCH(c, owk_row_deltas(delta, doi, outb + (size_t)i0 * HD, heads, nr, D, stream_of(c)));
            /* dv_h (Tk, D) += P_h^T dout_h: column-major dv^T (D, Tk) = dout^T (D, nr) . P (nr, Tk) */
            if (dv)
                gemm_heads(c, CUBLAS_OP_N, CUBLAS_OP_T, D, Tk, nr, doi, HD, D, P, Tk, splane, beta, dv + ko, HD, D,
                           heads);
            if (!dq && !dk) continue;
            /* dP_h (nr, Tk) = dout_h v_h^T, then dS = P (dP - delta) scale */
            gemm_heads(c, CUBLAS_OP_T, CUBLAS_OP_N, Tk, nr, D, vb, HD, D, doi, HD, D, 0.0f, dP, Tk, splane, heads);
            LAUNCH(c, owk_score_gradient(dP, P, delta, heads, nr, Tk, scale, stream_of(c)));
            /* dq_h (nr, D) = dS_h k_h */
            if (dq)
                gemm_heads(c, CUBLAS_OP_N, CUBLAS_OP_N, D, nr, Tk, kb, HD, D, dP, Tk, splane, 0.0f,
                           dq + qo + (size_t)i0 * HD, HD, D, heads);
            /* dk_h (Tk, D) += dS_h^T q_h */
            if (dk)
                gemm_heads(c, CUBLAS_OP_N, CUBLAS_OP_T, D, Tk, nr, qi, HD, D, dP, Tk, splane, beta, dk + ko, HD, D,
                           heads);
        }
    }
}

/* ---- normalisation ---- */
static void cuda_group_norm_train(ow_backend *b, float *out, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, int B, int C, int HW, int groups, float eps,
                                  int fuse_silu) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_group_norm(out, mean, rstd, x, gamma, beta, B, C, HW, groups, eps, fuse_silu, stream_of(c)));
}
static void cuda_group_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta, int B,
                            int C, int HW, int groups, float eps, int fuse_silu) {
    cuda_group_norm_train(b, out, NULL, NULL, x, gamma, beta, B, C, HW, groups, eps, fuse_silu);
}
static void cuda_group_norm_backward(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                     const float *beta, const float *mean, const float *rstd, int B, int C, int HW,
                                     int groups, int fuse_silu) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_group_norm_backward(dx, dy, x, gamma, beta, mean, rstd, B, C, HW, groups, fuse_silu, stream_of(c)));
}
static void cuda_layer_norm_train(ow_backend *b, float *out, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, int M, int N, float eps) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_layer_norm(out, mean, rstd, x, gamma, beta, M, N, eps, stream_of(c)));
}
static void cuda_layer_norm(ow_backend *b, float *out, const float *x, const float *gamma, const float *beta, int M,
                            int N, float eps) {
    cuda_layer_norm_train(b, out, NULL, NULL, x, gamma, beta, M, N, eps);
}
static void cuda_layer_norm_backward(ow_backend *b, float *dx, const float *dy, const float *x, const float *gamma,
                                     const float *mean, const float *rstd, int M, int N) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_layer_norm_backward(dx, dy, x, gamma, mean, rstd, M, N, stream_of(c)));
}

/* ---- element-wise and shapes ---- */
#define UNARY_OP(name, launcher)                                                     \
    static void name(ow_backend *b, float *out, const float *x, size_t n) {         \
        cuda_state *c = cuda_of(b);                                                  \
        SKIP_IF_FAILED(c);                                                           \
        LAUNCH(c, launcher(out, x, n, stream_of(c)));                                \
    }
UNARY_OP(cuda_silu, owk_silu)
UNARY_OP(cuda_gelu, owk_gelu)
UNARY_OP(cuda_quick_gelu, owk_quick_gelu)
#undef UNARY_OP

#define BACKWARD_OP(name, launcher)                                                              \
    static void name(ow_backend *b, float *dx, const float *dy, const float *x, size_t n) {      \
        cuda_state *c = cuda_of(b);                                                              \
        SKIP_IF_FAILED(c);                                                                       \
        LAUNCH(c, launcher(dx, dy, x, n, stream_of(c)));                                         \
    }
BACKWARD_OP(cuda_silu_backward, owk_silu_backward)
BACKWARD_OP(cuda_gelu_backward, owk_gelu_backward)
BACKWARD_OP(cuda_quick_gelu_backward, owk_quick_gelu_backward)
#undef BACKWARD_OP

static void cuda_add(ow_backend *b, float *out, const float *x, const float *y, size_t n) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_add(out, x, y, n, stream_of(c)));
}
static void cuda_axpby(ow_backend *b, float *out, float alpha, const float *x, float beta, const float *y, size_t n) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_axpby(out, alpha, x, beta, y, n, stream_of(c)));
}
static void cuda_scale(ow_backend *b, float *out, const float *x, float s, size_t n) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_scale(out, x, s, n, stream_of(c)));
}
static void cuda_geglu(ow_backend *b, float *out, const float *x, int M, int N) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_geglu(out, x, M, N, stream_of(c)));
}
static void cuda_geglu_backward(ow_backend *b, float *dx, const float *dy, const float *x, int M, int N) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_geglu_backward(dx, dy, x, M, N, stream_of(c)));
}
static void cuda_add_channel_bias(ow_backend *b, float *out, const float *x, const float *pc, int B, int C, int HW) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_add_channel_bias(out, x, pc, B, C, HW, stream_of(c)));
}
static void cuda_to_channels_last(ow_backend *b, float *out, const float *x, int B, int C, int HW) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_transpose(out, x, B, C, HW, stream_of(c)));
}
static void cuda_to_channels_first(ow_backend *b, float *out, const float *x, int B, int C, int HW) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_transpose(out, x, B, HW, C, stream_of(c)));
}
static void cuda_upsample(ow_backend *b, float *out, const float *x, int B, int C, int H, int W) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_upsample2x(out, x, B, C, H, W, stream_of(c)));
}
static void cuda_upsample_backward(ow_backend *b, float *dx, const float *dy, int B, int C, int H, int W) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_upsample2x_backward(dx, dy, B, C, H, W, stream_of(c)));
}
static void cuda_concat(ow_backend *b, float *out, const float *a, const float *bb, int B, int Ca, int Cb, int HW) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_concat(out, a, bb, B, Ca, Cb, HW, stream_of(c)));
}
static void cuda_concat_backward(ow_backend *b, float *da, float *db, const float *dy, int B, int Ca, int Cb, int HW) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    LAUNCH(c, owk_concat_backward(da, db, dy, B, Ca, Cb, HW, stream_of(c)));
}
static void cuda_embedding(ow_backend *b, float *out, const float *table, const int32_t *ids, int T, int D) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (T <= 0) return;
    const int32_t *d_ids = device_ids(c, ids, T);
    if (d_ids) LAUNCH(c, owk_embedding(out, table, d_ids, T, D, stream_of(c)));
}
static void cuda_embedding_backward(ow_backend *b, float *drows, const float *dy, const int32_t *ids, int T, int D,
                                    int first_row, int n_rows) {
    cuda_state *c = cuda_of(b);
    SKIP_IF_FAILED(c);
    if (T <= 0) return;
    const int32_t *d_ids = device_ids(c, ids, T);
    if (d_ids) LAUNCH(c, owk_embedding_backward(drows, dy, d_ids, T, D, first_row, n_rows, stream_of(c)));
}

/* ---- matrices ---- */
static int cuda_matrix_supports(ow_backend *b, ow_matrix_dtype dtype) {
    (void)b;
    return dtype == OW_MATRIX_F32 || dtype == OW_MATRIX_BF16 || dtype == OW_MATRIX_F16;
}

static ow_status cuda_matrix_create(ow_backend *b, ow_matrix *out, float *f32, int rows, int cols,
                                    ow_matrix_dtype dtype) {
    cuda_state *c = cuda_of(b);
    memset(out, 0, sizeof *out);
    if (dtype == OW_MATRIX_F32) {
        *out = (ow_matrix){{.f32 = f32}, OW_MATRIX_F32, rows, cols};
        return OW_OK;
    }
    const size_t n = (size_t)rows * (size_t)cols;
    if (dtype == OW_MATRIX_F16 && n > c->staging_floats) {
        if (c->staging) cudaFreeAsync(c->staging, c->stream);
        c->staging = NULL;
        c->staging_floats = 0;
        if (cudaMallocAsync((void **)&c->staging, n * sizeof(float), c->stream) != cudaSuccess) {
            cudaGetLastError();
            cuda_free(b, f32);
            return OW_ERR_OUT_OF_MEMORY;
        }
        c->staging_floats = n;
    }
    uint16_t *h = (uint16_t *)cuda_alloc(b, (n + 1) / 2);
    if (h) {
        if (dtype == OW_MATRIX_BF16) LAUNCH(c, owk_f32_to_bf16(h, f32, n, stream_of(c)));
        else LAUNCH(c, owk_f32_to_f16(h, f32, n, stream_of(c)));
    }
    cuda_free(b, f32);
    if (!h) return OW_ERR_OUT_OF_MEMORY;
    *out = (ow_matrix){{.bf16 = h}, dtype, rows, cols};
    return c->failure;
}

static void cuda_matrix_free(ow_backend *b, ow_matrix *m) {
    if (m->data.ptr) cuda_free(b, m->data.ptr);
    memset(m, 0, sizeof *m);
}

static void cuda_matrix_download(ow_backend *b, float *host, const ow_matrix *m) {
    cuda_state *c = cuda_of(b);
    const size_t n = (size_t)m->rows * (size_t)m->cols;
    if (m->dtype == OW_MATRIX_F32) {
        cuda_download(b, host, m->data.f32, n);
        return;
    }
    float *tmp = cuda_alloc(b, n);
    if (!tmp) {
        fail(c, OW_ERR_OUT_OF_MEMORY, "cuda backend: %s (%d)", "out of memory reading a matrix back", 0);
        memset(host, 0, n * sizeof *host);
        return;
    }
    if (m->dtype == OW_MATRIX_BF16) LAUNCH(c, owk_bf16_to_f32(tmp, m->data.bf16, n, stream_of(c)));
    else LAUNCH(c, owk_f16_to_f32(tmp, m->data.f16, n, stream_of(c)));
    cuda_download(b, host, tmp, n);
    cuda_free(b, tmp);
}

static void cuda_describe_kernels(ow_backend *b, char *out, size_t cap) {
    cuda_state *c = cuda_of(b);
    int v = c->blas.version;
    snprintf(out, cap, "CUDA %s (sm_%d), cuBLAS %d.%d.%d: f32 SGEMM; bf16 GemmEx on the tensor cores (f32 sums); "
             "attention in f32", c->device_name, c->sm, v / 10000, v / 100 % 100, v % 100);
}

static ow_status cuda_status(ow_backend *b, ow_error *err) {
    cuda_state *c = cuda_of(b);
    if (c->failure == OW_OK) cuda_ok(c, cudaStreamSynchronize(c->stream), "synchronise");
    if (c->failure == OW_OK) cuda_ok(c, (int)cudaGetLastError(), "a kernel");
    if (c->failure == OW_OK) return OW_OK;
    return ow_error_set(err, c->failure, "%s", c->message);
}

static void cuda_destroy(ow_backend *b) {
    if (!b) return;
    cuda_state *c = cuda_of(b);
    if (c) {
        for (int i = 0; i < 3; i++)
            if (c->scratch[i]) cudaFreeAsync(c->scratch[i], c->stream);
        if (c->ids) cudaFreeAsync(c->ids, c->stream);
        if (c->staging) cudaFreeAsync(c->staging, c->stream);
        if (c->stream) cudaStreamSynchronize(c->stream);
        if (c->handle) c->blas.destroy(c->handle);
        if (c->stream) cudaStreamDestroy(c->stream);
        if (c->blas.lib) dlclose(c->blas.lib);
    }
    free(c);
    free(b);
}

/* ---- creation ---- */

int ow_cuda_device_count(char *why, size_t cap) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (!why) return 0;
        void *driver = e == cudaErrorInsufficientDriver ? dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL) : NULL;
        if (e == cudaErrorInsufficientDriver && !driver)
            snprintf(why, cap, "no NVIDIA driver is installed: libcuda.so.1 was not found");
        else if (e == cudaErrorInsufficientDriver)
            snprintf(why, cap, "the NVIDIA driver is older than this build's CUDA %d.%d runtime needs: update the driver",
                     CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
        else if (e == cudaErrorNoDevice)
            snprintf(why, cap, "no CUDA device is present");
        else
            snprintf(why, cap, "%s", cudaGetErrorString(e));
        if (driver) dlclose(driver);
        return 0;
    }
    if (n == 0 && why) snprintf(why, cap, "no CUDA device is present");
    return n;
}

ow_status ow_cuda_backend_create(ow_backend **out, int device, ow_error *err) {
    if (!out) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cuda backend: out must not be NULL");
    *out = NULL;
    char why[200] = "";
    int count = ow_cuda_device_count(why, sizeof why);
    if (count == 0)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "no CUDA device can be used (%s)", why);
    if (device < 0 || device >= count)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "CUDA device %d does not exist: this machine has %d (0..%d)",
                            device, count, count - 1);
    struct cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "CUDA device %d: %s", device, cudaGetErrorString(e));
    if (prop.major < 8)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "CUDA device %d (%s) is sm_%d%d; oneword's kernels are built for "
                            "sm_80 and newer (A100, RTX 30xx and later)", device, prop.name, prop.major, prop.minor);
    ow_backend *b = calloc(1, sizeof *b);
    cuda_state *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "cuda backend: out of memory");
    }
    c->device = device;
    c->sm = prop.major * 10 + prop.minor;
    snprintf(c->device_name, sizeof c->device_name, "%s", prop.name);
    b->impl = c;
    b->destroy = cuda_destroy;
    ow_status s = OW_OK;
    if ((e = cudaSetDevice(device)) != cudaSuccess || (e = cudaStreamCreate(&c->stream)) != cudaSuccess)
        s = ow_error_set(err, OW_ERR_UNSUPPORTED, "CUDA device %d (%s): %s", device, prop.name, cudaGetErrorString(e));
    if (s == OW_OK) s = open_cublas(&c->blas, err);
    if (s == OW_OK && c->blas.create(&c->handle) != CUBLAS_STATUS_SUCCESS)
        s = ow_error_set(err, OW_ERR_UNSUPPORTED, "CUDA device %d (%s): cuBLAS could not start", device, prop.name);
    if (s == OW_OK && c->blas.set_stream(c->handle, c->stream) != CUBLAS_STATUS_SUCCESS)
        s = ow_error_set(err, OW_ERR_UNSUPPORTED, "cuda backend: cuBLAS refused the stream");
    if (s == OW_OK) c->blas.get_version(c->handle, &c->blas.version);
    if (s != OW_OK) {
        cuda_destroy(b);
        return s;
    }
    b->name = "cuda";
    b->threads = 1;
    b->alloc = cuda_alloc;
    b->free = cuda_free;
    b->upload = cuda_upload;
    b->download = cuda_download;
    b->copy = cuda_copy;
    b->linear = cuda_linear;
    b->conv2d = cuda_conv2d;
    b->attention = cuda_attention;
    b->group_norm = cuda_group_norm;
    b->layer_norm = cuda_layer_norm;
    b->silu = cuda_silu;
    b->gelu = cuda_gelu;
    b->quick_gelu = cuda_quick_gelu;
    b->add = cuda_add;
    b->axpby = cuda_axpby;
    b->scale = cuda_scale;
    b->geglu = cuda_geglu;
    b->add_channel_bias = cuda_add_channel_bias;
    b->to_channels_last = cuda_to_channels_last;
    b->to_channels_first = cuda_to_channels_first;
    b->upsample_nearest2x = cuda_upsample;
    b->concat_channels = cuda_concat;
    b->embedding = cuda_embedding;
    b->conv2d_pad4 = cuda_conv2d_pad4;
    b->linear_backward = cuda_linear_backward;
    b->conv2d_backward = cuda_conv2d_backward;
    b->attention_train = cuda_attention_train;
    b->attention_backward = cuda_attention_backward;
    b->group_norm_train = cuda_group_norm_train;
    b->group_norm_backward = cuda_group_norm_backward;
    b->layer_norm_train = cuda_layer_norm_train;
    b->layer_norm_backward = cuda_layer_norm_backward;
    b->silu_backward = cuda_silu_backward;
    b->gelu_backward = cuda_gelu_backward;
    b->quick_gelu_backward = cuda_quick_gelu_backward;
    b->geglu_backward = cuda_geglu_backward;
    b->upsample_nearest2x_backward = cuda_upsample_backward;
    b->concat_channels_backward = cuda_concat_backward;
    b->embedding_backward = cuda_embedding_backward;
    b->preferred_matrix_dtype = OW_MATRIX_BF16; /* tensor cores on every sm_80+ device */
    b->matrix_supports = cuda_matrix_supports;
    b->matrix_create = cuda_matrix_create;
    b->matrix_free = cuda_matrix_free;
    b->matrix_download = cuda_matrix_download;
    b->attention_dtype = OW_MATRIX_F32;
    b->describe_kernels = cuda_describe_kernels;
    b->status = cuda_status;
    *out = b;
    return OW_OK;
}
