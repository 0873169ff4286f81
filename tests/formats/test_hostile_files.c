/* test_hostile_files.c: files crafted as an attacker would, built here byte by
 * byte (a small pickle writer, libzip, raw safetensors), one per class of defect
 * of issue 18, each refused with the right status and message:
 *   - memory disclosure: a legacy storage key declared twice with another element
 *     type (the second view would read 4x the bytes the file holds); the same in a
 *     zip archive; tensor entries pointing outside the file's bytes;
 *   - a deflated 128 MiB storage in a 130 KB zip (torch never compresses);
 *   - resource bounds: a 37 KB pickle whose every call copies a 16,000-item list
 *     stops at its allocation budget instead of building hundreds of MB;
 *   - hangs: a FIFO in place of a checkpoint, a config.json, a scheduler config or
 *     model_index.json gives an error at once (checked in a child with a timer);
 *   - integer overflow: shapes whose product overflows though a dimension is 0,
 *     config values whose products overflow (4 * block_out_channels[0]);
 *   - text: control characters from a file reach messages only escaped; tensor
 *     names that are not UTF-8 are refused. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zip.h>

#include "check.h"
#include "core/error.h"
#include "core/text.h"
#include "formats/pickle.h"
#include "formats/tensor_set_private.h"
#include "model/unet.h"
#include "oneword.h"

/* ---- a tiny pickle writer (protocol 2) ---- */

typedef struct { unsigned char *d; size_t n, cap; } buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void op(buf *b, int c) { unsigned char x = (unsigned char)c; put(b, &x, 1); }
static void u32le(buf *b, uint32_t v) { unsigned char x[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24}; put(b, x, 4); }
static void u64le(buf *b, uint64_t v) { for (int i = 0; i < 8; i++) op(b, (int)((v >> (8 * i)) & 255)); }
static void str(buf *b, const char *s) { op(b, 'X'); u32le(b, (uint32_t)strlen(s)); put(b, s, strlen(s)); }
static void bin_int(buf *b, int32_t v) { op(b, 'J'); u32le(b, (uint32_t)v); }
static void global(buf *b, const char *module, const char *name) {
    op(b, 'c'); put(b, module, strlen(module)); op(b, '\n'); put(b, name, strlen(name)); op(b, '\n');
}
static void proto(buf *b) { op(b, 0x80); op(b, 2); }

/* _rebuild_tensor_v2(('storage', type, key, 'cpu', numel), 0, (size...), (stride...), False, OrderedDict()) */
static void tensor(buf *b, const char *storage_type, const char *key, int64_t numel, int ndim, const int64_t *size,
                   const int64_t *stride) {
    global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '('); str(b, "storage"); global(b, "torch", storage_type); str(b, key); str(b, "cpu");
    bin_int(b, (int32_t)numel); op(b, 't'); op(b, 'Q');
    bin_int(b, 0);
    /* Sizes may exceed 32 bits: LONG1 with 8 bytes. */
    op(b, '(');
    for (int d = 0; d < ndim; d++) { op(b, 0x8a); op(b, 8); u64le(b, (uint64_t)size[d]); }
    op(b, 't');
    op(b, '(');
    for (int d = 0; d < ndim; d++) { op(b, 0x8a); op(b, 8); u64le(b, (uint64_t)stride[d]); }
    op(b, 't');
    op(b, 0x89);
    global(b, "collections", "OrderedDict"); op(b, ')'); op(b, 'R');
    op(b, 't');
    op(b, 'R');
}

/* A legacy (non-zip) torch file around an object pickle: magic, version, sys_info,
 * the object, the key list, then each storage as a u64 count and its bytes. */
static buf legacy_file(const buf *object, const char *key, uint64_t count, size_t elem) {
    static const unsigned char magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    buf f = {0};
    proto(&f); op(&f, 0x8a); op(&f, 10); put(&f, magic, 10); op(&f, '.');
    proto(&f); op(&f, 'M'); op(&f, 0xe9); op(&f, 0x03); op(&f, '.');
    proto(&f); op(&f, '}'); op(&f, '.');
    put(&f, object->d, object->n);
    proto(&f); op(&f, ']'); op(&f, '('); str(&f, key); op(&f, 'e'); op(&f, '.');
    u64le(&f, count);
    for (uint64_t i = 0; i < count * elem; i++) op(&f, (int)(i * 37 & 255));
    return f;
}

