/* unet_train.c: the UNet's training forward (recording its blocks as a list of
 * operations over numbered values) and the backward pass that walks the list in
 * reverse, summing the gradients of values used twice (the skip connections) and
 * collecting the context's gradient from every transformer. The forward follows
 * ow_unet_forward in unet.c block for block. */
#include "model/unet_train.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/blocks_train.h"

typedef enum op_kind { OP_RESNET, OP_TRANSFORMER, OP_DOWNSAMPLE, OP_UPSAMPLE, OP_CONCAT } op_kind;

/* One recorded block: out = block(in[, in2]). */
typedef struct unet_op {
    op_kind kind;
    const void *block; /* ow_resnet_block, ow_transformer2d or ow_conv */
    int in, in2, out;  /* value ids; in2: the skip of a CONCAT */
    void *saved;       /* without checkpointing: the block's ow_resnet_tape or ow_transformer2d_tape */
} unet_op;

/* A value of the forward pass (B, C, H, W), kept in the tape's run. */
typedef struct unet_value {
    float *data;
    int C, H, W;
    int producer; /* index of the op that made it, -1 for conv_in's output */
} unet_value;

struct ow_unet_tape {
    ow_run run; /* owns every value, the time embedding and, during backward, the gradients */
    ow_error *err;
    int B, T, temb_rows;
    const float *context;
    float *temb;          /* (temb_rows, E) silu(time embedding) */
    unet_value *values;
    int nvalues, cap_values;
    unet_op *ops;
    int nops, cap_ops;
    int final_value;      /* input of conv_norm_out */
    int first_context_op; /* first transformer: ops before it do not depend on the context */
    int checkpointing;    /* keep block inputs only (recompute in backward), or every block's tape */
    int used;
};

static int grow(void **items, int *cap, int need, size_t size) {
    if (need <= *cap) return 1;
    int c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *p = realloc(*items, (size_t)c * size);
    if (!p) return 0;
    *items = p;
    *cap = c;
    return 1;
}

static int add_value(ow_unet_tape *t, float *data, int C, int H, int W) {
    void *v = t->values;
    if (!grow(&v, &t->cap_values, t->nvalues + 1, sizeof *t->values)) return -1;
    t->values = v;
    t->values[t->nvalues] = (unet_value){data, C, H, W, t->nops - 1};
    return t->nvalues++;
}

/* Records op (its output value is added by the caller right after). */
static ow_status add_op(ow_unet_tape *t, op_kind kind, const void *block, int in, int in2) {
    void *o = t->ops;
    if (!grow(&o, &t->cap_ops, t->nops + 1, sizeof *t->ops))
        return ow_error_set(t->err, OW_ERR_OUT_OF_MEMORY, "unet training: out of memory recording the pass");
    t->ops = o;
    t->ops[t->nops] = (unet_op){kind, block, in, in2, t->nvalues, NULL};
    if (kind == OP_TRANSFORMER && t->first_context_op < 0) t->first_context_op = t->nops;
    t->nops++;
    return OW_OK;
}

static void free_saved(ow_unet_tape *t, unet_op *op) {
    if (op->kind == OP_RESNET) ow_resnet_tape_free(&t->run, op->saved);
    if (op->kind == OP_TRANSFORMER) ow_transformer2d_tape_free(&t->run, op->saved);
    op->saved = NULL;
}

/* Records op with its block tape saved (or NULL); the tape is freed if recording fails. */
static ow_status record(ow_unet_tape *t, op_kind kind, const void *block, int in, int in2, void *saved, float *out,
                        int C, int H, int W, int *id) {
    unet_op lost = {kind, block, in, in2, -1, saved};
    ow_status s = add_op(t, kind, block, in, in2);
    if (s != OW_OK) {
        free_saved(t, &lost);
        return s;
    }
    t->ops[t->nops - 1].saved = saved;
    *id = add_value(t, out, C, H, W);
    if (*id < 0) return ow_error_set(t->err, OW_ERR_OUT_OF_MEMORY, "unet training: out of memory recording the pass");
    return OW_OK;
}

/* Block r or a on value in, recorded as the next op; with its tape when the pass keeps
 * tapes and the op is differentiated (from the first transformer on). */
