/* fuzz_embedding_png.c: libFuzzer harness for A1111 PNG embeddings read from memory.
 *
 * A PNG input goes to the reader as it is: the chunk walk (lengths, CRCs, tEXt/zTXt/
 * iTXt, bounded inflate), base64, the JSON measure and parse, string_to_param, and the
 * libpng pixel decode when there is no text chunk; the JSON of its 'sd-ti-embedding'
 * chunk, when it has one, is also hidden in pixels and read back. Any other input is
 * taken as the JSON itself and stored the ways A1111 stores it: base64 in a zTXt and
 * in a compressed iTXt chunk (written by libpng), zlib'd in the low nibbles of pixel
 * columns (A1111's layout) and as our .json text, so the fuzzer works on the JSON
 * behind every container. Any input must give OW_OK with sane tokens or an error with
 * a message; never a crash, a leak or a blow-up (tests/fuzz/run sets -rss_limit_mb). */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zlib.h>

#include "embeddings/embedding_png.h"
#include "embeddings/embedding_private.h"

typedef struct { unsigned char *data; size_t len, cap; } membuf;

static void membuf_put(membuf *m, const void *data, size_t n) {
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n) cap *= 2;
        unsigned char *grown = realloc(m->data, cap);
        if (!grown) abort();
        m->data = grown;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, n);
    m->len += n;
}

/* ---- what the reader gets ---- */

static void check_read(const unsigned char *data, size_t size, int json_text) {
    ow_error err = {0};
    ow_embedding *emb = NULL;
    if (ow_embedding_create(&emb, &err) != OW_OK) return;
    ow_status s = json_text ? ow_emb_read_json_text(emb, (const char *)data, size, "fuzz", &err)
                            : ow_emb_read_png(emb, data, size, "fuzz", &err);
    if (s == OW_OK) {
        float sum = 0;
        for (size_t i = 0; i < emb->count; i++) {
            const ow_emb_token *t = &emb->tokens[i];
            if (t->n < 1 || t->n > OW_EMB_MAX_VECTORS || emb->dim < 1 || emb->dim > OW_EMB_MAX_DIM) abort();
            if (ow_emb_check_file_text(t->token, strlen(t->token), "token", 1, &err) != OW_OK) abort();
            for (size_t k = 0; k < (size_t)t->n * (size_t)emb->dim; k++) sum += t->rows[k];
        }
        (void)sum;
    } else if (!err.message[0]) {
        abort(); /* every failure explains itself */
    }
    ow_embedding_free(emb);
}

/* ---- PNGs written by libpng ---- */

static void png_write_membuf(png_structp png, png_bytep data, size_t n) { membuf_put(png_get_io_ptr(png), data, n); }
static void png_flush_nothing(png_structp png) { (void)png; }
static void png_quiet(png_structp png, png_const_charp message) { (void)png; (void)message; }
static void png_fail(png_structp png, png_const_charp message) { (void)message; png_longjmp(png, 1); }

/* An 8-bit RGB PNG of (h, w, 3) pixels, with an 'sd-ti-embedding' text chunk when text is
 * given (compression: PNG_TEXT_COMPRESSION_zTXt or PNG_ITXT_COMPRESSION_zTXt). */
static int write_png(membuf *out, const unsigned char *rgb, uint32_t w, uint32_t h, char *text, int compression) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 0;
    }
    png_set_write_fn(png, out, png_write_membuf, png_flush_nothing);
    png_set_compression_level(png, 1); /* the reader does not care; the fuzzer runs faster */
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (text) {
        static char keyword[] = "sd-ti-embedding";
        png_text chunk;
        memset(&chunk, 0, sizeof chunk);
        chunk.compression = compression;
        chunk.key = keyword;
        chunk.text = text;
        chunk.text_length = strlen(text);
        png_set_text(png, info, &chunk, 1);
    }
    png_write_info(png, info);
    for (uint32_t y = 0; y < h; y++) png_write_row(png, rgb + (size_t)y * w * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 1;
}

static char *base64(const unsigned char *data, size_t n) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + 5), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        size_t k = n - i < 3 ? n - i : 3;
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)(k > 1 ? data[i + 1] : 0) << 8 | (k > 2 ? data[i + 2] : 0);
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = k > 1 ? alphabet[v >> 6 & 63] : '=';
        *o++ = k > 2 ? alphabet[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* json as A1111 stores it in a text chunk: base64, compressed by libpng. */
static void read_as_text_chunk(const unsigned char *json, size_t n, int compression) {
    char *text = base64(json, n);
    static const unsigned char grey[3] = {128, 128, 128};
    membuf png = {0};
    if (text && write_png(&png, grey, 1, 1, text, compression)) check_read(png.data, png.len, 0);
    free(png.data);
    free(text);
}

/* json as A1111 hides it in pixels (image_embedding.py): zlib'd, low nibbles left and high
 * nibbles right of two columns whose low nibbles are zero, each block XOR'd with the LCG key
 * (seed 0, a = 1664525, c = 1013904223, value % 255, low 4 bits); data pixels keep a high
 * nibble so the crop to non-black pixels keeps them. */
static void read_as_pixels(const unsigned char *json, size_t n) {
    uLongf z_len = compressBound(n);
    unsigned char *z = malloc(z_len);
    if (!z || compress2(z, &z_len, json, n, 1) != Z_OK) {
        free(z);
        return;
    }
    const uint32_t h = 4;
    const size_t lw = (z_len + 3 * h - 1) / (3 * h), w = 2 * lw + 2;
    unsigned char *rgb = malloc(w * h * 3);
    if (!rgb) {
        free(z);
        return;
    }
    memset(rgb, 0x80, w * h * 3);
    uint32_t seed = 0;
    for (size_t i = 0; i < lw * h * 3; i++) {
        seed = 1664525u * seed + 1013904223u;
        unsigned key = (seed % 255u) & 0x0f, byte = i < z_len ? z[i] : 0;
        size_t y = i / (lw * 3), x = i / 3 % lw, c = i % 3;
        rgb[(y * w + x) * 3 + c] = (unsigned char)(0x80 | ((byte & 0x0f) ^ key));
        rgb[(y * w + lw + 2 + x) * 3 + c] = (unsigned char)(0x80 | ((byte >> 4) ^ key));
    }
    free(z);
    membuf png = {0};
    if (write_png(&png, rgb, (uint32_t)w, h, NULL, 0)) check_read(png.data, png.len, 0);
    free(png.data);
    free(rgb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ow_error err = {0};
    if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) {
        check_read(data, size, 0);
        /* Its embedding's JSON, if any, behind the pixel variant too. */
        char *text = NULL;
        size_t text_len = 0;
        if (ow_png_find_text(data, size, "sd-ti-embedding", &text, &text_len, &err) == OW_OK) {
            unsigned char *json = NULL;
            size_t json_len = 0;
            if (ow_base64_decode(text, text_len, &json, &json_len, &err) == OW_OK) {
                if (json_len > text_len) abort();
                read_as_pixels(json, json_len);
            }
            free(json);
        }
        free(text);
        /* The chunk reader alone, for another keyword. */
        text = NULL;
        if (ow_png_find_text(data, size, "parameters", &text, &text_len, &err) == OW_OK && strlen(text) > text_len)
            abort();
        free(text);
        return 0;
    }
    check_read(data, size, 1);
    read_as_text_chunk(data, size, PNG_TEXT_COMPRESSION_zTXt);
    read_as_text_chunk(data, size, PNG_ITXT_COMPRESSION_zTXt);
    read_as_pixels(data, size);
    return 0;
}
