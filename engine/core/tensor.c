/* tensor.c: dtype tables and conversion of stored tensors to f32. */
#include "core/tensor.h"

#include <string.h>

#include "core/half.h"

static const struct { ow_dtype dtype; const char *name; size_t size; } dtype_table[] = {
    {OW_DTYPE_F32, "F32", 4}, {OW_DTYPE_F16, "F16", 2}, {OW_DTYPE_BF16, "BF16", 2},
    {OW_DTYPE_F64, "F64", 8}, {OW_DTYPE_I64, "I64", 8}, {OW_DTYPE_I32, "I32", 4},
    {OW_DTYPE_I16, "I16", 2}, {OW_DTYPE_I8, "I8", 1},   {OW_DTYPE_U8, "U8", 1},
    {OW_DTYPE_BOOL, "BOOL", 1},
};
#define DTYPE_COUNT (sizeof dtype_table / sizeof dtype_table[0])

size_t ow_dtype_size(ow_dtype dtype) {
    for (size_t i = 0; i < DTYPE_COUNT; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].size;
    return 0;
}

const char *ow_dtype_name(ow_dtype dtype) {
    for (size_t i = 0; i < DTYPE_COUNT; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].name;
    return "?";
}

int ow_dtype_parse(const char *name, ow_dtype *out) {
    for (size_t i = 0; i < DTYPE_COUNT; i++)
        if (strcmp(dtype_table[i].name, name) == 0) { *out = dtype_table[i].dtype; return 0; }
    return -1;
}

int ow_dtype_is_float(ow_dtype dtype) {
    return dtype == OW_DTYPE_F32 || dtype == OW_DTYPE_F16 || dtype == OW_DTYPE_BF16 || dtype == OW_DTYPE_F64;
}

void ow_convert_to_f32(ow_dtype dtype, const void *src, float *dst, size_t n) {
    const unsigned char *bytes = src;
    switch (dtype) {
    case OW_DTYPE_F32: memcpy(dst, src, n * 4); break;
    case OW_DTYPE_F16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, bytes + 2 * i, 2); dst[i] = ow_f16_to_f32(h); }
        break;
    case OW_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, bytes + 2 * i, 2); dst[i] = ow_bf16_to_f32(h); }
        break;
    case OW_DTYPE_F64:
        for (size_t i = 0; i < n; i++) { double d; memcpy(&d, bytes + 8 * i, 8); dst[i] = (float)d; }
        break;
    default:
        memset(dst, 0, n * sizeof *dst);
        break;
    }
}

int64_t ow_tensor_numel(const ow_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}
