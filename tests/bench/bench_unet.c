/* bench_unet.c: times one SD 1.5 UNet evaluation (ow_unet_forward) on the CPU
 * backend and checks its output against PyTorch's for the same inputs.
 *
 * The model is the random SD 1.5 UNet that tests/bench/unet_torch.py saved as a
 * diffusers folder (CACHE/unet: config.json + f16 safetensors); the inputs and
 * torch's fp32 output come from CACHE/io/unet_<size>_b<batch>.safetensors, which
 * the same script writes. Without that file the inputs are random and nothing is
 * checked. Prints one JSON line per size:
 *   {"size", "batch", "seconds" (best of --repeat), "gflop" (counted from the
 *    shapes of every matrix product, convolution and attention), "max_abs_err",
 *    "ref_max_abs", "check" ("ok" / "FAILED" / "none"), "activation_peak_mib",
 *    "threads"}
 * and with --profile a table per size on stderr: where the time of one evaluation
 * goes per op type (3x3 / 1x1 convolutions, the linears by role, attention,
 * norms, element-wise, layout copies), with each type's share of time and FLOPs.
 *
 * The profile comes from a timing backend: a copy of the CPU backend's function
 * table whose entries time the real op (every op is synchronous on the CPU) and
 * add its FLOPs to the op type's total. It is always used, so the FLOP count is
 * there without --profile; its cost is one clock read per op (about 1,000 ops).
 *
 * usage: bench_unet CACHE [--threads N] [--repeat N] [--batch N] [--precision fp32|bf16] [--profile] SIZE...
 * (bf16: the products' weights in bf16, checked against torch's fp32 output with
 * TOL_REL_BF16).
 * Exit status 1 when an output differs from torch's by more than the tolerance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "blas_restart.h"

#include "backend/backend.h"
#include "formats/tensor_set.h"
#include "bench_io.h"
#include "model/unet.h"
#include "model/weights.h"

/* Output check: max |ours - torch| <= TOL_REL * max |torch| (+ TOL_ABS). Both sides
 * compute in f32 with different summation orders through ~100 layers. */
#define TOL_REL 1e-3
#define TOL_ABS 1e-4
/* bf16 weights and product inputs: 8 significant bits instead of 24. */
#define TOL_REL_BF16 3e-2

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- timing backend */

enum op_kind {
    OP_CONV3,        /* 3x3 stride 1 */
    OP_CONV3_S2,     /* 3x3 stride 2 (downsamplers) */
    OP_CONV1,        /* 1x1 (resnet shortcuts) */
    OP_LIN_QKVO,     /* attention q / k / v / out, proj_in / proj_out */
    OP_LIN_CROSS_KV, /* cross-attention k / v of the context */
    OP_LIN_FF_PROJ,  /* ff.net.0.proj (GEGLU input) */
    OP_LIN_FF_OUT,   /* ff.net.2 */
    OP_LIN_SMALL,    /* time embedding, time_emb_proj */
    OP_ATTN_SELF,
    OP_ATTN_CROSS,
    OP_GROUP_NORM,
    OP_LAYER_NORM,
    OP_GEGLU,
    OP_ELEMENTWISE,  /* add, silu, scale, axpby, gelu, add_channel_bias */
    OP_TRANSPOSE,    /* to_channels_last / first */
    OP_CONCAT,
    OP_UPSAMPLE,
    OP_MEMORY,       /* alloc, free, copy, upload, download */
    OP_KINDS
};

static const char *const op_names[OP_KINDS] = {
    "conv 3x3",         "conv 3x3 stride 2", "conv 1x1 (shortcut)", "linear q/k/v/out/proj",
    "linear cross k/v", "linear ff.proj",    "linear ff.out",       "linear time emb",
    "attention self",   "attention cross",   "group norm",          "layer norm",
    "geglu",            "element-wise",      "transpose (C<->HW)",  "concat",
    "upsample 2x",      "alloc/copy",
};

typedef struct op_stats {
    double seconds, flop;
    long calls;
} op_stats;

static ow_backend *real;          /* the CPU backend */
static op_stats stats[OP_KINDS];  /* accumulated since the last reset */
static int context_rows = -1;     /* B * T of the current run: marks cross-attention k/v products */
static int batch_rows = -1;       /* B: marks the time-embedding products */

#define TIMED(kind, flops, call)                    \
    do {                                            \
        double t0_ = now_s();                       \
        call;                                       \
        stats[kind].seconds += now_s() - t0_;       \
        stats[kind].flop += (flops);                \
        stats[kind].calls++;                        \
    } while (0)

