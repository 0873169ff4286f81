/* test_safetensors.c: the safetensors reader against files Python wrote (bit
 * exact), the writer (round trip, byte-identical to the committed golden that
 * tests/ref/format_check_written.py loads in Python), and every bad file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/half.h"
#include "expect.h"
#include "formats/safetensors.h"

/* The tensors of the writer golden (tests/ref/format_check_written.py expects the same). */
static float w_f32[6];
static uint16_t w_f16[4], w_bf16[4];
static int64_t w_i64[3] = {-3, (int64_t)1 << 40, INT64_MAX};
static float w_scalar = 1.25f;

static size_t writer_entries(ow_tensor_entry *e) {
    for (int i = 0; i < 6; i++) w_f32[i] = (float)i * 0.5f - 1.0f;
    for (int i = 0; i < 4; i++) {
        w_f16[i] = ow_f32_to_f16((float)i / 3.0f);
        w_bf16[i] = ow_f32_to_bf16(-(float)i / 7.0f);
    }
    memset(e, 0, 6 * sizeof *e);
    e[0] = (ow_tensor_entry){.name = "a.f32", .dtype = OW_DTYPE_F32, .ndim = 2, .shape = {2, 3},
                             .data = (const unsigned char *)w_f32, .nbytes = sizeof w_f32};
    e[1] = (ow_tensor_entry){.name = "b.f16", .dtype = OW_DTYPE_F16, .ndim = 1, .shape = {4},
                             .data = (const unsigned char *)w_f16, .nbytes = sizeof w_f16};
    e[2] = (ow_tensor_entry){.name = "c.bf16", .dtype = OW_DTYPE_BF16, .ndim = 2, .shape = {2, 2},
                             .data = (const unsigned char *)w_bf16, .nbytes = sizeof w_bf16};
    e[3] = (ow_tensor_entry){.name = "d.i64", .dtype = OW_DTYPE_I64, .ndim = 1, .shape = {3},
                             .data = (const unsigned char *)w_i64, .nbytes = sizeof w_i64};
    e[4] = (ow_tensor_entry){.name = "e.empty", .dtype = OW_DTYPE_F32, .ndim = 2, .shape = {0, 4}};
    e[5] = (ow_tensor_entry){.name = "f.scalar", .dtype = OW_DTYPE_F32, .ndim = 0,
                             .data = (const unsigned char *)&w_scalar, .nbytes = 4};
    return 6;
}

static const char *const writer_metadata[] = {"format", "pt", "name", "oneword test \xc3\xbc", NULL};

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void test_reader(void) {
    ow_tensor_set *set = check_fixture("st_basic.safetensors");
    if (set) {
        CHECK(ow_tensor_set_find(set, "no.such.tensor") == NULL, "missing name gives NULL");
        CHECK(ow_tensor_set_find(set, "weight") == NULL, "prefix of a name is not a match");
        const ow_tensor_entry *f16 = ow_tensor_set_find(set, "weight.f16");
        const ow_tensor_entry *i64 = ow_tensor_set_find(set, "ids.i64");
        const ow_tensor_entry *scalar = ow_tensor_set_find(set, "scalar");
        float buf[8];
        ow_error err = {0};
        if (f16) {
            CHECK(ow_tensor_entry_to_f32(f16, buf, &err) == OW_OK, "f16 to f32: %s", err.message);
            uint16_t h;
            memcpy(&h, f16->data, 2);
            CHECK(buf[0] == ow_f16_to_f32(h), "f16 converted");
        }
        if (i64) {
            ow_status s = ow_tensor_entry_to_f32(i64, buf, &err);
            CHECK(s == OW_ERR_UNSUPPORTED && strstr(err.message, "I64"), "i64 to f32 refused: %s", err.message);
        }
        if (scalar) {
            CHECK(scalar->ndim == 0 && ow_tensor_entry_numel(scalar) == 1, "scalar has ndim 0, numel 1");
            CHECK(ow_tensor_entry_to_f32(scalar, buf, &err) == OW_OK && buf[0] == 2.5f, "scalar value %g", buf[0]);
        }
        const char *key, *value;
        ow_tensor_set_metadata_at(set, 0, &key, &value);
        CHECK(key && value, "metadata_at(0)");
        CHECK(ow_tensor_set_metadata(set, "missing") == NULL, "absent metadata key gives NULL");
        ow_tensor_set_free(set);
    }
    ow_tensor_set_free(check_fixture("st_embedding.safetensors"));
    ow_tensor_set_free(check_fixture("st_empty.safetensors"));
}

