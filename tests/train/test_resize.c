/* test_resize.c: ow_resize_bicubic against PIL.Image.resize(BICUBIC) on a float image
 * (tests/golden/train/resize.safetensors from tests/ref/make_resize_golden.py):
 * shrinking (antialiased), growing, mixed and to one pixel; and per channel: an
 * interleaved 3-channel image resizes as three separate planes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "train/resize.h"

int main(void) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, source_path("tests/golden/train/resize.safetensors"), &err);
    CHECK(s == OW_OK, "open the golden: %s", err.message);
    if (s != OW_OK) CHECK_DONE();
    const ow_tensor_entry *src_e = ow_tensor_set_find(set, "src");
    const int W = 37, H = 23;
    float *src = malloc((size_t)W * H * sizeof *src), *rgb = malloc((size_t)W * H * 3 * sizeof *rgb);
    CHECK(src_e && ow_tensor_entry_to_f32(src_e, src, &err) == OW_OK, "golden src");
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) rgb[i * 3 + c] = c == 1 ? src[i] : c == 0 ? 1.0f - src[i] : 0.5f * src[i];
    const int sizes[][2] = {{8, 8}, {16, 5}, {37, 23}, {64, 64}, {100, 41}, {1, 1}, {3, 50}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int w = sizes[k][0], h = sizes[k][1];
        char name[32], what[96];
        snprintf(name, sizeof name, "%dx%d", w, h);
        const ow_tensor_entry *e = ow_tensor_set_find(set, name);
        float *want = malloc((size_t)w * h * sizeof *want), *got = malloc((size_t)w * h * sizeof *got);
        float *got3 = malloc((size_t)w * h * 3 * sizeof *got3), *plane = malloc((size_t)w * h * sizeof *plane);
        CHECK(e && ow_tensor_entry_to_f32(e, want, &err) == OW_OK, "golden %s", name);
        s = ow_resize_bicubic(src, W, H, 1, got, w, h, &err);
        CHECK(s == OW_OK, "resize to %s: %s", name, err.message);
        snprintf(what, sizeof what, "37x23 -> %s = PIL BICUBIC", name);
        check_close(what, got, want, (size_t)w * h, 2e-6);
        s = ow_resize_bicubic(rgb, W, H, 3, got3, w, h, &err);
        for (int i = 0; i < w * h; i++) plane[i] = got3[i * 3 + 1];
        snprintf(what, sizeof what, "37x23x3 -> %s: channel 1 = the plane's resize", name);
        check_close(what, plane, got, (size_t)w * h, 0.0);
        free(want); free(got); free(got3); free(plane);
    }
    s = ow_resize_bicubic(src, 0, H, 1, src, 8, 8, &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT, "a 0-pixel-wide image is refused: %s", err.message);
    free(src);
    free(rgb);
    ow_tensor_set_free(set);
    CHECK_DONE();
}
