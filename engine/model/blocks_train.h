/* blocks_train.h: backward passes of the UNet's building blocks for textual
 * inversion: gradients with respect to the block input and (for the transformers)
 * the cross-attention context, never the weights.
 *
 * Each backward recomputes its block's forward from the block input with the
 * backend's *_train ops (what the backward needs: norm statistics, attention
 * log-sum-exp, pre-activations) and then runs backward through it; what it
 * recomputed is freed before it returns. Keeping only block inputs between the
 * forward and the backward pass is gradient checkpointing at block granularity:
 * the peak is one block's intermediates on top of the block inputs. The arithmetic
 * of each recomputation is that of the block's forward in blocks.c, op for op. */
#ifndef OW_MODEL_BLOCKS_TRAIN_H
#define OW_MODEL_BLOCKS_TRAIN_H

#include "model/blocks.h"

/* dx (B, C_in, H, W) from dout (B, C_out, H, W) of ow_resnet_forward_temb(r, x, temb_silu,
 * temb_rows): the time embedding is constant (not differentiated). dx is allocated
 * through run. */
ow_status ow_resnet_backward(ow_run *run, const ow_resnet_block *r, const float *x, const float *temb_silu,
                             int temb_rows, const float *dout, int B, int H, int W, float **dx);

/* dx (B, C, H, W) from dout (B, C, H, W) of ow_transformer2d_forward(t, x, context), and
 * dcontext (B, T, C_ctx) += the context's gradient through every block's attn2 keys and
 * values (dcontext may be NULL when only dx is wanted; dx may be NULL when only the
 * context's gradient is wanted). */
ow_status ow_transformer2d_backward(ow_run *run, const ow_transformer2d *t, const float *x, const float *context,
                                    const float *dout, int B, int H, int W, int T, float **dx, float *dcontext);

/* dx (B, C, H, W) from dout (B, C_out, Ho, Wo) of ow_downsample_forward(conv, x, pad). */
ow_status ow_downsample_backward(ow_run *run, const ow_conv *conv, const float *dout, int B, int H, int W, int pad,
                                 float **dx);
/* dx (B, C, H, W) from dout (B, C_out, 2H, 2W) of ow_upsample_forward(conv, x). */
ow_status ow_upsample_backward(ow_run *run, const ow_conv *conv, const float *dout, int B, int H, int W, float **dx);
/* dx (B, C, H, W) from dout (B, O, H, W) of ow_conv_forward (stride 1, padding k/2). */
ow_status ow_conv_backward(ow_run *run, const ow_conv *conv, const float *dout, int B, int H, int W, float **dx);

#endif
