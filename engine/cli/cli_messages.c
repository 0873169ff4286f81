/* cli_messages.c: error and log lines of the `oneword` command, on stderr, and the
 * display of text from files, escaped so that no file can drive the terminal. */
#include "cli_messages.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

/* Prints prefix and message, the message escaped (a line of its own). */
static void print_escaped_line(const char *prefix, const char *message) {
    char *shown = ow_text_escape_dup(message, strlen(message));
    fprintf(stderr, "oneword: %s%s\n", prefix, shown ? shown : "(out of memory)");
    free(shown);
}

int cli_fail(const char *fmt, ...) {
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    print_escaped_line("", message);
    return 1;
}

void cli_log_to_stderr(void *user, int level, const char *message) {
    (void)user;
    print_escaped_line(level ? "warning: " : "", message);
}

const char *cli_display(const char *s, char *buffer, size_t cap) {
    ow_text_escape(buffer, cap, s, strlen(s));
    return buffer;
}

void cli_print_lines(FILE *to, const char *text) {
    while (*text) {
        const char *end = strchr(text, '\n');
        size_t n = end ? (size_t)(end - text) : strlen(text);
        char *shown = ow_text_escape_dup(text, n);
        fputs(shown ? shown : "(out of memory)", to);
        free(shown);
        if (!end) break;
        fputc('\n', to);
        text = end + 1;
    }
}

/* Length of the UTF-8 sequence a lead byte starts (0: not a lead byte). */
static size_t utf8_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xc2 && lead <= 0xdf) return 2;
    if (lead >= 0xe0 && lead <= 0xef) return 3;
    if (lead >= 0xf0 && lead <= 0xf4) return 4;
    return 0;
}

void cli_print_json(FILE *to, const char *json) {
    const unsigned char *p = (const unsigned char *)json;
    size_t left = strlen(json);
    while (left) {
        size_t len = utf8_length(p[0]);
        if (len == 0 || len > left || !ow_utf8_valid((const char *)p, len)) {
            fputs("\\ufffd", to); /* json-c passes bytes through; JSON is UTF-8 */
            len = 1;
        } else if (p[0] == 0x7f) {
            fputs("\\u007f", to);
        } else if (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f) { /* U+0080..U+009F */
            fprintf(to, "\\u%04x", (unsigned)p[1]);
        } else if (p[0] < 0x20 && p[0] != '\n') {
            fprintf(to, "\\u%04x", (unsigned)p[0]); /* json-c escapes these itself; in case */
        } else {
            fwrite(p, 1, len, to);
        }
        p += len;
        left -= len;
    }
}
