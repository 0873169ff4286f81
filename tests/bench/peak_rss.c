/* peak_rss.c: runs a command and reports its peak resident set size, for the
 * benchmarks (tests/bench/run_unet measures a 512x512 generation with it):
 *   peak_rss COMMAND [ARG...]
 * The command's own output passes through; the last line on stderr is
 *   peak_rss_mib <MiB> seconds <wall> status <exit status>
 * and peak_rss exits with the command's status. The figure is the kernel's
 * high-water mark of the child (getrusage RUSAGE_CHILDREN ru_maxrss, as
 * /usr/bin/time -v reports it), so nothing needs to be installed. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: peak_rss COMMAND [ARG...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("peak_rss: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "peak_rss: cannot run '%s'\n", argv[1]);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("peak_rss: wait4");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(stderr, "peak_rss_mib %.1f seconds %.1f status %d\n", ru.ru_maxrss / 1024.0,
            (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, code);
    return code;
}
