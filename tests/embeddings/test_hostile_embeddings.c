/* test_hostile_embeddings.c: embedding files crafted as an attacker would, written
 * here at test time (zlib, libzip, hand-made PNG chunks and pickles):
 *  - resource bounds: A1111 PNGs whose compressed (zTXt / iTXt) or pixel-hidden
 *    JSON would make json-c build gigabytes, a PNG of small zTXt chunks that
 *    libpng would inflate to gigabytes, an 8192x8192 image that is 200 KB on disk,
 *    .json files with millions of values or past the size cap: each is read in a
 *    child process whose peak memory (ru_maxrss) and time are bounded;
 *  - FIFOs in place of embedding files: an error at once, never a hang;
 *  - text: tokens and names that are not valid UTF-8 or hold a NUL or a control
 *    character, in every layout (PNG JSON, our .json, safetensors, torch zip):
 *    refused with OW_ERR_FORMAT and a message that shows them escaped;
 *  - what the bounds must let through: the largest legitimate A1111 PNG embedding,
 *    a crafted pixel-hidden one, and our .json writer refusing what its reader would. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zip.h>
#include <zlib.h>

#include "check.h"
#include "oneword.h"

#define MEM_LIMIT_MB 256 /* peak RSS of a child reading a hostile file (ASan included) */
#define TIME_LIMIT_S 30  /* and its wall time (ASan, a loaded CI machine) */
#define CHILD_ALARM_S 120

static char dir[] = "/tmp/ow_hostile_emb_XXXXXX";

static const char *path_in_dir(const char *name) {
    static char buffer[2][512];
    static int which;
    which ^= 1;
    snprintf(buffer[which], sizeof buffer[which], "%s/%s", dir, name);
    return buffer[which];
}

static FILE *create_file(const char *name) {
    FILE *f = fopen(path_in_dir(name), "wb");
    if (!f) abort();
    return f;
}

/* ---- byte sinks: memory, zlib, base64 ---- */

typedef void (*put_fn)(void *sink, const void *data, size_t n);

typedef struct { unsigned char *data; size_t len, cap; } membuf;

static void membuf_put(void *sink, const void *data, size_t n) {
    membuf *m = sink;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n) cap *= 2;
        m->data = realloc(m->data, cap);
        if (!m->data) abort();
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, n);
    m->len += n;
}

/* A zlib stream (level 9, as A1111's zlib.compress) into a membuf. */
typedef struct { z_stream z; membuf out; } deflater;

static void deflater_init(deflater *d) {
    memset(d, 0, sizeof *d);
    if (deflateInit(&d->z, 9) != Z_OK) abort();
}

static void deflater_run(deflater *d, const void *data, size_t n, int flush) {
    unsigned char chunk[65536];
    d->z.next_in = (unsigned char *)(uintptr_t)data;
    d->z.avail_in = (uInt)n;
    int rc;
    do {
        d->z.next_out = chunk;
        d->z.avail_out = sizeof chunk;
        rc = deflate(&d->z, flush);
        membuf_put(&d->out, chunk, sizeof chunk - d->z.avail_out);
    } while (d->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

static void deflater_put(void *sink, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n) { /* avail_in is 32 bits */
        size_t k = n > (1u << 30) ? (1u << 30) : n;
        deflater_run(sink, p, k, Z_NO_FLUSH);
        p += k;
        n -= k;
    }
}

static membuf deflater_finish(deflater *d) {
    deflater_run(d, NULL, 0, Z_FINISH);
    deflateEnd(&d->z);
    return d->out;
}

/* Standard base64 (no line breaks, as Python's base64.b64encode) into another sink. */
typedef struct { put_fn put; void *sink; unsigned char carry[3]; int ncarry; } base64_stream;

static void base64_triple(const unsigned char *in, int n, char out[4]) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)(n > 1 ? in[1] : 0) << 8 | (n > 2 ? in[2] : 0);
    out[0] = alphabet[v >> 18 & 63];
    out[1] = alphabet[v >> 12 & 63];
    out[2] = n > 1 ? alphabet[v >> 6 & 63] : '=';
    out[3] = n > 2 ? alphabet[v & 63] : '=';
}

