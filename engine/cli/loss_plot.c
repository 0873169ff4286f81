/* loss_plot.c: the loss curve picture (loss_plot.h), drawn by hand: dots, lines and
 * a 3x5 pixel digit font, no plotting library. */
#include "loss_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "png_write.h"

#define W LOSS_PLOT_WIDTH
#define H LOSS_PLOT_HEIGHT
#define MAX_STEPS 1000000

static void put(float *rgb, int x, int y, float r, float g, float b) {
    if (x < 0 || x >= W || y < 0 || y >= H) return;
    float *p = rgb + ((size_t)y * W + x) * 3;
    p[0] = r;
    p[1] = g;
    p[2] = b;
}

static void fill(float *rgb, int x0, int y0, int x1, int y1, float r, float g, float b) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) put(rgb, x, y, r, g, b);
}

/* A 2-pixel-wide segment from (x0, y0) to (x1, y1). */
static void line(float *rgb, double x0, double y0, double x1, double y1, float r, float g, float b) {
    const int n = (int)fmax(fabs(x1 - x0), fabs(y1 - y0)) + 1;
    for (int i = 0; i <= n; i++) {
        const double t = (double)i / n;
        const int x = (int)lround(x0 + t * (x1 - x0)), y = (int)lround(y0 + t * (y1 - y0));
        fill(rgb, x, y, x + 1, y + 1, r, g, b);
    }
}

/* 3x5 glyphs, each row 3 bits (left = 4), for the characters of printed numbers. */
static const char glyph_chars[] = "0123456789.-e+";
static const unsigned char glyphs[][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    {0, 0, 0, 0, 2}, {0, 0, 7, 0, 0}, {0, 7, 7, 4, 7}, {0, 2, 7, 2, 0},
};

/* text at 2x scale, its left edge at x (or its right edge, when right_align), top at y. */
static void text(float *rgb, const char *s, int x, int y, int right_align) {
    const int advance = 8, len = (int)strlen(s);
    if (right_align) x -= len * advance - 2;
    for (int i = 0; i < len; i++) {
        const char *at = strchr(glyph_chars, s[i]);
        if (!at || !s[i]) continue;
        const unsigned char *g = glyphs[at - glyph_chars];
        for (int row = 0; row < 5; row++)
            for (int col = 0; col < 3; col++)
                if (g[row] & (4 >> col)) fill(rgb, x + i * advance + 2 * col, y + 2 * row, x + i * advance + 2 * col + 1,
                                              y + 2 * row + 1, 0.2f, 0.2f, 0.2f);
    }
}

/* The smallest of 1, 2, 2.5, 5 x 10^k at or above v (v > 0). */
static double nice_ceiling(double v) {
    const double mag = pow(10.0, floor(log10(v)));
    const double steps[] = {1.0, 2.0, 2.5, 5.0, 10.0};
    for (int i = 0; i < 5; i++)
        if (steps[i] * mag >= v * (1.0 - 1e-12)) return steps[i] * mag;
    return 10.0 * mag;
}

