/* test_attention_ops.c: attention of the CPU backend against a plain double-
 * precision softmax(q k^T * scale) v, with B > 1, several heads, odd head sizes,
 * Tq != Tk both ways, causal and not, large score ranges (the max subtraction),
 * shapes that split query rows into tiles, and a key count beyond the score
 * scratch (the online-softmax path). All cases run again with bf16 products
 * (attention_dtype): against the reference on bf16-rounded q * scale, k and v, within
 * what rounding the probabilities to bf16 (8 bits) costs (with fewer keys than
 * OW_CPU_ATTENTION_BF16_MIN_KEYS the products stay f32, and so does the reference). */
#include "cpu/cpu_internal.h"
#include "ops_common.h"

static void test_attention(ow_backend *b, int B, int Tq, int Tk, int heads, int D, float scale, int causal,
                           double range) {
    size_t HD = (size_t)heads * D;
    size_t nq = (size_t)B * Tq * HD, nk = (size_t)B * Tk * HD;
    float *q = host_random(nq, -range, range), *k = host_random(nk, -range, range), *v = host_random(nk, -1, 1);
    float *want = host_zeros(nq);
    float *dq = dev_copy(b, q, nq), *dk = dev_copy(b, k, nk), *dv = dev_copy(b, v, nk), *dout = dev_copy(b, NULL, nq);
    int bf16 = b->attention_dtype == OW_MATRIX_BF16 && Tk >= OW_CPU_ATTENTION_BF16_MIN_KEYS;
    if (bf16) {
        for (size_t i = 0; i < nq; i++) q[i] *= scale;
        host_round_bf16(q, nq);
        host_round_bf16(k, nk);
        host_round_bf16(v, nk);
    }
    ref_attention(want, q, k, v, B, Tq, Tk, heads, D, bf16 ? 1.0f : scale, causal);
    b->attention(b, dout, dq, dk, dv, B, Tq, Tk, heads, D, scale, causal);
    float *got = dev_take(b, dout, nq);
    char what[160];
    snprintf(what, sizeof what, "attention %s B=%d Tq=%d Tk=%d heads=%d D=%d scale=%.3g causal=%d |qk|<=%g",
             bf16 ? "bf16" : "f32", B, Tq, Tk, heads, D, scale, causal, range);
    check_close(what, got, want, nq, bf16 ? 8e-3 : 2e-6 + 2e-7 * range * range * D * scale);
    b->free(b, dq); b->free(b, dk); b->free(b, dv);
    free(q); free(k); free(v); free(want); free(got);
}

int main(void) {
    rng_seed(2);
    ow_backend *b = make_backend(3);
    for (int pass = 0; pass < 2; pass++) {
    b->attention_dtype = pass ? OW_MATRIX_BF16 : OW_MATRIX_F32;
    test_attention(b, 1, 1, 1, 1, 1, 1.0f, 0, 1);
    test_attention(b, 2, 13, 13, 3, 8, 1.0f / sqrtf(8), 1, 1);
    test_attention(b, 2, 13, 13, 3, 8, 1.0f / sqrtf(8), 0, 1);
    test_attention(b, 2, 37, 77, 5, 40, 1.0f / sqrtf(40), 0, 1);  /* cross-attention shape, Tk > Tq */
    test_attention(b, 3, 50, 21, 2, 17, 1.0f / sqrtf(17), 0, 1);  /* Tq > Tk */
    test_attention(b, 3, 50, 21, 2, 17, 1.0f / sqrtf(17), 1, 1);  /* causal with Tq > Tk */
    test_attention(b, 1, 21, 50, 2, 17, 1.0f / sqrtf(17), 1, 1);  /* causal with Tq < Tk */
    test_attention(b, 2, 77, 77, 4, 16, 0.25f, 1, 1);              /* CLIP-like */
    test_attention(b, 2, 300, 333, 3, 24, 1.0f / sqrtf(24), 0, 1); /* several query tiles */
    test_attention(b, 1, 290, 290, 2, 9, 1.0f / 3, 1, 1);
    test_attention(b, 2, 19, 23, 2, 6, 1.0f, 0, 6);                /* scores up to ~200: needs the max subtraction */
    test_attention(b, 1, 5, 5000, 1, 3, 0.5f, 0, 1);               /* long keys, few rows per tile */
    /* More keys than the score scratch (1M floats): online softmax over key blocks. */
    test_attention(b, 1, 3, 1100000, 1, 2, 0.5f, 0, 1);
    test_attention(b, 1, 3, 1100000, 1, 2, 0.5f, 1, 1);
    test_attention(b, 2, 260, 4096, 8, 40, 1.0f / sqrtf(40), 0, 1); /* SD's top level */
    test_attention(b, 2, 300, 333, 3, 24, 1.0f / sqrtf(24), 1, 1);  /* causal, bf16 */
    test_attention(b, 1, 19, 300, 2, 6, 1.0f, 0, 6);                /* large scores, bf16 */
    }
    b->destroy(b);
    CHECK_DONE();
}
