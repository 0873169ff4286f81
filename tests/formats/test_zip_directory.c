/* test_zip_directory.c: finding stored members' bytes in a zip archive in memory
 * (formats/zip_directory.h) on archives written byte by byte here: a plain one, a
 * ZIP64 one (sizes and offset 0xFFFFFFFF in the central header, the real values in
 * the ZIP64 extra field, a ZIP64 end record and locator, as writers make them past
 * 4 GiB), and damaged or lying ones, each refused or left to libzip, never read
 * outside the buffer (the sanitizer build would stop). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "formats/zip_directory.h"

typedef struct buffer {
    unsigned char d[4096];
    size_t n;
} buffer;

static void put16(buffer *b, unsigned v) { b->d[b->n++] = v & 0xff, b->d[b->n++] = (v >> 8) & 0xff; }
static void put32(buffer *b, uint32_t v) { put16(b, v & 0xffff), put16(b, v >> 16); }
static void put64(buffer *b, uint64_t v) { put32(b, (uint32_t)v), put32(b, (uint32_t)(v >> 32)); }
static void put(buffer *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n), b->n += n; }

static const char payload[] = "0123456789abcdef"; /* 16 bytes of "storage" */

/* One stored member "archive/data/0" holding payload; zip64: as a >4 GiB writer would. */
static size_t build(buffer *b, int zip64, uint64_t *data_offset) {
    const char *name = "archive/data/0";
    size_t name_len = strlen(name), size = sizeof payload - 1;
    b->n = 0;
    put(b, "junk", 4); /* the member need not start the file */
    size_t local = b->n;
    put32(b, 0x04034b50), put16(b, 20), put16(b, 0), put16(b, 0), put16(b, 0), put16(b, 0), put32(b, 0);
    put32(b, (uint32_t)size), put32(b, (uint32_t)size), put16(b, (unsigned)name_len), put16(b, 4);
    put(b, name, name_len);
    put16(b, 0xcafe), put16(b, 0); /* an empty extra field, as torch pads with one */
    *data_offset = b->n;
    put(b, payload, size);
    size_t central = b->n;
    put32(b, 0x02014b50), put16(b, 45), put16(b, 45), put16(b, 0), put16(b, 0), put16(b, 0), put16(b, 0), put32(b, 0);
    put32(b, zip64 ? 0xFFFFFFFFu : (uint32_t)size), put32(b, zip64 ? 0xFFFFFFFFu : (uint32_t)size);
    put16(b, (unsigned)name_len), put16(b, zip64 ? 28 : 0), put16(b, 0), put16(b, 0), put16(b, 0), put32(b, 0);
    put32(b, zip64 ? 0xFFFFFFFFu : (uint32_t)local);
    put(b, name, name_len);
    if (zip64) put16(b, 0x0001), put16(b, 24), put64(b, size), put64(b, size), put64(b, local);
    size_t central_size = b->n - central;
    if (zip64) {
        size_t end64 = b->n;
        put32(b, 0x06064b50), put64(b, 44), put16(b, 45), put16(b, 45), put32(b, 0), put32(b, 0);
        put64(b, 1), put64(b, 1), put64(b, central_size), put64(b, central);
        put32(b, 0x07064b50), put32(b, 0), put64(b, end64), put32(b, 1);
    }
    put32(b, 0x06054b50), put16(b, 0), put16(b, 0), put16(b, zip64 ? 0xFFFF : 1), put16(b, zip64 ? 0xFFFF : 1);
    put32(b, zip64 ? 0xFFFFFFFFu : (uint32_t)central_size), put32(b, zip64 ? 0xFFFFFFFFu : (uint32_t)central);
    put16(b, 0);
    return central;
}

