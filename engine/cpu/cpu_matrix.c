/* cpu_matrix.c: the CPU backend's matrix weights (f32; bf16 for the oneDNN
 * products; f16 held for memory and multiplied as f32), the conversions the
 * products use, and the description of the kernels that run them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "cpu/cpu_internal.h"
#include "oneword.h"

OW_CPU_HOT
void ow_cpu_to_bf16(uint16_t *restrict dst, const float *restrict src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        /* round to nearest even; a NaN keeps its sign and stays a (quiet) NaN */
        uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        uint32_t quiet = (u >> 16) | 0x40u;
        dst[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
    }
}

OW_CPU_HOT
void ow_cpu_from_bf16(float *restrict dst, const uint16_t *restrict src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

OW_CPU_HOT
void ow_cpu_from_f16(float *restrict dst, const uint16_t *restrict src, size_t n) {
#if defined(__FLT16_MAX__) && defined(__x86_64__)
    /* _Float16: the x86-64-v3/v4 clones convert 8 or 16 values per vcvtph2ps */
    for (size_t i = 0; i < n; i++) {
        _Float16 h;
        memcpy(&h, &src[i], sizeof h);
        dst[i] = (float)h;
    }
#else
    for (size_t i = 0; i < n; i++) dst[i] = ow_f16_to_f32(src[i]);
#endif
}

/* Values per task when the threads share a conversion. */
#define F16_BLOCK ((size_t)1 << 16)

const ow_matrix *ow_cpu_matrix_f32(cpu_state *c, const ow_matrix *m, ow_matrix *view) {
    if (m->dtype != OW_MATRIX_F16) return m;
    size_t n = (size_t)m->rows * (size_t)m->cols;
    long blocks = (long)((n + F16_BLOCK - 1) / F16_BLOCK);
    const uint16_t *src = m->data.f16;
    float *dst = c->staging; /* at least n floats: see cpu_matrix_create */
    #pragma omp parallel for num_threads(c->threads) schedule(static) if (c->use_omp && c->threads > 1 && blocks > 1)
    for (long k = 0; k < blocks; k++) {
        size_t at = (size_t)k * F16_BLOCK, len = n - at < F16_BLOCK ? n - at : F16_BLOCK;
        ow_cpu_from_f16(dst + at, src + at, len);
    }
    *view = (ow_matrix){{.f32 = dst}, OW_MATRIX_F32, m->rows, m->cols};
    return view;
}

void ow_cpu_rows_to_bf16(uint16_t *dst, size_t ld_dst, const float *src, size_t ld_src, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        uint16_t *row = dst + (size_t)r * ld_dst;
        ow_cpu_to_bf16(row, src + (size_t)r * ld_src, (size_t)cols);
        if (ld_dst > (size_t)cols) memset(row + cols, 0, (ld_dst - (size_t)cols) * sizeof *row);
    }
}

static int cpu_matrix_supports(ow_backend *b, ow_matrix_dtype dtype) {
    return dtype == OW_MATRIX_F32 || dtype == OW_MATRIX_F16 || (dtype == OW_MATRIX_BF16 && cpu_of(b)->dnnl);
}

/* An F16 matrix: f32 rounded to half precision (exact for values read from an f16
 * file); the staging buffer grows to hold it as f32, now, so that no product has to. */
static ow_status create_f16(ow_backend *b, ow_matrix *out, float *f32, int rows, int cols) {
    cpu_state *c = cpu_of(b);
    size_t n = (size_t)rows * (size_t)cols;
    if (n > c->staging_floats) {
        float *grown = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
        if (!grown) {
            b->free(b, f32);
            return OW_ERR_OUT_OF_MEMORY;
        }
        free(c->staging);
        c->staging = grown;
        c->staging_floats = n;
    }
    uint16_t *h = (uint16_t *)b->alloc(b, (n + 1) / 2);
    if (h)
        for (size_t i = 0; i < n; i++) h[i] = ow_f32_to_f16(f32[i]);
    b->free(b, f32);
    if (!h) return OW_ERR_OUT_OF_MEMORY;
    *out = (ow_matrix){{.f16 = h}, OW_MATRIX_F16, rows, cols};
    return OW_OK;
}

static ow_status cpu_matrix_create(ow_backend *b, ow_matrix *out, float *f32, int rows, int cols,
                                   ow_matrix_dtype dtype) {
    memset(out, 0, sizeof *out);
    if (dtype == OW_MATRIX_F32) {
        *out = (ow_matrix){{.f32 = f32}, OW_MATRIX_F32, rows, cols};
        return OW_OK;
    }
    if (dtype == OW_MATRIX_F16) return create_f16(b, out, f32, rows, cols);
    size_t n = (size_t)rows * (size_t)cols;
    uint16_t *h = cpu_matrix_supports(b, dtype) ? (uint16_t *)b->alloc(b, (n + 1) / 2) : NULL;
    if (h) ow_cpu_to_bf16(h, f32, n);
    b->free(b, f32);
    if (!h) return OW_ERR_OUT_OF_MEMORY;
    *out = (ow_matrix){{.bf16 = h}, OW_MATRIX_BF16, rows, cols};
    return OW_OK;
}

static void cpu_matrix_free(ow_backend *b, ow_matrix *m) {
    if (m->data.ptr) b->free(b, m->data.ptr);
    memset(m, 0, sizeof *m);
}

static void cpu_matrix_download(ow_backend *b, float *host, const ow_matrix *m) {
    (void)b;
    size_t n = (size_t)m->rows * (size_t)m->cols;
    if (m->dtype == OW_MATRIX_F32) memcpy(host, m->data.f32, n * sizeof *host);
    else if (m->dtype == OW_MATRIX_F16) ow_cpu_from_f16(host, m->data.f16, n);
    else ow_cpu_from_bf16(host, m->data.bf16, n);
}

static void cpu_describe_kernels(ow_backend *b, char *out, size_t cap) {
    cpu_state *c = cpu_of(b);
    char blas[200];
    ow_cpu_blas_describe(blas, sizeof blas);
    char dnnl[200] = "unavailable (oneDNN could not start)";
    if (c->dnnl) ow_cpu_dnnl_describe(c->dnnl, dnnl, sizeof dnnl);
    snprintf(out, cap, "f32: OpenBLAS %s; bf16: %s", blas, dnnl);
}

static ow_status cpu_status(ow_backend *b, ow_error *err) {
    (void)b;
    (void)err;
    return OW_OK; /* every op has finished when it returns */
}

void ow_cpu_matrix_ops(ow_backend *b) {
    cpu_state *c = cpu_of(b);
    b->preferred_matrix_dtype = ow_cpu_dnnl_fast(c->dnnl) ? OW_MATRIX_BF16 : OW_MATRIX_F32;
    b->matrix_supports = cpu_matrix_supports;
    b->matrix_create = cpu_matrix_create;
    b->matrix_free = cpu_matrix_free;
    b->matrix_download = cpu_matrix_download;
    b->describe_kernels = cpu_describe_kernels;
    b->status = cpu_status;
}
