/* generate_procedure.c: Filters > Concepts > Generate from Prompt...: the model from
 * config.json with every library embedding loaded (its tokens usable in the prompts),
 * ow_generate once per image (image k with seed + k, so each layer can be re-made on
 * its own), each image a new layer at the top of the image (or of a new image when
 * there is none), named with its prompt and seed and carrying the generation
 * parameters as the "oneword-generation" parasite (JSON). Returns the new layers. */
#include <gegl.h>
#include <json-c/json.h>
#include <libgimp/gimpui.h>
#include <stdlib.h>
#include <string.h>

#include "layer_pixels.h"
#include "procedures.h"

#define PARASITE_NAME "oneword-generation"
#define SIDE_MAX 8192
#define IMAGES_MAX 64

/* The engine's sampler names, as the "sampler" argument takes them. A plain string, checked
 * here: Script-Fu turns an unknown value of a GimpChoice argument into its default with
 * only a warning, so a typo would run another sampler. */
static const char *const samplers[] = {"ddim", "plms", "euler", "euler-a", "dpm++2m-karras"};
#define SAMPLER_LIST "ddim, plms, euler, euler-a or dpm++2m-karras"

typedef struct {
    gchar *prompt, *negative, *sampler;
    int steps, seed, n_images, width, height;
    double scale, eta;
} generate_args;

static void args_free(generate_args *a) {
    g_free(a->prompt);
    g_free(a->negative);
    g_free(a->sampler);
}

static void args_read(GimpProcedureConfig *config, generate_args *a) {
    g_object_get(config, "prompt", &a->prompt, "negative-prompt", &a->negative, "sampler", &a->sampler, "steps",
                 &a->steps, "guidance-scale", &a->scale, "eta", &a->eta, "seed", &a->seed, "n-images", &a->n_images,
                 "width", &a->width, "height", &a->height, NULL);
}

static const char *engine_sampler(const char *name) {
    for (size_t i = 0; i < G_N_ELEMENTS(samplers); i++)
        if (name && strcmp(samplers[i], name) == 0) return samplers[i];
    return NULL;
}

/* 0 means: the image's side rounded down to a multiple of the model's factor (8 for
 * SD 1.x), or 512 without an image. */
static int default_side(int asked, int image_side, int factor) {
    if (asked > 0) return asked;
    if (image_side <= 0) return 512;
    int side = image_side / factor * factor;
    return side < factor ? factor : side > SIDE_MAX ? SIDE_MAX / factor * factor : side;
}

static char *parameters_json(const generate_args *a, const ow_generate_params *p, const char *model) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "generator", json_object_new_string("oneword " OW_VERSION_STRING));
    json_object_object_add(o, "prompt", json_object_new_string(p->prompt));
    json_object_object_add(o, "negative_prompt", json_object_new_string(p->negative_prompt ? p->negative_prompt : ""));
    json_object_object_add(o, "sampler", json_object_new_string(a->sampler));
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

/* The first library token the prompts use that the model could not take, or NULL. */
static const char *unusable_token(const library *lib, const char *skipped, const char *prompt, const char *negative) {
    for (size_t i = 0; i < lib->count; i++)
        for (int t = 0; t < lib->entries[i].n_tokens; t++) {
            const char *tok = lib->entries[i].tokens[t];
            if ((strstr(prompt, tok) || strstr(negative, tok)) && strstr(skipped, tok)) return tok;
        }
    return NULL;
}

