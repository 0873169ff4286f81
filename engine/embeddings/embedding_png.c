/* embedding_png.c: A1111 embeddings stored in PNG images.
 *
 * A1111 writes the embedding dict ({'string_to_token': {'*': 265},
 * 'string_to_param': {'*': tensor}, 'name', 'step', 'sd_checkpoint',
 * 'sd_checkpoint_name'}) as JSON, each tensor as {"TORCHTENSOR": nested lists},
 * base64-encodes it and stores it in a text chunk with the keyword
 * "sd-ti-embedding". It also hides the zlib-compressed JSON in the low bits of
 * extra pixel columns; that variant is read when the text chunk is absent:
 * the image is decoded to RGB (libpng), cropped to its non-black box, the low
 * nibbles of the pixels taken, the two data blocks found left and right of the
 * outermost all-zero columns, each unscrambled with A1111's LCG (seed 0,
 * a = 1664525, c = 1013904223, mod 2^32, value % 255, low 4 bits), joined
 * (right block = high nibbles) and zlib-inflated to the same JSON.
 *
 * The chunk reader walks the raw chunk list itself (no image decoding): every
 * length is checked against the bytes left, CRCs are verified, tEXt, zTXt and
 * iTXt chunks are understood.
 *
 * What a PNG can make us spend is bounded before it is spent: a compressed text
 * is inflated once into a small window to learn its size and refused beyond the
 * cap (the base64 of the largest JSON an embedding can need) before a buffer is
 * allocated; the JSON is measured before json-c parses it (ow_emb_parse_json);
 * the image is decoded only up to MAX_PIXELS, checked from IHDR before any row is
 * allocated, and libpng skips text and unknown chunks (it would inflate every
 * zTXt) with its chunk limits lowered. There is no inflate-ratio check: an
 * embedding of zeros compresses as well as a bomb, the absolute caps bound both. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <png.h>
#include <zlib.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/text.h"
#include "embeddings/embedding_png.h"
#include "embeddings/embedding_private.h"

#define KEYWORD "sd-ti-embedding"
/* Inflated text chunk bound: the base64 of OW_EMB_JSON_MAX_TEXT (4 characters per 3 bytes)
 * and 1 MiB for line breaks (A1111 writes none). */
#define MAX_TEXT ((OW_EMB_JSON_MAX_TEXT / 3 + 1) * 4 + ((size_t)1 << 20))
/* The pixel variant: A1111 puts a preview image (the training size, 512 to 1024 a side)
 * between two blocks of data columns ((h, n / (3 h)) for n compressed bytes, ~1 MB at
 * most), so a legitimate image has a few Mpx; 16 Mpx is a 48 MiB RGB decode. */
#define MAX_PIXELS ((size_t)16 << 20)
#define MAX_SIDE 65536u

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum { INFLATED, INFLATE_CORRUPT, INFLATE_TOO_LARGE };

/* Runs zlib over src: with dst NULL only counts the output (through a small window), else
 * writes it to dst (room for max + 1 bytes). Stops as soon as more than max bytes came out.
 * Bytes after the end of the stream are ignored, as Python's zlib.decompress does. */
static int inflate_stream(const unsigned char *src, size_t len, unsigned char *dst, size_t max, size_t *produced) {
    z_stream z;
    memset(&z, 0, sizeof z);
    *produced = 0;
    if (len > UINT32_MAX || inflateInit(&z) != Z_OK) return INFLATE_CORRUPT;
    unsigned char window[16384];
    z.next_in = (unsigned char *)(uintptr_t)src;
    z.avail_in = (uInt)len;
    size_t total = 0;
    int rc = Z_OK;
    while (total <= max) {
        size_t room = dst ? max + 1 - total : sizeof window;
        z.next_out = dst ? dst + total : window;
        z.avail_out = (uInt)room;
        rc = inflate(&z, Z_NO_FLUSH);
        total += room - z.avail_out;
        if (rc != Z_OK) break;
        if (z.avail_in == 0 && z.avail_out != 0) { rc = Z_DATA_ERROR; break; } /* truncated stream */
    }
    inflateEnd(&z);
    *produced = total;
    if (total > max) return INFLATE_TOO_LARGE;
    return rc == Z_STREAM_END ? INFLATED : INFLATE_CORRUPT;
}

