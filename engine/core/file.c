/* file.c: opening only regular files, without blocking, capped whole-file reads, and
 * mkdir -p. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static const char *kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

ow_status ow_file_open_regular(const char *path, const char *what, int *fd_out, uint64_t *size, ow_error *err) {
    *fd_out = -1;
    /* O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return ow_error_set(err, OW_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ow_error_set(err, OW_ERR_IO, "cannot read %s '%s': %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ow_error_set(err, OW_ERR_IO, "%s '%s' is %s, not a regular file", what, path, kind_of(st.st_mode));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return ow_error_set(err, OW_ERR_IO, "cannot read %s '%s': %s", what, path, strerror(e));
    }
    *fd_out = fd;
    if (size) *size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    return OW_OK;
}

ow_status ow_file_fopen_regular(const char *path, const char *what, FILE **f, uint64_t *size, ow_error *err) {
    *f = NULL;
    int fd;
    ow_status s = ow_file_open_regular(path, what, &fd, size, err);
    if (s != OW_OK) return s;
    *f = fdopen(fd, "rb");
    if (!*f) {
        int e = errno;
        close(fd);
        return ow_error_set(err, OW_ERR_IO, "cannot read %s '%s': %s", what, path, strerror(e));
    }
    return OW_OK;
}

ow_status ow_file_read_all(const char *path, const char *what, uint64_t max_bytes, char **data, size_t *len,
                           ow_error *err) {
    *data = NULL;
    *len = 0;
    int fd;
    uint64_t size;
    ow_status s = ow_file_open_regular(path, what, &fd, &size, err);
    if (s != OW_OK) return s;
    if (size > max_bytes) {
        close(fd);
        return ow_error_set(err, OW_ERR_FORMAT, "%s '%s' is %llu bytes, more than the %llu this file can need", what,
                            path, (unsigned long long)size, (unsigned long long)max_bytes);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory reading %s '%s'", what, path);
    }
    size_t got = 0;
    /* Read one byte past the size: a file that grew meanwhile is refused rather than cut. */
    while (got <= size) {
        ssize_t n = read(fd, buf + got, (size_t)size + 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return ow_error_set(err, OW_ERR_IO, "cannot read %s '%s': %s", what, path, strerror(e));
        }
        if (n == 0) break;
        got += (size_t)n;
        if (got > size) break;
    }
    close(fd);
    if (got != size) {
        free(buf);
        return ow_error_set(err, OW_ERR_IO, "%s '%s' changed size while it was read", what, path);
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
    return OW_OK;
}

ow_status ow_file_make_dirs(const char *path, unsigned mode, ow_error *err) {
    size_t n = strlen(path);
    char *copy = malloc(n + 1);
    if (!copy) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(copy, path, n + 1);
    for (char *p = copy + 1; n > 0; p++) {
        if (*p != '/' && *p != '\0') continue;
        const char saved = *p;
        *p = '\0';
        if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST) {
            int e = errno;
            ow_status s = ow_error_set(err, OW_ERR_IO, "cannot create the folder %s: %s", copy, strerror(e));
            free(copy);
            return s;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    free(copy);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return ow_error_set(err, OW_ERR_IO, "%s is not a folder", path);
    return OW_OK;
}
