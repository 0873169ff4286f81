/* generation.c: a generation request run on the profile's model with the library
 * loaded, its images added as layers (layer_pixels.c), and its record: the
 * "oneword-generation" parasite, JSON written and read with json-c. */
#include "generation.h"

#include <gegl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "layer_pixels.h"
#include "procedures.h"

#define RECORD_MAX_BYTES (1 << 20)

static const char *const samplers[] = {"ddim", "plms", "euler", "euler-a", "dpm++2m-karras"};

const char *plugin_sampler_name(const char *name) {
    for (size_t i = 0; i < G_N_ELEMENTS(samplers); i++)
        if (name && strcmp(samplers[i], name) == 0) return samplers[i];
    return NULL;
}

/* 0 means: the image's side rounded down to a multiple of the model's factor (8 for
 * SD 1.x), or without an image the model's own size (512 for SD 1.x, 256 for LDM
 * text2img), as diffusers' pipelines. */
static int default_side(int asked, int image_side, int factor, int model_side) {
    if (asked > 0) return asked;
    if (image_side <= 0) return model_side;
    int side = image_side / factor * factor;
    return side < factor ? factor : side > PLUGIN_SIDE_MAX ? PLUGIN_SIDE_MAX / factor * factor : side;
}

/* ---- the record ---- */

static char *record_json(const ow_generate_params *p, const char *model) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "generator", json_object_new_string("oneword " OW_VERSION_STRING));
    json_object_object_add(o, "prompt", json_object_new_string(p->prompt));
    json_object_object_add(o, "negative_prompt", json_object_new_string(p->negative_prompt ? p->negative_prompt : ""));
    json_object_object_add(o, "sampler", json_object_new_string(p->sampler));
    json_object_object_add(o, "steps", json_object_new_int(p->steps));
    json_object_object_add(o, "guidance_scale", json_object_new_double(p->guidance_scale));
    json_object_object_add(o, "eta", json_object_new_double(p->eta));
    json_object_object_add(o, "seed", json_object_new_int64((int64_t)p->seed));
    json_object_object_add(o, "width", json_object_new_int(p->width));
    json_object_object_add(o, "height", json_object_new_int(p->height));
    json_object_object_add(o, "clip_skip", json_object_new_int(p->clip_skip));
    json_object_object_add(o, "model", json_object_new_string(model));
    char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return text;
}

static int get_int(json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) return 0;
    int64_t x = json_object_get_int64(v);
    if (x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int get_double(json_object *o, const char *key, double lo, double hi, double *out) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) ||
        !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return 0;
    double x = json_object_get_double(v);
    if (!(x >= lo && x <= hi)) return 0;
    *out = x;
    return 1;
}

