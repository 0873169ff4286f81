/* tiff_read.c: TIFF -> float RGB and alpha with libtiff. The kinds photographs and
 * scans are saved in (8- or 16-bit unsigned grayscale, RGB or 8-bit palette, with
 * or without one alpha sample, interleaved, in strips) are read row by row at full
 * precision; everything else goes through libtiff's RGBA interface (8 bits) in
 * bands of rows. libtiff reads the file from memory, which it takes for a mapping
 * (libtiff 4.5.0 refuses uncompressed tiles read through read(), and a real mapping
 * of a file cut while it is read would raise SIGBUS); it reports through handlers on
 * the open options (nothing is printed) and each of its allocations is capped; the
 * output grows with the rows decoded, so a file that lies about its size holds
 * little. The orientation tag is applied after decoding (image_orient.c), as PIL's
 * ImageOps.exif_transpose does. */
#include "tiff_read.h"
#include "image_limits.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "core/file.h"
#include "image_orient.h"

#define LIBTIFF_ALLOCATION_MAX (256L * 1024 * 1024)
#define FILE_MAX (1024ull * 1024 * 1024)

/* The file in memory, as libtiff's client I/O sees it. */
typedef struct memory_file {
    const unsigned char *data;
    size_t size, at;
} memory_file;

static tmsize_t memory_read(thandle_t h, void *buf, tmsize_t n) {
    memory_file *f = (memory_file *)h;
    const size_t left = f->at < f->size ? f->size - f->at : 0, k = n < 0 ? 0 : (size_t)n < left ? (size_t)n : left;
    memcpy(buf, f->data + f->at, k);
    f->at += k;
    return (tmsize_t)k;
}

static tmsize_t memory_write(thandle_t h, void *buf, tmsize_t n) {
    (void)h, (void)buf, (void)n;
    return 0;
}

static toff_t memory_seek(thandle_t h, toff_t offset, int whence) {
    memory_file *f = (memory_file *)h;
    const uint64_t base = whence == SEEK_CUR ? f->at : whence == SEEK_END ? f->size : 0;
    if (offset > UINT64_MAX - base) return (toff_t)-1;
    f->at = (size_t)(base + offset > f->size ? f->size : base + offset);
    return (toff_t)(base + offset);
}

static int memory_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t memory_size(thandle_t h) { return ((memory_file *)h)->size; }

static int memory_map(thandle_t h, void **base, toff_t *size) {
    memory_file *f = (memory_file *)h;
    *base = (void *)f->data;
    *size = f->size;
    return 1;
}

static void memory_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

/* libtiff's first error of a read, printable. */
typedef struct tiff_messages {
    char error[256];
} tiff_messages;

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)module;
    tiff_messages *m = user;
    if (!m->error[0]) {
        vsnprintf(m->error, sizeof m->error, fmt, ap);
        for (char *c = m->error; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    }
    return 1; /* handled: libtiff's global handler (stderr) is not called */
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1; /* warnings (unknown tags, ...) are not errors and are not printed */
}

/* The output so far: rows [0, held) of (h, w) RGB and alpha, grown as rows are decoded. */
typedef struct growing {
    float *rgb, *alpha;
    int w, h, held, has_alpha;
} growing;

/* Room for rows [0, rows); 0, or -1 when out of memory. */
static int grow(growing *g, int rows) {
    if (rows <= g->held) return 0;
    int want = g->held ? g->held : 64;
    while (want < rows) want *= 2;
    if (want > g->h) want = g->h;
    float *rgb = realloc(g->rgb, (size_t)g->w * want * 3 * sizeof *rgb);
    if (!rgb) return -1;
    g->rgb = rgb;
    if (g->has_alpha) {
        float *alpha = realloc(g->alpha, (size_t)g->w * want * sizeof *alpha);
        if (!alpha) return -1;
        g->alpha = alpha;
    }
    g->held = want;
    return 0;
}

/* Whether the row-by-row path reads this directory; *base gets its colour samples (1 or 3). */
static int direct_kind(TIFF *tif, uint16_t bps, uint16_t spp, uint16_t photometric, int *base) {
    uint16_t planar = PLANARCONFIG_CONTIG, format = SAMPLEFORMAT_UINT;
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    if (TIFFIsTiled(tif) || planar != PLANARCONFIG_CONTIG || format != SAMPLEFORMAT_UINT || (bps != 8 && bps != 16))
        return 0;
    if (photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE) *base = 1;
    else if (photometric == PHOTOMETRIC_RGB) *base = 3;
    else if (photometric == PHOTOMETRIC_PALETTE && bps == 8) *base = 1;
    else return 0;
    return spp >= *base && spp <= *base + 4;
}

