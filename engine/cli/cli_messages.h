/* cli_messages.h: how the `oneword` command reports errors and engine log lines,
 * and prints text that came from files, always with control characters escaped. */
#ifndef OW_CLI_MESSAGES_H
#define OW_CLI_MESSAGES_H

#include <stddef.h>
#include <stdio.h>

/* Prints "oneword: <message>" on stderr and returns 1 (the exit status of a failure).
 * The message is one line: control characters and invalid UTF-8 in it (from file
 * names, tokens, engine messages) are escaped (see core/text.h). */
int cli_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ow_log_fn for the engine: "oneword: [warning: ]message" on stderr, escaped as cli_fail. */
void cli_log_to_stderr(void *user, int level, const char *message);

/* s escaped for display into buffer (cap bytes, cut at a whole character); returns buffer,
 * for use as a printf argument. */
const char *cli_display(const char *s, char *buffer, size_t cap);

/* Prints multi-line text (an inspect report): each line with its control characters
 * escaped, the line breaks kept. */
void cli_print_lines(FILE *to, const char *text);

/* Prints JSON made by json-c: it escapes C0 controls itself; DEL and C1 controls
 * (U+007F..U+009F) become \u escapes too and an invalid UTF-8 byte \ufffd, so the
 * output stays equivalent JSON and cannot drive a terminal. */
void cli_print_json(FILE *to, const char *json);

#endif
