/* main.c: the `oneword` command. Parses a sub-command's options and calls the
 * engine; thin on purpose: every capability lives in the engine library so the
 * GIMP plug-in gets it too. Images are written here (libpng). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "embedding_commands.h"
#include "cli_messages.h"
#include "cli_options.h"
#include "learn_command.h"
#include "oneword.h"
#include "blas_restart.h"
#include "image_grid.h"
#include "png_write.h"

/* The ranges generate accepts, stated by the usage text: what A1111 offers and a
 * margin, never values that can only give a broken image (--scale 1e38 overflows
 * float and made a black one). */
#define SCALE_MAX 100     /* A1111's UI offers 1..30, its API anything */
#define STEPS_MAX 1000    /* the 1000-step training schedule */
#define IMAGE_SIDE_MIN 8
#define IMAGE_SIDE_MAX 8192
#define N_SAMPLES_MAX 64
#define N_ITER_MAX 10000
#define THREADS_MAX 1024
#define CLIP_SKIP_MAX 12  /* CLIP ViT-L/14 has 12 layers; the model may have fewer */
#define OUTDIR_MAX 4000   /* leaves room for "/samples/NNNNN.png" in a 4096-byte path */

static void usage(FILE *to) {
    fprintf(to,
            "usage: oneword COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  generate  text to images:\n"
            "            oneword generate --model PATH --prompt TEXT --outdir DIR\n"
            "              [--negative-prompt TEXT] [--steps 50] [--scale 7.5]\n"
            "              [--sampler ddim|plms|euler|euler-a|dpm++2m-karras] [--eta 0]\n"
            "              [--seed N] [--n-samples 4] [--n-iter 1] [--width W] [--height H]\n"
            "              [--clip-skip 1] [--threads N] [--precision fp32|bf16|auto] [--device auto|cpu|cuda[:N]]\n"
            "              [--embedding FILE]... [--embedding-dir DIR]... [--config FILE.yaml]\n"
            "            accepted: --steps 1..%d, --scale 0..%d (1 or less: no classifier-free\n"
            "              guidance), --eta 0..1 (DDIM), --seed 0..%" PRIu64 " (batch k of\n"
            "              --n-iter uses seed + k, which must stay in that range), --n-samples 1..%d,\n"
            "              --n-iter 1..%d, --width/--height %d..%d in multiples of 8 (default: the\n"
            "              model's own size, as diffusers: 512 for SD 1.x, 256 for LDM text2img),\n"
            "              --clip-skip 1..%d (at most the text encoder's layers), --threads 0..%d (0: all);\n"
            "              --config: a single file's original LDM config (default: NAME.yaml beside\n"
            "              NAME.safetensors/.ckpt when there is one, as A1111 reads it);\n"
            "              --device: auto (default) runs on CUDA device 0 when this build has the CUDA\n"
            "              backend and the device starts, else on the CPU; cuda[:N] or cpu insist\n"
            "  learn     textual inversion: a new token from a few images (oneword learn --help)\n"
            "  inspect   oneword inspect MODEL [--config FILE.yaml]: detected configuration and parameter counts\n"
            "            oneword inspect EMBEDDING [--json]: format, tokens, vectors, dim, dtype, step, model\n"
            "  convert   oneword convert IN OUT [--layout a1111|diffusers]: embedding to .pt/.bin/.safetensors/.json\n"
            "  merge     oneword merge A B ... -o OUT [--rename FILE:OLD=NEW]...: embeddings into one file\n"
            "            (oneword merge --help: how --rename picks the file)\n"
            "  version   print the version\n"
            "\n"
            "Text that comes from files (names, tokens, messages) is printed with control\n"
            "characters escaped (\\x1b, \\n, ...), so a file cannot drive the terminal.\n",
            STEPS_MAX, SCALE_MAX, UINT64_MAX, N_SAMPLES_MAX, N_ITER_MAX, IMAGE_SIDE_MIN, IMAGE_SIDE_MAX, CLIP_SKIP_MAX,
            THREADS_MAX);
}

/* ---- progress line: step, it/s, ETA ---- */

typedef struct progress_state {
    struct timespec start;
    int image_batch, image_batches;
} progress_state;

static double seconds_since(const struct timespec *t0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + 1e-9 * (double)(now.tv_nsec - t0->tv_nsec);
}

