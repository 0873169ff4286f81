/* training_image.c: picks the reader by a file's first bytes (png_read.c,
 * jpeg_read.c, webp_read.c, tiff_read.c, which hand back straight colour and alpha)
 * and makes of it what learn uses: colour composited over white (a transparent
 * background is white, as GIMP's learn shows it), the alpha on request; a mask file's
 * red channel. */
#include "training_image.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/file.h"
#include "jpeg_read.h"
#include "png_read.h"
#include "tiff_read.h"
#include "webp_read.h"

typedef enum { FORMAT_UNKNOWN, FORMAT_PNG, FORMAT_JPEG, FORMAT_WEBP, FORMAT_TIFF } image_format;

/* The format the file's first 12 bytes announce; -1 (why set) when it cannot be opened. */
static int sniff(const char *path, image_format *format, char *why, size_t cap) {
    FILE *f = NULL;
    uint64_t size = 0;
    ow_error err = {0};
    if (ow_file_fopen_regular(path, "image", &f, &size, &err) != OW_OK) {
        snprintf(why, cap, "%s", err.message);
        return -1;
    }
    unsigned char m[12] = {0};
    const size_t n = fread(m, 1, sizeof m, f);
    fclose(f);
    *format = FORMAT_UNKNOWN;
    if (n >= 8 && memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0) *format = FORMAT_PNG;
    else if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) *format = FORMAT_JPEG;
    else if (n >= 12 && memcmp(m, "RIFF", 4) == 0 && memcmp(m + 8, "WEBP", 4) == 0) *format = FORMAT_WEBP;
    else if (n >= 4 && (memcmp(m, "II*\0", 4) == 0 || memcmp(m, "MM\0*", 4) == 0 || memcmp(m, "II+\0", 4) == 0 ||
                        memcmp(m, "MM\0+", 4) == 0))
        *format = FORMAT_TIFF; /* classic and BigTIFF */
    if (*format == FORMAT_UNKNOWN) {
        snprintf(why, cap, "not a PNG, JPEG, WebP or TIFF file");
        return -1;
    }
    return 0;
}

int training_image_name(const char *name) {
    static const char *const endings[] = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"};
    const size_t n = strlen(name);
    for (size_t i = 0; i < sizeof endings / sizeof *endings; i++) {
        const size_t k = strlen(endings[i]);
        if (n > k && strcasecmp(name + n - k, endings[i]) == 0) return 1;
    }
    return 0;
}

/* Straight colour and alpha (NULL when opaque), upright; note as in training_image. */
static int read_straight(const char *path, float **rgb, float **alpha, int *w, int *h, char *note, size_t note_cap,
                         char *why, size_t cap) {
    image_format format;
    *rgb = *alpha = NULL;
    note[0] = '\0';
    if (sniff(path, &format, why, cap) != 0) return -1;
    int pages = 1;
    int r = -1;
    switch (format) {
    case FORMAT_PNG: r = png_read_rgb_float(path, rgb, alpha, w, h, why, cap); break;
    case FORMAT_JPEG: r = jpeg_read_rgb_float(path, rgb, w, h, NULL, why, cap); break;
    case FORMAT_WEBP: r = webp_read_rgb_float(path, rgb, alpha, w, h, why, cap); break;
    case FORMAT_TIFF: r = tiff_read_rgb_float(path, rgb, alpha, w, h, NULL, &pages, why, cap); break;
    default: break;
    }
    if (r == 0 && pages > 1) snprintf(note, note_cap, "a TIFF of %d pages; the first is used", pages);
    return r;
}

int training_image_read(const char *path, int want_alpha, training_image *im, char *why, size_t cap) {
    memset(im, 0, sizeof *im);
    float *rgb, *alpha;
    int w, h;
    if (read_straight(path, &rgb, &alpha, &w, &h, im->note, sizeof im->note, why, cap) != 0) return -1;
    if (alpha) {
        const size_t npix = (size_t)w * h;
        for (size_t i = 0; i < npix; i++) {
            const float a = alpha[i];
            for (int c = 0; c < 3; c++) rgb[i * 3 + c] = rgb[i * 3 + c] * a + (1.0f - a);
        }
    }
    if (!want_alpha) {
        free(alpha);
        alpha = NULL;
    }
    im->rgb = rgb;
    im->alpha = alpha;
    im->width = w;
    im->height = h;
    return 0;
}

int training_mask_read(const char *path, float **mask, int *width, int *height, char *note, size_t note_cap,
                       char *why, size_t cap) {
    *mask = NULL;
    float *rgb, *alpha;
    int w, h;
    char local[160];
    if (read_straight(path, &rgb, &alpha, &w, &h, note ? note : local, note ? note_cap : sizeof local, why, cap) != 0)
        return -1;
    free(alpha);
    const size_t npix = (size_t)w * h;
    for (size_t i = 0; i < npix; i++) rgb[i] = rgb[i * 3]; /* red, compacted in place */
    float *red = realloc(rgb, npix * sizeof *red);
    *mask = red ? red : rgb;
    *width = w;
    *height = h;
    return 0;
}

void training_image_free(training_image *im) {
    free(im->rgb);
    free(im->alpha);
    memset(im, 0, sizeof *im);
}
