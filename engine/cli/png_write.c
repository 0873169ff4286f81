/* png_write.c: 8-bit RGB PNG output through libpng, written atomically. */
#include "png_write.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"

unsigned char png_float_to_u8(float x) {
    /* numpy: (x.clamp(0,1) * 255).round() -- round half to even, in float32. */
    if (!(x > 0.0f)) return 0;
    if (x >= 1.0f) return 255;
    float v = nearbyintf(x * 255.0f);
    return (unsigned char)v;
}

/* Where libpng's bytes and complaints go: the atomic file (whose write_errno keeps
 * the system's reason, "No space left on device"), and libpng's own message,
 * reported by us instead of printed by libpng. */
typedef struct png_sink {
    ow_atomic_file *file;
    char libpng_message[200];
} png_sink;

static void png_sink_write(png_structp png, png_bytep data, png_size_t size) {
    png_sink *sink = png_get_io_ptr(png);
    if (ow_atomic_file_write(sink->file, data, size, NULL) != OW_OK) png_error(png, "write failed");
}

static void png_sink_flush(png_structp png) { (void)png; /* commit flushes and fsyncs */ }

static void png_sink_error(png_structp png, png_const_charp message) {
    png_sink *sink = png_get_error_ptr(png);
    snprintf(sink->libpng_message, sizeof sink->libpng_message, "%s", message);
    png_longjmp(png, 1);
}

static void png_sink_warning(png_structp png, png_const_charp message) { (void)png, (void)message; }

/* Encodes the image through png (its output set to sink); 0, or -1 once libpng
 * reported a failure. setjmp lives here, so the caller's locals stay determinate. */
static int encode_png(png_structp png, png_infop info, png_sink *sink, const float *rgb, int width, int height,
                      const png_text_entry *text, int n_text, png_textp chunks, unsigned char *row) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_write_fn(png, sink, png_sink_write, png_sink_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; i < n_text; i++) {
        chunks[i].compression = PNG_ITXT_COMPRESSION_NONE; /* UTF-8 prompts */
        chunks[i].key = (png_charp)text[i].key;
        chunks[i].text = (png_charp)text[i].value;
    }
    if (n_text > 0) png_set_text(png, info, chunks, n_text);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) {
        const float *src = rgb + (size_t)y * width * 3;
        for (int x = 0; x < width * 3; x++) row[x] = png_float_to_u8(src[x]);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    return 0;
}

ow_status png_write_rgb_float(const char *path, const float *rgb, int width, int height,
                              const png_text_entry *text, int n_text, ow_error *err) {
    unsigned char *row = malloc((size_t)width * 3);
    png_textp chunks = calloc((size_t)(n_text > 0 ? n_text : 1), sizeof *chunks);
    if (!row || !chunks) {
        free(row);
        free(chunks);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory writing %s", path);
    }
    ow_atomic_file file;
    ow_status status = ow_atomic_file_open(&file, path, err);
    if (status != OW_OK) { free(row); free(chunks); return status; }

    png_sink sink = {.file = &file, .libpng_message = ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, png_sink_error, png_sink_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int failed = !png || !info ? -1 : encode_png(png, info, &sink, rgb, width, height, text, n_text, chunks, row);
    png_destroy_write_struct(&png, &info);
    free(row);
    free(chunks);
    if (failed) {
        if (file.write_errno) /* the system refused the bytes: say why ("No space left on device") */
            status = ow_error_set(err, OW_ERR_IO, "cannot write PNG %s: %s", path, strerror(file.write_errno));
        else
            status = ow_error_set(err, OW_ERR_IO, "cannot encode PNG %s: %s", path,
                                  sink.libpng_message[0] ? sink.libpng_message : "out of memory");
        ow_atomic_file_abort(&file);
        return status;
    }
    return ow_atomic_file_commit(&file, err);
}