static char tmpdir[256];

static const char *write_temp(const char *name, const void *data, size_t n) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    return path;
}

/* Opens path; checks the status and that the message holds want. */
static void expect_refused(const char *what, const char *path, ow_status want_status, const char *want) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, path, &err);
    int ok = s == want_status && strstr(err.message, want) != NULL;
    CHECK(ok, "%s: status %d (want %d), message '%s' (want '%s')", what, s, want_status, err.message, want);
    if (ok) printf("ok   %s: refused: %s\n", what, err.message);
    ow_tensor_set_free(set);
}

/* ---- memory disclosure ---- */

static void legacy_key_declared_twice(void) {
    /* {'a': HalfStorage '0' (1024,), 'b': DoubleStorage '0' (1024,)}: the file holds 2048
     * bytes for '0'; read as doubles, 'b' would be 8192 bytes of whatever follows. */
    int64_t size[1] = {1024}, stride[1] = {1};
    buf obj = {0};
    proto(&obj); op(&obj, '}'); op(&obj, '(');
    str(&obj, "a"); tensor(&obj, "HalfStorage", "0", 1024, 1, size, stride);
    str(&obj, "b"); tensor(&obj, "DoubleStorage", "0", 1024, 1, size, stride);
    op(&obj, 'u'); op(&obj, '.');
    buf f = legacy_file(&obj, "0", 1024, 2);
    expect_refused("legacy key declared as f16 and f64", write_temp("dup_legacy.pt", f.d, f.n), OW_ERR_FORMAT,
                   "declared twice");
    /* Same type, other size: refused too. */
    buf obj2 = {0};
    int64_t small[1] = {16};
    proto(&obj2); op(&obj2, '}'); op(&obj2, '(');
    str(&obj2, "a"); tensor(&obj2, "FloatStorage", "0", 16, 1, small, stride);
    str(&obj2, "b"); tensor(&obj2, "FloatStorage", "0", 1024, 1, size, stride);
    op(&obj2, 'u'); op(&obj2, '.');
    buf f2 = legacy_file(&obj2, "0", 16, 4);
    expect_refused("legacy key declared with two sizes", write_temp("dup_size_legacy.pt", f2.d, f2.n), OW_ERR_FORMAT,
                   "declared twice");
    free(obj.d); free(f.d); free(obj2.d); free(f2.d);
}

static void zip_key_declared_twice(void) {
    /* F32 x 4 and F16 x 8 are both 16 bytes: same size, another type. */
    int64_t s4[1] = {4}, s8[1] = {8}, stride[1] = {1};
    buf obj = {0};
    proto(&obj); op(&obj, '}'); op(&obj, '(');
    str(&obj, "a"); tensor(&obj, "FloatStorage", "0", 4, 1, s4, stride);
    str(&obj, "b"); tensor(&obj, "HalfStorage", "0", 8, 1, s8, stride);
    op(&obj, 'u'); op(&obj, '.');
    char path[512];
    snprintf(path, sizeof path, "%s/dup_zip.pt", tmpdir);
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    static unsigned char storage[16];
    zip_file_add(z, "archive/data.pkl", zip_source_buffer(z, obj.d, obj.n, 0), 0);
    zip_file_add(z, "archive/data/0", zip_source_buffer(z, storage, sizeof storage, 0), 0);
    zip_file_add(z, "archive/version", zip_source_buffer(z, "3\n", 2, 0), 0);
    CHECK(zip_close(z) == 0, "writing %s", path);
    expect_refused("zip key declared as f32 and f16", path, OW_ERR_FORMAT, "declared twice");
    free(obj.d);
}

