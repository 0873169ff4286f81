/* blocks.h: the building blocks shared by the UNet and the VAE (diffusers names):
 * Linear / Conv2d / norm parameters, ResnetBlock2D, Attention, BasicTransformerBlock,
 * Transformer2DModel, the VAE's single-head spatial attention, Downsample2D and
 * Upsample2D, plus the activation bookkeeping every forward pass uses.
 *
 * Loading: each block is loaded from an ow_weights by its key prefix
 * ("down_blocks.0.resnets.1"); on failure the partly loaded block is freed by the
 * caller with the matching *_free (safe on zeroed or partly filled structs).
 * Forward: inputs and outputs are backend memory; outputs are allocated through
 * the ow_run and belong to the caller (release with ow_run_free). */
#ifndef OW_MODEL_BLOCKS_H
#define OW_MODEL_BLOCKS_H

#include <stddef.h>

#include "backend/backend.h"
#include "core/tensor.h"
#include "model/weights.h"
#include "oneword.h"

/* ---------------------------------------------------------------- loading */

/* Formats a tensor key into out (cap bytes) and returns out; a name that does not
 * fit comes back empty (and is then reported as a missing tensor). */
const char *ow_key_format(char *out, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

typedef struct ow_loader {
    const ow_weights *weights;
    ow_backend *backend;
    ow_error *err;
} ow_loader;

/* torch Linear: weight (out, in), bias (out) or absent. A weight stored as a 1x1
 * conv (out, in, 1, 1) is accepted too: its memory is the same. */
typedef struct ow_linear {
    ow_matrix weight; /* (out, in) */
    ow_tensor bias;   /* (out), data NULL when absent */
    int in, out;
} ow_linear;

/* torch Conv2d (square kernel): weight (out, in, k, k), bias (out). */
typedef struct ow_conv {
    ow_matrix weight; /* (out, in * k * k) */
    ow_tensor bias;   /* (out) */
    int in, out, kernel;
} ow_conv;

/* GroupNorm / LayerNorm affine parameters. */
typedef struct ow_norm {
    ow_tensor weight; /* (channels) */
    ow_tensor bias;   /* (channels) */
    int channels;
} ow_norm;

/* name is the key prefix; ".weight" / ".bias" are appended. */
ow_status ow_load_linear(ow_loader *L, ow_linear *l, const char *name, int in, int out, int has_bias);
ow_status ow_load_conv(ow_loader *L, ow_conv *c, const char *name, int in, int out, int kernel);
ow_status ow_load_norm(ow_loader *L, ow_norm *n, const char *name, int channels);
void ow_linear_free(ow_backend *b, ow_linear *l);
void ow_conv_free(ow_backend *b, ow_conv *c);
void ow_norm_free(ow_backend *b, ow_norm *n);

/* ---------------------------------------------------------------- activations */

/* One forward pass's activation allocations: every buffer is recorded so a failed
 * pass frees what it holds (ow_run_end) and the peak is known. */
typedef struct ow_run_buffer {
    float *data;
    size_t count;
} ow_run_buffer;

typedef struct ow_run {
    ow_backend *backend;
    ow_error *err;          /* the caller's, or own_err when the caller gave none: never NULL */
    ow_error own_err;
    ow_run_buffer *buffers; /* live buffers */
    int count, capacity;
    size_t live_floats, peak_floats;
} ow_run;

void ow_run_begin(ow_run *run, ow_backend *b, ow_error *err);
/* Where the run reports from now on: err, or its own error when err is NULL. */
void ow_run_set_error(ow_run *run, ow_error *err);
/* count floats in backend memory; NULL (and err set to OW_ERR_OUT_OF_MEMORY) on failure. */
float *ow_run_alloc(ow_run *run, size_t count);
void ow_run_free(ow_run *run, float *p);
/* Frees every buffer still live (all of them after a failure) and the bookkeeping. */
void ow_run_end(ow_run *run);

/* ---------------------------------------------------------------- blocks */

/* diffusers ResnetBlock2D (time_scale_shift "default", output_scale_factor 1):
 * x + conv2(silu(norm2(conv1(silu(norm1(x))) + time_emb_proj(silu(temb))))),
 * the skip through conv_shortcut when the channel count changes. */
typedef struct ow_resnet_block {
    int in_channels, out_channels, temb_channels; /* temb_channels 0: no time embedding (VAE) */
    int groups;
    float eps;
    ow_norm norm1;           /* (C_in) */
    ow_conv conv1;           /* (C_out, C_in, 3, 3) */
    ow_linear time_emb_proj; /* (C_out, T) when temb_channels > 0 */
    ow_norm norm2;           /* (C_out) */
    ow_conv conv2;           /* (C_out, C_out, 3, 3) */
    ow_conv conv_shortcut;   /* (C_out, C_in, 1, 1) when C_in != C_out */
} ow_resnet_block;

ow_status ow_resnet_load(ow_loader *L, ow_resnet_block *r, const char *name, int in_channels, int out_channels,
                         int temb_channels, int groups, float eps);
void ow_resnet_free(ow_backend *b, ow_resnet_block *r);
/* x (B, C_in, H, W), temb_silu (B, T) = silu(time embedding) or NULL -> *out (B, C_out, H, W). */
ow_status ow_resnet_forward(ow_run *run, const ow_resnet_block *r, const float *x, const float *temb_silu, int B,
                            int H, int W, float **out);
/* The same with temb_silu (temb_rows, T): temb_rows B (one row per item) or 1 (one row
 * shared by the batch, folded into conv1's bias: one pass less over the activation). */
ow_status ow_resnet_forward_temb(ow_run *run, const ow_resnet_block *r, const float *x, const float *temb_silu,
                                 int temb_rows, int B, int H, int W, float **out);

/* The first half of the block, shared by the forward and the training backward:
 * *out (B, C_out, H, W) = conv1(silu(norm1(x))) + the time term. mean1 and rstd1
 * (B, groups) receive norm1's statistics when not NULL (the backward's recomputation). */
/* out = conv2(normed2) + shortcut(x): the end of a resnet, from normed2 = silu(norm2(h))
 * (B, C_out, H, W), which it frees. */
ow_status ow_resnet_output(ow_run *run, const ow_resnet_block *r, const float *x, float *normed2, int B, int H, int W,
                           float **out);
ow_status ow_resnet_hidden(ow_run *run, const ow_resnet_block *r, const float *x, const float *temb_silu, int temb_rows,
                           int B, int H, int W, float *mean1, float *rstd1, float **out);

/* diffusers Attention as used by the UNet transformer blocks and the VAE mid
 * block: to_q, to_k, to_v (bias optional), to_out.0 (bias); heads of head_dim. */
typedef struct ow_attention {
    int query_dim, context_dim, heads, head_dim;
    ow_linear to_q;   /* (heads*head_dim, query_dim) */
    ow_linear to_k;   /* (heads*head_dim, context_dim) */
    ow_linear to_v;   /* (heads*head_dim, context_dim) */
    ow_linear to_out; /* to_out.0: (query_dim, heads*head_dim) + bias */
} ow_attention;

/* BasicTransformerBlock (layer_norm, GEGLU feed-forward): self-attention, cross-attention
 * over the context, feed-forward, each pre-normed and added to the stream. */
typedef struct ow_transformer_block {
    int dim, ff_inner;
    ow_norm norm1;         /* (D) */
    ow_attention attn1;    /* self */
    ow_norm norm2;         /* (D) */
    ow_attention attn2;    /* cross, keys/values from the context (B, T, C_ctx) */
    ow_norm norm3;         /* (D) */
    ow_linear ff_proj;     /* ff.net.0.proj: (2*F, D), GEGLU */
    ow_linear ff_out;      /* ff.net.2: (D, F) */
} ow_transformer_block;

/* Transformer2DModel (continuous input): GroupNorm(eps 1e-6) -> proj_in (1x1 conv
 * or linear: the same product) -> blocks over HW tokens -> proj_out -> + x. */
typedef struct ow_transformer2d {
    int channels, inner, heads, head_dim, context_dim, groups, num_layers;
    ow_norm norm;                            /* (C) */
    ow_linear proj_in;                       /* (inner, C) */
    ow_transformer_block *transformer_blocks; /* num_layers */
    ow_linear proj_out;                      /* (C, inner) */
} ow_transformer2d;

ow_status ow_transformer2d_load(ow_loader *L, ow_transformer2d *t, const char *name, int channels, int heads,
                                int num_layers, int context_dim, int groups);
void ow_transformer2d_free(ow_backend *b, ow_transformer2d *t);
/* x (B, C, H, W), context (B, T, C_ctx) -> *out (B, C, H, W). */
ow_status ow_transformer2d_forward(ow_run *run, const ow_transformer2d *t, const float *x, const float *context,
                                   int B, int H, int W, int T, float **out);
/* The cross-attention keys and values of every layer for one context (B, T, C_ctx):
 * kv (num_layers, 2, B, T, inner), ow_transformer2d_cross_kv_floats of them. They
 * depend on the context only, so a sampler's steps compute them once. */
size_t ow_transformer2d_cross_kv_floats(const ow_transformer2d *t, int B, int T);
void ow_transformer2d_cross_kv(ow_backend *b, const ow_transformer2d *t, const float *context, int B, int T,
                               float *kv);
/* ow_transformer2d_forward with cross_kv from ow_transformer2d_cross_kv for this context (or NULL). */
ow_status ow_transformer2d_forward_kv(ow_run *run, const ow_transformer2d *t, const float *x, const float *context,
                                      const float *cross_kv, int B, int H, int W, int T, float **out);

/* The VAE mid-block attention: GroupNorm -> single-head attention over the HW
 * tokens (q/k/v/out with biases) -> + x. Old diffusers files name the projections
 * query / key / value / proj_attn; both spellings load. */
typedef struct ow_spatial_attention {
    int channels, groups;
    float eps;
    ow_norm group_norm; /* (C) */
    ow_attention attn;  /* heads 1, head_dim C */
} ow_spatial_attention;

ow_status ow_spatial_attention_load(ow_loader *L, ow_spatial_attention *a, const char *name, int channels, int groups,
                                    float eps);
void ow_spatial_attention_free(ow_backend *b, ow_spatial_attention *a);
/* x (B, C, H, W) -> *out (B, C, H, W). */
ow_status ow_spatial_attention_forward(ow_run *run, const ow_spatial_attention *a, const float *x, int B, int H,
                                       int W, float **out);

/* Downsample2D: conv 3x3 stride 2. pad >= 0: symmetric padding (UNet: 1);
 * pad < 0: pads right and bottom by one (the VAE encoder's (0,1,0,1)), with the
 * backend's conv2d_pad4 when it has one, else through a zero-padded copy.
 * x (B, C, H, W) -> *out (B, C_out, Ho, Wo); Ho, Wo returned. */
ow_status ow_downsample_forward(ow_run *run, const ow_conv *conv, const float *x, int B, int H, int W, int pad,
                                float **out, int *Ho, int *Wo);
/* Upsample2D: nearest 2x then conv 3x3 pad 1. x (B, C, H, W) -> *out (B, C_out, 2H, 2W). */
ow_status ow_upsample_forward(ow_run *run, const ow_conv *conv, const float *x, int B, int H, int W, float **out);
/* conv with bias: x (B, C, H, W) -> *out (B, O, Ho, Wo) for stride 1 and "same" padding (k/2). */
ow_status ow_conv_forward(ow_run *run, const ow_conv *conv, const float *x, int B, int H, int W, float **out);

#endif
