/* cpu_attention.c: scaled dot-product attention on the CPU, for inference and for
 * training. Work is split into (batch, head, tile of query rows) tasks; each task
 * computes its score tile S = q k^T * scale with one sgemm straight from the
 * (B, T, heads*D) layout (leading dimension heads*D, no copies), applies the causal
 * mask, a softmax with the row maximum subtracted, and out = S v with a second sgemm,
 * dividing by the row sums at the end. The score tile lives in the thread's scratch,
 * so memory stays bounded whatever Tq and Tk are (keys beyond the scratch are taken
 * in blocks with an online softmax whose sums run in double). attention_train also
 * keeps each row's log-sum-exp lse = max + log(sum) for the backward pass
 * (cpu_attention_backward.c); the inference op is the same computation without it.
 *
 * With attention_dtype BF16 the two products of a tile run through oneDNN in bf16:
 * q * scale and k rounded (head width padded with zeros to a multiple of 32, which
 * the AMX kernels need to run at speed), then the probabilities and v; the scores,
 * the softmax and its sums stay f32. A tile whose bf16 copies do not fit the
 * thread's bf16 scratch takes the f32 path. */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"

/* ---- forward ---------------------------------------------------------------- */

/* s[0..n) <- exp(s - max(s)); *max_out = max(s); returns the sum. Max and sum run in
 * 16 lanes (summed at the end) so that both loops vectorise. */
#define LANES 16
OW_CPU_HOT
static float softmax_numerators(float *s, int n, float *max_out) {
    float lane[LANES];
    for (int l = 0; l < LANES; l++) lane[l] = -INFINITY;
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) lane[l] = s[j + l] > lane[l] ? s[j + l] : lane[l];
    float m = -INFINITY;
    for (int l = 0; l < LANES; l++) m = lane[l] > m ? lane[l] : m;
    for (; j < n; j++) m = s[j] > m ? s[j] : m;

    for (int l = 0; l < LANES; l++) lane[l] = 0.0f;
    for (j = 0; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) {
            float e = ow_expf(s[j + l] - m);
            s[j + l] = e;
            lane[l] += e;
        }
    float sum = 0.0f;
    for (; j < n; j++) {
        float e = ow_expf(s[j] - m);
        s[j] = e;
        sum += e;
    }
    for (int l = 0; l < LANES; l++) sum += lane[l];
    *max_out = m;
    return sum;
}

OW_CPU_HOT
static void scale_row(float *row, int n, float s) {
    for (int j = 0; j < n; j++) row[j] *= s;
}

/* The scores s (nr, kv) of query rows i0.. become their softmax numerators (masked
 * keys 0); inv[r] = 1 / the row's sum, lse_t[r] (when not NULL) its log-sum-exp. */
static void softmax_tile(float *s, float *inv, float *lse_t, int i0, int nr, int kv, int causal) {
    for (int r = 0; r < nr; r++) {
        float *row = s + (size_t)r * kv, m;
        int seen = causal ? (i0 + r + 1 < kv ? i0 + r + 1 : kv) : kv;
        float sum = softmax_numerators(row, seen, &m);
        if (seen < kv) memset(row + seen, 0, (size_t)(kv - seen) * sizeof(float));
        inv[r] = 1.0f / sum;
        if (lse_t) lse_t[r] = m + logf(sum);
    }
}

/* One query tile of the forward: rows i0..i0+nr-1 of head h of batch bi.
 * ot (nr, D) with leading dimension HD; lse_t (nr) or NULL; s is the thread's scratch. */
