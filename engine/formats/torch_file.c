/* torch_file.c: torch.save files, read with the restricted pickle machine.
 *
 * Zip format (torch >= 1.6): an archive with <root>/data.pkl (the pickle),
 * <root>/data/<key> (raw little-endian storages), <root>/byteorder, .../version;
 * the root folder may have any name. Read with libzip.
 * Legacy format: five pickles in a row (magic number, protocol version, sys_info,
 * the object, the sorted storage keys), then each storage as an 8-byte LE element
 * count followed by its bytes. Storages point into the file's mapping.
 *
 * Tensor names: the dotted path from the root object, dict keys joined with '.',
 * list/tuple/set items by index: {"state_dict": {"a.weight": t}} lists
 * "state_dict.a.weight"; a plain state_dict lists its keys unchanged; [t0, t1]
 * lists "0" and "1". A tensor reached through several paths is listed under
 * each. Contiguous tensors point at the storage bytes; strided ones (transposed,
 * sliced, expanded) are copied into contiguous buffers owned by the set. The whole
 * object tree stays available through ow_tensor_set_pickle_root(). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/text.h"
#include "formats/pickle_private.h"
#include "formats/tensor_set_private.h"
#include "formats/zip_directory.h"

/* A strided tensor is copied only up to this size (or 4x the file, if larger),
 * so a hostile stride-0 view cannot make us allocate without bound. */
#define MATERIALISE_MIN_LIMIT ((uint64_t)64 << 20)

/* ---- storages ---- */

static int compare_storage_key(const void *a, const void *b) {
    const ow_pickle_value *x = *(ow_pickle_value *const *)a, *y = *(ow_pickle_value *const *)b;
    return strcmp(x->storage.key, y->storage.key);
}

/* All STORAGE values of p sorted by key (caller frees). */
static ow_status collect_storages(ow_pickle *p, ow_pickle_value ***out, size_t *n, ow_error *err) {
    size_t count = 0, total = ow_pickle_value_count(p);
    for (size_t i = 0; i < total; i++) count += ow_pickle_value_at(p, i)->kind == OW_PICKLE_STORAGE;
    ow_pickle_value **list = malloc((count ? count : 1) * sizeof *list);
    if (!list) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory listing storages");
    count = 0;
    for (size_t i = 0; i < total; i++) {
        ow_pickle_value *v = ow_pickle_value_at(p, i);
        if (v->kind == OW_PICKLE_STORAGE) list[count++] = v;
    }
    qsort(list, count, sizeof *list, compare_storage_key);
    *out = list;
    *n = count;
    return OW_OK;
}

