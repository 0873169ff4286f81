/* png_write.h: writes 8-bit RGB PNGs with text chunks (the CLI's image output). */
#ifndef OW_CLI_PNG_WRITE_H
#define OW_CLI_PNG_WRITE_H

#include "oneword.h"

typedef struct png_text_entry {
    const char *key;
    const char *value;
} png_text_entry;

/* Writes rgb (height * width * 3 floats in [0, 1], rounded as diffusers does:
 * round(x * 255)) atomically to path, with n_text tEXt/iTXt chunks. */
ow_status png_write_rgb_float(const char *path, const float *rgb, int width, int height,
                              const png_text_entry *text, int n_text, ow_error *err);

/* Converts one [0, 1] float to 8 bits as diffusers' numpy_to_pil does. */
unsigned char png_float_to_u8(float x);

#endif
