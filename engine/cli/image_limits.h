/* image_limits.h: the largest training image (or mask) the readers decode, checked
 * from the header before any pixel memory is taken: a few kilobytes of compressed
 * data can declare a picture whose floats take gigabytes (a decompression bomb).
 * 64 megapixels cost about 1.3 GB while read (the decoder's 8-bit rows, float RGB and
 * alpha); Pillow warns from 89 megapixels. */
#ifndef OW_CLI_IMAGE_LIMITS_H
#define OW_CLI_IMAGE_LIMITS_H

#include <stdint.h>
#include <stdio.h>

#define IMAGE_SIDE_LIMIT 16384
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define IMAGE_PIXELS_LIMIT (64L * 1024 * 1024)
#else
/* The fuzzers allow an input 512 MB in one allocation and 1 GB in all (tests/fuzz/run),
 * less than 64 megapixels take when a few hundred bytes declare them honestly (an
 * arithmetic-coded JPEG decodes to a full picture of zero-filled blocks, a PNG of one
 * colour deflates 1000:1); with 16 megapixels every picture the readers accept fits,
 * so what the fuzzers find is memory the limit does not bound. */
#define IMAGE_PIXELS_LIMIT (16L * 1024 * 1024)
#endif

/* 0 when a w x h image may be read; else -1 with why (cap bytes) saying what to do. */
static inline int image_size_allowed(uint64_t w, uint64_t h, char *why, size_t cap) {
    if (w == 0 || h == 0 || w > IMAGE_SIDE_LIMIT || h > IMAGE_SIDE_LIMIT) {
        snprintf(why, cap, "the image is %llux%llu pixels (1..%d a side)", (unsigned long long)w,
                 (unsigned long long)h, IMAGE_SIDE_LIMIT);
        return -1;
    }
    if (w * h > (uint64_t)IMAGE_PIXELS_LIMIT) {
        snprintf(why, cap, "the image is %llux%llu pixels (%.0f megapixels); at most %ld megapixels are read: scale it down",
                 (unsigned long long)w, (unsigned long long)h, (double)(w * h) / (1024.0 * 1024.0),
                 IMAGE_PIXELS_LIMIT / (1024 * 1024));
        return -1;
    }
    return 0;
}

#endif
