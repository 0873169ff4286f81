/* image_grid.h: pictures side by side in one sheet (generate's grid.png, learn's
 * previews and its --dry-run views). */
#ifndef OW_CLI_IMAGE_GRID_H
#define OW_CLI_IMAGE_GRID_H

/* A sheet of n pictures (h, w, 3) from images, cols a row in order, gap white pixels
 * between them: (*sheet_h, *sheet_w, 3) floats, malloc'ed; NULL when out of memory. */
float *image_grid(const float *images, int n, int w, int h, int cols, int gap, int *sheet_w, int *sheet_h);

#endif
