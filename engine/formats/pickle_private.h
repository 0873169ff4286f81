/* pickle_private.h: the layout of pickle values, for the torch file reader that
 * resolves storages into tensor data. */
#ifndef OW_FORMATS_PICKLE_PRIVATE_H
#define OW_FORMATS_PICKLE_PRIVATE_H

#include "formats/pickle.h"

typedef struct ow_pickle_storage {
    char *key;          /* archive key ("0", "1", ... or a legacy cdata number) */
    char *location;     /* "cpu", "cuda:0", ... */
    ow_dtype dtype;
    int64_t numel;      /* elements of dtype */
    /* Legacy storage views: this storage is `numel` elements starting `view_offset`
     * elements into the storage named root_key. root_key is NULL when not a view. */
    char *root_key;
    int64_t view_offset;
    /* Filled by the file reader: the bytes that exist for this storage in the file
     * (numel * element size once bound; every tensor view is checked against nbytes). */
    const unsigned char *bytes; /* NULL if not loaded */
    size_t nbytes;
} ow_pickle_storage;

typedef struct ow_pickle_tensor_view {
    ow_pickle_value *storage; /* kind STORAGE */
    int64_t offset;           /* elements */
    int ndim;
    int64_t size[OW_TENSOR_MAX_DIMS];
    int64_t stride[OW_TENSOR_MAX_DIMS];
    ow_tensor_entry entry;    /* resolved data (name points into the tensor set or "") */
    int resolved;
} ow_pickle_tensor_view;

struct ow_pickle_value {
    ow_pickle_kind kind;
    uint32_t depth;   /* nesting below this value, as built */
    uint32_t mark;    /* traversal mark for walkers (file readers) */
    int global_id;    /* GLOBAL / OBJECT: which allowed global; DICT: nonzero for a module's state */
    ow_dtype dtype;   /* GLOBAL of a storage type */
    int64_t i;        /* INT, BOOL; a module's DICT: 1 once its state was set */
    double f;
    char *str;        /* STRING, BYTES, BIGINT, GLOBAL/OBJECT name, a module DICT's class */
    size_t len;
    ow_pickle_value **items; /* LIST/TUPLE/SET: count items; DICT: 2 * count (key, value) */
    size_t count, cap;
    ow_pickle_storage storage;
    ow_pickle_tensor_view tensor;
};

/* Every value of p, in creation order (for walkers). */
size_t ow_pickle_value_count(const ow_pickle *p);
ow_pickle_value *ow_pickle_value_at(ow_pickle *p, size_t i);

#endif
