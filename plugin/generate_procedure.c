/* generate_procedure.c: Filters > Concepts > Generate from Prompt...: its arguments
 * and dialog; the generation itself is generation.c (the profile's model with the
 * library loaded, one layer per image named with prompt and seed, the parameters as
 * the "oneword-generation" parasite). Returns the new layers. */
#include <libgimp/gimpui.h>
#include <string.h>

#include "generation.h"
#include "procedures.h"

/* Choosing a token in the "insert token" list types it into the prompt at the cursor
 * (with a space before it where the text needs one), then the list shows its title again. */
static void on_insert_token(GtkComboBox *combo, gpointer prompt_view) {
    if (gtk_combo_box_get_active(combo) <= 0) return;
    gchar *token = gtk_combo_box_text_get_active_text(GTK_COMBO_BOX_TEXT(combo));
    GtkTextBuffer *buffer = gtk_text_view_get_buffer(GTK_TEXT_VIEW(prompt_view));
    GtkTextIter at;
    gtk_text_buffer_get_iter_at_mark(buffer, &at, gtk_text_buffer_get_insert(buffer));
    gboolean space_before = !gtk_text_iter_starts_line(&at);
    if (space_before) {
        GtkTextIter before = at;
        gtk_text_iter_backward_char(&before);
        space_before = !g_unichar_isspace(gtk_text_iter_get_char(&before));
    }
    gchar *text = g_strdup_printf("%s%s ", space_before ? " " : "", token ? token : "");
    gtk_text_buffer_insert_at_cursor(buffer, text, -1);
    g_free(text);
    g_free(token);
    gtk_combo_box_set_active(combo, 0);
    gtk_widget_grab_focus(GTK_WIDGET(prompt_view));
}

/* The "insert token" list, in the dialog where the label anchor was filled: every
 * token of the library, with its entry's width (only the model's width generates). */
static void add_token_list(GtkWidget *anchor, GtkWidget *prompt, const plugin_profile *profile) {
    library lib;
    ow_error err = {0};
    GtkWidget *combo = gtk_combo_box_text_new();
    if (library_open(&lib, profile, &err) != OW_OK) {
        gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(combo), NULL, "(the library cannot be read)");
    } else {
        gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(combo), NULL,
                                  lib.count ? "Insert a library token..." : "(the library is empty: Learn or import)");
        for (size_t i = 0; i < lib.count; i++)
            for (int t = 0; t < lib.entries[i].n_tokens; t++)
                gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(combo), NULL, lib.entries[i].tokens[t]);
        library_close(&lib);
    }
    gtk_combo_box_set_active(GTK_COMBO_BOX(combo), 0);
    g_signal_connect(combo, "changed", G_CALLBACK(on_insert_token), prompt);
    GtkWidget *parent = gtk_widget_get_parent(anchor);
    if (GTK_IS_BOX(parent)) {
        gint position = 0;
        gtk_container_child_get(GTK_CONTAINER(parent), anchor, "position", &position, NULL);
        gtk_box_pack_start(GTK_BOX(parent), combo, FALSE, FALSE, 0);
        gtk_box_reorder_child(GTK_BOX(parent), combo, position + 1);
        gtk_widget_show(combo);
    } else {
        gtk_widget_destroy(combo);
    }
}

/* The dialog: the prompts as multi-line text with a list that inserts library tokens,
 * the sampler from a list (the aux argument "sampler-choice", copied to and from the
 * checked "sampler" string). */