/* zlib-inflates src into a malloc'd, NUL-terminated buffer of at most max bytes; the size is
 * learned first, so a stream that inflates beyond max costs no memory. what names it. */
static ow_status inflate_text(const unsigned char *src, size_t len, size_t max, const char *what, char **out,
                              size_t *out_len, int *too_large, ow_error *err) {
    *out = NULL;
    *out_len = 0;
    *too_large = 0;
    size_t size = 0;
    int r = inflate_stream(src, len, NULL, max, &size);
    if (r == INFLATE_TOO_LARGE) {
        *too_large = 1;
        return ow_error_set(err, OW_ERR_FORMAT,
                            "the %s inflates to more than %zu MiB, more than an embedding can need "
                            "(%zu compressed bytes; refused before decoding it)", what, max >> 20, len);
    }
    if (r != INFLATED) return ow_error_set(err, OW_ERR_FORMAT, "the %s is not a valid zlib stream (corrupt)", what);
    char *buf = malloc(size + 1);
    if (!buf) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory inflating the %s (%zu bytes)", what, size);
    size_t again = 0;
    if (inflate_stream(src, len, (unsigned char *)buf, size, &again) != INFLATED || again != size) {
        free(buf);
        return ow_error_set(err, OW_ERR_FORMAT, "the %s is not a valid zlib stream (corrupt)", what);
    }
    buf[size] = 0;
    *out = buf;
    *out_len = size;
    return OW_OK;
}

/* A copy of the uncompressed text p[0..m) of a chunk, bounded like inflated text. */
static ow_status copy_text(const unsigned char *p, size_t m, const char *keyword, char **text, size_t *text_len,
                           ow_error *err) {
    if (m > MAX_TEXT)
        return ow_error_set(err, OW_ERR_FORMAT, "the '%s' text is %zu bytes, more than the %zu MiB an embedding can need",
                            keyword, m, MAX_TEXT >> 20);
    char *copy = malloc(m + 1);
    if (!copy) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(copy, p, m);
    copy[m] = 0;
    *text = copy;
    *text_len = m;
    return OW_OK;
}