static void base64_put(void *sink, const void *data, size_t n) {
    base64_stream *b = sink;
    const unsigned char *p = data;
    char out[4096];
    size_t o = 0;
    while (n) {
        b->carry[b->ncarry++] = *p++;
        n--;
        if (b->ncarry == 3) {
            base64_triple(b->carry, 3, out + o);
            o += 4;
            b->ncarry = 0;
            if (o == sizeof out) { b->put(b->sink, out, o); o = 0; }
        }
    }
    if (o) b->put(b->sink, out, o);
}

static void base64_finish(base64_stream *b) {
    if (!b->ncarry) return;
    char out[4];
    base64_triple(b->carry, b->ncarry, out);
    b->put(b->sink, out, 4);
}

static void put_text(put_fn put, void *sink, const char *text) { put(sink, text, strlen(text)); }

/* A1111's dict with one vector of n_values zeros: {"string_to_param": {"*": {"TORCHTENSOR": [[0, 0, ...]]}}, ...}. */
static void put_zeros_json(put_fn put, void *sink, size_t n_values) {
    put_text(put, sink, "{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[");
    static char block[65536];
    for (size_t i = 0; i < sizeof block; i += 2) memcpy(block + i, "0,", 2);
    for (size_t left = n_values - 1; left;) {
        size_t k = left < sizeof block / 2 ? left : sizeof block / 2;
        put(sink, block, 2 * k);
        left -= k;
    }
    put_text(put, sink, "0]]}}, \"name\": \"big\", \"step\": 1}");
}

/* ---- PNG files, chunk by chunk ---- */

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void png_chunk(FILE *f, const char *type, const void *body, size_t n) {
    unsigned char head[8], tail[4];
    put_be32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)type, 4);
    if (n) crc = crc32_z(crc, body, n);
    put_be32(tail, (uint32_t)crc);
    fwrite(head, 1, 8, f);
    if (n) fwrite(body, 1, n, f);
    fwrite(tail, 1, 4, f);
}

/* Signature and IHDR of an 8-bit RGB image. */
static FILE *png_start(const char *path, uint32_t w, uint32_t h) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    unsigned char ihdr[13] = {0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = 2; /* RGB */
    png_chunk(f, "IHDR", ihdr, sizeof ihdr);
    return f;
}

/* IDAT from (h, w, 3) pixels, or a black image when rgb is NULL; then IEND. */
static void png_finish(FILE *f, const unsigned char *rgb, uint32_t w, uint32_t h) {
    deflater d;
    deflater_init(&d);
    size_t row = (size_t)w * 3;
    unsigned char *line = calloc(1, row + 1);
    for (uint32_t y = 0; y < h; y++) {
        if (rgb) memcpy(line + 1, rgb + y * row, row);
        deflater_put(&d, line, row + 1);
    }
    free(line);
    membuf idat = deflater_finish(&d);
    png_chunk(f, "IDAT", idat.data, idat.len);
    free(idat.data);
    png_chunk(f, "IEND", NULL, 0);
    fclose(f);
}

/* keyword \0 [zTXt: method 0 | iTXt: flag 1, method 0, language \0, translated \0] compressed text. */
static void png_compressed_text(FILE *f, int itxt, const char *keyword, const membuf *z) {
    membuf body = {0};
    membuf_put(&body, keyword, strlen(keyword) + 1);
    membuf_put(&body, itxt ? "\1\0\0\0" : "\0", itxt ? 4 : 1);
    membuf_put(&body, z->data, z->len);
    png_chunk(f, itxt ? "iTXt" : "zTXt", body.data, body.len);
    free(body.data);
}

/* A1111's PNG text chunk: base64 of the JSON, plain tEXt. */
static void write_text_png(const char *path, const char *json) {
    membuf b64 = {0};
    base64_stream b = {membuf_put, &b64, {0}, 0};
    base64_put(&b, json, strlen(json));
    base64_finish(&b);
    FILE *f = png_start(path, 4, 4);
    membuf body = {0};
    membuf_put(&body, "sd-ti-embedding", 16);
    membuf_put(&body, b64.data, b64.len);
    png_chunk(f, "tEXt", body.data, body.len);
    free(body.data);
    free(b64.data);
    png_finish(f, NULL, 4, 4);
}

