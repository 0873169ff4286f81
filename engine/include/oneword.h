/* oneword.h: the one public header of the oneword engine.
 *
 * The engine is a C11 library with no GIMP or GTK in it. The `oneword` CLI and
 * the GIMP 3 plug-in both call this API. Functions return an ow_status; the
 * message that explains a failure is kept in an ow_error the caller owns.
 * The library never prints and never exits. */
#ifndef ONEWORD_H
#define ONEWORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OW_VERSION_STRING "0.1.0"

typedef enum ow_status {
    OW_OK = 0,
    OW_ERR_INVALID_ARGUMENT, /* a caller-supplied value is out of range */
    OW_ERR_IO,               /* a file could not be opened, read or written */
    OW_ERR_FORMAT,           /* a file is truncated, malformed or lies about itself */
    OW_ERR_UNSUPPORTED,      /* a valid file or request we do not handle (yet) */
    OW_ERR_UNSAFE,           /* a file asked for something we refuse (pickle global) */
    OW_ERR_NOT_FOUND,        /* a named tensor, token or key is missing */
    OW_ERR_OUT_OF_MEMORY,
    OW_ERR_CANCELLED,        /* the progress callback asked to stop */
} ow_status;

/* The message of the last failure, owned by the caller (stack or struct). */
typedef struct ow_error {
    ow_status status;
    char message[1024];
} ow_error;

/* A short name for a status ("format error", ...). Never NULL. */
const char *ow_status_name(ow_status status);

/* Log sink: level 0 = info, 1 = warning. The library calls it instead of printing. */
typedef void (*ow_log_fn)(void *user, int level, const char *message);

/* Progress: return non-zero to cancel at the next safe point. */
typedef int (*ow_progress_fn)(void *user, int step, int total_steps);

#ifdef __cplusplus
}
#endif
#endif