static gboolean generate_dialog(GimpProcedure *procedure, GimpProcedureConfig *config, const plugin_profile *profile) {
    gchar *sampler = NULL;
    g_object_get(config, "sampler", &sampler, NULL);
    plugin_choice_from_string(config, "sampler", "sampler-choice", plugin_sampler_name(sampler) != NULL);
    g_free(sampler);
    gimp_ui_init("oneword");
    GtkWidget *dialog = gimp_procedure_dialog_new(procedure, config, "Generate from Prompt");
    GimpProcedureDialog *d = GIMP_PROCEDURE_DIALOG(dialog);
    GtkWidget *prompt = gimp_procedure_dialog_get_widget(d, "prompt", GTK_TYPE_TEXT_VIEW);
    GtkWidget *negative = gimp_procedure_dialog_get_widget(d, "negative-prompt", GTK_TYPE_TEXT_VIEW);
    gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(prompt), GTK_WRAP_WORD);
    gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(negative), GTK_WRAP_WORD);
    gtk_widget_set_size_request(prompt, 360, 72);
    gtk_widget_set_size_request(negative, 360, 40);
    gimp_procedure_dialog_get_label(d, "prompt-label", "_Prompt (library tokens may be used)", FALSE, TRUE);
    gimp_procedure_dialog_get_label(d, "negative-label", "_Negative prompt", FALSE, TRUE);
    GtkWidget *anchor = gimp_procedure_dialog_get_label(d, "insert-token-label", "Insert a token at the cursor:", FALSE,
                                                        FALSE);
    gtk_label_set_xalign(GTK_LABEL(anchor), 0.0f);
    GtkWidget *model = gimp_procedure_dialog_get_label(d, "model-label", "", FALSE, FALSE);
    gimp_procedure_dialog_fill(d, "model-label", "prompt-label", "prompt", "insert-token-label", "negative-label",
                               "negative-prompt", "sampler-choice", "steps", "guidance-scale", "eta", "seed", "n-images",
                               "width", "height", NULL);
    add_token_list(anchor, prompt, profile);
    plugin_dialog_add_model_row(d, model, profile);
    gboolean ok = gimp_procedure_dialog_run(d);
    gtk_widget_destroy(dialog);
    if (ok) plugin_choice_to_string(config, "sampler-choice", "sampler");
    return ok;
}

static GimpValueArray *generate_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                    GimpDrawable **drawables, GimpProcedureConfig *config, gpointer run_data) {
    (void)drawables;
    (void)run_data;
    plugin_model_context context;
    GimpValueArray *no_model = plugin_open_model_context(procedure, &context);
    if (no_model) return no_model;
    /* show-dialog: the dialog over the arguments given (the Embedding Library window
     * opens it with a token in the prompt; an interactive call starts from the last
     * used values instead), and the result shown as an interactive run shows it. */
    gboolean show_dialog = FALSE;
    g_object_get(config, "show-dialog", &show_dialog, NULL);
    if (show_dialog) run_mode = GIMP_RUN_INTERACTIVE;
    if (run_mode == GIMP_RUN_INTERACTIVE && !generate_dialog(procedure, config, &context.profile))
        return gimp_procedure_new_return_values(procedure, GIMP_PDB_CANCEL, NULL);

    gchar *prompt = NULL, *negative = NULL, *sampler = NULL;
    int seed = -1;
    generation_request request = {0};
    g_object_get(config, "prompt", &prompt, "negative-prompt", &negative, "sampler", &sampler, "steps",
                 &request.steps, "guidance-scale", &request.guidance_scale, "eta", &request.eta, "seed", &seed,
                 "n-images", &request.n_images, "width", &request.width, "height", &request.height, NULL);
    request.prompt = prompt ? prompt : "";
    request.negative_prompt = negative ? negative : "";
    request.sampler = plugin_sampler_name(sampler);
    request.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)g_random_int_range(0, G_MAXINT - PLUGIN_IMAGES_MAX);
    request.clip_skip = 1;
    GimpValueArray *result = NULL;
    GimpLayer **layers = NULL;
    GimpImage *target = NULL;
    if (!request.sampler)
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "unknown sampler '%s': use " PLUGIN_SAMPLER_LIST,
                                     sampler ? sampler : "");
    else
        result = plugin_generate_layers(procedure, run_mode, image, &request, &layers, &target);
    if (!result) {
        result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
        GIMP_VALUES_SET_CORE_OBJECT_ARRAY(result, 1, layers);
        GIMP_VALUES_SET_IMAGE(result, 2, target);
        GIMP_VALUES_SET_INT(result, 3, (int)request.seed);
    }
    g_free(layers);
    g_free(prompt);
    g_free(negative);
    g_free(sampler);
    return result;
}

