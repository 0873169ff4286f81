/* judge.c: the shapes-grammar judge (see judge.h). Pixels are labelled with the nearest
 * palette colour; the background is read from the image border; each named shape is the
 * largest 8-connected component of its colour, classified by holes (ring), solidity
 * against the convex hull (star, cross) and extent in its bounding box (square, circle,
 * triangle); sizes from the bounding box, relations from the centroids. */
#include "judge.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The palette of tests/ref/shapes/dataset.py (COLOURS, then HELDOUT_COLOURS). */
const char *const judge_colour_names[] = {"red", "green", "blue", "yellow", "orange", "purple",
                                          "white", "black", "teal"};
const int judge_colour_count = 9;
static const int palette[9][3] = {{220, 30, 30},  {30, 170, 40},  {30, 60, 220},
                                  {245, 220, 30}, {245, 135, 20}, {140, 40, 180},
                                  {245, 245, 245}, {20, 20, 20},  {0, 150, 150}};
const char *const judge_shape_names[] = {"circle", "square", "triangle", "star", "ring", "cross"};
const int judge_shape_count = 6;
enum { CIRCLE, SQUARE, TRIANGLE, STAR, RING, CROSS };

/* A pixel further than this (RGB Euclidean) from every palette colour is unlabelled. */
#define MAX_COLOUR_DIST 80.0
/* Components smaller than this share of the image are noise, not shapes. */
#define MIN_AREA_FRAC 0.006

int judge_classify_pixel(const uint8_t *px) {
    int best = -1;
    double best_d = MAX_COLOUR_DIST * MAX_COLOUR_DIST;
    for (int c = 0; c < judge_colour_count; c++) {
        double dr = px[0] - palette[c][0], dg = px[1] - palette[c][1], db = px[2] - palette[c][2];
        double d = dr * dr + dg * dg + db * db;
        if (d < best_d) { best_d = d; best = c; }
    }
    return best;
}

/* ---- caption parsing ---------------------------------------------------------------- */

static int word_index(const char *w, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(w, names[i]) == 0) return i;
    return -1;
}

static int fail(char *why, size_t cap, const char *msg, const char *word) {
    if (why && cap) snprintf(why, cap, "%s%s%s%s", msg, word ? " (at \"" : "", word ? word : "", word ? "\")" : "");
    return -1;
}

int judge_parse(const char *caption, judge_caption *out, char *why, size_t why_cap) {
    char buf[512];
    char *words[64];
    int n = 0;
    if (!caption || strlen(caption) >= sizeof buf) return fail(why, why_cap, "caption missing or too long", NULL);
    for (size_t i = 0; caption[i]; i++) buf[i] = (char)tolower((unsigned char)caption[i]);
    buf[strlen(caption)] = '\0';
    for (char *tok = strtok(buf, " \t\r\n,."); tok && n < 64; tok = strtok(NULL, " \t\r\n,."))
        words[n++] = tok;
    memset(out, 0, sizeof *out);
    out->bg[0] = out->bg[1] = -1;
    int i = 0;
    for (int s = 0; s < JUDGE_MAX_SHAPES; s++) {
        judge_shape_spec *sp = &out->shapes[s];
        if (i < n && (strcmp(words[i], "a") == 0 || strcmp(words[i], "an") == 0)) i++;
        if (i < n && strcmp(words[i], "small") == 0) { sp->size = JUDGE_SIZE_SMALL; i++; }
        else if (i < n && strcmp(words[i], "large") == 0) { sp->size = JUDGE_SIZE_LARGE; i++; }
        if (i < n && strcmp(words[i], "striped") == 0) { sp->striped = 1; i++; }
        if (i >= n || (sp->colour = word_index(words[i], judge_colour_names, judge_colour_count)) < 0)
            return fail(why, why_cap, "expected a colour word (red green blue yellow orange purple white black teal)",
                        i < n ? words[i] : "end");
        i++;
        if (i >= n || (sp->shape = word_index(words[i], judge_shape_names, judge_shape_count)) < 0)
            return fail(why, why_cap, "expected a shape word (circle square triangle star ring cross)",
                        i < n ? words[i] : "end");
        i++;
        out->n_shapes = s + 1;
        if (s == 1 || i >= n) break;
        if (strcmp(words[i], "above") == 0) { out->relation = JUDGE_REL_ABOVE; i++; }
        else if (strcmp(words[i], "below") == 0) { out->relation = JUDGE_REL_BELOW; i++; }
        else if ((strcmp(words[i], "left") == 0 || strcmp(words[i], "right") == 0) && i + 1 < n &&
                 strcmp(words[i + 1], "of") == 0) {
            out->relation = words[i][0] == 'l' ? JUDGE_REL_LEFT : JUDGE_REL_RIGHT;
            i += 2;
        } else break;
    }
    if (i < n && strcmp(words[i], "on") == 0) {
        i++;
        if (i < n && (strcmp(words[i], "a") == 0 || strcmp(words[i], "an") == 0)) i++;
        if (i >= n || (out->bg[0] = word_index(words[i], judge_colour_names, judge_colour_count)) < 0)
            return fail(why, why_cap, "expected a background colour", i < n ? words[i] : "end");
        i++;
        if (i < n && strcmp(words[i], "and") == 0) {
            i++;
            if (i >= n || (out->bg[1] = word_index(words[i], judge_colour_names, judge_colour_count)) < 0)
                return fail(why, why_cap, "expected a second background colour", i < n ? words[i] : "end");
            i++;
        }
        if (i >= n || strcmp(words[i], "background") != 0)
            return fail(why, why_cap, "expected \"background\"", i < n ? words[i] : "end");
        i++;
    }
    if (i != n) return fail(why, why_cap, "unexpected words after the caption", words[i]);
    return 0;
}

