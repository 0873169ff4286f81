/* learn_procedure.c: Filters > Concepts > Learn Concept...: textual inversion from the
 * selected layers (two or more; each one training image, converted through babl from
 * any precision or colour model, alpha over white: layer_pixels.c) with ow_learn on the
 * profile's model; a layer mask, or else the layer's alpha, weights the loss (use-masks).
 * The run lives in runs/<name>/ (state.safetensors and
 * embedding.safetensors, written every save-every steps), so a cancelled or killed run
 * continues with #:resume TRUE; the result goes into the Embedding Library. Returns the
 * library file and its token. Its dialog checks the init word as it is typed and offers
 * to resume an unfinished run of the token (learn_checks.c, as the run itself checks). */
#include <gegl.h>
#include <libgimp/gimpui.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "image_grid.h"
#include "layer_pixels.h"
#include "learn_checks.h"
#include "procedures.h"

typedef struct {
    char dir[PLUGIN_PATH_MAX];  /* runs/<name> */
    int failed; /* 1: saving the run failed; 2: a preview */
    ow_error err;
    /* previews: every preview_every steps (0: none) and at the end, PREVIEW_SAMPLES images of
     * preview_prompt with the rows so far, side by side, as a new layer of the preview image */
    ow_model *model;
    int preview_every, size, interactive;
    const char *preview_prompt;
    GimpImage *preview;
} learn_run;

#define PREVIEW_SAMPLES 4

/* A preview as the CLI's --preview-every makes it (generate's defaults: DDIM 50 steps,
 * scale 7.5, seed 0), as the top layer "step N" of the preview image. */
static int add_preview(learn_run *run, int step) {
    const int n = PREVIEW_SAMPLES, size = run->size;
    float *images = g_try_malloc((size_t)n * size * size * 3 * sizeof(float)), *row = NULL;
    ow_generate_params g;
    ow_generate_params_init(&g);
    g.prompt = run->preview_prompt;
    g.n_images = n;
    g.width = g.height = size;
    int row_w = 0, row_h = 0;
    int ok = images && ow_generate(run->model, &g, images, &run->err) == OW_OK;
    if (ok && !(row = image_grid(images, n, size, size, n, 0, &row_w, &row_h))) ok = 0; /* side by side, as the CLI */
    if (ok) {
        if (!run->preview) {
            run->preview = gimp_image_new(n * size, size, GIMP_RGB);
            if (run->preview && run->interactive) gimp_display_new(run->preview);
        }
        gchar *name = g_strdup_printf("step %d: %s", step, run->preview_prompt);
        GimpLayer *layer = run->preview ? plugin_layer_from_rgb(run->preview, name, row, row_w, row_h) : NULL;
        g_free(name);
        ok = layer && gimp_image_insert_layer(run->preview, layer, NULL, 0);
        if (!ok && !run->err.message[0]) ow_error_set(&run->err, OW_ERR_IO, "GIMP refused the preview layer");
        if (ok && run->interactive) gimp_displays_flush();
    } else if (!run->err.message[0]) {
        ow_error_set(&run->err, OW_ERR_OUT_OF_MEMORY, "out of memory for a preview");
    }
    g_free(images);
    free(row);
    return ok ? 0 : -1;
}

static int on_progress(void *user, int step, int total, float loss, double seconds) {
    learn_run *run = user;
    double per_step = step > 0 ? seconds / step : 0.0;
    gchar *text = g_strdup_printf("Learning: step %d/%d, loss %.4f, %.0f s left", step, total, (double)loss,
                                  per_step * (total - step));
    gimp_progress_set_text(text);
    g_free(text);
    gimp_progress_update((double)step / (double)(total > 0 ? total : 1));
    if (run->preview_every > 0 && (step % run->preview_every == 0 || step == total) && add_preview(run, step) != 0) {
        run->failed = 2; /* a preview, not the run's files */
        return 1;
    }
    return 0;
}

