/* text.c: UTF-8 validation and display escaping of text from files. */
#include "core/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point; 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; v = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; v = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

int ow_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_sequence(p + i, n - i, &cp);
        if (!len) return 0;
        i += len;
    }
    return 1;
}

/* The escape for one character, or 0 when it is printed as it is. */
static int escape_of(uint32_t cp, size_t len, const unsigned char *bytes, char out[8]) {
    if (len == 0) return snprintf(out, 8, "\\x%02x", bytes[0]);
    if (cp == '\n') return snprintf(out, 8, "\\n");
    if (cp == '\t') return snprintf(out, 8, "\\t");
    if (cp == '\r') return snprintf(out, 8, "\\r");
    if (cp < 0x20 || cp == 0x7f) return snprintf(out, 8, "\\x%02x", (unsigned)cp);
    if (cp >= 0x80 && cp <= 0x9f) return snprintf(out, 8, "\\u%04x", (unsigned)cp);
    return 0;
}

size_t ow_text_escape(char *dst, size_t cap, const char *src, size_t n) {
    if (cap == 0) return 0;
    const unsigned char *p = (const unsigned char *)src;
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_sequence(p + i, n - i, &cp);
        char esc[8];
        int e = escape_of(cp, len, p + i, esc);
        const char *piece = e ? esc : (const char *)p + i;
        size_t piece_len = e ? (size_t)e : len;
        if (o + piece_len + 1 > cap) break;
        memcpy(dst + o, piece, piece_len);
        o += piece_len;
        i += len ? len : 1;
    }
    dst[o] = 0;
    return o;
}

int ow_text_needs_escape(const char *src, size_t n) {
    const unsigned char *p = (const unsigned char *)src;
    size_t i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_sequence(p + i, n - i, &cp);
        char esc[8];
        if (escape_of(cp, len, p + i, esc)) return 1;
        i += len;
    }
    return 0;
}

char *ow_text_escape_dup(const char *src, size_t n) {
    if (n > (SIZE_MAX - 1) / 6) return NULL;
    size_t cap = 6 * n + 1; /* \u009f is 6 bytes for a 2-byte character; \xNN 4 for 1 */
    char *out = malloc(cap);
    if (!out) return NULL;
    ow_text_escape(out, cap, src, n);
    return out;
}
