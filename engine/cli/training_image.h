/* training_image.h: one training image or loss mask file, whatever its format (PNG,
 * JPEG, WebP or TIFF, told apart by its first bytes, not its name), as learn takes it:
 * float RGB upright with transparency composited over white, the alpha when it is to
 * weight the loss; or, for a mask file, its red channel (kohya's mask images). */
#ifndef OW_CLI_TRAINING_IMAGE_H
#define OW_CLI_TRAINING_IMAGE_H

#include <stddef.h>

typedef struct training_image {
    float *rgb;     /* (height, width, 3) in [0, 1], transparency composited over white */
    float *alpha;   /* (height, width) in [0, 1] when asked for and the image has alpha, else NULL */
    int width, height;
    char note[160]; /* "" or what to tell the user: "3 pages; the first is used" */
} training_image;

/* 1 when a file name ends in .png .jpg .jpeg .webp .tif or .tiff (any case): the files
 * a folder of training images contributes. */
int training_image_name(const char *name);

/* Reads path into *im (want_alpha: keep the alpha as well). On failure returns -1
 * with a message in why (cap bytes) and *im holds nothing. */
int training_image_read(const char *path, int want_alpha, training_image *im, char *why, size_t cap);

/* A mask file: *mask (height, width) in [0, 1] its red channel as stored (grayscale:
 * its gray), white = learned; its own alpha is ignored, as kohya's loader (PIL's
 * convert("RGB")) does. Turned upright as the images are. note as above. */
int training_mask_read(const char *path, float **mask, int *width, int *height, char *note, size_t note_cap,
                       char *why, size_t cap);

void training_image_free(training_image *im);

#endif
