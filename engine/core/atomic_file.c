/* atomic_file.c: temp file + fsync + rename + fsync of the folder, so no half-written
 * file is ever seen; temporaries are named ".NAME.oneword-tmp-XXXXXX" and the stale
 * ones a killed writer left are removed by the next write of NAME. */
#include "core/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

#define TEMP_MARK ".oneword-tmp-"
#define TEMP_RANDOM_LEN 6 /* mkstemp's XXXXXX */
#define NAME_BYTES_MAX 255 /* NAME_MAX of the usual file systems */

/* The longest part of the target's name kept in its temporary's name:
 * "." NAME TEMP_MARK XXXXXX fits NAME_BYTES_MAX. */
#define TEMP_BASE_MAX (NAME_BYTES_MAX - 1 - (sizeof TEMP_MARK - 1) - TEMP_RANDOM_LEN)

static int is_mkstemp_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Whether name is prefix (".NAME.oneword-tmp-") followed by exactly the random part. */
static int is_our_temp_name(const char *name, const char *prefix, size_t prefix_len) {
    if (strncmp(name, prefix, prefix_len) != 0 || strlen(name) != prefix_len + TEMP_RANDOM_LEN) return 0;
    for (size_t i = prefix_len; i < prefix_len + TEMP_RANDOM_LEN; i++)
        if (!is_mkstemp_char(name[i])) return 0;
    return 1;
}

/* Removes temporaries of this target that a killed writer left in dir: our exact
 * name pattern, a regular file (not a link), owned by us, not written for
 * OW_ATOMIC_FILE_STALE_SECONDS. Best effort: what cannot be removed stays. */
static void remove_stale_temporaries(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return;
    int dir_fd = dirfd(d);
    size_t prefix_len = strlen(prefix);
    time_t now = time(NULL);
    uid_t me = geteuid();
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!is_our_temp_name(entry->d_name, prefix, prefix_len)) continue;
        struct stat st;
        if (fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISREG(st.st_mode) || st.st_uid != me) continue;
        if (now - st.st_mtime < OW_ATOMIC_FILE_STALE_SECONDS) continue; /* maybe another writer's, at work */
        unlinkat(dir_fd, entry->d_name, 0);
    }
    closedir(d);
}

ow_status ow_atomic_file_open(ow_atomic_file *f, const char *path, ow_error *err) {
    memset(f, 0, sizeof *f);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = (size_t)(base - path); /* with its trailing '/' */
    size_t base_len = strlen(base);
    if (base_len == 0)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cannot write '%s': it names a folder, not a file", path);
    size_t kept = base_len < TEMP_BASE_MAX ? base_len : TEMP_BASE_MAX;
    size_t len = strlen(path);
    size_t temp_cap = dir_len + 1 + kept + sizeof TEMP_MARK + TEMP_RANDOM_LEN;
    f->final_path = malloc(len + 1);
    f->temp_path = malloc(temp_cap);
    char *dir = malloc(dir_len + 2);
    if (!f->final_path || !f->temp_path || !dir) {
        free(dir);
        free(f->temp_path); /* not created: nothing to remove */
        f->temp_path = NULL;
        ow_atomic_file_abort(f);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory opening %s", path);
    }
    memcpy(f->final_path, path, len + 1);
    if (dir_len) memcpy(dir, path, dir_len), dir[dir_len] = 0;
    else strcpy(dir, ".");
    /* temp_path holds ".NAME.oneword-tmp-" first, the prefix the stale ones share. */
    snprintf(f->temp_path, temp_cap, "%.*s.%.*s" TEMP_MARK, (int)dir_len, path, (int)kept, base);
    remove_stale_temporaries(dir, f->temp_path + dir_len);
    free(dir);
    strcat(f->temp_path, "XXXXXX");
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
        int e = errno;
        close(fd);
        ow_atomic_file_abort(f);
        return ow_error_set(err, OW_ERR_IO, "cannot open %s for writing: %s", path, strerror(e));
    }
    return OW_OK;
}

ow_status ow_atomic_file_write(ow_atomic_file *f, const void *data, size_t size, ow_error *err) {
    if (size == 0) return OW_OK;
    errno = 0;
    if (fwrite(data, 1, size, f->stream) == size) return OW_OK;
    if (!f->write_errno) f->write_errno = errno ? errno : EIO;
    return ow_error_set(err, OW_ERR_IO, "cannot write %s: %s", f->final_path, strerror(f->write_errno));
}

/* fsync of the folder that holds path, so the rename survives a crash; best effort:
 * the new file is in place either way. */
static void sync_folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

ow_status ow_atomic_file_commit(ow_atomic_file *f, ow_error *err) {
    int e = f->write_errno;
    int errno_of_last_call = errno; /* a caller's bare fwrite that failed just before left its reason here */
    errno = 0;
    if (fflush(f->stream) != 0) {
        if (!e) e = errno ? errno : EIO;
    } else if (ferror(f->stream)) {
        if (!e) e = errno_of_last_call ? errno_of_last_call : EIO;
    } else if (!e && fsync(fileno(f->stream)) != 0) {
        e = errno;
    }
    if (fclose(f->stream) != 0 && !e) e = errno ? errno : EIO;
    f->stream = NULL;
    if (e) {
        ow_error_set(err, OW_ERR_IO, "cannot write %s: %s", f->final_path, strerror(e));
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
    sync_folder_of(f->final_path);
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
    s = ow_atomic_file_write(&f, data, size, err);
    if (s != OW_OK) {
        ow_atomic_file_abort(&f);
        return s;
    }
    return ow_atomic_file_commit(&f, err);
}