static void forward_tile(float *ot, float *lse_t, const float *qt, const float *kb, const float *vb, float *s,
                         int i0, int nr, int Tk, int D, size_t HD, float scale, int causal, int key_block) {
    /* Keys any row of this tile can see. */
    int kv = causal ? (i0 + nr < Tk ? i0 + nr : Tk) : Tk;
    if (kv <= key_block) {
        /* s (nr, kv) = scale * q_tile (nr, D) . k (kv, D)^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, kv, D, scale, qt, (int)HD, kb, (int)HD, 0.0f, s,
                    kv);
        float inv[128];
        softmax_tile(s, inv, lse_t, i0, nr, kv, causal);
        /* out_tile (nr, D) = s (nr, kv) . v (kv, D), then each row / its sum */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, D, kv, 1.0f, s, kv, vb, (int)HD, 0.0f, ot,
                    (int)HD);
        for (int r = 0; r < nr; r++) scale_row(ot + (size_t)r * HD, D, inv[r]);
        return;
    }
    /* Keys beyond the scratch (one row per tile): online softmax over key blocks,
     * rescaling the partial output whenever the running maximum grows. The sums run
     * in double: over a million terms an f32 sum loses ~1e-4 of itself, which the
     * output hides but the lse would not. */
    float m = -INFINITY;
    double sum = 0.0;
    memset(ot, 0, (size_t)D * sizeof(float));
    int seen_total = causal ? (i0 + 1 < Tk ? i0 + 1 : Tk) : Tk;
    for (int j0 = 0; j0 < seen_total; j0 += key_block) {
        int nk = seen_total - j0 < key_block ? seen_total - j0 : key_block;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, nk, D, scale, qt, (int)HD, kb + (size_t)j0 * HD,
                    (int)HD, 0.0f, s, nk);
        float bm = -INFINITY;
        for (int j = 0; j < nk; j++) bm = s[j] > bm ? s[j] : bm;
        float nm = bm > m ? bm : m;
        float old = ow_expf(m - nm);
        for (int j = 0; j < nk; j++) s[j] = ow_expf(s[j] - nm);
        double bs = 0.0;
        for (int j = 0; j < nk; j++) bs += s[j];
        scale_row(ot, D, old);
        sum = sum * old + bs;
        m = nm;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, D, nk, 1.0f, s, nk, vb + (size_t)j0 * HD,
                    (int)HD, 1.0f, ot, (int)HD);
    }
    scale_row(ot, D, (float)(1.0 / sum));
    if (lse_t) lse_t[0] = m + (float)log(sum);
}

/* ---- bf16 products ---- */

/* Width of a head in the bf16 copies of q and k: zeros pad it to a multiple of 32. */
static int padded_head(int D) { return (D + 31) / 32 * 32; }

/* bf16 scratch one (batch, head) task needs: k and v of the head, then a query tile
 * of `rows` rows and its probabilities. */
static size_t bf16_head_need(int rows, int Tk, int D) {
    size_t Dp = (size_t)padded_head(D);
    return (size_t)Tk * Dp + (size_t)Tk * D + (size_t)rows * Dp + (size_t)rows * Tk;
}

/* One query tile with bf16 products, k and v of its head already rounded into kbf
 * (Tk, Dp) and vbf (Tk, D); qb (rows, Dp) and pb (rows, Tk) are scratch. */
static void forward_tile_bf16(cpu_state *c, float *ot, float *lse_t, const float *qt, const uint16_t *kbf,
                              const uint16_t *vbf, uint16_t *qb, uint16_t *pb, float *s, int i0, int nr, int Tk, int D,
                              size_t HD, float scale, int causal) {
    int kv = causal ? (i0 + nr < Tk ? i0 + nr : Tk) : Tk;
    int Dp = padded_head(D);
    /* q * scale goes through the score scratch (free until the first product) */
    for (int r = 0; r < nr; r++)
        for (int d = 0; d < D; d++) s[(size_t)r * D + d] = qt[(size_t)r * HD + d] * scale;
    ow_cpu_rows_to_bf16(qb, (size_t)Dp, s, (size_t)D, nr, D);
    /* s (nr, kv) = (q * scale) (nr, Dp) . k (kv, Dp)^T */
    ow_cpu_dnnl_gemm(c->dnnl, nr, kv, Dp, qb, Dp, 1, kbf, 1, Dp, s, kv, 0);
    float inv[128];
    softmax_tile(s, inv, lse_t, i0, nr, kv, causal);
    ow_cpu_to_bf16(pb, s, (size_t)nr * kv);
    /* out_tile (nr, D) = p (nr, kv) . v (kv, D), then each row / its sum */
    ow_cpu_dnnl_gemm(c->dnnl, nr, D, kv, pb, kv, 1, vbf, D, 1, ot, (long)HD, 0);
    for (int r = 0; r < nr; r++) scale_row(ot + (size_t)r * HD, D, inv[r]);
}

/* Head h of batch bi with bf16 products: k and v rounded once, then every query tile. */
static void forward_head_bf16(cpu_state *c, float *out, float *lse, const float *q, const float *k, const float *v,
                              int bi, int h, int Tq, int Tk, int heads, int D, int rows, float scale, int causal) {
    size_t HD = (size_t)heads * D;
    int Dp = padded_head(D);
    uint16_t *kbf = ow_cpu_scratch16(c), *vbf = kbf + (size_t)Tk * Dp, *qb = vbf + (size_t)Tk * D;
    uint16_t *pb = qb + (size_t)rows * Dp;
    const float *kb = k + (size_t)bi * Tk * HD + (size_t)h * D, *vb = v + (size_t)bi * Tk * HD + (size_t)h * D;
    ow_cpu_rows_to_bf16(kbf, (size_t)Dp, kb, HD, Tk, D);
    ow_cpu_rows_to_bf16(vbf, (size_t)D, vb, HD, Tk, D);
    float *s = c->scratch + (size_t)ow_cpu_thread_index() * OW_CPU_SCRATCH_FLOATS;
    for (int i0 = 0; i0 < Tq; i0 += rows) {
        int nr = Tq - i0 < rows ? Tq - i0 : rows;
        forward_tile_bf16(c, out + ((size_t)bi * Tq + i0) * HD + (size_t)h * D,
                          lse ? lse + ((size_t)bi * heads + h) * Tq + i0 : NULL,
                          q + ((size_t)bi * Tq + i0) * HD + (size_t)h * D, kbf, vbf, qb, pb, s, i0, nr, Tk, D, HD,
                          scale, causal);
    }
}

