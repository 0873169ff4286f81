/* png_read.c: PNG -> float RGB with libpng's simplified API (PNG_FORMAT_RGB, 8 bits
 * per channel after libpng's own conversion of 16-bit, gray and palette images;
 * transparent pixels composited over white, as the reference's PIL convert("RGB")
 * does not, but as a training image with a transparent background should look). */
#include "png_read.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIDE_MAX 16384

int png_read_rgb_float(const char *path, float **rgb, int *width, int *height, char *why, size_t cap) {
    *rgb = NULL;
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path)) {
        snprintf(why, cap, "%s", image.message[0] ? image.message : "not a PNG file");
        png_image_free(&image);
        return -1;
    }
    if (image.width == 0 || image.height == 0 || image.width > SIDE_MAX || image.height > SIDE_MAX) {
        snprintf(why, cap, "the image is %ux%u pixels (1..%d a side)", image.width, image.height, SIDE_MAX);
        png_image_free(&image);
        return -1;
    }
    image.format = PNG_FORMAT_RGB;
    const size_t n = (size_t)image.width * image.height * 3;
    unsigned char *pixels = malloc(n);
    if (!pixels) {
        snprintf(why, cap, "out of memory for a %ux%u image", image.width, image.height);
        png_image_free(&image);
        return -1;
    }
    png_color white = {255, 255, 255};
    if (!png_image_finish_read(&image, &white, pixels, 0, NULL)) {
        snprintf(why, cap, "%s", image.message[0] ? image.message : "cannot decode the PNG");
        free(pixels);
        png_image_free(&image);
        return -1;
    }
    float *out = malloc(n * sizeof *out);
    if (!out) {
        snprintf(why, cap, "out of memory for a %ux%u image", image.width, image.height);
        free(pixels);
        return -1;
    }
    for (size_t i = 0; i < n; i++) out[i] = pixels[i] / 255.0f;
    free(pixels);
    *rgb = out;
    *width = (int)image.width;
    *height = (int)image.height;
    return 0;
}
