/* cuda_kernels.cu: the CUDA backend's kernels (everything but the matrix products,
 * which cuda_backend.c hands to cuBLAS). Each launcher sizes its grid and enqueues on
 * the given stream; see cuda_kernels.h for the layouts. Reductions (norm statistics,
 * softmax sums) accumulate in double or in a fixed order, so results do not depend on
 * how blocks are scheduled. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#include "cuda_kernels.h"

namespace {

const int THREADS = 256;
const int MAX_BLOCKS = 65535;

inline int blocks_for(size_t n) {
    size_t b = (n + THREADS - 1) / THREADS;
    if (b < 1) b = 1;
    return b > (size_t)MAX_BLOCKS ? MAX_BLOCKS : (int)b;
}

inline cudaStream_t st(owk_stream s) { return (cudaStream_t)s; }

inline int launched() { return (int)cudaGetLastError(); }

#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
                               i += (size_t)blockDim.x * gridDim.x)

__device__ inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ inline float gelu_exact(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ inline float gelu_derivative(float x) {
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
    return cdf + x * pdf;
}

/* round to nearest even, NaN kept quiet (the CPU backend's ow_cpu_to_bf16) */
__device__ inline uint16_t to_bf16(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ inline float from_bf16(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

/* ---- conversions ---- */
__global__ void k_f32_to_bf16(uint16_t *dst, const float *src, size_t n) { GRID_STRIDE(i, n) dst[i] = to_bf16(src[i]); }
__global__ void k_bf16_to_f32(float *dst, const uint16_t *src, size_t n) { GRID_STRIDE(i, n) dst[i] = from_bf16(src[i]); }
__global__ void k_f16_to_f32(float *dst, const uint16_t *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] = __half2float(__ushort_as_half(src[i]));
}
__global__ void k_f32_to_f16(uint16_t *dst, const float *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] = __half_as_ushort(__float2half_rn(src[i]));
}

/* ---- element-wise ---- */
__global__ void k_silu(float *out, const float *x, size_t n) { GRID_STRIDE(i, n) out[i] = x[i] * sigmoid(x[i]); }
__global__ void k_gelu(float *out, const float *x, size_t n) { GRID_STRIDE(i, n) out[i] = gelu_exact(x[i]); }
__global__ void k_quick_gelu(float *out, const float *x, size_t n) {
    GRID_STRIDE(i, n) out[i] = x[i] * sigmoid(1.702f * x[i]);
}
__global__ void k_add(float *out, const float *x, const float *y, size_t n) { GRID_STRIDE(i, n) out[i] = x[i] + y[i]; }
__global__ void k_axpby(float *out, float a, const float *x, float b, const float *y, size_t n) {
    GRID_STRIDE(i, n) out[i] = a * x[i] + b * y[i];
}
__global__ void k_scale(float *out, const float *x, float a, size_t n) { GRID_STRIDE(i, n) out[i] = x[i] * a; }
__global__ void k_fill_rows(float *out, const float *bias, size_t M, size_t N) {
    GRID_STRIDE(i, M * N) out[i] = bias[i % N];
}
__global__ void k_fill_channels(float *out, const float *bias, size_t O, size_t P, size_t ld) {
    GRID_STRIDE(i, O * P) out[(i / P) * ld + i % P] = bias[i / P];
}
__global__ void k_geglu(float *out, const float *x, size_t M, size_t N) {
    GRID_STRIDE(i, M * N) {
        size_t r = i / N, c = i % N;
        out[i] = x[r * 2 * N + c] * gelu_exact(x[r * 2 * N + N + c]);
    }
}
__global__ void k_add_channel_bias(float *out, const float *x, const float *pc, size_t BC, size_t HW) {
    GRID_STRIDE(i, BC * HW) out[i] = x[i] + pc[i / HW];
}
/* 32x32 tiles through shared memory: reads and writes both coalesced. */
__global__ void k_transpose(float *out, const float *x, int rows, int cols) {
    __shared__ float tile[32][33];
    const size_t plane = (size_t)rows * cols;
    const float *xb = x + blockIdx.z * plane;
    float *ob = out + blockIdx.z * plane;
    int c = blockIdx.x * 32 + threadIdx.x;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        int r = blockIdx.y * 32 + k;
        if (r < rows && c < cols) tile[k][threadIdx.x] = xb[(size_t)r * cols + c];
    }
    __syncthreads();
    int r = blockIdx.y * 32 + threadIdx.x;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        int cc = blockIdx.x * 32 + k;
        if (cc < cols && r < rows) ob[(size_t)cc * rows + r] = tile[threadIdx.x][k];
    }
}
__global__ void k_upsample2x(float *out, const float *x, size_t BC, int H, int W) {
    const size_t W2 = 2 * (size_t)W, H2 = 2 * (size_t)H;
    GRID_STRIDE(i, BC * H2 * W2) {
        size_t ox = i % W2, oy = (i / W2) % H2, bc = i / (W2 * H2);
        out[i] = x[(bc * H + oy / 2) * W + ox / 2];
    }
}
__global__ void k_concat(float *out, const float *a, const float *b, size_t B, size_t Ca, size_t Cb, size_t HW) {
    const size_t C = Ca + Cb;
    GRID_STRIDE(i, B * C * HW) {
        size_t p = i % HW, c = (i / HW) % C, bi = i / (C * HW);
        out[i] = c < Ca ? a[(bi * Ca + c) * HW + p] : b[(bi * Cb + (c - Ca)) * HW + p];
    }
}
__global__ void k_embedding(float *out, const float *table, const int32_t *ids, size_t T, size_t D) {
    GRID_STRIDE(i, T * D) out[i] = table[(size_t)ids[i / D] * D + i % D];
}