/* A1111's pixel-hidden layout (image_embedding.py): the zlib stream's low nibbles left
 * and high nibbles right of two columns whose low nibbles are zero, each block XOR'd
 * with the LCG key (seed 0, a = 1664525, c = 1013904223, value % 255, low 4 bits);
 * every data pixel gets a high nibble so the crop to non-black pixels keeps it. */
static void write_pixel_png(const char *path, const membuf *z, uint32_t h) {
    size_t per_column = (size_t)h * 3, lw = (z->len + per_column - 1) / per_column;
    uint32_t w = (uint32_t)(2 * lw + 2);
    unsigned char *rgb = malloc((size_t)w * h * 3);
    if (!rgb) abort();
    for (size_t i = 0; i < (size_t)w * h * 3; i++) rgb[i] = 0x80;
    uint32_t seed = 0;
    for (size_t i = 0; i < lw * per_column; i++) {
        seed = 1664525u * seed + 1013904223u;
        unsigned key = (seed % 255u) & 0x0f, byte = i < z->len ? z->data[i] : 0;
        size_t y = i / (lw * 3), x = i / 3 % lw, c = i % 3;
        rgb[(y * w + x) * 3 + c] = (unsigned char)(0x80 | ((byte & 0x0f) ^ key));
        rgb[(y * w + lw + 2 + x) * 3 + c] = (unsigned char)(0x80 | ((byte >> 4) ^ key));
    }
    FILE *f = png_start(path, w, h);
    png_finish(f, rgb, w, h);
    free(rgb);
}

/* ---- other containers ---- */

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) abort();
}

/* A safetensors file of F32 tensors (1, 4) named as given (raw bytes), optional metadata name. */
static void write_safetensors(const char *path, const char *const *names, size_t count, const char *meta_name) {
    membuf header = {0};
    put_text(membuf_put, &header, "{");
    if (meta_name) {
        put_text(membuf_put, &header, "\"__metadata__\": {\"name\": \"");
        put_text(membuf_put, &header, meta_name);
        put_text(membuf_put, &header, "\"}, ");
    }
    for (size_t i = 0; i < count; i++) {
        char entry[160];
        snprintf(entry, sizeof entry, "\": {\"dtype\": \"F32\", \"shape\": [1, 4], \"data_offsets\": [%zu, %zu]}%s",
                 16 * i, 16 * i + 16, i + 1 < count ? ", " : "");
        put_text(membuf_put, &header, "\"");
        put_text(membuf_put, &header, names[i]);
        put_text(membuf_put, &header, entry);
    }
    put_text(membuf_put, &header, "}");
    unsigned char len8[8] = {0};
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(len8, 1, 8, f);
    fwrite(header.data, 1, header.len, f);
    float values[4] = {0.25f, -0.5f, 1.0f, 2.0f};
    for (size_t i = 0; i < count; i++) fwrite(values, sizeof values, 1, f);
    fclose(f);
    free(header.data);
}

/* A protocol-2 pickle, written opcode by opcode. */
static void pk_op(membuf *p, unsigned char c) { membuf_put(p, &c, 1); }
static void pk_str(membuf *p, const char *s, size_t n) { /* BINUNICODE: raw bytes, as a file may hold them */
    pk_op(p, 'X');
    for (int i = 0; i < 4; i++) pk_op(p, (unsigned char)(n >> (8 * i)));
    membuf_put(p, s, n);
}
static void pk_global(membuf *p, const char *module, const char *name) {
    pk_op(p, 'c');
    put_text(membuf_put, p, module);
    pk_op(p, '\n');
    put_text(membuf_put, p, name);
    pk_op(p, '\n');
}
static void pk_int(membuf *p, unsigned char v) { pk_op(p, 'K'); pk_op(p, v); }
/* _rebuild_tensor_v2(storage '0' (4 floats), 0, (4,), (1,), False, OrderedDict()) */
static void pk_tensor(membuf *p) {
    pk_global(p, "torch._utils", "_rebuild_tensor_v2");
    pk_op(p, '(');
    pk_op(p, '(');
    pk_str(p, "storage", 7);
    pk_global(p, "torch", "FloatStorage");
    pk_str(p, "0", 1);
    pk_str(p, "cpu", 3);
    pk_int(p, 4);
    pk_op(p, 't');
    pk_op(p, 'Q');
    pk_int(p, 0);
    pk_int(p, 4); pk_op(p, 0x85);
    pk_int(p, 1); pk_op(p, 0x85);
    pk_op(p, 0x89);
    pk_global(p, "collections", "OrderedDict"); pk_op(p, ')'); pk_op(p, 'R');
    pk_op(p, 't');
    pk_op(p, 'R');
}