/* A deflated storage member: 128 MiB of zeros in a ~130 KB archive. */
static void zip_bomb(void) {
    const int64_t numel = (int64_t)1 << 25;
    int64_t size[1] = {numel}, stride[1] = {1};
    buf obj = {0};
    proto(&obj); op(&obj, '}'); op(&obj, '(');
    str(&obj, "t"); tensor(&obj, "FloatStorage", "0", numel, 1, size, stride);
    op(&obj, 'u'); op(&obj, '.');
    char path[512];
    snprintf(path, sizeof path, "%s/bomb_zip.pt", tmpdir);
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    void *zeros = calloc((size_t)numel, 4);
    zip_file_add(z, "archive/data.pkl", zip_source_buffer(z, obj.d, obj.n, 0), 0);
    zip_int64_t i = zip_file_add(z, "archive/data/0", zip_source_buffer(z, zeros, (size_t)numel * 4, 0), 0);
    zip_set_file_compression(z, (zip_uint64_t)i, ZIP_CM_DEFLATE, 9);
    CHECK(zip_close(z) == 0, "writing %s", path);
    struct stat st;
    stat(path, &st);
    printf("     zip bomb: %lld bytes on disk for a %lld-byte storage\n", (long long)st.st_size, (long long)numel * 4);
    expect_refused("deflated 128 MiB storage in a small archive", path, OW_ERR_FORMAT, "zip bomb");
    free(zeros);
    free(obj.d);
}

/* Every reader's entries pass ow_tensor_set_add: bytes outside the mapping are refused there. */
static void entries_outside_the_file(void) {
    unsigned char *fake_map = calloc(1, 100);
    ow_tensor_set *set = calloc(1, sizeof *set);
    set->map = fake_map;
    set->map_size = 100;
    ow_error err = {0};
    int64_t shape[1] = {4};
    CHECK(ow_tensor_set_add(set, "inside", OW_DTYPE_F32, 1, shape, fake_map + 84, 16, &err) == OW_OK,
          "an entry ending at the last byte is accepted: %s", err.message);
    ow_status s = ow_tensor_set_add(set, "past", OW_DTYPE_F32, 1, shape, fake_map + 90, 16, &err);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "outside the bytes the file holds"),
          "an entry running 6 bytes past the file is refused: '%s'", err.message);
    s = ow_tensor_set_add(set, "before", OW_DTYPE_F32, 1, shape, fake_map - 4, 16, &err);
    CHECK(s == OW_ERR_FORMAT, "an entry starting before the file is refused: '%s'", err.message);
    int64_t big[1] = {8};
    s = ow_tensor_set_add(set, "lying", OW_DTYPE_F64, 1, big, fake_map, 16, &err);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "do not hold its shape"),
          "8 f64 in 16 bytes is refused: '%s'", err.message);
    int64_t overflow[3] = {(int64_t)1 << 62, 4, 0};
    s = ow_tensor_set_add(set, "overflow", OW_DTYPE_F32, 3, overflow, NULL, 0, &err);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "overflows"), "shape 2^62 x 4 x 0 is refused: '%s'", err.message);
    printf("ok   tensor entries checked in bytes against the mapping\n");
    set->map = NULL; /* not a real mapping */
    ow_tensor_set_free(set);
    free(fake_map);
}

/* ---- resource bounds ---- */