static GimpValueArray *generate_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                    GimpDrawable **drawables, GimpProcedureConfig *config, gpointer run_data) {
    (void)drawables;
    (void)run_data;
    gegl_init(NULL, NULL);
    ow_error err = {0};
    plugin_profile profile;
    char model_path[PLUGIN_PATH_MAX];
    if (plugin_require_model(&profile, model_path, sizeof model_path, &err) != OW_OK)
        return plugin_return_engine_error(procedure, &err);
    if (run_mode == GIMP_RUN_INTERACTIVE && !plugin_run_dialog(procedure, config, "Generate from Prompt"))
        return gimp_procedure_new_return_values(procedure, GIMP_PDB_CANCEL, NULL);

    generate_args a = {0};
    args_read(config, &a);
    ow_generate_params params;
    ow_generate_params_init(&params);
    params.prompt = a.prompt ? a.prompt : "";
    params.negative_prompt = a.negative ? a.negative : "";
    params.sampler = engine_sampler(a.sampler);
    params.steps = a.steps;
    params.guidance_scale = (float)a.scale;
    params.eta = (float)a.eta;
    params.n_images = 1;
    const int use_image = image && gimp_image_get_base_type(image) != GIMP_INDEXED;
    const uint64_t first_seed = a.seed >= 0 ? (uint64_t)a.seed : (uint64_t)g_random_int_range(0, G_MAXINT - IMAGES_MAX);
    if (!params.sampler) {
        GimpValueArray *r = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "unknown sampler '%s': use " SAMPLER_LIST,
                                                a.sampler ? a.sampler : "");
        args_free(&a);
        return r;
    }

    ow_model_options options;
    ow_model_options_init(&options);
    options.log = plugin_engine_log;
    ow_model *model = NULL;
    library lib;
    int lib_open = 0;
    char skipped[2048] = "";
    float *pixels = NULL;
    GimpLayer **layers = NULL;
    GimpImage *target = NULL;
    GimpValueArray *result = NULL;
    gimp_progress_init("Loading the model...");
    if (ow_model_open(&model, model_path, &options, &err) != OW_OK) {
        result = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "cannot load the model '%s': %s", model_path,
                                     err.message);
        goto done;
    }
    const int factor = ow_model_image_factor(model);
    params.width = default_side(a.width, image ? gimp_image_get_width(image) : 0, factor);
    params.height = default_side(a.height, image ? gimp_image_get_height(image) : 0, factor);
    if (params.width % factor || params.height % factor) {
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                     "width and height must be multiples of %d for this model (or 0: from the "
                                     "image), got %dx%d",
                                     factor, params.width, params.height);
        goto done;
    }
    if (plugin_open_library(&lib, &profile, &err) != OW_OK) {
        result = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    lib_open = 1;
    if (library_add_to_model(&lib, model, skipped, sizeof skipped, &err) != OW_OK) {
        result = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    const char *bad = unusable_token(&lib, skipped, params.prompt, params.negative_prompt);
    if (bad) {
        result = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR,
                                     "the prompt uses the library token '%s', which this model cannot take: %s", bad,
                                     skipped);
        goto done;
    }

    const size_t per_image = (size_t)params.width * (size_t)params.height * 3;
    pixels = g_try_malloc(per_image * (size_t)a.n_images * sizeof *pixels);
    layers = g_new0(GimpLayer *, (gsize)a.n_images + 1);
    if (!pixels) {
        result = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "out of memory for %d images of %dx%d",
                                     a.n_images, params.width, params.height);
        goto done;
    }
    progress_state progress = {0, a.n_images};
    params.progress = show_progress;
    params.progress_user = &progress;
    gimp_progress_set_text("Generating...");
    for (int k = 0; k < a.n_images; k++) {
        progress.image = k;
        params.seed = first_seed + (uint64_t)k;
        if (ow_generate(model, &params, pixels + per_image * (size_t)k, &err) != OW_OK) {
            result = plugin_return_error(procedure, err.status == OW_ERR_INVALID_ARGUMENT ? GIMP_PDB_CALLING_ERROR
                                                                                         : GIMP_PDB_EXECUTION_ERROR,
                                         "generation failed: %s", err.message);
            goto done;
        }
    }

    target = use_image ? image : gimp_image_new(params.width, params.height, GIMP_RGB);
    gimp_image_undo_group_start(target);
    for (int k = 0; k < a.n_images; k++) {
        params.seed = first_seed + (uint64_t)k;
        char *name = layer_name(params.prompt, params.seed);
        GimpLayer *layer = plugin_layer_from_rgb(target, name, pixels + per_image * (size_t)k, params.width,
                                                 params.height);
        g_free(name);
        if (!layer || !gimp_image_insert_layer(target, layer, NULL, 0)) {
            gimp_image_undo_group_end(target);
            result = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "GIMP could not add a %dx%d layer",
                                         params.width, params.height);
            goto done;
        }
        char *text = parameters_json(&a, &params, model_path);
        GimpParasite *parasite = gimp_parasite_new(PARASITE_NAME, GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                                                   (guint32)strlen(text) + 1, text);
        gimp_item_attach_parasite(GIMP_ITEM(layer), parasite);
        gimp_parasite_free(parasite);
        free(text);
        layers[k] = layer;
    }
    gimp_image_undo_group_end(target);
    gimp_progress_update(1.0);
    if (!use_image && run_mode != GIMP_RUN_NONINTERACTIVE) gimp_display_new(target);
    if (use_image) gimp_displays_flush();
    if (skipped[0] && run_mode == GIMP_RUN_INTERACTIVE)
        gimp_message("Some library embeddings do not fit this model and were left out; see the Embedding Library.");

    result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
    GIMP_VALUES_SET_CORE_OBJECT_ARRAY(result, 1, layers);
    GIMP_VALUES_SET_IMAGE(result, 2, target);
    GIMP_VALUES_SET_INT(result, 3, (int)first_seed);
