/* safetensors.c: reading (from a read-only mapping) and writing (atomically)
 * .safetensors files: u64 LE header length, JSON header, raw LE tensor data.
 *
 * Every number in the header is checked against the file before use: header
 * length, offsets, byte counts (overflow-checked numel * element size),
 * overlaps, dims; duplicate names and invalid UTF-8 are refused. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "formats/safetensors.h"
#include "formats/tensor_set_private.h"

#define SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB, as the Python library allows */
#define SAFETENSORS_JSON_DEPTH 16

/* Counts the keys of the top-level JSON object as written in the text (json-c
 * keeps only the last of duplicated keys, so compare this with its count).
 * The text has already been parsed successfully, so it is well formed. */
static size_t count_top_level_keys(const char *text, size_t len) {
    size_t keys = 0;
    int depth = 0, expect_key = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            if (depth == 1 && expect_key) { keys++; expect_key = 0; }
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\') i++;
        } else if (c == '{' || c == '[') {
            depth++;
            if (depth == 1) expect_key = 1;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = 1;
        }
    }
    return keys;
}

/* Reads a JSON integer that must be >= 0. */
static int get_nonnegative(json_object *v, uint64_t *out) {
    if (!v) return -1;
    if (json_object_get_type(v) != json_type_int) return -1;
    int64_t i = json_object_get_int64(v);
    if (i < 0) return -1;
    if (i == INT64_MAX) { /* json-c saturates large values; may be a uint64 */
        uint64_t u = json_object_get_uint64(v);
        *out = u;
        return 0;
    }
    *out = (uint64_t)i;
    return 0;
}

typedef struct { uint64_t begin, end; const char *name; } byte_range;

static int compare_range(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static ow_status read_tensor(ow_tensor_set *set, const char *name, json_object *info, const unsigned char *data,
                             uint64_t data_size, byte_range *range, ow_error *err) {
    if (!json_object_is_type(info, json_type_object))
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': header entry is not a JSON object", name);
    json_object *dtype_v = NULL, *shape_v = NULL, *offsets_v = NULL;
    json_object_object_get_ex(info, "dtype", &dtype_v);
    json_object_object_get_ex(info, "shape", &shape_v);
    json_object_object_get_ex(info, "data_offsets", &offsets_v);
    if (!dtype_v || !json_object_is_type(dtype_v, json_type_string))
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': missing or non-string \"dtype\"", name);
    const char *dtype_name = json_object_get_string(dtype_v);
    ow_dtype dtype;
    if (ow_dtype_parse(dtype_name, &dtype) != 0)
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "tensor '%s' has dtype \"%.40s\", which oneword does not read "
                            "(supported: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL)",
                            name, dtype_name);
    if (!shape_v || !json_object_is_type(shape_v, json_type_array))
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': missing or non-list \"shape\"", name);
    size_t ndim = json_object_array_length(shape_v);
    if (ndim > OW_TENSOR_MAX_DIMS)
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s' has %zu dimensions (at most %d supported)", name, ndim,
                            OW_TENSOR_MAX_DIMS);
    int64_t shape[OW_TENSOR_MAX_DIMS];
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < ndim; i++) {
        uint64_t d;
        if (get_nonnegative(json_object_array_get_idx(shape_v, i), &d) != 0 || d > (uint64_t)INT64_MAX)
            return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': dimension %zu of \"shape\" is not an integer in [0, 2^63)",
                                name, i);
        shape[i] = (int64_t)d;
        if (d != 0 && numel > UINT64_MAX / d) overflow = 1;
        else numel *= d;
    }
    size_t elem = ow_dtype_size(dtype);
    if (!overflow && numel > UINT64_MAX / elem) overflow = 1;
    /* A zero dimension makes the tensor empty whatever the other dims say. */
    for (size_t i = 0; i < ndim; i++) if (shape[i] == 0) { overflow = 0; numel = 0; }
    if (overflow || numel * elem > data_size)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "tensor '%s': shape declares more data than the file holds (%llu bytes of tensor data)", name,
                            (unsigned long long)data_size);
    uint64_t nbytes = numel * elem;
    if (!offsets_v || !json_object_is_type(offsets_v, json_type_array) || json_object_array_length(offsets_v) != 2)
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': \"data_offsets\" must be a list [begin, end]", name);
    uint64_t begin, end;
    if (get_nonnegative(json_object_array_get_idx(offsets_v, 0), &begin) != 0 ||
        get_nonnegative(json_object_array_get_idx(offsets_v, 1), &end) != 0)
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': \"data_offsets\" are not integers >= 0", name);
    if (end < begin)
        return ow_error_set(err, OW_ERR_FORMAT, "tensor '%s': data_offsets end %llu is before begin %llu", name,
                            (unsigned long long)end, (unsigned long long)begin);
    if (end > data_size)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes; truncated file?)",
                            name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != nbytes)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "tensor '%s': data_offsets span %llu bytes but %s shape needs %llu", name,
                            (unsigned long long)(end - begin), ow_dtype_name(dtype), (unsigned long long)nbytes);
    range->begin = begin;
    range->end = end;
    return ow_tensor_set_add(set, name, dtype, (int)ndim, shape, data + begin, (size_t)nbytes, err);
}

