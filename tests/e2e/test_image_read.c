/* test_image_read.c: the CLI's training-image readers (engine/cli/jpeg_read.c,
 * png_read.c, and training_image.c, which picks the reader of every format by its
 * first bytes) against Pillow (tests/golden/e2e/jpeg/ from
 * tests/ref/make_image_fixtures.py; test_webp_read.c and test_tiff_read.c check
 * those readers): one picture stored with each of the eight EXIF
 * orientations comes out upright and equal to Pillow's exif_transpose decode;
 * grayscale, progressive and Adobe CMYK JPEGs decode like Pillow's; truncated,
 * oversized and non-JPEG files are refused with a message (ASan/UBSan clean); a
 * 157-byte file declaring 11544 x 4096 pixels (found by fuzz_training_image) is
 * refused as truncated without holding the 567 MB its size would take. A PNG's colour
 * comes back as stored with its alpha; training_image_read composites it over white
 * in every format (c a + 1 - a, bit for bit) and keeps the alpha when asked; a mask
 * file gives its red channel as stored (its own alpha ignored); a multi-page TIFF
 * says that its first page is used; other files are named as not an image. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "image_golden.h"
#include "jpeg_read.h"
#include "png_read.h"
#include "training_image.h"

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

/* training_image_read composites a file's straight colour over white, bit for bit the
 * formula c a + (1 - a) (what the PNG reader did itself before), and keeps the alpha
 * only when asked. The straight colour comes from the format's own reader. */
static void composited(const char *file) {
    training_image with, without;
    char why[256] = "", why2[256] = "";
    const int r1 = training_image_read(source_path(file), 1, &with, why, sizeof why);
    const int r2 = training_image_read(source_path(file), 0, &without, why2, sizeof why2);
    /* the straight colour and alpha again, through the mask reader's path: red only, so
     * recompute red over white from the alpha kept by `with` */
    float *red = NULL;
    int w = 0, h = 0;
    const int r3 = training_mask_read(source_path(file), &red, &w, &h, NULL, 0, why2, sizeof why2);
    size_t wrong = 0;
    for (size_t i = 0; r1 == 0 && r3 == 0 && with.alpha && i < (size_t)w * h; i++) {
        const float a = with.alpha[i];
        if (with.rgb[i * 3] != red[i] * a + (1.0f - a)) wrong++;
    }
    const int ok = r1 == 0 && r2 == 0 && r3 == 0 && with.alpha && !without.alpha && w == with.width &&
                   memcmp(with.rgb, without.rgb, (size_t)w * h * 3 * sizeof *with.rgb) == 0 && wrong == 0;
    CHECK(ok, "%s: %d '%s' %d %d, %zu pixels not composited c a + 1 - a", file, r1, why, r2, r3, wrong);
    if (ok) printf("ok   %s: composited over white (c a + 1 - a exactly, %dx%d), alpha kept only when asked\n", file, w, h);
    training_image_free(&with);
    training_image_free(&without);
    free(red);
}

/* An opaque file gives no alpha even when asked, upright at w x h. */
static void opaque(const char *file, int w, int h) {
    training_image im;
    char why[256] = "";
    const int r = training_image_read(source_path(file), 1, &im, why, sizeof why);
    const int ok = r == 0 && !im.alpha && im.width == w && im.height == h && !im.note[0];
    CHECK(ok, "%s: %d '%s', %dx%d (want %dx%d), alpha %p", file, r, why, im.width, im.height, w, h, (void *)im.alpha);
    if (ok) printf("ok   %s: opaque, %dx%d upright, no alpha\n", file, w, h);
    training_image_free(&im);
}

