/* unet_train.h: the UNet in textual-inversion training: a forward pass that keeps
 * every block's input (and the time embedding), and the backward pass from
 * dL/d(eps) to dL/d(context), through every block that the context reaches.
 *
 * Every block's input is kept (the skips the forward keeps anyway, plus each
 * transformer's input and each up-block resnet's concatenated input), and either
 * each differentiated block's tape too, or (gradient checkpointing at block
 * granularity) nothing more: each block's backward then recomputes its
 * intermediates (blocks_train.h). Blocks before the first
 * transformer are not differentiated (nothing there depends on the context), nor
 * are the time embedding and conv_in. No weight gradient is ever computed. */
#ifndef OW_MODEL_UNET_TRAIN_H
#define OW_MODEL_UNET_TRAIN_H

#include "model/unet.h"

typedef struct ow_unet_tape ow_unet_tape;

/* ow_unet_forward (same arguments, same out) that records a tape. context must stay
 * valid and unchanged until ow_unet_backward_context has run. checkpointing: keep
 * only block inputs and recompute each block in the backward pass; otherwise every
 * differentiated block keeps its tape (more memory, no recomputation). Both give the
 * same bits. */
ow_status ow_unet_forward_train(ow_unet *unet, ow_backend *b, const float *sample, int B, int H, int W,
                                const float *timesteps, const float *context, int T, int checkpointing, float *out,
                                ow_unet_tape **tape, ow_error *err);

/* dcontext (B, T, cross_attention_dim) += dL/d(context), given dout = dL/d(out) of the
 * pass the tape recorded (backend memory). The tape can be used once. */
ow_status ow_unet_backward_context(ow_unet *unet, ow_backend *b, ow_unet_tape *tape, const float *dout,
                                   float *dcontext, ow_error *err);

/* Floats the tape holds now, and the peak of the pass (forward or backward) so far. */
size_t ow_unet_tape_live_floats(const ow_unet_tape *tape);
size_t ow_unet_tape_peak_floats(const ow_unet_tape *tape);

void ow_unet_tape_free(ow_unet_tape *tape);

#endif