static int on_checkpoint(void *user, int step, const ow_embedding *emb, const ow_learn_state *state) {
    (void)step;
    learn_run *run = user;
    char path[PLUGIN_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/embedding.safetensors", run->dir);
    if (ow_embedding_save(emb, path, OW_EMBEDDING_LAYOUT_AUTO, &run->err) != OW_OK) {
        run->failed = 1;
        return 1;
    }
    snprintf(path, sizeof path, "%s/state.safetensors", run->dir);
    if (ow_learn_state_save(state, path, &run->err) != OW_OK) {
        run->failed = 1;
        return 1;
    }
    return 0;
}

static void free_images(ow_learn_image *images, int n) {
    for (int i = 0; i < n; i++) {
        g_free((gpointer)images[i].rgb);
        g_free((gpointer)images[i].mask);
    }
    g_free(images);
}

/* The selected layers as training images; NULL with a message for a bad selection. With
 * use_masks, a layer's mask, or else its alpha, weights its loss (ow_learn_image.mask). */
static ow_learn_image *read_layers(GimpDrawable **drawables, int use_masks, int *count, char *why, size_t cap) {
    int n = 0;
    while (drawables && drawables[n]) n++;
    if (n < 2) {
        snprintf(why, cap, "select two or more layers that show the concept (each one is a training image); got %d", n);
        return NULL;
    }
    int text_layers = 0;
    for (int i = 0; i < n; i++) {
        GimpItem *item = GIMP_ITEM(drawables[i]);
        if (!GIMP_IS_LAYER(item)) {
            snprintf(why, cap, "'%s' is not a layer (a channel or mask); select layers", gimp_item_get_name(item));
            return NULL;
        }
        if (!gimp_item_get_visible(item)) {
            snprintf(why, cap, "the layer '%s' is hidden: show it, or leave it out of the selection",
                     gimp_item_get_name(item));
            return NULL;
        }
        text_layers += GIMP_IS_TEXT_LAYER(item);
    }
    if (text_layers == n) {
        snprintf(why, cap, "the selection holds only text layers: select pictures of the concept");
        return NULL;
    }
    ow_learn_image *images = g_new0(ow_learn_image, (gsize)n);
    for (int i = 0; i < n; i++) {
        int w = 0, h = 0;
        float *alpha = NULL;
        float *rgb = plugin_drawable_to_rgb(drawables[i], &w, &h, use_masks ? &alpha : NULL);
        float *mask = use_masks ? plugin_layer_mask_values(GIMP_LAYER(drawables[i])) : NULL;
        if (mask) g_free(alpha);
        else mask = alpha;
        if (!rgb) {
            g_free(mask);
            free_images(images, i);
            snprintf(why, cap, "out of memory reading the layer '%s'", gimp_item_get_name(GIMP_ITEM(drawables[i])));
            return NULL;
        }
        images[i] = (ow_learn_image){.rgb = rgb, .width = w, .height = h, .mask = mask};
    }
    *count = n;
    return images;
}

/* ---- the dialog ---- */

/* Learn Concept's dialog: every argument, the init word checked as it is typed (how
 * it splits into CLIP tokens, one-token words to use instead; OK waits for one learn
 * takes), and an unfinished run of the token's name offered for resuming (on by
 * default; off starts the run again). */
typedef struct learn_dialog {
    GimpProcedureConfig *config;
    GtkWidget *dialog, *word_label, *run_label, *resume;
    const plugin_profile *profile;
    ow_tokenizer *tokenizer; /* NULL when the vocabulary cannot be read (word_error says why) */
    char word_error[1200];
    char offered[PLUGIN_PATH_MAX]; /* the state whose resume was last offered */
    gboolean word_ok;
} learn_dialog;

static void update_ok(learn_dialog *d) {
    gboolean resume = FALSE;
    g_object_get(d->config, "resume", &resume, NULL);
    /* A resumed run keeps its own init word. */
    gtk_dialog_set_response_sensitive(GTK_DIALOG(d->dialog), GTK_RESPONSE_OK,
                                      d->word_ok || !d->tokenizer || (resume && d->offered[0]));
}

static void check_word(learn_dialog *d) {
    gchar *word = NULL;
    int vectors = 1;
    g_object_get(d->config, "init-word", &word, "vectors", &vectors, NULL);
    char text[1024];
    if (d->tokenizer) {
        d->word_ok = plugin_init_word_check(d->tokenizer, word ? word : "", vectors, text, sizeof text);
        plugin_label_set_text(d->word_label, !d->word_ok, text);
    } else {
        plugin_label_set_text(d->word_label, FALSE, d->word_error);
    }
    g_free(word);
    update_ok(d);
}

static void check_run(learn_dialog *d) {
    gchar *token = NULL, *name = NULL;
    g_object_get(d->config, "token", &token, "name", &name, NULL);
    learn_run_place place;
    ow_error err = {0};
    char text[PLUGIN_PATH_MAX + 512];
    int step = 0, steps = 0;
    char run_token[LIBRARY_TOKEN_MAX] = "";
    if (plugin_learn_run_place(d->profile, token, name, &place, &err) != OW_OK) {
        snprintf(text, sizeof text, "%s", err.message);
        place.has_state = 0;
    } else if (!place.has_state) {
        snprintf(text, sizeof text, "A new run, saved in runs/%s as it goes.", place.name);
    } else if (plugin_learn_run_progress(&place, &step, &steps, run_token, sizeof run_token, &err) != OW_OK) {
        snprintf(text, sizeof text, "runs/%s holds a saved state that cannot be read (%s); unticked, Resume starts again.",
                 place.name, err.message);
    } else {
        snprintf(text, sizeof text,
                 "runs/%s holds an unfinished run of %s: step %d of %d. Resume continues it with its own options "
                 "(steps may be raised); unticked, the run starts again.",
                 place.name, run_token, step, steps);
    }
    plugin_label_set_text(d->run_label, FALSE, text);
    gtk_widget_set_sensitive(d->resume, place.has_state);
    /* Offer the resume once per state found (on by default); no state, nothing to resume. */
    if (!place.has_state) {
        d->offered[0] = '\0';
        g_object_set(d->config, "resume", FALSE, NULL);
    } else if (strcmp(d->offered, place.state) != 0) {
        g_strlcpy(d->offered, place.state, sizeof d->offered);
        g_object_set(d->config, "resume", TRUE, NULL);
    }
    g_free(token);
    g_free(name);
    update_ok(d);
}

static void on_word_changed(GObject *config, GParamSpec *pspec, learn_dialog *d) {
    (void)config;
    (void)pspec;
    check_word(d);
}

static void on_run_changed(GObject *config, GParamSpec *pspec, learn_dialog *d) {
    (void)config;
    (void)pspec;
    check_run(d);
}

static void on_resume_changed(GObject *config, GParamSpec *pspec, learn_dialog *d) {
    (void)config;
    (void)pspec;
    update_ok(d);
}

static GtkWidget *note_label(GimpProcedureDialog *dialog, const char *id) {
    GtkWidget *label = gimp_procedure_dialog_get_label(dialog, id, "", TRUE, FALSE);
    gtk_label_set_xalign(GTK_LABEL(label), 0.0f);
    gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
    gtk_label_set_max_width_chars(GTK_LABEL(label), 60);
    return label;
}

static gboolean learn_dialog_run(GimpProcedure *procedure, GimpProcedureConfig *config, const plugin_profile *profile) {
    learn_dialog d = {.config = config, .profile = profile};
    ow_error err = {0};
    if (ow_tokenizer_open(&d.tokenizer, NULL, &err) != OW_OK)
        snprintf(d.word_error, sizeof d.word_error, "The init word cannot be checked here (%s); Learn checks it.",
                 err.message);
    gimp_ui_init("oneword");
    d.dialog = gimp_procedure_dialog_new(procedure, config, "Learn Concept");
    GimpProcedureDialog *pd = GIMP_PROCEDURE_DIALOG(d.dialog);
    d.word_label = note_label(pd, "init-word-check");
    d.run_label = note_label(pd, "resume-check");
    d.resume = gimp_procedure_dialog_get_widget(pd, "resume", GTK_TYPE_CHECK_BUTTON);
    GtkWidget *model = gimp_procedure_dialog_get_label(pd, "model-label", "", FALSE, FALSE);
    /* what most runs leave as it is, folded away so that the dialog fits a screen */
    gimp_procedure_dialog_get_label(pd, "advanced-title", "More options", FALSE, FALSE);
    gimp_procedure_dialog_fill_box(pd, "advanced-box", "learning-rate", "save-every", "seed", "repeats", "flip",
                                   "center-crop", "gradient-checkpointing", "preview-every", "preview-prompt", NULL);
    gimp_procedure_dialog_fill_expander(pd, "advanced", "advanced-title", FALSE, "advanced-box");
    gimp_procedure_dialog_fill(pd, "model-label", "token", "init-word", "init-word-check", "vectors", "steps", "batch",
                               "size", "template", "name", "resume", "resume-check", "use-masks", "advanced",
                               "dry-run", NULL);
    plugin_dialog_add_model_row(pd, model, profile);
    gulong handlers[] = {
        g_signal_connect(config, "notify::init-word", G_CALLBACK(on_word_changed), &d),
        g_signal_connect(config, "notify::vectors", G_CALLBACK(on_word_changed), &d),
        g_signal_connect(config, "notify::token", G_CALLBACK(on_run_changed), &d),
        g_signal_connect(config, "notify::name", G_CALLBACK(on_run_changed), &d),
        g_signal_connect(config, "notify::resume", G_CALLBACK(on_resume_changed), &d),
    };
    check_run(&d);
    check_word(&d);
    gboolean ok = gimp_procedure_dialog_run(pd);
    for (size_t i = 0; i < G_N_ELEMENTS(handlers); i++) g_signal_handler_disconnect(config, handlers[i]);
    gtk_widget_destroy(d.dialog);
    ow_tokenizer_free(d.tokenizer);
    return ok;
}

/* The library's picture of an entry: the largest centred square of a training image,
 * THUMBNAIL_SIDE pixels wide (a thumbnail is decoration: failing to write one is not
 * an error of the run). */
#define THUMBNAIL_SIDE 96
static void save_thumbnail(const library *lib, const char *entry_name, const ow_learn_image *image) {
    const int side = image->width < image->height ? image->width : image->height;
    const int x0 = (image->width - side) / 2, y0 = (image->height - side) / 2;
    GdkPixbuf *square = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, side, side);
    if (!square) return;
    guchar *pixels = gdk_pixbuf_get_pixels(square);
    const int stride = gdk_pixbuf_get_rowstride(square);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            for (int c = 0; c < 3; c++) {
                float v = image->rgb[((size_t)(y0 + y) * image->width + x0 + x) * 3 + c];
                pixels[(size_t)y * stride + x * 3 + c] = (guchar)(v <= 0.0f ? 0 : v >= 1.0f ? 255 : v * 255.0f + 0.5f);
            }
    GdkPixbuf *thumb = gdk_pixbuf_scale_simple(square, THUMBNAIL_SIDE, THUMBNAIL_SIDE, GDK_INTERP_HYPER);
    g_object_unref(square);
    if (!thumb) return;
    char path[PLUGIN_PATH_MAX + 200], partial[PLUGIN_PATH_MAX + 220];
    library_thumbnail_path(lib, entry_name, path, sizeof path);
    snprintf(partial, sizeof partial, "%s.tmp-%d", path, (int)getpid());
    if (gdk_pixbuf_save(thumb, partial, "png", NULL, NULL) && rename(partial, path) == 0) partial[0] = '\0';
    if (partial[0]) unlink(partial);
    g_object_unref(thumb);
}

