/* resize.c: PIL-style antialiased bicubic resampling (resize.h). Each output
 * coordinate i maps to the centre (i + 0.5) * scale of the input; the filter, with
 * support 2 * max(scale, 1), is evaluated at (j + 0.5 - centre) / max(scale, 1) for
 * the input pixels j it covers, and its weights are normalised to sum to 1. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "train/resize.h"

static double cubic(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* For each of n_out outputs: first input index, count and weights (at most width each). */
typedef struct taps {
    int *first, *count, width;
    double *w; /* (n_out, width) */
} taps;

static int make_taps(taps *t, int n_in, int n_out) {
    const double scale = (double)n_in / n_out, filter_scale = scale > 1.0 ? scale : 1.0;
    const double support = 2.0 * filter_scale;
    t->width = (int)ceil(support) * 2 + 1;
    t->first = malloc((size_t)n_out * sizeof *t->first);
    t->count = malloc((size_t)n_out * sizeof *t->count);
    t->w = malloc((size_t)n_out * t->width * sizeof *t->w);
    if (!t->first || !t->count || !t->w) return 0;
    for (int i = 0; i < n_out; i++) {
        const double centre = (i + 0.5) * scale;
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        if (hi - lo > t->width) hi = lo + t->width;
        double *w = t->w + (size_t)i * t->width, sum = 0.0;
        for (int j = lo; j < hi; j++) sum += w[j - lo] = cubic((j - centre + 0.5) / filter_scale);
        for (int j = lo; j < hi; j++) w[j - lo] = sum != 0.0 ? w[j - lo] / sum : 0.0;
        t->first[i] = lo;
        t->count[i] = hi - lo;
    }
    return 1;
}

static void free_taps(taps *t) {
    free(t->first);
    free(t->count);
    free(t->w);
}

ow_status ow_resize_bicubic(const float *src, int w, int h, int channels, float *dst, int out_w, int out_h,
                            ow_error *err) {
    if (w < 1 || h < 1 || out_w < 1 || out_h < 1 || channels < 1 || channels > 4)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "cannot resize %dx%d (%d channels) to %dx%d", w, h, channels,
                            out_w, out_h);
    taps tx = {0}, ty = {0};
    float *mid = malloc((size_t)h * out_w * channels * sizeof *mid); /* (h, out_w, channels) */
    ow_status s = OW_OK;
    if (!mid || !make_taps(&tx, w, out_w) || !make_taps(&ty, h, out_h)) {
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory resizing a %dx%d image to %dx%d", w, h, out_w, out_h);
    } else {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < out_w; x++) {
                const double *wt = tx.w + (size_t)x * tx.width;
                for (int c = 0; c < channels; c++) {
                    double v = 0.0;
                    for (int k = 0; k < tx.count[x]; k++)
                        v += wt[k] * src[((size_t)y * w + tx.first[x] + k) * channels + c];
                    mid[((size_t)y * out_w + x) * channels + c] = (float)v;
                }
            }
        for (int y = 0; y < out_h; y++) {
            const double *wt = ty.w + (size_t)y * ty.width;
            for (int x = 0; x < out_w; x++)
                for (int c = 0; c < channels; c++) {
                    double v = 0.0;
                    for (int k = 0; k < ty.count[y]; k++)
                        v += wt[k] * mid[((size_t)(ty.first[y] + k) * out_w + x) * channels + c];
                    dst[((size_t)y * out_w + x) * channels + c] = (float)v;
                }
        }
    }
    free(mid);
    free_taps(&tx);
    free_taps(&ty);
    return s;
}
