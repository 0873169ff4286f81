/* test_generate.c: whole guided generations through the public API (ow_model_open,
 * ow_generate) against diffusers' StableDiffusionPipeline on the tiny models, for
 * every sampler, DDIM eta > 0, two images at once, a non-square size and a folder
 * whose scheduler_config.json lacks keys (each sampler then takes its own class
 * default, as diffusers' Scheduler.from_config does): each pixel within 1/255 of
 * diffusers' PNG values (tests/golden/e2e, made by tests/ref/make_generation_golden.py). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "tiny_copy.h"
#include "formats/tensor_set.h"
#include "oneword.h"

static const char *json_str(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static double json_num(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0.0;
}

static const char *const scheduler_files[] = {"scheduler_config.json", NULL};

/* A copy of a tiny diffusers folder (tiny_copy.h) whose scheduler_config.json lacks
 * the keys the case names; returns the folder or NULL. */
static const char *folder_lacking_scheduler_keys(const char *model_path, json_object *lacks, char *tmp, size_t cap) {
    snprintf(tmp, cap, "%s", "/tmp/ow-bare-scheduler-XXXXXX");
    if (!tiny_copy_make(model_path, tmp, "scheduler")) return NULL;
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s/scheduler/scheduler_config.json", model_path);
    json_object *config = json_object_from_file(from);
    if (!config) return NULL;
    for (size_t i = 0; i < json_object_array_length(lacks); i++)
        json_object_object_del(config, json_object_get_string(json_object_array_get_idx(lacks, i)));
    snprintf(to, sizeof to, "%s/scheduler/scheduler_config.json", tmp);
    int ok = json_object_to_file(to, config) == 0;
    json_object_put(config);
    return ok ? tmp : NULL;
}

int main(void) {
    json_object *cases = json_object_from_file(source_path("tests/golden/e2e/cases.json"));
    CHECK(cases && json_object_is_type(cases, json_type_array), "tests/golden/e2e/cases.json readable");
    if (!cases) CHECK_DONE();
    size_t count = json_object_array_length(cases);
    for (size_t c = 0; c < count; c++) {
        json_object *tc = json_object_array_get_idx(cases, c);
        char model_path[512], golden_path[512], what[256];
        json_object *dir = NULL; /* a model outside the tiny set, e.g. resources/shapes */
        if (json_object_object_get_ex(tc, "model_dir", &dir))
            snprintf(model_path, sizeof model_path, "%s/%s", OW_SOURCE_ROOT, json_object_get_string(dir));
        else
            snprintf(model_path, sizeof model_path, "%s/tests/golden/tiny/%s", OW_SOURCE_ROOT, json_str(tc, "model"));
        snprintf(golden_path, sizeof golden_path, "%s/tests/golden/e2e/%s", OW_SOURCE_ROOT, json_str(tc, "file"));

        char bare[64] = "";
        json_object *lacks = NULL;
        if (json_object_object_get_ex(tc, "scheduler_lacks", &lacks)) {
            const char *copy = folder_lacking_scheduler_keys(model_path, lacks, bare, sizeof bare);
            CHECK(copy != NULL, "a copy of %s without some scheduler keys", model_path);
            if (!copy) continue;
            snprintf(model_path, sizeof model_path, "%s", copy);
        }

        ow_error err = {0};
        ow_model *model = NULL;
        ow_model_options opts;
        ow_model_options_init(&opts);
        opts.threads = 2;
        CHECK(ow_model_open(&model, model_path, &opts, &err) == OW_OK, "open %s: %s", model_path, err.message);
        if (!model) {
            if (bare[0]) tiny_copy_remove(bare, "scheduler", scheduler_files);
            continue;
        }

        ow_generate_params p;
        ow_generate_params_init(&p);
        p.prompt = json_str(tc, "prompt");
        p.negative_prompt = json_str(tc, "negative");
        p.sampler = json_str(tc, "sampler");
        p.steps = (int)json_num(tc, "steps");
        p.guidance_scale = (float)json_num(tc, "scale");
        p.eta = (float)json_num(tc, "eta");
        p.seed = (uint64_t)json_num(tc, "seed");
        p.n_images = (int)json_num(tc, "n");
        p.width = (int)json_num(tc, "width");
        p.height = (int)json_num(tc, "height");
        size_t n_values = (size_t)p.n_images * p.width * p.height * 3;
        float *images = malloc(n_values * sizeof *images);
        float *want = malloc(n_values * sizeof *want);
        CHECK(ow_generate(model, &p, images, &err) == OW_OK, "generate %s: %s", json_str(tc, "file"), err.message);

        ow_tensor_set *golden = NULL;
        CHECK(ow_tensor_set_open(&golden, golden_path, &err) == OW_OK, "open %s: %s", golden_path, err.message);
        /* Before rounding: diffusers' float image (N, 3, H, W) against ours (N, H, W, 3). */
        const ow_tensor_entry *fl = golden ? ow_tensor_set_find(golden, "image") : NULL;
        if (fl && (size_t)ow_tensor_entry_numel(fl) == n_values && ow_tensor_entry_to_f32(fl, want, &err) == OW_OK) {
            float *planar = malloc(n_values * sizeof *planar);
            size_t plane = (size_t)p.width * p.height;
            for (int i = 0; i < p.n_images; i++)
                for (size_t px = 0; px < plane; px++)
                    for (int ch = 0; ch < 3; ch++)
                        planar[((size_t)i * 3 + ch) * plane + px] = images[((size_t)i * plane + px) * 3 + ch];
            snprintf(what, sizeof what, "%s%s %s eta %g n %d %dx%d: float pixels vs diffusers", json_str(tc, "model"),
                     bare[0] ? " (scheduler config lacking keys)" : "", p.sampler, (double)p.eta, p.n_images, p.width,
                     p.height);
            check_close(what, planar, want, n_values, 1.0 / 255.0);
            free(planar);
        } else {
            CHECK(0, "golden float image of %zu values in %s", n_values, golden_path);
        }
        const ow_tensor_entry *u8 = golden ? ow_tensor_set_find(golden, "image_u8") : NULL;
        CHECK(u8 && (size_t)ow_tensor_entry_numel(u8) == n_values, "image_u8 of %zu values", n_values);
        if (u8 && (size_t)ow_tensor_entry_numel(u8) == n_values) {
            /* diffusers' PNG bytes (N, H, W, 3) as [0, 1] floats; ours are rounded the same way. */
            for (size_t i = 0; i < n_values; i++) {
                want[i] = u8->data[i] / 255.0f;
                images[i] = nearbyintf(images[i] * 255.0f) / 255.0f;
            }
            snprintf(what, sizeof what, "%s%s %s eta %g n %d %dx%d: 8-bit pixels vs diffusers", json_str(tc, "model"),
                     bare[0] ? " (scheduler config lacking keys)" : "", p.sampler, (double)p.eta, p.n_images, p.width,
                     p.height);
            check_close(what, images, want, n_values, 1.0 / 255.0 + 1e-6);
        }
        ow_tensor_set_free(golden);
        free(images);
        free(want);
        ow_model_close(model);
        if (bare[0]) tiny_copy_remove(bare, "scheduler", scheduler_files);
    }
    json_object_put(cases);
    CHECK(count >= 8, "at least 8 cases (got %zu)", count);
    CHECK_DONE();
}
