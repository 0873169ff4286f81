/* clip_text_train.c: the CLIP text encoder's (and LDM's BERT's) training forward
 * (with a tape) and its backward to the trained embedding rows. The layer arithmetic mirrors
 * clip_layer_forward in clip_text.c op for op, with the *_train variants of the
 * norms and attention, so the output is the inference output. */
#include "model/clip_text_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* What one layer's backward reads. x_in of layer i + 1 is the output of layer i. */
typedef struct clip_layer_tape {
    float *x_in;          /* (M, H) the layer's input */
    float *mean1, *rstd1; /* (M) layer_norm1 statistics */
    float *q, *k, *v;     /* (M, A) projections of layer_norm1(x_in) */
    float *attn;          /* (M, A) attention output (before out_proj) */
    float *lse;           /* (B, heads, T) attention log-sum-exp */
    float *x_mid;         /* (M, H) x_in + self-attention */
    float *mean2, *rstd2; /* (M) layer_norm2 statistics */
    float *pre;           /* (M, I) fc1 output before the activation */
} clip_layer_tape;

struct ow_clip_text_tape {
    int B, T, layers;
    int32_t *ids;          /* (B, T) host copy */
    int n_extra;           /* extra rows the ids may select */
    clip_layer_tape *layer; /* layers */
    float *x_final;        /* (M, H) input of the final layer norm */
    float *mean_f, *rstd_f; /* (M) */
    float *block;          /* every buffer above, carved from one allocation */
};

static size_t layer_floats(const ow_clip_text_config *c, size_t M, size_t B, size_t T) {
    const size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t A = (size_t)ow_clip_text_attention_dim(c);
    return 2 * M * H + 4 * M * A + M * I + 4 * M + B * (size_t)c->num_attention_heads * T;
}

size_t ow_clip_text_tape_floats(const ow_clip_text_config *c, int B, int T, int clip_skip) {
    const size_t M = (size_t)B * T;
    const int layers = c->num_hidden_layers - (clip_skip - 1);
    return (size_t)layers * layer_floats(c, M, (size_t)B, (size_t)T) + M * (size_t)c->hidden_size + 2 * M;
}

void ow_clip_text_tape_free(ow_backend *b, ow_clip_text_tape *tape) {
    if (!tape) return;
    if (tape->block) b->free(b, tape->block);
    free(tape->layer);
    free(tape->ids);
    free(tape);
}

static ow_status tape_new(const ow_clip_text_config *c, ow_backend *b, const int32_t *ids, int B, int T,
                          int clip_skip, int n_extra, ow_clip_text_tape **out, ow_error *err) {
    const size_t M = (size_t)B * T, H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t A = (size_t)ow_clip_text_attention_dim(c);
    const size_t lse_n = (size_t)B * c->num_attention_heads * T;
    ow_clip_text_tape *t = calloc(1, sizeof *t);
    if (!t) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "text encoder: out of memory for the training tape");
    t->B = B;
    t->T = T;
    t->layers = c->num_hidden_layers - (clip_skip - 1);
    t->n_extra = n_extra;
    t->ids = malloc(M * sizeof *t->ids);
    t->layer = calloc((size_t)t->layers, sizeof *t->layer);
    const size_t floats = ow_clip_text_tape_floats(c, B, T, clip_skip);
    t->block = t->ids && t->layer ? b->alloc(b, floats) : NULL;
    if (!t->block) {
        ow_clip_text_tape_free(b, t);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "text encoder: out of memory for a %.1f MiB training tape",
                            floats * 4.0 / 1048576.0);
    }
    memcpy(t->ids, ids, M * sizeof *ids);
    float *p = t->block;
#define CARVE(field, n) (field = p, p += (n))
    for (int i = 0; i < t->layers; i++) {
        clip_layer_tape *l = &t->layer[i];
        CARVE(l->x_in, M * H);
        CARVE(l->mean1, M);
        CARVE(l->rstd1, M);
        CARVE(l->q, M * A);
        CARVE(l->k, M * A);
        CARVE(l->v, M * A);
        CARVE(l->attn, M * A);
        CARVE(l->lse, lse_n);
        CARVE(l->x_mid, M * H);
        CARVE(l->mean2, M);
        CARVE(l->rstd2, M);
        CARVE(l->pre, M * I);
    }
    CARVE(t->x_final, M * H);
    CARVE(t->mean_f, M);
    CARVE(t->rstd_f, M);
