/* test_atomic_file.c: an aborted write leaves the old file; a commit replaces it;
 * the file gets the mode fopen would give (0666 less the umask), not mkstemp's 0600;
 * an unwritable folder gives a message, not a crash; the temporary is named
 * ".NAME.oneword-tmp-XXXXXX" and a stale one of ours is removed by the next write
 * of NAME while fresh ones, links, other targets' and other names stay; a write
 * refused by the system (RLIMIT_FSIZE: EFBIG) reports errno's reason. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
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

/* Entries of dir, hidden ones included (temporaries are hidden). */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* The first entry of dir whose name starts with prefix, copied to out; 0 if none. */
static int find_entry(const char *dir, const char *prefix, char *out, size_t cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(out, cap, "%s", e->d_name);
            found = 1;
        }
    closedir(d);
    return found;
}

static int exists(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Creates dir/name with its modification time seconds_ago in the past. */
static void make_file_aged(const char *dir, const char *name, int seconds_ago) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) { fputs("left by a killed writer", f); fclose(f); }
    struct timespec times[2] = {{time(NULL) - seconds_ago, 0}, {time(NULL) - seconds_ago, 0}};
    utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW);
}

static void remove_all(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

static void check_temporary_names_and_stale_cleanup(const char *dir) {
    ow_error err = {0};
    char path[256], name[300];
    snprintf(path, sizeof path, "%s/target.png", dir);

    /* While a write is under way its temporary is ".target.png.oneword-tmp-XXXXXX". */
    ow_atomic_file f;
    CHECK(ow_atomic_file_open(&f, path, &err) == OW_OK, "open: %s", err.message);
    int named = find_entry(dir, ".target.png.oneword-tmp-", name, sizeof name);
    CHECK(named && strlen(name) == strlen(".target.png.oneword-tmp-") + 6,
          "temporary named .target.png.oneword-tmp-XXXXXX (found: %s)", named ? name : "none");
    printf("     temporary while writing: %s\n", named ? name : "none");
    ow_atomic_file_abort(&f);

    const int hours2 = 2 * OW_ATOMIC_FILE_STALE_SECONDS;
    make_file_aged(dir, ".target.png.oneword-tmp-Stale1", hours2);   /* ours, stale: removed */
    make_file_aged(dir, ".target.png.oneword-tmp-Fresh1", 60);       /* maybe a live writer's: kept */
    make_file_aged(dir, ".other.png.oneword-tmp-Stale1", hours2);    /* another target's: kept */
    make_file_aged(dir, ".target.png.oneword-tmp-Stale12", hours2);  /* not our exact pattern: kept */
    make_file_aged(dir, ".target.png.oneword-tmp-St-le1", hours2);   /* not mkstemp's letters: kept */
    make_file_aged(dir, "target.png.notes", hours2);                 /* the user's: kept */
    char link_path[512], victim[512];
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    make_file_aged(dir, "victim.txt", hours2);
    snprintf(link_path, sizeof link_path, "%s/.target.png.oneword-tmp-Link01", dir);
    CHECK(symlink(victim, link_path) == 0, "symlink");
    struct timespec old_times[2] = {{time(NULL) - hours2, 0}, {time(NULL) - hours2, 0}};
    utimensat(AT_FDCWD, link_path, old_times, AT_SYMLINK_NOFOLLOW); /* a link: never removed */

    CHECK(ow_atomic_write(path, "png", 3, &err) == OW_OK, "write with leftovers around: %s", err.message);
    CHECK(!exists(dir, ".target.png.oneword-tmp-Stale1"), "a stale temporary of ours is removed by the next write");
    CHECK(exists(dir, ".target.png.oneword-tmp-Fresh1"), "a fresh temporary is kept (a writer may be at work)");
    CHECK(exists(dir, ".other.png.oneword-tmp-Stale1"), "another target's temporary is kept");
    CHECK(exists(dir, ".target.png.oneword-tmp-Stale12") && exists(dir, ".target.png.oneword-tmp-St-le1"),
          "names outside the exact pattern are kept");
    CHECK(exists(dir, "target.png.notes") && exists(dir, "victim.txt"), "the user's files are kept");
    CHECK(exists(dir, ".target.png.oneword-tmp-Link01"), "a link with our pattern is kept");
    printf("     stale cleanup: %d entries left (want 8)\n", count_entries(dir));
    CHECK(count_entries(dir) == 8, "entries after cleanup: %d (want 8)", count_entries(dir));

    /* A relative target: its folder is the current one. */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(dir) == 0, "chdir");
    make_file_aged(".", ".relative.bin.oneword-tmp-Stale2", hours2);
    CHECK(ow_atomic_write("relative.bin", "r", 1, &err) == OW_OK, "relative write: %s", err.message);
    CHECK(!exists(".", ".relative.bin.oneword-tmp-Stale2"), "stale temporary beside a relative target removed");
    CHECK(chdir(cwd) == 0, "chdir back");

    /* A name near the 255-byte limit still gets a temporary (its name cut to fit). */
    char long_name[256], long_path[600];
    memset(long_name, 'n', 250);
    long_name[250] = 0;
    snprintf(long_path, sizeof long_path, "%s/%s", dir, long_name);
    CHECK(ow_atomic_write(long_path, "l", 1, &err) == OW_OK, "250-byte file name: %s", err.message);

    char folder_path[300];
    snprintf(folder_path, sizeof folder_path, "%s/", dir);
    ow_status s = ow_atomic_write(folder_path, "x", 1, &err);
    CHECK(s != OW_OK && strstr(err.message, "folder"), "a path ending in '/': status %d '%s'", s, err.message);
}

