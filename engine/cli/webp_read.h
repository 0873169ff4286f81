/* webp_read.h: reading a WebP into float RGB and alpha for training (libwebp:
 * lossy, lossless, with or without alpha). Animated files are refused. */
#ifndef OW_CLI_WEBP_READ_H
#define OW_CLI_WEBP_READ_H

#include <stddef.h>

/* *rgb (height, width, 3) floats in [0, 1] as stored (not premultiplied), malloc'ed;
 * *alpha (height, width) in [0, 1], malloc'ed, or NULL when the file has no alpha. On
 * failure returns -1 and a message in why (cap bytes): a truncated file, an animated
 * one, or one over 64 Mi pixels (libwebp holds a lossless picture whole while decoding
 * it) is refused before anything is decoded. */
int webp_read_rgb_float(const char *path, float **rgb, float **alpha, int *width, int *height, char *why, size_t cap);

#endif