static int show_progress(void *user, int step, int total) {
    progress_state *p = user;
    double elapsed = seconds_since(&p->start);
    double rate = step > 0 ? step / elapsed : 0.0;
    double eta = rate > 0 ? (total - step) / rate : 0.0;
    fprintf(stderr, "\rbatch %d/%d  step %d/%d  %.2f it/s  ETA %.0fs   ", p->image_batch, p->image_batches,
            step, total, rate, eta);
    if (step == total) fputc('\n', stderr);
    return 0;
}

/* ---- generate ---- */

/* The A1111 "parameters" text, which other tools read back from the PNG. */
static char *parameters_text(const ow_generate_params *p, const char *model, uint64_t seed) {
    size_t cap = strlen(p->prompt) + (p->negative_prompt ? strlen(p->negative_prompt) : 0) + strlen(model) + 512;
    char *text = malloc(cap);
    if (!text) return NULL;
    size_t n = (size_t)snprintf(text, cap, "%s\n", p->prompt);
    if (p->negative_prompt && *p->negative_prompt)
        n += (size_t)snprintf(text + n, cap - n, "Negative prompt: %s\n", p->negative_prompt);
    snprintf(text + n, cap - n,
             "Steps: %d, Sampler: %s, CFG scale: %g, Seed: %" PRIu64 ", Size: %dx%d, Eta: %g, Clip skip: %d, "
             "Model: %s, Generator: oneword " OW_VERSION_STRING,
             p->steps, p->sampler, (double)p->guidance_scale, seed, p->width, p->height, (double)p->eta,
             p->clip_skip, model);
    return text;
}

