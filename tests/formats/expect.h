/* expect.h: checks a fixture against its `.expect` manifest (written by
 * tests/ref/format_expect.py) and bad files against tests/golden/formats/bad.list. */
#ifndef OW_TESTS_FORMATS_EXPECT_H
#define OW_TESTS_FORMATS_EXPECT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes hex text into a malloc'd buffer; "-" is empty. */
static unsigned char *decode_hex(const char *hex, size_t *len) {
    size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
    unsigned char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
    *len = n;
    return out;
}

static const char *status_word(ow_status s) {
    switch (s) {
    case OW_OK: return "OK";
    case OW_ERR_FORMAT: return "FORMAT";
    case OW_ERR_UNSUPPORTED: return "UNSUPPORTED";
    case OW_ERR_UNSAFE: return "UNSAFE";
    case OW_ERR_IO: return "IO";
    case OW_ERR_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case OW_ERR_NOT_FOUND: return "NOT_FOUND";
    default: return "OTHER";
    }
}

/* Opens tests/golden/formats/<file> and compares every tensor with the manifest,
 * bit for bit. Returns the open set (caller frees) or NULL. */
static ow_tensor_set *check_fixture(const char *file) {
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "tests/golden/formats/%s", file);
    snprintf(path, sizeof path, "%s", source_path(rel));
    ow_error err = {0};
    ow_tensor_set *set = NULL;
    ow_status s = ow_tensor_set_open(&set, path, &err);
    CHECK(s == OW_OK, "%s: open failed: %s", file, err.message);
    if (s != OW_OK) return NULL;
    char expect_path[4200];
    snprintf(expect_path, sizeof expect_path, "%s.expect", path);
    FILE *f = fopen(expect_path, "r");
    CHECK(f != NULL, "%s: cannot read its manifest", file);
    if (!f) return set;
    static char line[1 << 20];
    size_t tensors = 0, metas = 0, mismatches = 0, bytes = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *save = NULL, *word = strtok_r(line, " ", &save);
        if (!word) continue;
        if (strcmp(word, "count") == 0) {
            long want = strtol(strtok_r(NULL, " ", &save), NULL, 10);
            CHECK(ow_tensor_set_count(set) == (size_t)want, "%s: %zu tensors, expected %ld", file,
                  ow_tensor_set_count(set), want);
        } else if (strcmp(word, "tensor") == 0) {
            const char *name = strtok_r(NULL, " ", &save);
            const char *dtype = strtok_r(NULL, " ", &save);
            int ndim = atoi(strtok_r(NULL, " ", &save));
            int64_t shape[OW_TENSOR_MAX_DIMS] = {0};
            for (int i = 0; i < ndim && i < OW_TENSOR_MAX_DIMS; i++) shape[i] = atoll(strtok_r(NULL, " ", &save));
            size_t len;
            unsigned char *want = decode_hex(strtok_r(NULL, " ", &save), &len);
            const ow_tensor_entry *e = ow_tensor_set_find(set, name);
            int ok = e != NULL;
            CHECK(ok, "%s: tensor '%s' not found", file, name);
            if (ok) {
                int same_shape = e->ndim == ndim;
                for (int i = 0; same_shape && i < ndim; i++) same_shape = e->shape[i] == shape[i];
                CHECK(strcmp(ow_dtype_name(e->dtype), dtype) == 0, "%s: '%s' dtype %s, expected %s", file, name,
                      ow_dtype_name(e->dtype), dtype);
                CHECK(same_shape, "%s: '%s' has another shape (ndim %d, expected %d)", file, name, e->ndim, ndim);
                CHECK(e->nbytes == len, "%s: '%s' has %zu bytes, expected %zu", file, name, e->nbytes, len);
                ok = same_shape && e->nbytes == len && (len == 0 || memcmp(e->data, want, len) == 0);
                CHECK(ok, "%s: '%s' bytes differ from what torch wrote", file, name);
                bytes += len;
            }
            if (!ok) mismatches++;
            tensors++;
            free(want);
        } else if (strcmp(word, "meta") == 0) {
            const char *key = strtok_r(NULL, " ", &save);
            const char *hex = strtok_r(NULL, " ", &save);
            size_t len;
            unsigned char *want = decode_hex(hex ? hex : "-", &len);
            want[len] = 0;
            const char *got = ow_tensor_set_metadata(set, key);
            CHECK(got && strcmp(got, (const char *)want) == 0, "%s: metadata '%s' is '%s', expected '%s'", file, key,
                  got ? got : "(missing)", (const char *)want);
            metas++;
            free(want);
        }
    }
    fclose(f);
    CHECK(ow_tensor_set_metadata_count(set) == metas, "%s: %zu metadata pairs, expected %zu", file,
          ow_tensor_set_metadata_count(set), metas);
    printf("%s %s: %zu tensors (%zu bytes) compared bit for bit, %zu differ; %zu metadata pairs\n",
           mismatches ? "FAIL" : "ok  ", file, tensors, bytes, mismatches, metas);
    return set;
}

/* Opens every file of bad.list whose name starts with prefix and checks that it
 * fails with the listed status and a message containing the listed words. */
static void check_bad_files(const char *prefix) {
    FILE *f = fopen(source_path("tests/golden/formats/bad.list"), "r");
    CHECK(f != NULL, "cannot read bad.list");
    if (!f) return;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || !line[0]) continue;
        char *sp1 = strchr(line, ' ');
        if (!sp1) continue;
        *sp1 = 0;
        char *status = sp1 + 1, *sp2 = strchr(status, ' ');
        if (!sp2) continue;
        *sp2 = 0;
        const char *words = sp2 + 1;
        if (strncmp(line, prefix, strlen(prefix)) != 0) continue;
        char rel[1100];
        snprintf(rel, sizeof rel, "tests/golden/formats/%s", line);
        ow_error err = {0};
        ow_tensor_set *set = NULL;
        ow_status s = ow_tensor_set_open(&set, source_path(rel), &err);
        int ok = s != OW_OK && set == NULL && strcmp(status_word(s), status) == 0 && strstr(err.message, words);
        CHECK(ok, "%s: status %s (expected %s), message '%s' (expected to contain '%s')", line, status_word(s), status,
              err.message, words);
        const char *shown = strstr(err.message, "tests/golden/formats/");
        printf("%s %-40s %-11s %s\n", ok ? "ok  " : "FAIL", line, status_word(s), shown ? shown + 21 : err.message);
        ow_tensor_set_free(set);
        n++;
    }
    fclose(f);
    CHECK(n > 0, "no bad files with prefix '%s'", prefix);
}

#endif