/* Rows of a grayscale, RGB or palette image, one scanline at a time. */
static int read_direct(TIFF *tif, growing *g, uint16_t bps, uint16_t spp, uint16_t photometric, int base,
                       tiff_messages *m, char *why, size_t cap) {
    uint16_t n_extra = 0, *extra = NULL;
    TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
    /* The first extra sample is alpha when the file says it is (unspecified ones are ignored, as Pillow's RGBX). */
    const int alpha_kind = spp > base && n_extra >= 1 && extra ? extra[0] : EXTRASAMPLE_UNSPECIFIED;
    const int associated = alpha_kind == EXTRASAMPLE_ASSOCALPHA;
    g->has_alpha = associated || alpha_kind == EXTRASAMPLE_UNASSALPHA;
    uint16_t *palette[3] = {NULL, NULL, NULL};
    if (photometric == PHOTOMETRIC_PALETTE && !TIFFGetField(tif, TIFFTAG_COLORMAP, &palette[0], &palette[1], &palette[2])) {
        snprintf(why, cap, "not a readable TIFF: a palette image without a colour map");
        return -1;
    }
    const uint64_t line = TIFFScanlineSize64(tif);
    if (line < (uint64_t)g->w * spp * (bps / 8)) {
        snprintf(why, cap, "not a readable TIFF: %llu bytes a row for %d pixels", (unsigned long long)line, g->w);
        return -1;
    }
    unsigned char *row = malloc(line);
    if (!row) {
        snprintf(why, cap, "out of memory for a %dx%d image", g->w, g->h);
        return -1;
    }
    const float maxv = bps == 8 ? 255.0f : 65535.0f;
    const unsigned imax = bps == 8 ? 255u : 65535u;
    for (int y = 0; y < g->h; y++) {
        if (grow(g, y + 1) != 0) {
            snprintf(why, cap, "out of memory for a %dx%d image", g->w, g->h);
            free(row);
            return -1;
        }
        if (TIFFReadScanline(tif, row, (uint32_t)y, 0) < 0) {
            snprintf(why, cap, "not a readable TIFF: row %d of %d: %s", y + 1, g->h, m->error[0] ? m->error : "cannot be decoded");
            free(row);
            return -1;
        }
        float *rgb = g->rgb + (size_t)y * g->w * 3, *alpha = g->has_alpha ? g->alpha + (size_t)y * g->w : NULL;
        for (int x = 0; x < g->w; x++) {
            unsigned s[5]; /* the pixel's samples as stored: colour (base of them), then alpha */
            for (int i = 0; i < base + (g->has_alpha ? 1 : 0); i++) {
                const size_t k = (size_t)x * spp + i;
                s[i] = bps == 8 ? row[k] : ((const uint16_t *)row)[k];
            }
            float c[3];
            if (photometric == PHOTOMETRIC_PALETTE) {
                /* entries are 16-bit; their high byte, as Pillow and GIMP read them */
                for (int i = 0; i < 3; i++) c[i] = (float)(palette[i][s[0]] >> 8) / 255.0f;
            } else if (base == 1) {
                c[0] = c[1] = c[2] = (float)(photometric == PHOTOMETRIC_MINISWHITE ? imax - s[0] : s[0]) / maxv;
            } else {
                for (int i = 0; i < 3; i++) c[i] = (float)s[i] / maxv;
            }
            if (alpha) {
                const float a = (float)s[base] / maxv;
                alpha[x] = a;
                if (associated) /* stored premultiplied: the colour is c / a */
                    for (int i = 0; i < 3; i++) c[i] = a > 0.0f ? (c[i] < a ? c[i] / a : 1.0f) : 0.0f;
            }
            memcpy(rgb + (size_t)x * 3, c, sizeof c);
        }
    }
    free(row);
    return 0;
}

/* Any other kind through libtiff's RGBA interface, in bands of a strip's or tile's rows,
 * taken in the order stored (the orientation is applied afterwards). Its alpha comes
 * premultiplied. */
