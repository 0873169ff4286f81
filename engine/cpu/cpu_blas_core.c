/* cpu_blas_core.c: which OpenBLAS kernels run, and which should (oneword.h,
 * ow_cpu_blas_core_to_force). OpenBLAS picks its kernels once, when it is loaded,
 * from the processor model it knows; Debian 12's 0.3.21 does not know processors
 * newer than itself and falls back to its generic "Prescott" kernels on them
 * (measured on an Intel Xeon family 6 model 207: a 4096x1280x2880 sgemm at 20
 * GFLOP/s, 114 with OPENBLAS_CORETYPE=SkylakeX). The instruction sets are read
 * here at run time; the caller restarts with OPENBLAS_CORETYPE set, the only way
 * to change OpenBLAS's choice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "oneword.h"

/* Cores OpenBLAS uses when it does not recognise the processor. */
static int generic_core(const char *name) {
    static const char *const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (name && strcmp(name, generic[i]) == 0) return 1;
    return 0;
}

const char *ow_cpu_blas_core_to_force(void) {
    if (getenv("OPENBLAS_CORETYPE")) return NULL; /* the user's own choice */
    if (!generic_core(openblas_get_corename())) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

void ow_cpu_blas_describe(char *out, size_t cap) {
    const char *forced = getenv("OPENBLAS_CORETYPE");
    snprintf(out, cap, "%s, %s kernels%s%s", openblas_get_config(), openblas_get_corename(),
             forced ? ", OPENBLAS_CORETYPE=" : "", forced ? forced : "");
}
