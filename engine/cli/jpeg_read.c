/* jpeg_read.c: JPEG -> float RGB with libjpeg(-turbo). Errors come back through a
 * setjmp error manager (libjpeg's default one exits the process); libjpeg's memory
 * is capped; the EXIF orientation tag (APP1 "Exif", IFD0 tag 0x0112) is applied
 * after decoding (image_orient.c), as PIL's ImageOps.exif_transpose and GIMP's import do. */
#include "jpeg_read.h"
#include "image_limits.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/file.h"
#include "image_orient.h"

#define LIBJPEG_MEMORY_MAX (512L * 1024 * 1024) /* progressive files keep every coefficient */

typedef struct error_jump {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    unsigned char *row; /* buffers live here, not in locals a longjmp may clobber */
    float *pixels;
} error_jump;

static void on_error(j_common_ptr cinfo) {
    error_jump *e = (error_jump *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void no_output(j_common_ptr cinfo) { (void)cinfo; } /* warnings are not printed */

/* Pixel data that ends early (the file, or the scan at a marker) is an error, as
 * Pillow says "image file is truncated": libjpeg would pad the rest with grey, and
 * 157 bytes declaring 11544 x 4096 would make us hold 567 MB of it. Other warnings
 * (extraneous bytes before a marker, which cameras write) are not errors. */
static void on_message(j_common_ptr cinfo, int level) {
    const int code = cinfo->err->msg_code;
    if (level == -1 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER)) on_error(cinfo);
}

int jpeg_is_jpeg(const char *path) {
    FILE *f = NULL;
    uint64_t size = 0;
    ow_error err = {0};
    if (ow_file_fopen_regular(path, "image", &f, &size, &err) != OW_OK) return 0;
    unsigned char magic[3] = {0};
    const int is = fread(magic, 1, 3, f) == 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF;
    fclose(f);
    return is;
}

static unsigned read16(const unsigned char *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t read32(const unsigned char *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The orientation in an APP1 Exif payload (n bytes), 1 when absent or out of range. */
static int exif_orientation(const unsigned char *d, size_t n) {
    if (n < 14 || memcmp(d, "Exif\0\0", 6) != 0) return 1;
    const unsigned char *t = d + 6;
    const size_t tn = n - 6;
    int le;
    if (memcmp(t, "II*\0", 4) == 0) le = 1;
    else if (memcmp(t, "MM\0*", 4) == 0) le = 0;
    else return 1;
    const uint32_t ifd = read32(t + 4, le);
    if (ifd > tn - 2 || ifd < 8) return 1;
    const unsigned count = read16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        const size_t e = ifd + 2 + (size_t)i * 12;
        if (e + 12 > tn) return 1;
        if (read16(t + e, le) == 0x0112 && read16(t + e + 2, le) == 3 /* SHORT */) {
            const unsigned v = read16(t + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

int jpeg_read_rgb_float(const char *path, float **rgb, int *width, int *height, int *orientation, char *why,
                        size_t cap) {
    *rgb = NULL;
    FILE *f = NULL;
    uint64_t size = 0;
    ow_error err = {0};
    if (ow_file_fopen_regular(path, "image", &f, &size, &err) != OW_OK) {
        snprintf(why, cap, "%s", err.message);
        return -1;
    }
    struct jpeg_decompress_struct cinfo;
    error_jump jerr = {0};
    cinfo.err = jpeg_std_error(&jerr.base);
    jerr.base.error_exit = on_error;
    jerr.base.output_message = no_output;
    jerr.base.emit_message = on_message;
    if (setjmp(jerr.jump)) {
        snprintf(why, cap, "not a readable JPEG: %s", jerr.message);
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        free(jerr.row);
        free(jerr.pixels);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = LIBJPEG_MEMORY_MAX;
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (image_size_allowed(cinfo.image_width, cinfo.image_height, why, cap) != 0) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return -1;
    }
    int o = 1;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && (o = exif_orientation(m->data, m->data_length)) != 1) break;
    const int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const int w = (int)cinfo.output_width, h = (int)cinfo.output_height, comps = cinfo.output_components;
    /* Adobe writes CMYK inverted (0 = full ink); libjpeg hands the stored values back. */
    const int inverted = cmyk && cinfo.saw_Adobe_marker;
    unsigned char *row = jerr.row = malloc((size_t)w * comps);
    /* The output grows with the rows decoded, so what is held stays bounded by the data
     * the file really has (a truncated file stops at its end, above). */
    int rows_held = h < 64 ? h : 64;
    float *pixels = jerr.pixels = malloc((size_t)w * rows_held * 3 * sizeof *pixels);
    if (!row || !pixels) {
        snprintf(why, cap, "out of memory for a %dx%d image", w, h);
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        free(row);
        free(pixels);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        const int y = (int)cinfo.output_scanline;
        if (y == rows_held) {
            rows_held = rows_held * 2 < h ? rows_held * 2 : h;
            float *grown = realloc(pixels, (size_t)w * rows_held * 3 * sizeof *pixels);
            if (!grown) {
                snprintf(jerr.message, sizeof jerr.message, "out of memory for a %dx%d image", w, h);
                longjmp(jerr.jump, 1);
            }
            pixels = jerr.pixels = grown;
        }
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        float *dst = pixels + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            const unsigned char *p = row + (size_t)x * comps;
            if (cmyk) {
                /* paper minus ink: R = (1 - C)(1 - K), as a simple CMYK -> RGB */
                const float c = p[0] / 255.0f, mg = p[1] / 255.0f, ye = p[2] / 255.0f, k = p[3] / 255.0f;
                const float kk = inverted ? k : 1.0f - k;
                dst[x * 3 + 0] = (inverted ? c : 1.0f - c) * kk;
                dst[x * 3 + 1] = (inverted ? mg : 1.0f - mg) * kk;
                dst[x * 3 + 2] = (inverted ? ye : 1.0f - ye) * kk;
            } else {
                for (int c = 0; c < 3; c++) dst[x * 3 + c] = p[c] / 255.0f;
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    free(row);
    *width = w;
    *height = h;
    if (image_orient_in_place(&pixels, width, height, 3, o) != 0) {
        free(pixels);
        snprintf(why, cap, "out of memory for a %dx%d image", w, h);
        return -1;
    }
    if (orientation) *orientation = o;
    *rgb = pixels;
    return 0;
}
