/* test_ops_golden.c: the CPU backend and the naive references of ops_common.h against
 * torch.nn.functional outputs (tests/golden/ops/ops.safetensors, written by
 * tests/ref/make_ops_golden.py): linear, conv2d (kernel 1/3, stride 1/2, padding 0/1,
 * the VAE's asymmetric pad), group_norm (+SiLU), layer_norm, scaled_dot_product_attention
 * (plain, causal, causal with Tk > Tq), gelu, silu, quick_gelu, geglu. Shapes here
 * mirror the script; each tensor's size is checked before use. */
#include "formats/tensor_set.h"
#include "ops_common.h"

static ow_tensor_set *set;

/* The named tensor as a new f32 host array of exactly n floats (exits if absent or mis-sized). */
static float *golden(const char *name, size_t n) {
    const ow_tensor_entry *e = ow_tensor_set_find(set, name);
    if (!e || (size_t)ow_tensor_entry_numel(e) != n) {
        fprintf(stderr, "FAIL golden tensor %s: %s (want %zu values); rerun tests/ref/make_ops_golden.py\n", name,
                e ? "wrong size" : "missing", n);
        exit(1);
    }
    float *p = malloc(n * sizeof(float));
    ow_error err = {0};
    if (ow_tensor_entry_to_f32(e, p, &err) != OW_OK) {
        fprintf(stderr, "FAIL golden tensor %s: %s\n", name, err.message);
        exit(1);
    }
    return p;
}

static void compare(const char *what, const float *got_backend, const float *got_ref, const float *torch_out,
                    size_t n, double tol) {
    char label[160];
    snprintf(label, sizeof label, "%s: backend vs torch", what);
    check_close(label, got_backend, torch_out, n, tol);
    snprintf(label, sizeof label, "%s: naive reference vs torch", what);
    check_close(label, got_ref, torch_out, n, tol);
}

static void conv_case(ow_backend *b, const char *c, int O, int k, int stride, int pt, int pb, int pl, int pr, int pad4) {
    int B = 2, C = 5, H = 9, W = 11;
    int Ho = (H + pt + pb - k) / stride + 1, Wo = (W + pl + pr - k) / stride + 1;
    size_t nx = (size_t)B * C * H * W, nw = (size_t)O * C * k * k, no = (size_t)B * O * Ho * Wo;
    char name[96];
    snprintf(name, sizeof name, "%s.x", c); float *x = golden(name, nx);
    snprintf(name, sizeof name, "%s.w", c); float *w = golden(name, nw);
    snprintf(name, sizeof name, "%s.b", c); float *bias = golden(name, (size_t)O);
    snprintf(name, sizeof name, "%s.out", c); float *want = golden(name, no);
    float *dx = dev_copy(b, x, nx), *db = dev_copy(b, bias, (size_t)O);
    ow_matrix dw = dev_matrix(b, w, O, (int)(nw / (size_t)O), OW_MATRIX_F32);
    float *dout = dev_copy(b, NULL, no);
    if (pad4) b->conv2d_pad4(b, dout, dx, &dw, db, B, C, H, W, O, k, k, stride, pt, pb, pl, pr);
    else b->conv2d(b, dout, dx, &dw, db, B, C, H, W, O, k, k, stride, pt);
    float *got = dev_take(b, dout, no), *ref = host_zeros(no);
    ref_conv2d(ref, x, w, bias, B, C, H, W, O, k, k, stride, pt, pb, pl, pr);
    compare(c, got, ref, want, no, 1e-5);
    b->free(b, dx); b->matrix_free(b, &dw); b->free(b, db);
    free(x); free(w); free(bias); free(want); free(got); free(ref);
}

static void attention_case(ow_backend *b, const char *c, int B, int Tq, int Tk, int heads, int D, int causal) {
    size_t nq = (size_t)B * Tq * heads * D, nk = (size_t)B * Tk * heads * D;
    char name[96];
    snprintf(name, sizeof name, "%s.q", c); float *q = golden(name, nq);
    snprintf(name, sizeof name, "%s.k", c); float *k = golden(name, nk);
    snprintf(name, sizeof name, "%s.v", c); float *v = golden(name, nk);
    snprintf(name, sizeof name, "%s.out", c); float *want = golden(name, nq);
    float scale = 1.0f / sqrtf((float)D);
    float *dq = dev_copy(b, q, nq), *dk = dev_copy(b, k, nk), *dv = dev_copy(b, v, nk), *dout = dev_copy(b, NULL, nq);
    b->attention(b, dout, dq, dk, dv, B, Tq, Tk, heads, D, scale, causal);
    float *got = dev_take(b, dout, nq), *ref = host_zeros(nq);
    ref_attention(ref, q, k, v, B, Tq, Tk, heads, D, scale, causal);
    compare(c, got, ref, want, nq, 2e-6);
    b->free(b, dq); b->free(b, dk); b->free(b, dv);
    free(q); free(k); free(v); free(want); free(got); free(ref);
}

typedef double (*ref_fn)(double);
typedef void (*op_fn)(ow_backend *, float *, const float *, size_t);

static void unary_case(ow_backend *b, const char *c, op_fn op, ref_fn fn) {
    size_t n = 1001;
    char name[96];
    snprintf(name, sizeof name, "%s.x", c); float *x = golden(name, n);
    snprintf(name, sizeof name, "%s.out", c); float *want = golden(name, n);
    float *dx = dev_copy(b, x, n), *dout = dev_copy(b, NULL, n);
    op(b, dout, dx, n);
    float *got = dev_take(b, dout, n), *ref = host_zeros(n);
    for (size_t i = 0; i < n; i++) ref[i] = (float)fn(x[i]);
    compare(c, got, ref, want, n, 2e-6);
    b->free(b, dx);
    free(x); free(want); free(got); free(ref);
}

