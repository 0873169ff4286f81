/* blas_restart.h: a program's first call, so that its matrix products run on the
 * processor's own OpenBLAS kernels (oneword.h: ow_cpu_blas_core_to_force). */
#ifndef OW_CLI_BLAS_RESTART_H
#define OW_CLI_BLAS_RESTART_H

/* When OpenBLAS chose generic kernels on this processor (it reads OPENBLAS_CORETYPE
 * only when it loads), runs the program again (execv of /proc/self/exe with argv)
 * with OPENBLAS_CORETYPE set and ONEWORD_BLAS_RESTARTED naming the core; returns
 * only when nothing needs changing or exec failed (the program then goes on with
 * the generic kernels, slower). */
void blas_restart_if_generic(char **argv);

#endif