void ow_cpu_attention_train(ow_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                            int B, int Tq, int Tk, int heads, int D, float scale, int causal) {
    cpu_state *c = cpu_of(b);
    ow_cpu_blas_threads(c);
    if (B <= 0 || Tq <= 0 || heads <= 0 || D <= 0) return;
    size_t HD = (size_t)heads * D;
    if (Tk <= 0) { /* nothing to attend to: zeros as the inference op; an empty sum's log */
        memset(out, 0, (size_t)B * Tq * HD * sizeof(float));
        if (lse)
            for (size_t i = 0; i < (size_t)B * heads * Tq; i++) lse[i] = -INFINITY;
        return;
    }
    /* Rows per tile: the scores (rows, Tk) fit the scratch; at most 128 rows. */
    int rows = (int)(OW_CPU_SCRATCH_FLOATS / (size_t)Tk);
    if (rows > 128) rows = 128;
    if (rows < 1) rows = 1; /* Tk beyond the scratch: key blocks in forward_tile */
    int key_block = Tk < (int)OW_CPU_SCRATCH_FLOATS ? Tk : (int)OW_CPU_SCRATCH_FLOATS;
    int threads = c->use_omp ? c->threads : 1;
    long per_head = (Tq + rows - 1) / rows;
    /* Smaller tiles when there are too few tasks to keep every thread busy. */
    while (threads > 1 && (long)B * heads * per_head < 2L * threads && rows > 16) {
        rows = (rows + 1) / 2;
        per_head = (Tq + rows - 1) / rows;
    }
    long ntasks = (long)B * heads * per_head;
    double macs = 2.0 * B * heads * (double)Tq * Tk * D;
    if (macs < 262144.0) threads = 1;
    /* bf16 products: one task per (batch, head), so that its k and v are rounded once,
     * when there are heads enough for every thread and the copies fit the scratch */
    if (b->attention_dtype == OW_MATRIX_BF16 && c->dnnl && Tk >= OW_CPU_ATTENTION_BF16_MIN_KEYS && (long)B * heads >= threads &&
        rows <= 128 &&
        (size_t)rows * Tk <= OW_CPU_SCRATCH_FLOATS && (size_t)rows * D <= OW_CPU_SCRATCH_FLOATS &&
        bf16_head_need(rows, Tk, D) <= OW_CPU_SCRATCH16) {
        long nheads = (long)B * heads;
        #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (threads > 1)
        for (long task = 0; task < nheads; task++)
            forward_head_bf16(c, out, lse, q, k, v, (int)(task / heads), (int)(task % heads), Tq, Tk, heads, D, rows,
                              scale, causal);
        return;
    }

    #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (threads > 1)
    for (long task = 0; task < ntasks; task++) {
        int tile = (int)(task % per_head);
        int h = (int)((task / per_head) % heads);
        int bi = (int)(task / (per_head * heads));
        int i0 = tile * rows, nr = (Tq - i0 < rows) ? Tq - i0 : rows;
        float *s = c->scratch + (size_t)ow_cpu_thread_index() * OW_CPU_SCRATCH_FLOATS;
        forward_tile(out + ((size_t)bi * Tq + i0) * HD + (size_t)h * D,
                     lse ? lse + ((size_t)bi * heads + h) * Tq + i0 : NULL,
                     q + ((size_t)bi * Tq + i0) * HD + (size_t)h * D, k + (size_t)bi * Tk * HD + (size_t)h * D,
                     v + (size_t)bi * Tk * HD + (size_t)h * D, s, i0, nr, Tk, D, HD, scale, causal, key_block);
    }
}


void ow_cpu_attention(ow_backend *b, float *out, const float *q, const float *k, const float *v,
                      int B, int Tq, int Tk, int heads, int D, float scale, int causal) {
    ow_cpu_attention_train(b, out, NULL, q, k, v, B, Tq, Tk, heads, D, scale, causal);
}