/* Whether the JSON text writes a NUL character as the escape \u0000 (json-c keeps
 * names as C strings, so such a name would be cut silently). */
static int has_escaped_nul(const char *text, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\') continue;
        if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0) return 1;
        i++; /* the escaped character */
    }
    return 0;
}

/* A name or metadata text from the header: escapes such as \ud800 decode to bytes that
 * are not UTF-8 even though the raw text is; refuse them as other tools would. */
static ow_status check_text(const char *what, const char *s, ow_error *err) {
    if (!ow_utf8_valid(s, strlen(s)))
        return ow_error_set(err, OW_ERR_FORMAT, "safetensors header: %s '%s' is not valid UTF-8", what, s);
    return OW_OK;
}

static ow_status read_metadata(ow_tensor_set *set, json_object *meta, ow_error *err) {
    if (json_object_is_type(meta, json_type_null)) return OW_OK;
    if (!json_object_is_type(meta, json_type_object))
        return ow_error_set(err, OW_ERR_FORMAT, "\"__metadata__\" is not a JSON object of strings");
    json_object_object_foreach(meta, key, value) {
        if (!json_object_is_type(value, json_type_string))
            return ow_error_set(err, OW_ERR_FORMAT, "\"__metadata__\" value for '%s' is not a string", key);
        ow_status s = check_text("metadata key", key, err);
        if (s == OW_OK) s = check_text("metadata value", json_object_get_string(value), err);
        if (s == OW_OK) s = ow_tensor_set_add_metadata(set, key, json_object_get_string(value), err);
        if (s != OW_OK) return s;
    }
    return OW_OK;
}

