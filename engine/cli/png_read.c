/* png_read.c: PNG -> float RGB and alpha with libpng's simplified API
 * (PNG_FORMAT_RGBA, 8 bits per channel after libpng's own conversion of 16-bit, gray
 * and palette images; the colour is handed back as stored, not premultiplied: what
 * is done with transparency is training_image.c's choice). */
#include "png_read.h"
#include "image_limits.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int png_read_rgb_float(const char *path, float **rgb, float **alpha, int *width, int *height, char *why, size_t cap) {
    *rgb = NULL;
    *alpha = NULL;
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path)) {
        snprintf(why, cap, "%s", image.message[0] ? image.message : "not a PNG file");
        png_image_free(&image);
        return -1;
    }
    if (image_size_allowed(image.width, image.height, why, cap) != 0) {
        png_image_free(&image);
        return -1;
    }
    const int has_alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    image.format = PNG_FORMAT_RGBA;
    const size_t npix = (size_t)image.width * image.height, n = npix * 3;
    unsigned char *pixels = malloc(npix * 4);
    if (!pixels) {
        snprintf(why, cap, "out of memory for a %ux%u image", image.width, image.height);
        png_image_free(&image);
        return -1;
    }
    if (!png_image_finish_read(&image, NULL, pixels, 0, NULL)) {
        snprintf(why, cap, "%s", image.message[0] ? image.message : "cannot decode the PNG");
        free(pixels);
        png_image_free(&image);
        return -1;
    }
    float *out = malloc(n * sizeof *out), *mask = has_alpha ? malloc(npix * sizeof *mask) : NULL;
    if (!out || (has_alpha && !mask)) {
        snprintf(why, cap, "out of memory for a %ux%u image", image.width, image.height);
        free(pixels);
        free(out);
        free(mask);
        return -1;
    }
    for (size_t i = 0; i < npix; i++) {
        for (int c = 0; c < 3; c++) out[i * 3 + c] = pixels[i * 4 + c] / 255.0f;
        if (mask) mask[i] = pixels[i * 4 + 3] / 255.0f;
    }
    free(pixels);
    *rgb = out;
    *alpha = mask;
    *width = (int)image.width;
    *height = (int)image.height;
    return 0;
}
