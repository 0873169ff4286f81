/* blas_restart.c: see blas_restart.h. */
#include "blas_restart.h"

#include <stdlib.h>
#include <unistd.h>

#include "oneword.h"

void blas_restart_if_generic(char **argv) {
    const char *core = ow_cpu_blas_core_to_force();
    if (!core || getenv("ONEWORD_BLAS_RESTARTED")) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("ONEWORD_BLAS_RESTARTED", core, 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");
}
