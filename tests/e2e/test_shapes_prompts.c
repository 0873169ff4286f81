/* test_shapes_prompts.c: the bundled shapes model (resources/shapes) generated through
 * the public API follows its prompts, as the C judge (tests/judge) sees it: one image for
 * each of 16 one-shape prompts of the grammar (every shape, every training colour as
 * shape and as background). At least SHAPES_MIN_ACCEPTED must be accepted against their
 * own caption, and at most SHAPES_MAX_SWAPPED against the caption with the shape and
 * background colours swapped. Generation is deterministic (seeds, one thread), so the
 * counts are fixed for given weights; a broken text encoder, tokenizer, cross-attention,
 * sampler or VAE loses the prompt and drops them to about zero. The figures over 64
 * samples are in resources/shapes/README.md (tests/ref/shapes/evaluate.py).
 *
 * The same prompts run again in bf16 (--precision bf16): the 16 images must stay
 * within BF16_MIN_PSNR of the fp32 ones, and the judge must accept at least 90 % of
 * what it accepts in fp32. Like the oneword command, the test first makes OpenBLAS run
 * the processor's own kernels (blas_restart.h), so that it measures what users get:
 * the shapes model's sampling is chaotic enough that last-bit differences between
 * kernels move some prompts' images (with the generic kernels the PSNR read 39 dB
 * where the command's kernels gave 26). */
#include <math.h>

#include "blas_restart.h"

#include "check.h"
#include "judge.h"
#include "oneword.h"
#include "pipeline/pipeline.h"
#include "png_write.h"

enum { SHAPES_PROMPTS = 16, SHAPES_SIZE = 64 };
/* With the committed weights the judge accepts 13 of the 16 and 0 as swapped. The margin of 2
 * is for other CPUs, whose GEMM kernels can move last bits and so a borderline pixel; raise
 * the floor when better weights land (resources/shapes/README.md, Evaluation). */
#define SHAPES_MIN_ACCEPTED 11
#define SHAPES_MAX_SWAPPED 2
#define BF16_MIN_PSNR 35.0

static const char *const prompts[SHAPES_PROMPTS][3] = { /* shape colour, shape, background */
    {"red", "circle", "blue"},      {"green", "square", "white"},   {"blue", "star", "yellow"},
    {"yellow", "triangle", "purple"}, {"orange", "ring", "black"},  {"purple", "cross", "white"},
    {"white", "circle", "red"},     {"black", "square", "orange"},  {"red", "triangle", "green"},
    {"green", "star", "black"},     {"blue", "ring", "white"},      {"yellow", "cross", "blue"},
    {"orange", "circle", "purple"}, {"purple", "square", "yellow"}, {"white", "star", "green"},
    {"black", "ring", "yellow"},
};

static const char *article(const char *word) { return strchr("aeiou", word[0]) ? "an" : "a"; }

static void caption(char *out, size_t cap, const char *colour, const char *shape, const char *bg) {
    snprintf(out, cap, "%s %s %s on %s %s background", article(colour), colour, shape, article(bg), bg);
}

/* Generates the 16 prompts into images (16 * SIZE*SIZE*3 floats); counts what the judge accepts. */
static int run_prompts(ow_model *model, const char *label, float *images, int *accepted, int *swapped_accepted) {
    uint8_t *rgb = malloc(SHAPES_SIZE * SHAPES_SIZE * 3);
    int generated = 0;
    *accepted = *swapped_accepted = 0;
    for (int k = 0; k < SHAPES_PROMPTS && rgb; k++) {
        char prompt[128], swapped[128];
        caption(prompt, sizeof prompt, prompts[k][0], prompts[k][1], prompts[k][2]);
        caption(swapped, sizeof swapped, prompts[k][2], prompts[k][1], prompts[k][0]);
        ow_generate_params p;
        ow_generate_params_init(&p);
        p.prompt = prompt;
        p.sampler = "euler";
        p.steps = 20;
        p.guidance_scale = 9.0f;
        p.seed = 1000 + (uint64_t)k; /* the first of tests/ref/shapes/evaluate.py's 4 samples */
        p.n_images = 1;
        p.width = p.height = SHAPES_SIZE;
        float *image = images + (size_t)k * SHAPES_SIZE * SHAPES_SIZE * 3;
        ow_error err = {0};
        if (ow_generate(model, &p, image, &err) != OW_OK) {
            CHECK(0, "%s: generate \"%s\": %s", label, prompt, err.message);
            continue;
        }
        generated++;
        for (int i = 0; i < SHAPES_SIZE * SHAPES_SIZE * 3; i++) rgb[i] = png_float_to_u8(image[i]); /* as the CLI writes PNGs */
        judge_result own, other;
        int ok = judge_caption_text(rgb, SHAPES_SIZE, SHAPES_SIZE, prompt, &own);
        int ok_swapped = judge_caption_text(rgb, SHAPES_SIZE, SHAPES_SIZE, swapped, &other);
        *accepted += ok;
        *swapped_accepted += ok_swapped;
        printf("  %s %-45s %s%s%s\n", label, prompt, ok ? "accepted" : "rejected: ", ok ? "" : own.why,
               ok_swapped ? " (also as the swapped caption)" : "");
    }
    free(rgb);
    return generated;
}