int main(void) {
    ow_error err = {0};
    if (ow_tensor_set_open(&set, source_path("tests/golden/ops/ops.safetensors"), &err) != OW_OK) {
        fprintf(stderr, "FAIL cannot open the ops golden: %s\n", err.message);
        return 1;
    }
    ow_backend *b = make_backend(3);

    { /* linear */
        int M = 13, N = 29, K = 37;
        float *x = golden("linear.x", (size_t)M * K), *w = golden("linear.w", (size_t)N * K);
        float *bias = golden("linear.b", (size_t)N), *want = golden("linear.out", (size_t)M * N);
        float *dx = dev_copy(b, x, (size_t)M * K), *db = dev_copy(b, bias, (size_t)N);
        ow_matrix dw = dev_matrix(b, w, N, K, OW_MATRIX_F32);
        float *dout = dev_copy(b, NULL, (size_t)M * N);
        b->linear(b, dout, dx, &dw, db, M, N, K);
        float *got = dev_take(b, dout, (size_t)M * N), *ref = host_zeros((size_t)M * N);
        ref_linear(ref, x, w, bias, M, N, K);
        compare("linear", got, ref, want, (size_t)M * N, 1e-5);
        b->free(b, dx); b->matrix_free(b, &dw); b->free(b, db);
        free(x); free(w); free(bias); free(want); free(got); free(ref);
    }

    conv_case(b, "conv_k3_s1_p1", 7, 3, 1, 1, 1, 1, 1, 0);
    conv_case(b, "conv_k3_s2_p1", 6, 3, 2, 1, 1, 1, 1, 0);
    conv_case(b, "conv_k1_s1_p0", 4, 1, 1, 0, 0, 0, 0, 0);
    conv_case(b, "conv_k3_s1_p0", 3, 3, 1, 0, 0, 0, 0, 0);
    conv_case(b, "conv_vae_down", 6, 3, 2, 0, 1, 0, 1, 1);

    for (int silu = 0; silu <= 1; silu++) { /* group_norm (2, 12, 35), 4 groups, eps 1e-6 */
        const char *c = silu ? "group_norm_silu" : "group_norm";
        size_t n = 2 * 12 * 35;
        char name[96];
        snprintf(name, sizeof name, "%s.x", c); float *x = golden(name, n);
        snprintf(name, sizeof name, "%s.gamma", c); float *g = golden(name, 12);
        snprintf(name, sizeof name, "%s.beta", c); float *be = golden(name, 12);
        snprintf(name, sizeof name, "%s.out", c); float *want = golden(name, n);
        float *dx = dev_copy(b, x, n), *dg = dev_copy(b, g, 12), *dbe = dev_copy(b, be, 12), *dout = dev_copy(b, NULL, n);
        b->group_norm(b, dout, dx, dg, dbe, 2, 12, 35, 4, 1e-6f, silu);
        float *got = dev_take(b, dout, n), *ref = host_zeros(n);
        ref_group_norm(ref, x, g, be, 2, 12, 35, 4, 1e-6f, silu);
        compare(c, got, ref, want, n, 2e-6);
        b->free(b, dx); b->free(b, dg); b->free(b, dbe);
        free(x); free(g); free(be); free(want); free(got); free(ref);
    }

    { /* layer_norm (13, 37), eps 1e-5 */
        size_t n = 13 * 37;
        float *x = golden("layer_norm.x", n), *g = golden("layer_norm.gamma", 37), *be = golden("layer_norm.beta", 37);
        float *want = golden("layer_norm.out", n);
        float *dx = dev_copy(b, x, n), *dg = dev_copy(b, g, 37), *dbe = dev_copy(b, be, 37), *dout = dev_copy(b, NULL, n);
        b->layer_norm(b, dout, dx, dg, dbe, 13, 37, 1e-5f);
        float *got = dev_take(b, dout, n), *ref = host_zeros(n);
        ref_layer_norm(ref, x, g, be, 13, 37, 1e-5f);
        compare("layer_norm", got, ref, want, n, 2e-6);
        b->free(b, dx); b->free(b, dg); b->free(b, dbe);
        free(x); free(g); free(be); free(want); free(got); free(ref);
    }

    attention_case(b, "attention", 2, 17, 23, 3, 8, 0);
    attention_case(b, "attention_causal", 2, 17, 17, 3, 8, 1);
    attention_case(b, "attention_causal_tk_gt_tq", 1, 9, 14, 2, 5, 1);

    unary_case(b, "gelu", b->gelu, ref_gelu);
    unary_case(b, "silu", b->silu, ref_silu);
    unary_case(b, "quick_gelu", b->quick_gelu, ref_quick_gelu);

    { /* geglu (7, 2*19) -> (7, 19) */
        int M = 7, N = 19;
        float *x = golden("geglu.x", (size_t)M * 2 * N), *want = golden("geglu.out", (size_t)M * N);
        float *dx = dev_copy(b, x, (size_t)M * 2 * N), *dout = dev_copy(b, NULL, (size_t)M * N);
        b->geglu(b, dout, dx, M, N);
        float *got = dev_take(b, dout, (size_t)M * N), *ref = host_zeros((size_t)M * N);
        for (int m = 0; m < M; m++)
            for (int j = 0; j < N; j++)
                ref[(size_t)m * N + j] = (float)(x[(size_t)m * 2 * N + j] * ref_gelu(x[(size_t)m * 2 * N + N + j]));
        compare("geglu", got, ref, want, (size_t)M * N, 4e-6);
        b->free(b, dx);
        free(x); free(want); free(got); free(ref);
    }

    b->destroy(b);
    ow_tensor_set_free(set);
    CHECK_DONE();
}