static void test_writer(const char *golden_out) {
    ow_tensor_entry e[6];
    size_t n = writer_entries(e);
    char dir[] = "/tmp/ow-st-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/written.safetensors", dir);
    ow_error err = {0};
    CHECK(ow_safetensors_write(golden_out ? golden_out : path, e, n, writer_metadata, &err) == OW_OK, "write: %s",
          err.message);
    if (golden_out) return;
    ow_tensor_set *set = NULL;
    CHECK(ow_tensor_set_open(&set, path, &err) == OW_OK, "reopen: %s", err.message);
    size_t same = 0;
    for (size_t i = 0; set && i < n; i++) {
        const ow_tensor_entry *g = ow_tensor_set_find(set, e[i].name);
        int ok = g && g->dtype == e[i].dtype && g->ndim == e[i].ndim && g->nbytes == e[i].nbytes &&
                 (g->nbytes == 0 || memcmp(g->data, e[i].data, g->nbytes) == 0);
        for (int d = 0; ok && d < e[i].ndim; d++) ok = g->shape[d] == e[i].shape[d];
        CHECK(ok, "round trip of '%s'", e[i].name);
        same += ok;
        /* The writer keeps every tensor aligned to its element size. */
        if (g && g->nbytes) CHECK(((uintptr_t)g->data % ow_dtype_size(g->dtype)) == 0, "'%s' aligned", e[i].name);
    }
    if (set) {
        const char *name = ow_tensor_set_metadata(set, "name");
        CHECK(name && strcmp(name, "oneword test \xc3\xbc") == 0, "metadata round trip: '%s'", name ? name : "");
        CHECK(ow_tensor_set_count(set) == n, "count %zu", ow_tensor_set_count(set));
    }
    printf("%s writer round trip: %zu of %zu tensors identical\n", same == n ? "ok  " : "FAIL", same, n);
    ow_tensor_set_free(set);

    size_t got_len = 0, want_len = 0;
    unsigned char *got = read_file(path, &got_len);
    unsigned char *want = read_file(source_path("tests/golden/formats/written_by_oneword.safetensors"), &want_len);
    int identical = got && want && got_len == want_len && memcmp(got, want, got_len) == 0;
    CHECK(identical, "writer output (%zu bytes) differs from the golden Python checked (%zu bytes)", got_len, want_len);
    printf("%s writer output is byte-identical to written_by_oneword.safetensors (%zu bytes)\n",
           identical ? "ok  " : "FAIL", got_len);
    free(got);
    free(want);
    unlink(path);

    /* Writer refusals. */
    ow_tensor_entry dup[2] = {e[0], e[0]};
    ow_status s = ow_safetensors_write(path, dup, 2, NULL, &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "two tensors"), "duplicate names refused: %s",
          err.message);
    ow_tensor_entry wrong = e[0];
    wrong.nbytes = 8;
    s = ow_safetensors_write(path, &wrong, 1, NULL, &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "8 bytes given"), "wrong size refused: %s",
          err.message);
    CHECK(access(path, F_OK) != 0, "a refused write leaves no file");

    /* A header length whose first bytes read as a pickle's PROTO 2..5 (0x280 = 80 02 ..
     * as u64 LE): still safetensors. 896 bytes (80 03) was the length of a training
     * state, which then did not open. */
    int opened = 0;
    for (unsigned len = 0x280; len <= 0x580; len += 0x100) {
        unsigned char file[8 + 0x580 + 4];
        for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)len >> (8 * i));
        const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        memset(file + 8, ' ', len);
        memcpy(file + 8, json, strlen(json));
        memcpy(file + 8 + len, &w_scalar, 4);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(file, 1, 8 + len + 4, f);
            fclose(f);
        }
        set = NULL;
        ow_status st = ow_tensor_set_open(&set, path, &err);
        const ow_tensor_entry *a = set ? ow_tensor_set_find(set, "a") : NULL;
        CHECK(st == OW_OK && a && memcmp(a->data, &w_scalar, 4) == 0, "a %u-byte header (%02x %02x ...): %s", len,
              file[0], file[1], st == OW_OK ? "" : err.message);
        opened += st == OW_OK && a;
        ow_tensor_set_free(set);
    }
    printf("%s safetensors headers of 0x280..0x580 bytes (first bytes as a pickle's PROTO): %d of 4 open\n",
           opened == 4 ? "ok  " : "FAIL", opened);
    unlink(path);

    /* Many tensors: lookup of every name (sorted index), like an SD checkpoint. */
    enum { MANY = 1200 };
    ow_tensor_entry *many = calloc(MANY, sizeof *many);
    char (*names)[48] = calloc(MANY, sizeof *names);
    float *vals = calloc(MANY, sizeof *vals);
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "model.block.%d.weight", (i * 7919) % MANY);
        vals[i] = (float)i;
        many[i] = (ow_tensor_entry){.name = names[i], .dtype = OW_DTYPE_F32, .ndim = 1, .shape = {1},
                                    .data = (const unsigned char *)&vals[i], .nbytes = 4};
    }
    CHECK(ow_safetensors_write(path, many, MANY, NULL, &err) == OW_OK, "write many: %s", err.message);
    set = NULL;
    CHECK(ow_tensor_set_open(&set, path, &err) == OW_OK, "open many: %s", err.message);
    int found = 0;
    for (int i = 0; set && i < MANY; i++) {
        const ow_tensor_entry *g = ow_tensor_set_find(set, names[i]);
        float v = -1;
        if (g) memcpy(&v, g->data, 4);
        found += g && v == vals[i];
    }
    CHECK(found == MANY, "found %d of %d tensors by name", found, MANY);
    printf("%s %d tensors found by name with the right value\n", found == MANY ? "ok  " : "FAIL", found);
    ow_tensor_set_free(set);
    free(many);
    free(names);
    free(vals);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv) {
    /* `test_safetensors --write-golden PATH` regenerates the writer golden. */
    if (argc == 3 && strcmp(argv[1], "--write-golden") == 0) {
        test_writer(argv[2]);
        CHECK_DONE();
    }
    test_reader();
    test_writer(NULL);
    check_bad_files("st_");
    check_bad_files("not_a_checkpoint");
    check_bad_files("tiny");
    CHECK_DONE();
}