static void pickle_budget(void) {
    /* set(L) 3,000 times over a 16,000-item list: 37 KB of pickle, ~400 MB of items unbounded. */
    buf b = {0};
    proto(&b);
    global(&b, "builtins", "set"); op(&b, 'q'); op(&b, 0); op(&b, '0');
    op(&b, ']'); op(&b, 'q'); op(&b, 1);
    op(&b, '(');
    for (int i = 0; i < 16000; i++) op(&b, 'N');
    op(&b, 'e'); op(&b, '0');
    for (int i = 0; i < 3000; i++) { op(&b, 'h'); op(&b, 0); op(&b, 'h'); op(&b, 1); op(&b, 0x85); op(&b, 'R'); op(&b, '0'); }
    op(&b, 'N'); op(&b, '.');
    ow_pickle *p = ow_pickle_new();
    const ow_pickle_value *root = NULL;
    ow_error err = {0};
    size_t used = 0;
    ow_status s = ow_pickle_run(p, b.d, b.n, &root, &used, &err);
    uint64_t spent = ow_pickle_bytes_spent(p);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "builds more than"), "%zu-byte copying pickle: status %d '%s'", b.n,
          s, err.message);
    CHECK(spent <= ((uint64_t)48 << 20), "it spent %llu bytes (budget 32 MiB + 256 x %zu)", (unsigned long long)spent,
          b.n);
    printf("ok   a %zu-byte pickle copying a 16,000-item list 3,000 times stops after %.1f MB: %s\n", b.n,
           (double)spent / 1e6, err.message);
    ow_pickle_free(p);
    /* Through the file reader too (the path `oneword inspect` takes). */
    buf obj = {0};
    put(&obj, b.d, b.n);
    buf f = legacy_file(&obj, "0", 0, 4);
    expect_refused("legacy file with the copying pickle", write_temp("budget_legacy.pt", f.d, f.n), OW_ERR_FORMAT,
                   "builds more than");
    free(b.d); free(obj.d); free(f.d);

    /* The same number of small values as a real checkpoint stays far below the budget. */
    buf ok = {0};
    proto(&ok); op(&ok, '}'); op(&ok, '(');
    int64_t size[1] = {1}, stride[1] = {1};
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof name, "model.layer%d.weight", i);
        str(&ok, name); tensor(&ok, "FloatStorage", "0", 1, 1, size, stride);
    }
    op(&ok, 'u'); op(&ok, '.');
    p = ow_pickle_new();
    s = ow_pickle_run(p, ok.d, ok.n, &root, &used, &err);
    spent = ow_pickle_bytes_spent(p);
    CHECK(s == OW_OK, "a 2,000-tensor state dict pickle (%zu bytes) reads: %s", ok.n, err.message);
    printf("ok   a 2,000-tensor state dict pickle of %zu bytes spends %.1f MB (%.0f bytes per pickle byte)\n", ok.n,
           (double)spent / 1e6, (double)spent / (double)ok.n);
    CHECK((double)spent / (double)ok.n < 256.0 / 4, "a real pickle spends well under the budget ratio");
    ow_pickle_free(p);
    free(ok.d);
}

/* ---- hangs ---- */

/* Runs fn(arg) in a child that must finish within 10 s; returns its exit status or -1 when it hung. */
static int run_with_timer(int (*fn)(const char *), const char *arg) {
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        _exit(fn(arg));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGALRM ? -1 : 100 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static int open_tensor_file(const char *path) {
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, path, &err);
    ow_tensor_set_free(set);
    return s == OW_ERR_IO && strstr(err.message, "named pipe") ? 0 : 1;
}

static int inspect_model(const char *path) {
    char *text = NULL;
    ow_error err = {0};
    ow_status s = ow_model_inspect(path, NULL, &text, &err);
    free(text);
    if (s == OW_OK) return 2; /* did not need the file */
    if (!strstr(err.message, "named pipe")) {
        fprintf(stderr, "inspect: status %d '%s'\n", s, err.message);
        return 1;
    }
    return 0;
}

static int open_model(const char *path) {
    ow_model *model = NULL;
    ow_error err = {0};
    ow_model_options opts;
    ow_model_options_init(&opts);
    ow_status s = ow_model_open(&model, path, &opts, &err);
    ow_model_close(model);
    if (s == OW_OK || !strstr(err.message, "named pipe")) {
        fprintf(stderr, "open: status %d '%s'\n", s, err.message);
        return 1;
    }
    return 0;
}

/* A diffusers folder of links to the bundled model with a FIFO in place of `fifo_part`. */
static const char *model_with_fifo(const char *name, const char *fifo_part) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0755);
    static const char *files[] = {"model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                                  "text_encoder/model.safetensors", "unet/config.json",
                                  "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
                                  "vae/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char target[1024], link[1024];
        snprintf(link, sizeof link, "%s/%s", dir, files[i]);
        char *slash = strrchr(link, '/');
        *slash = 0;
        mkdir(link, 0755);
        *slash = '/';
        if (strcmp(files[i], fifo_part) == 0) {
            CHECK(mkfifo(link, 0644) == 0, "mkfifo %s: %s", link, strerror(errno));
            continue;
        }
        snprintf(target, sizeof target, "%s/resources/shapes/%s", OW_SOURCE_ROOT, files[i]);
        CHECK(symlink(target, link) == 0, "symlink %s", link);
    }
    return dir;
}