static ow_status resnet_op(ow_unet_tape *t, const ow_resnet_block *r, int in, int B, int C_out, int *cur) {
    const unet_value *x = &t->values[in];
    const int h = x->H, w = x->W;
    float *o;
    ow_resnet_tape *tape = NULL;
    ow_status s = !t->checkpointing && t->first_context_op >= 0
                      ? ow_resnet_forward_train(&t->run, r, x->data, t->temb, t->temb_rows, B, h, w, &o, &tape)
                      : ow_resnet_forward_temb(&t->run, r, x->data, t->temb, t->temb_rows, B, h, w, &o);
    if (s != OW_OK) return s;
    return record(t, OP_RESNET, r, in, -1, tape, o, C_out, h, w, cur);
}

static ow_status transformer_op(ow_unet_tape *t, const ow_transformer2d *a, int in, int B, int *cur) {
    const unet_value *x = &t->values[in];
    const int C = x->C, h = x->H, w = x->W;
    float *o;
    ow_transformer2d_tape *tape = NULL;
    ow_status s = !t->checkpointing
                      ? ow_transformer2d_forward_train(&t->run, a, x->data, t->context, B, h, w, t->T, &o, &tape)
                      : ow_transformer2d_forward_kv(&t->run, a, x->data, t->context, NULL, B, h, w, t->T, &o);
    if (s != OW_OK) return s;
    return record(t, OP_TRANSFORMER, a, in, -1, tape, o, C, h, w, cur);
}

void ow_unet_tape_free(ow_unet_tape *t) {
    if (!t) return;
    for (int k = 0; k < t->nops; k++) free_saved(t, &t->ops[k]);
    ow_run_end(&t->run);
    free(t->values);
    free(t->ops);
    free(t);
}

size_t ow_unet_tape_live_floats(const ow_unet_tape *t) { return t ? t->run.live_floats : 0; }
size_t ow_unet_tape_peak_floats(const ow_unet_tape *t) { return t ? t->run.peak_floats : 0; }

ow_status ow_unet_forward_train(ow_unet *u, ow_backend *b, const float *sample, int B, int H, int W,
                                const float *timesteps, const float *context, int T, int checkpointing, float *out,
                                ow_unet_tape **tape, ow_error *err) {
    *tape = NULL;
    const ow_unet_config *cfg = &u->config;
    const int n = cfg->num_blocks, C0 = cfg->block_out_channels[0];
    if (b != u->backend)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unet training: called with another backend than its weights live on");
    const int factor = 1 << (n - 1);
    if (B < 1 || T < 1 || H < 1 || W < 1 || H % factor || W % factor)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "unet training: latent %dx%d (batch %d, %d context tokens) must be a positive multiple of %d",
                            H, W, B, T, factor);
    ow_unet_tape *t = calloc(1, sizeof *t);
    if (!t) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "unet training: out of memory");
    ow_run_begin(&t->run, b, err);
    t->err = err;
    t->B = B;
    t->T = T;
    t->context = context;
    t->first_context_op = -1;
    t->checkpointing = checkpointing;
    ow_run *run = &t->run;
    ow_status s = OW_OK;
#define TRY(expr) do { if ((s = (expr)) != OW_OK) goto fail; } while (0)
#define ALLOC(var, count) do { if (!((var) = ow_run_alloc(run, (size_t)(count)))) { s = run->err->status; goto fail; } } while (0)

    /* time embedding, as ow_unet_forward (one row when the batch shares its timestep) */
    if ((s = ow_unet_time_embedding(u, run, timesteps, B, &t->temb_rows, &t->temb)) != OW_OK) goto fail;

    int max_skips = 1 + n;
    for (int i = 0; i < n; i++) max_skips += cfg->layers_per_block[i];
    int *skips = malloc((size_t)max_skips * sizeof *skips), nskips = 0;
    if (!skips) { s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "unet training: out of memory"); goto fail; }

    float *x;
    int C = C0, h = H, w = W, cur;
    if ((s = ow_conv_forward(run, &u->conv_in, sample, B, H, W, &x)) != OW_OK) goto fail_skips;
    if ((cur = add_value(t, x, C, h, w)) < 0) { s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "unet training: out of memory"); goto fail_skips; }
    skips[nskips++] = cur;

#define RECORD(kind, block, in, in2, saved, data, c, hh, ww) \
    do { if ((s = record(t, kind, block, in, in2, saved, data, c, hh, ww, &cur)) != OW_OK) goto fail_skips; } while (0)
