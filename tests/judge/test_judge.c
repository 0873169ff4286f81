/* test_judge.c: the shapes judge on the data set's own images (tests/golden/shapes, made
 * by tests/ref/shapes/make_judge_golden.py): each image with its own caption must be
 * accepted and with a caption corrupted in one way (colour, shape, background, relation,
 * size, swapped colours) rejected, in >= 95 % of cases each; prints the confusion table.
 * Also checks the caption parser on grammar and non-grammar captions. */
#include "check.h"
#include "judge.h"

#include <png.h>

static uint8_t *read_sheet(const char *path, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return NULL;
    img.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) { free(buf); png_image_free(&img); return NULL; }
    *w = (int)img.width;
    *h = (int)img.height;
    return buf;
}

static void test_parse(void) {
    judge_caption c;
    char why[256];
    CHECK(judge_parse("a small red circle on a blue background", &c, why, sizeof why) == 0, "parse: %s", why);
    CHECK(c.n_shapes == 1 && c.shapes[0].size == JUDGE_SIZE_SMALL && c.shapes[0].colour == 0 &&
          c.shapes[0].shape == 0 && c.bg[0] == 2 && c.bg[1] == -1, "one shape fields");
    CHECK(judge_parse("an orange star left of a white ring on a black and green background", &c, why, sizeof why) == 0,
          "parse: %s", why);
    CHECK(c.n_shapes == 2 && c.relation == JUDGE_REL_LEFT && c.shapes[0].colour == 4 && c.shapes[0].shape == 3 &&
          c.shapes[1].colour == 6 && c.shapes[1].shape == 4 && c.bg[0] == 7 && c.bg[1] == 1, "two shape fields");
    CHECK(judge_parse("a large striped teal cross", &c, why, sizeof why) == 0 && c.shapes[0].striped &&
          c.shapes[0].colour == 8 && c.bg[0] == -1, "held-out words, no background: %s", why);
    CHECK(judge_parse("a red dog on a blue background", &c, why, sizeof why) != 0 && strstr(why, "shape word"),
          "unknown shape refused: %s", why);
    CHECK(judge_parse("a red circle on a blue sky", &c, why, sizeof why) != 0 && strstr(why, "background"),
          "bad tail refused: %s", why);
    CHECK(judge_parse("a magenta circle", &c, why, sizeof why) != 0 && strstr(why, "colour"), "unknown colour: %s", why);
    printf("ok   parser: grammar captions parsed, 3 non-grammar captions refused with reasons\n");
}

static void test_synthetic(void) {
    /* A hand-drawn 64x64 image: blue background, red filled disc of radius 10 at (20, 32). */
    static uint8_t img[64 * 64 * 3];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = img + 3 * (y * 64 + x);
            int in = (x - 20) * (x - 20) + (y - 32) * (y - 32) <= 100;
            p[0] = in ? 220 : 30; p[1] = in ? 30 : 60; p[2] = in ? 30 : 220;
        }
    judge_result r;
    CHECK(judge_caption_text(img, 64, 64, "a red circle on a blue background", &r), "disc accepted: %s", r.why);
    CHECK(!judge_caption_text(img, 64, 64, "a blue circle on a red background", &r), "swapped colours rejected");
    CHECK(!judge_caption_text(img, 64, 64, "a red square on a blue background", &r) && strstr(r.why, "circle"),
          "wrong shape rejected: %s", r.why);
    CHECK(!judge_caption_text(img, 64, 64, "a large red circle on a blue background", &r), "size: %s", r.why);
    CHECK(judge_caption_text(img, 64, 64, "a small red circle on a blue background", &r), "small: %s", r.why);
    printf("ok   synthetic disc: accepted as a small red circle on blue, refused otherwise\n");
}

int main(void) {
    test_parse();
    test_synthetic();

    int w = 0, h = 0;
    uint8_t *sheet = read_sheet(source_path("tests/golden/shapes/judge_sheet.png"), &w, &h);
    CHECK(sheet != NULL, "read tests/golden/shapes/judge_sheet.png (run tests/ref/shapes/make_judge_golden.py)");
    FILE *f = fopen(source_path("tests/golden/shapes/judge_cases.txt"), "r");
    CHECK(f != NULL, "open judge_cases.txt");
    if (!sheet || !f) { free(sheet); if (f) fclose(f); CHECK_DONE(); }

    static const char *kinds[] = {"true", "colour", "shape", "background", "relation", "size", "swap"};
    int n_kinds = 7, agree[7] = {0}, total[7] = {0}, heldout_ok = 0, heldout_n = 0;
    int cols = w / 64;
    uint8_t tile[64 * 64 * 3];
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *hash = strchr(line, '#'), *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL, *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;
        if (!hash || !t1 || !t2 || !t3) continue;
        *t1 = *t2 = *t3 = '\0';
        int index = atoi(hash + 1), expect = atoi(t2 + 1), kind = -1;
        for (int k = 0; k < n_kinds; k++)
            if (strcmp(t3 + 1, kinds[k]) == 0) kind = k;
        if (kind < 0 || index < 0 || index >= cols * (h / 64)) { CHECK(0, "bad case line %s", line); continue; }
        int tx = (index % cols) * 64, ty = (index / cols) * 64;
        for (int y = 0; y < 64; y++) memcpy(tile + y * 64 * 3, sheet + ((size_t)(ty + y) * w + tx) * 3, 64 * 3);
        judge_result r;
        int got = judge_caption_text(tile, 64, 64, t1 + 1, &r);
        total[kind]++;
        agree[kind] += got == expect;
        if (strstr(t1 + 1, "teal") || strstr(t1 + 1, "striped")) { heldout_n++; heldout_ok += got == expect; }
        if (got != expect) printf("     disagree on tile %d \"%s\" (expected %s): %s\n", index, t1 + 1,
                                  expect ? "accept" : "reject", r.why);
    }
    fclose(f);
    free(sheet);
    int neg_agree = 0, neg_total = 0;
    printf("     confusion on the generator's images (agree / cases):\n");
    for (int k = 0; k < n_kinds; k++) {
        printf("       %-10s %3d / %3d  %s\n", kinds[k], agree[k], total[k],
               k == 0 ? "(own caption: accepted)" : "(corrupted caption: rejected)");
        if (k) { neg_agree += agree[k]; neg_total += total[k]; }
    }
    printf("       held-out words (teal, striped): %d / %d\n", heldout_ok, heldout_n);
    CHECK(total[0] >= 200 && agree[0] >= 0.95 * total[0], "true captions accepted %d of %d, want >= 95%%", agree[0], total[0]);
    CHECK(neg_total >= 200 && neg_agree >= 0.95 * neg_total, "corrupted captions rejected %d of %d, want >= 95%%",
          neg_agree, neg_total);
    printf("%s true captions accepted %d/%d (%.1f%%), corrupted rejected %d/%d (%.1f%%)\n",
           agree[0] >= 0.95 * total[0] && neg_agree >= 0.95 * neg_total ? "ok  " : "FAIL", agree[0], total[0],
           100.0 * agree[0] / total[0], neg_agree, neg_total, 100.0 * neg_agree / neg_total);
    CHECK_DONE();
}
