/* clip_text_train.h: the CLIP text encoder in training: a forward pass that keeps
 * what its backward needs (a tape), and the backward pass from the gradient of the
 * encoder output down to the trained embedding rows (textual inversion: the rows
 * of ow_clip_text_extra). Weights are frozen: no weight gradient is computed.
 *
 * The tape holds, per layer, the layer input, both layer norms' mean/rstd, q/k/v,
 * the attention output and its log-sum-exp, the stream after attention and the
 * MLP pre-activation: (2 H + 4 A + I + 4) B*T + B heads T floats a layer (A: the q/k/v width) plus the final
 * norm's input (the inputs of the linear layers are not needed: only input
 * gradients are taken), about 5 MB a layer for SD's encoder at B = 2, T = 77;
 * ow_clip_text_tape_floats plans it before anything runs. */
#ifndef OW_MODEL_CLIP_TEXT_TRAIN_H
#define OW_MODEL_CLIP_TEXT_TRAIN_H

#include "model/clip_text.h"

typedef struct ow_clip_text_tape ow_clip_text_tape;

/* Floats the tape of one (B, T) pass holds in backend memory. */
size_t ow_clip_text_tape_floats(const ow_clip_text_config *config, int B, int T, int clip_skip);

/* ow_clip_text_forward (same arguments, same out) that also records a tape for
 * ow_clip_text_backward; *tape is freed with ow_clip_text_tape_free. */
ow_status ow_clip_text_forward_train(const ow_clip_text *enc, ow_backend *backend, const int32_t *ids, int B, int T,
                                     int clip_skip, const ow_clip_text_extra *extra, float *out,
                                     ow_clip_text_tape **tape, ow_error *err);

/* From dout (B, T, H) = dL/d(out) of the pass the tape recorded, accumulates
 * dL/d(extra rows) into drows (extra->count, H) (backend memory, +=): the
 * gradient of every position whose id selected an extra row. Frozen vocabulary
 * rows and the position embeddings get nothing. */
ow_status ow_clip_text_backward(const ow_clip_text *enc, ow_backend *backend, const ow_clip_text_tape *tape,
                                const float *dout, float *drows, ow_error *err);

void ow_clip_text_tape_free(ow_backend *backend, ow_clip_text_tape *tape);

#endif