static float *t_alloc(ow_backend *b, size_t n) {
    (void)b;
    float *p;
    TIMED(OP_MEMORY, 0, p = real->alloc(real, n));
    return p;
}
static void t_free(ow_backend *b, float *p) { (void)b; TIMED(OP_MEMORY, 0, real->free(real, p)); }
static void t_upload(ow_backend *b, float *d, const float *s, size_t n) {
    (void)b;
    TIMED(OP_MEMORY, 0, real->upload(real, d, s, n));
}
static void t_download(ow_backend *b, float *d, const float *s, size_t n) {
    (void)b;
    TIMED(OP_MEMORY, 0, real->download(real, d, s, n));
}
static void t_copy(ow_backend *b, float *d, const float *s, size_t n) {
    (void)b;
    TIMED(OP_MEMORY, 0, real->copy(real, d, s, n));
}

static void t_linear(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias, int M, int N,
                     int K) {
    (void)b;
    int kind = OP_LIN_QKVO;
    if (M == batch_rows || M == 1) kind = OP_LIN_SMALL;
    else if (M == context_rows) kind = OP_LIN_CROSS_KV;
    else if (N == 8 * K) kind = OP_LIN_FF_PROJ;
    else if (K == 4 * N) kind = OP_LIN_FF_OUT;
    TIMED(kind, 2.0 * M * N * K, real->linear(real, out, x, w, bias, M, N, K));
}

static void t_conv2d_pad4(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias, int B, int C,
                          int H, int W, int O, int kh, int kw, int stride, int pt, int pb, int pl, int pr) {
    (void)b;
    int Ho = (H + pt + pb - kh) / stride + 1, Wo = (W + pl + pr - kw) / stride + 1;
    int kind = kh == 1 && kw == 1 ? OP_CONV1 : stride == 1 ? OP_CONV3 : OP_CONV3_S2;
    double flops = 2.0 * B * O * (double)Ho * Wo * C * kh * kw;
    TIMED(kind, flops, real->conv2d_pad4(real, out, x, w, bias, B, C, H, W, O, kh, kw, stride, pt, pb, pl, pr));
}

static void t_conv2d(ow_backend *b, float *out, const float *x, const ow_matrix *w, const float *bias, int B, int C, int H,
                     int W, int O, int kh, int kw, int stride, int pad) {
    t_conv2d_pad4(b, out, x, w, bias, B, C, H, W, O, kh, kw, stride, pad, pad, pad, pad);
}

static void t_attention(ow_backend *b, float *out, const float *q, const float *k, const float *v, int B, int Tq,
                        int Tk, int heads, int D, float scale, int causal) {
    (void)b;
    TIMED(Tq == Tk ? OP_ATTN_SELF : OP_ATTN_CROSS, 4.0 * B * heads * (double)Tq * Tk * D,
          real->attention(real, out, q, k, v, B, Tq, Tk, heads, D, scale, causal));
}

static void t_group_norm(ow_backend *b, float *out, const float *x, const float *g, const float *be, int B, int C,
                         int HW, int groups, float eps, int fuse_silu) {
    (void)b;
    TIMED(OP_GROUP_NORM, 0, real->group_norm(real, out, x, g, be, B, C, HW, groups, eps, fuse_silu));
}

static void t_layer_norm(ow_backend *b, float *out, const float *x, const float *g, const float *be, int M, int N,
                         float eps) {
    (void)b;
    TIMED(OP_LAYER_NORM, 0, real->layer_norm(real, out, x, g, be, M, N, eps));
}

