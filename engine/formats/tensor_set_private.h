/* tensor_set_private.h: building an ow_tensor_set (shared by the file readers). */
#ifndef OW_FORMATS_TENSOR_SET_PRIVATE_H
#define OW_FORMATS_TENSOR_SET_PRIVATE_H

#include "formats/pickle.h"
#include "formats/tensor_set.h"

struct ow_tensor_set {
    ow_tensor_entry *entries; /* in file order */
    size_t count, cap;
    size_t *by_name;          /* entry indices sorted by name (built by finish) */

    char **meta;              /* key, value, key, value, ... (owned strings) */
    size_t meta_count, meta_cap;

    const unsigned char *map; /* read-only mapping of the whole file (or NULL) */
    size_t map_size;

    struct ow_owned_buffer { void *data; size_t size; } *owned; /* freed with the set (materialised tensors) */
    size_t owned_count, owned_cap;

    ow_pickle *pickle;                 /* torch files: every parsed value (owned) */
    const ow_pickle_value *pickle_root; /* the object torch.save was given */
};

/* Appends an entry; name is copied. data must stay valid as long as the set.
 * The one check every container passes through: the shape's bytes (overflow-
 * checked elements x element size) must equal nbytes, and [data, data + nbytes)
 * must lie inside the file's mapping or inside one buffer handed to the set, so
 * no reader can produce an entry that reads memory the file does not hold.
 * (A set without a mapping, built in memory, may list shapes without data.) */
ow_status ow_tensor_set_add(ow_tensor_set *set, const char *name, ow_dtype dtype, int ndim,
                            const int64_t *shape, const unsigned char *data, size_t nbytes, ow_error *err);
/* Appends a metadata pair (both copied). */
ow_status ow_tensor_set_add_metadata(ow_tensor_set *set, const char *key, const char *value, ow_error *err);
/* Hands a malloc'd buffer of size bytes to the set (freed with it). On failure the buffer is freed. */
ow_status ow_tensor_set_own(ow_tensor_set *set, void *buffer, size_t size, ow_error *err);
/* Builds the name index; fails when two entries share a name. */
ow_status ow_tensor_set_finish(ow_tensor_set *set, ow_error *err);

/* Readers: fill set from the mapped file bytes (set->map, set->map_size). */
ow_status ow_safetensors_read(ow_tensor_set *set, ow_error *err);
ow_status ow_torch_zip_read(ow_tensor_set *set, ow_error *err);
ow_status ow_torch_legacy_read(ow_tensor_set *set, ow_error *err);

#endif
