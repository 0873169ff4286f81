/* png_write.c: 8-bit RGB PNG output through libpng, written atomically. */
#include "png_write.h"

#include <math.h>
#include <png.h>
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

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        ow_atomic_file_abort(&file);
        free(row);
        free(chunks);
        return ow_error_set(err, OW_ERR_IO, "cannot encode PNG %s", path);
    }
    png_init_io(png, file.stream);
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
    png_destroy_write_struct(&png, &info);
    free(row);
    free(chunks);
    return ow_atomic_file_commit(&file, err);
}
