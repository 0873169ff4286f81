/* atomic_file.h: write a file so that readers see the old file or the whole new one. */
#ifndef OW_CORE_ATOMIC_FILE_H
#define OW_CORE_ATOMIC_FILE_H

#include <stdio.h>

#include "oneword.h"

/* A temporary this old (seconds since its last write), owned by us, named for the
 * same target, is one a killed writer left behind: the next write removes it. */
#define OW_ATOMIC_FILE_STALE_SECONDS 3600

/* A file being written: data goes to ".NAME.oneword-tmp-XXXXXX" beside NAME (hidden,
 * recognisably ours; NAME is cut so the temporary's name fits 255 bytes). Open also
 * removes stale temporaries of the same target (see OW_ATOMIC_FILE_STALE_SECONDS;
 * regular files only, never a link). Commit fsyncs and renames the temporary over
 * path; abort removes it. A failed write is reported with errno's reason ("No space
 * left on device", "File too large"), at the write or at commit. */
typedef struct ow_atomic_file {
    FILE *stream;
    char *final_path;
    char *temp_path;
    int write_errno; /* errno of the first failed ow_atomic_file_write, 0 if none */
} ow_atomic_file;

ow_status ow_atomic_file_open(ow_atomic_file *f, const char *path, ow_error *err);
/* Writes size bytes to the temporary; on failure records errno in f->write_errno and
 * sets err ("cannot write PATH: <reason>"). The file stays open: abort it. */
ow_status ow_atomic_file_write(ow_atomic_file *f, const void *data, size_t size, ow_error *err);
/* Flushes, fsyncs and renames; fails (and removes the temporary) when any write,
 * including ones made with fwrite on f->stream, failed. */
ow_status ow_atomic_file_commit(ow_atomic_file *f, ow_error *err);
void ow_atomic_file_abort(ow_atomic_file *f);

/* Writes size bytes of data to path atomically. */
ow_status ow_atomic_write(const char *path, const void *data, size_t size, ow_error *err);

#endif