static void t_silu(ow_backend *b, float *o, const float *x, size_t n) {
    (void)b;
    TIMED(OP_ELEMENTWISE, 0, real->silu(real, o, x, n));
}
static void t_gelu(ow_backend *b, float *o, const float *x, size_t n) {
    (void)b;
    TIMED(OP_ELEMENTWISE, 0, real->gelu(real, o, x, n));
}
static void t_quick_gelu(ow_backend *b, float *o, const float *x, size_t n) {
    (void)b;
    TIMED(OP_ELEMENTWISE, 0, real->quick_gelu(real, o, x, n));
}
static void t_add(ow_backend *b, float *o, const float *x, const float *y, size_t n) {
    (void)b;
    TIMED(OP_ELEMENTWISE, 0, real->add(real, o, x, y, n));
}
static void t_axpby(ow_backend *b, float *o, float al, const float *x, float be, const float *y, size_t n) {
    (void)b;
    TIMED(OP_ELEMENTWISE, 0, real->axpby(real, o, al, x, be, y, n));
}
static void t_scale(ow_backend *b, float *o, const float *x, float s, size_t n) {
    (void)b;
    TIMED(OP_ELEMENTWISE, 0, real->scale(real, o, x, s, n));
}
static void t_geglu(ow_backend *b, float *o, const float *x, int M, int N) {
    (void)b;
    TIMED(OP_GEGLU, 0, real->geglu(real, o, x, M, N));
}
static void t_add_channel_bias(ow_backend *b, float *o, const float *x, const float *pc, int B, int C, int HW) {
    (void)b;
    TIMED(OP_ELEMENTWISE, 0, real->add_channel_bias(real, o, x, pc, B, C, HW));
}
static void t_to_channels_last(ow_backend *b, float *o, const float *x, int B, int C, int HW) {
    (void)b;
    TIMED(OP_TRANSPOSE, 0, real->to_channels_last(real, o, x, B, C, HW));
}
static void t_to_channels_first(ow_backend *b, float *o, const float *x, int B, int C, int HW) {
    (void)b;
    TIMED(OP_TRANSPOSE, 0, real->to_channels_first(real, o, x, B, C, HW));
}
static void t_upsample(ow_backend *b, float *o, const float *x, int B, int C, int H, int W) {
    (void)b;
    TIMED(OP_UPSAMPLE, 0, real->upsample_nearest2x(real, o, x, B, C, H, W));
}
static void t_concat(ow_backend *b, float *o, const float *a, const float *bb, int B, int Ca, int Cb, int HW) {
    (void)b;
    TIMED(OP_CONCAT, 0, real->concat_channels(real, o, a, bb, B, Ca, Cb, HW));
}
static void t_embedding(ow_backend *b, float *o, const float *table, const int32_t *ids, int T, int D) {
    (void)b;
    TIMED(OP_MEMORY, 0, real->embedding(real, o, table, ids, T, D));
}

/* The CPU backend's table with every op timed. Entries the backend leaves NULL stay NULL. */
static ow_backend timing_backend(ow_backend *cpu) {
    ow_backend t = *cpu;
    t.destroy = NULL;
#define WRAP(field, fn) t.field = cpu->field ? fn : NULL
    WRAP(alloc, t_alloc);
    WRAP(free, t_free);
    WRAP(upload, t_upload);
    WRAP(download, t_download);
    WRAP(copy, t_copy);
    WRAP(linear, t_linear);
    WRAP(conv2d, t_conv2d);
    WRAP(conv2d_pad4, t_conv2d_pad4);
    WRAP(attention, t_attention);
    WRAP(group_norm, t_group_norm);
    WRAP(layer_norm, t_layer_norm);
    WRAP(silu, t_silu);
    WRAP(gelu, t_gelu);
    WRAP(quick_gelu, t_quick_gelu);
    WRAP(add, t_add);
    WRAP(axpby, t_axpby);
    WRAP(scale, t_scale);
    WRAP(geglu, t_geglu);
    WRAP(add_channel_bias, t_add_channel_bias);
    WRAP(to_channels_last, t_to_channels_last);
    WRAP(to_channels_first, t_to_channels_first);
    WRAP(upsample_nearest2x, t_upsample);
    WRAP(concat_channels, t_concat);
    WRAP(embedding, t_embedding);
#undef WRAP
    return t;
}

static double total_flop(const op_stats *s) {
    double f = 0;
    for (int k = 0; k < OP_KINDS; k++) f += s[k].flop;
    return f;
}

static void print_profile(int size, int batch, const op_stats *s, int runs, double wall) {
    double op_time = 0, flop = total_flop(s);
    for (int k = 0; k < OP_KINDS; k++) op_time += s[k].seconds;
    fprintf(stderr, "# profile %d^2 batch %d: mean of %d evaluations, %.3f s each (ops %.3f s, rest %.3f s)\n", size,
            batch, runs, wall / runs, op_time / runs, (wall - op_time) / runs);
    fprintf(stderr, "# %-22s %6s %9s %6s %9s %6s %8s\n", "op", "calls", "seconds", "time%", "GFLOP", "flop%",
            "GFLOP/s");
    for (int k = 0; k < OP_KINDS; k++) {
        if (!s[k].calls) continue;
        double sec = s[k].seconds / runs, gf = s[k].flop / runs / 1e9;
        fprintf(stderr, "# %-22s %6ld %9.3f %5.1f%% %9.1f %5.1f%% ", op_names[k], s[k].calls / runs, sec,
                100.0 * s[k].seconds / wall, gf, flop > 0 ? 100.0 * s[k].flop / flop : 0.0);
        if (gf > 0) fprintf(stderr, "%8.1f\n", gf / sec);
        else fprintf(stderr, "%8s\n", "-");
    }
}