/* A torch zip .pt: {token: tensor} (diffusers), or {"string_to_param": {"*": tensor}, "name": name} (A1111). */
static void write_torch_zip(const char *path, const char *token, size_t token_len, const char *name, size_t name_len) {
    membuf p = {0};
    pk_op(&p, 0x80); pk_op(&p, 2);
    pk_op(&p, '}');
    if (token) {
        pk_str(&p, token, token_len);
        pk_tensor(&p);
    } else {
        pk_str(&p, "string_to_param", 15);
        pk_op(&p, '}'); pk_str(&p, "*", 1); pk_tensor(&p); pk_op(&p, 's');
        pk_op(&p, 's');
        pk_str(&p, "name", 4);
        pk_str(&p, name, name_len);
    }
    pk_op(&p, 's');
    pk_op(&p, '.');
    unlink(path);
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!z) abort();
    static const float values[4] = {0.25f, -0.5f, 1.0f, 2.0f};
    struct { const char *name; const void *data; size_t n; } entries[] = {
        {"archive/data.pkl", p.data, p.len},
        {"archive/data/0", values, sizeof values},
        {"archive/byteorder", "little", 6},
        {"archive/version", "3\n", 2},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        zip_source_t *src = zip_source_buffer(z, entries[i].data, entries[i].n, 0);
        zip_int64_t index = src ? zip_file_add(z, entries[i].name, src, ZIP_FL_OVERWRITE) : -1;
        if (index < 0) abort();
        zip_set_file_compression(z, (zip_uint64_t)index, ZIP_CM_STORE, 0);
    }
    if (zip_close(z) != 0) abort();
    free(p.data);
}

/* ---- reading in a child: status, message, peak memory, time ---- */

typedef struct {
    ow_status status;
    int signal;       /* the child was killed by this signal (SIGALRM: it hung) */
    long maxrss_mb;
    double seconds;
    size_t tokens;
    char message[1024];
} outcome;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static outcome load_in_child(const char *path, int alarm_s) {
    outcome o;
    memset(&o, 0, sizeof o);
    int fds[2];
    if (pipe(fds) != 0) abort();
    double t0 = now();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        close(fds[0]);
        alarm((unsigned)alarm_s);
        ow_error err = {0};
        ow_embedding *emb = NULL;
        outcome r;
        memset(&r, 0, sizeof r);
        r.status = ow_embedding_load(&emb, path, &err);
        r.tokens = emb ? ow_embedding_count(emb) : 0;
        memcpy(r.message, err.message, sizeof r.message);
        ow_embedding_free(emb);
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(2);
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof o) {
        ssize_t n = read(fds[0], (char *)&o + got, sizeof o - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int wstatus = 0;
    struct rusage ru;
    if (wait4(pid, &wstatus, 0, &ru) != pid) abort();
    if (got != sizeof o) {
        memset(&o, 0, sizeof o);
        o.status = OW_ERR_IO;
        snprintf(o.message, sizeof o.message, "(the child died)");
    }
    o.signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    o.maxrss_mb = ru.ru_maxrss / 1024;
    o.seconds = now() - t0;
    return o;
}

static long file_kb(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)(st.st_size / 1024) : -1;
}

/* A hostile file: refused with this status and phrase, within the memory and time bounds. */
static void expect_bounded(const char *name, ow_status want, const char *phrase) {
    const char *path = path_in_dir(name);
    outcome o = load_in_child(path, CHILD_ALARM_S);
    printf("%-22s %6ld KB on disk: status %d, peak %ld MB, %.1f s%s: %s\n", name, file_kb(path), (int)o.status,
           o.maxrss_mb, o.seconds, o.signal ? " (killed)" : "", o.message);
    CHECK(!o.signal, "%s: the reader was killed by signal %d after %.1f s (peak %ld MB)", name, o.signal, o.seconds,
          o.maxrss_mb);
    CHECK(o.status == want, "%s: status %d, want %d (%s)", name, (int)o.status, (int)want, o.message);
    CHECK(strstr(o.message, phrase) != NULL, "%s: message '%s' lacks '%s'", name, o.message, phrase);
    CHECK(o.maxrss_mb <= MEM_LIMIT_MB, "%s: peak memory %ld MB, limit %d MB", name, o.maxrss_mb, MEM_LIMIT_MB);
    CHECK(o.seconds <= TIME_LIMIT_S, "%s: %.1f s, limit %d s", name, o.seconds, TIME_LIMIT_S);
}

