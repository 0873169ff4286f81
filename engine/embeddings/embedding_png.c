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
 * iTXt chunks are understood, and decompressed text is bounded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <png.h>
#include <zlib.h>

#include "core/error.h"
#include "embeddings/embedding_png.h"
#include "embeddings/embedding_private.h"

#define KEYWORD "sd-ti-embedding"
#define MAX_TEXT ((size_t)128 << 20) /* decompressed text chunk bound */
#define MAX_PIXELS ((size_t)64 << 20)  /* decoded image bound for the pixel variant */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* zlib-inflates src into a malloc'd buffer of at most MAX_TEXT bytes. */
static ow_status inflate_text(const unsigned char *src, size_t len, char **out, size_t *out_len, ow_error *err) {
    /* (Bytes after the end of the zlib stream are ignored, as Python's zlib.decompress does.) */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "cannot start zlib");
    size_t cap = len * 4 + 1024, used = 0;
    if (cap > MAX_TEXT) cap = MAX_TEXT;
    char *buf = malloc(cap + 1);
    if (!buf) { inflateEnd(&z); return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory"); }
    z.next_in = (unsigned char *)(uintptr_t)src;
    z.avail_in = (uInt)len;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (used == cap) {
            if (cap >= MAX_TEXT) { rc = Z_MEM_ERROR; break; }
            size_t grown_cap = cap * 2 > MAX_TEXT ? MAX_TEXT : cap * 2;
            char *grown = realloc(buf, grown_cap + 1);
            if (!grown) { rc = Z_MEM_ERROR; break; }
            buf = grown;
            cap = grown_cap;
        }
        z.next_out = (unsigned char *)buf + used;
        z.avail_out = (uInt)(cap - used);
        rc = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) { rc = Z_DATA_ERROR; break; } /* truncated stream */
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return ow_error_set(err, OW_ERR_FORMAT, "the compressed '" KEYWORD "' text is corrupt or larger than %zu MiB",
                            MAX_TEXT >> 20);
    }
    buf[used] = 0;
    *out = buf;
    *out_len = used;
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
        if (crc != be32(body + n))
            return ow_error_set(err, OW_ERR_FORMAT, "the PNG chunk '%c%c%c%c' at byte %zu fails its CRC check (corrupt file)",
                                type[0] & 0x7f, type[1] & 0x7f, type[2] & 0x7f, type[3] & 0x7f, pos);
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
        if (is_text) {
            size_t m = (size_t)(end - p);
            char *copy = malloc(m + 1);
            if (!copy) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
            memcpy(copy, p, m);
            copy[m] = 0;
            *text = copy;
            *text_len = m;
            return OW_OK;
        }
        if (is_ztxt) {
            if (p >= end || *p != 0) return ow_error_set(err, OW_ERR_FORMAT, "zTXt chunk with an unknown compression method");
            return inflate_text(p + 1, (size_t)(end - p - 1), text, text_len, err);
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
            return inflate_text(p, (size_t)(end - p), text, text_len, err);
        }
        size_t m = (size_t)(end - p);
        char *copy = malloc(m + 1);
        if (!copy) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        memcpy(copy, p, m);
        copy[m] = 0;
        *text = copy;
        *text_len = m;
        return OW_OK;
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
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    json_object *root = json_len <= INT32_MAX ? json_tokener_parse_ex(tok, json, (int)json_len) : NULL;
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (root && (size_t)json_tokener_get_parse_end(tok) != json_len) {
        json_object_put(root);
        root = NULL;
    }
    json_tokener_free(tok);
    if (!root)
        return ow_error_set(err, OW_ERR_FORMAT, "the %s does not hold valid JSON (%s)", where,
                            jerr == json_tokener_success    ? "extra data after the object"
                            : jerr == json_tokener_continue ? "it ends too early"
                                                            : json_tokener_error_desc(jerr));
    ow_status s = ow_emb_from_a1111_json(emb, root, stem, err);
    json_object_put(root);
    return s;
}

/* A1111's scrambling: a fresh generator per block, value % 255, low nibble used. */
static void unscramble(unsigned char *block, size_t n) {
    uint32_t seed = 0;
    for (size_t i = 0; i < n; i++) {
        seed = 1664525u * seed + 1013904223u;
        block[i] ^= (unsigned char)((seed % 255u) & 0x0f);
    }
}

/* The pixel variant: NOT_FOUND when the image carries no such data. */
static ow_status read_pixels(ow_embedding *emb, const unsigned char *data, size_t len, const char *stem, ow_error *err) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, len))
        return ow_error_set(err, OW_ERR_FORMAT, "the PNG cannot be decoded: %s", image.message);
    const size_t w = image.width, h = image.height;
    if (w == 0 || h == 0 || w > 65536 || h > 65536 || w * h > MAX_PIXELS) {
        png_image_free(&image);
        return ow_error_set(err, OW_ERR_FORMAT, "the PNG is %zux%zu pixels: too large to hold an embedding", w, h);
    }
    image.format = PNG_FORMAT_RGBA; /* alpha dropped below, as PIL's convert('RGB') */
    unsigned char *rgba = malloc(w * h * 4);
    if (!rgba) {
        png_image_free(&image);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory decoding a %zux%zu PNG", w, h);
    }
    if (!png_image_finish_read(&image, NULL, rgba, 0, NULL)) {
        free(rgba);
        ow_status s = ow_error_set(err, OW_ERR_FORMAT, "the PNG cannot be decoded: %s", image.message);
        png_image_free(&image);
        return s;
    }
    png_image_free(&image);
    /* Crop to the box of pixels whose three channels are all non-zero (whole image if none). */
    size_t x0 = w, x1 = 0, y0 = h, y1 = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            const unsigned char *p = rgba + (y * w + x) * 4;
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
            const unsigned char *p = rgba + ((y0 + y) * w + x0 + x) * 4;
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
        free(rgba);
        return ow_error_set(err, OW_ERR_NOT_FOUND, "no embedding data in the pixels");
    }
    const size_t n = ch * lw * 3;
    unsigned char *lower = malloc(n), *upper = malloc(n);
    if (!lower || !upper) {
        free(rgba);
        free(lower);
        free(upper);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (size_t y = 0; y < ch; y++)
        for (size_t x = 0; x < lw; x++)
            for (size_t c = 0; c < 3; c++) {
                size_t i = (y * lw + x) * 3 + c;
                lower[i] = rgba[((y0 + y) * w + x0 + x) * 4 + c] & 0x0f;
                upper[i] = rgba[((y0 + y) * w + x0 + last_black + 1 + x) * 4 + c] & 0x0f;
            }
    free(rgba);
    unscramble(lower, n);
    unscramble(upper, n);
    for (size_t i = 0; i < n; i++) lower[i] = (unsigned char)(upper[i] << 4 | lower[i]);
    free(upper);
    char *json = NULL;
    size_t json_len = 0;
    ow_status s = inflate_text(lower, n, &json, &json_len, err);
    free(lower);
    if (s != OW_OK) return ow_error_set(err, OW_ERR_NOT_FOUND, "no embedding data in the pixels");
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
