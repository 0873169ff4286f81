/* error.h: setting an ow_error with a formatted message (internal). */
#ifndef OW_CORE_ERROR_H
#define OW_CORE_ERROR_H

#include "oneword.h"

#if defined(__GNUC__)
#define OW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define OW_PRINTF(a, b)
#endif

/* Records status and message in err (err may be NULL) and returns status,
 * so callers write `return ow_error_set(err, OW_ERR_IO, "...", ...);`. */
ow_status ow_error_set(ow_error *err, ow_status status, const char *fmt, ...) OW_PRINTF(3, 4);

/* Prefixes the existing message with context ("loading unet: ..."); returns err->status. */
ow_status ow_error_prefix(ow_error *err, const char *fmt, ...) OW_PRINTF(2, 3);

/* Clears err to OW_OK with an empty message. */
void ow_error_clear(ow_error *err);

#endif
