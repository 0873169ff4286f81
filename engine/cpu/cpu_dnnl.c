/* cpu_dnnl.c: bf16 matrix products through oneDNN's matmul (its AMX or AVX512-BF16
 * kernels; the C API of oneDNN 2.x and 3.x, Debian 12 and 13).
 *
 * A product is described by its sizes and strides; oneDNN compiles a primitive for
 * each description, which costs far more than a small product, so every thread keeps
 * the primitives it used last (an LRU of CACHE_ENTRIES) with their memory objects,
 * and only re-aims the memory objects' pointers per call. Called from inside the
 * backend's OpenMP loops, oneDNN runs on the calling thread (its OpenMP runtime sees
 * the enclosing parallel region), as OpenBLAS does there. When oneDNN cannot create
 * a primitive for a description, a plain loop computes the same product. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cpu/cpu_internal.h"

#define CACHE_ENTRIES 48

typedef struct gemm_key {
    int M, N, K, accumulate;
    long ars, acs, brs, bcs, ldc;
} gemm_key;

typedef struct gemm_entry {
    gemm_key key;
    dnnl_primitive_t primitive; /* NULL: oneDNN refused this description (use the loop) */
    dnnl_memory_t a, b, c;
    unsigned long last_use;
    int used;
} gemm_entry;

typedef struct thread_cache {
    dnnl_stream_t stream;
    gemm_entry entries[CACHE_ENTRIES];
    unsigned long clock;
} thread_cache;

struct cpu_dnnl {
    dnnl_engine_t engine;
    int threads;
    thread_cache *caches; /* one per thread */
    char kernel[96];      /* the implementation of the first primitive made ("" before) */
    int fast;             /* the processor has bf16 instructions oneDNN uses */
};

/* ---- what differs between oneDNN 2.x and 3.x ---- */
#if DNNL_VERSION_MAJOR >= 3
typedef dnnl_memory_desc_t md_handle;
static dnnl_status_t md_make(md_handle *md, int rows, int cols, dnnl_data_type_t dt, long rs, long cs) {
    dnnl_dims_t dims = {rows, cols}, strides = {rs, cs};
    return dnnl_memory_desc_create_with_strides(md, 2, dims, dt, strides);
}
static void md_release(md_handle md) { if (md) dnnl_memory_desc_destroy(md); }
static const_dnnl_memory_desc_t md_arg(const md_handle *md) { return *md; }
static dnnl_status_t matmul_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t e, md_handle *a, md_handle *b, md_handle *c,
                               dnnl_primitive_attr_t attr) {
    return dnnl_matmul_primitive_desc_create(pd, e, *a, *b, NULL, *c, attr);
}
static dnnl_status_t append_sum(dnnl_post_ops_t po) { return dnnl_post_ops_append_sum(po, 1.0f, 0, dnnl_data_type_undef); }
#else
typedef dnnl_memory_desc_t md_handle;
static dnnl_status_t md_make(md_handle *md, int rows, int cols, dnnl_data_type_t dt, long rs, long cs) {
    dnnl_dims_t dims = {rows, cols}, strides = {rs, cs};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}
static void md_release(md_handle md) { (void)md; }
static const dnnl_memory_desc_t *md_arg(const md_handle *md) { return md; }
static dnnl_status_t matmul_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t e, md_handle *a, md_handle *b, md_handle *c,
                               dnnl_primitive_attr_t attr) {
    dnnl_matmul_desc_t desc;
    dnnl_status_t s = dnnl_matmul_desc_init(&desc, a, b, NULL, c);
    return s == dnnl_success ? dnnl_primitive_desc_create(pd, &desc, attr, e, NULL) : s;
}
static dnnl_status_t append_sum(dnnl_post_ops_t po) { return dnnl_post_ops_append_sum(po, 1.0f); }
#endif

/* ---- set-up ---- */

