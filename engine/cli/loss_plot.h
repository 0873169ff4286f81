/* loss_plot.h: the loss curve of a learning run as a picture (RUN_DIR/loss.png):
 * every step's loss as a light dot, their moving average as a dark line, on a grid
 * from 0 to the largest loss, with the step and loss scales written in digits. */
#ifndef OW_CLI_LOSS_PLOT_H
#define OW_CLI_LOSS_PLOT_H

#include "oneword.h"

enum { LOSS_PLOT_WIDTH = 800, LOSS_PLOT_HEIGHT = 400 };

/* The plot area inside the picture, in pixels (the rest holds the scales). */
enum { LOSS_PLOT_LEFT = 70, LOSS_PLOT_RIGHT = 780, LOSS_PLOT_TOP = 20, LOSS_PLOT_BOTTOM = 360 };

/* rgb (LOSS_PLOT_HEIGHT, LOSS_PLOT_WIDTH, 3) floats in [0, 1]: losses of steps
 * 1..n (n >= 1). Step s lies at x = LEFT + (s - 1) (RIGHT - LEFT) / max(n - 1, 1), loss
 * l at y = BOTTOM - l (BOTTOM - TOP) / top, top = the largest loss rounded up to a
 * scale step (*top gets it). */
void loss_plot_draw(float *rgb, const float *losses, int n, double *top);

/* The curve of RUN_DIR/log.csv (step,loss,...) written to png_path. */
ow_status loss_plot_from_csv(const char *csv_path, const char *png_path, ow_error *err);

#endif