done:
    g_free(layers);
    g_free(pixels);
    if (lib_open) library_close(&lib);
    ow_model_close(model);
    args_free(&a);
    return result;
}

GimpProcedure *plugin_generate_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure = gimp_image_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, generate_run, NULL, NULL);
    gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_ALWAYS);
    gimp_procedure_set_menu_label(procedure, "Generate from _Prompt...");
    gimp_procedure_add_menu_path(procedure, PLUGIN_MENU_PATH);
    gimp_procedure_set_documentation(
        procedure, "Generate images from a text prompt into new layers",
        "Runs the Stable Diffusion model set with Set Model on the prompt (library tokens such as <my-cat> may be "
        "used in it) and adds each image as a new layer at the top of the image, or of a new image when there is "
        "none. Image k uses seed + k. Each layer is named with its prompt and seed and carries the parameters in the "
        "'" PARASITE_NAME "' parasite (JSON).",
        name);
    gimp_procedure_set_attribution(procedure, PLUGIN_AUTHOR, PLUGIN_AUTHOR, PLUGIN_YEAR);

    gimp_procedure_add_string_argument(procedure, "prompt", "_Prompt", "What to draw; library tokens may be used", "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "negative-prompt", "_Negative prompt", "What to avoid", "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "sampler", "_Sampler", SAMPLER_LIST, "ddim", G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "steps", "S_teps", "Sampler steps", 1, 1000, 50, G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(procedure, "guidance-scale", "_Guidance scale",
                                       "Classifier-free guidance; 1 or less turns it off", 0.0, 100.0, 7.5,
                                       G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(procedure, "eta", "_Eta", "DDIM eta (0: deterministic)", 0.0, 1.0, 0.0,
                                       G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "seed", "See_d", "Seed of image 1 (image k uses seed + k); -1: random",
                                    -1, G_MAXINT - IMAGES_MAX, -1, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "n-images", "Number of _images", "Images (one layer each)", 1,
                                    IMAGES_MAX, 1, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "width", "_Width",
                                    "A multiple of 8 (of the model's factor); 0: the image's width rounded down to one (512 without an image)", 0,
                                    SIDE_MAX, 0, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "height", "_Height",
                                    "A multiple of 8 (of the model's factor); 0: the image's height rounded down to one (512 without an image)",
                                    0, SIDE_MAX, 0, G_PARAM_READWRITE);

    gimp_procedure_add_core_object_array_return_value(procedure, "layers", "Layers", "The new layers in seed order (the last one on top)",
                                                      GIMP_TYPE_LAYER, G_PARAM_READWRITE);
    gimp_procedure_add_image_return_value(procedure, "image", "Image", "The image that holds them (new if none was given)",
                                          FALSE, G_PARAM_READWRITE);
    gimp_procedure_add_int_return_value(procedure, "seed", "Seed", "The seed of image 1", 0, G_MAXINT, 0,
                                        G_PARAM_READWRITE);
    return procedure;
}
