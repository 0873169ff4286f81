/* test_torch.c: torch.save files (zip with any root folder, protocol 2 and 4,
 * legacy stream) read through the restricted pickle machine: every tensor bit
 * exact against torch's own bytes, the object tree (dict/list/tuple/set, ints,
 * big ints, floats, strings, bytes, None, bools), shared storages, GPU-tagged
 * storages, cycles; zip storages used in place in the file's mapping (torch.save
 * stores them uncompressed), a re-zipped deflated copy read through libzip to the
 * same bytes; and every hostile, lying, truncated and deep file refused with the
 * right status and message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "check.h"
#include "expect.h"
#include "formats/pickle.h"
#include "formats/tensor_set_private.h"

static void check_tree(const char *file) {
    ow_tensor_set *set = check_fixture(file);
    if (!set) return;
    const ow_pickle_value *root = ow_tensor_set_pickle_root(set);
    CHECK(ow_pickle_kind_of(root) == OW_PICKLE_DICT, "%s: root is a dict", file);
    const ow_pickle_value *meta = ow_pickle_dict_get(root, "meta");
    CHECK(ow_pickle_int(ow_pickle_dict_get(meta, "int")) == 7, "%s: meta.int", file);
    CHECK(ow_pickle_int(ow_pickle_dict_get(meta, "neg")) == -3, "%s: meta.neg", file);
    CHECK(ow_pickle_int(ow_pickle_dict_get(meta, "step")) == 1000, "%s: meta.step", file);
    const ow_pickle_value *big = ow_pickle_dict_get(meta, "big");
    size_t len = 0;
    const char *bytes = ow_pickle_string(big, &len);
    /* 2**70 as little-endian two's complement: 9 bytes, byte 8 = 0x40. */
    CHECK(ow_pickle_kind_of(big) == OW_PICKLE_BIGINT && len == 9 && (unsigned char)bytes[8] == 0x40, "%s: meta.big 2**70",
          file);
    CHECK(ow_pickle_kind_of(ow_pickle_dict_get(meta, "float")) == OW_PICKLE_FLOAT &&
              ow_pickle_float(ow_pickle_dict_get(meta, "float")) == 0.1,
          "%s: meta.float", file);
    const char *str = ow_pickle_string(ow_pickle_dict_get(meta, "str"), &len);
    CHECK(str && strcmp(str, "h\xc3\xa9llo") == 0 && len == 6, "%s: meta.str '%s'", file, str ? str : "");
    CHECK(ow_pickle_kind_of(ow_pickle_dict_get(meta, "none")) == OW_PICKLE_NONE && ow_pickle_dict_get(meta, "none"),
          "%s: meta.none", file);
    CHECK(ow_pickle_kind_of(ow_pickle_dict_get(meta, "true")) == OW_PICKLE_BOOL &&
              ow_pickle_int(ow_pickle_dict_get(meta, "true")) == 1,
          "%s: meta.true", file);
    bytes = ow_pickle_string(ow_pickle_dict_get(meta, "bytes"), &len);
    CHECK(ow_pickle_kind_of(ow_pickle_dict_get(meta, "bytes")) == OW_PICKLE_BYTES && len == 4 &&
              memcmp(bytes, "\x00\xff" "ab", 4) == 0,
          "%s: meta.bytes", file);
    const ow_pickle_value *set_v = ow_pickle_dict_get(meta, "set");
    int64_t set_sum = 0;
    for (size_t i = 0; i < ow_pickle_len(set_v); i++) set_sum += ow_pickle_int(ow_pickle_item(set_v, i));
    CHECK(ow_pickle_kind_of(set_v) == OW_PICKLE_SET && ow_pickle_len(set_v) == 3 && set_sum == 6, "%s: meta.set", file);
    CHECK(ow_pickle_dict_get(meta, "missing") == NULL, "%s: absent key", file);

    const ow_pickle_value *tuple = ow_pickle_dict_get(ow_pickle_dict_get(root, "nested"), "tuple");
    CHECK(ow_pickle_kind_of(tuple) == OW_PICKLE_TUPLE && ow_pickle_len(tuple) == 3 &&
              ow_pickle_int(ow_pickle_item(tuple, 1)) == 7 && ow_pickle_is_string(ow_pickle_item(tuple, 2), "x"),
          "%s: nested.tuple", file);
    const ow_pickle_value *ordered = ow_pickle_dict_get(root, "ordered");
    CHECK(ow_pickle_len(ordered) == 2 && ow_pickle_is_string(ow_pickle_dict_key(ordered, 0), "z") &&
              ow_pickle_is_string(ow_pickle_dict_key(ordered, 1), "a"),
          "%s: OrderedDict keeps its order", file);

    /* Tensors through the tree are the entries of the set. */
    const ow_tensor_entry *via_tree = ow_pickle_tensor(ow_pickle_dict_get(root, "f32"));
    const ow_tensor_entry *via_set = ow_tensor_set_find(set, "f32");
    CHECK(via_tree && via_set && via_tree->data == via_set->data && strcmp(via_tree->name, "f32") == 0,
          "%s: tensor from the tree is the set's entry", file);
    CHECK(ow_pickle_tensor(ow_pickle_dict_get(root, "meta")) == NULL, "%s: a dict is not a tensor", file);
    CHECK(ow_pickle_location(ow_pickle_dict_get(root, "f32")) &&
              strcmp(ow_pickle_location(ow_pickle_dict_get(root, "f32")), "cpu") == 0,
          "%s: location cpu", file);
    /* Shared storage: the view points into the same bytes, no copy. */
    const ow_tensor_entry *a = ow_tensor_set_find(set, "shared_a"), *b = ow_tensor_set_find(set, "shared_b");
    CHECK(a && b && b->data == a->data + 2 * 4, "%s: shared_b is a view into shared_a's storage", file);
    /* Non-string keys become text. */
    CHECK(ow_tensor_set_find(set, "5") != NULL, "%s: int key 5", file);
    printf("ok   %s: object tree checked\n", file);
    ow_tensor_set_free(set);
}

