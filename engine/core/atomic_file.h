/* atomic_file.h: write a file so that readers see the old file or the whole new one. */
#ifndef OW_CORE_ATOMIC_FILE_H
#define OW_CORE_ATOMIC_FILE_H

#include <stdio.h>

#include "oneword.h"

/* A file being written: data goes to "<path>.tmp-XXXXXX" in the same folder;
 * commit fsyncs and renames it over path, abort removes it. */
typedef struct ow_atomic_file {
    FILE *stream;
    char *final_path;
    char *temp_path;
} ow_atomic_file;

ow_status ow_atomic_file_open(ow_atomic_file *f, const char *path, ow_error *err);
ow_status ow_atomic_file_commit(ow_atomic_file *f, ow_error *err);
void ow_atomic_file_abort(ow_atomic_file *f);

/* Writes size bytes of data to path atomically. */
ow_status ow_atomic_write(const char *path, const void *data, size_t size, ow_error *err);

#endif