/* A file with bad text: OW_ERR_FORMAT, the phrase, the escaped text, and no raw control byte in the message. */
static void expect_text_refused(const char *name, const char *phrase, const char *escaped) {
    const char *path = path_in_dir(name);
    outcome o = load_in_child(path, 30);
    printf("%-22s status %d: %s\n", name, (int)o.status, o.message);
    CHECK(o.status == OW_ERR_FORMAT, "%s: status %d (%zu tokens), want OW_ERR_FORMAT (%s)", name, (int)o.status,
          o.tokens, o.message);
    CHECK(strstr(o.message, phrase) != NULL, "%s: message '%s' lacks '%s'", name, o.message, phrase);
    CHECK(strstr(o.message, escaped) != NULL, "%s: message '%s' does not show the text escaped as '%s'", name, o.message,
          escaped);
    int raw = 0;
    for (const unsigned char *p = (const unsigned char *)o.message; *p; p++) raw |= *p < 0x20 || *p == 0x7f || *p >= 0x80;
    CHECK(!raw, "%s: the message holds raw control or non-ASCII bytes from the file", name);
}

/* ---- the files ---- */

static void resource_bounds(void) {
    /* zTXt: 94 MB of JSON (47 million zeros) as base64, 125 MB of text compressed to ~120 KB. */
    {
        deflater d;
        deflater_init(&d);
        base64_stream b = {deflater_put, &d, {0}, 0};
        put_zeros_json(base64_put, &b, (size_t)47 << 20);
        base64_finish(&b);
        membuf z = deflater_finish(&d);
        FILE *f = png_start(path_in_dir("ztxt_bomb.png"), 4, 4);
        png_compressed_text(f, 0, "sd-ti-embedding", &z);
        png_finish(f, NULL, 4, 4);
        free(z.data);
    }
    expect_bounded("ztxt_bomb.png", OW_ERR_FORMAT, "MiB");

    /* iTXt: 30 MB of JSON (15 million zeros): under the text cap, over the value cap. */
    {
        deflater d;
        deflater_init(&d);
        base64_stream b = {deflater_put, &d, {0}, 0};
        put_zeros_json(base64_put, &b, (size_t)15 << 20);
        base64_finish(&b);
        membuf z = deflater_finish(&d);
        FILE *f = png_start(path_in_dir("itxt_values.png"), 4, 4);
        png_compressed_text(f, 1, "sd-ti-embedding", &z);
        png_finish(f, NULL, 4, 4);
        free(z.data);
    }
    expect_bounded("itxt_values.png", OW_ERR_FORMAT, "values");

    /* The pixel-hidden variant: 120 MB of JSON (60 million zeros) zlib'd into ~120 KB of pixels. */
    {
        deflater d;
        deflater_init(&d);
        put_zeros_json(deflater_put, &d, (size_t)60 << 20);
        membuf z = deflater_finish(&d);
        write_pixel_png(path_in_dir("pixels_bomb.png"), &z, 128);
        free(z.data);
    }
    expect_bounded("pixels_bomb.png", OW_ERR_FORMAT, "MiB");

    /* A plain image with 400 zTXt comments of 7.9 MB each (8 KB compressed): 3 GB if inflated. */
    {
        membuf text = {0};
        text.len = text.cap = 7900000;
        text.data = malloc(text.len);
        if (!text.data) abort();
        memset(text.data, 'A', text.len);
        deflater d;
        deflater_init(&d);
        deflater_put(&d, text.data, text.len);
        membuf z = deflater_finish(&d);
        free(text.data);
        FILE *f = png_start(path_in_dir("comment_bomb.png"), 16, 16);
        for (int i = 0; i < 400; i++) png_compressed_text(f, 0, "Comment", &z);
        png_finish(f, NULL, 16, 16);
        free(z.data);
    }
    expect_bounded("comment_bomb.png", OW_ERR_FORMAT, "plain image");

    /* 8192 x 8192 black pixels: 200 KB on disk, 256 MiB as RGBA. */
    png_finish(png_start(path_in_dir("huge_image.png"), 8192, 8192), NULL, 8192, 8192);
    expect_bounded("huge_image.png", OW_ERR_FORMAT, "pixels");

    /* Our .json with 10 million numbers in one vector (20 MB of text). */
    {
        FILE *f = create_file("values.json");
        fputs("{\"format\": \"oneword-embedding\", \"tokens\": [{\"token\": \"big\", \"vectors\": [[", f);
        for (int i = 0; i < 10 * 1000 * 1000; i++) fputs("0,", f);
        fputs("0]]}]}\n", f);
        fclose(f);
    }
    expect_bounded("values.json", OW_ERR_FORMAT, "values");

    /* A .json file past the size cap (a tokens list after 33 MiB of spaces). */
    {
        FILE *f = create_file("oversized.json");
        static char spaces[1 << 20];
        memset(spaces, ' ', sizeof spaces);
        for (int i = 0; i < 33; i++) fwrite(spaces, 1, sizeof spaces, f);
        fputs("{\"tokens\": []}\n", f);
        fclose(f);
    }
    expect_bounded("oversized.json", OW_ERR_FORMAT, "bytes");

    /* Nesting 100000 lists deep (too many lists), and 1000 deep (too deep for the tokener). */
    {
        FILE *f = create_file("many_lists.json");
        fputs("{\"tokens\": ", f);
        for (int i = 0; i < 100000; i++) fputc('[', f);
        fclose(f);
        f = create_file("deep.json");
        fputs("{\"tokens\": ", f);
        for (int i = 0; i < 1000; i++) fputc('[', f);
        for (int i = 0; i < 1000; i++) fputc(']', f);
        fputs("}", f);
        fclose(f);
    }
    expect_bounded("many_lists.json", OW_ERR_FORMAT, "lists");
    expect_bounded("deep.json", OW_ERR_FORMAT, "nesting too deep");
}