ow_status ow_png_find_text(const unsigned char *data, size_t len, const char *keyword, char **text, size_t *text_len,
                           ow_error *err) {
    *text = NULL;
    *text_len = 0;
    if (len < 8 || memcmp(data, "\x89PNG\r\n\x1a\n", 8) != 0) return ow_error_set(err, OW_ERR_FORMAT, "not a PNG file");
    size_t pos = 8, keyword_len = strlen(keyword);
    int seen_ihdr = 0;
    for (;;) {
        if (len - pos < 12)
            return ow_error_set(err, OW_ERR_FORMAT, "the PNG is truncated (a chunk header at byte %zu is cut)", pos);
        uint32_t n = be32(data + pos);
        const unsigned char *type = data + pos + 4, *body = data + pos + 8;
        if (n > 0x7fffffffu || (size_t)n > len - pos - 12)
            return ow_error_set(err, OW_ERR_FORMAT, "a PNG chunk at byte %zu declares %u bytes but only %zu remain", pos,
                                n, len - pos - 12);
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), type, n + 4);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        crc = be32(body + n); /* let the fuzzer reach the chunk contents */
#endif
        if (crc != be32(body + n)) {
            char shown[32];
            ow_text_escape(shown, sizeof shown, (const char *)type, 4);
            return ow_error_set(err, OW_ERR_FORMAT, "the PNG chunk '%s' at byte %zu fails its CRC check (corrupt file)",
                                shown, pos);
        }
        if (!seen_ihdr && memcmp(type, "IHDR", 4) != 0)
            return ow_error_set(err, OW_ERR_FORMAT, "the PNG does not start with an IHDR chunk");
        seen_ihdr = 1;
        pos += 12 + (size_t)n;
        if (memcmp(type, "IEND", 4) == 0) break;
        int is_text = memcmp(type, "tEXt", 4) == 0, is_ztxt = memcmp(type, "zTXt", 4) == 0,
            is_itxt = memcmp(type, "iTXt", 4) == 0;
        if (!(is_text || is_ztxt || is_itxt)) continue;
        if (n < keyword_len + 1 || memcmp(body, keyword, keyword_len) != 0 || body[keyword_len] != 0) continue;
        const unsigned char *p = body + keyword_len + 1, *end = body + n;
        char what[160];
        snprintf(what, sizeof what, "compressed '%s' text", keyword);
        int too_large;
        if (is_text) return copy_text(p, (size_t)(end - p), keyword, text, text_len, err);
        if (is_ztxt) {
            if (p >= end || *p != 0) return ow_error_set(err, OW_ERR_FORMAT, "zTXt chunk with an unknown compression method");
            return inflate_text(p + 1, (size_t)(end - p - 1), MAX_TEXT, what, text, text_len, &too_large, err);
        }
        /* iTXt: compression flag, method, language\0, translated keyword\0, text */
        if (end - p < 2) return ow_error_set(err, OW_ERR_FORMAT, "truncated iTXt chunk");
        int compressed = p[0], method = p[1];
        p += 2;
        for (int k = 0; k < 2; k++) {
            const unsigned char *z = memchr(p, 0, (size_t)(end - p));
            if (!z) return ow_error_set(err, OW_ERR_FORMAT, "truncated iTXt chunk");
            p = z + 1;
        }
        if (compressed) {
            if (method != 0) return ow_error_set(err, OW_ERR_FORMAT, "iTXt chunk with an unknown compression method");
            return inflate_text(p, (size_t)(end - p), MAX_TEXT, what, text, text_len, &too_large, err);
        }
        return copy_text(p, (size_t)(end - p), keyword, text, text_len, err);
    }
    return ow_error_set(err, OW_ERR_NOT_FOUND, "no '%s' text chunk", keyword);
}

static int b64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

