/* test_file.c: ow_file_make_dirs (mkdir -p): nested folders made with the mode asked,
 * an existing folder accepted, and a path through a regular file refused with a message
 * that names it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/file.h"

int main(void) {
    char dir[] = "/tmp/oneword-test-file-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[256], file[256];
    ow_error err = {0};
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    CHECK(ow_file_make_dirs(path, 0700, &err) == OW_OK, "make %s: %s", path, err.message);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "a/b/c is a folder of mode %o",
          (unsigned)(st.st_mode & 0777));
    CHECK(ow_file_make_dirs(path, 0700, &err) == OW_OK, "an existing folder: %s", err.message);
    snprintf(path, sizeof path, "%s/a/b/c/", dir);
    CHECK(ow_file_make_dirs(path, 0700, &err) == OW_OK, "a trailing slash: %s", err.message);
    snprintf(file, sizeof file, "%s/a/plain", dir);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/a/plain/d", dir);
    CHECK(ow_file_make_dirs(path, 0700, &err) == OW_ERR_IO && strstr(err.message, "a/plain"),
          "through a regular file: '%s'", err.message);
    printf("ok   mkdir -p: a/b/c made (mode 0700), again accepted, through a file refused: '%s'\n", err.message);
    CHECK(ow_file_make_dirs(file, 0700, &err) == OW_ERR_IO && strstr(err.message, "is not a folder"),
          "a regular file in place of the folder: '%s'", err.message);
    char command[300];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
    CHECK_DONE();
}