/* The dry run: the views ow_learn would train on, as layers of a new image ("view k: LAYER",
 * "(mirrored)"), each with its loss weights as a layer mask where a layer has some. */
static GimpImage *views_image(const ow_learn_image *images, GimpDrawable **drawables, int n_images,
                              const ow_learn_params *p, ow_error *err) {
    const int n = ow_learn_view_count(n_images, p), size = p->size;
    float *views = g_try_malloc((size_t)n * size * size * 3 * sizeof(float));
    float *masks = g_try_malloc((size_t)n * size * size * sizeof(float));
    GimpImage *out = NULL;
    if (!views || !masks) ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for %d training views", n);
    else if (ow_learn_views(images, n_images, p, views, masks, err) == OW_OK && (out = gimp_image_new(size, size, GIMP_RGB))) {
        const int per_image = n / n_images;
        for (int k = n - 1; k >= 0; k--) { /* view 0 on top */
            gchar *name = g_strdup_printf("view %d: %s%s", k + 1, gimp_item_get_name(GIMP_ITEM(drawables[k / per_image])),
                                          per_image == 2 && k % 2 ? " (mirrored)" : "");
            GimpLayer *layer = plugin_layer_from_rgb(out, name, views + (size_t)k * size * size * 3, size, size);
            g_free(name);
            if (!layer || !gimp_image_insert_layer(out, layer, NULL, 0)) continue;
            if (images[k / per_image].mask) plugin_layer_set_mask_values(layer, masks + (size_t)k * size * size);
        }
    }
    g_free(views);
    g_free(masks);
    return out;
}