/* What the bounds must still let through: the largest A1111 PNG embedding (75 vectors of
 * 1024, SD 2), as Python writes floats, in a zTXt chunk; a pixel-hidden one made by the
 * same layout as pixels_bomb.png; and our .json writer refusing what its reader would. */
static void legitimate(void) {
    {
        deflater d;
        deflater_init(&d);
        base64_stream b = {deflater_put, &d, {0}, 0};
        put_text(base64_put, &b, "{\"string_to_token\": {\"*\": 265}, \"string_to_param\": {\"*\": {\"TORCHTENSOR\": [");
        uint32_t state = 1;
        for (int r = 0; r < 75; r++) {
            put_text(base64_put, &b, r ? ", [" : "[");
            for (int c = 0; c < 1024; c++) {
                state = state * 1103515245u + 12345u;
                char number[40];
                snprintf(number, sizeof number, "%s%.17g", c ? ", " : "", ((double)(state >> 8) / (1 << 24) - 0.5) * 0.03);
                put_text(base64_put, &b, number);
            }
            put_text(base64_put, &b, "]");
        }
        put_text(base64_put, &b, "]}}, \"name\": \"big-sd2\", \"step\": 5000, \"sd_checkpoint\": \"abcd1234\", "
                                 "\"sd_checkpoint_name\": \"v2-1_768-ema-pruned\"}");
        base64_finish(&b);
        membuf z = deflater_finish(&d);
        FILE *f = png_start(path_in_dir("legit_sd2.png"), 4, 4);
        png_compressed_text(f, 0, "sd-ti-embedding", &z);
        png_finish(f, NULL, 4, 4);
        free(z.data);
    }
    outcome o = load_in_child(path_in_dir("legit_sd2.png"), CHILD_ALARM_S);
    printf("%-22s %6ld KB on disk: status %d, %zu token(s), peak %ld MB, %.1f s %s\n", "legit_sd2.png",
           file_kb(path_in_dir("legit_sd2.png")), (int)o.status, o.tokens, o.maxrss_mb, o.seconds, o.message);
    CHECK(o.status == OW_OK && o.tokens == 1, "the largest legitimate A1111 PNG: status %d (%s)", (int)o.status, o.message);
    CHECK(o.maxrss_mb <= MEM_LIMIT_MB, "legit_sd2.png: peak memory %ld MB, limit %d MB", o.maxrss_mb, MEM_LIMIT_MB);

    {
        const char *json = "{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[0.5, -1.5, 2.25]]}}, \"name\": \"px\"}";
        deflater d;
        deflater_init(&d);
        deflater_put(&d, json, strlen(json));
        membuf z = deflater_finish(&d);
        write_pixel_png(path_in_dir("pixels_small.png"), &z, 8);
        free(z.data);
    }
    ow_error err = {0};
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_load(&emb, path_in_dir("pixels_small.png"), &err);
    const float *rows = NULL;
    CHECK(s == OW_OK && ow_embedding_vectors(emb, 0, &rows, NULL) == 1 && ow_embedding_dim(emb) == 3 &&
          strcmp(ow_embedding_token(emb, 0), "px") == 0 && rows[1] == -1.5f,
          "a crafted pixel-hidden embedding: status %d (%s)", (int)s, err.message);
    if (s == OW_OK) printf("pixels_small.png       read: %s\n", ow_embedding_format(emb));
    ow_embedding_free(emb);

    /* 1024 vectors of 1024 numbers: more than a .json embedding may hold; .safetensors takes it. */
    emb = NULL;
    CHECK(ow_embedding_create(&emb, &err) == OW_OK, "create");
    float *big = calloc((size_t)1024 * 1024, sizeof *big);
    s = ow_embedding_add(emb, "big", big, 1024, 1024, &err);
    CHECK(s == OW_OK, "add 1024 x 1024: %s", err.message);
    s = ow_embedding_save(emb, path_in_dir("big.json"), OW_EMBEDDING_LAYOUT_AUTO, &err);
    printf("big.json               write: status %d: %s\n", (int)s, err.message);
    CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, ".safetensors"), "writing 1M numbers as .json: status %d (%s)",
          (int)s, err.message);
    CHECK(access(path_in_dir("big.json"), F_OK) != 0, "a refused .json was written");
    s = ow_embedding_save(emb, path_in_dir("big.safetensors"), OW_EMBEDDING_LAYOUT_AUTO, &err);
    CHECK(s == OW_OK, "the same as .safetensors: %s", err.message);
    free(big);
    ow_embedding_free(emb);
}

