/* image_orient.h: turning a decoded picture upright by its EXIF / TIFF orientation
 * (1..8, the tag 0x0112 both formats share), as viewers, GIMP and PIL's
 * ImageOps.exif_transpose show it. */
#ifndef OW_CLI_IMAGE_ORIENT_H
#define OW_CLI_IMAGE_ORIENT_H

/* dst (out_h, out_w, channels) = src (h, w, channels) turned upright for orientation o
 * (1 or out of range: copied as is; 5..8 swap width and height). dst holds w x h x
 * channels floats and is not src. */
void image_orient(const float *src, int w, int h, int channels, int o, float *dst, int *out_w, int *out_h);

/* *pixels (h, w, channels), malloc'ed, replaced by its upright copy (freed);
 * *w and *h become the upright size. -1 when out of memory (*pixels kept). */
int image_orient_in_place(float **pixels, int *w, int *h, int channels, int o);

#endif
