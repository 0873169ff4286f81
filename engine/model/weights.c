/* weights.c: named, shape-checked tensor loading for model code. */
#include "model/weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int stored_key(const ow_weights *w, const char *diffusers_key, char *out, size_t cap) {
    char mapped[512];
    const char *key = diffusers_key;
    if (w->map) {
        if (w->map(diffusers_key, mapped, sizeof mapped, w->map_user) != 0) return -1;
        key = mapped;
    }
    int n = snprintf(out, cap, "%s%s", w->prefix ? w->prefix : "", key);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

const ow_tensor_entry *ow_weights_find(const ow_weights *w, const char *diffusers_key) {
    char key[640];
    if (stored_key(w, diffusers_key, key, sizeof key) != 0) return NULL;
    return ow_tensor_set_find(w->set, key);
}

int ow_weights_shape_matches(const ow_tensor_entry *e, int ndim, const int64_t *shape) {
    if (ndim > OW_MAX_DIMS || e->ndim < ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (e->shape[i] != shape[i]) return 0;
    /* Trailing size-1 dimensions carry no data: the original VAE stores its attention
     * projections as 1x1 convolutions (C, C, 1, 1) where diffusers has linears (C, C). */
    for (int i = ndim; i < e->ndim; i++)
        if (e->shape[i] != 1) return 0;
    return 1;
}

static void format_shape(char *out, size_t cap, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < cap) snprintf(out + used, cap - used, ")");
}

ow_status ow_weights_get(const ow_weights *w, ow_backend *b, const char *diffusers_key,
                         int ndim, const int64_t *shape, ow_tensor *out, ow_error *err) {
    memset(out, 0, sizeof *out);
    const char *what = w->what ? w->what : "model";
    char key[640];
    if (stored_key(w, diffusers_key, key, sizeof key) != 0)
        return ow_error_set(err, OW_ERR_NOT_FOUND, "%s: no stored name for tensor '%s'", what, diffusers_key);
    const ow_tensor_entry *e = ow_tensor_set_find(w->set, key);
    if (!e)
        return ow_error_set(err, OW_ERR_NOT_FOUND,
                            "%s: tensor '%s' is missing from the checkpoint (is this a Stable Diffusion 1.x model?)",
                            what, key);
    int same = ow_weights_shape_matches(e, ndim, shape);
    if (!same) {
        char want[128], got[128];
        format_shape(want, sizeof want, ndim, shape);
        format_shape(got, sizeof got, e->ndim, e->shape);
        return ow_error_set(err, OW_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s (a model of another architecture?)",
                            what, key, got, want);
    }
    int64_t n = ow_tensor_entry_numel(e);
    float *host = malloc((size_t)n * sizeof *host);
    if (!host) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "%s: out of memory loading '%s'", what, key);
    ow_status s = ow_tensor_entry_to_f32(e, host, err);
    ow_tensor_set_release(w->set, e); /* the file's pages are not needed once converted */
    if (s != OW_OK) { free(host); return ow_error_prefix(err, "%s: tensor '%s'", what, key); }
    float *dev = b->alloc(b, (size_t)n);
    if (!dev) { free(host); return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "%s: out of memory loading '%s'", what, key); }
    b->upload(b, dev, host, (size_t)n);
    free(host);
    out->data = dev;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->shape[i] = shape[i];
    return OW_OK;
}

void ow_weights_release(ow_backend *b, ow_tensor *t) {
    if (t->data) b->free(b, t->data);
    memset(t, 0, sizeof *t);
}

ow_status ow_weights_get_matrix(const ow_weights *w, ow_backend *b, const char *diffusers_key,
                                int ndim, const int64_t *shape, ow_matrix *out, ow_error *err) {
    memset(out, 0, sizeof *out);
    const ow_tensor_entry *stored = ow_weights_find(w, diffusers_key);
    int stored_f16 = stored && stored->dtype == OW_DTYPE_F16; /* read before the entry is released */
    ow_tensor t;
    ow_status s = ow_weights_get(w, b, diffusers_key, ndim, shape, &t, err);
    if (s != OW_OK) return s;
    int64_t cols = 1;
    for (int i = 1; i < ndim; i++) cols *= shape[i];
    if (ndim < 1 || shape[0] > INT32_MAX || cols > INT32_MAX) {
        ow_weights_release(b, &t);
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: tensor '%s' is too large for a matrix product",
                            w->what ? w->what : "model", diffusers_key);
    }
    ow_matrix_dtype dtype = cols < OW_MATRIX_MIN_16BIT_COLS ? OW_MATRIX_F32 : w->matrix_dtype;
    if (dtype == OW_MATRIX_F32 && w->f16_as_stored && stored_f16 && b->matrix_supports(b, OW_MATRIX_F16))
        dtype = OW_MATRIX_F16;
    s = b->matrix_create(b, out, t.data, (int)shape[0], (int)cols, dtype);
    if (s != OW_OK)
        return ow_error_set(err, s, "%s: out of memory converting '%s' to %s", w->what ? w->what : "model",
                            diffusers_key, dtype == OW_MATRIX_BF16 ? "bf16" : dtype == OW_MATRIX_F16 ? "f16" : "f32");
    return OW_OK;
}