#define STEP(call) do { if ((s = (call)) != OW_OK) goto fail_skips; } while (0)

    for (int i = 0; i < n; i++) {
        const ow_unet_down_block *d = &u->down_blocks[i];
        for (int j = 0; j < d->num_layers; j++) {
            C = d->out_channels;
            STEP(resnet_op(t, &d->resnets[j], cur, B, C, &cur));
            if (d->has_attention) STEP(transformer_op(t, &d->attentions[j], cur, B, &cur));
            skips[nskips++] = cur;
        }
        if (d->has_downsample) {
            float *down;
            int ho, wo;
            STEP(ow_downsample_forward(run, &d->downsampler, t->values[cur].data, B, h, w, cfg->downsample_padding, &down,
                                       &ho, &wo));
            h = ho;
            w = wo;
            RECORD(OP_DOWNSAMPLE, &d->downsampler, cur, -1, NULL, down, C, h, w);
            skips[nskips++] = cur;
        }
    }
    if (cfg->has_mid_block) {
        STEP(resnet_op(t, &u->mid_resnets[0], cur, B, C, &cur));
        STEP(transformer_op(t, &u->mid_attention, cur, B, &cur));
        STEP(resnet_op(t, &u->mid_resnets[1], cur, B, C, &cur));
    }
    for (int i = 0; i < n; i++) {
        const ow_unet_up_block *up = &u->up_blocks[i];
        for (int j = 0; j < up->num_layers; j++) {
            if (nskips == 0) { s = ow_error_set(err, OW_ERR_FORMAT, "unet training: skip connections ran out"); goto fail_skips; }
            const int skip = skips[--nskips];
            const unet_value *sk = &t->values[skip];
            if (sk->H != h || sk->W != w || C + sk->C != up->resnets[j].in_channels) {
                s = ow_error_set(err, OW_ERR_FORMAT, "unet training: skip (%d, %d, %d) does not fit up block %d resnet %d",
                                 sk->C, sk->H, sk->W, i, j);
                goto fail_skips;
            }
            float *cat = ow_run_alloc(run, (size_t)B * (C + sk->C) * h * w);
            if (!cat) { s = run->err->status; goto fail_skips; }
            b->concat_channels(b, cat, t->values[cur].data, sk->data, B, C, sk->C, h * w);
            RECORD(OP_CONCAT, NULL, cur, skip, NULL, cat, C + t->values[skip].C, h, w);
            C = up->out_channels;
            STEP(resnet_op(t, &up->resnets[j], cur, B, C, &cur));
            if (up->has_attention) STEP(transformer_op(t, &up->attentions[j], cur, B, &cur));
        }
        if (up->has_upsample) {
            float *upsampled;
            STEP(ow_upsample_forward(run, &up->upsampler, t->values[cur].data, B, h, w, &upsampled));
            h *= 2;
            w *= 2;
            RECORD(OP_UPSAMPLE, &up->upsampler, cur, -1, NULL, upsampled, C, h, w);
        }
    }
    if (nskips != 0 || h != H || w != W) {
        s = ow_error_set(err, OW_ERR_FORMAT, "unet training: %d skips left, output %dx%d", nskips, h, w);
        goto fail_skips;
    }
    t->final_value = cur;
    free(skips);
    skips = NULL;
#undef RECORD
#undef STEP

    /* out = conv_out(silu(conv_norm_out(hidden))) */
    {
        float *normed;
        ALLOC(normed, (size_t)B * C0 * H * W);
        b->group_norm(b, normed, t->values[cur].data, u->conv_norm_out.weight.data, u->conv_norm_out.bias.data, B, C0,
                      H * W, cfg->norm_num_groups, cfg->norm_eps, 1);
        b->conv2d(b, out, normed, &u->conv_out.weight, u->conv_out.bias.data, B, C0, H, W, cfg->out_channels, 3, 3,
                  1, 1);
        ow_run_free(run, normed);
    }
    *tape = t;
    return OW_OK;
fail_skips:
    free(skips);
fail:
    ow_unet_tape_free(t);
    return s;
#undef TRY
#undef ALLOC
}

/* grads[v] += g (g is taken over: freed, or kept as grads[v]). */
static void accumulate(ow_unet_tape *t, float **grads, int v, float *g) {
    if (!g) return;
    if (!grads[v]) {
        grads[v] = g;
        return;
    }
    const unet_value *val = &t->values[v];
    t->run.backend->add(t->run.backend, grads[v], grads[v], g, (size_t)t->B * val->C * val->H * val->W);
    ow_run_free(&t->run, g);
}

/* Whether the gradient of value v is needed: it depends on the context. */
static int needs_gradient(const ow_unet_tape *t, int v) {
    return t->first_context_op >= 0 && t->values[v].producer >= t->first_context_op;
}

