/* test_tiff_read.c: the CLI's TIFF reader (engine/cli/tiff_read.c) against Pillow
 * (tests/golden/e2e/tiff/ from tests/ref/make_image_fixtures.py): one picture stored
 * with each of the eight orientations comes out upright and equal to Pillow's
 * exif_transpose decode; 8-bit gray, MinIsWhite, RGBA, gray + alpha, palette (8- and
 * 4-bit), 1-bit, CMYK, LZW, tiled and multi-page files (the first page) decode exactly
 * as Pillow's, associated alpha and JPEG-in-TIFF within 1/255; 16-bit gray, RGB and RGBA
 * keep every bit of the samples written (Pillow keeps 8 of them: within 1/255 of
 * those). Truncated, lying, oversized and non-TIFF files are refused with a message; a
 * file declaring 16384 x 4096 pixels in 200 bytes holds little (ASan/UBSan clean). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "image_golden.h"
#include "tiff_read.h"

static const ow_tensor_set *golden;

typedef struct decoded {
    float *rgb, *alpha;
    int w, h, orientation, pages, r;
    char why[256];
} decoded;

static decoded read_tiff(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/golden/e2e/tiff/%s.tif", name);
    decoded d = {0};
    d.r = tiff_read_rgb_float(source_path(path), &d.rgb, &d.alpha, &d.w, &d.h, &d.orientation, &d.pages, d.why,
                              sizeof d.why);
    return d;
}

static void expect_decoded(const char *name, double tol, int want_alpha, int want_orientation, int want_pages) {
    decoded d = read_tiff(name);
    const double diff = d.r == 0 ? golden_rgba_diff(golden_find(golden, name), d.rgb, d.alpha, d.w, d.h) : -1.0;
    const int ok = d.r == 0 && diff >= 0.0 && diff <= tol && (d.alpha != NULL) == want_alpha &&
                   d.orientation == want_orientation && d.pages == want_pages;
    CHECK(ok, "%s: read %d '%s', %dx%d, alpha %s, orientation %d (want %d), %d pages (want %d), max diff to Pillow "
          "%.2f/255 (tol %.0f)", name, d.r, d.why, d.w, d.h, d.alpha ? "yes" : "no", d.orientation, want_orientation,
          d.pages, want_pages, diff, tol);
    if (ok)
        printf("ok   %s.tif: %dx%d%s, orientation %d, %d page%s, max diff to Pillow's decode %.2f/255 (tol %.0f)\n", name,
               d.w, d.h, d.alpha ? " with alpha" : "", d.orientation, d.pages, d.pages == 1 ? "" : "s", diff, tol);
    free(d.rgb);
    free(d.alpha);
}

/* A 16-bit file against the samples written (exactly: ours == v / 65535), and, when
 * Pillow read it, within 1/255 of Pillow's 8 bits. */
static void expect_16bit(const char *name, const char *samples, int channels) {
    decoded d = read_tiff(name);
    const ow_tensor_entry *e = ow_tensor_set_find(golden, samples);
    const int shaped = e && e->dtype == OW_DTYPE_I32 && e->ndim == 3 && e->shape[0] == d.h && e->shape[1] == d.w &&
                       e->shape[2] >= channels;
    size_t wrong = 0;
    double worst = 0.0;
    for (size_t i = 0; d.r == 0 && shaped && i < (size_t)d.w * d.h; i++)
        for (int c = 0; c < channels; c++) {
            int32_t v;
            memcpy(&v, e->data + ((i * e->shape[2]) + c) * sizeof v, sizeof v);
            const float ours = c < 3 ? d.rgb[i * 3 + (channels == 1 ? 0 : c)] : d.alpha ? d.alpha[i] : -1.0f;
            if (ours != (float)v / 65535.0f) wrong++;
            worst = fmax(worst, fabs(ours * 65535.0 - v));
        }
    const ow_tensor_entry *pil = golden_find(golden, name);
    const double to_pillow = pil && d.r == 0 ? golden_rgba_diff(pil, d.rgb, d.alpha, d.w, d.h) : 0.0;
    const int ok = d.r == 0 && shaped && wrong == 0 && to_pillow >= 0.0 && to_pillow <= 1.0 &&
                   (channels == 4) == (d.alpha != NULL);
    CHECK(ok, "%s: read %d '%s', %zu of %d x %d x %d samples not v/65535 (worst %.2f/65535), to Pillow's 8 bits %.2f/255",
          name, d.r, d.why, wrong, d.w, d.h, channels, worst, to_pillow);
    char versus[96] = " (Pillow's convert(\"RGB\") clips 16-bit gray at 255: not compared)";
    if (pil) snprintf(versus, sizeof versus, "; to Pillow's 8 bits %.2f/255 (tol 1)", to_pillow);
    if (ok)
        printf("ok   %s.tif: %dx%d, 16 bits kept: all %d samples = written/65535 exactly%s\n", name, d.w, d.h,
               d.w * d.h * channels, versus);
    free(d.rgb);
    free(d.alpha);
}

static void expect_refused(const char *path, const char *want, const char *what) {
    float *rgb = NULL, *alpha = NULL;
    int w = 0, h = 0;
    char why[256] = "";
    const int r = tiff_read_rgb_float(path, &rgb, &alpha, &w, &h, NULL, NULL, why, sizeof why);
    const int ok = r == -1 && !rgb && !alpha && strstr(why, want);
    CHECK(ok, "%s: %d '%s' (want '%s')", what, r, why, want);
    if (ok) printf("ok   %s: %s\n", what, why);
    free(rgb);
    free(alpha);
}

