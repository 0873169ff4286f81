/* judge_png.c: command-line front end of the shapes judge (judge.h).
 *   judge_png [-v] IMAGE.png "caption"      one image: prints "accept" or "reject: why"
 *   judge_png [-v] --list LIST [DIR]        LIST lines "file<TAB>caption" (file relative to DIR,
 *                                           default the list's folder): one verdict a line + total
 *   --tile N   the PNG is a sheet of NxN-pixel tiles in row-major order and "file" is
 *              "sheet.png#index" (used by the committed test sheet)
 * Exit status: 0 all accepted, 1 some rejected, 2 a usage or file error. */
#include "judge.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *read_png(const char *path, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "judge_png: cannot read %s: %s\n", path, img.message);
        return NULL;
    }
    img.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        fprintf(stderr, "judge_png: cannot decode %s: %s\n", path, img.message);
        free(buf);
        png_image_free(&img);
        return NULL;
    }
    *w = (int)img.width;
    *h = (int)img.height;
    return buf;
}

static void print_result(const char *name, const char *caption, const judge_result *r, int verbose) {
    printf("%s\t%s\t%s%s\n", r->accepted ? "accept" : "reject", name, caption, r->accepted ? "" : "");
    if (!r->accepted) printf("  why: %s\n", r->why);
    if (verbose)
        for (int k = 0; k < JUDGE_MAX_SHAPES; k++) {
            const judge_component *c = &r->found[k];
            if (!c->area) continue;
            printf("  shape %d: area %d holes %d box %d..%d x %d..%d extent %.3f solidity %.3f hole %.3f asym %.3f -> %s\n", k,
                   c->area, c->holes, c->x0, c->x1, c->y0, c->y1, c->extent, c->solidity, c->hole_frac, c->asymmetry,
                   c->kind >= 0 ? judge_shape_names[c->kind] : "-");
        }
}

/* Cached sheet for --tile mode. */
static char sheet_path[4096];
static uint8_t *sheet;
static int sheet_w, sheet_h;

static int judge_file(const char *path, int tile, const char *caption, int verbose) {
    int w = 0, h = 0, accepted;
    judge_result r;
    if (tile > 0) {
        char file[4096];
        snprintf(file, sizeof file, "%s", path);
        char *hash = strrchr(file, '#');
        if (!hash) { fprintf(stderr, "judge_png: --tile needs names like sheet.png#3, got %s\n", path); return -1; }
        *hash = '\0';
        long index = strtol(hash + 1, NULL, 10);
        if (strcmp(file, sheet_path) != 0) {
            free(sheet);
            sheet = read_png(file, &sheet_w, &sheet_h);
            if (!sheet) { sheet_path[0] = '\0'; return -1; }
            snprintf(sheet_path, sizeof sheet_path, "%s", file);
        }
        int cols = sheet_w / tile, rows = sheet_h / tile;
        if (index < 0 || index >= (long)cols * rows) {
            fprintf(stderr, "judge_png: tile %ld outside the %dx%d sheet %s\n", index, cols, rows, file);
            return -1;
        }
        uint8_t *px = malloc((size_t)tile * tile * 3);
        if (!px) return -1;
        int tx = (int)(index % cols) * tile, ty = (int)(index / cols) * tile;
        for (int y = 0; y < tile; y++)
            memcpy(px + (size_t)y * tile * 3, sheet + ((size_t)(ty + y) * sheet_w + tx) * 3, (size_t)tile * 3);
        accepted = judge_caption_text(px, tile, tile, caption, &r);
        free(px);
    } else {
        uint8_t *px = read_png(path, &w, &h);
        if (!px) return -1;
        accepted = judge_caption_text(px, w, h, caption, &r);
        free(px);
    }
    print_result(path, caption, &r, verbose);
    return accepted;
}

int main(int argc, char **argv) {
    int verbose = 0, tile = 0, i = 1;
    const char *list = NULL;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-v") == 0) verbose = 1;
        else if (strcmp(argv[i], "--list") == 0 && i + 1 < argc) list = argv[++i];
        else if (strcmp(argv[i], "--tile") == 0 && i + 1 < argc) tile = atoi(argv[++i]);
        else { fprintf(stderr, "judge_png: unknown option %s\n", argv[i]); return 2; }
    }
    if (!list) {
        if (argc - i != 2) {
            fprintf(stderr, "usage: judge_png [-v] IMAGE.png \"caption\"\n"
                            "       judge_png [-v] [--tile N] --list LIST [DIR]\n");
            return 2;
        }
        int a = judge_file(argv[i], tile, argv[i + 1], verbose);
        return a < 0 ? 2 : a ? 0 : 1;
    }
    char dir[4096];
    if (i < argc) snprintf(dir, sizeof dir, "%s", argv[i]);
    else {
        snprintf(dir, sizeof dir, "%s", list);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        else snprintf(dir, sizeof dir, ".");
    }
    FILE *f = fopen(list, "r");
    if (!f) { fprintf(stderr, "judge_png: cannot open list %s\n", list); return 2; }
    char line[1024];
    int total = 0, accepted = 0, errors = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab || line[0] == '#') continue;
        *tab = '\0';
        char path[4096 + 1024];
        snprintf(path, sizeof path, "%s/%s", dir, line);
        int a = judge_file(path, tile, tab + 1, verbose);
        if (a < 0) errors++;
        else { total++; accepted += a; }
    }
    fclose(f);
    free(sheet);
    printf("accepted %d of %d (%.1f%%)%s\n", accepted, total, total ? 100.0 * accepted / total : 0.0,
           errors ? ", some files unreadable" : "");
    return errors ? 2 : accepted == total ? 0 : 1;
}