ow_status ow_unet_backward_context(ow_unet *u, ow_backend *b, ow_unet_tape *t, const float *dout, float *dcontext,
                                   ow_error *err) {
    const ow_unet_config *cfg = &u->config;
    if (!t || t->used) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unet backward: no tape, or the tape was used");
    if (b != u->backend || t->run.backend != b)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unet backward: called with another backend than the forward");
    t->used = 1;
    t->err = err;
    ow_run_set_error(&t->run, err);
    if (t->first_context_op < 0) return OW_OK; /* no transformer: the context is not used */
    ow_run *run = &t->run;
    const int B = t->B, T = t->T, C0 = cfg->block_out_channels[0];
    const unet_value *fin = &t->values[t->final_value];
    const int H = fin->H, W = fin->W, HW = H * W, G = cfg->norm_num_groups;
    float **grads = calloc((size_t)t->nvalues, sizeof *grads);
    if (!grads) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "unet backward: out of memory");
    ow_status s = OW_OK;

    /* out = conv_out(silu(conv_norm_out(final))) */
    {
        float *mean = ow_run_alloc(run, (size_t)B * G), *rstd = ow_run_alloc(run, (size_t)B * G);
        float *normed = ow_run_alloc(run, (size_t)B * C0 * HW), *dnormed = ow_run_alloc(run, (size_t)B * C0 * HW);
        float *dfinal = ow_run_alloc(run, (size_t)B * C0 * HW);
        if (!mean || !rstd || !normed || !dnormed || !dfinal) { s = run->err->status; goto done; }
        b->group_norm_train(b, normed, mean, rstd, fin->data, u->conv_norm_out.weight.data, u->conv_norm_out.bias.data,
                            B, C0, HW, G, cfg->norm_eps, 1);
        ow_run_free(run, normed);
        b->conv2d_backward(b, dnormed, dout, &u->conv_out.weight, B, C0, H, W, cfg->out_channels, 3, 3, 1, 1, 1, 1, 1);
        b->group_norm_backward(b, dfinal, dnormed, fin->data, u->conv_norm_out.weight.data, u->conv_norm_out.bias.data,
                               mean, rstd, B, C0, HW, G, 1);
        ow_run_free(run, dnormed);
        ow_run_free(run, mean);
        ow_run_free(run, rstd);
        grads[t->final_value] = dfinal;
    }

    for (int k = t->nops - 1; k >= t->first_context_op && s == OW_OK; k--) {
        unet_op *op = &t->ops[k];
        float *g = grads[op->out];
        if (!g) continue;
        const unet_value *in = &t->values[op->in];
        const int want_dx = needs_gradient(t, op->in);
        float *dx = NULL;
        switch (op->kind) {
        case OP_RESNET:
            if (want_dx)
                s = ow_resnet_backward(run, op->block, in->data, t->temb, t->temb_rows, g, B, in->H, in->W, op->saved,
                                       &dx);
            else
                ow_resnet_tape_free(run, op->saved);
            op->saved = NULL; /* consumed */
            break;
        case OP_TRANSFORMER:
            s = ow_transformer2d_backward(run, op->block, in->data, t->context, g, B, in->H, in->W, T, op->saved,
                                          want_dx ? &dx : NULL, dcontext);
            op->saved = NULL; /* consumed */
            break;
        case OP_DOWNSAMPLE:
            if (want_dx)
                s = ow_downsample_backward(run, op->block, g, B, in->H, in->W, cfg->downsample_padding, &dx);
            break;
        case OP_UPSAMPLE:
            if (want_dx) s = ow_upsample_backward(run, op->block, g, B, in->H, in->W, &dx);
            break;
        case OP_CONCAT: {
            const unet_value *skip = &t->values[op->in2];
            const int want_skip = needs_gradient(t, op->in2);
            float *dskip = NULL;
            if (want_dx && !(dx = ow_run_alloc(run, (size_t)B * in->C * in->H * in->W))) s = run->err->status;
            if (s == OW_OK && want_skip && !(dskip = ow_run_alloc(run, (size_t)B * skip->C * skip->H * skip->W)))
                s = run->err->status;
            if (s == OW_OK && (dx || dskip)) b->concat_channels_backward(b, dx, dskip, g, B, in->C, skip->C, in->H * in->W);
            if (s == OW_OK) accumulate(t, grads, op->in2, dskip);
            break;
        }
        }
        if (s != OW_OK) break;
        accumulate(t, grads, op->in, dx);
        ow_run_free(run, g);
        grads[op->out] = NULL;
    }
done:
    for (int v = 0; v < t->nvalues; v++) ow_run_free(run, grads[v]);
    free(grads);
    return s;
}
