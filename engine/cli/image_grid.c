/* image_grid.c: see image_grid.h. */
#include "image_grid.h"

#include <stdlib.h>
#include <string.h>

float *image_grid(const float *images, int n, int w, int h, int cols, int gap, int *sheet_w, int *sheet_h) {
    const int rows = (n + cols - 1) / cols;
    const int W = cols * w + (cols - 1) * gap, H = rows * h + (rows - 1) * gap;
    float *sheet = malloc((size_t)W * H * 3 * sizeof *sheet);
    if (!sheet) return NULL;
    for (size_t i = 0; i < (size_t)W * H * 3; i++) sheet[i] = 1.0f;
    for (int k = 0; k < n; k++) {
        const int x0 = (k % cols) * (w + gap), y0 = (k / cols) * (h + gap);
        for (int y = 0; y < h; y++)
            memcpy(sheet + ((size_t)(y0 + y) * W + x0) * 3, images + (((size_t)k * h + y) * w) * 3,
                   (size_t)w * 3 * sizeof *sheet);
    }
    *sheet_w = W;
    *sheet_h = H;
    return sheet;
}
