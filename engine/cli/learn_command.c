/* learn_command.c: `oneword learn`: reads the training images (PNG, JPEG, WebP, TIFF:
 * training_image.c) and their masks (--masks: learn_masks.c), calls ow_learn
 * and writes what the reference writes into the run folder: embeddings_gs-N.pt every
 * --save-every steps and embeddings.pt at the end (string_to_token/string_to_param,
 * which A1111, the reference and `oneword generate --embedding` load), plus
 * log.csv (step, loss, lr, seconds). A progress line shows loss and time left. */
#include "learn_command.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_messages.h"
#include "cli_options.h"
#include "oneword.h"
#include "learn_masks.h"
#include "png_write.h"
#include "training_image.h"
#include "image_grid.h"
#include "train/templates.h"
#include "core/file.h"
#include "loss_plot.h"

#define MAX_IMAGES 1000
#define OW_TEMPLATES_FILE_MAX 65536

static void learn_usage(FILE *to) {
    fprintf(to,
            "usage: oneword learn --model PATH --images DIR|FILE [--images ...] --init-word WORD --out RUN_DIR\n"
            "         [--placeholder \"*\"] [--vectors 1] [--steps 5000] [--lr 5e-3] [--no-scale-lr]\n"
            "         [--batch 2] [--grad-accum 1] [--size 512] [--repeats 100] [--flip 0.5]\n"
            "         [--template object|style|FILE]\n"
            "         [--save-every 500] [--seed 0] [--threads N] [--force-placeholder] [--alpha-mask]\n"
            "         [--masks DIR] [--center-crop] [--dry-run] [--preview-every N] [--preview-prompt TEXT]\n"
            "         [--gradient-checkpointing] [--embedding-reg-weight 0] [--rescale-norm]\n"
            "         [--precision fp32|bf16|auto] [--device auto|cpu|cuda[:N]] [--config FILE.yaml]\n"
            "       oneword learn --resume RUN_DIR --model PATH --images DIR|FILE [--steps N]\n"
            "Learns the placeholder's vectors from the images (PNG, JPEG, WebP or TIFF, 8 or 16 bits;\n"
            "JPEG and TIFF upright by their orientation tag; of a multi-page TIFF the first page;\n"
            "animated WebP is refused; a folder means every .png .jpg .jpeg .webp .tif .tiff in it),\n"
            "starting from the init word's embedding (one CLIP token). The learning rate is\n"
            "--lr x batch x grad-accum unless --no-scale-lr, as the reference's scale_lr. Writes\n"
            "RUN_DIR/embeddings_gs-N.pt and RUN_DIR/state.safetensors every --save-every steps (and at the\n"
            "end), RUN_DIR/embeddings.pt, RUN_DIR/loss.png (the loss curve) at the end and RUN_DIR/log.csv. --resume continues a run from its\n"
            "last state exactly as if it had not stopped (its options are kept; --steps may be raised).\n"
            "--template FILE: your own captions, one per line with [name] (or {}) for the token, as an\n"
            "A1111 template file (default: the reference's object captions, \"a photo of a {}\", ...).\n"
            "--preview-every N: every N steps (and at the end) RUN_DIR/preview-N.png, 4 samples of\n"
            "--preview-prompt (default \"a photo of a *\" with your placeholder) with the rows so far.\n"
            "--batch and --size default to the reference's values for the model: 2 and 512 for Stable\n"
            "Diffusion 1.x, 4 and 256 for LDM text2img-large (its txt2img-1p4B-finetune.yaml).\n"
            "--dry-run: write RUN_DIR/views.png, the exact training views (cropped, resized, mirrored,\n"
            "masks applied), print the captions, and stop; no model is loaded (--model is not needed;\n"
            "given, it sets the default --size).\n"
            "--alpha-mask: an image's alpha weights the loss (transparent pixels are not learned from;\n"
            "give it again with --resume). Without it, transparency is composited over white.\n"
            "--masks DIR: each image's loss mask is the image in DIR with the same name stem (cat.jpg:\n"
            "DIR/cat.png or any format), of the image's size; its red channel (gray) weights the loss,\n"
            "white = learned, black = not (kohya's mask images). Give it again with --resume.\n"
            "--center-crop: each image's largest centred square is what is resized to --size (the\n"
            "reference's center_crop); without it the whole image is resized, its aspect ignored.\n"
            "--repeats N: as the reference, the images are drawn in shuffled epochs that hold each image\n"
            "N times (every image equally often); 0: every draw independent.\n"
            "--gradient-checkpointing: recompute each UNet block in the backward pass instead of\n"
            "keeping what it needs: less memory, slower steps, the same result to the bit.\n"
            "--embedding-reg-weight W: the reference's embedding_reg_weight (default 0): the loss gains\n"
            "W x the squared distance of the vectors from the init word's (the reference's mean of\n"
            "their Gram matrix). --rescale-norm: after every step each vector is rescaled to the mean\n"
            "norm of the vocabulary's rows, so it keeps the size of a word.\n"
            "Use the result with: oneword generate --embedding RUN_DIR/embeddings.pt\n");
}

