/* cli_messages.c: error and log lines of the `oneword` command, on stderr. */
#include "cli_messages.h"

#include <stdarg.h>
#include <stdio.h>

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("oneword: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

void cli_log_to_stderr(void *user, int level, const char *message) {
    (void)user;
    fprintf(stderr, "oneword: %s%s\n", level ? "warning: " : "", message);
}
