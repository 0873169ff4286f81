/* cli_messages.h: how the `oneword` command reports errors and engine log lines. */
#ifndef OW_CLI_MESSAGES_H
#define OW_CLI_MESSAGES_H

/* Prints "oneword: <message>" on stderr and returns 1 (the exit status of a failure). */
int cli_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ow_log_fn for the engine: "oneword: [warning: ]message" on stderr. */
void cli_log_to_stderr(void *user, int level, const char *message);

#endif
