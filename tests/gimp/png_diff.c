/* png_diff.c: compares two PNGs as 8-bit RGB (libpng's simplified API) for tests/gimp:
 *   png_diff A.png B.png   prints "size WxH, max difference D, mean difference M" and
 * exits 0, or 2 when a file cannot be read or the sizes differ. The caller judges D. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_rgb(const char *path, unsigned *w, unsigned *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "png_diff: cannot read %s: %s\n", path, img.message);
        return NULL;
    }
    img.format = PNG_FORMAT_RGB;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        fprintf(stderr, "png_diff: cannot decode %s: %s\n", path, img.message);
        free(buf);
        png_image_free(&img);
        return NULL;
    }
    *w = img.width;
    *h = img.height;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: png_diff A.png B.png\n");
        return 2;
    }
    unsigned wa, ha, wb, hb;
    unsigned char *a = read_rgb(argv[1], &wa, &ha), *b = read_rgb(argv[2], &wb, &hb);
    if (!a || !b) return 2;
    if (wa != wb || ha != hb) {
        printf("sizes differ: %ux%u vs %ux%u\n", wa, ha, wb, hb);
        return 2;
    }
    size_t n = (size_t)wa * ha * 3;
    int max = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > max) max = d;
        sum += d;
    }
    printf("size %ux%u, max difference %d, mean difference %.3f\n", wa, ha, max, sum / (double)n);
    free(a);
    free(b);
    return 0;
}