static void fifos(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/fifo.safetensors", tmpdir);
    CHECK(mkfifo(path, 0644) == 0, "mkfifo");
    int r = run_with_timer(open_tensor_file, path);
    CHECK(r == 0, "a FIFO as a checkpoint: %s", r < 0 ? "hung for 10 s" : "not refused as a named pipe");
    static const char *parts[] = {"unet/config.json", "scheduler/scheduler_config.json", "model_index.json",
                                  "text_encoder/config.json", "vae/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "fifo_model_%zu", i);
        const char *dir = model_with_fifo(name, parts[i]);
        r = run_with_timer(inspect_model, dir);
        int scheduler = strncmp(parts[i], "scheduler/", 10) == 0; /* inspect does not read the scheduler */
        CHECK(r == 0 || (scheduler && r == 2), "inspect with a FIFO as %s: %s", parts[i],
              r < 0 ? "hung for 10 s" : "not refused as a named pipe");
        r = run_with_timer(open_model, dir);
        CHECK(r == 0, "open with a FIFO as %s: %s", parts[i], r < 0 ? "hung for 10 s" : "not refused as a named pipe");
        if (r == 0) printf("ok   a FIFO as %s is refused at once by inspect and open\n", parts[i]);
    }
}

/* ---- integer overflow ---- */

static void overflow_in_files(void) {
    /* safetensors: [2^62, 4, 0] holds no bytes, but its product overflows before the 0. */
    const char *header = "{\"t\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4,0],\"data_offsets\":[0,0]}}";
    buf f = {0};
    u64le(&f, strlen(header));
    put(&f, header, strlen(header));
    expect_refused("safetensors shape 2^62 x 4 x 0", write_temp("overflow.safetensors", f.d, f.n), OW_ERR_FORMAT,
                   "overflows");
    free(f.d);

    /* legacy torch: the same shape through the pickle. */
    int64_t size[3] = {(int64_t)1 << 62, 4, 0}, stride[3] = {0, 0, 1};
    buf obj = {0};
    proto(&obj); op(&obj, '}'); op(&obj, '(');
    str(&obj, "t"); tensor(&obj, "FloatStorage", "0", 4, 3, size, stride);
    op(&obj, 'u'); op(&obj, '.');
    buf g = legacy_file(&obj, "0", 4, 4);
    expect_refused("legacy torch shape 2^62 x 4 x 0", write_temp("overflow_legacy.pt", g.d, g.n), OW_ERR_FORMAT,
                   "overflow");
    free(obj.d); free(g.d);

    /* config values: 4 * block_out_channels[0] overflowed an int for the time embedding. */
    const char *config =
        "{\"_class_name\":\"UNet2DConditionModel\",\"in_channels\":4,\"out_channels\":4,"
        "\"block_out_channels\":[1073741824,1073741824],\"down_block_types\":[\"CrossAttnDownBlock2D\",\"DownBlock2D\"],"
        "\"up_block_types\":[\"UpBlock2D\",\"CrossAttnUpBlock2D\"],\"layers_per_block\":1,\"attention_head_dim\":8,"
        "\"cross_attention_dim\":768,\"norm_num_groups\":32,\"sample_size\":64}";
    const char *path = write_temp("unet_config.json", config, strlen(config));
    ow_unet_config cfg;
    ow_error err = {0};
    ow_status s = ow_unet_config_load(&cfg, path, &err);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "block_out_channels"),
          "unet config with 2^30 channels: status %d '%s'", s, err.message);
    if (s == OW_ERR_FORMAT) printf("ok   unet config with 2^30 channels refused: %s\n", err.message);
}

/* ---- text from files ---- */