static int key_is_safe(const char *key) {
    if (!key[0] || strlen(key) > 64) return 0;
    for (const char *c = key; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

/* ---- tensors ---- */

/* The tensor's view (offset, size, stride in elements) checked in bytes against the
 * bytes its storage really holds, whatever the pickle declared: *last_byte is one
 * past the last byte the view reads. Every container binds st->nbytes the same way. */
static ow_status view_fits_storage(const ow_pickle_tensor_view *tv, const ow_pickle_storage *st, size_t elem,
                                   ow_error *err) {
    int64_t last = tv->offset, end_byte;
    for (int d = 0; d < tv->ndim; d++) {
        int64_t step;
        if (tv->size[d] < 0 || tv->stride[d] < 0 || tv->offset < 0 ||
            !ow_checked_mul_i64(tv->size[d] - 1, tv->stride[d], &step) || !ow_checked_add_i64(last, step, &last))
            return ow_error_set(err, OW_ERR_FORMAT, "tensor size and stride overflow (corrupt file)");
    }
    if (!ow_checked_add_i64(last, 1, &end_byte) || !ow_checked_mul_i64(end_byte, (int64_t)elem, &end_byte) ||
        (uint64_t)end_byte > st->nbytes)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "tensor reads up to element %" PRId64 " of %s storage '%s', which holds %zu bytes "
                            "(corrupt or hostile file)",
                            last, ow_dtype_name(st->dtype), st->key, st->nbytes);
    return OW_OK;
}

static ow_status resolve_tensor(ow_tensor_set *set, ow_pickle_value *t, ow_error *err) {
    ow_pickle_tensor_view *tv = &t->tensor;
    if (tv->resolved) return OW_OK;
    ow_pickle_storage *st = &tv->storage->storage;
    if (!st->bytes && st->numel > 0)
        return ow_error_set(err, OW_ERR_FORMAT, "storage '%s' has no data in the file", st->key);
    size_t elem = ow_dtype_size(st->dtype);
    size_t nbytes;
    if (!ow_shape_nbytes(tv->size, tv->ndim, elem, &nbytes))
        return ow_error_set(err, OW_ERR_FORMAT, "tensor shape overflows");
    uint64_t numel = nbytes / elem;
    ow_tensor_entry *e = &tv->entry;
    e->name = "";
    e->dtype = st->dtype;
    e->ndim = tv->ndim;
    for (int d = 0; d < tv->ndim; d++) e->shape[d] = tv->size[d];
    e->nbytes = nbytes;
    if (numel == 0) {
        e->data = NULL;
        tv->resolved = 1;
        return OW_OK;
    }
    ow_status fits = view_fits_storage(tv, st, elem, err);
    if (fits != OW_OK) return fits;
    int contiguous = 1;
    int64_t expect = 1;
    for (int d = tv->ndim - 1; d >= 0; d--) {
        if (tv->size[d] != 1 && tv->stride[d] != expect) contiguous = 0;
        expect *= tv->size[d];
    }
    if (contiguous) {
        e->data = st->bytes + (size_t)tv->offset * elem;
        tv->resolved = 1;
        return OW_OK;
    }
    uint64_t limit = (uint64_t)set->map_size * 4;
    if (limit < MATERIALISE_MIN_LIMIT) limit = MATERIALISE_MIN_LIMIT;
    if (nbytes > limit)
        return ow_error_set(err, OW_ERR_FORMAT, "strided tensor would expand to %" PRIu64 " bytes (corrupt or hostile file)",
                            nbytes);
    unsigned char *buf = malloc((size_t)nbytes);
    if (!buf) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory copying a %" PRIu64 "-byte tensor", nbytes);
    int64_t index[OW_TENSOR_MAX_DIMS] = {0};
    /* Unsigned: an intermediate step past a size-1 dimension may leave the range and come
     * back (wrapping is defined); every index visited is within the checked view. */
    uint64_t src = (uint64_t)tv->offset;
    for (uint64_t k = 0; k < numel; k++) {
        memcpy(buf + k * elem, st->bytes + (size_t)src * elem, elem);
        for (int d = tv->ndim - 1; d >= 0; d--) { /* odometer over the index */
            index[d]++;
            src += (uint64_t)tv->stride[d];
            if (index[d] < tv->size[d]) break;
            src -= (uint64_t)tv->stride[d] * (uint64_t)tv->size[d];
            index[d] = 0;
        }
    }
    ow_status s = ow_tensor_set_own(set, buf, (size_t)nbytes, err);
    if (s != OW_OK) return s;
    e->data = buf;
    tv->resolved = 1;
    return OW_OK;
}

/* ---- naming: walk the tree ---- */

typedef struct walker {
    ow_tensor_set *set;
    char *path;
    size_t len, cap;
    uint32_t stamp;
    ow_error *err;
} walker;

static ow_status path_append(walker *w, const char *part, size_t n) {
    size_t sep = w->len ? 1 : 0;
    if (w->len + sep + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + sep + n + 1) cap *= 2;
        if (cap > (1u << 16)) return ow_error_set(w->err, OW_ERR_FORMAT, "a tensor's name is longer than 64 KiB");
        char *grown = realloc(w->path, cap);
        if (!grown) return ow_error_set(w->err, OW_ERR_OUT_OF_MEMORY, "out of memory naming tensors");
        w->path = grown;
        w->cap = cap;
    }
    if (sep) w->path[w->len++] = '.';
    memcpy(w->path + w->len, part, n);
    w->len += n;
    w->path[w->len] = 0;
    return OW_OK;
}