static int has_bf16_instructions(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

cpu_dnnl *ow_cpu_dnnl_create(int threads) {
    cpu_dnnl *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->threads = threads;
    d->caches = calloc((size_t)threads, sizeof *d->caches);
    if (!d->caches || dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success) {
        free(d->caches);
        free(d);
        return NULL;
    }
    d->fast = has_bf16_instructions();
    return d;
}

static void entry_release(gemm_entry *e) {
    if (e->primitive) dnnl_primitive_destroy(e->primitive);
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    memset(e, 0, sizeof *e);
}

void ow_cpu_dnnl_destroy(cpu_dnnl *d) {
    if (!d) return;
    for (int t = 0; t < d->threads; t++) {
        for (int i = 0; i < CACHE_ENTRIES; i++) entry_release(&d->caches[t].entries[i]);
        if (d->caches[t].stream) dnnl_stream_destroy(d->caches[t].stream);
    }
    free(d->caches);
    dnnl_engine_destroy(d->engine);
    free(d);
}

int ow_cpu_dnnl_fast(const cpu_dnnl *d) { return d && d->fast; }

void ow_cpu_dnnl_describe(const cpu_dnnl *d, char *out, size_t cap) {
    const dnnl_version_t *v = dnnl_version();
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const char *units = (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx ? "AMX-BF16"
                        : d->fast ? "AVX512-BF16"
                                  : "no bf16 instructions on this processor: slow";
    snprintf(out, cap, "oneDNN %d.%d.%d, %s%s%s", v->major, v->minor, v->patch, units, d->kernel[0] ? ", " : "",
             d->kernel);
}

/* ---- one product ---- */

/* Compiles the primitive for e->key; leaves e->primitive NULL when oneDNN refuses. */
static void entry_build(cpu_dnnl *d, gemm_entry *e) {
    const gemm_key *k = &e->key;
    md_handle a, b, c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = md_make(&a, k->M, k->K, dnnl_bf16, k->ars, k->acs) == dnnl_success &&
             md_make(&b, k->K, k->N, dnnl_bf16, k->brs, k->bcs) == dnnl_success &&
             md_make(&c, k->M, k->N, dnnl_f32, k->ldc, 1) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && k->accumulate)
        ok = dnnl_post_ops_create(&po) == dnnl_success && append_sum(po) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && matmul_pd(&pd, d->engine, &a, &b, &c, attr) == dnnl_success;
    ok = ok && dnnl_primitive_create(&e->primitive, pd) == dnnl_success;
    ok = ok && dnnl_memory_create(&e->a, md_arg(&a), d->engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&e->b, md_arg(&b), d->engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&e->c, md_arg(&c), d->engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (ok && !d->kernel[0]) {
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) {
            #pragma omp critical(ow_dnnl_kernel)
            if (!d->kernel[0]) snprintf(d->kernel, sizeof d->kernel, "%s", impl);
        }
    }
    if (!ok) {
        gemm_key keep = e->key;
        entry_release(e);
        e->key = keep;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    md_release(a);
    md_release(b);
    md_release(c);
}

static gemm_entry *entry_for(cpu_dnnl *d, thread_cache *tc, const gemm_key *key) {
    gemm_entry *victim = &tc->entries[0];
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        gemm_entry *e = &tc->entries[i];
        if (e->used && memcmp(&e->key, key, sizeof *key) == 0) {
            e->last_use = ++tc->clock;
            return e;
        }
        if (!e->used || (victim->used && e->last_use < victim->last_use)) victim = e;
    }
    entry_release(victim);
    victim->key = *key;
    victim->used = 1;
    victim->last_use = ++tc->clock;
    entry_build(d, victim);
    return victim;
}

static float bf16_value(uint16_t h) {
    float f;
    ow_cpu_from_bf16(&f, &h, 1);
    return f;
}

/* The same product without oneDNN. */
static void gemm_loop(int M, int N, int K, const uint16_t *A, long ars, long acs, const uint16_t *B, long brs,
                      long bcs, float *C, long ldc, int accumulate) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float sum = accumulate ? C[i * ldc + j] : 0.0f;
            for (int k = 0; k < K; k++) sum += bf16_value(A[i * ars + k * acs]) * bf16_value(B[k * brs + j * bcs]);
            C[i * ldc + j] = sum;
        }
}

void ow_cpu_dnnl_gemm(cpu_dnnl *d, int M, int N, int K, const uint16_t *A, long ars, long acs, const uint16_t *B,
                      long brs, long bcs, float *C, long ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        return;
    }
    int t = ow_cpu_thread_index();
    thread_cache *tc = d && t < d->threads ? &d->caches[t] : NULL;
    if (tc && !tc->stream && dnnl_stream_create(&tc->stream, d->engine, dnnl_stream_default_flags) != dnnl_success)
        tc->stream = NULL;
    if (!tc || !tc->stream) {
        gemm_loop(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate);
        return;
    }
    gemm_key key = {M, N, K, accumulate, ars, acs, brs, bcs, ldc};
    gemm_entry *e = entry_for(d, tc, &key);
    if (!e->primitive) {
        gemm_loop(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate);
        return;
    }
    dnnl_memory_set_data_handle(e->a, (void *)A);
    dnnl_memory_set_data_handle(e->b, (void *)B);
    dnnl_memory_set_data_handle(e->c, C);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    if (dnnl_primitive_execute(e->primitive, tc->stream, 3, args) != dnnl_success ||
        dnnl_stream_wait(tc->stream) != dnnl_success)
        gemm_loop(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate);
}
