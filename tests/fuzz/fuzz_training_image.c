/* fuzz_training_image.c: libFuzzer harness for the CLI's training-image readers
 * (engine/cli/jpeg_read.c: libjpeg with its setjmp error manager, the capped memory,
 * the EXIF walk and the eight orientations; png_read.c: libpng's simplified API;
 * webp_read.c: the RIFF length check, the size caps, libwebp; tiff_read.c: libtiff
 * from memory with capped allocations, the row-by-row and the RGBA paths, palettes,
 * alpha, orientations, pages; training_image.c: the format sniffing, compositing over
 * white, the alpha kept as mask, a mask file's red channel). The readers take paths,
 * so each input is written to one file under /dev/shm (or /tmp) and read by each;
 * any input must give a picture of sane size or -1 with a message: never a crash, a
 * leak or a blow-up. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_limits.h"
#include "jpeg_read.h"
#include "png_read.h"
#include "tiff_read.h"
#include "training_image.h"
#include "webp_read.h"

static char path[64];

/* A decoded picture (channels a pixel) must be of sane size, and its last pixel (and alpha) readable. */
static void check(int r, const float *rgb, int channels, const float *alpha, int w, int h, const char *why) {
    if (r == 0) {
        if (!rgb || w < 1 || h < 1 || w > IMAGE_SIDE_LIMIT || h > IMAGE_SIDE_LIMIT ||
            (int64_t)w * h > IMAGE_PIXELS_LIMIT)
            abort();
        volatile float sink = rgb[(size_t)w * h * channels - 1] + (alpha ? alpha[(size_t)w * h - 1] : 0.0f);
        (void)sink;
    } else if (!why[0] || rgb || alpha) {
        abort(); /* a failure must say why and hand back nothing */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/ow-fuzz-image-%d", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
                 (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    float *rgb = NULL, *alpha = NULL;
    int w = 0, h = 0, o = 0, pages = 0;
    char why[256] = "";
    int r = jpeg_read_rgb_float(path, &rgb, &w, &h, &o, why, sizeof why);
    check(r, rgb, 3, NULL, w, h, why);
    if (r == 0 && (o < 1 || o > 8)) abort();
    free(rgb);
    why[0] = '\0';
    r = png_read_rgb_float(path, &rgb, &alpha, &w, &h, why, sizeof why);
    check(r, rgb, 3, alpha, w, h, why);
    free(rgb);
    free(alpha);
    why[0] = '\0';
    r = webp_read_rgb_float(path, &rgb, &alpha, &w, &h, why, sizeof why);
    check(r, rgb, 3, alpha, w, h, why);
    free(rgb);
    free(alpha);
    why[0] = '\0';
    r = tiff_read_rgb_float(path, &rgb, &alpha, &w, &h, &o, &pages, why, sizeof why);
    check(r, rgb, 3, alpha, w, h, why);
    if (r == 0 && (o < 1 || o > 8 || pages < 1)) abort();
    free(rgb);
    free(alpha);
    /* the dispatcher: the reader its first bytes name, composited, the alpha kept; a mask's red */
    training_image im;
    why[0] = '\0';
    r = training_image_read(path, 1, &im, why, sizeof why);
    check(r, im.rgb, 3, im.alpha, im.width, im.height, why);
    for (size_t i = 0; r == 0 && i < (size_t)im.width * im.height * 3; i += 997)
        if (!(im.rgb[i] >= 0.0f && im.rgb[i] <= 1.0f)) abort(); /* composited colour stays in [0, 1] */
    training_image_free(&im);
    why[0] = '\0';
    float *mask = NULL;
    r = training_mask_read(path, &mask, &w, &h, NULL, 0, why, sizeof why);
    check(r, mask, 1, NULL, w, h, why);
    free(mask);
    unlink(path); /* libFuzzer ends with _Exit: nothing may be left for later */
    return 0;
}
