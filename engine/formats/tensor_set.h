/* tensor_set.h: the named tensors of a checkpoint or embedding file, as stored.
 *
 * Every file reader (safetensors, torch zip/legacy pickle) produces an
 * ow_tensor_set: a list of entries with dtype, shape and little-endian contiguous
 * bytes (pointing into a read-only mapping of the file, or into buffers the set
 * owns). Model loaders look tensors up by name and convert them to f32.
 *
 * Entry data is NOT necessarily aligned to the element size (a safetensors
 * header may have any length): read it with memcpy or ow_convert_to_f32.
 * Lookup by name is a binary search over a sorted index (O(log n)). */
#ifndef OW_FORMATS_TENSOR_SET_H
#define OW_FORMATS_TENSOR_SET_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "oneword.h"

#define OW_TENSOR_MAX_DIMS 8

typedef struct ow_tensor_entry {
    char *name;
    ow_dtype dtype;
    int ndim;
    int64_t shape[OW_TENSOR_MAX_DIMS];
    const unsigned char *data; /* nbytes, contiguous, little-endian */
    size_t nbytes;
} ow_tensor_entry;

typedef struct ow_tensor_set ow_tensor_set;

/* Opens a tensor file, detecting its format from its first bytes
 * (.safetensors, torch zip .pt/.ckpt/.bin, legacy torch pickle). */
ow_status ow_tensor_set_open(ow_tensor_set **out, const char *path, ow_error *err);
void ow_tensor_set_free(ow_tensor_set *set);

size_t ow_tensor_set_count(const ow_tensor_set *set);
const ow_tensor_entry *ow_tensor_set_entry(const ow_tensor_set *set, size_t index);
/* NULL when no tensor has this name. */
const ow_tensor_entry *ow_tensor_set_find(const ow_tensor_set *set, const char *name);

/* File-level metadata: the safetensors "__metadata__" string map (empty for
 * torch files). NULL when the key is absent. */
const char *ow_tensor_set_metadata(const ow_tensor_set *set, const char *key);
size_t ow_tensor_set_metadata_count(const ow_tensor_set *set);
/* The index-th metadata pair, in file order (index < count). */
void ow_tensor_set_metadata_at(const ow_tensor_set *set, size_t index, const char **key, const char **value);

/* Tells the system that the entry's bytes in the file mapping are not needed any
 * more (e.g. once converted to f32 in backend memory), so the pages stop counting
 * towards the process's memory; reading the entry again still works (the pages
 * come back from the file). Does nothing for tensors held in owned buffers. */
void ow_tensor_set_release(const ow_tensor_set *set, const ow_tensor_entry *e);

/* Number of elements of an entry. */
int64_t ow_tensor_entry_numel(const ow_tensor_entry *e);
/* Converts a float entry to f32 into dst (numel floats). Fails for non-float dtypes. */
ow_status ow_tensor_entry_to_f32(const ow_tensor_entry *e, float *dst, ow_error *err);

#endif
