/* check.h: the test harness. Every check prints what it compared and how far
 * apart the values were; a test program exits non-zero when any check failed. */
#ifndef OW_TESTS_CHECK_H
#define OW_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        check_count++;                                                          \
        if (!(cond)) {                                                          \
            check_failures++;                                                   \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Compares n floats; prints the max abs error and where it is; fails above tol. */
static inline int check_close(const char *what, const float *got, const float *want, size_t n, double tol) {
    double max_err = 0.0;
    size_t where = 0;
    int bad_value = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(want[i])) { bad_value = 1; where = i; break; }
        double e = fabs((double)got[i] - (double)want[i]);
        if (e > max_err) { max_err = e; where = i; }
    }
    int ok = !bad_value && max_err <= tol;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr, "%s %s: %zu values, max abs err %.3g at [%zu] (got %.7g want %.7g), tol %.3g\n",
            ok ? "ok  " : "FAIL", what, n, max_err, where, n ? got[where] : 0.0, n ? want[where] : 0.0, tol);
    return ok;
}

/* Path of a file under the source tree (static buffer; copy before the next call). */
static inline const char *source_path(const char *relative) {
    static char buffer[4096];
    snprintf(buffer, sizeof buffer, "%s/%s", OW_SOURCE_ROOT, relative);
    return buffer;
}

#define CHECK_DONE()                                                            \
    do {                                                                        \
        printf("%d checks, %d failed\n", check_count, check_failures);         \
        return check_failures ? 1 : 0;                                          \
    } while (0)

#endif
