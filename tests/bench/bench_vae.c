/* bench_vae.c: times one SD 1.5 VAE decode (ow_vae_decode, a (1, 4, S/8, S/8) latent
 * to an S x S image) on the CPU backend and checks the image against PyTorch's.
 *
 * The model is the random SD 1.5 VAE that tests/bench/make_sd15_random.py saved as
 * a diffusers folder (CACHE/vae: config.json + f16 safetensors); the latent and
 * torch's fp32 image come from CACHE/io/vae_<size>.safetensors, which
 * tests/bench/vae_torch.py writes. Prints one JSON line per size:
 *   {"size", "precision", "seconds" (best of --repeat), "max_abs_err", "ref_max_abs",
 *    "check" ("ok" / "FAILED"), "activation_peak_mib", "peak_rss_mib", "threads",
 *    "kernels"}
 * (the FLOP count comes from torch's side: the same model).
 *
 * usage: bench_vae CACHE [--threads N] [--repeat N] [--precision fp32|bf16] SIZE...
 * Exit status 1 when an image differs from torch's by more than the tolerance. */
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
#include "model/vae.h"
#include "model/weights.h"

/* max |ours - torch| <= TOL_REL * max |torch| + TOL_ABS: f32 on both sides, other
 * summation orders through ~30 convolutions. */
#define TOL_REL 1e-3
#define TOL_ABS 1e-4
/* bf16 weights and product inputs: 8 significant bits instead of 24. */
#define TOL_REL_BF16 3e-2

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *entry_f32(const ow_tensor_set *set, const char *name, size_t want, const char *path) {
    return bench_entry_f32(set, name, want, path, "bench_vae", "tests/bench/vae_torch.py");
}

static void usage(void) {
    fprintf(stderr, "usage: bench_vae CACHE [--threads N] [--repeat N] [--precision fp32|bf16] SIZE...\n"
                    "  CACHE: the folder make_sd15_random.py and vae_torch.py write (CACHE/vae, CACHE/io)\n");
}

/* Decodes size x size once per repeat (after a first, untimed decode) and prints its line. */
static int bench_size(ow_backend *b, ow_vae *vae, const char *cache, int size, int repeat, int bf16) {
    char path[4096];
    const int lat = size / 8, L = vae->config.latent_channels, C = vae->config.out_channels;
    const size_t nz = (size_t)L * lat * lat, nimg = (size_t)C * size * size;
    snprintf(path, sizeof path, "%s/io/vae_%d.safetensors", cache, size);
    ow_tensor_set *io = NULL;
    ow_error err = {0};
    if (ow_tensor_set_open(&io, path, &err) != OW_OK) {
        fprintf(stderr, "bench_vae: %s (run tests/bench/vae_torch.py first)\n", err.message);
        return 1;
    }
    float *z = entry_f32(io, "z", nz, path), *expect = entry_f32(io, "image", nimg, path);
    ow_tensor_set_free(io);
    float *d_z = b->alloc(b, nz), *d_img = b->alloc(b, nimg), *img = malloc(nimg * sizeof *img);
    if (!z || !expect || !d_z || !d_img || !img) {
        fprintf(stderr, "bench_vae: out of memory or no inputs\n");
        return 1;
    }
    b->upload(b, d_z, z, nz);
    double best = 1e30;
    for (int r = 0; r <= repeat; r++) {
        double start = now_s();
        if (ow_vae_decode(vae, b, d_z, 1, lat, lat, d_img, &err) != OW_OK) {
            fprintf(stderr, "bench_vae: %s\n", err.message);
            return 1;
        }
        double sec = now_s() - start;
        if (r == 0) b->download(b, img, d_img, nimg);
        else if (sec < best) best = sec;
    }
    double max_err = 0, ref_max = 0;
    int nonfinite = 0;
    for (size_t i = 0; i < nimg; i++) {
        if (!isfinite(img[i])) nonfinite++;
        double d = fabs((double)img[i] - expect[i]);
        if (d > max_err) max_err = d;
        if (fabs(expect[i]) > ref_max) ref_max = fabs(expect[i]);
    }
    const double tol_rel = bf16 ? TOL_REL_BF16 : TOL_REL;
    int ok = !nonfinite && max_err <= tol_rel * ref_max + TOL_ABS;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char kernels[512];
    b->describe_kernels(b, kernels, sizeof kernels);
    printf("{\"size\": %d, \"precision\": \"%s\", \"seconds\": %.4f, \"max_abs_err\": %.3g, \"ref_max_abs\": %.4g, "
           "\"check\": \"%s\", \"activation_peak_mib\": %.1f, \"peak_rss_mib\": %.1f, \"threads\": %d, "
           "\"kernels\": \"%s\"}\n",
           size, bf16 ? "bf16" : "fp32", best, max_err, ref_max, ok ? "ok" : "FAILED",
           vae->last_peak_floats * 4.0 / 1048576.0, ru.ru_maxrss / 1024.0, b->threads, kernels);
    fflush(stdout);
    if (!ok)
        fprintf(stderr, "bench_vae: %d^2: image differs from torch's: max |diff| %.3g > %.1g * max |torch| %.3g + %.1g"
                " (%d non-finite)\n", size, max_err, tol_rel, ref_max, TOL_ABS, nonfinite);
    b->free(b, d_z);
    b->free(b, d_img);
    free(z);
    free(expect);
    free(img);
    return !ok;
}

