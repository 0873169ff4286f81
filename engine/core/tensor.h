/* tensor.h: dtypes, the compute tensor used by model code, and dtype conversion. */
#ifndef OW_CORE_TENSOR_H
#define OW_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "oneword.h"

/* Storage dtypes met in files. Model compute is f32 on the CPU backend. */
typedef enum ow_dtype {
    OW_DTYPE_F32,
    OW_DTYPE_F16,
    OW_DTYPE_BF16,
    OW_DTYPE_F64,
    OW_DTYPE_I64,
    OW_DTYPE_I32,
    OW_DTYPE_I16,
    OW_DTYPE_I8,
    OW_DTYPE_U8,
    OW_DTYPE_BOOL,
} ow_dtype;

/* Size of one element in bytes. */
size_t ow_dtype_size(ow_dtype dtype);
/* "F32", "F16", ... as safetensors spells them. */
const char *ow_dtype_name(ow_dtype dtype);
/* Parses a safetensors dtype name; returns 0 on success, -1 if unknown. */
int ow_dtype_parse(const char *name, ow_dtype *out);
/* Whether the dtype is a float type we can convert to f32 (f32/f16/bf16/f64). */
int ow_dtype_is_float(ow_dtype dtype);

/* Converts n little-endian elements of src (a float dtype) to f32 in dst. */
void ow_convert_to_f32(ow_dtype dtype, const void *src, float *dst, size_t n);

#define OW_MAX_DIMS 4

/* A compute tensor: contiguous f32 in backend memory (host memory on the CPU
 * backend, device memory on CUDA). Model structs hold weights as ow_tensor. */
typedef struct ow_tensor {
    float *data;
    int ndim;
    int64_t shape[OW_MAX_DIMS];
} ow_tensor;

/* Number of elements (product of shape; 1 for ndim 0). */
int64_t ow_tensor_numel(const ow_tensor *t);

#endif
