/* test_text_length.c: the prompt length comes from the model, not from SD 1.5's 77
 * (issue 16): sd-tiny-a's folder with a text encoder of 40 positions (its position
 * table cut to 40 rows, config.json saying so) reads prompts of 40 ids. CLIP's text
 * encoder is causal, so its output for those 40 ids must equal the first 40 rows of
 * the 77-position encoder's output for the same prompt; a longer prompt is cut at 40
 * with a warning that says so, and generation runs. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tiny_copy.h"
#include "formats/safetensors.h"
#include "formats/tensor_set.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"

#define POSITIONS 40

static char warnings[4096];

static void keep_warning(void *user, int level, const char *message) {
    (void)user;
    if (level >= 1) snprintf(warnings + strlen(warnings), sizeof warnings - strlen(warnings), "%s\n", message);
}

static const char *const text_encoder_files[] = {"config.json", "model.safetensors", NULL};

/* A copy of the tiny model (tiny_copy.h) whose text encoder has POSITIONS positions. */
static int make_model(const char *tiny, char *dir) {
    if (!tiny_copy_make(tiny, dir, "text_encoder")) return 0;
    char from[8192], to[8192];
    snprintf(from, sizeof from, "%s/text_encoder/config.json", tiny);
    json_object *config = json_object_from_file(from);
    if (!config) return 0;
    json_object_object_add(config, "max_position_embeddings", json_object_new_int(POSITIONS));
    snprintf(to, sizeof to, "%s/text_encoder/config.json", dir);
    int ok = json_object_to_file(to, config) == 0;
    json_object_put(config);
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    snprintf(from, sizeof from, "%s/text_encoder/model.safetensors", tiny);
    if (!ok || ow_tensor_set_open(&set, from, &err) != OW_OK) return 0;
    size_t n = ow_tensor_set_count(set);
    ow_tensor_entry *entries = calloc(n, sizeof *entries);
    for (size_t i = 0; entries && i < n; i++) {
        entries[i] = *ow_tensor_set_entry(set, i);
        if (strcmp(entries[i].name, "text_model.embeddings.position_embedding.weight") == 0) {
            entries[i].nbytes = entries[i].nbytes / (size_t)entries[i].shape[0] * POSITIONS; /* the first rows */
            entries[i].shape[0] = POSITIONS;
        }
        if (strcmp(entries[i].name, "text_model.embeddings.position_ids") == 0) {
            entries[i].nbytes = entries[i].nbytes / (size_t)entries[i].shape[1] * POSITIONS;
            entries[i].shape[1] = POSITIONS;
        }
    }
    snprintf(to, sizeof to, "%s/text_encoder/model.safetensors", dir);
    ok = entries && ow_safetensors_write(to, entries, n, NULL, &err) == OW_OK;
    free(entries);
    ow_tensor_set_free(set);
    return ok;
}

int main(void) {
    char tiny[4096];
    snprintf(tiny, sizeof tiny, "%s", source_path("tests/golden/tiny/sd-tiny-a"));
    char dir[] = "/tmp/ow-text-length-XXXXXX";
    CHECK(make_model(tiny, dir), "sd-tiny-a with a %d-position text encoder in %s", POSITIONS, dir);
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = 2;
    opts.log = keep_warning;
    ow_model *full = NULL, *short_model = NULL;
    ow_error err = {0};
    CHECK(ow_model_open(&full, tiny, &opts, &err) == OW_OK, "open sd-tiny-a: %s", err.message);
    CHECK(ow_model_open(&short_model, dir, &opts, &err) == OW_OK, "open the 40-position model: %s", err.message);
    if (full && short_model) {
        CHECK(full->text_length == 77 && short_model->text_length == POSITIONS, "text lengths 77 and %d (got %d, %d)",
              POSITIONS, full->text_length, short_model->text_length);
        const int H = full->text_encoder->config.hidden_size;
        float *a = malloc((size_t)77 * H * sizeof *a), *b = malloc((size_t)POSITIONS * H * sizeof *b);
        const char *prompt = "a photo of a cat sitting on a red chair";
        CHECK(ow_model_encode_prompt(full, prompt, 1, a, &err) == OW_OK &&
                  ow_model_encode_prompt(short_model, prompt, 1, b, &err) == OW_OK,
              "encode: %s", err.message);
        check_close("40-position encoder vs the first 40 rows of the 77-position one (causal)", b, a,
                    (size_t)POSITIONS * H, 1e-5);
        free(a);
        free(b);

        char long_prompt[2048] = "a photo of a cat";
        for (int i = 0; i < 12; i++) strcat(long_prompt, " and a dog");
        strcat(long_prompt, " and finally a zebra");
        ow_generate_params p;
        ow_generate_params_init(&p);
        p.prompt = long_prompt;
        p.steps = 2;
        p.n_images = 1;
        p.width = p.height = 64;
        float *image = malloc((size_t)64 * 64 * 3 * sizeof *image);
        warnings[0] = '\0';
        CHECK(ow_generate(short_model, &p, image, &err) == OW_OK, "generate with a long prompt: %s", err.message);
        CHECK(strstr(warnings, "the text encoder reads 40, so this end was cut") && strstr(warnings, "zebra"),
              "the cut is reported at 40: '%s'", warnings);
        free(image);
    }
    ow_model_close(full);
    ow_model_close(short_model);
    tiny_copy_remove(dir, "text_encoder", text_encoder_files);
    CHECK_DONE();
}
