/* image_golden.h: comparing a reader's float picture with Pillow's decode of the same
 * file (a U8 (h, w, 4) RGBA tensor from tests/ref/make_image_fixtures.py), and the
 * small file helpers the reader tests share. */
#ifndef OW_TESTS_E2E_IMAGE_GOLDEN_H
#define OW_TESTS_E2E_IMAGE_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/tensor_set.h"

/* The golden of name: its own tensor, or the one its metadata names ("orient-3": "upright"). */
static inline const ow_tensor_entry *golden_find(const ow_tensor_set *set, const char *name) {
    const ow_tensor_entry *e = ow_tensor_set_find(set, name);
    const char *twin = e ? NULL : ow_tensor_set_metadata(set, name);
    return e ? e : twin ? ow_tensor_set_find(set, twin) : NULL;
}

/* max |ours - Pillow's| in 1/255 over colour and alpha (alpha NULL: opaque, so Pillow's
 * alpha must be 255), 0 where ours is exactly Pillow's byte / 255.0f; -1 when the golden
 * is missing or its size differs. */
static inline double golden_rgba_diff(const ow_tensor_entry *e, const float *rgb, const float *alpha, int w, int h) {
    if (!e || e->dtype != OW_DTYPE_U8 || e->ndim != 3 || e->shape[0] != h || e->shape[1] != w || e->shape[2] != 4)
        return -1.0;
    double worst = 0.0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        for (int c = 0; c < 4; c++) {
            const float ours = c < 3 ? rgb[i * 3 + c] : alpha ? alpha[i] : 1.0f;
            /* exact: the very float v / 255 of Pillow's byte v */
            const double d = ours == (float)e->data[i * 4 + c] / 255.0f ? 0.0 : fabs(ours * 255.0 - e->data[i * 4 + c]);
            if (d > worst) worst = d;
        }
    }
    return worst;
}

static inline size_t read_file(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap, f) : 0;
    if (f) fclose(f);
    return n;
}

static inline void write_file(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

#endif
