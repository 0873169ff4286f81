/* learn_masks.h: `oneword learn --masks DIR`: each training image's loss mask is the
 * image file in DIR with the same name stem (cat.jpg -> DIR/cat.png, or cat.webp, ...),
 * as kohya's masked loss finds its mask images in conditioning_data_dir. */
#ifndef OW_CLI_LEARN_MASKS_H
#define OW_CLI_LEARN_MASKS_H

/* mask_paths[i] (malloc'ed) = the mask file of images[i] (n of them). Returns 0, or
 * 1 after printing the error (an image without a mask, two masks for one image, a
 * folder that cannot be read). *unused: files in DIR that are no image's mask;
 * *unused_example: the first of them (malloc'ed, or NULL). */
int learn_masks_find(const char *dir, char *const *images, int n, char **mask_paths, int *unused,
                     char **unused_example);

#endif