static GimpValueArray *learn_run_procedure(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                           GimpDrawable **drawables, GimpProcedureConfig *config, gpointer run_data) {
    (void)run_data;
    gegl_init(NULL, NULL);
    plugin_model_context context;
    GimpValueArray *no_model = plugin_open_model_context(procedure, &context);
    if (no_model) return no_model;
    ow_error err = {0};
    if (run_mode == GIMP_RUN_INTERACTIVE && !learn_dialog_run(procedure, config, &context.profile))
        return gimp_procedure_new_return_values(procedure, GIMP_PDB_CANCEL, NULL);
    /* the dialog's Set Model... may have changed the settings */
    if (run_mode == GIMP_RUN_INTERACTIVE && (no_model = plugin_open_model_context(procedure, &context))) return no_model;

    gchar *token = NULL, *init_word = NULL, *templates = NULL, *name = NULL;
    gboolean resume = FALSE, use_masks = TRUE, center_crop = FALSE, checkpointing = FALSE, dry_run = FALSE;
    gchar *preview_prompt = NULL;
    int seed = 0, preview_every = 0;
    ow_learn_params p;
    ow_learn_params_init(&p);
    double learning_rate = p.learning_rate, flip = p.flip;
    g_object_get(config, "token", &token, "init-word", &init_word, "vectors", &p.vectors, "steps", &p.steps,
                 "learning-rate", &learning_rate, "batch", &p.batch, "size", &p.size, "template", &templates,
                 "save-every", &p.save_every, "seed", &seed, "name", &name, "resume", &resume, "use-masks",
                 &use_masks, "repeats", &p.repeats, "flip", &flip, "center-crop", &center_crop,
                 "gradient-checkpointing", &checkpointing, "dry-run", &dry_run, "preview-every", &preview_every,
                 "preview-prompt", &preview_prompt, NULL);
    p.learning_rate = (float)learning_rate;
    p.flip = (float)flip;
    p.center_crop = center_crop ? 1 : 0;
    p.seed = (uint64_t)seed;

    GimpValueArray *result = NULL;
    ow_learn_image *images = NULL;
    int n_images = 0;
    ow_model *model = NULL;
    ow_learn_state *state = NULL;
    ow_embedding *emb = NULL;
    library lib;
    int lib_open = 0;
    learn_run run = {0};
    char why[512];
    learn_run_place place; /* runs/<name>: the entry's name and its run */
    if (plugin_learn_run_place(&context.profile, token, name, &place, &err) != OW_OK) {
        result = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    const char *entry_name = place.name;

    if (!token || !*token || !init_word || !*init_word) {
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                     "token and init-word are needed: the new word (e.g. \"<my-cat>\") and one common "
                                     "word close to the concept (e.g. \"cat\")");
        goto done;
    }
    if (!(images = read_layers(drawables, use_masks, &n_images, why, sizeof why))) {
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "%s", why);
        goto done;
    }
    if (dry_run) {
        GimpImage *views = views_image(images, drawables, n_images, &p, &err);
        if (!views) {
            result = err.message[0] ? plugin_return_engine_error(procedure, &err)
                                    : plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR,
                                                          "GIMP refused the image of the training views");
            goto done;
        }
        if (run_mode == GIMP_RUN_INTERACTIVE) gimp_display_new(views);
        result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
        GIMP_VALUES_SET_STRING(result, 1, "");
        GIMP_VALUES_SET_STRING(result, 2, token);
        GIMP_VALUES_SET_STRING(result, 3, entry_name);
        GIMP_VALUES_SET_IMAGE(result, 4, views);
        goto done;
    }
    if (plugin_open_library(&lib, &context.profile, &err) != OW_OK) {
        result = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    lib_open = 1;
    const library_entry *holder = library_find(&lib, token);
    if (holder) {
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                     "the library already holds the token '%s' (entry '%s'): choose another token, or "
                                     "rename or delete that entry first",
                                     token, holder->name);
        goto done;
    }

    /* The run folder: a state there is a run to continue (resume) or, from a script, to
     * refuse to overwrite; the dialog offered the resume, so there unticked means again. */
    g_strlcpy(run.dir, place.dir, sizeof run.dir);
    const char *state_path = place.state;
    if (place.has_state && !resume && run_mode == GIMP_RUN_INTERACTIVE && unlink(state_path) == 0) place.has_state = 0;
    const int have_state = place.has_state;
    if (have_state && !resume) {
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                     "runs/%s holds an unfinished run (a saved state): continue it with resume "
                                     "(#:resume TRUE), or delete %s to start again",
                                     entry_name, run.dir);
        goto done;
    }
    if (resume && !have_state) {
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                     "resume: runs/%s holds no saved state to continue", entry_name);
        goto done;
    }
    if (resume) {
        /* The run's own options; only steps may be raised. */
        const int steps = p.steps;
        if (ow_learn_state_load(&state, state_path, &err) != OW_OK) {
            result = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "cannot resume from %s: %s", state_path,
                                         err.message);
            goto done;
        }
        ow_learn_state_params(state, &p);
        if (strcmp(p.placeholder, token) != 0) {
            result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                         "runs/%s learns the token '%s', not '%s'", entry_name, p.placeholder, token);
            goto done;
        }
        if (steps > p.steps) p.steps = steps;
        p.gradient_checkpointing = checkpointing ? 1 : 0; /* memory, not maths: as asked now */
        p.resume = state;
    } else {
        p.placeholder = token;
        p.init_word = init_word;
        p.templates = templates;
        p.gradient_checkpointing = checkpointing ? 1 : 0;
    }
    if (ow_file_make_dirs(run.dir, 0700, &err) != OW_OK) {
        result = plugin_return_engine_error(procedure, &err);
        goto done;
    }

    ow_model_options options;
    plugin_model_options(&context.settings, &options);
    options.log = plugin_engine_log;
    gimp_progress_init("Loading the model...");
    if (ow_model_open(&model, context.settings.model, &options, &err) != OW_OK) {
        result = plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "cannot load the model '%s': %s", context.settings.model,
                                     err.message);
        goto done;
    }
    gchar *default_preview = g_strdup_printf("a photo of a %s", p.placeholder);
    run.model = model;
    run.preview_every = preview_every;
    run.size = p.size;
    run.interactive = run_mode == GIMP_RUN_INTERACTIVE;
    run.preview_prompt = preview_prompt && *preview_prompt ? preview_prompt : default_preview;
    p.progress = on_progress;
    p.progress_user = &run;
    p.on_checkpoint = on_checkpoint;
    p.checkpoint_user = &run;
    gimp_progress_set_text("Learning...");
    ow_status s = ow_learn(model, images, n_images, &p, &emb, &err);
    g_free(default_preview);
    if (run.failed) {
        result = run.failed == 2 ? plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR, "the preview failed: %s",
                                                       run.err.message)
                                 : plugin_return_error(procedure, GIMP_PDB_EXECUTION_ERROR,
                                                       "cannot save the run in %s: %s", run.dir, run.err.message);
        goto done;
    }
    if (s != OW_OK) {
        result = plugin_return_error(procedure, s == OW_ERR_INVALID_ARGUMENT ? GIMP_PDB_CALLING_ERROR
                                                                            : GIMP_PDB_EXECUTION_ERROR,
                                     "learning failed: %s", err.message);
        goto done;
    }
    /* The final embedding in the run, then the library entry. */
    char emb_path[PLUGIN_PATH_MAX + 64];
    snprintf(emb_path, sizeof emb_path, "%s/embedding.safetensors", run.dir);
    if (ow_embedding_save(emb, emb_path, OW_EMBEDDING_LAYOUT_AUTO, &err) != OW_OK) {
        result = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    gchar *source = g_strdup_printf("learned from %d layers of %s (%d steps; run in runs/%s)", n_images,
                                    image ? gimp_image_get_name(image) : "an image", p.steps, entry_name);
    size_t index = 0;
    s = library_import(&lib, emb_path, entry_name, source, &index, &err);
    g_free(source);
    if (s != OW_OK) {
        result = plugin_return_engine_error(procedure, &err);
        goto done;
    }
    save_thumbnail(&lib, lib.entries[index].name, &images[0]);
    /* Finished: the state is no longer a run to continue. */
    unlink(state_path);
    char file[PLUGIN_PATH_MAX + 200];
    snprintf(file, sizeof file, "%s/%s", context.profile.embeddings, lib.entries[index].file);
    result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
    GIMP_VALUES_SET_STRING(result, 1, file);
    GIMP_VALUES_SET_STRING(result, 2, lib.entries[index].tokens[0]);
    GIMP_VALUES_SET_STRING(result, 3, lib.entries[index].name);
    GIMP_VALUES_SET_IMAGE(result, 4, run.preview);
    gimp_progress_update(1.0);
done:
    if (images) free_images(images, n_images);
    ow_embedding_free(emb);
    ow_model_close(model);
    ow_learn_state_free(state);
    if (lib_open) library_close(&lib);
    g_free(token);
    g_free(init_word);
    g_free(templates);
    g_free(name);
    g_free(preview_prompt);
    return result;
}

