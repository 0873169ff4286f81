/* checked.h: integer arithmetic on numbers that come from files (shapes, strides,
 * offsets, config values). Each returns 1 and stores the result when it fits,
 * 0 on overflow or a negative dimension: one place per concept, no signed
 * overflow anywhere a file can reach. */
#ifndef OW_CORE_CHECKED_H
#define OW_CORE_CHECKED_H

#include <stddef.h>
#include <stdint.h>

static inline int ow_checked_mul_i64(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline int ow_checked_add_i64(int64_t a, int64_t b, int64_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline int ow_checked_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline int ow_checked_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline int ow_checked_mul_size(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline int ow_checked_mul_int(int a, int b, int *out) { return !__builtin_mul_overflow(a, b, out); }

/* Elements of a shape: every dimension >= 0 and the product below 2^63. */
static inline int ow_shape_numel(const int64_t *shape, int ndim, int64_t *numel) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !ow_checked_mul_i64(n, shape[i], &n)) return 0;
    }
    *numel = n;
    return 1;
}

/* Bytes of a shape of elem-byte elements, as a size_t. */
static inline int ow_shape_nbytes(const int64_t *shape, int ndim, size_t elem, size_t *nbytes) {
    int64_t n;
    if (!ow_shape_numel(shape, ndim, &n)) return 0;
    return ow_checked_mul_size((size_t)n, elem, nbytes);
}

#endif
