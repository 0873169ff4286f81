/* layer_pixels.h: layers <-> the engine's float images: (H, W, 3) floats in [0, 1],
 * non-linear sRGB ("R'G'B'" in babl's words), rows top to bottom, and layer masks as
 * floats. babl converts from and to any precision and colour model GIMP stores. */
#ifndef OW_PLUGIN_LAYER_PIXELS_H
#define OW_PLUGIN_LAYER_PIXELS_H

#include <libgimp/gimp.h>

/* A new layer of image holding rgb (width x height), not yet inserted; its type follows
 * the image (RGB or grayscale; babl converts). NULL if GIMP refuses. */
GimpLayer *plugin_layer_from_rgb(GimpImage *image, const char *name, const float *rgb, int width, int height);

/* The drawable's pixels as (height, width, 3) floats with alpha composited over white
 * (what Learn trains on); *width and *height get its size. *alpha (alpha may be NULL)
 * gets its alpha (height, width) in [0, 1] when it has an alpha channel, else NULL.
 * g_free() the results. */
float *plugin_drawable_to_rgb(GimpDrawable *drawable, int *width, int *height, float **alpha);

/* The layer's mask as (height, width) floats in [0, 1] (babl "Y float"), or NULL when
 * it has none. g_free() it. */
float *plugin_layer_mask_values(GimpLayer *layer);

/* Gives the layer (inserted in its image) a mask holding values (its size, floats in
 * [0, 1]); 0 if GIMP refuses. */
int plugin_layer_set_mask_values(GimpLayer *layer, const float *values);

#endif
