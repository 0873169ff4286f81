/* tensor_set.c: the container every file reader fills, name lookup, metadata,
 * and format detection from a file's first bytes. */
#include "formats/tensor_set_private.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/file.h"

static ow_status grow(void **items, size_t *cap, size_t need, size_t item_size, ow_error *err) {
    if (need <= *cap) return OW_OK;
    size_t new_cap = *cap ? *cap * 2 : 16;
    while (new_cap < need) new_cap *= 2;
    void *p = realloc(*items, new_cap * item_size);
    if (!p) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory growing a tensor list to %zu items", need);
    *items = p;
    *cap = new_cap;
    return OW_OK;
}

/* Whether [data, data + nbytes) lies inside the mapping or one owned buffer. */
static int bytes_are_held(const ow_tensor_set *set, const unsigned char *data, size_t nbytes) {
    uintptr_t begin = (uintptr_t)data;
    if (begin + nbytes < begin) return 0;
    uintptr_t end = begin + nbytes;
    if (set->map && begin >= (uintptr_t)set->map && end <= (uintptr_t)set->map + set->map_size) return 1;
    for (size_t i = set->owned_count; i-- > 0;) { /* the newest buffer is the likeliest */
        uintptr_t b = (uintptr_t)set->owned[i].data;
        if (begin >= b && end <= b + set->owned[i].size) return 1;
    }
    return 0;
}

ow_status ow_tensor_set_add(ow_tensor_set *set, const char *name, ow_dtype dtype, int ndim,
                            const int64_t *shape, const unsigned char *data, size_t nbytes, ow_error *err) {
    if (ndim < 0 || ndim > OW_TENSOR_MAX_DIMS)
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s' has %d dimensions (at most %d supported)", name, ndim,
                            OW_TENSOR_MAX_DIMS);
    size_t shape_bytes;
    if (!ow_shape_nbytes(shape, ndim, ow_dtype_size(dtype), &shape_bytes))
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': its shape overflows or has a negative dimension", name);
    int shape_only = !set->map && !data && nbytes == 0; /* an in-memory set listing shapes */
    if (!shape_only && shape_bytes != nbytes)
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': %zu bytes do not hold its shape (%zu bytes of %s)", name,
                            nbytes, shape_bytes, ow_dtype_name(dtype));
    if (nbytes && !bytes_are_held(set, data, nbytes))
        return ow_error_set(err, OW_ERR_FORMAT,
                            "tensor '%s' (%zu bytes) points outside the bytes the file holds (corrupt or hostile file)",
                            name, nbytes);
    void *items = set->entries;
    ow_status s = grow(&items, &set->cap, set->count + 1, sizeof *set->entries, err);
    set->entries = items;
    if (s != OW_OK) return s;
    ow_tensor_entry *e = &set->entries[set->count];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory copying a tensor name");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = nbytes;
    set->count++;
    return OW_OK;
}

ow_status ow_tensor_set_add_metadata(ow_tensor_set *set, const char *key, const char *value, ow_error *err) {
    void *items = set->meta;
    ow_status s = grow(&items, &set->meta_cap, set->meta_count * 2 + 2, sizeof *set->meta, err);
    set->meta = items;
    if (s != OW_OK) return s;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory copying metadata");
    }
    set->meta[set->meta_count * 2] = k;
    set->meta[set->meta_count * 2 + 1] = v;
    set->meta_count++;
    return OW_OK;
}

ow_status ow_tensor_set_own(ow_tensor_set *set, void *buffer, size_t size, ow_error *err) {
    void *items = set->owned;
    ow_status s = grow(&items, &set->owned_cap, set->owned_count + 1, sizeof *set->owned, err);
    set->owned = items;
    if (s != OW_OK) { free(buffer); return s; }
    set->owned[set->owned_count].data = buffer;
    set->owned[set->owned_count].size = size;
    set->owned_count++;
    return OW_OK;
}

/* qsort has no user pointer: sort (name, index) pairs instead. */
typedef struct { const char *name; size_t index; } name_index;

static int compare_name_index(const void *a, const void *b) {
    const name_index *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

ow_status ow_tensor_set_finish(ow_tensor_set *set, ow_error *err) {
    free(set->by_name);
    set->by_name = NULL;
    if (set->count == 0) return OW_OK;
    name_index *pairs = malloc(set->count * sizeof *pairs);
    set->by_name = malloc(set->count * sizeof *set->by_name);
    if (!pairs || !set->by_name) {
        free(pairs);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory indexing %zu tensors", set->count);
    }
    for (size_t i = 0; i < set->count; i++) pairs[i] = (name_index){set->entries[i].name, i};
    qsort(pairs, set->count, sizeof *pairs, compare_name_index);
    for (size_t i = 0; i < set->count; i++) {
        if (i > 0 && strcmp(pairs[i - 1].name, pairs[i].name) == 0) {
            ow_status s = ow_error_set(err, OW_ERR_FORMAT, "two tensors are named '%s' (the file is corrupt)",
                                       pairs[i].name);
            free(pairs);
            return s;
        }
        set->by_name[i] = pairs[i].index;
    }
    free(pairs);
    return OW_OK;
}

void ow_tensor_set_free(ow_tensor_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->count; i++) free(set->entries[i].name);
    free(set->entries);
    free(set->by_name);
    for (size_t i = 0; i < set->meta_count * 2; i++) free(set->meta[i]);
    free(set->meta);
    for (size_t i = 0; i < set->owned_count; i++) free(set->owned[i].data);
    free(set->owned);
    ow_pickle_free(set->pickle);
    if (set->map) munmap((void *)set->map, set->map_size);
    free(set);
}

