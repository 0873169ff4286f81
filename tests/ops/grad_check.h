/* grad_check.h: what the backward-op tests share. Each backward of the backend
 * (f32) is compared with the gradient of a naive double-precision forward taken by
 * central finite differences: L(x) = sum(dy * f(x)) for a fixed random dy, so
 * dL/dx is exactly what the backward must return. In double, h = 1e-6 gives the
 * numerical gradient to ~1e-9, far below the f32 tolerance the test asserts, so a
 * wrong backward cannot hide in the noise. */
#ifndef OW_TESTS_OPS_GRAD_CHECK_H
#define OW_TESTS_OPS_GRAD_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

/* L(x) in double for the op under test; ctx carries dy, weights and shapes. */
typedef double (*grad_loss_fn)(void *ctx, const double *x);

/* grad[i] = (L(x + h e_i) - L(x - h e_i)) / 2h for every i < n (x is restored). */
static inline void fd_gradient(grad_loss_fn loss, void *ctx, double *x, size_t n, double h, double *grad) {
    for (size_t i = 0; i < n; i++) {
        double saved = x[i];
        x[i] = saved + h;
        double up = loss(ctx, x);
        x[i] = saved - h;
        double down = loss(ctx, x);
        x[i] = saved;
        grad[i] = (up - down) / (2.0 * h);
    }
}

/* Compares a backend gradient with the numerical one: |got - want| <= atol + rtol * max|want|.
 * Prints the worst element either way; returns 1 when it passes. */
static inline int check_gradient(const char *what, const float *got, const double *want, size_t n, double rtol,
                                 double atol) {
    double scale = 0.0, worst = 0.0;
    size_t at = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) if (fabs(want[i]) > scale) scale = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) { finite = 0; at = i; break; }
        double e = fabs((double)got[i] - want[i]);
        if (e > worst) { worst = e; at = i; }
    }
    double tol = atol + rtol * scale;
    int ok = finite && worst <= tol;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr, "%s %s: %zu values, max |grad| %.3g, max err %.3g at [%zu] (got %.7g, fd %.7g), tol %.3g\n",
            ok ? "ok  " : "FAIL", what, n, scale, worst, at, n ? (double)got[at] : 0.0, n ? want[at] : 0.0, tol);
    return ok;
}

static inline double *to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

#endif