typedef struct image_list {
    char *paths[MAX_IMAGES];
    int count;
} image_list;

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A file, or every image file of a folder (training_image_name; sorted). */
static int add_images(image_list *list, const char *path) {
    struct stat st;
    char shown[512];
    if (stat(path, &st) != 0)
        return cli_fail("--images '%s': %s", cli_display(path, shown, sizeof shown), strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (!S_ISREG(st.st_mode)) return cli_fail("--images '%s' is not a regular file", cli_display(path, shown, sizeof shown));
        if (list->count == MAX_IMAGES) return cli_fail("at most %d training images", MAX_IMAGES);
        list->paths[list->count++] = strdup(path);
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) return cli_fail("--images '%s': %s", cli_display(path, shown, sizeof shown), strerror(errno));
    int first = list->count;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !training_image_name(e->d_name)) continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (list->count == MAX_IMAGES) { closedir(d); return cli_fail("at most %d training images", MAX_IMAGES); }
        list->paths[list->count++] = strdup(full);
    }
    closedir(d);
    qsort(list->paths + first, (size_t)(list->count - first), sizeof *list->paths, compare_strings);
    if (list->count == first) return cli_fail("--images '%s' holds no .png, .jpg, .webp or .tif file", cli_display(path, shown, sizeof shown));
    return 0;
}

/* The text of an A1111-style template file (its lines are checked by the engine). */
static int read_template_file(const char *path, char **text) {
    char shown[512];
    size_t n = 0;
    ow_error err = {0};
    if (ow_file_read_all(path, "template file", OW_TEMPLATES_FILE_MAX, text, &n, &err) != OW_OK)
        return cli_fail("--template '%s': %s (give object, style or a file of captions)",
                        cli_display(path, shown, sizeof shown), err.message);
    if (strlen(*text) != n) {
        free(*text);
        *text = NULL;
        return cli_fail("--template '%s' is not a text file", cli_display(path, shown, sizeof shown));
    }
    return 0;
}

/* --dry-run: RUN_DIR/views.png, the training views as learning sees them (resized,
 * mirrored; outside a mask darkened), up to 8 a row, and the captions it would use. */
