/* fuzz_training_image.c: libFuzzer harness for the CLI's training-image readers
 * (engine/cli/jpeg_read.c: libjpeg with its setjmp error manager, the capped memory,
 * the EXIF walk and the eight orientations; png_read.c: libpng's simplified API with
 * alpha as mask). The readers take paths, so each input is written to one file
 * under /dev/shm (or /tmp) and read by both; any input must give a picture of sane
 * size or -1 with a message: never a crash, a leak or a blow-up. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jpeg_read.h"
#include "png_read.h"

static char path[64];

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
    int w = 0, h = 0, o = 0;
    char why[256];
    if (jpeg_read_rgb_float(path, &rgb, &w, &h, &o, why, sizeof why) == 0) {
        if (!rgb || w < 1 || h < 1 || w > 16384 || h > 16384 || o < 1 || o > 8) abort();
        volatile float sink = rgb[(size_t)w * h * 3 - 1];
        (void)sink;
    } else if (!why[0]) {
        abort(); /* a failure must say why */
    }
    free(rgb);
    rgb = NULL;
    why[0] = '\0';
    if (png_read_rgb_float(path, &rgb, &alpha, &w, &h, why, sizeof why) == 0) {
        if (!rgb || w < 1 || h < 1) abort();
        volatile float sink = rgb[(size_t)w * h * 3 - 1] + (alpha ? alpha[(size_t)w * h - 1] : 0.0f);
        (void)sink;
    } else if (!why[0]) {
        abort();
    }
    free(rgb);
    free(alpha);
    unlink(path); /* libFuzzer ends with _Exit: nothing may be left for later */
    return 0;
}