/* ---- element-wise backward ---- */
__global__ void k_silu_backward(float *dx, const float *dy, const float *x, size_t n) {
    GRID_STRIDE(i, n) {
        float s = sigmoid(x[i]);
        dx[i] = dy[i] * (s + x[i] * s * (1.0f - s));
    }
}
__global__ void k_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
    GRID_STRIDE(i, n) dx[i] = dy[i] * gelu_derivative(x[i]);
}
__global__ void k_quick_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
    GRID_STRIDE(i, n) {
        float s = sigmoid(1.702f * x[i]);
        dx[i] = dy[i] * (s + 1.702f * x[i] * s * (1.0f - s));
    }
}
__global__ void k_geglu_backward(float *dx, const float *dy, const float *x, size_t M, size_t N) {
    GRID_STRIDE(i, M * N) {
        size_t r = i / N, c = i % N;
        float a = x[r * 2 * N + c], g = x[r * 2 * N + N + c];
        dx[r * 2 * N + c] = dy[i] * gelu_exact(g);
        dx[r * 2 * N + N + c] = dy[i] * a * gelu_derivative(g);
    }
}
__global__ void k_upsample2x_backward(float *dx, const float *dy, size_t BC, int H, int W) {
    const size_t W2 = 2 * (size_t)W;
    GRID_STRIDE(i, BC * H * W) {
        size_t x0 = i % W, y0 = (i / W) % H, bc = i / ((size_t)W * H);
        const float *d = dy + (bc * 2 * H + 2 * y0) * W2 + 2 * x0;
        dx[i] = (d[0] + d[1]) + (d[W2] + d[W2 + 1]);
    }
}
__global__ void k_concat_backward(float *da, float *db, const float *dy, size_t B, size_t Ca, size_t Cb, size_t HW) {
    const size_t C = Ca + Cb;
    GRID_STRIDE(i, B * C * HW) {
        size_t p = i % HW, c = (i / HW) % C, bi = i / (C * HW);
        if (c < Ca) {
            if (da) da[(bi * Ca + c) * HW + p] = dy[i];
        } else if (db) {
            db[(bi * Cb + (c - Ca)) * HW + p] = dy[i];
        }
    }
}
/* one thread per column d: the rows' sums in t order */
__global__ void k_embedding_backward(float *drows, const float *dy, const int32_t *ids, int T, int D, int first,
                                     int n_rows) {
    for (int d = blockIdx.x * blockDim.x + threadIdx.x; d < D; d += blockDim.x * gridDim.x)
        for (int t = 0; t < T; t++) {
            int r = ids[t] - first;
            if (r >= 0 && r < n_rows) drows[(size_t)r * D + d] += dy[(size_t)t * D + d];
        }
}