/* ---- components and features -------------------------------------------------------- */

typedef struct {
    int w, h;
    const signed char *label; /* (h, w) palette index or -1 */
    int *comp;                /* (h, w) component id or -1 */
    int *stack;
} scratch;

static double cross2(const double *o, const double *a, const double *b) {
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

static int cmp_pt(const void *a, const void *b) {
    const double *p = a, *q = b;
    if (p[0] != q[0]) return p[0] < q[0] ? -1 : 1;
    return (p[1] > q[1]) - (p[1] < q[1]);
}

/* Area of the convex hull of pixel squares (their corners), by the monotone chain. */
static double hull_area(double *pts, int n) {
    if (n < 3) return 0.0;
    qsort(pts, (size_t)n, 2 * sizeof(double), cmp_pt);
    double *hull = malloc(sizeof(double) * 2 * (size_t)(2 * n));
    if (!hull) return 0.0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross2(hull + 2 * (k - 2), hull + 2 * (k - 1), pts + 2 * i) <= 0) k--;
        hull[2 * k] = pts[2 * i]; hull[2 * k + 1] = pts[2 * i + 1]; k++;
    }
    for (int i = n - 2, lo = k + 1; i >= 0; i--) {
        while (k >= lo && cross2(hull + 2 * (k - 2), hull + 2 * (k - 1), pts + 2 * i) <= 0) k--;
        hull[2 * k] = pts[2 * i]; hull[2 * k + 1] = pts[2 * i + 1]; k++;
    }
    double a = 0.0;
    for (int i = 0; i + 1 < k; i++) a += hull[2 * i] * hull[2 * i + 3] - hull[2 * i + 2] * hull[2 * i + 1];
    free(hull);
    return fabs(a) * 0.5;
}

/* Features of component id within its bounding box; mask = comp == id. */
static void features(const scratch *s, int id, judge_component *c) {
    int bw = c->x1 - c->x0 + 1, bh = c->y1 - c->y0 + 1;
    /* Holes: pixels of the box not in the component and not reachable from outside it. */
    int pw = bw + 2, ph = bh + 2;
    unsigned char *out = calloc((size_t)pw * (size_t)ph, 1);
    int *st = malloc(sizeof(int) * (size_t)pw * (size_t)ph);
    double *pts = malloc(sizeof(double) * 8 * (size_t)c->area);
    if (!out || !st || !pts) { free(out); free(st); free(pts); c->kind = -1; return; }
#define IN(px, py) ((px) >= 1 && (px) <= bw && (py) >= 1 && (py) <= bh && \
                    s->comp[(c->y0 + (py) - 1) * s->w + c->x0 + (px) - 1] == id)
    int top = 0;
    st[top++] = 0;
    out[0] = 1;
    while (top) {
        int p = st[--top], px = p % pw, py = p / pw;
        static const int d4[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
        for (int k = 0; k < 4; k++) {
            int qx = px + d4[k][0], qy = py + d4[k][1];
            if (qx < 0 || qy < 0 || qx >= pw || qy >= ph || out[qy * pw + qx] || IN(qx, qy)) continue;
            out[qy * pw + qx] = 1;
            st[top++] = qy * pw + qx;
        }
    }
    int holes = 0, np = 0;
    for (int py = 1; py <= bh; py++)
        for (int px = 1; px <= bw; px++) {
            if (!IN(px, py) && !out[py * pw + px]) holes++;
            if (IN(px, py)) {
                double x = c->x0 + px - 1, y = c->y0 + py - 1;
                double corners[4][2] = {{x, y}, {x + 1, y}, {x, y + 1}, {x + 1, y + 1}};
                for (int k = 0; k < 4; k++) { pts[2 * np] = corners[k][0]; pts[2 * np + 1] = corners[k][1]; np++; }
            }
        }
    /* Up-down mirror asymmetry about the box centre: crosses, rings, circles and squares are
     * symmetric, stars and triangles are not. */
    int differ = 0;
    for (int py = 1; py <= bh; py++)
        for (int px = 1; px <= bw; px++) differ += IN(px, py) != IN(px, bh + 1 - py);
#undef IN
    c->asymmetry = (double)differ / (2.0 * c->area);
    c->holes = holes;
    double filled = c->area + holes;
    c->extent = filled / ((double)bw * bh);
    double ha = hull_area(pts, np);
    c->solidity = ha > 0 ? filled / ha : 0.0;
    c->hole_frac = holes / filled;
    free(out); free(st); free(pts);

    if (c->hole_frac > 0.08) c->kind = RING;
    else if (c->solidity < 0.84) c->kind = c->asymmetry > 0.2 ? STAR : CROSS;
    else if (c->extent > 0.86) c->kind = SQUARE;
    else if (c->extent > 0.66) c->kind = CIRCLE;
    else c->kind = TRIANGLE;
}