/* training_mask_read(mask) = channel c (3: alpha) of png_read(source), exactly. */
static void mask_equals(const char *mask_file, const char *source, int c, const char *what) {
    float *mask = NULL, *rgb = NULL, *alpha = NULL;
    int w = 0, h = 0, sw = 0, sh = 0;
    char why[256] = "", why2[256] = "";
    const int r = training_mask_read(source_path(mask_file), &mask, &w, &h, NULL, 0, why, sizeof why);
    const int r2 = png_read_rgb_float(source_path(source), &rgb, &alpha, &sw, &sh, why2, sizeof why2);
    size_t wrong = 0;
    for (size_t i = 0; r == 0 && r2 == 0 && w == sw && h == sh && i < (size_t)w * h; i++)
        if (mask[i] != (c == 3 ? (alpha ? alpha[i] : 1.0f) : rgb[i * 3 + c])) wrong++;
    const int ok = r == 0 && r2 == 0 && w == sw && h == sh && wrong == 0;
    CHECK(ok, "%s: %d '%s' %d '%s', %zu of %dx%d differ", what, r, why, r2, why2, wrong, w, h);
    if (ok) printf("ok   %s (%dx%d, exactly)\n", what, w, h);
    free(mask);
    free(rgb);
    free(alpha);
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
    /* A valid PNG header declaring 16384 x 8192 (128 megapixels, 2.7 GB as floats) and
     * no pixel data: refused from the header, before any pixel memory is taken. */
    unsigned char png[128];
    size_t len = 0;
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(png, signature, 8);
    len = 8;
    /* chunks: IHDR (16384 x 8192, 8-bit RGB), an IDAT of a bare zlib header, IEND */
    static const unsigned char ihdr[] = {'I', 'H', 'D', 'R', 0, 0, 0x40, 0, 0, 0, 0x20, 0, 8, 2, 0, 0, 0};
    static const unsigned char idat[] = {'I', 'D', 'A', 'T', 0x78, 0x9c};
    static const unsigned char iend[] = {'I', 'E', 'N', 'D'};
    const unsigned char *chunks[3] = {ihdr, idat, iend};
    const size_t sizes[3] = {sizeof ihdr, sizeof idat, sizeof iend};
    for (int c = 0; c < 3; c++) {
        const uint32_t body = (uint32_t)sizes[c] - 4;
        for (int k = 0; k < 4; k++) png[len++] = (unsigned char)(body >> (24 - 8 * k));
        memcpy(png + len, chunks[c], sizes[c]);
        uint32_t crc = 0xffffffffu;
        for (size_t i = 0; i < sizes[c]; i++) {
            crc ^= chunks[c][i];
            for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
        }
        crc ^= 0xffffffffu;
        len += sizes[c];
        for (int k = 0; k < 4; k++) png[len++] = (unsigned char)(crc >> (24 - 8 * k));
    }
    char bomb[] = "/tmp/ow-png-bomb-XXXXXX";
    fd = mkstemp(bomb);
    if (fd >= 0) close(fd);
    write_file(bomb, png, len);
    float *brgb = NULL, *balpha = NULL;
    int bw = 0, bh = 0;
    char bwhy[256] = "";
    getrusage(RUSAGE_SELF, &before);
    int br = png_read_rgb_float(bomb, &brgb, &balpha, &bw, &bh, bwhy, sizeof bwhy);
    getrusage(RUSAGE_SELF, &after);
    CHECK(br != 0 && strstr(bwhy, "megapixels") && !brgb && after.ru_maxrss - before.ru_maxrss < 10 * 1024,
          "a PNG declaring 16384x8192: refused from its header (%d '%s', %ld KB more)", br, bwhy,
          after.ru_maxrss - before.ru_maxrss);
    if (br != 0 && strstr(bwhy, "megapixels"))
        printf("ok   %zu bytes of PNG declaring 16384x8192: %s (peak RSS +%ld KB)\n", len, bwhy,
               after.ru_maxrss - before.ru_maxrss);
    unlink(bomb);
    expect_refused("/tmp", "regular file", "a folder");
    CHECK(!jpeg_is_jpeg(source_path("tests/golden/e2e/transparent-32.png")), "a PNG is not taken for a JPEG");
    unlink(tmp);

    /* PNG alpha: the colour as stored, the alpha beside it */
    float *rgb = NULL, *alpha = NULL;
    int w = 0, h = 0;
    char why[256] = "";
    int r = png_read_rgb_float(source_path("tests/golden/e2e/transparent-32.png"), &rgb, &alpha, &w, &h, why, sizeof why);
    CHECK(r == 0 && w == 32 && alpha && alpha[0] == 0.0f, "transparent PNG: a zero alpha (%d '%s')", r, why);
    if (r == 0 && alpha && alpha[0] == 0.0f) printf("ok   transparent PNG: alpha 0, colour as stored (%.3f %.3f %.3f)\n",
                                                    rgb[0], rgb[1], rgb[2]);
    free(rgb);
    free(alpha);

    composited("tests/golden/e2e/transparent-32.png");
    composited("tests/golden/e2e/masks/images/figure.png");
    composited("tests/golden/e2e/webp/alpha.webp");
    composited("tests/golden/e2e/tiff/rgba16.tif");
    composited("tests/golden/e2e/tiff/premultiplied.tif");
    opaque("tests/golden/e2e/jpeg/orient-6.jpg", 24, 16);
    opaque("tests/golden/e2e/webp/lossy.webp", 12, 8);
    opaque("tests/golden/e2e/tiff/orient-6.tif", 12, 8);

    /* masks: the red channel as stored */
    mask_equals("tests/golden/e2e/masks/by-alpha/figure.png", "tests/golden/e2e/masks/images/figure.png", 3,
                "a gray mask = the alpha it was made from");
    mask_equals("tests/golden/e2e/masks/images/figure.png", "tests/golden/e2e/masks/images/figure.png", 0,
                "an RGBA mask: its red as stored, its alpha ignored (not composited)");
    float *mask = NULL;
    r = training_mask_read(source_path("tests/golden/e2e/masks/black/figure.tif"), &mask, &w, &h, NULL, 0, why, sizeof why);
    double top = 0.0;
    for (int i = 0; r == 0 && i < w * h; i++) top = fmax(top, mask[i]);
    CHECK(r == 0 && w == 32 && h == 32 && top == 0.0, "black TIFF mask: %d '%s' %dx%d, max %g", r, why, w, h, top);
    if (r == 0 && top == 0.0) printf("ok   a black TIFF mask: %dx%d, all 0\n", w, h);
    free(mask);

    training_image im;
    r = training_image_read(source_path("tests/golden/e2e/tiff/multipage.tif"), 0, &im, why, sizeof why);
    CHECK(r == 0 && strstr(im.note, "2 pages; the first is used"), "multi-page TIFF: %d '%s', note '%s'", r, why, im.note);
    if (r == 0) printf("ok   multipage.tif: note '%s'\n", im.note);
    training_image_free(&im);
    r = training_image_read(source_path("tests/golden/e2e/cases.json"), 0, &im, why, sizeof why);
    CHECK(r == -1 && !im.rgb && strstr(why, "not a PNG, JPEG, WebP or TIFF file"), "a JSON file: %d '%s'", r, why);
    if (r == -1) printf("ok   a JSON file as a training image: %s\n", why);
    r = training_mask_read(source_path("tests/golden/e2e/cases.json"), &mask, &w, &h, NULL, 0, why, sizeof why);
    CHECK(r == -1 && !mask && strstr(why, "not a PNG"), "a JSON file as a mask: %d '%s'", r, why);
    const char *names[] = {"a.png", "b.JPG", "c.jpeg", "d.WebP", "e.tif", "f.TIFF"}, *not_names[] = {"g.gif", "tif", ".png"};
    int named = 0;
    for (int i = 0; i < 6; i++) named += training_image_name(names[i]);
    for (int i = 0; i < 3; i++) named -= training_image_name(not_names[i]) * 10;
    CHECK(named == 6, "a folder contributes .png .jpg .jpeg .webp .tif .tiff in any case, not .gif (%d)", named);
    if (named == 6) printf("ok   a folder's images: .png .jpg .jpeg .webp .tif .tiff in any case; not .gif\n");
    ow_tensor_set_free(set);
    CHECK_DONE();
}