/* ---- im2col / col2im ---- */
template <typename T> __device__ inline T store(float v);
template <> __device__ inline float store<float>(float v) { return v; }
template <> __device__ inline uint16_t store<uint16_t>(float v) { return to_bf16(v); }

template <typename T>
__global__ void k_im2col(T *col, const float *x, int C, int H, int W, int kh, int kw, int stride, int pt, int pl,
                         int Wo, int p0, int np) {
    const size_t rows = (size_t)C * kh * kw;
    GRID_STRIDE(i, rows * np) {
        size_t p = i % np, row = i / np;
        int j = (int)(row % kw), ii = (int)((row / kw) % kh), c = (int)(row / ((size_t)kw * kh));
        int q = p0 + (int)p, oy = q / Wo, ox = q % Wo;
        int iy = oy * stride - pt + ii, ix = ox * stride - pl + j;
        float v = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[((size_t)c * H + iy) * W + ix] : 0.0f;
        col[i] = store<T>(v);
    }
}
/* one thread per input value: the taps that read it from output positions in the tile */
__global__ void k_col2im_add(float *dx, const float *col, int C, int H, int W, int kh, int kw, int stride, int pt,
                             int pl, int Ho, int Wo, int p0, int np) {
    GRID_STRIDE(idx, (size_t)C * H * W) {
        int ix = (int)(idx % W), iy = (int)((idx / W) % H), c = (int)(idx / ((size_t)W * H));
        float sum = 0.0f;
        for (int i = 0; i < kh; i++) {
            int ny = iy + pt - i;
            if (ny < 0 || ny % stride) continue;
            int oy = ny / stride;
            if (oy >= Ho) continue;
            for (int j = 0; j < kw; j++) {
                int nx = ix + pl - j;
                if (nx < 0 || nx % stride) continue;
                int ox = nx / stride;
                if (ox >= Wo) continue;
                int p = oy * Wo + ox - p0;
                if (p < 0 || p >= np) continue;
                sum += col[(((size_t)c * kh + i) * kw + j) * np + p];
            }
        }
        dx[idx] += sum;
    }
}

/* ---- block reductions in double ---- */
__device__ double block_sum(double v) {
    __shared__ double part[THREADS / 32];
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    double total = 0.0;
    if (threadIdx.x == 0)
        for (int w = 0; w < THREADS / 32; w++) total += part[w];
    __syncthreads();
    __shared__ double result;
    if (threadIdx.x == 0) result = total;
    __syncthreads();
    return result;
}

/* ---- group norm: one block per (batch, group); x (B, C, HW) ---- */
__global__ void k_group_norm(float *out, float *mean_out, float *rstd_out, const float *x, const float *gamma,
                             const float *beta, int C, int HW, int groups, float eps, int silu) {
    const int cpg = C / groups, bg = blockIdx.x, g = bg % groups;
    const size_t n = (size_t)cpg * HW, base = (size_t)bg * n;
    double s = 0.0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) s += x[base + i];
    const float mean = (float)(block_sum(s) / (double)n);
    double v = 0.0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
        double d = (double)x[base + i] - mean;
        v += d * d;
    }
    const float rstd = (float)(1.0 / sqrt(block_sum(v) / (double)n + (double)eps));
    if (threadIdx.x == 0 && mean_out) {
        mean_out[bg] = mean;
        rstd_out[bg] = rstd;
    }
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
        int c = g * cpg + (int)(i / HW);
        float y = (x[base + i] - mean) * (rstd * gamma[c]) + beta[c];
        out[base + i] = silu ? y * sigmoid(y) : y;
    }
}
__global__ void k_group_norm_backward(float *dx, const float *dy, const float *x, const float *gamma,
                                      const float *beta, const float *mean, const float *rstd, int C, int HW,
                                      int groups, int silu) {
    const int cpg = C / groups, bg = blockIdx.x, g = bg % groups;
    const size_t n = (size_t)cpg * HW, base = (size_t)bg * n;
    const float mu = mean[bg], rs = rstd[bg];
    double s1 = 0.0, s2 = 0.0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
        int c = g * cpg + (int)(i / HW);
        float xhat = (x[base + i] - mu) * rs, d = dy[base + i];
        if (silu) {
            float y = xhat * gamma[c] + beta[c], sg = sigmoid(y);
            d *= sg + y * sg * (1.0f - sg);
        }
        float dxhat = d * gamma[c];
        s1 += dxhat;
        s2 += (double)dxhat * xhat;
    }
    const float m1 = (float)(block_sum(s1) / (double)n), m2 = (float)(block_sum(s2) / (double)n);
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
        int c = g * cpg + (int)(i / HW);
        float xhat = (x[base + i] - mu) * rs, d = dy[base + i];
        if (silu) {
            float y = xhat * gamma[c] + beta[c], sg = sigmoid(y);
            d *= sg + y * sg * (1.0f - sg);
        }
        dx[base + i] = rs * (d * gamma[c] - m1 - xhat * m2);
    }
}