static void text_from_files(void) {
    /* A tensor name with a terminal escape in a file that fails: the message carries it escaped. */
    const char *header = "{\"\\u001b[2J\\u001b[Hfake\\nline\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}";
    buf f = {0};
    u64le(&f, strlen(header));
    put(&f, header, strlen(header));
    for (int i = 0; i < 8; i++) op(&f, 0);
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status s = ow_tensor_set_open(&set, write_temp("escape.safetensors", f.d, f.n), &err);
    int clean = 1;
    for (const char *c = err.message; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) clean = 0;
    CHECK(s == OW_ERR_FORMAT && clean && strstr(err.message, "\\x1b[2J\\x1b[Hfake\\nline"),
          "control characters in a tensor name reach the message escaped: '%s'", err.message);
    if (clean) printf("ok   message with a file's escape sequences: %s\n", err.message);
    ow_tensor_set_free(set);
    free(f.d);

    /* safetensors names: the escape \u0000 would be cut silently at json-c's C strings, and a
     * UTF-8-encoded surrogate (ED A0 80) passes json-c's validation but is not UTF-8; both refused. */
    static const char *const escaped[2][2] = {
        {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "NUL character"},
        {"{\"\xed\xa0\x80x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "not valid UTF-8"},
    };
    for (int k = 0; k < 2; k++) {
        buf g0 = {0};
        u64le(&g0, strlen(escaped[k][0]));
        put(&g0, escaped[k][0], strlen(escaped[k][0]));
        for (int i = 0; i < 4; i++) op(&g0, 0);
        expect_refused(k ? "safetensors name with a surrogate" : "safetensors name a\\u0000b",
                       write_temp("escaped_name.safetensors", g0.d, g0.n), OW_ERR_FORMAT, escaped[k][1]);
        free(g0.d);
    }

    /* A dict key naming a tensor that is not UTF-8. */
    int64_t size[1] = {1}, stride[1] = {1};
    buf obj = {0};
    proto(&obj); op(&obj, '}'); op(&obj, '(');
    op(&obj, 'X'); u32le(&obj, 3); put(&obj, "a\xff" "b", 3);
    tensor(&obj, "FloatStorage", "0", 1, 1, size, stride);
    op(&obj, 'u'); op(&obj, '.');
    buf g = legacy_file(&obj, "0", 1, 4);
    expect_refused("tensor name that is not UTF-8", write_temp("bad_utf8_legacy.pt", g.d, g.n), OW_ERR_FORMAT,
                   "not valid UTF-8 ('a\\xffb')");
    free(obj.d); free(g.d);

    /* The escaping itself. */
    char out[64];
    ow_text_escape(out, sizeof out, "ok \x1b[31m \xc2\x9b \xe2\x82\xac \xed\xa0\x80 \\", 21);
    CHECK(strcmp(out, "ok \\x1b[31m \\u009b \xe2\x82\xac \\xed\\xa0\\x80 \\") == 0, "escaped: '%s'", out);
    CHECK(ow_utf8_valid("\xe2\x82\xac", 3) && !ow_utf8_valid("\xc0\xaf", 2) && !ow_utf8_valid("\xed\xa0\x80", 3) &&
              !ow_utf8_valid("\xf4\x90\x80\x80", 4) && !ow_utf8_valid("\xe2\x82", 2),
          "UTF-8 validation: euro sign valid; overlong, surrogate, > U+10FFFF, cut sequence invalid");
    ow_error e = {0};
    ow_error_set(&e, OW_ERR_FORMAT, "name '%s'", "\x1b]0;title\x07");
    CHECK(strcmp(e.message, "name '\\x1b]0;title\\x07'") == 0, "ow_error_set escapes: '%s'", e.message);
    ow_error_prefix(&e, "file '%s'", "x\ry");
    CHECK(strcmp(e.message, "file 'x\\ry': name '\\x1b]0;title\\x07'") == 0, "ow_error_prefix escapes: '%s'", e.message);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ow-hostile-XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    legacy_key_declared_twice();
    zip_key_declared_twice();
    zip_bomb();
    entries_outside_the_file();
    pickle_budget();
    fifos();
    overflow_in_files();
    text_from_files();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_DONE();
}