ow_status ow_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len, ow_error *err) {
    *out = NULL;
    unsigned char *buf = malloc(len / 4 * 3 + 4);
    if (!buf) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') { pad++; continue; }
        int v = b64_value(c);
        if (v < 0 || pad) {
            free(buf);
            return ow_error_set(err, OW_ERR_FORMAT, "the '" KEYWORD "' text is not base64 (byte %zu)", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6 || pad > 2) {
        free(buf);
        return ow_error_set(err, OW_ERR_FORMAT, "the '" KEYWORD "' base64 text is cut short");
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return OW_OK;
}

/* The A1111 dict from JSON text (shared by the text-chunk and pixel variants). */
static ow_status from_json_text(ow_embedding *emb, const char *json, size_t json_len, const char *where, const char *stem,
                                ow_error *err) {
    json_object *root = NULL;
    ow_status s = ow_emb_parse_json(json, json_len, where, &root, err);
    if (s != OW_OK) return s;
    s = ow_emb_from_a1111_json(emb, root, stem, err);
    json_object_put(root);
    return s;
}

/* ---- the pixel variant ---- */

/* libpng reads from memory; its errors come back here as a message and a longjmp. */
typedef struct {
    const unsigned char *data;
    size_t len, pos;
    char message[200];
} png_source;

static void png_read_memory(png_structp png, png_bytep out, size_t n) {
    png_source *src = png_get_io_ptr(png);
    if (n > src->len - src->pos) png_error(png, "the file is truncated");
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

static void png_on_error(png_structp png, png_const_charp message) {
    png_source *src = png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

/* Decodes a PNG to 8-bit RGB ((h, w, 3), malloc'd) as PIL's convert('RGB') does: palette and
 * gray expanded, 16-bit samples cut to their high byte, alpha dropped, no gamma. The size is
 * checked from IHDR before any row is allocated; libpng discards text, colour-profile and
 * unknown chunks unread (it would inflate each zTXt up to its 8 MB chunk limit, hundreds of
 * them) and its own limits are lowered to what an embedding image needs. */
static ow_status decode_rgb(const unsigned char *data, size_t len, unsigned char **rgb_out, size_t *w_out,
                            size_t *h_out, ow_error *err) {
    *rgb_out = NULL;
    png_source src = {data, len, 0, "corrupt image data"};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }
    unsigned char *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    volatile int too_large = 0;
    volatile png_uint_32 w = 0, h = 0;
    if (setjmp(png_jmpbuf(png))) {
        free(rgb);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        if (too_large)
            return ow_error_set(err, OW_ERR_FORMAT,
                                "the PNG is %ux%u pixels, more than the %zu Mpx an embedding image can have (refused "
                                "before decoding it)", (unsigned)w, (unsigned)h, MAX_PIXELS >> 20);
        return ow_error_set(err, OW_ERR_FORMAT, "the PNG cannot be decoded: %s", src.message);
    }
    png_set_read_fn(png, &src, png_read_memory);
    png_set_user_limits(png, MAX_SIDE, MAX_SIDE);
    png_set_chunk_cache_max(png, 64);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)1 << 20);
    static const png_byte skipped[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, (int)(sizeof skipped / 5));
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE); /* let the fuzzer reach the pixels */
#endif
    png_read_info(png, info);
    w = png_get_image_width(png, info);
    h = png_get_image_height(png, info);
    size_t pixels, bytes, row_pointers;
    if (!ow_checked_mul_size(w, h, &pixels) || pixels > MAX_PIXELS || !ow_checked_mul_size(pixels, 3, &bytes) ||
        !ow_checked_mul_size(h, sizeof(png_bytep), &row_pointers)) {
        too_large = 1;
        png_longjmp(png, 1);
    }
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected row size after conversion to RGB");
    rgb = malloc(bytes);
    rows = malloc(row_pointers);
    if (!rgb || !rows) png_error(png, "out of memory");
    for (size_t y = 0; y < h; y++) rows[y] = rgb + y * (size_t)w * 3;
    png_read_image(png, rows);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *rgb_out = rgb;
    *w_out = w;
    *h_out = h;
    return OW_OK;
}