/* A little-endian TIFF of one uncompressed 8-bit gray strip: w x h declared, data_bytes
 * of pixel data actually there, strip_bytes claimed. */
static size_t lying_tiff(unsigned char *out, uint32_t w, uint32_t h, uint32_t strip_bytes, size_t data_bytes) {
    const struct { uint16_t tag, type; uint32_t value; } e[] = {
        {256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1}, {273, 4, 0}, {277, 3, 1}, {278, 4, h},
        {279, 4, strip_bytes}};
    const int n = (int)(sizeof e / sizeof *e);
    const uint32_t data_at = 8 + 2 + 12 * n + 4;
    memcpy(out, "II*\0\x08\0\0\0", 8);
    size_t at = 8;
    out[at++] = (unsigned char)n, out[at++] = 0;
    for (int i = 0; i < n; i++) {
        const uint32_t v = e[i].tag == 273 ? data_at : e[i].value;
        const unsigned char entry[12] = {e[i].tag & 0xFF, e[i].tag >> 8, e[i].type & 0xFF, 0, 1, 0, 0, 0,
                                         v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF, v >> 24};
        memcpy(out + at, entry, 12);
        at += 12;
    }
    memset(out + at, 0, 4);
    at += 4;
    memset(out + at, 0x80, data_bytes);
    return at + data_bytes;
}

int main(void) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, source_path("tests/golden/e2e/tiff/decoded.safetensors"), &err);
    CHECK(s == OW_OK, "open the golden: %s", err.message);
    if (s != OW_OK) CHECK_DONE();
    golden = set;
    for (int o = 1; o <= 8; o++) {
        char name[32];
        snprintf(name, sizeof name, "orient-%d", o);
        expect_decoded(name, 0.0, 0, o, 1);
    }
    expect_decoded("gray8", 0.0, 0, 1, 1);
    expect_decoded("miniswhite", 0.0, 0, 1, 1);
    expect_decoded("rgba8", 0.0, 1, 1, 1);
    expect_decoded("la8", 0.0, 1, 1, 1);
    expect_decoded("premultiplied", 1.0, 1, 1, 1);
    expect_decoded("palette8", 0.0, 0, 1, 1);
    expect_decoded("palette4", 0.0, 0, 1, 1);
    expect_decoded("bilevel", 0.0, 0, 1, 1);
    expect_decoded("cmyk", 0.0, 0, 1, 1);
    expect_decoded("lzw", 0.0, 0, 1, 1);
    expect_decoded("jpeg", 1.0, 0, 1, 1);
    expect_decoded("tiled", 0.0, 0, 1, 1);
    expect_decoded("multipage", 0.0, 0, 1, 2);
    expect_16bit("gray16", "gray1616", 1);
    expect_16bit("rgb16", "rgba1616", 3);
    expect_16bit("rgba16", "rgba1616", 4);

    /* hostile and wrong files */
    unsigned char buf[8192];
    size_t n = read_file(source_path("tests/golden/e2e/tiff/rgba16.tif"), buf, sizeof buf);
    char tmp[] = "/tmp/ow-tiff-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) close(fd);
    write_file(tmp, buf, n / 2); /* the directory (at the end) is gone */
    expect_refused(tmp, "not a readable TIFF", "a TIFF cut in half");
    static unsigned char lie[4096];
    n = lying_tiff(lie, 64, 64, 64 * 64, 64 * 32);
    write_file(tmp, lie, n);
    expect_refused(tmp, "row 1 of 64", "a 64x64 TIFF whose strip ends after 32 rows (libtiff reads a strip whole)");
    n = lying_tiff(lie, 20000, 16, 20000 * 16, 16);
    write_file(tmp, lie, n);
    expect_refused(tmp, "1..16384 a side", "a TIFF claiming 20000x16");
    n = lying_tiff(lie, 10000, 10000, 100000000, 16);
    write_file(tmp, lie, n);
    expect_refused(tmp, "megapixels", "a TIFF claiming 10000x10000");
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    n = lying_tiff(lie, 16384, 4096, 16384u * 4096u, 64);
    write_file(tmp, lie, n);
    expect_refused(tmp, "row 1 of 4096", "182 bytes declaring 16384x4096 (805 MB as floats)");
    getrusage(RUSAGE_SELF, &after);
    CHECK(after.ru_maxrss - before.ru_maxrss < 100 * 1024, "...held %ld KB more at most (want < 100 MB)",
          after.ru_maxrss - before.ru_maxrss);
    printf("     peak RSS grew by %ld KB reading it\n", after.ru_maxrss - before.ru_maxrss);
    write_file(tmp, (const unsigned char *)"II*\0\xff\xff\xff\x7f garbage", 17);
    expect_refused(tmp, "not a readable TIFF", "a TIFF header pointing nowhere");
    expect_refused(source_path("tests/golden/e2e/transparent-32.png"), "not a readable TIFF", "a PNG read as TIFF");
    expect_refused("/tmp", "regular file", "a folder");
    unlink(tmp);
    ow_tensor_set_free(set);
    CHECK_DONE();
}