static const char *get_string(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

ow_status plugin_generation_record_read(GimpItem *item, generation_request *request, void **storage, ow_error *err) {
    *storage = NULL;
    GimpParasite *parasite = gimp_item_get_parasite(item, PLUGIN_GENERATION_PARASITE);
    if (!parasite) return ow_error_set(err, OW_ERR_NOT_FOUND, "it has no " PLUGIN_GENERATION_PARASITE " parasite");
    guint32 size = 0;
    const char *data = gimp_parasite_get_data(parasite, &size);
    ow_status s = OW_OK;
    json_object *o = NULL;
    if (!data || size == 0 || size > RECORD_MAX_BYTES || data[size - 1] != '\0') {
        s = ow_error_set(err, OW_ERR_FORMAT, "its " PLUGIN_GENERATION_PARASITE " parasite is not text");
    } else {
        json_tokener *tok = json_tokener_new();
        o = tok ? json_tokener_parse_ex(tok, data, (int)size) : NULL;
        if (!tok || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
            s = ow_error_set(err, OW_ERR_FORMAT, "its " PLUGIN_GENERATION_PARASITE " parasite is not a JSON object");
        }
        if (tok) json_tokener_free(tok);
    }
    gimp_parasite_free(parasite);
    if (s != OW_OK) return s;
    memset(request, 0, sizeof *request);
    int64_t steps, seed, width, height, clip_skip;
    request->prompt = get_string(o, "prompt");
    request->negative_prompt = get_string(o, "negative_prompt");
    request->sampler = plugin_sampler_name(get_string(o, "sampler"));
    if (!request->prompt || !request->negative_prompt || !request->sampler || !get_int(o, "steps", 1, 1000, &steps) ||
        !get_double(o, "guidance_scale", 0.0, 100.0, &request->guidance_scale) ||
        !get_double(o, "eta", 0.0, 1.0, &request->eta) || !get_int(o, "seed", 0, G_MAXINT, &seed) ||
        !get_int(o, "width", 1, PLUGIN_SIDE_MAX, &width) || !get_int(o, "height", 1, PLUGIN_SIDE_MAX, &height) ||
        !get_int(o, "clip_skip", 1, 12, &clip_skip)) {
        json_object_put(o);
        return ow_error_set(err, OW_ERR_FORMAT,
                            "its " PLUGIN_GENERATION_PARASITE " parasite lacks a field or holds one out of range");
    }
    request->steps = (int)steps;
    request->seed = (uint64_t)seed;
    request->width = (int)width;
    request->height = (int)height;
    request->clip_skip = (int)clip_skip;
    request->n_images = 1;
    *storage = o;
    return OW_OK;
}

void plugin_generation_record_free(void *storage) {
    json_object_put(storage);
}

/* ---- running it ---- */

static char *layer_name(const char *prompt, uint64_t seed) {
    /* At most 60 characters of the prompt, cut on a UTF-8 boundary. */
    glong chars = g_utf8_strlen(prompt, -1);
    gchar *shown = chars > 60 ? g_utf8_substring(prompt, 0, 57) : g_strdup(prompt);
    char *name = g_strdup_printf("%s%s (seed %" G_GUINT64_FORMAT ")", *shown ? shown : "(empty prompt)",
                                 chars > 60 ? "..." : "", seed);
    g_free(shown);
    return name;
}

typedef struct {
    int image, n_images;
} progress_state;

static int show_progress(void *user, int step, int total) {
    const progress_state *p = user;
    gimp_progress_update(((double)p->image + (double)step / (double)(total > 0 ? total : 1)) / (double)p->n_images);
    return 0;
}

/* Whether the prompts use a token of entry e. */
static int entry_used(const library_entry *e, const char *prompt, const char *negative) {
    for (int t = 0; t < e->n_tokens; t++)
        if (strstr(prompt, e->tokens[t]) || strstr(negative, e->tokens[t])) return 1;
    return 0;
}

/* Attaches the file of every library entry the prompts use to the image; returns how
 * many (a file that cannot be read is reported, not fatal: the layers are made). */
static int attach_used_embeddings(GimpImage *image, const library *lib, const char *prompt, const char *negative) {
    int attached = 0;
    for (size_t i = 0; i < lib->count; i++) {
        const library_entry *e = &lib->entries[i];
        if (!entry_used(e, prompt, negative)) continue;
        char path[PLUGIN_PATH_MAX + 200];
        snprintf(path, sizeof path, "%s/%s", lib->profile.embeddings, e->file);
        char *data = NULL;
        size_t size = 0;
        ow_error err = {0};
        if (ow_file_read_all(path, "library file", 64u << 20, &data, &size, &err) != OW_OK) {
            plugin_engine_log(NULL, 1, err.message);
            continue;
        }
        gchar *name = g_strdup_printf(PLUGIN_EMBEDDING_PARASITE_PREFIX "%s", e->name);
        GimpParasite *parasite = gimp_parasite_new(name, GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                                                   (guint32)size, data);
        if (gimp_image_attach_parasite(image, parasite)) attached++;
        gimp_parasite_free(parasite);
        g_free(name);
        free(data);
    }
    return attached;
}

/* The first library token the prompts use that the model could not take, or NULL. */
static const char *unusable_token(const library *lib, const char *skipped, const char *prompt, const char *negative) {
    for (size_t i = 0; i < lib->count; i++)
        for (int t = 0; t < lib->entries[i].n_tokens; t++) {
            const char *tok = lib->entries[i].tokens[t];
            if ((strstr(prompt, tok) || strstr(negative, tok)) && strstr(skipped, tok)) return tok;
        }
    return NULL;
}

GimpValueArray *plugin_generate_layers(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                       const generation_request *request, GimpLayer ***layers_out,
                                       GimpImage **target_out) {
    gegl_init(NULL, NULL);
    *layers_out = NULL;
    *target_out = NULL;
    plugin_model_context context;
    GimpValueArray *no_model = plugin_open_model_context(procedure, &context);
    if (no_model) return no_model;
    ow_error err = {0};
    if (request->n_images < 1 || request->n_images > PLUGIN_IMAGES_MAX)
        return plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "n-images must be 1 to %d, got %d",
                                   PLUGIN_IMAGES_MAX, request->n_images);

    ow_generate_params params;
    ow_generate_params_init(&params);
    params.prompt = request->prompt;
    params.negative_prompt = request->negative_prompt;
    params.sampler = request->sampler;
    params.steps = request->steps;
    params.guidance_scale = (float)request->guidance_scale;
    params.eta = (float)request->eta;
    params.clip_skip = request->clip_skip > 0 ? request->clip_skip : 1;
    params.n_images = 1;
    const int use_image = image && gimp_image_get_base_type(image) != GIMP_INDEXED;

    ow_model_options options;
    plugin_model_options(&context.settings, &options);
    options.log = plugin_engine_log;
    ow_model *model = NULL;
    library lib;
    int lib_open = 0;
    char skipped[2048] = "";
    float *pixels = NULL;
    GimpLayer **layers = NULL;
    GimpImage *target = NULL;
    GimpValueArray *failure = NULL;
    gimp_progress_init("Loading the model...");
    if (ow_model_open(&model, context.settings.model, &options, &err) != OW_OK) {
        failure = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "cannot load the model '%s': %s",
                                      context.settings.model, err.message);
        goto done;
    }
    const int factor = ow_model_image_factor(model);
    const int model_side = ow_model_default_image_side(model);
    params.width = default_side(request->width, image ? gimp_image_get_width(image) : 0, factor, model_side);
    params.height = default_side(request->height, image ? gimp_image_get_height(image) : 0, factor, model_side);
    if (params.width % factor || params.height % factor) {
        failure = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                      "width and height must be multiples of %d for this model (or 0: from the "
                                      "image), got %dx%d",
                                      factor, params.width, params.height);
        goto done;
    }
    if (plugin_open_library(&lib, &context.profile, &err) != OW_OK) {
        failure = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    lib_open = 1;
    if (library_add_to_model(&lib, model, skipped, sizeof skipped, &err) != OW_OK) {
        failure = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    const char *bad = unusable_token(&lib, skipped, params.prompt, params.negative_prompt);
    if (bad) {
        failure = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR,
                                      "the prompt uses the library token '%s', which this model cannot take: %s", bad,
                                      skipped);
        goto done;
    }

    const int n = request->n_images;
    const size_t per_image = (size_t)params.width * (size_t)params.height * 3;
    pixels = g_try_malloc(per_image * (size_t)n * sizeof *pixels);
    layers = g_new0(GimpLayer *, (gsize)n + 1);
    if (!pixels) {
        failure = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "out of memory for %d images of %dx%d", n,
                                      params.width, params.height);
        goto done;
    }
    progress_state progress = {0, n};
    params.progress = show_progress;
    params.progress_user = &progress;
    gimp_progress_set_text("Generating...");
    for (int k = 0; k < n; k++) {
        progress.image = k;
        params.seed = request->seed + (uint64_t)k;
        if (ow_generate(model, &params, pixels + per_image * (size_t)k, &err) != OW_OK) {
            failure = plugin_return_error(procedure, err.status == OW_ERR_INVALID_ARGUMENT ? GIMP_PDB_CALLING_ERROR
                                                                                          : GIMP_PDB_EXECUTION_ERROR,
                                          "generation failed: %s", err.message);
            goto done;
        }
    }

    target = use_image ? image : gimp_image_new(params.width, params.height, GIMP_RGB);
    gimp_image_undo_group_start(target);
    for (int k = 0; k < n; k++) {
        params.seed = request->seed + (uint64_t)k;
        char *name = layer_name(params.prompt, params.seed);
        GimpLayer *layer = plugin_layer_from_rgb(target, name, pixels + per_image * (size_t)k, params.width,
                                                 params.height);
        g_free(name);
        if (!layer || !gimp_image_insert_layer(target, layer, NULL, 0)) {
            gimp_image_undo_group_end(target);
            failure = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "GIMP could not add a %dx%d layer",
                                          params.width, params.height);
            goto done;
        }
        char *text = record_json(&params, context.settings.model);
        GimpParasite *parasite = gimp_parasite_new(PLUGIN_GENERATION_PARASITE,
                                                   GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                                                   (guint32)strlen(text) + 1, text);
        gimp_item_attach_parasite(GIMP_ITEM(layer), parasite);
        gimp_parasite_free(parasite);
        free(text);
        layers[k] = layer;
    }
    attach_used_embeddings(target, &lib, params.prompt, params.negative_prompt);
    gimp_image_undo_group_end(target);
    gimp_progress_update(1.0);
    if (!use_image && run_mode != GIMP_RUN_NONINTERACTIVE) gimp_display_new(target);
    if (use_image) gimp_displays_flush();
    if (skipped[0] && run_mode == GIMP_RUN_INTERACTIVE)
        gimp_message("Some library embeddings do not fit this model and were left out; see the Embedding Library.");
    *layers_out = layers;
    *target_out = target;
    layers = NULL;
done:
    g_free(layers);
    g_free(pixels);
    if (lib_open) library_close(&lib);
    ow_model_close(model);
    return failure;
}
