/* test_image_read.c: the CLI's training-image readers (engine/cli/jpeg_read.c,
 * png_read.c) against Pillow (tests/golden/e2e/jpeg/ from
 * tests/ref/make_image_fixtures.py): one picture stored with each of the eight EXIF
 * orientations comes out upright and equal to Pillow's exif_transpose decode;
 * grayscale, progressive and Adobe CMYK JPEGs decode like Pillow's; truncated,
 * oversized and non-JPEG files are refused with a message (ASan/UBSan clean); a
 * 157-byte file declaring 11544 x 4096 pixels (found by fuzz_training_image) is
 * refused as truncated without holding the 567 MB its size would take. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "jpeg_read.h"
#include "png_read.h"

static const ow_tensor_set *golden;

/* max |ours - Pillow's| in 1/255 over a w x h picture, -1 when the sizes differ */
static double compare(const char *name, const float *rgb, int w, int h) {
    const ow_tensor_entry *e = ow_tensor_set_find(golden, name);
    if (!e || e->ndim != 3 || e->shape[0] != h || e->shape[1] != w || e->shape[2] != 3) return -1.0;
    double worst = 0.0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        const double d = fabs(rgb[i] * 255.0 - e->data[i]);
        if (d > worst) worst = d;
    }
    return worst;
}

static void expect_decoded(const char *name, double tol, int want_orientation) {
    char path[256];
    snprintf(path, sizeof path, "tests/golden/e2e/jpeg/%s.jpg", name);
    float *rgb = NULL;
    int w = 0, h = 0, o = 0;
    char why[256] = "";
    const int is = jpeg_is_jpeg(source_path(path));
    int r = jpeg_read_rgb_float(source_path(path), &rgb, &w, &h, &o, why, sizeof why);
    const double d = r == 0 ? compare(name, rgb, w, h) : -1.0;
    const double up = r == 0 ? compare("upright", rgb, w, h) : -1.0;
    int ok = is && r == 0 && d >= 0.0 && d <= tol && o == want_orientation;
    CHECK(ok, "%s: read %d '%s', %dx%d, orientation %d (want %d), max diff to Pillow %.1f/255 (tol %.0f)", name, r, why,
          w, h, o, want_orientation, d, tol);
    if (ok)
        printf("ok   %s: %dx%d upright (EXIF orientation %d), max diff to Pillow's decode %.1f/255 (tol %.0f), to the "
               "picture %.1f/255\n", name, w, h, o, d, tol, up);
    free(rgb);
}

static void expect_refused(const char *path, const char *want, const char *what) {
    float *rgb = NULL;
    int w = 0, h = 0;
    char why[256] = "";
    int r = jpeg_read_rgb_float(path, &rgb, &w, &h, NULL, why, sizeof why);
    int ok = r == -1 && !rgb && strstr(why, want);
    CHECK(ok, "%s: %d '%s' (want '%s')", what, r, why, want);
    if (ok) printf("ok   %s: %s\n", what, why);
    free(rgb);
}

static void write_file(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

int main(void) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, source_path("tests/golden/e2e/jpeg/decoded.safetensors"), &err);
    CHECK(s == OW_OK, "open the golden: %s", err.message);
    if (s != OW_OK) CHECK_DONE();
    golden = set;
    for (int o = 1; o <= 8; o++) {
        char name[32];
        snprintf(name, sizeof name, "orient-%d", o);
        expect_decoded(name, 1.0, o);
    }
    expect_decoded("gray", 1.0, 1);
    expect_decoded("progressive", 1.0, 1);
    expect_decoded("cmyk", 2.0, 1);

    /* hostile and wrong files */
    FILE *f = fopen(source_path("tests/golden/e2e/jpeg/orient-6.jpg"), "rb");
    unsigned char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    char tmp[] = "/tmp/ow-jpeg-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) close(fd);
    write_file(tmp, buf, n / 2);
    expect_refused(tmp, "not a readable JPEG", "a JPEG cut in half");
    /* the SOF0 frame header claims 40000 x 40000 */
    for (size_t i = 0; i + 9 < n; i++)
        if (buf[i] == 0xFF && buf[i + 1] == 0xC0) {
            buf[i + 5] = 0x9C, buf[i + 6] = 0x40, buf[i + 7] = 0x9C, buf[i + 8] = 0x40;
            break;
        }
    write_file(tmp, buf, n);
    expect_refused(tmp, "1..16384 a side", "a JPEG claiming 40000x40000");
    expect_refused(source_path("tests/golden/e2e/transparent-32.png"), "not a readable JPEG", "a PNG read as JPEG");
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    expect_refused(source_path("tests/golden/e2e/truncated-11544x4096.jpg"), "premature end of data segment",
                   "157 bytes declaring 11544x4096 (would be 567 MB as floats)");
    getrusage(RUSAGE_SELF, &after);
    CHECK(after.ru_maxrss - before.ru_maxrss < 100 * 1024, "...held %ld KB more at most (want < 100 MB)",
          after.ru_maxrss - before.ru_maxrss);
    printf("     peak RSS grew by %ld KB reading it\n", after.ru_maxrss - before.ru_maxrss);
    expect_refused("/tmp", "regular file", "a folder");
    CHECK(!jpeg_is_jpeg(source_path("tests/golden/e2e/transparent-32.png")), "a PNG is not taken for a JPEG");
    unlink(tmp);

    /* PNG alpha: composited over white, and handed back as the mask */
    float *rgb = NULL, *alpha = NULL;
    int w = 0, h = 0;
    char why[256] = "";
    int r = png_read_rgb_float(source_path("tests/golden/e2e/transparent-32.png"), &rgb, &alpha, &w, &h, why, sizeof why);
    CHECK(r == 0 && w == 32 && alpha && alpha[0] == 0.0f && rgb[0] == 1.0f && rgb[1] == 1.0f,
          "transparent PNG: white RGB and a zero mask (%d '%s')", r, why);
    if (r == 0 && alpha && alpha[0] == 0.0f && rgb[0] == 1.0f) printf("ok   transparent PNG: RGB white, mask 0\n");
    free(rgb);
    free(alpha);
    ow_tensor_set_free(set);
    CHECK_DONE();
}
