/* tiff_read.h: reading a TIFF into float RGB and alpha for training (libtiff):
 * 8- and 16-bit grayscale, RGB and palette images with or without alpha at full
 * precision; every other kind libtiff's RGBA interface knows (1-bit, CMYK, YCbCr,
 * JPEG-in-TIFF, tiles, separate planes) at 8 bits. Turned upright by the
 * orientation tag as EXIF orientation is; of a multi-page file the first page. */
#ifndef OW_CLI_TIFF_READ_H
#define OW_CLI_TIFF_READ_H

#include <stddef.h>

/* *rgb (height, width, 3) floats in [0, 1] as the colour is (not premultiplied:
 * associated alpha is divided out), malloc'ed; *alpha (height, width) in [0, 1],
 * malloc'ed, or NULL when the image has no alpha. Both upright by the orientation
 * tag (*orientation gets it, 1..8). *pages: how many pages (directories) the file
 * holds; the first is read. On failure returns -1 and a message in why (cap bytes).
 * Images over 16384 pixels a side or 64 Mi pixels, and files over 1 GiB, are refused;
 * what is held besides the file grows with the rows decoded, and libtiff's
 * allocations are capped. */
int tiff_read_rgb_float(const char *path, float **rgb, float **alpha, int *width, int *height, int *orientation,
                        int *pages, char *why, size_t cap);

#endif
