/* bench_io.h: what the benchmarks share to read the inputs and outputs their PyTorch
 * side wrote (the .safetensors files under CACHE/io): one named entry as f32. */
#ifndef OW_TESTS_BENCH_BENCH_IO_H
#define OW_TESTS_BENCH_BENCH_IO_H

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "formats/tensor_set.h"

/* The entry `name` of set as want f32 values (malloc'd), or NULL with a message on
 * stderr naming who asks and which script writes the file (rerun). */
static inline float *bench_entry_f32(const ow_tensor_set *set, const char *name, size_t want, const char *path,
                                     const char *who, const char *rerun) {
    const ow_tensor_entry *e = ow_tensor_set_find(set, name);
    if (!e || (size_t)ow_tensor_entry_numel(e) != want) {
        fprintf(stderr, "%s: %s: '%s' missing or not %zu values; rerun %s\n", who, path, name, want, rerun);
        return NULL;
    }
    float *x = malloc(want * sizeof *x);
    ow_error err = {0};
    if (!x || ow_tensor_entry_to_f32(e, x, &err) != OW_OK) {
        fprintf(stderr, "%s: %s: '%s': %s\n", who, path, name, x ? err.message : "out of memory");
        free(x);
        return NULL;
    }
    return x;
}

#endif
