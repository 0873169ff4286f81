/* webp_read.c: WebP -> float RGB and alpha with libwebp (WebPDecode into straight
 * RGBA, as Pillow's reader gets it). The RIFF container's length is checked against
 * the file before decoding, so a cut file is "truncated", not half a picture. */
#include "webp_read.h"
#include "image_limits.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "core/file.h"

#define FILE_MAX (256ull * 1024 * 1024)

static const char *status_text(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "the file is truncated";
    default: return "unknown error";
    }
}

int webp_read_rgb_float(const char *path, float **rgb, float **alpha, int *width, int *height, char *why, size_t cap) {
    *rgb = NULL;
    *alpha = NULL;
    char *data = NULL;
    size_t n = 0;
    ow_error err = {0};
    if (ow_file_read_all(path, "image", FILE_MAX, &data, &n, &err) != OW_OK) {
        snprintf(why, cap, "%s", err.message);
        return -1;
    }
    const unsigned char *d = (const unsigned char *)data;
    if (n < 12 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WEBP", 4) != 0) {
        snprintf(why, cap, "not a WebP file (no RIFF/WEBP header)");
        free(data);
        return -1;
    }
    const uint64_t riff = (uint64_t)d[4] | (uint64_t)d[5] << 8 | (uint64_t)d[6] << 16 | (uint64_t)d[7] << 24;
    if (riff + 8 > n) {
        snprintf(why, cap, "not a readable WebP: the file is truncated (%zu of the %llu bytes its header declares)", n,
                 (unsigned long long)(riff + 8));
        free(data);
        return -1;
    }
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        snprintf(why, cap, "libwebp does not match the version oneword was built with");
        free(data);
        return -1;
    }
    VP8StatusCode s = WebPGetFeatures(d, n, &config.input);
    const int w = config.input.width, h = config.input.height;
    if (s != VP8_STATUS_OK) {
        snprintf(why, cap, "not a readable WebP: %s", status_text(s));
    } else if (config.input.has_animation) {
        snprintf(why, cap, "an animated WebP: oneword learns from still pictures; save one frame of it as a picture "
                           "(GIMP opens the frames as layers; or: webpmux -get frame 1)");
        s = VP8_STATUS_UNSUPPORTED_FEATURE;
    } else if (w < 1 || h < 1 || image_size_allowed((uint64_t)w, (uint64_t)h, why, cap) != 0) {
        if (w < 1 || h < 1) snprintf(why, cap, "the image is %dx%d pixels", w, h);
        s = VP8_STATUS_UNSUPPORTED_FEATURE;
    }
    if (s != VP8_STATUS_OK) {
        free(data);
        return -1;
    }
    const int has_alpha = config.input.has_alpha;
    config.output.colorspace = MODE_RGBA;
    s = WebPDecode(d, n, &config);
    free(data);
    if (s != VP8_STATUS_OK) {
        snprintf(why, cap, "not a readable WebP: %s", status_text(s));
        WebPFreeDecBuffer(&config.output);
        return -1;
    }
    const size_t npix = (size_t)w * h;
    float *out = malloc(npix * 3 * sizeof *out), *mask = has_alpha ? malloc(npix * sizeof *mask) : NULL;
    if (!out || (has_alpha && !mask)) {
        snprintf(why, cap, "out of memory for a %dx%d image", w, h);
        free(out);
        free(mask);
        WebPFreeDecBuffer(&config.output);
        return -1;
    }
    const WebPRGBABuffer *b = &config.output.u.RGBA;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = b->rgba + (size_t)y * b->stride;
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            for (int c = 0; c < 3; c++) out[i * 3 + c] = row[x * 4 + c] / 255.0f;
            if (mask) mask[i] = row[x * 4 + 3] / 255.0f;
        }
    }
    WebPFreeDecBuffer(&config.output);
    *rgb = out;
    *alpha = mask;
    *width = w;
    *height = h;
    return 0;
}