static int generate_main(int argc, char **argv) {
    enum { OPT_NEGATIVE = 1000, OPT_STEPS, OPT_SCALE, OPT_SAMPLER, OPT_ETA, OPT_SEED, OPT_N_SAMPLES,
           OPT_N_ITER, OPT_WIDTH, OPT_HEIGHT, OPT_THREADS, OPT_CLIP_SKIP, OPT_OUTDIR, OPT_MODEL, OPT_PROMPT,
           OPT_EMBEDDING, OPT_EMBEDDING_DIR, OPT_PRECISION, OPT_CONFIG, OPT_DEVICE };
    static const struct option options[] = {
        {"model", required_argument, 0, OPT_MODEL},         {"prompt", required_argument, 0, OPT_PROMPT},
        {"negative-prompt", required_argument, 0, OPT_NEGATIVE}, {"steps", required_argument, 0, OPT_STEPS},
        {"scale", required_argument, 0, OPT_SCALE},         {"sampler", required_argument, 0, OPT_SAMPLER},
        {"eta", required_argument, 0, OPT_ETA},             {"seed", required_argument, 0, OPT_SEED},
        {"n-samples", required_argument, 0, OPT_N_SAMPLES}, {"n-iter", required_argument, 0, OPT_N_ITER},
        {"width", required_argument, 0, OPT_WIDTH},         {"height", required_argument, 0, OPT_HEIGHT},
        {"W", required_argument, 0, OPT_WIDTH},             {"H", required_argument, 0, OPT_HEIGHT},
        {"threads", required_argument, 0, OPT_THREADS},     {"clip-skip", required_argument, 0, OPT_CLIP_SKIP},
        {"precision", required_argument, 0, OPT_PRECISION}, {"config", required_argument, 0, OPT_CONFIG},
        {"device", required_argument, 0, OPT_DEVICE},
        {"outdir", required_argument, 0, OPT_OUTDIR},       {"help", no_argument, 0, 'h'},
        {"embedding", required_argument, 0, OPT_EMBEDDING}, {"embedding-dir", required_argument, 0, OPT_EMBEDDING_DIR},
        {0, 0, 0, 0},
    };
    ow_generate_params params;
    ow_generate_params_init(&params);
    int width_given = 0, height_given = 0; /* else the model's own size (512 for SD 1.x, 256 for LDM text2img) */
    params.n_images = 4;
    ow_model_options model_options;
    ow_model_options_init(&model_options);
    model_options.log = cli_log_to_stderr;
    const char *model_path = NULL, *outdir = NULL;
    int n_iter = 1, have_prompt = 0;
    const char *embedding_files[256], *embedding_dirs[64]; /* --embedding, --embedding-dir */
    int n_embedding_files = 0, n_embedding_dirs = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: model_path = optarg; break;
        case OPT_PROMPT: params.prompt = optarg; have_prompt = 1; break;
        case OPT_NEGATIVE: params.negative_prompt = optarg; break;
        case OPT_STEPS: if (cli_parse_int(optarg, "--steps", 1, STEPS_MAX, &params.steps)) return 2; break;
        case OPT_SCALE: if (cli_parse_float(optarg, "--scale", 0.0f, (float)SCALE_MAX, &params.guidance_scale)) return 2; break;
        case OPT_SAMPLER: params.sampler = optarg; break;
        case OPT_ETA: if (cli_parse_float(optarg, "--eta", 0.0f, 1.0f, &params.eta)) return 2; break;
        case OPT_SEED: if (cli_parse_seed(optarg, &params.seed)) return 2; break;
        case OPT_N_SAMPLES: if (cli_parse_int(optarg, "--n-samples", 1, N_SAMPLES_MAX, &params.n_images)) return 2; break;
        case OPT_N_ITER: if (cli_parse_int(optarg, "--n-iter", 1, N_ITER_MAX, &n_iter)) return 2; break;
        case OPT_WIDTH:
            if (cli_parse_int(optarg, "--width", IMAGE_SIDE_MIN, IMAGE_SIDE_MAX, &params.width)) return 2;
            width_given = 1;
            break;
        case OPT_HEIGHT:
            if (cli_parse_int(optarg, "--height", IMAGE_SIDE_MIN, IMAGE_SIDE_MAX, &params.height)) return 2;
            height_given = 1;
            break;
        case OPT_THREADS: if (cli_parse_int(optarg, "--threads", 0, THREADS_MAX, &model_options.threads)) return 2; break;
        case OPT_PRECISION: if (cli_parse_precision(optarg, &model_options.precision)) return 2; break;
        case OPT_CONFIG: model_options.config_path = optarg; break;
        case OPT_DEVICE: model_options.device = optarg; break;
        case OPT_CLIP_SKIP: if (cli_parse_int(optarg, "--clip-skip", 1, CLIP_SKIP_MAX, &params.clip_skip)) return 2; break;
        case OPT_OUTDIR: outdir = optarg; break;
        case OPT_EMBEDDING:
            if (n_embedding_files == 256) return cli_fail("at most 256 --embedding files (use --embedding-dir)"), 2;
            embedding_files[n_embedding_files++] = optarg;
            break;
        case OPT_EMBEDDING_DIR:
            if (n_embedding_dirs == 64) return cli_fail("at most 64 --embedding-dir folders"), 2;
            embedding_dirs[n_embedding_dirs++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) return cli_fail("unexpected argument '%s' (options start with --)", argv[optind]), 2;
    if (!model_path) return cli_fail("--model PATH is required (a diffusers folder or a .safetensors/.ckpt file)"), 2;
    if (!have_prompt) return cli_fail("--prompt TEXT is required (it may be empty: --prompt \"\")"), 2;
    if (!outdir) return cli_fail("--outdir DIR is required"), 2;
    if (!*outdir) return cli_fail("--outdir is empty: name a folder (--outdir . for the current one)"), 2;
    if (strlen(outdir) > OUTDIR_MAX)
        return cli_fail("--outdir is %zu bytes long; at most %d are accepted", strlen(outdir), OUTDIR_MAX), 2;
    if (params.width % 8 || params.height % 8)
        return cli_fail("--width and --height must be multiples of 8, got %dx%d", params.width, params.height), 2;
    /* Batch k uses seed + k: the last one must not wrap around to seed 0. */
    if (params.seed > UINT64_MAX - (uint64_t)(n_iter - 1))
        return cli_fail("--seed %" PRIu64 " with --n-iter %d: batch k uses seed + k, which would pass the largest "
                        "seed %" PRIu64 "; use a --seed of at most %" PRIu64,
                        params.seed, n_iter, UINT64_MAX, UINT64_MAX - (uint64_t)(n_iter - 1)), 2;

    char samples_dir[4096];
    snprintf(samples_dir, sizeof samples_dir, "%s/samples", outdir);
    if (cli_make_dir(outdir) || cli_make_dir(samples_dir))
        return cli_fail("cannot create output folder '%s': %s", samples_dir, strerror(errno));

    ow_error err = {0};
    ow_model *model = NULL;
    if (ow_model_open(&model, model_path, &model_options, &err) != OW_OK)
        return cli_fail("cannot load model '%s': %s", model_path, err.message);
    cli_report_precision(model);
    if (!width_given) params.width = ow_model_default_image_side(model);
    if (!height_given) params.height = ow_model_default_image_side(model);
    int embeddings_failed = embedding_load_into_model(model, embedding_files, n_embedding_files, embedding_dirs,
                                                      n_embedding_dirs);
    if (embeddings_failed) { ow_model_close(model); return 1; }

    size_t per_image = (size_t)params.width * (size_t)params.height * 3;
    int total = params.n_images * n_iter;
    float *images = malloc(per_image * (size_t)total * sizeof *images);
    if (!images) { ow_model_close(model); return cli_fail("out of memory for %d images", total); }

    progress_state progress = {.image_batches = n_iter};
    params.progress = show_progress;
    params.progress_user = &progress;
    const uint64_t first_seed = params.seed;
    int rc = 0;
    for (int iter = 0; iter < n_iter && rc == 0; iter++) {
        /* Each batch uses seed + batch index, so any one batch can be re-made on its own. */
        params.seed = first_seed + (uint64_t)iter;
        progress.image_batch = iter + 1;
        clock_gettime(CLOCK_MONOTONIC, &progress.start);
        if (ow_generate(model, &params, images + per_image * (size_t)(iter * params.n_images), &err) != OW_OK) {
            rc = cli_fail("generation failed: %s", err.message);
            break;
        }
        for (int i = 0; i < params.n_images && rc == 0; i++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%05d.png", samples_dir, iter * params.n_images + i);
            char *text = parameters_text(&params, model_path, params.seed);
            png_text_entry chunk = {"parameters", text ? text : ""};
            if (png_write_rgb_float(path, images + per_image * (size_t)(iter * params.n_images + i), params.width,
                                    params.height, &chunk, 1, &err) != OW_OK)
                rc = cli_fail("%s", err.message);
            else
                printf("%s\n", path);
            free(text);
        }
    }
    if (rc == 0) {
        /* Grid as txt2img.py: one row per batch, n_samples columns. */
        int grid_w = 0, grid_h = 0;
        float *grid = image_grid(images, params.n_images * n_iter, params.width, params.height, params.n_images, 0,
                                 &grid_w, &grid_h);
        if (!grid) rc = cli_fail("out of memory for the grid");
        if (grid) {
            char path[4200];
            snprintf(path, sizeof path, "%s/grid.png", outdir);
            params.seed = first_seed;
            char *text = parameters_text(&params, model_path, first_seed);
            png_text_entry chunk = {"parameters", text ? text : ""};
            if (png_write_rgb_float(path, grid, grid_w, grid_h, &chunk, 1, &err) != OW_OK)
                rc = cli_fail("%s", err.message);
            else
                printf("%s\n", path);
            free(text);
            free(grid);
        }
    }
    free(images);
    ow_model_close(model);
    return rc;
}