static ow_status walk(walker *w, ow_pickle_value *v, int depth);

static ow_status walk_child(walker *w, ow_pickle_value *key, size_t index, ow_pickle_value *child, int depth) {
    if (child->kind != OW_PICKLE_TENSOR && child->kind != OW_PICKLE_DICT && child->kind != OW_PICKLE_LIST &&
        child->kind != OW_PICKLE_TUPLE && child->kind != OW_PICKLE_SET)
        return OW_OK;
    char buf[32];
    const char *part = buf;
    size_t n;
    if (!key) {
        n = (size_t)snprintf(buf, sizeof buf, "%zu", index);
    } else if (key->kind == OW_PICKLE_STRING || key->kind == OW_PICKLE_BYTES) {
        part = key->str;
        n = key->len;
        if (strlen(key->str) != n) return ow_error_set(w->err, OW_ERR_FORMAT, "a dict key holding tensors contains a NUL byte");
        if (!ow_utf8_valid(key->str, n))
            return ow_error_set(w->err, OW_ERR_FORMAT, "a dict key holding tensors is not valid UTF-8 ('%s')", key->str);
    } else if (key->kind == OW_PICKLE_INT) {
        n = (size_t)snprintf(buf, sizeof buf, "%" PRId64, key->i);
    } else if (key->kind == OW_PICKLE_BOOL) {
        n = (size_t)snprintf(buf, sizeof buf, "%s", key->i ? "True" : "False");
    } else if (key->kind == OW_PICKLE_NONE) {
        n = (size_t)snprintf(buf, sizeof buf, "None");
    } else {
        return OW_OK; /* tensors under other keys stay reachable through the tree only */
    }
    size_t saved = w->len;
    ow_status s = path_append(w, part, n);
    if (s == OW_OK) s = walk(w, child, depth + 1);
    w->len = saved;
    if (w->path) w->path[saved] = 0;
    return s;
}

static ow_status walk(walker *w, ow_pickle_value *v, int depth) {
    if (depth > OW_PICKLE_MAX_DEPTH)
        return ow_error_set(w->err, OW_ERR_FORMAT, "the object tree nests more than %d levels deep", OW_PICKLE_MAX_DEPTH);
    if (v->kind == OW_PICKLE_TENSOR) {
        ow_status s = resolve_tensor(w->set, v, w->err);
        if (s != OW_OK) return ow_error_prefix(w->err, "tensor '%s'", w->len ? w->path : "(root)");
        const ow_tensor_entry *e = &v->tensor.entry;
        s = ow_tensor_set_add(w->set, w->len ? w->path : "", e->dtype, e->ndim, e->shape, e->data, e->nbytes, w->err);
        if (s == OW_OK && !v->tensor.entry.name[0]) v->tensor.entry.name = w->set->entries[w->set->count - 1].name;
        return s;
    }
    if (v->mark == w->stamp) return OW_OK; /* each container once: shared and cyclic references */
    v->mark = w->stamp;
    ow_status s = OW_OK;
    if (v->kind == OW_PICKLE_DICT) {
        for (size_t i = 0; i < v->count && s == OW_OK; i++) s = walk_child(w, v->items[2 * i], i, v->items[2 * i + 1], depth);
    } else if (v->kind == OW_PICKLE_LIST || v->kind == OW_PICKLE_TUPLE || v->kind == OW_PICKLE_SET) {
        for (size_t i = 0; i < v->count && s == OW_OK; i++) s = walk_child(w, NULL, i, v->items[i], depth);
    }
    return s;
}

static ow_status name_tensors(ow_tensor_set *set, ow_error *err) {
    walker w = {.set = set, .stamp = 1, .err = err};
    ow_status s = walk(&w, (ow_pickle_value *)set->pickle_root, 0);
    free(w.path);
    return s;
}

/* ---- zip archives ---- */

static ow_status zip_error(zip_t *z, const char *what, ow_error *err) {
    return ow_error_set(err, OW_ERR_FORMAT, "%s: %s (damaged or truncated archive)", what, zip_strerror(z));
}