static ow_model *open_shapes(ow_precision precision) {
    char model_path[512];
    snprintf(model_path, sizeof model_path, "%s/resources/shapes", OW_SOURCE_ROOT);
    ow_error err = {0};
    ow_model *model = NULL;
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = 1; /* the counts are exact for one thread (GEMM splits move last bits) */
    opts.precision = precision;
    CHECK(ow_model_open(&model, model_path, &opts, &err) == OW_OK, "open %s (%s): %s", model_path,
          ow_precision_name(precision), err.message);
    return model;
}

int main(int argc, char **argv) {
    (void)argc;
    blas_restart_if_generic(argv);
    const size_t n = (size_t)SHAPES_PROMPTS * SHAPES_SIZE * SHAPES_SIZE * 3;
    float *fp32 = malloc(n * sizeof *fp32), *bf16 = malloc(n * sizeof *bf16);
    ow_model *model = open_shapes(OW_PRECISION_FP32);
    if (!model || !fp32 || !bf16) CHECK_DONE();
    int accepted, swapped_accepted;
    int generated = run_prompts(model, "fp32", fp32, &accepted, &swapped_accepted);
    ow_model_close(model);
    CHECK(generated == SHAPES_PROMPTS, "all %d prompts generated (%d)", SHAPES_PROMPTS, generated);
    CHECK(accepted >= SHAPES_MIN_ACCEPTED, "judge accepts %d of %d images (want >= %d)", accepted,
          SHAPES_PROMPTS, SHAPES_MIN_ACCEPTED);
    CHECK(swapped_accepted <= SHAPES_MAX_SWAPPED, "judge accepts %d of %d images as the colour-swapped caption "
          "(want <= %d)", swapped_accepted, SHAPES_PROMPTS, SHAPES_MAX_SWAPPED);

    /* auto: bf16 exactly where the backend runs bf16 products fastest */
    model = open_shapes(OW_PRECISION_AUTO);
    if (model) {
        const ow_precision want =
            model->backend->preferred_matrix_dtype == OW_MATRIX_BF16 ? OW_PRECISION_BF16 : OW_PRECISION_FP32;
        CHECK(ow_model_precision(model) == want, "auto resolves to %s (got %s)", ow_precision_name(want),
              ow_precision_name(ow_model_precision(model)));
        ow_model_close(model);
    }

    model = open_shapes(OW_PRECISION_BF16);
    if (model) {
        CHECK(ow_model_precision(model) == OW_PRECISION_BF16, "the bf16 model runs in bf16");
        int accepted16, swapped16;
        int generated16 = run_prompts(model, "bf16", bf16, &accepted16, &swapped16);
        ow_model_close(model);
        double se = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)png_float_to_u8(bf16[i]) - png_float_to_u8(fp32[i]);
            se += d * d;
        }
        double mse = se / (double)n, psnr = mse > 0 ? 10.0 * log10(255.0 * 255.0 / mse) : INFINITY;
        CHECK(generated16 == SHAPES_PROMPTS, "bf16: all %d prompts generated (%d)", SHAPES_PROMPTS, generated16);
        CHECK(psnr >= BF16_MIN_PSNR, "bf16 images against fp32: PSNR %.1f dB (want >= %.0f)", psnr, BF16_MIN_PSNR);
        CHECK(accepted16 * 10 >= accepted * 9, "bf16: judge accepts %d of %d (fp32: %d; want >= 90 %% of it)",
              accepted16, SHAPES_PROMPTS, accepted);
        printf("bf16 against fp32: PSNR %.1f dB; judge accepts %d (fp32 %d)\n", psnr, accepted16, accepted);
    }
    free(fp32);
    free(bf16);
    CHECK_DONE();
}