static int read_rgba(TIFF *tif, growing *g, tiff_messages *m, char *why, size_t cap) {
    char message[1024] = "";
    TIFFRGBAImage img;
    if (!TIFFRGBAImageOK(tif, message) || !TIFFRGBAImageBegin(&img, tif, 1, message)) {
        snprintf(why, cap, "this kind of TIFF is not supported: %s", message[0] ? message : m->error);
        return -1;
    }
    img.req_orientation = img.orientation; /* no flips: rows as stored */
    g->has_alpha = img.alpha != 0;
    uint32_t band = 0;
    if (TIFFIsTiled(tif)) TIFFGetField(tif, TIFFTAG_TILELENGTH, &band);
    else TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &band);
    if (band < 64) band = 64;
    if (band > (uint32_t)g->h) band = (uint32_t)g->h;
    uint32_t *raster = malloc((size_t)g->w * band * sizeof *raster);
    if (!raster) {
        TIFFRGBAImageEnd(&img);
        snprintf(why, cap, "out of memory for a %dx%d image", g->w, g->h);
        return -1;
    }
    int status = 0;
    for (int y = 0; y < g->h && status == 0; y += (int)band) {
        const int n = g->h - y < (int)band ? g->h - y : (int)band;
        img.row_offset = y;
        if (grow(g, y + n) != 0) {
            snprintf(why, cap, "out of memory for a %dx%d image", g->w, g->h);
            status = -1;
        } else if (!TIFFRGBAImageGet(&img, raster, (uint32_t)g->w, (uint32_t)n)) {
            snprintf(why, cap, "not a readable TIFF: rows %d..%d of %d: %s", y + 1, y + n, g->h,
                     m->error[0] ? m->error : "cannot be decoded");
            status = -1;
        }
        for (size_t i = 0; status == 0 && i < (size_t)g->w * n; i++) {
            const uint32_t p = raster[i];
            const float a = (float)TIFFGetA(p) / 255.0f;
            float *c = g->rgb + ((size_t)y * g->w + i) * 3;
            c[0] = (float)TIFFGetR(p) / 255.0f;
            c[1] = (float)TIFFGetG(p) / 255.0f;
            c[2] = (float)TIFFGetB(p) / 255.0f;
            if (g->has_alpha) {
                g->alpha[(size_t)y * g->w + i] = a;
                for (int k = 0; k < 3; k++) c[k] = a > 0.0f ? (c[k] < a ? c[k] / a : 1.0f) : 0.0f;
            }
        }
    }
    free(raster);
    TIFFRGBAImageEnd(&img);
    return status;
}

int tiff_read_rgb_float(const char *path, float **rgb, float **alpha, int *width, int *height, int *orientation,
                        int *pages, char *why, size_t cap) {
    *rgb = NULL;
    *alpha = NULL;
    char *data = NULL;
    size_t size = 0;
    ow_error err = {0};
    if (ow_file_read_all(path, "image", FILE_MAX, &data, &size, &err) != OW_OK) {
        snprintf(why, cap, "%s", err.message);
        return -1;
    }
    memory_file file = {(const unsigned char *)data, size, 0};
    tiff_messages m = {""};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) {
        free(data);
        snprintf(why, cap, "out of memory");
        return -1;
    }
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, LIBTIFF_ALLOCATION_MAX);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &m);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &m);
    TIFF *tif = TIFFClientOpenExt("TIFF", "r", (thandle_t)&file, memory_read, memory_write, memory_seek, memory_close,
                                  memory_size, memory_map, memory_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif) {
        free(data);
        snprintf(why, cap, "not a readable TIFF: %s", m.error[0] ? m.error : "no image directory");
        return -1;
    }
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, photometric = 0xFFFF, o = ORIENTATION_TOPLEFT;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &o);
    if (o < 1 || o > 8) o = ORIENTATION_TOPLEFT;
    int status = 0;
    if (image_size_allowed(w, h, why, cap) != 0) status = -1;
    growing g = {NULL, NULL, (int)w, (int)h, 0, 0};
    int base = 0;
    if (status == 0)
        status = direct_kind(tif, bps, spp, photometric, &base) ? read_direct(tif, &g, bps, spp, photometric, base, &m, why, cap)
                                                                 : read_rgba(tif, &g, &m, why, cap);
    const int n_pages = status == 0 ? (int)TIFFNumberOfDirectories(tif) : 0;
    TIFFClose(tif);
    free(data);
    if (status == 0) {
        int ow = g.w, oh = g.h;
        if (image_orient_in_place(&g.rgb, &ow, &oh, 3, o) != 0 ||
            (g.alpha && image_orient_in_place(&g.alpha, &g.w, &g.h, 1, o) != 0)) {
            snprintf(why, cap, "out of memory for a %ux%u image", w, h);
            status = -1;
        }
        g.w = ow;
        g.h = oh;
    }
    if (status != 0) {
        free(g.rgb);
        free(g.alpha);
        return -1;
    }
    *rgb = g.rgb;
    *alpha = g.has_alpha ? g.alpha : NULL;
    *width = g.w;
    *height = g.h;
    if (orientation) *orientation = o;
    if (pages) *pages = n_pages > 0 ? n_pages : 1;
    return 0;
}