/* ---- layer norm: one block per row of x (M, N) ---- */
__global__ void k_layer_norm(float *out, float *mean_out, float *rstd_out, const float *x, const float *gamma,
                             const float *beta, int N, float eps) {
    const size_t base = (size_t)blockIdx.x * N;
    double s = 0.0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) s += x[base + i];
    const float mean = (float)(block_sum(s) / N);
    double v = 0.0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        double d = (double)x[base + i] - mean;
        v += d * d;
    }
    const float rstd = (float)(1.0 / sqrt(block_sum(v) / N + (double)eps));
    if (threadIdx.x == 0 && mean_out) {
        mean_out[blockIdx.x] = mean;
        rstd_out[blockIdx.x] = rstd;
    }
    for (int i = threadIdx.x; i < N; i += blockDim.x) out[base + i] = (x[base + i] - mean) * rstd * gamma[i] + beta[i];
}
__global__ void k_layer_norm_backward(float *dx, const float *dy, const float *x, const float *gamma,
                                      const float *mean, const float *rstd, int N) {
    const size_t base = (size_t)blockIdx.x * N;
    const float mu = mean[blockIdx.x], rs = rstd[blockIdx.x];
    double s1 = 0.0, s2 = 0.0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        float xhat = (x[base + i] - mu) * rs, dxhat = dy[base + i] * gamma[i];
        s1 += dxhat;
        s2 += (double)dxhat * xhat;
    }
    const float m1 = (float)(block_sum(s1) / N), m2 = (float)(block_sum(s2) / N);
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        float xhat = (x[base + i] - mu) * rs;
        dx[base + i] = rs * (dy[base + i] * gamma[i] - m1 - xhat * m2);
    }
}

/* ---- attention rows: one block per (head, query row) ---- */
__device__ float block_max(float v) {
    __shared__ float part[THREADS / 32];
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    if ((threadIdx.x & 31) == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    __shared__ float result;
    if (threadIdx.x == 0) {
        float m = part[0];
        for (int w = 1; w < THREADS / 32; w++) m = fmaxf(m, part[w]);
        result = m;
    }
    __syncthreads();
    return result;
}
__global__ void k_softmax_rows(float *S, float *lse, int nr, int Tk, int Tq, int i0, float scale, int causal) {
    const int h = blockIdx.x / nr, r = blockIdx.x % nr;
    float *row = S + (size_t)blockIdx.x * Tk;
    const int visible = causal ? min(Tk, i0 + r + 1) : Tk;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, row[j] * scale);
    m = block_max(m);
    double sum = 0.0;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) sum += expf(row[j] * scale - m);
    const double total = block_sum(sum);
    const float inv = (float)(1.0 / total);
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) row[j] = j < visible ? expf(row[j] * scale - m) * inv : 0.0f;
    if (lse && threadIdx.x == 0) lse[(size_t)h * Tq + i0 + r] = m + (float)log(total);
}
__global__ void k_probabilities(float *S, const float *lse, int nr, int Tk, int Tq, int i0, float scale, int causal) {
    const int h = blockIdx.x / nr, r = blockIdx.x % nr;
    float *row = S + (size_t)blockIdx.x * Tk;
    const int visible = causal ? min(Tk, i0 + r + 1) : Tk;
    const float l = lse[(size_t)h * Tq + i0 + r];
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) row[j] = j < visible ? expf(row[j] * scale - l) : 0.0f;
}
__global__ void k_row_deltas(float *delta, const float *dout, const float *out, int heads, int nr, int D) {
    GRID_STRIDE(i, (size_t)heads * nr) {
        int h = (int)(i / nr), r = (int)(i % nr);
        const size_t at = (size_t)r * heads * D + (size_t)h * D;
        float s = 0.0f;
        for (int d = 0; d < D; d++) s += dout[at + d] * out[at + d];
        delta[i] = s;
    }
}
__global__ void k_score_gradient(float *dP, const float *P, const float *delta, size_t rows, int Tk, float scale) {
    GRID_STRIDE(i, rows * Tk) dP[i] = P[i] * (dP[i] - delta[i / Tk]) * scale;
}

}  // namespace