/* ---- inspect ---- */

static int inspect_main(int argc, char **argv) {
    const char *config = NULL;
    if (argc == 4 && strcmp(argv[2], "--config") == 0) config = argv[3];
    if ((argc != 2 && !config) || argv[1][0] == '-') {
        fprintf(stderr, "usage: oneword inspect MODEL [--config FILE.yaml]\n");
        return 2;
    }
    ow_error err = {0};
    char *text = NULL;
    if (ow_model_inspect(argv[1], config, &text, &err) != OW_OK)
        return cli_fail("cannot read '%s': %s", argv[1], err.message);
    cli_print_lines(stdout, text); /* tensor names in it come from the file */
    free(text);
    return 0;
}

int main(int argc, char **argv) {
    blas_restart_if_generic(argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        char blas[256];
        ow_cpu_blas_describe(blas, sizeof blas);
        printf("oneword %s\n", OW_VERSION_STRING);
        if (strcmp(argv[1], "version") == 0) {
            const char *restarted = getenv("ONEWORD_BLAS_RESTARTED"), *core = getenv("OPENBLAS_CORETYPE");
            if (restarted && (!core || strcmp(core, restarted) != 0)) restarted = NULL;
            printf("matrix products: %s%s\n", blas,
                   restarted ? " (set by oneword: OpenBLAS took this processor for a generic one)" : "");
        }
        return 0;
    }
    if (strcmp(argv[1], "generate") == 0) return generate_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "learn") == 0) return learn_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "inspect") == 0) {
        int handled, rc = embedding_inspect(argc - 1, argv + 1, &handled); /* embedding files */
        if (handled) return rc;
        return inspect_main(argc - 1, argv + 1); /* checkpoints and model folders */
    }
    if (strcmp(argv[1], "convert") == 0) return embedding_convert_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "merge") == 0) return embedding_merge_main(argc - 1, argv + 1);
    return cli_fail("unknown command '%s' (run 'oneword --help' for the list)", argv[1]), 2;
}