static void fifos(void) {
    const char *names[] = {"fifo.pt", "fifo.png", "fifo.json", "fifo.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *path = path_in_dir(names[i]);
        CHECK(mkfifo(path, 0600) == 0, "mkfifo %s", path);
        outcome o = load_in_child(path, 5);
        printf("%-22s status %d, %.1f s%s: %s\n", names[i], (int)o.status, o.seconds, o.signal ? " (killed: it hung)" : "",
               o.message);
        CHECK(!o.signal, "%s: reading a FIFO hung (killed by signal %d after %.1f s)", names[i], o.signal, o.seconds);
        CHECK(o.status == OW_ERR_IO && strstr(o.message, "FIFO") != NULL, "%s: status %d, message '%s'", names[i],
              (int)o.status, o.message);
    }
}

static void bad_text(void) {
    /* A1111 PNG (tEXt, base64 JSON): the one token is named by "name". */
    write_text_png(path_in_dir("name_latin1.png"),
                   "{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[0.5, 1.5]]}}, \"name\": \"caf\xe9\"}");
    expect_text_refused("name_latin1.png", "not valid UTF-8", "caf\\xe9");
    /* Two tokens: the string_to_param keys are the tokens. */
    write_text_png(path_in_dir("key_invalid.png"),
                   "{\"string_to_param\": {\"ok\": {\"TORCHTENSOR\": [[0.5]]}, \"b\xff" "d\": {\"TORCHTENSOR\": [[1.5]]}}}");
    expect_text_refused("key_invalid.png", "not valid UTF-8", "b\\xffd");
    write_text_png(path_in_dir("key_nul.png"),
                   "{\"string_to_param\": {\"ok\": {\"TORCHTENSOR\": [[0.5]]}, \"a\\u0000b\": {\"TORCHTENSOR\": [[1.5]]}}}");
    expect_text_refused("key_nul.png", "NUL", "NUL");
    write_text_png(path_in_dir("checkpoint_invalid.png"),
                   "{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[0.5]]}}, \"name\": \"ok\", "
                   "\"sd_checkpoint_name\": \"model\xc3\"}");
    expect_text_refused("checkpoint_invalid.png", "not valid UTF-8", "model\\xc3");

    /* Our .json. */
    const char *token_nul = "{\"tokens\": [{\"token\": \"a\\u0000b\", \"vectors\": [[0.5]]}]}";
    write_file(path_in_dir("token_nul.json"), token_nul, strlen(token_nul));
    expect_text_refused("token_nul.json", "NUL", "NUL");
    const char *token_bad = "{\"tokens\": [{\"token\": \"x\xc3\x28y\", \"vectors\": [[0.5]]}]}";
    write_file(path_in_dir("token_invalid.json"), token_bad, strlen(token_bad));
    expect_text_refused("token_invalid.json", "not valid UTF-8", "x\\xc3(y");
    const char *token_esc = "{\"tokens\": [{\"token\": \"\\u001b[2Jfake\", \"vectors\": [[0.5]]}]}";
    write_file(path_in_dir("token_escape.json"), token_esc, strlen(token_esc));
    expect_text_refused("token_escape.json", "control character", "\\x1b[2Jfake");
    const char *token_c1 = "{\"tokens\": [{\"token\": \"c1\\u009bcontrol\", \"vectors\": [[0.5]]}]}";
    write_file(path_in_dir("token_c1.json"), token_c1, strlen(token_c1));
    expect_text_refused("token_c1.json", "control character", "c1\\u009bcontrol");

    /* safetensors: diffusers keys and the metadata name. */
    const char *bad_keys[] = {"good", "bad\xed\xa0\x80"}; /* a surrogate: json-c's own UTF-8 check lets it through */
    write_safetensors(path_in_dir("key_surrogate.safetensors"), bad_keys, 2, NULL);
    expect_text_refused("key_surrogate.safetensors", "not valid UTF-8", "bad\\xed\\xa0\\x80");
    const char *emb_params[] = {"emb_params"};
    write_safetensors(path_in_dir("name_surrogate.safetensors"), emb_params, 1, "\xed\xa0\x80x");
    expect_text_refused("name_surrogate.safetensors", "not valid UTF-8", "\\xed\\xa0\\x80x");

    /* torch zip: a diffusers key with an invalid byte or a NUL, and an A1111 name. */
    write_torch_zip(path_in_dir("key_invalid.pt"), "tok\xff", 4, NULL, 0);
    expect_text_refused("key_invalid.pt", "not valid UTF-8", "tok\\xff");
    write_torch_zip(path_in_dir("key_nul.pt"), "a\0b", 3, NULL, 0);
    expect_text_refused("key_nul.pt", "NUL", "NUL");
    write_torch_zip(path_in_dir("name_invalid.pt"), NULL, 0, "n\x80me", 4);
    expect_text_refused("name_invalid.pt", "not valid UTF-8", "n\\x80me");

    /* Valid UTF-8 of every length still reads (and is kept byte for byte). */
    write_text_png(path_in_dir("name_utf8.png"),
                   "{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[0.5, 1.5]]}}, \"name\": \"caf\xc3\xa9-\xe7\x8c\xab-\xf0\x9f\x90\x88\"}");
    ow_error err = {0};
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_load(&emb, path_in_dir("name_utf8.png"), &err);
    CHECK(s == OW_OK && emb && strcmp(ow_embedding_token(emb, 0), "caf\xc3\xa9-\xe7\x8c\xab-\xf0\x9f\x90\x88") == 0,
          "a valid UTF-8 name: status %d (%s)", (int)s, err.message);
    ow_embedding_free(emb);
    write_torch_zip(path_in_dir("key_utf8.pt"), "\xe7\x8c\xab", 3, NULL, 0);
    emb = NULL;
    s = ow_embedding_load(&emb, path_in_dir("key_utf8.pt"), &err);
    CHECK(s == OW_OK && emb && strcmp(ow_embedding_token(emb, 0), "\xe7\x8c\xab") == 0, "a valid UTF-8 .pt key: status %d (%s)",
          (int)s, err.message);
    ow_embedding_free(emb);
}

int main(void) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    bad_text();
    fifos();
    resource_bounds();
    legitimate();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    CHECK_DONE();
}