/* Reads a whole archive member into a malloc'd buffer (expected_size bytes). */
static ow_status zip_read_member(zip_t *z, zip_uint64_t index, uint64_t expected_size, const char *name,
                                 unsigned char **out, ow_error *err) {
    *out = NULL;
    zip_file_t *f = zip_fopen_index(z, index, 0);
    if (!f) return zip_error(z, name, err);
    unsigned char *buf = malloc(expected_size ? (size_t)expected_size : 1);
    if (!buf) {
        zip_fclose(f);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory reading %s (%" PRIu64 " bytes)", name, expected_size);
    }
    uint64_t got = 0;
    while (got < expected_size) {
        zip_int64_t n = zip_fread(f, buf + got, expected_size - got);
        if (n <= 0) break;
        got += (uint64_t)n;
    }
    int bad = got != expected_size;
    if (bad) {
        ow_status s = ow_error_set(err, OW_ERR_FORMAT, "%s: read %" PRIu64 " of %" PRIu64 " bytes (%s)", name, got,
                                   expected_size, zip_file_strerror(f));
        zip_fclose(f);
        free(buf);
        return s;
    }
    if (zip_fclose(f) != 0) {
        free(buf);
        return zip_error(z, name, err);
    }
    *out = buf;
    return OW_OK;
}

/* torch.save stores members uncompressed; an archive re-zipped with compression may
 * inflate, in all, to INFLATE_RATIO x its own size plus INFLATE_SLACK, no more (a
 * 1 MB deflate bomb would otherwise become a 1 GB "storage"). */
#define INFLATE_RATIO 16
#define INFLATE_SLACK ((uint64_t)64 << 20)

typedef struct zip_budget {
    uint64_t file_size;    /* the archive's bytes */
    uint64_t inflate_left; /* what compressed members may still inflate to */
} zip_budget;

/* Finds a member: a stored one must lie within the file; a compressed one is charged to the budget. */
static ow_status zip_find(zip_t *z, const char *name, zip_uint64_t *index, uint64_t *size, zip_budget *budget,
                          ow_error *err) {
    zip_int64_t i = zip_name_locate(z, name, 0);
    if (i < 0) return ow_error_set(err, OW_ERR_FORMAT, "archive member '%s' is missing", name);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) return zip_error(z, name, err);
    int stored = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method == ZIP_CM_STORE;
    if (stored && st.size > budget->file_size)
        return ow_error_set(err, OW_ERR_FORMAT, "archive member '%s' declares %" PRIu64 " bytes in a %" PRIu64 "-byte file",
                            name, (uint64_t)st.size, budget->file_size);
    if (!stored) {
        if (st.size > budget->inflate_left)
            return ow_error_set(err, OW_ERR_FORMAT,
                                "archive member '%s' inflates to %" PRIu64 " bytes, more than this archive can hold "
                                "(%d x its size; a zip bomb?); torch.save stores members uncompressed: re-save the file",
                                name, (uint64_t)st.size, INFLATE_RATIO);
        budget->inflate_left -= st.size;
    }
    *index = (zip_uint64_t)i;
    *size = st.size;
    return OW_OK;
}

