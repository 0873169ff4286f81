/* layer_pixels.c: float RGB -> new layer (gegl_buffer_set in "R'G'B' float"),
 * drawable -> float RGB composited over white (gegl_buffer_get in "R'G'B'A float";
 * the straight alpha a gives c * a + 1 * (1 - a)) with its alpha, and a layer mask as
 * floats ("Y float"): Learn's pictures and loss weights. */
#include "layer_pixels.h"

#include <gegl.h>

GimpLayer *plugin_layer_from_rgb(GimpImage *image, const char *name, const float *rgb, int width, int height) {
    GimpImageType type = gimp_image_get_base_type(image) == GIMP_GRAY ? GIMP_GRAY_IMAGE : GIMP_RGB_IMAGE;
    GimpLayer *layer = gimp_layer_new(image, name, width, height, type, 100.0, GIMP_LAYER_MODE_NORMAL);
    if (!layer) return NULL;
    GeglBuffer *buffer = gimp_drawable_get_buffer(GIMP_DRAWABLE(layer));
    gegl_buffer_set(buffer, GEGL_RECTANGLE(0, 0, width, height), 0, babl_format("R'G'B' float"), rgb,
                    GEGL_AUTO_ROWSTRIDE);
    gegl_buffer_flush(buffer);
    g_object_unref(buffer);
    return layer;
}

float *plugin_drawable_to_rgb(GimpDrawable *drawable, int *width, int *height, float **alpha) {
    if (alpha) *alpha = NULL;
    int w = gimp_drawable_get_width(drawable), h = gimp_drawable_get_height(drawable);
    size_t n = (size_t)w * (size_t)h;
    float *rgba = g_try_malloc(n * 4 * sizeof *rgba);
    float *rgb = g_try_malloc(n * 3 * sizeof *rgb);
    if (!rgba || !rgb) {
        g_free(rgba);
        g_free(rgb);
        return NULL;
    }
    GeglBuffer *buffer = gimp_drawable_get_buffer(drawable);
    gegl_buffer_get(buffer, GEGL_RECTANGLE(0, 0, w, h), 1.0, babl_format("R'G'B'A float"), rgba, GEGL_AUTO_ROWSTRIDE,
                    GEGL_ABYSS_NONE);
    g_object_unref(buffer);
    for (size_t i = 0; i < n; i++) {
        float a = rgba[4 * i + 3];
        for (int c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c] * a + (1.0f - a);
    }
    if (alpha && gimp_drawable_has_alpha(drawable) && (*alpha = g_try_malloc(n * sizeof **alpha)))
        for (size_t i = 0; i < n; i++) (*alpha)[i] = rgba[4 * i + 3];
    g_free(rgba);
    *width = w;
    *height = h;
    return rgb;
}

float *plugin_layer_mask_values(GimpLayer *layer) {
    GimpLayerMask *mask = gimp_layer_get_mask(layer);
    if (!mask) return NULL;
    GimpDrawable *drawable = GIMP_DRAWABLE(mask);
    int w = gimp_drawable_get_width(drawable), h = gimp_drawable_get_height(drawable);
    float *values = g_try_malloc((size_t)w * (size_t)h * sizeof *values);
    if (!values) return NULL;
    GeglBuffer *buffer = gimp_drawable_get_buffer(drawable);
    gegl_buffer_get(buffer, GEGL_RECTANGLE(0, 0, w, h), 1.0, babl_format("Y float"), values, GEGL_AUTO_ROWSTRIDE,
                    GEGL_ABYSS_NONE);
    g_object_unref(buffer);
    return values;
}

int plugin_layer_set_mask_values(GimpLayer *layer, const float *values) {
    GimpLayerMask *mask = gimp_layer_create_mask(layer, GIMP_ADD_MASK_WHITE);
    if (!mask || !gimp_layer_add_mask(layer, mask)) return 0;
    GimpDrawable *drawable = GIMP_DRAWABLE(mask);
    int w = gimp_drawable_get_width(drawable), h = gimp_drawable_get_height(drawable);
    GeglBuffer *buffer = gimp_drawable_get_buffer(drawable);
    gegl_buffer_set(buffer, GEGL_RECTANGLE(0, 0, w, h), 0, babl_format("Y float"), values, GEGL_AUTO_ROWSTRIDE);
    gegl_buffer_flush(buffer);
    g_object_unref(buffer);
    return 1;
}