void loss_plot_draw(float *rgb, const float *losses, int n, double *top_out) {
    for (size_t i = 0; i < (size_t)W * H * 3; i++) rgb[i] = 1.0f;
    double largest = 0.0;
    for (int i = 0; i < n; i++)
        if (isfinite(losses[i]) && losses[i] > largest) largest = losses[i];
    const double top = largest > 0.0 ? nice_ceiling(largest) : 1.0;
    if (top_out) *top_out = top;
    const double span_x = LOSS_PLOT_RIGHT - LOSS_PLOT_LEFT, span_y = LOSS_PLOT_BOTTOM - LOSS_PLOT_TOP;
#define X_OF(step) (LOSS_PLOT_LEFT + ((step) - 1) * span_x / (n > 1 ? n - 1 : 1))
#define Y_OF(loss) (LOSS_PLOT_BOTTOM - (loss) * span_y / top)

    /* grid and scales: 5 loss levels, 5 step marks */
    char label[32];
    for (int k = 0; k <= 4; k++) {
        const int y = (int)lround(LOSS_PLOT_BOTTOM - k * span_y / 4);
        fill(rgb, LOSS_PLOT_LEFT, y, LOSS_PLOT_RIGHT, y, 0.88f, 0.88f, 0.88f);
        snprintf(label, sizeof label, "%.3g", top * k / 4);
        text(rgb, label, LOSS_PLOT_LEFT - 8, y - 5, 1);
        const int step = k == 0 ? 1 : (int)lround(1 + (n - 1) * k / 4.0);
        const int x = (int)lround(X_OF(step));
        fill(rgb, x, LOSS_PLOT_TOP, x, LOSS_PLOT_BOTTOM, 0.88f, 0.88f, 0.88f);
        snprintf(label, sizeof label, "%d", step);
        text(rgb, label, k == 4 ? x + 2 : x - 4, LOSS_PLOT_BOTTOM + 12, k == 4);
    }
    fill(rgb, LOSS_PLOT_LEFT, LOSS_PLOT_TOP, LOSS_PLOT_LEFT, LOSS_PLOT_BOTTOM, 0.3f, 0.3f, 0.3f);
    fill(rgb, LOSS_PLOT_LEFT, LOSS_PLOT_BOTTOM, LOSS_PLOT_RIGHT, LOSS_PLOT_BOTTOM, 0.3f, 0.3f, 0.3f);

    /* every step's loss, light */
    for (int i = 0; i < n; i++) {
        if (!isfinite(losses[i])) continue;
        const int x = (int)lround(X_OF(i + 1)), y = (int)lround(Y_OF(losses[i]));
        fill(rgb, x - 1, y - 1, x + 1, y + 1, 0.65f, 0.78f, 0.95f);
    }
    /* the trailing mean over max(1, n / 25) steps, dark */
    const int window = n / 25 > 1 ? n / 25 : 1;
    double sum = 0.0, px = 0.0, py = 0.0;
    int count = 0, have = 0;
    for (int i = 0; i < n; i++) {
        if (isfinite(losses[i])) sum += losses[i], count++;
        if (i >= window && isfinite(losses[i - window])) sum -= losses[i - window], count--;
        if (count == 0) continue;
        const double x = X_OF(i + 1), y = Y_OF(sum / count);
        if (have) line(rgb, px, py, x, y, 0.1f, 0.3f, 0.7f);
        else fill(rgb, (int)lround(x), (int)lround(y), (int)lround(x) + 1, (int)lround(y) + 1, 0.1f, 0.3f, 0.7f);
        px = x, py = y, have = 1;
    }
#undef X_OF
#undef Y_OF
}

ow_status loss_plot_from_csv(const char *csv_path, const char *png_path, ow_error *err) {
    FILE *f = fopen(csv_path, "r");
    if (!f) return ow_error_set(err, OW_ERR_IO, "cannot read %s: %s", csv_path, strerror(errno));
    /* losses by step: a resumed run appends, repeating the steps after its last state */
    float *losses = NULL;
    int n = 0, cap = 0;
    char row[256];
    while (fgets(row, sizeof row, f)) {
        int step;
        float loss;
        if (sscanf(row, "%d,%f", &step, &loss) != 2 || step < 1 || step > MAX_STEPS) continue;
        if (step > cap) {
            int c = cap ? cap : 1024;
            while (c < step) c *= 2;
            float *grown = realloc(losses, (size_t)c * sizeof *grown);
            if (!grown) break;
            for (int i = cap; i < c; i++) grown[i] = NAN;
            losses = grown;
            cap = c;
        }
        losses[step - 1] = loss;
        if (step > n) n = step;
    }
    fclose(f);
    if (n == 0) {
        free(losses);
        return ow_error_set(err, OW_ERR_FORMAT, "%s holds no step", csv_path);
    }
    float *rgb = malloc((size_t)W * H * 3 * sizeof *rgb);
    if (!rgb) {
        free(losses);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory drawing the loss curve");
    }
    loss_plot_draw(rgb, losses, n, NULL);
    const png_text_entry info[] = {{"Title", "oneword learn: loss per step (dots) and its moving mean (line)"}};
    ow_status s = png_write_rgb_float(png_path, rgb, W, H, info, 1, err);
    free(rgb);
    free(losses);
    return s;
}