/* ---------------------------------------------------------------- inputs */

static float *entry_f32(const ow_tensor_set *set, const char *name, size_t want, const char *path) {
    return bench_entry_f32(set, name, want, path, "bench_unet", "tests/bench/unet_torch.py");
}

static void fill_random(float *x, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i += 2) { /* Box-Muller: unit normal values */
        s = s * 1664525u + 1013904223u;
        double u1 = ((s >> 8) + 1.0) / 16777217.0;
        s = s * 1664525u + 1013904223u;
        double u2 = (s >> 8) / 16777216.0;
        double r = sqrt(-2.0 * log(u1));
        x[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench_unet CACHE [--threads N] [--repeat N] [--batch N] [--precision fp32|bf16] "
                    "[--profile] SIZE...\n"
                    "  CACHE: the folder tests/bench/unet_torch.py writes (CACHE/unet, CACHE/io)\n");
}

int main(int argc, char **argv) {
    blas_restart_if_generic(argv); /* the kernels the oneword command runs */
    const char *cache = NULL;
    int threads = 0, repeat = 3, batch = 2, profile = 0, bf16 = 0;
    int sizes[16], nsizes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--profile") == 0) profile = 1;
        else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            if (strcmp(p, "bf16") != 0 && strcmp(p, "fp32") != 0) { usage(); return 2; }
            bf16 = strcmp(p, "bf16") == 0;
        }
        else if (argv[i][0] == '-') { usage(); return 2; }
        else if (!cache) cache = argv[i];
        else if (nsizes < 16 && atoi(argv[i]) >= 64 && atoi(argv[i]) % 64 == 0) sizes[nsizes++] = atoi(argv[i]);
        else { fprintf(stderr, "bench_unet: size '%s' must be a multiple of 64\n", argv[i]); return 2; }
    }
    if (!cache || nsizes == 0 || repeat < 1 || batch < 1) { usage(); return 2; }

    ow_error err = {0};
    if (ow_cpu_backend_create(&real, threads, &err) != OW_OK) {
        fprintf(stderr, "bench_unet: %s\n", err.message);
        return 1;
    }
    ow_backend timed = timing_backend(real);
    ow_backend *b = &timed;

    char path[4096];
    ow_unet_config cfg;
    snprintf(path, sizeof path, "%s/unet/config.json", cache);
    if (ow_unet_config_load(&cfg, path, &err) != OW_OK) {
        fprintf(stderr, "bench_unet: %s (run tests/bench/unet_torch.py %s first)\n", err.message, cache);
        return 1;
    }
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", cache);
    ow_tensor_set *set = NULL;
    if (ow_tensor_set_open(&set, path, &err) != OW_OK) {
        fprintf(stderr, "bench_unet: %s\n", err.message);
        return 1;
    }
    ow_weights w = {.set = set, .prefix = "", .what = "unet",
                    .matrix_dtype = bf16 ? OW_MATRIX_BF16 : OW_MATRIX_F32};
    const double tol_rel = bf16 ? TOL_REL_BF16 : TOL_REL;
    real->attention_dtype = bf16 ? OW_MATRIX_BF16 : OW_MATRIX_F32; /* as ow_model_open sets it */
    ow_unet *unet = NULL;
    double t0 = now_s();
    if (ow_unet_load(&unet, &cfg, &w, b, &err) != OW_OK) {
        fprintf(stderr, "bench_unet: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "# loaded %s in %.1f s; %d threads\n", path, now_s() - t0, real->threads);
    ow_tensor_set_free(set);

    int failed = 0;
    for (int si = 0; si < nsizes; si++) {
        const int size = sizes[si], lat = size / 8, T = 77, Cctx = cfg.cross_attention_dim;
        const size_t ns = (size_t)batch * cfg.in_channels * lat * lat, nc = (size_t)batch * T * Cctx;
        const size_t nout = (size_t)batch * cfg.out_channels * lat * lat;
        float *sample = NULL, *context = NULL, *expect = NULL, timestep = 500.0f;
        snprintf(path, sizeof path, "%s/io/unet_%d_b%d.safetensors", cache, size, batch);
        ow_tensor_set *io = NULL;
        if (ow_tensor_set_open(&io, path, &err) == OW_OK) {
            sample = entry_f32(io, "sample", ns, path);
            context = entry_f32(io, "encoder_hidden_states", nc, path);
            expect = entry_f32(io, "out", nout, path);
            float *t = entry_f32(io, "timestep", 1, path);
            if (t) timestep = t[0];
            free(t);
            ow_tensor_set_free(io);
            if (!sample || !context || !expect) return 1;
        } else {
            fprintf(stderr, "# %s: %s; random inputs, output not checked\n", path, err.message);
            sample = malloc(ns * sizeof *sample);
            context = malloc(nc * sizeof *context);
            fill_random(sample, ns, 1);
            fill_random(context, nc, 2);
        }
        float timesteps[64];
        for (int i = 0; i < batch && i < 64; i++) timesteps[i] = timestep;
        float *d_sample = b->alloc(b, ns), *d_context = b->alloc(b, nc), *d_out = b->alloc(b, nout);
        float *out = malloc(nout * sizeof *out);
        if (!d_sample || !d_context || !d_out || !out) {
            fprintf(stderr, "bench_unet: out of memory for the inputs\n");
            return 1;
        }
        b->upload(b, d_sample, sample, ns);
        b->upload(b, d_context, context, nc);
        context_rows = batch * T;
        batch_rows = batch;

        /* the context is fixed, as in a sampler: its cross-attention keys/values once */
        if (ow_unet_set_context(unet, b, d_context, batch, T, &err) != OW_OK) {
            fprintf(stderr, "bench_unet: %s\n", err.message);
            return 1;
        }
        /* first evaluation: warm-up and the output check; then the timed ones */
        double best = 1e30, wall = 0;
        for (int r = 0; r <= repeat; r++) {
            if (r == 1) memset(stats, 0, sizeof stats);
            double start = now_s();
            if (ow_unet_forward(unet, b, d_sample, batch, lat, lat, timesteps, d_context, T, d_out, &err) != OW_OK) {
                fprintf(stderr, "bench_unet: %s\n", err.message);
                return 1;
            }
            double sec = now_s() - start;
            if (r == 0) {
                b->download(b, out, d_out, nout);
                continue;
            }
            wall += sec;
            if (sec < best) best = sec;
        }
        double max_err = 0, ref_max = 0;
        int nonfinite = 0;
        const char *check = "none";
        if (expect) {
            for (size_t i = 0; i < nout; i++) {
                if (!isfinite(out[i])) nonfinite++;
                double d = fabs((double)out[i] - expect[i]);
                if (d > max_err) max_err = d;
                if (fabs(expect[i]) > ref_max) ref_max = fabs(expect[i]);
            }
            int ok = !nonfinite && max_err <= tol_rel * ref_max + TOL_ABS;
            check = ok ? "ok" : "FAILED";
            failed |= !ok;
        }
        double gflop = total_flop(stats) / repeat / 1e9;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        char kernels[512];
        real->describe_kernels(real, kernels, sizeof kernels);
        printf("{\"size\": %d, \"batch\": %d, \"precision\": \"%s\", \"seconds\": %.4f, \"gflop\": %.2f, "
               "\"max_abs_err\": %.3g, \"ref_max_abs\": %.4g, \"check\": \"%s\", \"activation_peak_mib\": %.1f, "
               "\"peak_rss_mib\": %.1f, \"threads\": %d, \"kernels\": \"%s\"}\n",
               size, batch, bf16 ? "bf16" : "fp32", best, gflop, max_err, ref_max, check,
               unet->last_peak_floats * 4.0 / 1048576.0, ru.ru_maxrss / 1024.0, real->threads, kernels);
        fflush(stdout);
        if (profile) print_profile(size, batch, stats, repeat, wall);
        if (expect && !(strcmp(check, "ok") == 0))
            fprintf(stderr, "bench_unet: %d^2: output differs from torch's: max |diff| %.3g > %.1g * max |torch| %.3g"
                    " + %.1g (%d non-finite)\n", size, max_err, tol_rel, ref_max, TOL_ABS, nonfinite);
        ow_unet_clear_context(unet);
        b->free(b, d_sample);
        b->free(b, d_context);
        b->free(b, d_out);
        free(sample);
        free(context);
        free(expect);
        free(out);
    }
    ow_unet_free(unet);
    real->destroy(real);
    return failed;
}