/* The pixel variant: NOT_FOUND when the image carries no such data. */
static ow_status read_pixels(ow_embedding *emb, const unsigned char *data, size_t len, const char *stem, ow_error *err) {
    unsigned char *rgb = NULL;
    size_t w = 0, h = 0;
    ow_status s = decode_rgb(data, len, &rgb, &w, &h, err);
    if (s != OW_OK) return s;
    if (w == 0 || h == 0) {
        free(rgb);
        return ow_error_set(err, OW_ERR_NOT_FOUND, "no embedding data in the pixels");
    }
    /* Crop to the box of pixels whose three channels are all non-zero (whole image if none). */
    size_t x0 = w, x1 = 0, y0 = h, y1 = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            const unsigned char *p = rgb + (y * w + x) * 3;
            if (p[0] && p[1] && p[2]) {
                if (x < x0) x0 = x;
                if (x + 1 > x1) x1 = x + 1;
                if (y < y0) y0 = y;
                if (y + 1 > y1) y1 = y + 1;
            }
        }
    if (x0 >= x1) { x0 = 0; x1 = w; y0 = 0; y1 = h; }
    const size_t cw = x1 - x0, ch = y1 - y0;
    /* Columns whose low nibbles are all zero; the blocks lie outside the outermost two. */
    size_t first_black = cw, last_black = 0, black = 0;
    for (size_t x = 0; x < cw; x++) {
        int zero = 1;
        for (size_t y = 0; y < ch && zero; y++) {
            const unsigned char *p = rgb + ((y0 + y) * w + x0 + x) * 3;
            zero = !((p[0] | p[1] | p[2]) & 0x0f);
        }
        if (zero) {
            black++;
            if (x < first_black) first_black = x;
            last_black = x;
        }
    }
    const size_t lw = first_black, uw = black >= 2 ? cw - last_black - 1 : 0;
    if (black < 2 || lw == 0 || lw != uw) {
        free(rgb);
        return ow_error_set(err, OW_ERR_NOT_FOUND, "no embedding data in the pixels");
    }
    /* Both blocks are scrambled with the same key sequence (a fresh generator each, value % 255,
     * low nibble), so each byte is joined as it is unscrambled: (upper ^ key) << 4 | (lower ^ key). */
    const size_t n = ch * lw * 3; /* < w * h * 3: no overflow */
    unsigned char *joined = malloc(n);
    if (!joined) {
        free(rgb);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }
    uint32_t seed = 0;
    for (size_t y = 0; y < ch; y++)
        for (size_t x = 0; x < lw; x++)
            for (size_t c = 0; c < 3; c++) {
                seed = 1664525u * seed + 1013904223u;
                const unsigned key = (seed % 255u) & 0x0f;
                const unsigned lower = rgb[((y0 + y) * w + x0 + x) * 3 + c] & 0x0f;
                const unsigned upper = rgb[((y0 + y) * w + x0 + last_black + 1 + x) * 3 + c] & 0x0f;
                joined[(y * lw + x) * 3 + c] = (unsigned char)((upper ^ key) << 4 | (lower ^ key));
            }
    free(rgb);
    char *json = NULL;
    size_t json_len = 0;
    int too_large = 0;
    s = inflate_text(joined, n, OW_EMB_JSON_MAX_TEXT, "data hidden in the PNG's pixels", &json, &json_len, &too_large,
                     err);
    free(joined);
    if (s != OW_OK && !too_large && s != OW_ERR_OUT_OF_MEMORY)
        return ow_error_set(err, OW_ERR_NOT_FOUND, "no embedding data in the pixels");
    if (s != OW_OK) return s;
    s = from_json_text(emb, json, json_len, "data hidden in the PNG's pixels", stem, err);
    free(json);
    return s;
}

ow_status ow_emb_read_png(ow_embedding *emb, const unsigned char *data, size_t len, const char *stem, ow_error *err) {
    char *text = NULL;
    size_t text_len = 0;
    ow_status s = ow_png_find_text(data, len, KEYWORD, &text, &text_len, err);
    if (s == OW_ERR_NOT_FOUND) {
        s = read_pixels(emb, data, len, stem, err);
        if (s == OW_ERR_NOT_FOUND)
            return ow_error_set(err, OW_ERR_FORMAT,
                                "this PNG holds no embedding: it has no '" KEYWORD "' text chunk and no embedding data "
                                "hidden in its pixels (the two ways A1111 stores one); it looks like a plain image");
        if (s == OW_OK) s = ow_emb_strdup(&emb->format, "A1111 .png (data hidden in the pixels)", err);
        return s;
    }
    if (s != OW_OK) return s;
    unsigned char *json = NULL;
    size_t json_len = 0;
    s = ow_base64_decode(text, text_len, &json, &json_len, err);
    free(text);
    if (s != OW_OK) return s;
    s = from_json_text(emb, (const char *)json, json_len, "'" KEYWORD "' chunk", stem, err);
    free(json);
    if (s == OW_OK) s = ow_emb_strdup(&emb->format, "A1111 .png (" KEYWORD " text chunk)", err);
    return s;
}
