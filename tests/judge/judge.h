/* judge.h: an automatic judge for the "shapes" grammar (tests/ref/shapes/dataset.py).
 * Given an RGB image and a caption such as "a small red circle on a blue background" or
 * "a green star above a yellow square on a black background", it decides whether the
 * named background colours and the named shapes (colour, kind, size, relative position)
 * are present, from colour masks, connected components and simple shape features. */
#ifndef OW_TESTS_JUDGE_H
#define OW_TESTS_JUDGE_H

#include <stddef.h>
#include <stdint.h>

enum { JUDGE_MAX_SHAPES = 2 };

typedef enum { JUDGE_SIZE_ANY = 0, JUDGE_SIZE_SMALL, JUDGE_SIZE_LARGE } judge_size;
typedef enum { JUDGE_REL_NONE = 0, JUDGE_REL_LEFT, JUDGE_REL_RIGHT, JUDGE_REL_ABOVE, JUDGE_REL_BELOW } judge_relation;

/* The palette and shape names, in index order (colour index -1 = "none"). */
extern const char *const judge_colour_names[];
extern const int judge_colour_count;
extern const char *const judge_shape_names[];
extern const int judge_shape_count;

typedef struct {
    int colour;       /* index into judge_colour_names */
    int shape;        /* index into judge_shape_names */
    judge_size size;
    int striped;      /* "striped": the colour alternating with white */
} judge_shape_spec;

typedef struct {
    int n_shapes;                       /* 1 or 2 */
    judge_shape_spec shapes[JUDGE_MAX_SHAPES];
    judge_relation relation;            /* shapes[0] <relation> shapes[1] */
    int bg[2];                          /* background colours; bg[1] = -1 when plain */
} judge_caption;

/* Features of one connected component (for diagnostics and tuning). */
typedef struct {
    int area, holes, x0, y0, x1, y1; /* pixels; bounding box inclusive */
    double cx, cy;                   /* centroid */
    double extent;                   /* (area + holes) / bounding box area */
    double solidity;                 /* (area + holes) / convex hull area */
    double hole_frac;                /* holes / (area + holes) */
    double asymmetry;                /* share of pixels that differ from the up-down mirror image */
    int kind;                        /* classified shape index, -1 if none */
} judge_component;

typedef struct {
    int accepted;
    char why[256];                         /* the first reason for a rejection, or "ok" */
    judge_component found[JUDGE_MAX_SHAPES]; /* the component judged for each named shape */
    double bg_frac[2];                     /* share of the border in each background colour */
} judge_result;

/* Parses a caption of the grammar; 0 on success, -1 with a message in why otherwise. */
int judge_parse(const char *caption, judge_caption *out, char *why, size_t why_cap);

/* Judges an image (h, w, 3) of 8-bit sRGB against a parsed caption. Returns accepted. */
int judge_image(const uint8_t *rgb, int w, int h, const judge_caption *cap, judge_result *res);

/* Parses and judges; a caption outside the grammar is a rejection with the parse message. */
int judge_caption_text(const uint8_t *rgb, int w, int h, const char *caption, judge_result *res);

/* Nearest palette colour of a pixel, or -1 when it is far from all of them. */
int judge_classify_pixel(const uint8_t *px);

#endif
