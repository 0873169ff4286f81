/* test_atomic_file.c: an aborted write leaves the old file; a commit replaces it;
 * the file gets the mode fopen would give (0666 less the umask), not mkstemp's 0600;
 * an unwritable folder gives a message, not a crash. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/atomic_file.h"

static int read_all(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return (int)n;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

int main(void) {
    char dir[] = "/tmp/ow-atomic-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], buf[64];
    snprintf(path, sizeof path, "%s/file.bin", dir);
    ow_error err = {0};

    CHECK(ow_atomic_write(path, "old", 3, &err) == OW_OK, "first write: %s", err.message);
    CHECK(read_all(path, buf, sizeof buf) == 3 && strcmp(buf, "old") == 0, "first content");

    ow_atomic_file f;
    CHECK(ow_atomic_file_open(&f, path, &err) == OW_OK, "open: %s", err.message);
    fputs("half-writ", f.stream);
    ow_atomic_file_abort(&f);
    CHECK(read_all(path, buf, sizeof buf) == 3 && strcmp(buf, "old") == 0, "abort keeps old content, got '%s'", buf);
    CHECK(count_entries(dir) == 1, "abort leaves no temp file (%d entries)", count_entries(dir));

    mode_t old_mask = umask(022);
    CHECK(ow_atomic_write(path, "newer", 5, &err) == OW_OK, "second write: %s", err.message);
    umask(old_mask);
    CHECK(read_all(path, buf, sizeof buf) == 5 && strcmp(buf, "newer") == 0, "commit replaced content");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode as fopen gives under umask 022: %o (want 644)",
          (unsigned)(st.st_mode & 0777));

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/folder/x.bin", dir);
    ow_status s = ow_atomic_write(missing, "x", 1, &err);
    CHECK(s == OW_ERR_IO && strstr(err.message, "no/such/folder"), "missing folder: status %d '%s'", s, err.message);
    printf("ok   missing folder message: %s\n", err.message);

    unlink(path);
    rmdir(dir);
    CHECK_DONE();
}
