/* cpu_backend.c: the CPU backend's constructor: thread setup (OpenMP for loops,
 * single-threaded OpenBLAS and oneDNN called from inside them), memory (64-byte
 * aligned host allocations; upload/download/copy are memcpy) and the function table. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "cpu/cpu_internal.h"

int ow_cpu_thread_index(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void ow_cpu_blas_threads(cpu_state *c) {
    /* OpenBLAS's count is process-wide: another backend (or the caller) may have changed it. */
    int want = c->use_omp ? 1 : c->threads;
    if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
}

static float *cpu_alloc(ow_backend *b, size_t count) {
    (void)b;
    if (count > (SIZE_MAX - 64) / sizeof(float)) return NULL;
    size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    return aligned_alloc(64, bytes);
}

static void cpu_free(ow_backend *b, float *p) {
    (void)b;
    free(p);
}

static void cpu_copy(ow_backend *b, float *dst, const float *src, size_t count) {
    (void)b;
    if (count && dst != src) memmove(dst, src, count * sizeof(float));
}

static void cpu_destroy(ow_backend *b) {
    if (!b) return;
    cpu_state *c = cpu_of(b);
    if (c) {
        free(c->scratch);
        free(c->scratch16);
        free(c->staging);
        ow_cpu_dnnl_destroy(c->dnnl);
    }
    free(c);
    free(b);
}

static int available_cores(void) {
#ifdef _OPENMP
    int n = omp_get_num_procs(); /* respects the process's CPU affinity mask */
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
    return n > 0 ? (int)n : 1;
}

ow_status ow_cpu_backend_create(ow_backend **out, int threads, ow_error *err) {
    if (!out) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cpu backend: out must not be NULL");
    *out = NULL;
    if (threads <= 0) threads = available_cores();
    if (threads > 1024)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "cpu backend: %d threads requested; pass a count up to 1024, or 0 for all cores", threads);

    ow_backend *b = calloc(1, sizeof *b);
    cpu_state *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "cpu backend: out of memory creating the backend");
    }
    c->threads = threads;
#ifdef _OPENMP
    c->use_omp = 1;
    /* Our loops never nest; keep any caller's nested regions from multiplying threads. */
    omp_set_max_active_levels(1);
#endif
    size_t scratch_threads = c->use_omp ? (size_t)threads : 1;
    c->scratch = aligned_alloc(64, scratch_threads * OW_CPU_SCRATCH_FLOATS * sizeof(float));
    if (!c->scratch) {
        free(c);
        free(b);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY,
                            "cpu backend: out of memory for %zu MiB of per-thread scratch; use fewer threads",
                            scratch_threads * OW_CPU_SCRATCH_FLOATS * sizeof(float) >> 20);
    }
    ow_cpu_blas_threads(c);
    /* bf16 products: without oneDNN (or its scratch) the backend keeps to f32 */
    c->dnnl = ow_cpu_dnnl_create((int)scratch_threads);
    if (c->dnnl) c->scratch16 = aligned_alloc(64, scratch_threads * OW_CPU_SCRATCH16 * sizeof(uint16_t));
    if (!c->scratch16) {
        ow_cpu_dnnl_destroy(c->dnnl);
        c->dnnl = NULL;
    }

    b->name = "cpu";
    b->impl = c;
    b->threads = threads;
    b->alloc = cpu_alloc;
    b->free = cpu_free;
    b->upload = cpu_copy;
    b->download = cpu_copy;
    b->copy = cpu_copy;
    b->linear = ow_cpu_linear;
    b->conv2d = ow_cpu_conv2d;
    b->attention = ow_cpu_attention;
    b->group_norm = ow_cpu_group_norm;
    b->layer_norm = ow_cpu_layer_norm;
    b->silu = ow_cpu_silu;
    b->gelu = ow_cpu_gelu;
    b->quick_gelu = ow_cpu_quick_gelu;
    b->add = ow_cpu_add;
    b->axpby = ow_cpu_axpby;
    b->scale = ow_cpu_scale;
    b->geglu = ow_cpu_geglu;
    b->add_channel_bias = ow_cpu_add_channel_bias;
    b->to_channels_last = ow_cpu_to_channels_last;
    b->to_channels_first = ow_cpu_to_channels_first;
    b->upsample_nearest2x = ow_cpu_upsample_nearest2x;
    b->concat_channels = ow_cpu_concat_channels;
    b->embedding = ow_cpu_embedding;
    b->destroy = cpu_destroy;
    b->conv2d_pad4 = ow_cpu_conv2d_pad4;
    b->linear_backward = ow_cpu_linear_backward;
    b->conv2d_backward = ow_cpu_conv2d_backward;
    b->attention_train = ow_cpu_attention_train;
    b->attention_backward = ow_cpu_attention_backward;
    b->group_norm_train = ow_cpu_group_norm_train;
    b->group_norm_backward = ow_cpu_group_norm_backward;
    b->layer_norm_train = ow_cpu_layer_norm_train;
    b->layer_norm_backward = ow_cpu_layer_norm_backward;
    b->silu_backward = ow_cpu_silu_backward;
    b->gelu_backward = ow_cpu_gelu_backward;
    b->quick_gelu_backward = ow_cpu_quick_gelu_backward;
    b->geglu_backward = ow_cpu_geglu_backward;
    b->upsample_nearest2x_backward = ow_cpu_upsample_nearest2x_backward;
    b->concat_channels_backward = ow_cpu_concat_channels_backward;
    b->embedding_backward = ow_cpu_embedding_backward;
    ow_cpu_matrix_ops(b);
    *out = b;
    return OW_OK;
}
