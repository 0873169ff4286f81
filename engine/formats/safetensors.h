/* safetensors.h: writing .safetensors files (reading goes through tensor_set.h). */
#ifndef OW_FORMATS_SAFETENSORS_H
#define OW_FORMATS_SAFETENSORS_H

#include <stddef.h>

#include "formats/tensor_set.h"
#include "oneword.h"

/* Writes count tensors to path atomically (temporary file + fsync + rename), in
 * the given order, 8-byte aligned. metadata is NULL or a NULL-terminated list of
 * key/value strings {"k1", "v1", "k2", "v2", NULL} stored as "__metadata__".
 * Names must be unique and non-empty, and must not be "__metadata__". */
ow_status ow_safetensors_write(const char *path, const ow_tensor_entry *entries, size_t count,
                               const char *const *metadata, ow_error *err);

#endif
