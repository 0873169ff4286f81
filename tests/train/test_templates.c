/* test_templates.c: the caption templates learn trains with: the reference's lists
 * (81 object captions with its repeats, 19 style captions), and the user's own in
 * the A1111 template-file form ("[name]" or "{}", blank lines and CRLF ignored);
 * lines without the token, "[filewords]", too long or too many lines are refused
 * with the line number; captions are filled with the placeholder in every hole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/templates.h"

static void expect_list(const char *spec, size_t want_n, const char *want_first, const char *want_last, const char *what) {
    char **list = NULL;
    size_t n = 0;
    ow_error err = {0};
    ow_status s = ow_train_template_list(spec, &list, &n, &err);
    int ok = s == OW_OK && n == want_n && strcmp(list[0], want_first) == 0 && strcmp(list[n - 1], want_last) == 0;
    CHECK(ok, "%s: status %d '%s', %zu lines, first '%s', last '%s'", what, s, err.message, n, n ? list[0] : "",
          n ? list[n - 1] : "");
    if (ok) printf("ok   %s: %zu captions, '%s' ... '%s'\n", what, n, list[0], list[n - 1]);
    ow_train_template_list_free(list, n);
}

static void expect_refused(const char *spec, const char *want, const char *what) {
    char **list = NULL;
    size_t n = 0;
    ow_error err = {0};
    ow_status s = ow_train_template_list(spec, &list, &n, &err);
    int ok = s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, want) && !list;
    CHECK(ok, "%s: status %d '%s' (want '%s')", what, s, err.message, want);
    if (ok) printf("ok   %s: %s\n", what, err.message);
    ow_train_template_list_free(list, n);
}

int main(void) {
    expect_list(NULL, 81, "a photo of a {}", "a depiction of a small {}", "default (object)");
    expect_list("object", 81, "a photo of a {}", "a depiction of a small {}", "object");
    expect_list("style", 19, "a painting in the style of {}", "a large painting in the style of {}", "style");
    expect_list("a [name] on a white background\r\n\n  a large {} on a white background  \n\na small [name]",
                3, "a {} on a white background", "a small {}", "a file with [name], {}, CRLF and blank lines");
    expect_list("[name], [name] and [name]", 1, "{}, {} and {}", "{}, {} and {}", "several holes in a line");
    expect_refused("a photo of a cat\n", "line 1 has no [name]", "a line without the token");
    expect_refused("a [name]\n\na photo of [filewords]\n", "line 3 uses [filewords]", "[filewords]");
    expect_refused("\n\n  \n", "neither", "only blank lines");
    expect_refused("sculpture", "use \"object\", \"style\"", "an unknown list name");
    char *many = malloc(OW_TEMPLATES_MAX_LINES * 4 + 8), *p = many;
    for (int i = 0; i <= OW_TEMPLATES_MAX_LINES; i++) p += sprintf(p, "{}\n");
    expect_refused(many, "more than 1000", "1001 lines");
    free(many);
    char long_line[OW_TEMPLATE_MAX_LINE + 8];
    memset(long_line, 'a', sizeof long_line);
    memcpy(long_line, "{}", 2);
    long_line[sizeof long_line - 1] = '\0';
    expect_refused(long_line, "longer than 400", "a 407-byte line");
    expect_refused("a \xff [name]", "UTF-8", "invalid UTF-8");

    char out[64];
    int r = ow_train_caption("a {} next to a {}", "<cat-toy>", out, sizeof out);
    CHECK(r == 0 && strcmp(out, "a <cat-toy> next to a <cat-toy>") == 0, "caption fill: '%s'", out);
    if (r == 0) printf("ok   caption fill: '%s'\n", out);
    r = ow_train_caption("a photo of a {}", "*", out, 14 + 1);
    CHECK(r == 0 && strcmp(out, "a photo of a *") == 0, "caption fill exactly in 14 bytes + NUL: %d '%s'", r, out);
    r = ow_train_caption("a photo of a {}", "**", out, 15); /* needs 15 + NUL */
    CHECK(r == -1, "a caption one byte too long for its buffer is refused (%d)", r);
    CHECK_DONE();
}