#undef CARVE
    *out = t;
    return OW_OK;
}

/* next (M, H) = layer(l->x_in), recording the tape; h (M, H) and mlp (M, I) are scratch. */
static void layer_forward_train(const ow_clip_text *enc, ow_backend *b, const ow_clip_text_layer *w,
                                clip_layer_tape *l, float *next, float *h, float *mlp, int B, int T) {
    const ow_clip_text_config *c = &enc->config;
    const int H = c->hidden_size, I = c->intermediate_size, M = B * T, A = ow_clip_text_attention_dim(c);
    const int heads = c->num_attention_heads, D = A / heads;
    b->layer_norm_train(b, h, l->mean1, l->rstd1, l->x_in, w->layer_norm1_weight.data, w->layer_norm1_bias.data, M, H,
                        c->layer_norm_eps);
    b->linear(b, l->q, h, &w->q_proj_weight, w->q_proj_bias.data, M, A, H);
    b->linear(b, l->k, h, &w->k_proj_weight, w->k_proj_bias.data, M, A, H);
    b->linear(b, l->v, h, &w->v_proj_weight, w->v_proj_bias.data, M, A, H);
    b->attention_train(b, l->attn, l->lse, l->q, l->k, l->v, B, T, T, heads, D, 1.0f / sqrtf((float)D), c->causal);
    b->linear(b, h, l->attn, &w->out_proj_weight, w->out_proj_bias.data, M, H, A);
    b->add(b, l->x_mid, l->x_in, h, (size_t)M * H);
    b->layer_norm_train(b, h, l->mean2, l->rstd2, l->x_mid, w->layer_norm2_weight.data, w->layer_norm2_bias.data, M, H,
                        c->layer_norm_eps);
    b->linear(b, l->pre, h, &w->fc1_weight, w->fc1_bias.data, M, I, H);
    if (c->hidden_act == OW_CLIP_ACT_GELU) b->gelu(b, mlp, l->pre, (size_t)M * I);
    else b->quick_gelu(b, mlp, l->pre, (size_t)M * I);
    b->linear(b, h, mlp, &w->fc2_weight, w->fc2_bias.data, M, H, I);
    b->add(b, next, l->x_mid, h, (size_t)M * H);
}

ow_status ow_clip_text_forward_train(const ow_clip_text *enc, ow_backend *b, const int32_t *ids, int B, int T,
                                     int clip_skip, const ow_clip_text_extra *extra, float *out,
                                     ow_clip_text_tape **tape_out, ow_error *err) {
    *tape_out = NULL;
    const ow_clip_text_config *c = &enc->config;
    ow_status s = ow_clip_text_check_args(enc, B, T, clip_skip, extra, err);
    if (s != OW_OK) return s;
    ow_clip_text_tape *t = NULL;
    s = tape_new(c, b, ids, B, T, clip_skip, extra ? extra->count : 0, &t, err);
    if (s != OW_OK) return s;
    const size_t M = (size_t)B * T, H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    float *h = b->alloc(b, M * H), *mlp = b->alloc(b, M * I);
    if (!h || !mlp) {
        if (h) b->free(b, h);
        if (mlp) b->free(b, mlp);
        ow_clip_text_tape_free(b, t);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "text encoder: out of memory for %zu tokens", M);
    }
    float *first = t->layers ? t->layer[0].x_in : t->x_final;
    s = ow_clip_text_embed(enc, b, ids, B, T, extra, first, err);
    for (int i = 0; s == OW_OK && i < t->layers; i++) {
        float *next = i + 1 < t->layers ? t->layer[i + 1].x_in : t->x_final;
        layer_forward_train(enc, b, &enc->layers[i], &t->layer[i], next, h, mlp, B, T);
    }
    if (s == OW_OK)
        b->layer_norm_train(b, out, t->mean_f, t->rstd_f, t->x_final, enc->final_layer_norm_weight.data,
                            enc->final_layer_norm_bias.data, (int)M, (int)H, c->layer_norm_eps);
    b->free(b, h);
    b->free(b, mlp);
    if (s != OW_OK) {
        ow_clip_text_tape_free(b, t);
        return s;
    }
    *tape_out = t;
    return OW_OK;
}

/* Scratch of the backward pass. */
typedef struct clip_grads {
    float *dx;          /* (M, H) gradient of the residual stream */
    float *dh, *tmp;    /* (M, max(H, A)) */
    float *dq, *dk, *dv; /* (M, A) */
    float *dmlp;        /* (M, I) */
} clip_grads;