/* Mask of the pixels that belong to a shape of this colour. Striped shapes (the colour
 * alternating with white, period 6 px) are the colour mask closed by 2 px (dilate, erode). */
static void shape_pixels(const scratch *s, int colour, int striped, unsigned char *want) {
    int w = s->w, h = s->h;
    for (int i = 0; i < w * h; i++) want[i] = s->label[i] == colour;
    if (!striped) return;
    unsigned char *tmp = malloc((size_t)w * (size_t)h);
    if (!tmp) return;
    for (int pass = 0; pass < 2; pass++) { /* 0: dilate want -> tmp; 1: erode tmp -> want */
        const unsigned char *src = pass ? tmp : want;
        unsigned char *dst = pass ? want : tmp;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int any = 0, all = 1;
                for (int dy = -2; dy <= 2; dy++)
                    for (int dx = -2; dx <= 2; dx++) {
                        int qx = x + dx, qy = y + dy;
                        int v = (qx >= 0 && qy >= 0 && qx < w && qy < h) ? src[qy * w + qx] : pass;
                        any |= v;
                        all &= v;
                    }
                dst[y * w + x] = (unsigned char)(pass ? all : any);
            }
    }
    free(tmp);
}

/* Largest 8-connected component of the shape pixels of a colour. Fills c and returns 1,
 * or 0 when there is none of at least min_area. */
static int largest_component(scratch *s, int colour, int striped, int min_area, int id_base, judge_component *c) {
    unsigned char *want = malloc((size_t)s->w * (size_t)s->h);
    if (!want) return 0;
    shape_pixels(s, colour, striped, want);
    int best_id = -1, best_area = 0, next = id_base;
    judge_component best = {0};
    for (int i = 0; i < s->w * s->h; i++) {
        if (!want[i] || s->comp[i] != -1) continue;
        judge_component cur = {.x0 = s->w, .y0 = s->h, .x1 = -1, .y1 = -1};
        int top = 0, id = next++;
        double sx = 0, sy = 0;
        s->stack[top++] = i;
        s->comp[i] = id;
        while (top) {
            int p = s->stack[--top], px = p % s->w, py = p / s->w;
            cur.area++;
            sx += px; sy += py;
            if (px < cur.x0) cur.x0 = px;
            if (px > cur.x1) cur.x1 = px;
            if (py < cur.y0) cur.y0 = py;
            if (py > cur.y1) cur.y1 = py;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = px + dx, qy = py + dy;
                    if (qx < 0 || qy < 0 || qx >= s->w || qy >= s->h) continue;
                    int q = qy * s->w + qx;
                    if (s->comp[q] != -1 || !want[q]) continue;
                    s->comp[q] = id;
                    s->stack[top++] = q;
                }
        }
        cur.cx = sx / cur.area;
        cur.cy = sy / cur.area;
        if (cur.area > best_area) { best_area = cur.area; best = cur; best_id = id; }
    }
    free(want);
    if (best_id < 0 || best_area < min_area) return 0;
    *c = best;
    features(s, best_id, c);
    return 1;
}

/* Records why the image was rejected; returns 0 (not accepted). */
static int reject(judge_result *res, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->why, sizeof res->why, fmt, ap);
    va_end(ap);
    res->accepted = 0;
    return 0;
}