ow_status ow_safetensors_read(ow_tensor_set *set, ow_error *err) {
    const unsigned char *p = set->map;
    uint64_t size = set->map_size;
    if (size < 8) return ow_error_set(err, OW_ERR_FORMAT, "safetensors file shorter than its 8-byte header length");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | p[i];
    if (header_len > SAFETENSORS_MAX_HEADER)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "safetensors header declares %llu bytes (more than 100 MB): corrupt or not a safetensors file",
                            (unsigned long long)header_len);
    if (header_len > size - 8)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "safetensors header declares %llu bytes but the file has only %llu after the length (truncated?)",
                            (unsigned long long)header_len, (unsigned long long)(size - 8));
    const char *text = (const char *)p + 8;
    size_t text_len = (size_t)header_len;
    if (text_len < 2 || text[0] != '{')
        return ow_error_set(err, OW_ERR_FORMAT, "safetensors header does not start with a JSON object");
    if (memchr(text, '\0', text_len) || has_escaped_nul(text, text_len))
        return ow_error_set(err, OW_ERR_FORMAT, "safetensors header contains a NUL character: corrupt file");

    json_tokener *tok = json_tokener_new_ex(SAFETENSORS_JSON_DEPTH);
    if (!tok) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory parsing the safetensors header");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, text, (int)text_len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t parse_end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        if (root) json_object_put(root);
        return ow_error_set(err, OW_ERR_FORMAT, "safetensors header is not valid JSON (%s near byte %zu)",
                            json_tokener_error_desc(jerr == json_tokener_success ? json_tokener_continue : jerr),
                            parse_end);
    }
    for (size_t i = parse_end; i < text_len; i++) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            json_object_put(root);
            return ow_error_set(err, OW_ERR_FORMAT, "safetensors header has trailing bytes after the JSON object (at %zu)",
                                i);
        }
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return ow_error_set(err, OW_ERR_FORMAT, "safetensors header is not a JSON object");
    }
    size_t declared = count_top_level_keys(text, parse_end);
    size_t kept = (size_t)json_object_object_length(root);
    if (declared != kept) {
        json_object_put(root);
        return ow_error_set(err, OW_ERR_FORMAT, "safetensors header repeats a name (%zu entries written, %zu distinct)",
                            declared, kept);
    }

    const unsigned char *data = p + 8 + header_len;
    uint64_t data_size = size - 8 - header_len;
    byte_range *ranges = calloc(kept ? kept : 1, sizeof *ranges);
    if (!ranges) {
        json_object_put(root);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory reading %zu tensor entries", kept);
    }
    size_t nranges = 0;
    ow_status s = OW_OK;
    json_object_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) s = read_metadata(set, value, err);
        else if ((s = check_text("tensor name", key, err)) == OW_OK) {
            s = read_tensor(set, key, value, data, data_size, &ranges[nranges], err);
            ranges[nranges].name = set->count ? set->entries[set->count - 1].name : "";
            if (s == OW_OK) nranges++;
        }
        if (s != OW_OK) break;
    }
    if (s == OW_OK && nranges > 1) {
        qsort(ranges, nranges, sizeof *ranges, compare_range);
        uint64_t prev_end = 0;
        const char *prev_name = NULL;
        for (size_t i = 0; i < nranges && s == OW_OK; i++) {
            if (ranges[i].begin == ranges[i].end) continue; /* empty tensors take no bytes */
            if (prev_name && ranges[i].begin < prev_end)
                s = ow_error_set(err, OW_ERR_FORMAT, "tensors '%s' and '%s' overlap in the file (corrupt header)",
                                 prev_name, ranges[i].name);
            prev_end = ranges[i].end;
            prev_name = ranges[i].name;
        }
    }
    free(ranges);
    json_object_put(root);
    if (s != OW_OK) ow_error_prefix(err, "safetensors");
    return s;
}

/* ---- writing ---- */

static ow_status check_entry(const ow_tensor_entry *e, ow_error *err) {
    if (!e->name || !e->name[0]) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "a tensor has an empty name");
    if (strcmp(e->name, "__metadata__") == 0)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "a tensor may not be named \"__metadata__\"");
    if (e->ndim < 0 || e->ndim > OW_TENSOR_MAX_DIMS)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "tensor '%s' has %d dimensions", e->name, e->ndim);
    uint64_t numel = 1;
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] < 0)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "tensor '%s' has a negative dimension", e->name);
        uint64_t d = (uint64_t)e->shape[i];
        if (d && numel > UINT64_MAX / d)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "tensor '%s' shape overflows", e->name);
        numel *= d;
    }
    size_t elem = ow_dtype_size(e->dtype);
    if (elem == 0) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "tensor '%s' has an unknown dtype", e->name);
    if (numel > SIZE_MAX / elem || numel * elem != e->nbytes)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "tensor '%s': %zu bytes given, shape and %s need %llu",
                            e->name, e->nbytes, ow_dtype_name(e->dtype), (unsigned long long)(numel * elem));
    if (e->nbytes && !e->data) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "tensor '%s' has no data", e->name);
    return OW_OK;
}