/* The system refuses the write: the message says why (errno), not "disk full?" guesses. */
static void check_refused_write_reports_errno(const char *dir) {
    ow_error err = {0};
    char path[256];
    snprintf(path, sizeof path, "%s/big.bin", dir);
    size_t size = 256 * 1024;
    char *data = calloc(1, size);
    struct rlimit old_limit, small = {64 * 1024, 0};
    CHECK(getrlimit(RLIMIT_FSIZE, &old_limit) == 0, "getrlimit");
    small.rlim_max = old_limit.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of being killed */
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit RLIMIT_FSIZE");

    ow_status s = ow_atomic_write(path, data, size, &err);
    CHECK(s == OW_ERR_IO && strstr(err.message, strerror(EFBIG)), "ow_atomic_write past RLIMIT_FSIZE: status %d '%s'",
          s, err.message);
    printf("ok   refused write: %s\n", err.message);

    /* The same through fwrite on the stream, found at commit. */
    ow_atomic_file f;
    CHECK(ow_atomic_file_open(&f, path, &err) == OW_OK, "open: %s", err.message);
    if (f.stream) {
        size_t written = fwrite(data, 1, size, f.stream);
        CHECK(written < size, "fwrite past the limit is short (%zu)", written);
        s = ow_atomic_file_commit(&f, &err);
        CHECK(s == OW_ERR_IO && strstr(err.message, strerror(EFBIG)), "commit after a refused fwrite: status %d '%s'", s,
              err.message);
    }
    CHECK(setrlimit(RLIMIT_FSIZE, &old_limit) == 0, "restore RLIMIT_FSIZE");
    signal(SIGXFSZ, old_handler);
    CHECK(!exists(dir, "big.bin") && count_entries(dir) == 0, "refused writes leave nothing (%d entries)",
          count_entries(dir));
    free(data);
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

    char stale_dir[] = "/tmp/ow-atomic-stale-XXXXXX";
    CHECK(mkdtemp(stale_dir) != NULL, "mkdtemp");
    check_temporary_names_and_stale_cleanup(stale_dir);
    remove_all(stale_dir);

    char limit_dir[] = "/tmp/ow-atomic-limit-XXXXXX";
    CHECK(mkdtemp(limit_dir) != NULL, "mkdtemp");
    check_refused_write_reports_errno(limit_dir);
    remove_all(limit_dir);
    CHECK_DONE();
}
