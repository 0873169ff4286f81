/* atomic_file.c: atomic whole-file writes (tmp + fsync + rename + fsync of the
 * folder), whole-file reads with a size bound, mkdir -p, and the error helper. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ow_status plugin_fail(ow_error *err, ow_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

static ow_status fsync_parent(const char *path, ow_error *err) {
    char copy[4096];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
        return plugin_fail(err, OW_ERR_INVALID_ARGUMENT, "path too long: %s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return plugin_fail(err, OW_ERR_IO, "cannot open the folder of %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0) return plugin_fail(err, OW_ERR_IO, "cannot sync the folder of %s: %s", path, strerror(saved));
    return OW_OK;
}

ow_status plugin_write_file_atomic(const char *path, const void *data, size_t size, ow_error *err) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return plugin_fail(err, OW_ERR_INVALID_ARGUMENT, "path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return plugin_fail(err, OW_ERR_IO, "cannot create a temporary file beside %s: %s", path, strerror(errno));
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp);
            return plugin_fail(err, OW_ERR_IO, "cannot write %s: %s", path, strerror(saved));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        return plugin_fail(err, OW_ERR_IO, "cannot sync %s: %s", path, strerror(saved));
    }
    if (close(fd) != 0) {
        int saved = errno;
        unlink(tmp);
        return plugin_fail(err, OW_ERR_IO, "cannot close %s: %s", path, strerror(saved));
    }
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return plugin_fail(err, OW_ERR_IO, "cannot replace %s: %s", path, strerror(saved));
    }
    return fsync_parent(path, err);
}

ow_status plugin_read_file(const char *path, size_t max_size, char **data, size_t *size, ow_error *err) {
    *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return plugin_fail(err, OW_ERR_NOT_FOUND, "%s does not exist", path);
        return plugin_fail(err, OW_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return plugin_fail(err, OW_ERR_IO, "%s is not a regular file", path);
    }
    if ((size_t)st.st_size > max_size) {
        close(fd);
        return plugin_fail(err, OW_ERR_FORMAT, "%s is %lld bytes, more than the %zu accepted", path,
                           (long long)st.st_size, max_size);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return plugin_fail(err, OW_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    if (size) *size = got;
    return OW_OK;
}

ow_status plugin_make_dirs(const char *path, ow_error *err) {
    char copy[4096];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
        return plugin_fail(err, OW_ERR_INVALID_ARGUMENT, "path too long: %s", path);
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0700) != 0 && errno != EEXIST)
                return plugin_fail(err, OW_ERR_IO, "cannot create folder %s: %s", copy, strerror(errno));
            *p = saved;
            if (saved == '\0') break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return plugin_fail(err, OW_ERR_IO, "%s is not a folder", path);
    return OW_OK;
}