int main(int argc, char **argv) {
    blas_restart_if_generic(argv); /* the kernels the oneword command runs */
    const char *cache = NULL;
    int threads = 0, repeat = 2, bf16 = 0;
    int sizes[16], nsizes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            if (strcmp(p, "bf16") != 0 && strcmp(p, "fp32") != 0) { usage(); return 2; }
            bf16 = strcmp(p, "bf16") == 0;
        }
        else if (argv[i][0] == '-') { usage(); return 2; }
        else if (!cache) cache = argv[i];
        else if (nsizes < 16 && atoi(argv[i]) >= 64 && atoi(argv[i]) % 64 == 0) sizes[nsizes++] = atoi(argv[i]);
        else { fprintf(stderr, "bench_vae: size '%s' must be a multiple of 64\n", argv[i]); return 2; }
    }
    if (!cache || nsizes == 0 || repeat < 1) { usage(); return 2; }

    ow_error err = {0};
    ow_backend *b = NULL;
    if (ow_cpu_backend_create(&b, threads, &err) != OW_OK) {
        fprintf(stderr, "bench_vae: %s\n", err.message);
        return 1;
    }
    char path[4096];
    ow_vae_config cfg;
    snprintf(path, sizeof path, "%s/vae/config.json", cache);
    if (ow_vae_config_load(&cfg, path, &err) != OW_OK) {
        fprintf(stderr, "bench_vae: %s (run tests/bench/make_sd15_random.py %s first)\n", err.message, cache);
        return 1;
    }
    snprintf(path, sizeof path, "%s/vae/diffusion_pytorch_model.safetensors", cache);
    ow_tensor_set *set = NULL;
    if (ow_tensor_set_open(&set, path, &err) != OW_OK) {
        fprintf(stderr, "bench_vae: %s\n", err.message);
        return 1;
    }
    ow_weights w = {.set = set, .prefix = "", .what = "vae", .matrix_dtype = bf16 ? OW_MATRIX_BF16 : OW_MATRIX_F32};
    b->attention_dtype = bf16 ? OW_MATRIX_BF16 : OW_MATRIX_F32; /* as ow_model_open sets it */
    ow_vae *vae = NULL;
    double t0 = now_s();
    if (ow_vae_load(&vae, &cfg, &w, b, OW_VAE_DECODER, &err) != OW_OK) {
        fprintf(stderr, "bench_vae: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "# loaded %s in %.1f s; %d threads\n", path, now_s() - t0, b->threads);
    ow_tensor_set_free(set);
    int failed = 0;
    for (int i = 0; i < nsizes; i++) failed |= bench_size(b, vae, cache, sizes[i], repeat, bf16);
    ow_vae_free(vae);
    b->destroy(b);
    return failed;
}
