/* error.c: formatted error messages kept in the caller's ow_error. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"

const char *ow_status_name(ow_status status) {
    switch (status) {
    case OW_OK: return "ok";
    case OW_ERR_INVALID_ARGUMENT: return "invalid argument";
    case OW_ERR_IO: return "i/o error";
    case OW_ERR_FORMAT: return "format error";
    case OW_ERR_UNSUPPORTED: return "unsupported";
    case OW_ERR_UNSAFE: return "refused as unsafe";
    case OW_ERR_NOT_FOUND: return "not found";
    case OW_ERR_OUT_OF_MEMORY: return "out of memory";
    case OW_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

/* Messages often quote text from files (names, keys, tokens): whatever a file holds
 * reaches the caller's terminal only as printable text (control characters and
 * invalid UTF-8 escaped, see core/text.h). */
static void store_escaped(ow_error *err, const char *raw) {
    ow_text_escape(err->message, sizeof err->message, raw, strlen(raw));
}

ow_status ow_error_set(ow_error *err, ow_status status, const char *fmt, ...) {
    if (err) {
        char raw[sizeof err->message];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        store_escaped(err, raw);
        err->status = status;
    }
    return status;
}

ow_status ow_error_prefix(ow_error *err, const char *fmt, ...) {
    if (!err) return OW_ERR_INVALID_ARGUMENT;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[sizeof err->message];
    size_t used = strlen(prefix);
    if (used > sizeof joined - 3) used = sizeof joined - 3;
    memcpy(joined, prefix, used);
    memcpy(joined + used, ": ", 2);
    size_t rest = strnlen(err->message, sizeof err->message);
    if (rest > sizeof joined - used - 3) rest = sizeof joined - used - 3;
    memcpy(joined + used + 2, err->message, rest);
    joined[used + 2 + rest] = '\0';
    store_escaped(err, joined); /* the message part is escaped already; escaping is idempotent on printable text */
    return err->status;
}

void ow_error_clear(ow_error *err) {
    if (!err) return;
    err->status = OW_OK;
    err->message[0] = '\0';
}