static int write_views(const char *dir, const ow_learn_image *images, int n_images, const ow_learn_params *p) {
    const int n = ow_learn_view_count(n_images, p), size = p->size, cols = n < 8 ? n : 8;
    const size_t plane = (size_t)size * size;
    float *views = malloc((size_t)n * plane * 3 * sizeof *views), *masks = malloc((size_t)n * plane * sizeof *masks);
    float *sheet = NULL;
    int W = 0, H = 0;
    ow_error err = {0};
    int status = 0;
    if (!views || !masks) status = cli_fail("out of memory for %d views of %dx%d", n, size, size);
    else if (ow_learn_views(images, n_images, p, views, masks, &err) != OW_OK) status = cli_fail("%s", err.message);
    if (status == 0) {
        for (size_t k = 0; k < (size_t)n * plane; k++) /* outside the mask darkened */
            for (int c = 0; c < 3; c++) views[k * 3 + c] *= 0.25f + 0.75f * masks[k];
        if (!(sheet = image_grid(views, n, size, size, cols, 4, &W, &H)))
            status = cli_fail("out of memory for %d views of %dx%d", n, size, size);
    }
    if (status == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/views.png", dir);
        if (png_write_rgb_float(path, sheet, W, H, NULL, 0, &err) != OW_OK) status = cli_fail("%s", err.message);
        else fprintf(stderr, "wrote %s: %d training views of %dx%d (%s)\n", path, n, size, size,
                     p->flip > 0.0f ? "each image and its mirror" : "no flips");
    }
    char **captions = NULL;
    size_t n_captions = 0;
    if (status == 0 && ow_train_template_list(p->templates, &captions, &n_captions, &err) != OW_OK)
        status = cli_fail("%s", err.message);
    for (size_t i = 0; status == 0 && i < n_captions && i < 3; i++) {
        char text[4096];
        if (ow_train_caption(captions[i], p->placeholder, text, sizeof text) == 0)
            fprintf(stderr, "%s'%s'", i ? ", " : "captions: ", text);
    }
    if (status == 0 && n_captions) fprintf(stderr, "%s (%zu in all)\n", n_captions > 3 ? ", ..." : "", n_captions);
    ow_train_template_list_free(captions, n_captions);
    free(views);
    free(masks);
    free(sheet);
    return status;
}

typedef struct run_state {
    const char *dir;
    FILE *csv;
    float lr;
    int failed;
    ow_model *model;           /* for previews */
    int preview_every, size;   /* 0: no previews */
    const char *preview_prompt;
} run_state;

/* RUN_DIR/preview-N.png: 4 samples of the preview prompt with the rows of step N
 * (seed 0, DDIM 50 steps, scale 7.5: generate's defaults), side by side. */
static int write_preview(run_state *r, int step) {
    const int n = 4, size = r->size;
    float *images = malloc((size_t)n * size * size * 3 * sizeof *images), *row = NULL;
    ow_generate_params g;
    ow_generate_params_init(&g);
    g.prompt = r->preview_prompt;
    g.n_images = n;
    g.width = g.height = size;
    ow_error err = {0};
    int status = 0;
    int row_w = 0, row_h = 0;
    if (!images) status = cli_fail("out of memory for a preview");
    else if (ow_generate(r->model, &g, images, &err) != OW_OK) status = cli_fail("preview at step %d: %s", step, err.message);
    else if (!(row = image_grid(images, n, size, size, n, 0, &row_w, &row_h))) status = cli_fail("out of memory for a preview");
    if (status == 0) {
        char path[4096], steps[32];
        snprintf(path, sizeof path, "%s/preview-%d.png", r->dir, step);
        snprintf(steps, sizeof steps, "%d", step);
        const png_text_entry text[] = {{"prompt", r->preview_prompt}, {"step", steps}};
        if (png_write_rgb_float(path, row, row_w, row_h, text, 2, &err) != OW_OK)
            status = cli_fail("cannot write %s: %s", path, err.message);
    }
    free(images);
    free(row);
    return status;
}

static int on_progress(void *user, int step, int total, float loss, double seconds) {
    run_state *r = user;
    double per_step = seconds / step;
    fprintf(stderr, "\rstep %d/%d  loss %.4f  %.2f s/step  ETA %.0fs   ", step, total, (double)loss, per_step,
            per_step * (total - step));
    if (step == total) fputc('\n', stderr);
    if (r->csv) {
        fprintf(r->csv, "%d,%.6f,%g,%.3f\n", step, (double)loss, (double)r->lr, seconds);
        fflush(r->csv);
    }
    if (r->preview_every > 0 && (step % r->preview_every == 0 || step == total) && write_preview(r, step) != 0) {
        r->failed = 1;
        return 1;
    }
    return 0;
}