static ow_status zip_read_torch(ow_tensor_set *set, zip_t *z, ow_error *err) {
    /* The root folder is whatever holds data.pkl. */
    zip_int64_t entries = zip_get_num_entries(z, 0);
    char root[512] = "";
    int found = 0;
    for (zip_int64_t i = 0; i < entries && !found; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
        if (!name) continue;
        const char *slash = strchr(name, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0 && (size_t)(slash - name) < sizeof root - 64) {
            memcpy(root, name, (size_t)(slash - name));
            root[slash - name] = 0;
            found = 1;
        }
    }
    if (!found)
        return ow_error_set(err, OW_ERR_FORMAT, "not a checkpoint: a zip archive without <folder>/data.pkl (not made by torch.save)");
    char name[640];
    zip_uint64_t index;
    uint64_t size;
    zip_budget budget = {set->map_size, INFLATE_SLACK + (uint64_t)set->map_size * INFLATE_RATIO};
    snprintf(name, sizeof name, "%s/byteorder", root);
    if (zip_name_locate(z, name, 0) >= 0) {
        ow_status s = zip_find(z, name, &index, &size, &budget, err);
        if (s != OW_OK) return s;
        unsigned char *order = NULL;
        if (size > 16) return ow_error_set(err, OW_ERR_FORMAT, "%s is %" PRIu64 " bytes long", name, size);
        if ((s = zip_read_member(z, index, size, name, &order, err)) != OW_OK) return s;
        int little = size == 6 && memcmp(order, "little", 6) == 0;
        free(order);
        if (!little) return ow_error_set(err, OW_ERR_UNSUPPORTED, "the checkpoint was saved on a big-endian machine");
    }
    snprintf(name, sizeof name, "%s/data.pkl", root);
    ow_status s = zip_find(z, name, &index, &size, &budget, err);
    if (s != OW_OK) return s;
    if (size > ((uint64_t)1 << 32))
        return ow_error_set(err, OW_ERR_FORMAT, "%s declares %" PRIu64 " bytes (corrupt archive)", name, size);
    unsigned char *pkl = NULL;
    if ((s = zip_read_member(z, index, size, name, &pkl, err)) != OW_OK) return s;
    if ((s = ow_tensor_set_own(set, pkl, (size_t)size, err)) != OW_OK) return s;
    set->pickle = ow_pickle_new();
    if (!set->pickle) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    size_t used;
    if ((s = ow_pickle_run(set->pickle, pkl, (size_t)size, &set->pickle_root, &used, err)) != OW_OK)
        return ow_error_prefix(err, "%s", name);

    ow_pickle_value **storages;
    size_t n;
    if ((s = collect_storages(set->pickle, &storages, &n, err)) != OW_OK) return s;
    ow_zip_directory directory;
    ow_error ignored = {0}; /* a directory we cannot read here: libzip reads the members */
    int have_directory = ow_zip_directory_read(&directory, set->map, set->map_size, &ignored) == OW_OK;
    for (size_t i = 0; i < n && s == OW_OK; i++) {
        ow_pickle_storage *st = &storages[i]->storage;
        if (st->root_key) { s = ow_error_set(err, OW_ERR_FORMAT, "storage views are not used in zip checkpoints"); break; }
        if (!key_is_safe(st->key)) { s = ow_error_set(err, OW_ERR_FORMAT, "storage key '%.40s' is not a plain name", st->key); break; }
        uint64_t need;
        if (st->numel < 0 || !ow_checked_mul_u64((uint64_t)st->numel, ow_dtype_size(st->dtype), &need) || need > SIZE_MAX) {
            s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' is absurdly large", st->key);
            break;
        }
        if (i > 0 && strcmp(storages[i - 1]->storage.key, st->key) == 0) {
            /* torch.save writes one persistent id per storage; the same key again must be the same storage. */
            ow_pickle_storage *prev = &storages[i - 1]->storage;
            if (prev->numel != st->numel || prev->dtype != st->dtype) {
                s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' is declared twice, as %" PRId64 " %s and as %" PRId64 " %s elements (corrupt or hostile file)",
                                 st->key, prev->numel, ow_dtype_name(prev->dtype), st->numel, ow_dtype_name(st->dtype));
                break;
            }
            st->bytes = prev->bytes;
            st->nbytes = prev->nbytes;
            continue;
        }
        snprintf(name, sizeof name, "%s/data/%s", root, st->key);
        if ((s = zip_find(z, name, &index, &size, &budget, err)) != OW_OK) break;
        if (size != need) {
            s = ow_error_set(err, OW_ERR_FORMAT, "%s holds %" PRIu64 " bytes but the pickle declares %" PRId64 " %s elements (%" PRIu64 " bytes)",
                             name, size, st->numel, ow_dtype_name(st->dtype), need);
            break;
        }
        /* torch.save stores every storage uncompressed: used in place in the mapping,
         * so a .ckpt costs no RAM for what is not read (model_ema.* copies); others
         * are inflated through libzip. */
        uint64_t offset;
        if (have_directory && ow_zip_stored_data(&directory, (size_t)index, name, size, &offset)) {
            st->bytes = (unsigned char *)set->map + offset;
            st->nbytes = (size_t)size;
            continue;
        }
        unsigned char *bytes = NULL;
        if ((s = zip_read_member(z, index, size, name, &bytes, err)) != OW_OK) break;
        if ((s = ow_tensor_set_own(set, bytes, (size_t)size, err)) != OW_OK) break;
        st->bytes = bytes;
        st->nbytes = (size_t)size;
    }
    free(storages);
    ow_zip_directory_free(&directory);
    if (s != OW_OK) return s;
    return name_tensors(set, err);
}

