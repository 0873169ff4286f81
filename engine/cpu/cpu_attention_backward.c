/* cpu_attention_backward.c: the backward of attention to q, k and v on the CPU,
 * flash-attention-2 style, from the log-sum-exp attention_train (cpu_attention.c) kept.
 *
 * Backward (attention_backward): per (batch, head), with delta_i = dout_i . out_i, every
 * (query tile i, key tile j) pair recomputes
 *   S = scale q_i k_j^T,  P = exp(S - lse_i) (0 where masked),  dP = dout_i v_j^T,
 *   dS = P o (dP - delta_i),
 * and accumulates dv_j += P^T dout_i, dk_j += scale dS^T q_i, dq_i += scale dS k_j, all
 * with sgemm on tiles of at most BWD_QUERY_ROWS x BWD_KEYS floats: no Tq x Tk matrix is
 * ever held. Two schedules, chosen by the thread count:
 *   fused     one task per (batch, head) does every tile pair (5 products per pair);
 *   two-pass  tasks per (batch, head, key tile) own dk_j, dv_j and loop over query
 *             tiles; then tasks per (batch, head, query tile) own dq_i and loop over key
 *             tiles (7 products per pair, but B*heads*tiles tasks to share out).
 * Both do the same products on the same tiles, summing dk_j and dv_j over query tiles
 * in ascending order and dq_i over key tiles in ascending order, so the result does
 * not depend on the schedule or the thread count. */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "cpu/cpu_internal.h"
#include "cpu/cpu_math.h"

/* ---- backward --------------------------------------------------------------- */

/* Tile sizes of the backward, fixed (never chosen by the thread count, so that every
 * schedule sums the same products). Two (rows, keys) tiles and the row terms use
 * 2 * 128 * 256 + 128 floats (257 KiB) of the thread's scratch, within L2. Measured
 * on one core: 64..256 rows x 128..512 keys are all within ~6% of each other for
 * self-attention; 128 rows beat 64 by ~20% for cross-attention (Tk = 77). */
#define BWD_QUERY_ROWS 128
#define BWD_KEYS 256
_Static_assert(2 * BWD_QUERY_ROWS * BWD_KEYS + BWD_QUERY_ROWS <= OW_CPU_SCRATCH_FLOATS,
               "the backward's tiles must fit the per-thread scratch");

typedef struct attn_backward {
    float *dq, *dk, *dv;                                  /* (B, Tq|Tk, heads*D) or NULL */
    const float *dout, *q, *k, *v, *out;                  /* (B, Tq|Tk, heads*D) */
    const float *lse;                                     /* (B, heads, Tq) */
    int Tq, Tk, heads, D, causal;
    float scale;
    size_t HD;
    int rows, keys;                                       /* tile: BWD_QUERY_ROWS x BWD_KEYS */
} attn_backward;

/* The thread's scratch: p and ds (rows, keys), delta (rows). */
typedef struct tile_scratch {
    float *p, *ds, *delta;
} tile_scratch;

static tile_scratch thread_scratch(cpu_state *c, const attn_backward *a) {
    float *s = c->scratch + (size_t)ow_cpu_thread_index() * OW_CPU_SCRATCH_FLOATS;
    size_t tile = (size_t)a->rows * a->keys;
    tile_scratch t = {s, s + tile, s + 2 * tile};
    return t;
}

/* delta[r] = dout_r . out_r for the nr rows (D columns, leading dimension HD). */
OW_CPU_HOT
static void row_deltas(float *delta, const float *dout, const float *out, int nr, int D, size_t HD) {
    for (int r = 0; r < nr; r++) {
        const float *a = dout + (size_t)r * HD, *o = out + (size_t)r * HD;
        float acc = 0.0f;
        for (int d = 0; d < D; d++) acc += a[d] * o[d];
        delta[r] = acc;
    }
}

/* p[0..visible) <- exp(p - lse); p[visible..n) <- 0 (masked keys). */
OW_CPU_HOT
static void probabilities_row(float *p, int visible, int n, float lse) {
    for (int j = 0; j < visible; j++) p[j] = ow_expf(p[j] - lse);
    for (int j = visible; j < n; j++) p[j] = 0.0f;
}

/* ds[0..n) <- p * (ds - delta). */
OW_CPU_HOT
static void score_gradient_row(float *ds, const float *p, int n, float delta) {
    for (int j = 0; j < n; j++) ds[j] = p[j] * (ds[j] - delta);
}

/* Zeroes rows (D columns, leading dimension HD). */
static void zero_rows(float *x, int rows, int D, size_t HD) {
    for (int r = 0; r < rows; r++) memset(x + (size_t)r * HD, 0, (size_t)D * sizeof(float));
}