int judge_image(const uint8_t *rgb, int w, int h, const judge_caption *cap, judge_result *res) {
    memset(res, 0, sizeof *res);
    res->accepted = 0;
    if (!rgb || w < 8 || h < 8) return reject(res, "image too small (%dx%d)", w, h);
    size_t n = (size_t)w * (size_t)h;
    signed char *label = malloc(n);
    int *comp = malloc(sizeof(int) * n), *stack = malloc(sizeof(int) * n);
    if (!label || !comp || !stack) {
        free(label); free(comp); free(stack);
        return reject(res, "out of memory for a %dx%d image", w, h);
    }
    for (size_t i = 0; i < n; i++) { label[i] = (signed char)judge_classify_pixel(rgb + 3 * i); comp[i] = -1; }
    scratch s = {w, h, label, comp, stack};
    double scale = (w < h ? w : h) / 64.0;

    /* Background: share of a 2-pixel frame in each named background colour. */
    int counts[16] = {0}, frame = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (x >= 2 && y >= 2 && x < w - 2 && y < h - 2) continue;
            int l = label[y * w + x];
            if (l >= 0) counts[l]++;
            frame++;
        }
    int ok = 1;
    if (cap->bg[0] >= 0) {
        res->bg_frac[0] = (double)counts[cap->bg[0]] / frame;
        if (cap->bg[1] < 0) {
            if (res->bg_frac[0] < 0.5) {
                ok = reject(res, "background: only %.0f%% of the border is %s", 100 * res->bg_frac[0],
                            judge_colour_names[cap->bg[0]]);
            }
        } else {
            res->bg_frac[1] = (double)counts[cap->bg[1]] / frame;
            if (res->bg_frac[0] < 0.2 || res->bg_frac[1] < 0.2 || res->bg_frac[0] + res->bg_frac[1] < 0.6) {
                ok = reject(res, "background: border is %.0f%% %s and %.0f%% %s",
                         100 * res->bg_frac[0], judge_colour_names[cap->bg[0]], 100 * res->bg_frac[1],
                         judge_colour_names[cap->bg[1]]);
            }
        }
    }
    int min_area = (int)(MIN_AREA_FRAC * (double)n + 0.5);
    for (int k = 0; ok && k < cap->n_shapes; k++) {
        const judge_shape_spec *sp = &cap->shapes[k];
        judge_component *c = &res->found[k];
        const char *cn = judge_colour_names[sp->colour], *sn = judge_shape_names[sp->shape];
        if (!largest_component(&s, sp->colour, sp->striped, min_area, k * (int)n, c)) {
            ok = reject(res, "no %s %s: no %s region big enough", cn, sn, cn);
            break;
        }
        int bw = c->x1 - c->x0 + 1, bh = c->y1 - c->y0 + 1, side = bw > bh ? bw : bh;
        double aspect = (double)(bw > bh ? bw : bh) / (bw < bh ? bw : bh);
        if (aspect > 1.6) {
            ok = reject(res, "%s %s: the %s region is %dx%d, not a compact shape", cn, sn, cn, bw, bh);
        } else if (c->kind != sp->shape) {
            ok = reject(res, "%s %s: the %s region looks like a %s (extent %.2f solidity %.2f holes %.2f)",
                     cn, sn, cn, c->kind >= 0 ? judge_shape_names[c->kind] : "nothing", c->extent, c->solidity,
                     c->hole_frac);
        } else if (sp->size == JUDGE_SIZE_SMALL && side > 21 * scale) {
            ok = reject(res, "%s %s: %d px across, not small", cn, sn, side);
        } else if (sp->size == JUDGE_SIZE_LARGE && side < 24 * scale) {
            ok = reject(res, "%s %s: %d px across, not large", cn, sn, side);
        }
    }
    if (ok && cap->n_shapes == 2 && cap->relation != JUDGE_REL_NONE) {
        const judge_component *a = &res->found[0], *b = &res->found[1];
        double gap = 4 * scale, dx = b->cx - a->cx, dy = b->cy - a->cy;
        int good = cap->relation == JUDGE_REL_LEFT ? dx > gap : cap->relation == JUDGE_REL_RIGHT ? -dx > gap
                 : cap->relation == JUDGE_REL_ABOVE ? dy > gap : -dy > gap;
        if (!good) {
            ok = reject(res, "relation: the second shape is %.0f px right and %.0f px down of the first",
                     dx, dy);
        }
    }
    if (ok) { res->accepted = 1; snprintf(res->why, sizeof res->why, "ok"); }
    free(label); free(comp); free(stack);
    return res->accepted;
}

int judge_caption_text(const uint8_t *rgb, int w, int h, const char *caption, judge_result *res) {
    judge_caption cap;
    memset(res, 0, sizeof *res);
    if (judge_parse(caption, &cap, res->why, sizeof res->why) != 0) { res->accepted = 0; return 0; }
    return judge_image(rgb, w, h, &cap, res);
}
