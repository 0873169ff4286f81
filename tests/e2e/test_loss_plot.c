/* test_loss_plot.c: the loss curve picture of `oneword learn` (engine/cli/loss_plot.c):
 * the scale's top is the largest loss rounded up to 1, 2, 2.5 or 5 x 10^k; a constant
 * loss draws its mean line at the top of the plot area and nothing in the middle; a
 * falling loss puts step 1's dot at the top left; a log.csv with resumed (repeated)
 * steps draws, and one without steps is an error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "loss_plot.h"

static float rgb[LOSS_PLOT_HEIGHT * LOSS_PLOT_WIDTH * 3];

static const float *at(int x, int y) { return rgb + ((size_t)y * LOSS_PLOT_WIDTH + x) * 3; }
static int is_blue(const float *p) { return p[2] > p[0] + 0.2f; }
static int is_white(const float *p) { return p[0] == 1.0f && p[1] == 1.0f && p[2] == 1.0f; }

int main(void) {
    const float maxima[] = {0.37f, 1.2f, 0.0021f, 5.0f};
    const double tops[] = {0.5, 2.0, 0.0025, 5.0};
    for (int i = 0; i < 4; i++) {
        float l[2] = {maxima[i] / 2, maxima[i]};
        double top = 0.0;
        loss_plot_draw(rgb, l, 2, &top);
        CHECK(fabs(top - tops[i]) < 1e-12 * tops[i], "largest loss %g: scale top %g, want %g", (double)maxima[i], top,
              tops[i]);
    }
    printf("ok   scale tops: 0.37 -> 0.5, 1.2 -> 2, 0.0021 -> 0.0025, 5 -> 5\n");

    float flat[101];
    for (int i = 0; i < 101; i++) flat[i] = 0.5f;
    loss_plot_draw(rgb, flat, 101, NULL);
    const int mid_x = (LOSS_PLOT_LEFT + LOSS_PLOT_RIGHT) / 2 + 3, mid_y = (LOSS_PLOT_TOP + LOSS_PLOT_BOTTOM) / 2 + 7;
    CHECK(is_blue(at(mid_x, LOSS_PLOT_TOP)), "a constant loss: the mean line at the top of the plot");
    CHECK(is_white(at(mid_x, mid_y)), "a constant loss: nothing drawn in the middle of the plot");
    CHECK(is_white(at(5, 5)) && is_white(at(LOSS_PLOT_WIDTH - 3, LOSS_PLOT_HEIGHT - 3)), "corners stay white");
    printf("ok   a constant loss of 0.5 over 101 steps: the line at the plot's top, the middle empty\n");

    float falling[10];
    for (int i = 0; i < 10; i++) falling[i] = 1.0f - 0.1f * i;
    loss_plot_draw(rgb, falling, 10, NULL);
    CHECK(is_blue(at(LOSS_PLOT_LEFT + 1, LOSS_PLOT_TOP)), "a falling loss: step 1 at the top left");
    CHECK(is_blue(at(LOSS_PLOT_RIGHT, (int)lround(LOSS_PLOT_BOTTOM - 0.1 * (LOSS_PLOT_BOTTOM - LOSS_PLOT_TOP)))),
          "a falling loss: step 10 (0.1) at the right, a tenth up");
    printf("ok   a loss falling from 1 to 0.1: step 1 at the top left, step 10 a tenth up at the right\n");

    char dir[] = "/tmp/ow-loss-plot-XXXXXX", csv[256], png[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(csv, sizeof csv, "%s/log.csv", dir);
    snprintf(png, sizeof png, "%s/loss.png", dir);
    FILE *f = fopen(csv, "w");
    if (f) {
        fputs("step,loss,lr,seconds\n1,0.9,0.01,1\n2,0.8,0.01,2\n3,0.7,0.01,3\n2,0.85,0.01,4\n3,0.6,0.01,5\n", f);
        fclose(f);
    }
    ow_error err = {0};
    CHECK(loss_plot_from_csv(csv, png, &err) == OW_OK && access(png, F_OK) == 0, "a resumed log.csv draws: %s",
          err.message);
    f = fopen(csv, "w");
    if (f) {
        fputs("step,loss,lr,seconds\n", f);
        fclose(f);
    }
    unlink(png);
    ow_status s = loss_plot_from_csv(csv, png, &err);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "no step") && access(png, F_OK) != 0,
          "a log.csv without steps: %s", err.message);
    printf("ok   log.csv with repeated (resumed) steps draws; one without steps: %s\n", err.message);
    unlink(csv);
    rmdir(dir);
    CHECK_DONE();
}