/* Whether query tile [i0, i0+nr) sees any key of the tile starting at j0. */
static int tile_pair_visible(const attn_backward *a, int i0, int nr, int j0) {
    return !a->causal || j0 <= i0 + nr - 1;
}

/* The work of one (query tile, key tile) pair of head h of batch bi: queries
 * i0..i0+nr-1, keys j0..j0+nk-1. delta holds the tile's row terms. Adds to dq_i when
 * do_dq, to dk_j and dv_j when do_kv (for the gradients that are not NULL). */
static void backward_tile_pair(const attn_backward *a, const tile_scratch *t, int bi, int h, int i0, int nr, int j0,
                               int nk, int do_dq, int do_kv) {
    const int D = a->D, lq = (int)a->HD;
    const size_t HD = a->HD, col = (size_t)h * D;
    /* Causal: keys past the tile's last query are masked for every row; leave them out. */
    if (a->causal && i0 + nr - j0 < nk) nk = i0 + nr - j0;
    const float *qi = a->q + ((size_t)bi * a->Tq + i0) * HD + col;
    const float *doi = a->dout + ((size_t)bi * a->Tq + i0) * HD + col;
    const float *kj = a->k + ((size_t)bi * a->Tk + j0) * HD + col;
    const float *vj = a->v + ((size_t)bi * a->Tk + j0) * HD + col;
    const float *lse_i = a->lse + ((size_t)bi * a->heads + h) * a->Tq + i0;
    float *p = t->p, *ds = t->ds;
    int want_dq = do_dq && a->dq, want_dk = do_kv && a->dk, want_dv = do_kv && a->dv;

    /* p (nr, nk) = scale q_i (nr, D) . k_j (nk, D)^T, then the probabilities exp(p - lse_i) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, D, a->scale, qi, lq, kj, lq, 0.0f, p, nk);
    for (int r = 0; r < nr; r++) {
        int visible = nk;
        if (a->causal) {
            visible = i0 + r + 1 - j0;
            visible = visible < 0 ? 0 : (visible > nk ? nk : visible);
        }
        probabilities_row(p + (size_t)r * nk, visible, nk, lse_i[r]);
    }
    /* dv_j (nk, D) += p^T (nk, nr) . dout_i (nr, D) */
    if (want_dv)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, D, nr, 1.0f, p, nk, doi, lq, 1.0f,
                    a->dv + ((size_t)bi * a->Tk + j0) * HD + col, lq);
    if (!want_dq && !want_dk) return;
    /* ds (nr, nk) = dout_i (nr, D) . v_j (nk, D)^T, then p o (ds - delta) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, D, 1.0f, doi, lq, vj, lq, 0.0f, ds, nk);
    for (int r = 0; r < nr; r++) score_gradient_row(ds + (size_t)r * nk, p + (size_t)r * nk, nk, t->delta[r]);
    /* dk_j (nk, D) += scale ds^T (nk, nr) . q_i (nr, D) */
    if (want_dk)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, D, nr, a->scale, ds, nk, qi, lq, 1.0f,
                    a->dk + ((size_t)bi * a->Tk + j0) * HD + col, lq);
    /* dq_i (nr, D) += scale ds (nr, nk) . k_j (nk, D) */
    if (want_dq)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, D, nk, a->scale, ds, nk, kj, lq, 1.0f,
                    a->dq + ((size_t)bi * a->Tq + i0) * HD + col, lq);
}

static void load_deltas(const attn_backward *a, const tile_scratch *t, int bi, int h, int i0, int nr) {
    size_t at = ((size_t)bi * a->Tq + i0) * a->HD + (size_t)h * a->D;
    row_deltas(t->delta, a->dout + at, a->out + at, nr, a->D, a->HD);
}

/* Fused schedule: every gradient of head h of batch bi. */
static void backward_head(const attn_backward *a, const tile_scratch *t, int bi, int h) {
    size_t col = (size_t)h * a->D;
    if (a->dq) zero_rows(a->dq + (size_t)bi * a->Tq * a->HD + col, a->Tq, a->D, a->HD);
    if (a->dk) zero_rows(a->dk + (size_t)bi * a->Tk * a->HD + col, a->Tk, a->D, a->HD);
    if (a->dv) zero_rows(a->dv + (size_t)bi * a->Tk * a->HD + col, a->Tk, a->D, a->HD);
    for (int i0 = 0; i0 < a->Tq; i0 += a->rows) {
        int nr = a->Tq - i0 < a->rows ? a->Tq - i0 : a->rows;
        load_deltas(a, t, bi, h, i0, nr);
        for (int j0 = 0; j0 < a->Tk && tile_pair_visible(a, i0, nr, j0); j0 += a->keys) {
            int nk = a->Tk - j0 < a->keys ? a->Tk - j0 : a->keys;
            backward_tile_pair(a, t, bi, h, i0, nr, j0, nk, 1, 1);
        }
    }
}