/* dx: d(layer output) in, d(layer input) out. */
static void layer_backward(const ow_clip_text *enc, ow_backend *b, const ow_clip_text_layer *w,
                           const clip_layer_tape *l, const clip_grads *g, int B, int T) {
    const ow_clip_text_config *c = &enc->config;
    const int H = c->hidden_size, I = c->intermediate_size, M = B * T, A = ow_clip_text_attention_dim(c);
    const int heads = c->num_attention_heads, D = A / heads;
    const size_t n = (size_t)M * H;
    /* MLP: out = x_mid + fc2(act(fc1(ln2(x_mid)))) */
    b->linear_backward(b, g->dmlp, g->dx, &w->fc2_weight, M, H, I);
    if (c->hidden_act == OW_CLIP_ACT_GELU) b->gelu_backward(b, g->dmlp, g->dmlp, l->pre, (size_t)M * I);
    else b->quick_gelu_backward(b, g->dmlp, g->dmlp, l->pre, (size_t)M * I);
    b->linear_backward(b, g->dh, g->dmlp, &w->fc1_weight, M, I, H);
    b->layer_norm_backward(b, g->tmp, g->dh, l->x_mid, w->layer_norm2_weight.data, l->mean2, l->rstd2, M, H);
    b->add(b, g->dx, g->dx, g->tmp, n);
    /* self-attention: x_mid = x_in + out_proj(attention(q, k, v)), q/k/v = proj(ln1(x_in)) */
    b->linear_backward(b, g->dh, g->dx, &w->out_proj_weight, M, H, A);
    b->attention_backward(b, g->dq, g->dk, g->dv, g->dh, l->q, l->k, l->v, l->attn, l->lse, B, T, T, heads, D,
                          1.0f / sqrtf((float)D), c->causal);
    b->linear_backward(b, g->dh, g->dq, &w->q_proj_weight, M, A, H);
    b->linear_backward(b, g->tmp, g->dk, &w->k_proj_weight, M, A, H);
    b->add(b, g->dh, g->dh, g->tmp, n);
    b->linear_backward(b, g->tmp, g->dv, &w->v_proj_weight, M, A, H);
    b->add(b, g->dh, g->dh, g->tmp, n);
    b->layer_norm_backward(b, g->tmp, g->dh, l->x_in, w->layer_norm1_weight.data, l->mean1, l->rstd1, M, H);
    b->add(b, g->dx, g->dx, g->tmp, n);
}

ow_status ow_clip_text_backward(const ow_clip_text *enc, ow_backend *b, const ow_clip_text_tape *t, const float *dout,
                                float *drows, ow_error *err) {
    const ow_clip_text_config *c = &enc->config;
    if (!t || !dout) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "text encoder backward: no tape or gradient");
    if (t->n_extra == 0) return OW_OK; /* no trained rows: nothing to differentiate */
    if (!drows) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "text encoder backward: no row gradient buffer");
    const int B = t->B, T = t->T, M = B * T, H = c->hidden_size, I = c->intermediate_size;
    const int A = ow_clip_text_attention_dim(c);
    const size_t wide = (size_t)M * (H > A ? H : A), attn = (size_t)M * A;
    clip_grads g = {0};
    float **all[] = {&g.dx, &g.dh, &g.tmp, &g.dq, &g.dk, &g.dv};
    const size_t sizes[] = {(size_t)M * H, wide, wide, attn, attn, attn};
    int ok = 1;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ok &= (*all[i] = b->alloc(b, sizes[i])) != NULL;
    ok &= (g.dmlp = b->alloc(b, (size_t)M * I)) != NULL;
    if (ok) {
        b->layer_norm_backward(b, g.dx, dout, t->x_final, enc->final_layer_norm_weight.data, t->mean_f, t->rstd_f, M,
                               H);
        for (int i = t->layers - 1; i >= 0; i--) layer_backward(enc, b, &enc->layers[i], &t->layer[i], &g, B, T);
        /* x_0 = table[ids] + positions: only the extra rows are trained. */
        b->embedding_backward(b, drows, g.dx, t->ids, M, H, c->vocab_size, t->n_extra);
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (*all[i]) b->free(b, *all[i]);
    if (g.dmlp) b->free(b, g.dmlp);
    if (!ok) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "text encoder backward: out of memory for %d tokens", M);
    return OW_OK;
}
