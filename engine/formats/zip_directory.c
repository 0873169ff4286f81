/* zip_directory.c: the central directory and local headers of a zip archive in
 * memory (see zip_directory.h). Record layouts from PKWARE's APPNOTE.TXT (4.3.7
 * local header, 4.3.12 central directory header, 4.3.14-16 ZIP64 end of central
 * directory record and locator, 4.5.3 ZIP64 extended information). */
#include "formats/zip_directory.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define LOCAL_SIZE 30
#define CENTRAL_SIZE 46
#define END_SIZE 22
#define END64_SIZE 56
#define LOCATOR64_SIZE 20

static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* Whether [offset, offset + n) lies within size bytes. */
static int within(uint64_t offset, uint64_t n, uint64_t size) { return offset <= size && n <= size - offset; }

static ow_status damaged(ow_error *err, const char *what) {
    return ow_error_set(err, OW_ERR_FORMAT, "zip archive: %s (damaged or truncated file)", what);
}

/* The ZIP64 extended information field of a central header fills in the values
 * that are 0xFFFFFFFF in it, in this order. */
static int read_zip64_extra(const unsigned char *extra, size_t n, ow_zip_entry *e, int need_size, int need_comp,
                            int need_offset) {
    while (n >= 4) {
        uint16_t id = get16(extra), len = get16(extra + 2);
        if ((size_t)len > n - 4) return 0;
        if (id == 0x0001) {
            const unsigned char *p = extra + 4, *end = p + len;
            if (need_size) { if (end - p < 8) return 0; e->size = get64(p); p += 8; }
            if (need_comp) { if (end - p < 8) return 0; e->compressed_size = get64(p); p += 8; }
            if (need_offset) { if (end - p < 8) return 0; e->local_offset = get64(p); }
            return 1;
        }
        extra += 4 + (size_t)len;
        n -= 4 + (size_t)len;
    }
    return !need_size && !need_comp && !need_offset;
}

ow_status ow_zip_directory_read(ow_zip_directory *d, const unsigned char *a, size_t size, ow_error *err) {
    memset(d, 0, sizeof *d);
    if (size < END_SIZE) return damaged(err, "too short for an end-of-directory record");
    /* The end record is followed only by its comment (at most 65535 bytes). */
    size_t end = 0;
    int found = 0;
    size_t lowest = size - END_SIZE > 65535 ? size - END_SIZE - 65535 : 0;
    for (size_t at = size - END_SIZE + 1; at-- > lowest;)
        if (get32(a + at) == SIG_END && at + END_SIZE + get16(a + at + 20) == size) {
            end = at, found = 1;
            break;
        }
    if (!found) return damaged(err, "no end-of-central-directory record");
    uint64_t count = get16(a + end + 10), dir_size = get32(a + end + 12), dir_offset = get32(a + end + 16);
    if (count == 0xFFFF || dir_size == 0xFFFFFFFFu || dir_offset == 0xFFFFFFFFu) {
        if (end < LOCATOR64_SIZE || get32(a + end - LOCATOR64_SIZE) != SIG_LOCATOR64)
            return damaged(err, "ZIP64 sizes without a ZIP64 locator");
        uint64_t end64 = get64(a + end - LOCATOR64_SIZE + 8);
        if (!within(end64, END64_SIZE, size) || get32(a + end64) != SIG_END64)
            return damaged(err, "the ZIP64 end record is not where its locator says");
        count = get64(a + end64 + 32), dir_size = get64(a + end64 + 40), dir_offset = get64(a + end64 + 48);
    }
    if (!within(dir_offset, dir_size, size) || count > dir_size / CENTRAL_SIZE)
        return damaged(err, "the central directory does not fit in the file");
    d->entries = calloc(count ? (size_t)count : 1, sizeof *d->entries);
    if (!d->entries) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory reading a zip directory");
    d->archive = a;
    d->archive_size = size;
    uint64_t at = dir_offset, dir_end = dir_offset + dir_size;
    for (uint64_t i = 0; i < count; i++) {
        if (!within(at, CENTRAL_SIZE, dir_end) || get32(a + at) != SIG_CENTRAL) {
            ow_zip_directory_free(d);
            return damaged(err, "a central directory entry is missing");
        }
        const unsigned char *h = a + at;
        ow_zip_entry *e = &d->entries[i];
        size_t name_len = get16(h + 28), extra_len = get16(h + 30), comment_len = get16(h + 32);
        if (!within(at + CENTRAL_SIZE, (uint64_t)name_len + extra_len + comment_len, dir_end)) {
            ow_zip_directory_free(d);
            return damaged(err, "a central directory entry runs past the directory");
        }
        e->method = get16(h + 10);
        if (get16(h + 8) & 1) e->method |= 0x8000; /* encrypted: never "stored" */
        e->compressed_size = get32(h + 20);
        e->size = get32(h + 24);
        e->local_offset = get32(h + 42);
        e->name = h + CENTRAL_SIZE;
        e->name_len = name_len;
        if (!read_zip64_extra(h + CENTRAL_SIZE + name_len, extra_len, e, e->size == 0xFFFFFFFFu,
                              e->compressed_size == 0xFFFFFFFFu, e->local_offset == 0xFFFFFFFFu)) {
            ow_zip_directory_free(d);
            return damaged(err, "a ZIP64 extra field is missing or short");
        }
        at += CENTRAL_SIZE + name_len + extra_len + comment_len;
    }
    d->count = (size_t)count;
    return OW_OK;
}

void ow_zip_directory_free(ow_zip_directory *d) {
    free(d->entries);
    memset(d, 0, sizeof *d);
}

int ow_zip_stored_data(const ow_zip_directory *d, size_t index, const char *name, uint64_t size, uint64_t *offset) {
    if (index >= d->count) return 0;
    const ow_zip_entry *e = &d->entries[index];
    size_t n = strlen(name);
    if (e->method != 0 || e->size != size || e->compressed_size != size || e->name_len != n ||
        memcmp(e->name, name, n) != 0)
        return 0;
    const unsigned char *a = d->archive;
    if (!within(e->local_offset, LOCAL_SIZE, d->archive_size) || get32(a + e->local_offset) != SIG_LOCAL) return 0;
    const unsigned char *h = a + e->local_offset;
    size_t local_name = get16(h + 26), local_extra = get16(h + 28);
    if (get16(h + 8) != 0 || (get16(h + 6) & 1) || local_name != n ||
        !within(e->local_offset + LOCAL_SIZE, local_name, d->archive_size) || memcmp(h + LOCAL_SIZE, name, n) != 0)
        return 0;
    uint64_t data = e->local_offset + LOCAL_SIZE + local_name + local_extra;
    if (!within(data, size, d->archive_size)) return 0;
    *offset = data;
    return 1;
}