const ow_pickle_value *ow_tensor_set_pickle_root(const ow_tensor_set *set) { return set ? set->pickle_root : NULL; }

size_t ow_tensor_set_count(const ow_tensor_set *set) { return set ? set->count : 0; }

const ow_tensor_entry *ow_tensor_set_entry(const ow_tensor_set *set, size_t index) {
    return set && index < set->count ? &set->entries[index] : NULL;
}

const ow_tensor_entry *ow_tensor_set_find(const ow_tensor_set *set, const char *name) {
    if (!set || !set->by_name || !name) return NULL;
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ow_tensor_entry *e = &set->entries[set->by_name[mid]];
        int c = strcmp(e->name, name);
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *ow_tensor_set_metadata(const ow_tensor_set *set, const char *key) {
    if (!set || !key) return NULL;
    for (size_t i = 0; i < set->meta_count; i++)
        if (strcmp(set->meta[2 * i], key) == 0) return set->meta[2 * i + 1];
    return NULL;
}

size_t ow_tensor_set_metadata_count(const ow_tensor_set *set) { return set ? set->meta_count : 0; }

void ow_tensor_set_metadata_at(const ow_tensor_set *set, size_t index, const char **key, const char **value) {
    int ok = set && index < set->meta_count;
    if (key) *key = ok ? set->meta[2 * index] : NULL;
    if (value) *value = ok ? set->meta[2 * index + 1] : NULL;
}

void ow_tensor_set_release(const ow_tensor_set *set, const ow_tensor_entry *e) {
    if (!set || !e || !set->map || e->nbytes == 0) return;
    uintptr_t begin = (uintptr_t)e->data, end = begin + e->nbytes;
    uintptr_t map_begin = (uintptr_t)set->map, map_end = map_begin + set->map_size;
    if (begin < map_begin || end > map_end) return; /* an owned buffer, not the mapping */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    begin &= ~(page - 1); /* neighbours' pages may go too: they are re-read from the file when needed */
    if (begin < map_begin) begin = map_begin;
    madvise((void *)begin, end - begin, MADV_DONTNEED);
}

int64_t ow_tensor_entry_numel(const ow_tensor_entry *e) {
    int64_t n;
    return ow_shape_numel(e->shape, e->ndim, &n) ? n : -1;
}

ow_status ow_tensor_entry_to_f32(const ow_tensor_entry *e, float *dst, ow_error *err) {
    if (!ow_dtype_is_float(e->dtype))
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "tensor '%s' has dtype %s, not a float type", e->name,
                            ow_dtype_name(e->dtype));
    int64_t n = ow_tensor_entry_numel(e);
    size_t need;
    if (n < 0 || !ow_checked_mul_size((size_t)n, ow_dtype_size(e->dtype), &need) || need != e->nbytes || (n && !e->data))
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': %zu bytes do not hold %lld %s elements", e->name,
                            e->nbytes, (long long)n, ow_dtype_name(e->dtype));
    ow_convert_to_f32(e->dtype, e->data, dst, (size_t)n);
    return OW_OK;
}

/* A safetensors file starts with a little-endian u64 header length followed by '{'. */
static int looks_like_safetensors(const unsigned char *p, size_t size) {
    if (size < 10) return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    return n >= 2 && p[8] == '{';
}

ow_status ow_tensor_set_open(ow_tensor_set **out, const char *path, ow_error *err) {
    *out = NULL;
    int fd;
    uint64_t file_size;
    ow_status opened = ow_file_open_regular(path, "checkpoint", &fd, &file_size, err);
    if (opened != OW_OK) return opened;
    if (file_size < 8) {
        close(fd);
        return ow_error_set(err, OW_ERR_FORMAT, "not a checkpoint: '%s' is only %llu bytes long", path,
                            (unsigned long long)file_size);
    }
    size_t size = (size_t)file_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ow_error_set(err, OW_ERR_IO, "cannot map '%s' (%zu bytes): %s", path, size, strerror(map_errno));
    ow_tensor_set *set = calloc(1, sizeof *set);
    if (!set) {
        munmap(map, size);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory opening '%s'", path);
    }
    set->map = map;
    set->map_size = size;
    const unsigned char *p = map;
    ow_status s;
    /* safetensors first: its header length may begin with the bytes of a pickle's PROTO
     * (a header of 0x380 bytes is 80 03 ...), while byte 8 of a torch file is never '{'
     * (a zip's compression method; the legacy magic number's pickled digits). */
    if (looks_like_safetensors(p, size)) {
        s = ow_safetensors_read(set, err);
    } else if (p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4) {
        s = ow_torch_zip_read(set, err);
    } else if (p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) {
        s = ow_torch_legacy_read(set, err);
    } else {
        s = ow_error_set(err, OW_ERR_FORMAT,
                         "not a checkpoint: '%s' is neither .safetensors nor a torch .pt/.ckpt/.bin file "
                         "(first bytes %02x %02x %02x %02x)",
                         path, p[0], p[1], p[2], p[3]);
    }
    if (s == OW_OK) s = ow_tensor_set_finish(set, err);
    if (s != OW_OK) {
        ow_error_prefix(err, "%s", path);
        ow_tensor_set_free(set);
        return s;
    }
    *out = set;
    return OW_OK;
}