static void check_gpu(const char *file) {
    ow_tensor_set *set = check_fixture(file);
    if (!set) return;
    const ow_pickle_value *root = ow_tensor_set_pickle_root(set);
    const char *w = ow_pickle_location(ow_pickle_dict_get(root, "w"));
    const char *b = ow_pickle_location(ow_pickle_dict_get(root, "b"));
    CHECK(w && strcmp(w, "cuda:0") == 0 && b && strcmp(b, "cuda:0") == 0, "%s: locations '%s' '%s'", file, w ? w : "",
          b ? b : "");
    printf("ok   %s: GPU-tagged storages (%s) read on the CPU\n", file, w ? w : "?");
    ow_tensor_set_free(set);
}

static void check_embedding(void) {
    ow_tensor_set *set = check_fixture("pt_embedding.pt");
    if (!set) return;
    const ow_pickle_value *root = ow_tensor_set_pickle_root(set);
    CHECK(ow_pickle_int(ow_pickle_dict_get(ow_pickle_dict_get(root, "string_to_token"), "*")) == 265, "string_to_token");
    CHECK(ow_pickle_is_string(ow_pickle_dict_get(root, "name"), "my-cat"), "name");
    CHECK(ow_pickle_int(ow_pickle_dict_get(root, "step")) == 500, "step");
    const ow_tensor_entry *e = ow_pickle_tensor(ow_pickle_dict_get(ow_pickle_dict_get(root, "string_to_param"), "*"));
    CHECK(e && e->ndim == 2 && e->shape[0] == 2 && e->shape[1] == 4 && strcmp(e->name, "string_to_param.*") == 0,
          "string_to_param.* (2, 4)");
    printf("ok   pt_embedding.pt: A1111 embedding structure\n");
    ow_tensor_set_free(set);
}

/* How many of the set's tensors lie in its file mapping (not copied into RAM). */
static size_t tensors_in_mapping(const ow_tensor_set *set) {
    size_t in = 0;
    for (size_t i = 0; i < ow_tensor_set_count(set); i++) {
        const ow_tensor_entry *e = ow_tensor_set_entry(set, i);
        in += set->map && e->data >= set->map && e->data + e->nbytes <= set->map + set->map_size;
    }
    return in;
}