static void check_good(int zip64) {
    buffer b;
    uint64_t want, got = 0;
    build(&b, zip64, &want);
    ow_zip_directory d;
    ow_error err = {0};
    CHECK(ow_zip_directory_read(&d, b.d, b.n, &err) == OW_OK && d.count == 1, "%s archive: directory read: %s",
          zip64 ? "ZIP64" : "plain", err.message);
    CHECK(ow_zip_stored_data(&d, 0, "archive/data/0", 16, &got) && got == want &&
              memcmp(b.d + got, payload, 16) == 0,
          "%s archive: the member's bytes at %llu (want %llu)", zip64 ? "ZIP64" : "plain", (unsigned long long)got,
          (unsigned long long)want);
    CHECK(!ow_zip_stored_data(&d, 0, "archive/data/1", 16, &got), "another name is not this member");
    CHECK(!ow_zip_stored_data(&d, 0, "archive/data/0", 15, &got), "another size is not this member");
    CHECK(!ow_zip_stored_data(&d, 1, "archive/data/0", 16, &got), "an index past the directory");
    ow_zip_directory_free(&d);
}

/* A byte changed at at (value v, 2 or 4 bytes), then read: refused or not used in place. */
static void check_damaged(const char *what, int zip64, size_t at, uint32_t v, int width, int directory_fails) {
    buffer b;
    uint64_t want, got;
    build(&b, zip64, &want);
    for (int i = 0; i < width; i++) b.d[at + i] = (unsigned char)(v >> (8 * i));
    ow_zip_directory d;
    ow_error err = {0};
    ow_status s = ow_zip_directory_read(&d, b.d, b.n, &err);
    if (directory_fails) {
        CHECK(s == OW_ERR_FORMAT && strstr(err.message, "zip archive"), "%s: refused: %s", what, err.message);
        return;
    }
    CHECK(s == OW_OK, "%s: directory read: %s", what, err.message);
    CHECK(s != OW_OK || !ow_zip_stored_data(&d, 0, "archive/data/0", 16, &got), "%s: not used in place", what);
    if (s == OW_OK) ow_zip_directory_free(&d);
}

int main(void) {
    check_good(0);
    check_good(1);
    buffer b;
    uint64_t data;
    size_t central = build(&b, 0, &data), end = b.n - 22;
    check_damaged("end record's directory offset past the file", 0, end + 16, 0x7fffffff, 4, 1);
    check_damaged("end record's entry count larger than its directory", 0, end + 10, 0xFFFE, 2, 1);
    check_damaged("central header signature", 0, central, 0x12345678, 4, 1);
    check_damaged("central header name length past the directory", 0, central + 28, 0xFFFF, 2, 1);
    check_damaged("local header offset past the file", 0, central + 42, 0x7fffffff, 4, 0);
    check_damaged("local header offset not at a local header", 0, central + 42, 6, 4, 0);
    check_damaged("deflated method", 0, central + 10, 8, 2, 0);
    check_damaged("encrypted flag", 0, central + 8, 1, 2, 0);
    check_damaged("local header's name differs", 0, 4 + 30, 'X', 1, 0);
    check_damaged("local extra length past the file", 0, 4 + 28, 0xFFFF, 2, 0);
    check_damaged("size past the file", 0, central + 20, 0x7fffffff, 4, 0);
    size_t central64 = build(&b, 1, &data), end64 = b.n - 22;
    check_damaged("ZIP64 locator missing", 1, end64 - 20, 0, 4, 1);
    check_damaged("ZIP64 locator pointing past the file", 1, end64 - 12, 0x7fffffff, 4, 1);
    check_damaged("ZIP64 extra field too short", 1, central64 + 46 + 14 + 2, 8, 2, 1);
    check_damaged("ZIP64 extra field longer than the extras", 1, central64 + 46 + 14 + 2, 200, 2, 1);
    ow_zip_directory d;
    ow_error err = {0};
    CHECK(ow_zip_directory_read(&d, b.d, 10, &err) == OW_ERR_FORMAT, "10 bytes: %s", err.message);
    CHECK(ow_zip_directory_read(&d, b.d + 4, b.n - 4 - 22, &err) == OW_ERR_FORMAT, "no end record: %s", err.message);
    CHECK_DONE();
}
