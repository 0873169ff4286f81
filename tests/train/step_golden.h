/* step_golden.h: reading a training-step golden (tests/golden/train, tests/golden/ldm) and
 * comparing with a relative tolerance, shared by the PyTorch-step tests. */
#ifndef OW_TESTS_TRAIN_STEP_GOLDEN_H
#define OW_TESTS_TRAIN_STEP_GOLDEN_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"

#define REL_TOL 1e-4

static const ow_tensor_set *golden;

/* The entry `name`, which must hold `n` values, as f32 (or raw int32 when ints). */
static void *golden_values(const char *name, size_t n, int ints) {
    const ow_tensor_entry *e = ow_tensor_set_find(golden, name);
    CHECK(e && (size_t)ow_tensor_entry_numel(e) == n, "golden %s has %zu values", name, n);
    if (!e || (size_t)ow_tensor_entry_numel(e) != n) return NULL;
    void *x = malloc(n * 4);
    ow_error err = {0};
    if (ints) {
        CHECK(e->dtype == OW_DTYPE_I32, "golden %s is int32", name);
        memcpy(x, e->data, n * 4);
    } else if (ow_tensor_entry_to_f32(e, x, &err) != OW_OK) {
        CHECK(0, "golden %s: %s", name, err.message);
        free(x);
        return NULL;
    }
    return x;
}

/* max |got - want| / max |want| <= REL_TOL */
static int check_relative(const char *what, const float *got, const float *want, size_t n) {
    double err = 0.0, scale = 0.0;
    size_t where = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]);
        if (e > err || isnan(got[i])) { err = isnan(got[i]) ? INFINITY : e; where = i; }
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    const double rel = scale > 0 ? err / scale : err;
    const int ok = rel <= REL_TOL;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr, "%s %s: %zu values, max abs diff %.3g at [%zu] (got %.8g want %.8g) = %.3g of max "
            "|want| %.4g, tol %.0e\n", ok ? "ok  " : "FAIL", what, n, err, where, got[where], want[where], rel, scale,
            REL_TOL);
    return ok;
}

/* "*" joins the model with row (H) as its one vector, as the example and the reference
 * start it; returns its first row in the model's table, or -1 (a failed check). */
static int add_placeholder(ow_model *m, const float *row, int H) {
    ow_error err = {0};
    ow_embedding *emb = NULL;
    ow_status s = row ? ow_embedding_create(&emb, &err) : OW_ERR_INVALID_ARGUMENT;
    if (s == OW_OK) s = ow_embedding_add(emb, "*", row, 1, H, &err);
    if (s == OW_OK) s = ow_model_add_embedding_data(m, emb, "test", &err);
    ow_embedding_free(emb);
    CHECK(s == OW_OK, "add '*': %s", err.message);
    const ow_model_embeddings *E = m->embeddings;
    return s == OW_OK ? E->tokens[E->count - 1].first_row : -1;
}

#endif
