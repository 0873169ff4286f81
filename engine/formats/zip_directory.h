/* zip_directory.h: where each member's bytes lie in a zip archive held in memory
 * (a mapped torch .ckpt), so that stored (uncompressed) members, which is how
 * torch.save writes every storage, can be used in place instead of being copied
 * into RAM. libzip reads the archive; it does not say where a member's data
 * starts, so the central directory (with its ZIP64 records) and each local header
 * are read here, every offset checked against the archive's size. */
#ifndef OW_FORMATS_ZIP_DIRECTORY_H
#define OW_FORMATS_ZIP_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "oneword.h"

typedef struct ow_zip_entry {
    const unsigned char *name; /* in the archive, not NUL-terminated */
    size_t name_len;
    uint16_t method;           /* 0: stored */
    uint64_t compressed_size, size, local_offset;
} ow_zip_entry;

typedef struct ow_zip_directory {
    const unsigned char *archive;
    size_t archive_size;
    ow_zip_entry *entries; /* in central-directory order, as libzip indexes them */
    size_t count;
} ow_zip_directory;

/* Reads the central directory of archive[0..size). */
ow_status ow_zip_directory_read(ow_zip_directory *d, const unsigned char *archive, size_t size, ow_error *err);
void ow_zip_directory_free(ow_zip_directory *d);

/* The offset of entry index's data when it is stored uncompressed, unencrypted and
 * lies wholly in the archive with the same name in its local header: 1 and
 * *offset; 0 when it must be read through libzip instead. */
int ow_zip_stored_data(const ow_zip_directory *d, size_t index, const char *name, uint64_t size, uint64_t *offset);

#endif
