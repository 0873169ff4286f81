/* image_orient.c: the eight EXIF / TIFF orientations undone on float pixels. */
#include "image_orient.h"

#include <stdlib.h>
#include <string.h>

void image_orient(const float *src, int w, int h, int channels, int o, float *dst, int *out_w, int *out_h) {
    const int swap = o >= 5 && o <= 8;
    const int ow = swap ? h : w;
    *out_w = ow;
    *out_h = swap ? w : h;
    const size_t pixel = (size_t)channels * sizeof *dst;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int dx, dy; /* where source pixel (x, y) goes */
            switch (o) {
            case 2: dx = w - 1 - x; dy = y; break;             /* mirrored */
            case 3: dx = w - 1 - x; dy = h - 1 - y; break;     /* rotated 180 */
            case 4: dx = x; dy = h - 1 - y; break;             /* mirrored vertically */
            case 5: dx = y; dy = x; break;                     /* transposed */
            case 6: dx = h - 1 - y; dy = x; break;             /* rotated 90 clockwise to be upright */
            case 7: dx = h - 1 - y; dy = w - 1 - x; break;     /* transversed */
            case 8: dx = y; dy = w - 1 - x; break;             /* rotated 90 counter-clockwise */
            default: dx = x; dy = y; break;
            }
            memcpy(dst + ((size_t)dy * ow + dx) * channels, src + ((size_t)y * w + x) * channels, pixel);
        }
}

int image_orient_in_place(float **pixels, int *w, int *h, int channels, int o) {
    if (o < 2 || o > 8) return 0;
    float *upright = malloc((size_t)*w * *h * channels * sizeof *upright);
    if (!upright) return -1;
    int ow, oh;
    image_orient(*pixels, *w, *h, channels, o, upright, &ow, &oh);
    free(*pixels);
    *pixels = upright;
    *w = ow;
    *h = oh;
    return 0;
}
