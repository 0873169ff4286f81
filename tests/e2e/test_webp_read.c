/* test_webp_read.c: the CLI's WebP reader (engine/cli/webp_read.c) against Pillow
 * (tests/golden/e2e/webp/ from tests/ref/make_image_fixtures.py): lossless files,
 * with and without alpha, decode to exactly Pillow's RGBA (the colour under alpha 0
 * kept); lossy ones within 1/255; an animated file, a cut one (as it is, and with its
 * RIFF length made to fit), a corrupt header and one declaring 16384 x 16384 pixels are
 * refused with a message, the last before anything is decoded (ASan/UBSan clean). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "image_golden.h"
#include "webp_read.h"

static const ow_tensor_set *golden;

static void expect_decoded(const char *name, double tol, int want_alpha) {
    char path[256];
    snprintf(path, sizeof path, "tests/golden/e2e/webp/%s.webp", name);
    float *rgb = NULL, *alpha = NULL;
    int w = 0, h = 0;
    char why[256] = "";
    const int r = webp_read_rgb_float(source_path(path), &rgb, &alpha, &w, &h, why, sizeof why);
    const double d = r == 0 ? golden_rgba_diff(golden_find(golden, name), rgb, alpha, w, h) : -1.0;
    const int ok = r == 0 && d >= 0.0 && d <= tol && (alpha != NULL) == want_alpha;
    CHECK(ok, "%s: read %d '%s', %dx%d, alpha %s, max diff to Pillow %.2f/255 (tol %.0f)", name, r, why, w, h,
          alpha ? "yes" : "no", d, tol);
    if (ok)
        printf("ok   %s.webp: %dx%d%s, max diff to Pillow's RGBA %.2f/255 (tol %.0f)\n", name, w, h,
               alpha ? " with alpha" : "", d, tol);
    free(rgb);
    free(alpha);
}

static void expect_refused(const char *path, const char *want, const char *what) {
    float *rgb = NULL, *alpha = NULL;
    int w = 0, h = 0;
    char why[256] = "";
    const int r = webp_read_rgb_float(path, &rgb, &alpha, &w, &h, why, sizeof why);
    const int ok = r == -1 && !rgb && !alpha && strstr(why, want);
    CHECK(ok, "%s: %d '%s' (want '%s')", what, r, why, want);
    if (ok) printf("ok   %s: %s\n", what, why);
    free(rgb);
    free(alpha);
}

/* Offset of a chunk's payload (after its 8-byte header), 0 when absent. */
static size_t chunk(const unsigned char *d, size_t n, const char *fourcc) {
    for (size_t i = 12; i + 8 <= n; i++)
        if (memcmp(d + i, fourcc, 4) == 0) return i + 8;
    return 0;
}

int main(void) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, source_path("tests/golden/e2e/webp/decoded.safetensors"), &err);
    CHECK(s == OW_OK, "open the golden: %s", err.message);
    if (s != OW_OK) CHECK_DONE();
    golden = set;
    expect_decoded("lossless", 0.0, 0);
    expect_decoded("alpha", 0.0, 1);
    expect_decoded("lossy", 1.0, 0);
    expect_decoded("lossy-alpha", 1.0, 1);

    expect_refused(source_path("tests/golden/e2e/refused/animated.webp"), "an animated WebP", "an animated WebP");
    unsigned char buf[4096];
    const size_t n = read_file(source_path("tests/golden/e2e/webp/lossy.webp"), buf, sizeof buf);
    char tmp[] = "/tmp/ow-webp-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) close(fd);
    write_file(tmp, buf, n / 2);
    expect_refused(tmp, "truncated", "a lossy WebP cut in half");
    /* the same, its RIFF length made to fit what is left: the VP8 data itself ends early */
    unsigned char cut[4096];
    memcpy(cut, buf, n / 2);
    const uint32_t riff = (uint32_t)(n / 2 - 8);
    cut[4] = riff & 0xFF, cut[5] = riff >> 8 & 0xFF, cut[6] = riff >> 16 & 0xFF, cut[7] = riff >> 24;
    write_file(tmp, cut, n / 2);
    expect_refused(tmp, "not a readable WebP", "a lossy WebP cut in half, its RIFF length fixed up");

    unsigned char lossless[4096];
    const size_t m = read_file(source_path("tests/golden/e2e/webp/lossless.webp"), lossless, sizeof lossless);
    const size_t at = chunk(lossless, m, "VP8L");
    CHECK(at && at + 5 <= m && lossless[at] == 0x2f, "lossless.webp has a VP8L chunk (at %zu)", at);
    if (at && at + 5 <= m) {
        unsigned char bad[4096];
        memcpy(bad, lossless, m);
        bad[at] = 0x00; /* the VP8L signature byte */
        write_file(tmp, bad, m);
        expect_refused(tmp, "not a readable WebP", "a lossless WebP with its signature byte broken");
        /* width - 1 and height - 1 (14 bits each) set to 16383: 16384 x 16384 */
        memcpy(bad, lossless, m);
        uint32_t bits = (uint32_t)bad[at + 1] | (uint32_t)bad[at + 2] << 8 | (uint32_t)bad[at + 3] << 16 |
                        (uint32_t)bad[at + 4] << 24;
        bits |= 0x0FFFFFFFu;
        for (int k = 0; k < 4; k++) bad[at + 1 + k] = bits >> (8 * k) & 0xFF;
        write_file(tmp, bad, m);
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        expect_refused(tmp, "megapixels", "74 bytes declaring 16384x16384 (1 GB for libwebp to hold)");
        getrusage(RUSAGE_SELF, &after);
        CHECK(after.ru_maxrss - before.ru_maxrss < 100 * 1024, "...held %ld KB more at most (want < 100 MB)",
              after.ru_maxrss - before.ru_maxrss);
        printf("     peak RSS grew by %ld KB reading it\n", after.ru_maxrss - before.ru_maxrss);
    }
    expect_refused(source_path("tests/golden/e2e/transparent-32.png"), "not a WebP", "a PNG read as WebP");
    expect_refused("/tmp", "regular file", "a folder");
    unlink(tmp);
    ow_tensor_set_free(set);
    CHECK_DONE();
}