/* copies: the tensors that cannot be in place (pt_*.pt: the transposed, sliced and
 * expanded views, made contiguous, and the empty one). */
static void check_mapped(const char *path, const char *what, size_t copies) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    CHECK(ow_tensor_set_open(&set, path, &err) == OW_OK, "%s: open: %s", what, err.message);
    if (!set) return;
    size_t n = ow_tensor_set_count(set), in = tensors_in_mapping(set);
    CHECK(n > copies && in == n - copies, "%s: %zu of %zu tensors used in place in the mapping (%zu copies expected)",
          what, in, n, copies);
    ow_tensor_set_free(set);
}

/* pt_zip.pt re-zipped with every member deflated (as a zip tool would): the
 * storages are inflated through libzip and hold the same bytes. */
static void check_deflated_copy(void) {
    const char *original = source_path("tests/golden/formats/pt_zip.pt");
    char copy[] = "/tmp/ow-deflated-XXXXXX";
    int fd = mkstemp(copy);
    if (fd >= 0) close(fd);
    int zerr = 0;
    zip_t *in = zip_open(original, ZIP_RDONLY, &zerr), *out = zip_open(copy, ZIP_TRUNCATE, &zerr);
    CHECK(in && out, "open pt_zip.pt and a copy");
    if (!in || !out) return;
    for (zip_int64_t i = 0; i < zip_get_num_entries(in, 0); i++) {
        zip_source_t *src = zip_source_zip(out, in, (zip_uint64_t)i, 0, 0, -1);
        zip_int64_t j = src ? zip_file_add(out, zip_get_name(in, (zip_uint64_t)i, 0), src, 0) : -1;
        if (j >= 0) zip_set_file_compression(out, (zip_uint64_t)j, ZIP_CM_DEFLATE, 9);
    }
    CHECK(zip_close(out) == 0, "write the deflated copy");
    zip_close(in);
    ow_tensor_set *a = NULL, *b = NULL;
    ow_error err = {0};
    CHECK(ow_tensor_set_open(&a, original, &err) == OW_OK && ow_tensor_set_open(&b, copy, &err) == OW_OK,
          "open both: %s", err.message);
    size_t same = 0, n = a ? ow_tensor_set_count(a) : 0;
    for (size_t i = 0; a && b && i < n; i++) {
        const ow_tensor_entry *x = ow_tensor_set_entry(a, i), *y = ow_tensor_set_find(b, x->name);
        same += y && y->nbytes == x->nbytes && (x->nbytes == 0 || memcmp(y->data, x->data, x->nbytes) == 0);
    }
    CHECK(n > 0 && same == n, "deflated copy: %zu of %zu tensors hold the same bytes", same, n);
    CHECK(b && tensors_in_mapping(b) == 0, "deflated copy: inflated into RAM, not taken from the mapping");
    ow_tensor_set_free(a);
    ow_tensor_set_free(b);
    unlink(copy);
}

int main(void) {
    check_tree("pt_zip.pt");
    check_tree("pt_root_model.ckpt");
    check_tree("pt_root_odd.bin");
    check_tree("pt_proto4.pt");
    check_tree("pt_legacy.pt");
    check_gpu("pt_gpu.pt");
    check_gpu("pt_gpu_legacy.pt");
    check_embedding();
    check_mapped(source_path("tests/golden/formats/pt_zip.pt"), "pt_zip.pt", 4);
    check_mapped(source_path("tests/golden/formats/pt_root_model.ckpt"), "pt_root_model.ckpt", 4);
    check_mapped(source_path("tests/golden/formats/pt_proto4.pt"), "pt_proto4.pt", 4);
    check_mapped(source_path("tests/golden/tiny/variants/ema.ckpt"), "tiny ema.ckpt", 0);
    check_deflated_copy();
    ow_tensor_set_free(check_fixture("pt_checkpoint.ckpt"));
    ow_tensor_set_free(check_fixture("pt_cycle.pt"));
    check_bad_files("evil_");
    check_bad_files("pt_");
    check_bad_files("lie_");
    check_bad_files("pkl_");
    CHECK_DONE();
}
