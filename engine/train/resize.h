/* resize.h: image resampling for training images, as PIL.Image.resize(size,
 * BICUBIC) does it (the reference's and the diffusers example's default): a
 * separable cubic convolution (a = -0.5) whose support widens by the scale factor
 * when shrinking, so a large photo is averaged, not aliased. */
#ifndef OW_TRAIN_RESIZE_H
#define OW_TRAIN_RESIZE_H

#include "oneword.h"

/* dst (out_h, out_w, channels) = src (h, w, channels) resampled; values are not
 * clamped (cubic weights overshoot at edges: clamp after when the range matters). */
ow_status ow_resize_bicubic(const float *src, int w, int h, int channels, float *dst, int out_w, int out_h,
                            ow_error *err);

#endif