GimpProcedure *plugin_learn_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure =
        gimp_image_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, learn_run_procedure, NULL, NULL);
    gimp_procedure_set_image_types(procedure, "*");
    gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLES);
    plugin_procedure_describe(procedure, "_Learn Concept...", PLUGIN_MENU_PATH,
        "Learn a new word for the concept the selected layers show",
        "Textual inversion ('An Image is Worth One Word'): learns the vectors of a new token from the selected "
        "layers (two or more, each one training image; alpha is composited over white) for the model set with Set "
        "Model, and adds it to the Embedding Library. The run is saved in the profile's runs/NAME every save-every "
        "steps; an interrupted run continues with resume.");
    gimp_procedure_add_string_argument(procedure, "token", "_Token", "The new word as typed in prompts, e.g. <my-cat>",
                                       "<my-concept>", G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "init-word", "_Init word",
                                       "One common word close to the concept (one CLIP token), e.g. cat", "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "vectors", "_Vectors", "Vectors per token", 1, 16, 1, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "steps", "_Steps", "Optimiser steps", 1, 1000000, 5000,
                                    G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(procedure, "learning-rate", "_Learning rate",
                                       "Base rate (times the batch, as the reference's scale_lr)", 1e-9, 1.0, 5e-3,
                                       G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "batch", "_Batch", "Images per step", 1, 64, 2, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "size", "Si_ze",
                                    "Training resolution in pixels (a multiple of the model's factor)", 8, 4096, 512,
                                    G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "template", "T_emplate",
                                       "object (a thing) or style (a painting style)", "object", G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "save-every", "Save _every", "Steps between saved states (0: never)", 0,
                                    1000000, 500, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "seed", "See_d", "Every random choice of the run", 0, G_MAXINT, 0,
                                    G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "name", "_Name", "The library entry and run name (\"\": from the token)",
                                       "", G_PARAM_READWRITE);
    gimp_procedure_add_boolean_argument(procedure, "resume", "_Resume",
                                        "Continue the unfinished run of this name (its options are kept; steps may "
                                        "be raised)",
                                        FALSE, G_PARAM_READWRITE);
    gimp_procedure_add_boolean_argument(procedure, "use-masks", "Use layer _masks",
                                        "A layer's mask, or else its alpha, weights the loss: what lies outside "
                                        "is not learned from",
                                        TRUE, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "repeats", "Re_peats",
                                    "Each image's copies per shuffled epoch, as the reference's repeats (0: every "
                                    "draw independent)",
                                    0, 100000, 100, G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(procedure, "flip", "_Flip", "Probability of a mirrored view", 0.0, 1.0, 0.5,
                                       G_PARAM_READWRITE);
    gimp_procedure_add_boolean_argument(procedure, "center-crop", "_Center crop",
                                        "Train on each layer's largest centred square (the reference's center_crop) "
                                        "instead of the whole layer resized to a square",
                                        FALSE, G_PARAM_READWRITE);
    gimp_procedure_add_boolean_argument(procedure, "gradient-checkpointing", "_Gradient checkpointing",
                                        "Recompute the UNet's blocks in the backward pass: less memory, a slower step, "
                                        "the same result",
                                        FALSE, G_PARAM_READWRITE);
    gimp_procedure_add_boolean_argument(procedure, "dry-run", "Only show the training _views",
                                        "Make no run: a new image shows the exact views learning would train on "
                                        "(each layer resized, cropped and mirrored as learning does; loss weights as "
                                        "layer masks)",
                                        FALSE, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "preview-every", "Pre_view every",
                                    "Every N steps and at the end, 4 images of the preview prompt with the vectors so "
                                    "far, as a layer of a preview image (0: none)",
                                    0, 1000000, 0, G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "preview-prompt", "Preview _prompt",
                                       "\"\": \"a photo of a TOKEN\"", "", G_PARAM_READWRITE);
    gimp_procedure_add_string_return_value(procedure, "file", "File", "The library file of the learned embedding", "",
                                           G_PARAM_READWRITE);
    gimp_procedure_add_string_return_value(procedure, "token", "Token", "Its token", "", G_PARAM_READWRITE);
    gimp_procedure_add_string_return_value(procedure, "name", "Name", "Its library entry", "", G_PARAM_READWRITE);
    gimp_procedure_add_image_return_value(procedure, "image", "Image",
                                          "The training views (dry-run), or the previews (preview-every); else none",
                                          TRUE, G_PARAM_READWRITE);
    return procedure;
}