ow_status ow_torch_zip_read(ow_tensor_set *set, ow_error *err) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(set->map, set->map_size, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory opening the archive");
    }
    zip_t *z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z) {
        ow_status s = ow_error_set(err, OW_ERR_FORMAT, "torch zip checkpoint is damaged or truncated: %s",
                                   zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return s;
    }
    zip_error_fini(&ze);
    ow_status s = zip_read_torch(set, z, err);
    zip_discard(z); /* read-only: nothing to write back */
    if (s != OW_OK) ow_error_prefix(err, "torch zip checkpoint");
    return s;
}

/* ---- legacy stream ---- */

static const unsigned char legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static ow_status legacy_read(ow_tensor_set *set, ow_error *err) {
    const unsigned char *data = set->map;
    size_t len = set->map_size, pos = 0, used = 0;
    set->pickle = ow_pickle_new();
    if (!set->pickle) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    const ow_pickle_value *magic, *version, *sys_info, *keys;
    ow_status s = ow_pickle_run(set->pickle, data, len, &magic, &used, err);
    if (s != OW_OK) return ow_error_prefix(err, "magic number");
    size_t mlen = 0;
    const char *mbytes = ow_pickle_string(magic, &mlen);
    if (ow_pickle_kind_of(magic) != OW_PICKLE_BIGINT || mlen != sizeof legacy_magic || memcmp(mbytes, legacy_magic, mlen) != 0)
        return ow_error_set(err, OW_ERR_FORMAT, "not a checkpoint: a pickle file without torch's magic number");
    pos += used;
    if ((s = ow_pickle_run(set->pickle, data + pos, len - pos, &version, &used, err)) != OW_OK)
        return ow_error_prefix(err, "protocol version");
    if (ow_pickle_kind_of(version) != OW_PICKLE_INT || ow_pickle_int(version) != 1001)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "legacy torch protocol version %" PRId64 " (expected 1001)", ow_pickle_int(version));
    pos += used;
    if ((s = ow_pickle_run(set->pickle, data + pos, len - pos, &sys_info, &used, err)) != OW_OK)
        return ow_error_prefix(err, "sys_info");
    const ow_pickle_value *little = ow_pickle_dict_get(sys_info, "little_endian");
    if (little && ow_pickle_kind_of(little) == OW_PICKLE_BOOL && !ow_pickle_int(little))
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "the checkpoint was saved on a big-endian machine");
    pos += used;
    if ((s = ow_pickle_run(set->pickle, data + pos, len - pos, &set->pickle_root, &used, err)) != OW_OK)
        return ow_error_prefix(err, "object pickle");
    pos += used;
    if ((s = ow_pickle_run(set->pickle, data + pos, len - pos, &keys, &used, err)) != OW_OK)
        return ow_error_prefix(err, "storage key list");
    pos += used;
    if (ow_pickle_kind_of(keys) != OW_PICKLE_LIST)
        return ow_error_set(err, OW_ERR_FORMAT, "the storage key list is a %s", ow_pickle_kind_name(ow_pickle_kind_of(keys)));

    ow_pickle_value **storages;
    size_t n;
    if ((s = collect_storages(set->pickle, &storages, &n, err)) != OW_OK) return s;
    /* Root storages follow in key-list order: u64 element count, then the bytes. */
    for (size_t k = 0; k < ow_pickle_len(keys) && s == OW_OK; k++) {
        const ow_pickle_value *key = ow_pickle_item(keys, k);
        const char *kstr = ow_pickle_string(key, NULL);
        if (ow_pickle_kind_of(key) != OW_PICKLE_STRING || !kstr) { s = ow_error_set(err, OW_ERR_FORMAT, "a storage key is not a string"); break; }
        ow_pickle_value probe = {.kind = OW_PICKLE_STORAGE}, *pp = &probe;
        probe.storage.key = (char *)kstr;
        ow_pickle_value **hit = bsearch(&pp, storages, n, sizeof *storages, compare_storage_key);
        if (!hit) { s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' is listed but never used", kstr); break; }
        while (hit > storages && strcmp(hit[-1]->storage.key, kstr) == 0) hit--;
        ow_pickle_storage *first = &(*hit)->storage;
        if (first->root_key) { s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' is both a view and a root", kstr); break; }
        if (first->bytes) { s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' is listed twice", kstr); break; }
        if (len - pos < 8) { s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' is missing: the file ends at byte %zu (truncated)", kstr, pos); break; }
        uint64_t count = 0;
        for (int b = 7; b >= 0; b--) count = (count << 8) | data[pos + (size_t)b];
        pos += 8;
        size_t elem = ow_dtype_size(first->dtype);
        if (count != (uint64_t)first->numel) {
            s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' holds %" PRIu64 " elements but the pickle declares %" PRId64, kstr, count, first->numel);
            break;
        }
        if (count > (len - pos) / elem) {
            s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' (%" PRIu64 " %s elements) runs past the end of the file (truncated)", kstr, count, ow_dtype_name(first->dtype));
            break;
        }
        for (ow_pickle_value **h = hit; h < storages + n && strcmp((*h)->storage.key, kstr) == 0; h++) {
            ow_pickle_storage *same = &(*h)->storage;
            if (same->numel != first->numel || same->dtype != first->dtype || same->root_key) {
                s = ow_error_set(err, OW_ERR_FORMAT, "storage '%s' is declared twice differently (%" PRId64 " %s and %" PRId64 " %s elements; corrupt or hostile file)",
                                 kstr, first->numel, ow_dtype_name(first->dtype), same->numel, ow_dtype_name(same->dtype));
                break;
            }
            same->bytes = data + pos;
            same->nbytes = (size_t)(count * elem);
        }
        pos += (size_t)(count * elem);
    }
    /* Views share their root's bytes. */
    for (size_t i = 0; i < n && s == OW_OK; i++) {
        ow_pickle_storage *st = &storages[i]->storage;
        if (!st->root_key) continue;
        ow_pickle_value probe = {.kind = OW_PICKLE_STORAGE}, *pp = &probe;
        probe.storage.key = st->root_key;
        ow_pickle_value **hit = bsearch(&pp, storages, n, sizeof *storages, compare_storage_key);
        if (!hit || (*hit)->storage.root_key || !(*hit)->storage.bytes) { s = ow_error_set(err, OW_ERR_FORMAT, "storage view '%s' has no root storage", st->key); break; }
        /* In bytes, against the bytes the root really holds (not the size the view declares for it). */
        const ow_pickle_storage *root_st = &(*hit)->storage;
        size_t elem = ow_dtype_size(st->dtype);
        uint64_t begin, span, end;
        if (root_st->dtype != st->dtype || st->view_offset < 0 || st->numel < 0 ||
            !ow_checked_mul_u64((uint64_t)st->view_offset, elem, &begin) ||
            !ow_checked_mul_u64((uint64_t)st->numel, elem, &span) || !ow_checked_add_u64(begin, span, &end) ||
            end > root_st->nbytes) {
            s = ow_error_set(err, OW_ERR_FORMAT, "storage view '%s' does not fit its root", st->key);
            break;
        }
        st->bytes = root_st->bytes + begin;
        st->nbytes = (size_t)span;
    }
    free(storages);
    if (s != OW_OK) return s;
    return name_tensors(set, err);
}

ow_status ow_torch_legacy_read(ow_tensor_set *set, ow_error *err) {
    ow_status s = legacy_read(set, err);
    if (s != OW_OK) ow_error_prefix(err, "legacy torch checkpoint");
    return s;
}
