/* test_threads_ops.c: results of the CPU backend do not depend on its thread count
 * beyond rounding: the same inputs through backends with 1, 2, 5 and all threads
 * (the work splits differ: row/column slices, im2col tiles, output-channel split,
 * query tiles) must agree with the 1-thread result and with the naive reference. */
#include "ops_common.h"

#define RUNS 4
static const int thread_counts[RUNS] = {1, 2, 5, 0};

typedef struct op_case {
    const char *name;
    size_t n_out;
    double tol;
} op_case;

/* Runs case `which` on backend b, returns the host result (caller frees). */
static float *run_case(ow_backend *b, int which, float **inputs, size_t *sizes, size_t n_out) {
    float *d[6] = {0};
    for (int i = 0; i < 6; i++) if (inputs[i]) d[i] = dev_copy(b, inputs[i], sizes[i]);
    float *out = dev_copy(b, NULL, n_out);
    /* the products' weights: (259, 131) and (23, 19 * taps) */
    ow_matrix w = ow_matrix_f32(d[1], which == 0 ? 259 : 23, which == 0 ? 131 : (int)(sizes[1] / 23));
    switch (which) {
    case 0: b->linear(b, out, d[0], &w, d[2], 301, 259, 131); break;
    case 1: b->conv2d(b, out, d[0], &w, d[2], 2, 19, 33, 35, 23, 3, 3, 1, 1); break;
    case 2: b->conv2d(b, out, d[0], &w, d[2], 2, 19, 33, 35, 23, 3, 3, 2, 1); break;
    case 3: b->conv2d(b, out, d[0], &w, d[2], 2, 19, 33, 35, 23, 1, 1, 1, 0); break;
    case 4: b->attention(b, out, d[0], d[1], d[2], 2, 203, 197, 3, 20, 0.2236068f, 0); break;
    case 5: b->attention(b, out, d[0], d[1], d[2], 2, 203, 197, 3, 20, 0.2236068f, 1); break;
    case 6: b->group_norm(b, out, d[0], d[1], d[2], 2, 64, 999, 32, 1e-5f, 1); break;
    case 7: b->layer_norm(b, out, d[0], d[1], d[2], 333, 257, 1e-5f); break;
    case 8: b->gelu(b, out, d[0], n_out); break;
    }
    for (int i = 0; i < 6; i++) if (d[i]) b->free(b, d[i]);
    return dev_take(b, out, n_out);
}

int main(void) {
    rng_seed(5);
    const op_case cases[] = {
        {"linear 301x131 -> 259", 301 * 259, 2e-5},
        {"conv2d 3x3 s1 p1 (2,19,33,35) -> 23", 2 * 23 * 33 * 35, 3e-5},
        {"conv2d 3x3 s2 p1 (2,19,33,35) -> 23", 2 * 23 * 17 * 18, 3e-5},
        {"conv2d 1x1 (2,19,33,35) -> 23", 2 * 23 * 33 * 35, 1e-5},
        {"attention B=2 Tq=203 Tk=197 heads=3 D=20", 2 * 203 * 60, 1e-6},
        {"attention causal B=2 Tq=203 Tk=197 heads=3 D=20", 2 * 203 * 60, 1e-6},
        {"group_norm+silu (2,64,999) groups=32", 2 * 64 * 999, 1e-6},
        {"layer_norm (333,257)", 333 * 257, 1e-6},
        {"gelu 200001", 200001, 0.0},
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    for (int which = 0; which < ncases; which++) {
        float *in[6] = {0};
        size_t sz[6] = {0};
        switch (which) {
        case 0: sz[0] = 301 * 131; sz[1] = 259 * 131; sz[2] = 259; break;
        case 1: case 2: sz[0] = 2 * 19 * 33 * 35; sz[1] = 23 * 19 * 9; sz[2] = 23; break;
        case 3: sz[0] = 2 * 19 * 33 * 35; sz[1] = 23 * 19; sz[2] = 23; break;
        case 4: case 5: sz[0] = 2 * 203 * 60; sz[1] = sz[2] = 2 * 197 * 60; break;
        case 6: sz[0] = 2 * 64 * 999; sz[1] = sz[2] = 64; break;
        case 7: sz[0] = 333 * 257; sz[1] = sz[2] = 257; break;
        case 8: sz[0] = 200001; break;
        }
        for (int i = 0; i < 6; i++) if (sz[i]) in[i] = host_random(sz[i], -1, 1);

        float *want = host_zeros(cases[which].n_out);
        switch (which) {
        case 0: ref_linear(want, in[0], in[1], in[2], 301, 259, 131); break;
        case 1: ref_conv2d(want, in[0], in[1], in[2], 2, 19, 33, 35, 23, 3, 3, 1, 1, 1, 1, 1); break;
        case 2: ref_conv2d(want, in[0], in[1], in[2], 2, 19, 33, 35, 23, 3, 3, 2, 1, 1, 1, 1); break;
        case 3: ref_conv2d(want, in[0], in[1], in[2], 2, 19, 33, 35, 23, 1, 1, 1, 0, 0, 0, 0); break;
        case 4: ref_attention(want, in[0], in[1], in[2], 2, 203, 197, 3, 20, 0.2236068f, 0); break;
        case 5: ref_attention(want, in[0], in[1], in[2], 2, 203, 197, 3, 20, 0.2236068f, 1); break;
        case 6: ref_group_norm(want, in[0], in[1], in[2], 2, 64, 999, 32, 1e-5f, 1); break;
        case 7: ref_layer_norm(want, in[0], in[1], in[2], 333, 257, 1e-5f); break;
        case 8: for (size_t i = 0; i < sz[0]; i++) want[i] = (float)ref_gelu(in[0][i]); break;
        }

        float *first = NULL;
        for (int r = 0; r < RUNS; r++) {
            ow_backend *b = make_backend(thread_counts[r]);
            float *got = run_case(b, which, in, sz, cases[which].n_out);
            char what[200];
            snprintf(what, sizeof what, "%s, %d threads vs reference", cases[which].name, b->threads);
            check_close(what, got, want, cases[which].n_out, cases[which].tol + 2e-6);
            if (!first) {
                first = got;
            } else {
                snprintf(what, sizeof what, "%s, %d threads vs 1 thread", cases[which].name, b->threads);
                check_close(what, got, first, cases[which].n_out, cases[which].tol);
                free(got);
            }
            b->destroy(b);
        }
        free(first);
        free(want);
        for (int i = 0; i < 6; i++) free(in[i]);
    }
    CHECK_DONE();
}
