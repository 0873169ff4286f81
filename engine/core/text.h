/* text.h: text that came from a file. UTF-8 validation (tokens, names, metadata
 * are refused at read time when they are not valid UTF-8) and escaping for
 * display (nothing a file holds can reach a terminal as a control sequence). */
#ifndef OW_CORE_TEXT_H
#define OW_CORE_TEXT_H

#include <stddef.h>

/* Whether s[0..n) is valid UTF-8: shortest forms only, no surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF. NUL bytes are valid UTF-8 (callers that need C strings
 * check for them separately). */
int ow_utf8_valid(const char *s, size_t n);

/* Copies src[0..n) into dst (cap bytes, always NUL-terminated when cap > 0) with
 * everything that is not printable text escaped: C0 controls and DEL as \n, \t,
 * \r or \xNN, C1 controls (U+0080..U+009F) as \u0080..\u009f, a backslash stays
 * a backslash, and bytes that are not valid UTF-8 as \xNN. Truncates at a whole
 * character or escape. Returns the length written (excluding the NUL). */
size_t ow_text_escape(char *dst, size_t cap, const char *src, size_t n);

/* The same into a malloc'd string (NULL when out of memory). */
char *ow_text_escape_dup(const char *src, size_t n);

/* Whether src[0..n) would be changed by ow_text_escape. */
int ow_text_needs_escape(const char *src, size_t n);

#endif
