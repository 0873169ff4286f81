/* blocks_train.h: backward passes of the UNet's building blocks for textual
 * inversion: gradients with respect to the block input and (for the transformers)
 * the cross-attention context, never the weights.
 *
 * A backward reads a tape of its block (norm statistics, attention log-sum-exp,
 * pre-activations): the one its *_forward_train kept, or, given NULL, one it
 * recomputes from the block input with the backend's *_train ops. Keeping only block
 * inputs between the forward and the backward pass and recomputing is gradient
 * checkpointing at block granularity (the peak is one block's intermediates on top
 * of the block inputs); keeping every tape spares the recomputation. A backward
 * consumes its tape. The arithmetic of *_forward_train and of each recomputation is
 * that of the block's forward in blocks.c, op for op, so both ways give the same bits. */
#ifndef OW_MODEL_BLOCKS_TRAIN_H
#define OW_MODEL_BLOCKS_TRAIN_H

#include "model/blocks.h"

typedef struct ow_resnet_tape ow_resnet_tape;               /* in run's memory */
typedef struct ow_transformer2d_tape ow_transformer2d_tape;

/* out = ow_resnet_forward_temb(r, x, temb_silu, temb_rows), and the tape its backward reads. */
ow_status ow_resnet_forward_train(ow_run *run, const ow_resnet_block *r, const float *x, const float *temb_silu,
                                  int temb_rows, int B, int H, int W, float **out, ow_resnet_tape **tape);

/* dx (B, C_in, H, W) from dout (B, C_out, H, W) of ow_resnet_forward_temb(r, x, temb_silu,
 * temb_rows): the time embedding is constant (not differentiated). tape: from
 * ow_resnet_forward_train on the same x (consumed), or NULL to recompute it. dx is
 * allocated through run. */
ow_status ow_resnet_backward(ow_run *run, const ow_resnet_block *r, const float *x, const float *temb_silu,
                             int temb_rows, const float *dout, int B, int H, int W, ow_resnet_tape *tape, float **dx);
void ow_resnet_tape_free(ow_run *run, ow_resnet_tape *tape);

/* out = ow_transformer2d_forward(t, x, context), and the tape its backward reads. */
ow_status ow_transformer2d_forward_train(ow_run *run, const ow_transformer2d *t, const float *x, const float *context,
                                         int B, int H, int W, int T, float **out, ow_transformer2d_tape **tape);

/* dx (B, C, H, W) from dout (B, C, H, W) of ow_transformer2d_forward(t, x, context), and
 * dcontext (B, T, C_ctx) += the context's gradient through every block's attn2 keys and
 * values (dcontext may be NULL when only dx is wanted; dx may be NULL when only the
 * context's gradient is wanted). tape: from ow_transformer2d_forward_train on the same
 * x and context (consumed), or NULL to recompute it. */
ow_status ow_transformer2d_backward(ow_run *run, const ow_transformer2d *t, const float *x, const float *context,
                                    const float *dout, int B, int H, int W, int T, ow_transformer2d_tape *tape,
                                    float **dx, float *dcontext);
void ow_transformer2d_tape_free(ow_run *run, ow_transformer2d_tape *tape);

/* dx (B, C, H, W) from dout (B, C_out, Ho, Wo) of ow_downsample_forward(conv, x, pad). */
ow_status ow_downsample_backward(ow_run *run, const ow_conv *conv, const float *dout, int B, int H, int W, int pad,
                                 float **dx);
/* dx (B, C, H, W) from dout (B, C_out, 2H, 2W) of ow_upsample_forward(conv, x). */
ow_status ow_upsample_backward(ow_run *run, const ow_conv *conv, const float *dout, int B, int H, int W, float **dx);
/* dx (B, C, H, W) from dout (B, O, H, W) of ow_conv_forward (stride 1, padding k/2). */
ow_status ow_conv_backward(ow_run *run, const ow_conv *conv, const float *dout, int B, int H, int W, float **dx);

#endif
