/* golden_ids.h: token ids against a golden's JSON array, and what to print when they differ
 * (the CLIP and BERT tokenizer goldens). */
#ifndef OW_TESTS_TOKENIZER_GOLDEN_IDS_H
#define OW_TESTS_TOKENIZER_GOLDEN_IDS_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

static int ids_equal(json_object *want, const int32_t *got, size_t n) {
    if (json_object_array_length(want) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_object_get_int(json_object_array_get_idx(want, i)) != got[i]) return 0;
    return 1;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static void print_want(json_object *want) {
    size_t n = json_object_array_length(want);
    fprintf(stderr, "  want (%zu):", n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", json_object_get_int(json_object_array_get_idx(want, i)));
    fputc('\n', stderr);
}

#endif
