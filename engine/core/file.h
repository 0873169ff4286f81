/* file.h: opening files named by a user or found in a model folder.
 *
 * Every path the engine reads goes through here: only regular files are opened
 * (a FIFO, device or socket in place of config.json gives an error instead of
 * blocking forever: the file is opened without blocking and checked with fstat
 * before anything is read), and whole-file reads are capped by the caller. */
#ifndef OW_CORE_FILE_H
#define OW_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "oneword.h"

/* Opens path read-only if it is a regular file; *fd is blocking again on return
 * and *size is its size in bytes. what names the file in messages ("vocabulary"). */
ow_status ow_file_open_regular(const char *path, const char *what, int *fd, uint64_t *size, ow_error *err);

/* The same as a stdio stream ("rb"). */
ow_status ow_file_fopen_regular(const char *path, const char *what, FILE **f, uint64_t *size, ow_error *err);

/* Reads a whole regular file of at most max_bytes into a malloc'd, NUL-terminated
 * buffer (*len excludes the NUL). A larger file is refused with a message naming
 * the limit. */
ow_status ow_file_read_all(const char *path, const char *what, uint64_t max_bytes, char **data, size_t *len,
                           ow_error *err);

/* mkdir -p: path and its missing parents (new ones with mode, e.g. 0700); an error
 * names what could not be made, or a path that is not a folder afterwards. */
ow_status ow_file_make_dirs(const char *path, unsigned mode, ow_error *err);

#endif