static int save(const ow_embedding *emb, const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ow_error err = {0};
    if (ow_embedding_save(emb, path, OW_EMBEDDING_LAYOUT_A1111, &err) != OW_OK) {
        fputc('\n', stderr);
        return cli_fail("cannot write %s: %s", path, err.message);
    }
    return 0;
}

static int on_checkpoint(void *user, int step, const ow_embedding *emb, const ow_learn_state *state) {
    run_state *r = user;
    char name[64], path[4096];
    snprintf(name, sizeof name, "embeddings_gs-%d.pt", step);
    snprintf(path, sizeof path, "%s/state.safetensors", r->dir);
    ow_error err = {0};
    if (save(emb, r->dir, name) != 0) {
        r->failed = 1;
        return 1; /* stop: the run folder cannot be written */
    }
    if (ow_learn_state_save(state, path, &err) != OW_OK) {
        fputc('\n', stderr);
        cli_fail("cannot write %s: %s", path, err.message);
        r->failed = 1;
        return 1;
    }
    return 0;
}

int learn_main(int argc, char **argv) {
    enum { O_MODEL = 256, O_IMAGES, O_INIT, O_OUT, O_PLACEHOLDER, O_VECTORS, O_STEPS, O_LR, O_NO_SCALE, O_BATCH,
           O_ACCUM, O_SIZE, O_FLIP, O_TEMPLATE, O_SAVE, O_SEED, O_THREADS, O_FORCE, O_RESUME, O_ALPHA_MASK, O_DRY_RUN, O_PREVIEW_EVERY, O_PREVIEW_PROMPT,
           O_CHECKPOINTING, O_REG_WEIGHT, O_RESCALE_NORM, O_REPEATS, O_MASKS, O_CENTER_CROP, O_PRECISION, O_CONFIG,
           O_DEVICE };
    static const struct option options[] = {
        {"model", required_argument, 0, O_MODEL}, {"images", required_argument, 0, O_IMAGES},
        {"init-word", required_argument, 0, O_INIT}, {"out", required_argument, 0, O_OUT},
        {"placeholder", required_argument, 0, O_PLACEHOLDER}, {"vectors", required_argument, 0, O_VECTORS},
        {"steps", required_argument, 0, O_STEPS}, {"lr", required_argument, 0, O_LR},
        {"no-scale-lr", no_argument, 0, O_NO_SCALE}, {"batch", required_argument, 0, O_BATCH},
        {"grad-accum", required_argument, 0, O_ACCUM}, {"size", required_argument, 0, O_SIZE},
        {"flip", required_argument, 0, O_FLIP}, {"template", required_argument, 0, O_TEMPLATE},
        {"save-every", required_argument, 0, O_SAVE}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"force-placeholder", no_argument, 0, O_FORCE},
        {"resume", required_argument, 0, O_RESUME}, {"alpha-mask", no_argument, 0, O_ALPHA_MASK},
        {"dry-run", no_argument, 0, O_DRY_RUN}, {"preview-every", required_argument, 0, O_PREVIEW_EVERY},
        {"preview-prompt", required_argument, 0, O_PREVIEW_PROMPT}, {"masks", required_argument, 0, O_MASKS},
        {"center-crop", no_argument, 0, O_CENTER_CROP}, {"precision", required_argument, 0, O_PRECISION},
        {"device", required_argument, 0, O_DEVICE},
        {"config", required_argument, 0, O_CONFIG},
        {"gradient-checkpointing", no_argument, 0, O_CHECKPOINTING}, {"repeats", required_argument, 0, O_REPEATS},
        {"embedding-reg-weight", required_argument, 0, O_REG_WEIGHT}, {"rescale-norm", no_argument, 0, O_RESCALE_NORM},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    ow_learn_params p;
    ow_learn_params_init(&p);
    p.save_every = 500;
    const char *model_path = NULL, *out_dir = NULL, *config_path = NULL, *device = NULL;
    int threads = 0, status = 0, alpha_mask = 0, dry_run = 0, preview_every = 0, size_given = 0, batch_given = 0;
    ow_precision precision = OW_PRECISION_FP32;
    const char *preview_prompt = NULL, *masks_dir = NULL;
    char *template_text = NULL;
    char *mask_paths[MAX_IMAGES] = {0};
    image_list images = {0};
    ow_learn_state *resume = NULL;
    /* --resume RUN_DIR: the run's own options first, then whatever is given again. */
    const char *resume_dir = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--resume") == 0) resume_dir = argv[i + 1];
    if (resume_dir) {
        char path[4096];
        ow_error err = {0};
        snprintf(path, sizeof path, "%s/state.safetensors", resume_dir);
        if (ow_learn_state_load(&resume, path, &err) != OW_OK) {
            status = cli_fail("cannot resume from '%s': %s", resume_dir, err.message);
            goto done;
        }
        ow_learn_state_params(resume, &p);
        if (ow_learn_state_precision(resume) != OW_PRECISION_AUTO) precision = ow_learn_state_precision(resume);
        p.resume = resume;
        out_dir = resume_dir;
    }
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_RESUME: break; /* read above */
        case O_MODEL: model_path = optarg; break;
        case O_IMAGES: bad = add_images(&images, optarg) != 0; break;
        case O_INIT: p.init_word = optarg; break;
        case O_OUT: out_dir = optarg; break;
        case O_PLACEHOLDER: p.placeholder = optarg; break;
        case O_VECTORS: bad = cli_parse_int(optarg, "--vectors", 1, 16, &p.vectors); break;
        case O_STEPS: bad = cli_parse_int(optarg, "--steps", 1, 1000000, &p.steps); break;
        case O_LR: bad = cli_parse_float(optarg, "--lr", 1e-9f, 1.0f, &p.learning_rate); break;
        case O_NO_SCALE: p.scale_lr = 0; break;
        case O_BATCH: bad = cli_parse_int(optarg, "--batch", 1, 64, &p.batch); batch_given = 1; break;
        case O_ACCUM: bad = cli_parse_int(optarg, "--grad-accum", 1, 1024, &p.grad_accum); break;
        case O_SIZE: bad = cli_parse_int(optarg, "--size", 8, 4096, &p.size); size_given = 1; break;
        case O_FLIP: bad = cli_parse_float(optarg, "--flip", 0.0f, 1.0f, &p.flip); break;
        case O_TEMPLATE:
            if (strcmp(optarg, "object") == 0 || strcmp(optarg, "style") == 0) {
                p.templates = optarg;
            } else {
                free(template_text);
                template_text = NULL;
                bad = read_template_file(optarg, &template_text) != 0;
                p.templates = template_text;
            }
            break;
        case O_SAVE: bad = cli_parse_int(optarg, "--save-every", 0, 1000000, &p.save_every); break;
        case O_SEED: bad = cli_parse_seed(optarg, &p.seed); break;
        case O_THREADS: bad = cli_parse_int(optarg, "--threads", 0, 1024, &threads); break;
        case O_PRECISION: bad = cli_parse_precision(optarg, &precision); break;
        case O_CONFIG: config_path = optarg; break;
        case O_DEVICE: device = optarg; break;
        case O_FORCE: p.force_placeholder = 1; break;
        case O_ALPHA_MASK: alpha_mask = 1; break;
        case O_DRY_RUN: dry_run = 1; break;
        case O_PREVIEW_EVERY: bad = cli_parse_int(optarg, "--preview-every", 0, 1000000, &preview_every); break;
        case O_PREVIEW_PROMPT: preview_prompt = optarg; break;
        case O_CHECKPOINTING: p.gradient_checkpointing = 1; break;
        case O_REG_WEIGHT: bad = cli_parse_float(optarg, "--embedding-reg-weight", 0.0f, 1e6f, &p.embedding_reg_weight); break;
        case O_RESCALE_NORM: p.rescale_norm = 1; break;
        case O_REPEATS: bad = cli_parse_int(optarg, "--repeats", 0, 100000, &p.repeats); break;
        case O_MASKS: masks_dir = optarg; break;
        case O_CENTER_CROP: p.center_crop = 1; break;
        case 'h': learn_usage(stdout); return 0;
        default: learn_usage(stderr); return 2;
        }
        if (bad) { status = 2; goto done; }
    }
    if (optind < argc) {
        cli_fail("unexpected argument '%s' (see oneword learn --help)", argv[optind]);
        status = 2; /* a usage error */
        goto done;
    }
    if ((!model_path && !dry_run) || !out_dir || !p.init_word || images.count == 0) {
        cli_fail("learn needs --model, --images, --init-word and --out (see oneword learn --help)");
        status = 2;
        goto done;
    }
    if (!out_dir[0]) { status = cli_fail("--out is empty: name a folder for the run"); goto done; }
    /* A new run without --size or --batch takes the reference's values for the model's
     * family (a resumed run keeps its own). */
    if (!resume && model_path && (!size_given || !batch_given)) {
        int size = 0, batch = 0;
        ow_error err = {0};
        if (ow_model_learn_defaults(model_path, config_path, &size, &batch, &err) != OW_OK) {
            status = cli_fail("cannot load model '%s': %s", model_path, err.message);
            goto done;
        }
        if (!size_given) p.size = size;
        if (!batch_given) p.batch = batch;
        if ((!size_given && size != 512) || (!batch_given && batch != 2)) {
            char line[256];
            snprintf(line, sizeof line, "note: an LDM text2img model: training at %dx%d, batch %d, as the reference's "
                     "txt2img-1p4B-finetune.yaml (--size and --batch change them)", p.size, p.size, p.batch);
            cli_log_to_stderr(NULL, 0, line);
        }
    }
    if (masks_dir && alpha_mask) {
        status = cli_fail("--masks and --alpha-mask both give the loss masks: choose one");
        goto done;
    }
    if (masks_dir) {
        int unused = 0;
        char *example = NULL;
        if ((status = learn_masks_find(masks_dir, images.paths, images.count, mask_paths, &unused, &example)) != 0)
            goto done;
        if (unused) {
            char shown[512], line[1024];
            snprintf(line, sizeof line, "note: %d file%s in --masks %s match%s no training image (e.g. '%s')", unused,
                     unused == 1 ? "" : "s", cli_display(masks_dir, shown, sizeof shown), unused == 1 ? "es" : "",
                     example ? example : "");
            cli_log_to_stderr(NULL, 0, line);
        }
        free(example);
    }

    ow_learn_image *list = calloc((size_t)images.count, sizeof *list);
    if (!list) { status = cli_fail("out of memory"); goto done; }
    for (int i = 0; i < images.count && status == 0; i++) {
        training_image im;
        char why[256], shown[512], shown2[512];
        if (training_image_read(images.paths[i], alpha_mask, &im, why, sizeof why) != 0) {
            status = cli_fail("training image '%s' cannot be read: %s", cli_display(images.paths[i], shown, sizeof shown), why);
            break;
        }
        list[i] = (ow_learn_image){im.rgb, im.width, im.height, im.alpha};
        if (im.note[0]) {
            char line[1024];
            snprintf(line, sizeof line, "note: training image '%s': %s", cli_display(images.paths[i], shown, sizeof shown),
                     im.note);
            cli_log_to_stderr(NULL, 0, line);
        }
        if (!mask_paths[i]) continue;
        float *mask = NULL;
        int mw = 0, mh = 0;
        char note[160];
        if (training_mask_read(mask_paths[i], &mask, &mw, &mh, note, sizeof note, why, sizeof why) != 0) {
            status = cli_fail("the mask '%s' cannot be read: %s", cli_display(mask_paths[i], shown, sizeof shown), why);
        } else if (mw != im.width || mh != im.height) {
            /* kohya asserts this too: a mask is drawn on its image, at its size */
            status = cli_fail("the mask '%s' is %dx%d pixels, its training image '%s' %dx%d: a mask must be the size "
                              "of its image", cli_display(mask_paths[i], shown, sizeof shown), mw, mh,
                              cli_display(images.paths[i], shown2, sizeof shown2), im.width, im.height);
            free(mask);
        } else {
            list[i].mask = mask;
            if (note[0]) {
                char line[1024];
                snprintf(line, sizeof line, "note: the mask '%s': %s", cli_display(mask_paths[i], shown, sizeof shown), note);
                cli_log_to_stderr(NULL, 0, line);
            }
        }
    }
    if (status != 0) goto freed;
    if (cli_make_dir(out_dir) != 0) {
        char shown[512];
        status = cli_fail("cannot create the run folder '%s': %s", cli_display(out_dir, shown, sizeof shown), strerror(errno));
    }
    ow_model *model = NULL;
    ow_error err = {0};
    if (status == 0 && dry_run) {
        status = write_views(out_dir, list, images.count, &p);
        goto freed;
    }
    if (status == 0) {
        ow_model_options opts;
        ow_model_options_init(&opts);
        opts.threads = threads;
        opts.precision = precision;
        opts.device = device;
        opts.config_path = config_path;
        opts.log = cli_log_to_stderr;
        if (ow_model_open(&model, model_path, &opts, &err) != OW_OK)
            status = cli_fail("cannot load model '%s': %s", model_path, err.message);
        else
            cli_report_precision(model);
    }
    if (status == 0) {
        char csv_path[4096];
        snprintf(csv_path, sizeof csv_path, "%s/log.csv", out_dir);
        char default_prompt[512];
        snprintf(default_prompt, sizeof default_prompt, "a photo of a %s", p.placeholder);
        run_state run = {.dir = out_dir, .csv = fopen(csv_path, resume ? "a" : "w"),
                         .lr = p.learning_rate * (p.scale_lr ? (float)(p.batch * p.grad_accum) : 1.0f),
                         .model = model, .preview_every = preview_every, .size = p.size,
                         .preview_prompt = preview_prompt ? preview_prompt : default_prompt};
        if (!run.csv) status = cli_fail("cannot write %s: %s", csv_path, strerror(errno));
        else if (!resume) fprintf(run.csv, "step,loss,lr,seconds\n");
        p.progress = on_progress;
        p.progress_user = &run;
        p.on_checkpoint = on_checkpoint;
        p.checkpoint_user = &run;
        ow_embedding *emb = NULL;
        ow_status s = status ? OW_OK : ow_learn(model, list, images.count, &p, &emb, &err);
        if (status == 0 && s != OW_OK && !(s == OW_ERR_CANCELLED && run.failed))
            status = cli_fail("learning failed: %s", err.message);
        else if (run.failed)
            status = 1;
        if (status == 0 && emb) {
            status = save(emb, out_dir, "embeddings.pt");
            if (status == 0) fprintf(stderr, "wrote %s/embeddings.pt (token '%s', %d steps)\n", out_dir, p.placeholder, p.steps);
        }
        ow_embedding_free(emb);
        if (run.csv) fclose(run.csv);
        /* the loss curve of the whole run (resumed parts included) */
        char png_path[4096];
        snprintf(png_path, sizeof png_path, "%s/loss.png", out_dir);
        if (status == 0 && loss_plot_from_csv(csv_path, png_path, &err) != OW_OK)
            status = cli_fail("cannot draw the loss curve: %s", err.message);
    }
    ow_model_close(model);
freed:
    for (int i = 0; i < images.count; i++) {
        free((void *)list[i].rgb);
        free((void *)list[i].mask);
    }
    free(list);
done:
    for (int i = 0; i < images.count; i++) {
        free(images.paths[i]);
        free(mask_paths[i]);
    }
    ow_learn_state_free(resume);
    free(template_text);
    return status;
}