extern "C" {

int owk_f32_to_bf16(uint16_t *dst, const float *src, size_t n, owk_stream s) {
    if (n) k_f32_to_bf16<<<blocks_for(n), THREADS, 0, st(s)>>>(dst, src, n);
    return launched();
}
int owk_f16_to_f32(float *dst, const uint16_t *src, size_t n, owk_stream s) {
    if (n) k_f16_to_f32<<<blocks_for(n), THREADS, 0, st(s)>>>(dst, src, n);
    return launched();
}
int owk_f32_to_f16(uint16_t *dst, const float *src, size_t n, owk_stream s) {
    if (n) k_f32_to_f16<<<blocks_for(n), THREADS, 0, st(s)>>>(dst, src, n);
    return launched();
}
int owk_bf16_to_f32(float *dst, const uint16_t *src, size_t n, owk_stream s) {
    if (n) k_bf16_to_f32<<<blocks_for(n), THREADS, 0, st(s)>>>(dst, src, n);
    return launched();
}

#define UNARY(name, kernel)                                                       \
    int name(float *out, const float *x, size_t n, owk_stream s) {                \
        if (n) kernel<<<blocks_for(n), THREADS, 0, st(s)>>>(out, x, n);           \
        return launched();                                                        \
    }
UNARY(owk_silu, k_silu)
UNARY(owk_gelu, k_gelu)
UNARY(owk_quick_gelu, k_quick_gelu)
#undef UNARY

int owk_add(float *out, const float *x, const float *y, size_t n, owk_stream s) {
    if (n) k_add<<<blocks_for(n), THREADS, 0, st(s)>>>(out, x, y, n);
    return launched();
}
int owk_axpby(float *out, float alpha, const float *x, float beta, const float *y, size_t n, owk_stream s) {
    if (n) k_axpby<<<blocks_for(n), THREADS, 0, st(s)>>>(out, alpha, x, beta, y, n);
    return launched();
}
int owk_scale(float *out, const float *x, float a, size_t n, owk_stream s) {
    if (n) k_scale<<<blocks_for(n), THREADS, 0, st(s)>>>(out, x, a, n);
    return launched();
}
int owk_fill_rows(float *out, const float *bias, int M, int N, owk_stream s) {
    size_t n = (size_t)M * N;
    if (n) k_fill_rows<<<blocks_for(n), THREADS, 0, st(s)>>>(out, bias, (size_t)M, (size_t)N);
    return launched();
}
int owk_fill_channels(float *out, const float *bias, int O, int P, size_t ld, owk_stream s) {
    size_t n = (size_t)O * P;
    if (n) k_fill_channels<<<blocks_for(n), THREADS, 0, st(s)>>>(out, bias, (size_t)O, (size_t)P, ld);
    return launched();
}
int owk_geglu(float *out, const float *x, int M, int N, owk_stream s) {
    size_t n = (size_t)M * N;
    if (n) k_geglu<<<blocks_for(n), THREADS, 0, st(s)>>>(out, x, (size_t)M, (size_t)N);
    return launched();
}
int owk_add_channel_bias(float *out, const float *x, const float *pc, int B, int C, int HW, owk_stream s) {
    size_t n = (size_t)B * C * HW;
    if (n) k_add_channel_bias<<<blocks_for(n), THREADS, 0, st(s)>>>(out, x, pc, (size_t)B * C, (size_t)HW);
    return launched();
}
int owk_transpose(float *out, const float *x, int B, int rows, int cols, owk_stream s) {
    if (B <= 0 || rows <= 0 || cols <= 0) return 0;
    dim3 grid((cols + 31) / 32, (rows + 31) / 32, B), block(32, 8);
    k_transpose<<<grid, block, 0, st(s)>>>(out, x, rows, cols);
    return launched();
}
int owk_upsample2x(float *out, const float *x, int B, int C, int H, int W, owk_stream s) {
    size_t n = (size_t)B * C * 4 * H * W;
    if (n) k_upsample2x<<<blocks_for(n), THREADS, 0, st(s)>>>(out, x, (size_t)B * C, H, W);
    return launched();
}
int owk_concat(float *out, const float *a, const float *b, int B, int Ca, int Cb, int HW, owk_stream s) {
    size_t n = (size_t)B * (Ca + Cb) * HW;
    if (n) k_concat<<<blocks_for(n), THREADS, 0, st(s)>>>(out, a, b, (size_t)B, (size_t)Ca, (size_t)Cb, (size_t)HW);
    return launched();
}
int owk_embedding(float *out, const float *table, const int32_t *ids, int T, int D, owk_stream s) {
    size_t n = (size_t)T * D;
    if (n) k_embedding<<<blocks_for(n), THREADS, 0, st(s)>>>(out, table, ids, (size_t)T, (size_t)D);
    return launched();
}

int owk_silu_backward(float *dx, const float *dy, const float *x, size_t n, owk_stream s) {
    if (n) k_silu_backward<<<blocks_for(n), THREADS, 0, st(s)>>>(dx, dy, x, n);
    return launched();
}
int owk_gelu_backward(float *dx, const float *dy, const float *x, size_t n, owk_stream s) {
    if (n) k_gelu_backward<<<blocks_for(n), THREADS, 0, st(s)>>>(dx, dy, x, n);
    return launched();
}
int owk_quick_gelu_backward(float *dx, const float *dy, const float *x, size_t n, owk_stream s) {
    if (n) k_quick_gelu_backward<<<blocks_for(n), THREADS, 0, st(s)>>>(dx, dy, x, n);
    return launched();
}
int owk_geglu_backward(float *dx, const float *dy, const float *x, int M, int N, owk_stream s) {
    size_t n = (size_t)M * N;
    if (n) k_geglu_backward<<<blocks_for(n), THREADS, 0, st(s)>>>(dx, dy, x, (size_t)M, (size_t)N);
    return launched();
}
int owk_upsample2x_backward(float *dx, const float *dy, int B, int C, int H, int W, owk_stream s) {
    size_t n = (size_t)B * C * H * W;
    if (n) k_upsample2x_backward<<<blocks_for(n), THREADS, 0, st(s)>>>(dx, dy, (size_t)B * C, H, W);
    return launched();
}
int owk_concat_backward(float *da, float *db, const float *dy, int B, int Ca, int Cb, int HW, owk_stream s) {
    size_t n = (size_t)B * (Ca + Cb) * HW;
    if (n) k_concat_backward<<<blocks_for(n), THREADS, 0, st(s)>>>(da, db, dy, (size_t)B, (size_t)Ca, (size_t)Cb,
                                                                     (size_t)HW);
    return launched();
}
int owk_embedding_backward(float *drows, const float *dy, const int32_t *ids, int T, int D, int first_row, int n_rows,
                           owk_stream s) {
    if (T > 0 && D > 0) k_embedding_backward<<<blocks_for((size_t)D), THREADS, 0, st(s)>>>(drows, dy, ids, T, D,
                                                                                           first_row, n_rows);
    return launched();
}

int owk_im2col(float *col, const float *x, int C, int H, int W, int kh, int kw, int stride, int pt, int pl, int Wo,
               int p0, int np, owk_stream s) {
    size_t n = (size_t)C * kh * kw * np;
    if (n) k_im2col<float><<<blocks_for(n), THREADS, 0, st(s)>>>(col, x, C, H, W, kh, kw, stride, pt, pl, Wo, p0, np);
    return launched();
}
int owk_im2col_bf16(uint16_t *col, const float *x, int C, int H, int W, int kh, int kw, int stride, int pt, int pl,
                    int Wo, int p0, int np, owk_stream s) {
    size_t n = (size_t)C * kh * kw * np;
    if (n) k_im2col<uint16_t><<<blocks_for(n), THREADS, 0, st(s)>>>(col, x, C, H, W, kh, kw, stride, pt, pl, Wo, p0, np);
    return launched();
}
int owk_col2im_add(float *dx, const float *col, int C, int H, int W, int kh, int kw, int stride, int pt, int pl,
                   int Ho, int Wo, int p0, int np, owk_stream s) {
    size_t n = (size_t)C * H * W;
    if (n) k_col2im_add<<<blocks_for(n), THREADS, 0, st(s)>>>(dx, col, C, H, W, kh, kw, stride, pt, pl, Ho, Wo, p0, np);
    return launched();
}

int owk_group_norm(float *out, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int B,
                   int C, int HW, int groups, float eps, int fuse_silu, owk_stream s) {
    if (B > 0 && groups > 0)
        k_group_norm<<<B * groups, THREADS, 0, st(s)>>>(out, mean, rstd, x, gamma, beta, C, HW, groups, eps, fuse_silu);
    return launched();
}
int owk_group_norm_backward(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                            const float *mean, const float *rstd, int B, int C, int HW, int groups, int fuse_silu,
                            owk_stream s) {
    if (B > 0 && groups > 0)
        k_group_norm_backward<<<B * groups, THREADS, 0, st(s)>>>(dx, dy, x, gamma, beta, mean, rstd, C, HW, groups,
                                                                 fuse_silu);
    return launched();
}
int owk_layer_norm(float *out, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int M,
                   int N, float eps, owk_stream s) {
    if (M > 0) k_layer_norm<<<M, THREADS, 0, st(s)>>>(out, mean, rstd, x, gamma, beta, N, eps);
    return launched();
}
int owk_layer_norm_backward(float *dx, const float *dy, const float *x, const float *gamma, const float *mean,
                            const float *rstd, int M, int N, owk_stream s) {
    if (M > 0) k_layer_norm_backward<<<M, THREADS, 0, st(s)>>>(dx, dy, x, gamma, mean, rstd, N);
    return launched();
}

int owk_softmax_rows(float *S, float *lse, int heads, int nr, int Tk, int Tq, int i0, float scale, int causal,
                     owk_stream s) {
    if (heads > 0 && nr > 0) k_softmax_rows<<<heads * nr, THREADS, 0, st(s)>>>(S, lse, nr, Tk, Tq, i0, scale, causal);
    return launched();
}
int owk_probabilities(float *S, const float *lse, int heads, int nr, int Tk, int Tq, int i0, float scale, int causal,
                      owk_stream s) {
    if (heads > 0 && nr > 0) k_probabilities<<<heads * nr, THREADS, 0, st(s)>>>(S, lse, nr, Tk, Tq, i0, scale, causal);
    return launched();
}
int owk_row_deltas(float *delta, const float *dout, const float *out, int heads, int nr, int D, owk_stream s) {
    size_t n = (size_t)heads * nr;
    if (n) k_row_deltas<<<blocks_for(n), THREADS, 0, st(s)>>>(delta, dout, out, heads, nr, D);
    return launched();
}
int owk_score_gradient(float *dP, const float *P, const float *delta, int heads, int nr, int Tk, float scale,
                       owk_stream s) {
    size_t rows = (size_t)heads * nr;
    if (rows && Tk > 0) k_score_gradient<<<blocks_for(rows * Tk), THREADS, 0, st(s)>>>(dP, P, delta, rows, Tk, scale);
    return launched();
}

}  // extern "C"