static int compare_string_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writing order: larger elements first (keeps every tensor aligned to its
 * element size, as the Python writer does), then input order. */
typedef struct { size_t index; size_t elem; } write_slot;

static int compare_slot(const void *a, const void *b) {
    const write_slot *x = a, *y = b;
    if (x->elem != y->elem) return x->elem > y->elem ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

ow_status ow_safetensors_write(const char *path, const ow_tensor_entry *entries, size_t count,
                               const char *const *metadata, ow_error *err) {
    ow_status s = OW_OK;
    for (size_t i = 0; i < count && s == OW_OK; i++) s = check_entry(&entries[i], err);
    if (s != OW_OK) return ow_error_prefix(err, "writing '%s'", path);
    const char **names = malloc((count ? count : 1) * sizeof *names);
    write_slot *slots = malloc((count ? count : 1) * sizeof *slots);
    json_object *root = json_object_new_object();
    char *header = NULL;
    if (!names || !slots || !root) {
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "writing '%s': out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < count; i++) names[i] = entries[i].name;
    qsort(names, count, sizeof *names, compare_string_ptr);
    for (size_t i = 1; i < count; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "writing '%s': two tensors are named '%s'", path, names[i]);
            goto done;
        }
    if (metadata) {
        json_object *meta = json_object_new_object();
        json_object_object_add(root, "__metadata__", meta);
        for (size_t i = 0; metadata[i]; i += 2) {
            if (!metadata[i + 1]) {
                s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "writing '%s': metadata key '%s' has no value", path,
                                 metadata[i]);
                goto done;
            }
            json_object_object_add(meta, metadata[i], json_object_new_string(metadata[i + 1]));
        }
    }
    for (size_t i = 0; i < count; i++) slots[i] = (write_slot){i, ow_dtype_size(entries[i].dtype)};
    qsort(slots, count, sizeof *slots, compare_slot);
    uint64_t offset = 0;
    for (size_t k = 0; k < count; k++) {
        const ow_tensor_entry *e = &entries[slots[k].index];
        json_object *info = json_object_new_object();
        json_object *shape = json_object_new_array();
        json_object *offsets = json_object_new_array();
        json_object_object_add(info, "dtype", json_object_new_string(ow_dtype_name(e->dtype)));
        for (int d = 0; d < e->ndim; d++) json_object_array_add(shape, json_object_new_int64(e->shape[d]));
        json_object_object_add(info, "shape", shape);
        json_object_array_add(offsets, json_object_new_int64((int64_t)offset));
        json_object_array_add(offsets, json_object_new_int64((int64_t)(offset + e->nbytes)));
        json_object_object_add(info, "data_offsets", offsets);
        json_object_object_add(root, e->name, info);
        offset += e->nbytes;
    }
    size_t json_len = 0;
    const char *json = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                         &json_len);
    size_t padded = (json_len + 7) / 8 * 8;
    header = malloc(8 + padded);
    if (!json || !header) {
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "writing '%s': out of memory", path);
        goto done;
    }
    for (int i = 0; i < 8; i++) header[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
    memcpy(header + 8, json, json_len);
    memset(header + 8 + json_len, ' ', padded - json_len);

    ow_atomic_file f;
    s = ow_atomic_file_open(&f, path, err);
    if (s != OW_OK) goto done;
    /* ow_atomic_file_write reports the system's reason (no space left, file too large). */
    int ok = ow_atomic_file_write(&f, header, 8 + padded, err) == OW_OK;
    for (size_t k = 0; k < count && ok; k++) {
        const ow_tensor_entry *e = &entries[slots[k].index];
        if (e->nbytes) ok = ow_atomic_file_write(&f, e->data, e->nbytes, err) == OW_OK;
    }
    if (!ok) {
        ow_atomic_file_abort(&f);
        s = OW_ERR_IO;
        goto done;
    }
    s = ow_atomic_file_commit(&f, err);
done:
    free(header);
    if (root) json_object_put(root);
    free(slots);
    free(names);
    return s;
}