GimpProcedure *plugin_generate_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure = gimp_image_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, generate_run, NULL, NULL);
    gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_ALWAYS);
    plugin_procedure_describe(procedure, "Generate from _Prompt...", PLUGIN_MENU_PATH,
        "Generate images from a text prompt into new layers",
        "Runs the Stable Diffusion model set with Set Model on the prompt (library tokens such as <my-cat> may be "
        "used in it) and adds each image as a new layer at the top of the image, or of a new image when there is "
        "none. Image k uses seed + k. Each layer is named with its prompt and seed and carries the parameters in the "
        "'" PLUGIN_GENERATION_PARASITE "' parasite (JSON).");

    gimp_procedure_add_string_argument(procedure, "prompt", "_Prompt", "What to draw; library tokens may be used", "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "negative-prompt", "_Negative prompt", "What to avoid", "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "sampler", "_Sampler", PLUGIN_SAMPLER_LIST, "ddim", G_PARAM_READWRITE);
    GimpChoice *choice = gimp_choice_new_with_values("ddim", 0, "DDIM", NULL, "plms", 1, "PLMS", NULL, "euler", 2,
                                                     "Euler", NULL, "euler-a", 3, "Euler ancestral", NULL,
                                                     "dpm++2m-karras", 4, "DPM++ 2M Karras", NULL, NULL);
    gimp_procedure_add_choice_aux_argument(procedure, "sampler-choice", "_Sampler", "The sampler (the dialog's list)",
                                           choice, "ddim", G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "steps", "S_teps", "Sampler steps", 1, 1000, 50, G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(procedure, "guidance-scale", "_Guidance scale",
                                       "Classifier-free guidance; 1 or less turns it off", 0.0, 100.0, 7.5,
                                       G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(procedure, "eta", "_Eta", "DDIM eta (0: deterministic)", 0.0, 1.0, 0.0,
                                       G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "seed", "See_d", "Seed of image 1 (image k uses seed + k); -1: random",
                                    -1, G_MAXINT - PLUGIN_IMAGES_MAX, -1, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "n-images", "Number of _images", "Images (one layer each)", 1,
                                    PLUGIN_IMAGES_MAX, 1, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "width", "_Width",
                                    "A multiple of 8 (of the model's factor); 0: the image's width rounded down to one (without an image: the model's own size, 512 for SD 1.x)", 0,
                                    PLUGIN_SIDE_MAX, 0, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "height", "_Height",
                                    "A multiple of 8 (of the model's factor); 0: the image's height rounded down to one (without an image: the model's own size, 512 for SD 1.x)",
                                    0, PLUGIN_SIDE_MAX, 0, G_PARAM_READWRITE);

    gimp_procedure_add_boolean_argument(procedure, "show-dialog", "Show the _dialog",
                                        "Show the dialog over these arguments first, even in a non-interactive call",
                                        FALSE, G_PARAM_READWRITE);

    gimp_procedure_add_core_object_array_return_value(procedure, "layers", "Layers", "The new layers in seed order (the last one on top)",
                                                      GIMP_TYPE_LAYER, G_PARAM_READWRITE);
    gimp_procedure_add_image_return_value(procedure, "image", "Image", "The image that holds them (new if none was given)",
                                          FALSE, G_PARAM_READWRITE);
    gimp_procedure_add_int_return_value(procedure, "seed", "Seed", "The seed of image 1", 0, G_MAXINT, 0,
                                        G_PARAM_READWRITE);
    return procedure;
}
