/* weights.h: the tensors of one submodel (text encoder, UNet or VAE) looked up
 * by their diffusers key names, whatever file layout they came from.
 *
 * A diffusers folder's submodel file uses those names directly. A single-file
 * (original CompVis layout) checkpoint stores them under other names; the
 * loader translates with a name-mapping function (model/checkpoint_keys.c). */
#ifndef OW_MODEL_WEIGHTS_H
#define OW_MODEL_WEIGHTS_H

#include "backend/backend.h"
#include "core/tensor.h"
#include "formats/tensor_set.h"
#include "oneword.h"

/* Maps a diffusers key to the key stored in the file; writes it to out (cap bytes).
 * Returns 0 on success, -1 if the key has no counterpart. */
typedef int (*ow_key_map_fn)(const char *diffusers_key, char *out, size_t cap, void *user);

typedef struct ow_weights {
    const ow_tensor_set *set; /* not owned */
    const char *prefix;       /* prepended to the mapped key ("" when none); not owned */
    ow_key_map_fn map;        /* NULL: the file uses diffusers names */
    void *map_user;
    const char *what;         /* "unet", "vae", "text encoder": used in messages */
    ow_matrix_dtype matrix_dtype; /* what the matrix products' weights are held in (F32 when zeroed) */
    /* With matrix_dtype F32: a matrix the file stores in f16 is held as OW_MATRIX_F16,
     * which multiplies as f32 bit for bit (f16 values are exact in f32) at half the memory. */
    int f16_as_stored;
} ow_weights;

/* The stored entry for a diffusers key, or NULL when missing. */
const ow_tensor_entry *ow_weights_find(const ow_weights *w, const char *diffusers_key);

/* Loads a tensor as f32 into backend memory (out->data allocated with b->alloc).
 * Fails with a message naming the key and both shapes when it is missing or its
 * shape is not the expected (ndim, shape) (see ow_weights_shape_matches). */
ow_status ow_weights_get(const ow_weights *w, ow_backend *b, const char *diffusers_key,
                         int ndim, const int64_t *shape, ow_tensor *out, ow_error *err);

/* Whether a stored entry has the expected shape: equal dimensions, or equal
 * followed by trailing size-1 dimensions ((C, C, 1, 1) is accepted for (C, C)). */
int ow_weights_shape_matches(const ow_tensor_entry *e, int ndim, const int64_t *shape);

/* Products with fewer input columns than this keep f32 weights on a 16-bit path: the
 * UNet's first convolution (4 latent channels x 9 taps) and the like, where bf16
 * saves nothing and the inputs are the raw latents. */
#define OW_MATRIX_MIN_16BIT_COLS 64

/* Loads the weight of a matrix product, a Linear's (out, in) or a Conv2d's (out, in,
 * k, k), as a (shape[0], product of the rest) matrix in w->matrix_dtype (see
 * OW_MATRIX_MIN_16BIT_COLS and f16_as_stored); shapes are checked as by
 * ow_weights_get. Free with b->matrix_free. */
ow_status ow_weights_get_matrix(const ow_weights *w, ow_backend *b, const char *diffusers_key,
                                int ndim, const int64_t *shape, ow_matrix *out, ow_error *err);

/* Frees a tensor loaded with ow_weights_get (safe on a zeroed tensor). */
void ow_weights_release(ow_backend *b, ow_tensor *t);

#endif
