/* cpu_matrix.c: the CPU backend's matrix weights (f32, or bf16 for the oneDNN
 * products), the f32 <-> bf16 conversions the products use, and the description
 * of the kernels that run them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void ow_cpu_rows_to_bf16(uint16_t *dst, size_t ld_dst, const float *src, size_t ld_src, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        uint16_t *row = dst + (size_t)r * ld_dst;
        ow_cpu_to_bf16(row, src + (size_t)r * ld_src, (size_t)cols);
        if (ld_dst > (size_t)cols) memset(row + cols, 0, (ld_dst - (size_t)cols) * sizeof *row);
    }
}

static int cpu_matrix_supports(ow_backend *b, ow_matrix_dtype dtype) {
    return dtype == OW_MATRIX_F32 || (dtype == OW_MATRIX_BF16 && cpu_of(b)->dnnl);
}

static ow_status cpu_matrix_create(ow_backend *b, ow_matrix *out, float *f32, int rows, int cols,
                                   ow_matrix_dtype dtype) {
    memset(out, 0, sizeof *out);
    if (dtype == OW_MATRIX_F32) {
        *out = (ow_matrix){{.f32 = f32}, OW_MATRIX_F32, rows, cols};
        return OW_OK;
    }
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

void ow_cpu_matrix_ops(ow_backend *b) {
    cpu_state *c = cpu_of(b);
    b->preferred_matrix_dtype = ow_cpu_dnnl_fast(c->dnnl) ? OW_MATRIX_BF16 : OW_MATRIX_F32;
    b->matrix_supports = cpu_matrix_supports;
    b->matrix_create = cpu_matrix_create;
    b->matrix_free = cpu_matrix_free;
    b->matrix_download = cpu_matrix_download;
    b->describe_kernels = cpu_describe_kernels;
}
