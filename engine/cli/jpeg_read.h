/* jpeg_read.h: reading a JPEG into float RGB for training (libjpeg: baseline and
 * progressive, grayscale, RGB/YCbCr and Adobe CMYK/YCCK), turned upright by its
 * EXIF orientation as every viewer (and GIMP) shows it. */
#ifndef OW_CLI_JPEG_READ_H
#define OW_CLI_JPEG_READ_H

#include <stddef.h>

/* 1 when the file starts with a JPEG's SOI marker. */
int jpeg_is_jpeg(const char *path);

/* *rgb (height, width, 3) floats in [0, 1], malloc'ed, after the EXIF orientation
 * (1..8; *orientation gets it, 1 when there is none). On failure returns -1 and a
 * message in why (cap bytes). Images over 16384 pixels a side are refused. */
int jpeg_read_rgb_float(const char *path, float **rgb, int *width, int *height, int *orientation, char *why,
                        size_t cap);

#endif
