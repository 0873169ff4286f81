/* atomic_file.c: temp file + fsync + rename, so no half-written file is ever seen. */
#include "core/atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

ow_status ow_atomic_file_open(ow_atomic_file *f, const char *path, ow_error *err) {
    memset(f, 0, sizeof *f);
    size_t len = strlen(path);
    f->final_path = malloc(len + 1);
    f->temp_path = malloc(len + 16);
    if (!f->final_path || !f->temp_path) {
        ow_atomic_file_abort(f);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory opening %s", path);
    }
    memcpy(f->final_path, path, len + 1);
    snprintf(f->temp_path, len + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(f->temp_path);
    if (fd < 0) {
        int e = errno;
        free(f->temp_path);
        f->temp_path = NULL;
        ow_atomic_file_abort(f);
        return ow_error_set(err, OW_ERR_IO, "cannot create %s: %s (is the folder there and writable?)", path, strerror(e));
    }
    /* mkstemp makes the file 0600; give it the mode a plain fopen would (0666 less the umask),
     * or users' pictures and embeddings end up unreadable to anyone else. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        int e = errno;
        close(fd);
        ow_atomic_file_abort(f);
        return ow_error_set(err, OW_ERR_IO, "cannot set the permissions of %s: %s", path, strerror(e));
    }
    f->stream = fdopen(fd, "wb");
    if (!f->stream) {
        close(fd);
        ow_atomic_file_abort(f);
        return ow_error_set(err, OW_ERR_IO, "cannot open %s for writing", path);
    }
    return OW_OK;
}

ow_status ow_atomic_file_commit(ow_atomic_file *f, ow_error *err) {
    int failed = fflush(f->stream) != 0 || ferror(f->stream) || fsync(fileno(f->stream)) != 0;
    int e = errno;
    if (fclose(f->stream) != 0 && !failed) { failed = 1; e = errno; }
    f->stream = NULL;
    if (failed) {
        ow_error_set(err, OW_ERR_IO, "cannot write %s: %s (disk full?)", f->final_path, strerror(e));
        ow_atomic_file_abort(f);
        return OW_ERR_IO;
    }
    if (rename(f->temp_path, f->final_path) != 0) {
        e = errno;
        ow_error_set(err, OW_ERR_IO, "cannot replace %s: %s", f->final_path, strerror(e));
        ow_atomic_file_abort(f);
        return OW_ERR_IO;
    }
    free(f->temp_path);
    f->temp_path = NULL;
    ow_atomic_file_abort(f); /* frees the remaining strings; nothing left to remove */
    return OW_OK;
}

void ow_atomic_file_abort(ow_atomic_file *f) {
    if (f->stream) fclose(f->stream);
    if (f->temp_path) unlink(f->temp_path);
    free(f->temp_path);
    free(f->final_path);
    memset(f, 0, sizeof *f);
}

ow_status ow_atomic_write(const char *path, const void *data, size_t size, ow_error *err) {
    ow_atomic_file f;
    ow_status s = ow_atomic_file_open(&f, path, err);
    if (s != OW_OK) return s;
    if (size && fwrite(data, 1, size, f.stream) != size) {
        ow_atomic_file_abort(&f);
        return ow_error_set(err, OW_ERR_IO, "cannot write %s (disk full?)", path);
    }
    return ow_atomic_file_commit(&f, err);
}
