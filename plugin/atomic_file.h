/* atomic_file.h: whole-file writes that a crash, a killed plug-in or a full disk
 * never leave half done (temporary file in the same folder, fsync, rename, fsync of
 * the folder), and the small file helpers the profile storage shares. */
#ifndef OW_PLUGIN_ATOMIC_FILE_H
#define OW_PLUGIN_ATOMIC_FILE_H

#include <stddef.h>

#include "oneword.h"

/* Replaces path with size bytes of data, atomically. */
ow_status plugin_write_file_atomic(const char *path, const void *data, size_t size, ow_error *err);

/* Reads a whole regular file (at most max_size bytes) into a NUL-terminated buffer the
 * caller frees; *size (may be NULL) gets its length. OW_ERR_NOT_FOUND when it does not exist. */
ow_status plugin_read_file(const char *path, size_t max_size, char **data, size_t *size, ow_error *err);

/* mkdir -p of one folder and its parents (mode 0700 for the new ones). */
ow_status plugin_make_dirs(const char *path, ow_error *err);

/* Sets err (status and printf-style message) and returns the status. */
ow_status plugin_fail(ow_error *err, ow_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
