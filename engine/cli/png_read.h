/* png_read.h: reading a PNG into float RGB and alpha for training (libpng's
 * simplified API: any bit depth, grayscale, palette, tRNS). */
#ifndef OW_CLI_PNG_READ_H
#define OW_CLI_PNG_READ_H

#include <stddef.h>

/* *rgb (height, width, 3) floats in [0, 1] as stored (not composited, not
 * premultiplied), malloc'ed; *alpha (height, width) in [0, 1], malloc'ed, or NULL
 * when the file has no alpha channel (nor a tRNS chunk). On failure returns -1 and a
 * message in why (cap bytes). Images over 16384 pixels a side are refused. */
int png_read_rgb_float(const char *path, float **rgb, float **alpha, int *width, int *height, char *why, size_t cap);

#endif