/* Two-pass schedule, first pass: dk and dv of key tile j0 of head h of batch bi. */
static void backward_key_tile(const attn_backward *a, const tile_scratch *t, int bi, int h, int j0) {
    int nk = a->Tk - j0 < a->keys ? a->Tk - j0 : a->keys;
    size_t at = ((size_t)bi * a->Tk + j0) * a->HD + (size_t)h * a->D;
    if (a->dk) zero_rows(a->dk + at, nk, a->D, a->HD);
    if (a->dv) zero_rows(a->dv + at, nk, a->D, a->HD);
    for (int i0 = 0; i0 < a->Tq; i0 += a->rows) {
        int nr = a->Tq - i0 < a->rows ? a->Tq - i0 : a->rows;
        if (!tile_pair_visible(a, i0, nr, j0)) continue;
        load_deltas(a, t, bi, h, i0, nr);
        backward_tile_pair(a, t, bi, h, i0, nr, j0, nk, 0, 1);
    }
}

/* Two-pass schedule, second pass: dq of query tile i0 of head h of batch bi. */
static void backward_query_tile(const attn_backward *a, const tile_scratch *t, int bi, int h, int i0) {
    int nr = a->Tq - i0 < a->rows ? a->Tq - i0 : a->rows;
    zero_rows(a->dq + ((size_t)bi * a->Tq + i0) * a->HD + (size_t)h * a->D, nr, a->D, a->HD);
    load_deltas(a, t, bi, h, i0, nr);
    for (int j0 = 0; j0 < a->Tk && tile_pair_visible(a, i0, nr, j0); j0 += a->keys) {
        int nk = a->Tk - j0 < a->keys ? a->Tk - j0 : a->keys;
        backward_tile_pair(a, t, bi, h, i0, nr, j0, nk, 1, 0);
    }
}

void ow_cpu_attention_backward(ow_backend *b, float *dq, float *dk, float *dv, const float *dout, const float *q,
                               const float *k, const float *v, const float *out, const float *lse, int B, int Tq, int Tk,
                               int heads, int D, float scale, int causal) {
    cpu_state *c = cpu_of(b);
    ow_cpu_blas_threads(c);
    if (B <= 0 || Tq <= 0 || heads <= 0 || D <= 0) return;
    size_t HD = (size_t)heads * D;
    if (Tk <= 0) { /* the forward's output is the constant 0 */
        if (dq) memset(dq, 0, (size_t)B * Tq * HD * sizeof(float));
        return;
    }
    if (!dq && !dk && !dv) return;
    attn_backward a = {dq, dk, dv, dout, q, k, v, out, lse, Tq, Tk, heads, D, causal, scale, HD,
                       BWD_QUERY_ROWS, BWD_KEYS};

    long bh = (long)B * heads;
    long query_tiles = (Tq + a.rows - 1) / a.rows;
    long key_tiles = (Tk + a.keys - 1) / a.keys;
    int threads = c->use_omp ? c->threads : 1;
    double macs = 5.0 * B * heads * (double)Tq * Tk * D;
    if (macs < 262144.0) threads = 1;
    /* Fused costs 5 products per tile pair in ceil(bh / threads) rounds of heads;
     * two-pass costs 7, spread evenly. Either gives the same numbers. */
    long rounds = (bh + threads - 1) / threads;
    int fused = dq && (dk || dv) && rounds * 5 * threads <= 7 * bh;

    if (fused) {
        #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (threads > 1)
        for (long task = 0; task < bh; task++) {
            tile_scratch t = thread_scratch(c, &a);
            backward_head(&a, &t, (int)(task / heads), (int)(task % heads));
        }
        return;
    }
    if (dk || dv) {
        #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (threads > 1)
        for (long task = 0; task < bh * key_tiles; task++) {
            tile_scratch t = thread_scratch(c, &a);
            long head = task / key_tiles;
            backward_key_tile(&a, &t, (int)(head / heads), (int)(head % heads), (int)(task % key_tiles) * a.keys);
        }
    }
    if (dq) {
        #pragma omp parallel for num_threads(c->threads) schedule(dynamic, 1) if (threads > 1)
        for (long task = 0; task < bh * query_tiles; task++) {
            tile_scratch t = thread_scratch(c, &a);
            /* Last tiles first: under a causal mask they see the most keys. */
            long head = task / query_tiles, tile = query_tiles - 1 - task % query_tiles;
            backward_query_tile(&a, &t, (int)(head / heads), (int)(head % heads), (int)tile * a.rows);
        }
    }
}
