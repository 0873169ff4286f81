/* set_model_procedure.c: Filters > Concepts > Set Model...: the model settings (the
 * checkpoint or diffusers folder, a single file's .yaml config, threads, precision).
 * The model is checked with ow_model_inspect (no weights loaded) before the settings
 * are stored in config.json; Generate and Learn open the model with them. */
#include <stdlib.h>
#include <string.h>

#include "procedures.h"

/* The dialog shows the precision from a list (the aux argument "precision-choice",
 * copied to and from the checked "precision" string). */
static gboolean set_model_dialog(GimpProcedure *procedure, GimpProcedureConfig *config) {
    gchar *precision = NULL;
    ow_precision parsed;
    g_object_get(config, "precision", &precision, NULL);
    plugin_choice_from_string(config, "precision", "precision-choice", ow_precision_parse(precision, &parsed) == 0);
    g_free(precision);
    gimp_ui_init("oneword");
    GtkWidget *dialog = gimp_procedure_dialog_new(procedure, config, "Set Model");
    GimpProcedureDialog *d = GIMP_PROCEDURE_DIALOG(dialog);
    gimp_procedure_dialog_fill(d, "model", "model-config", "threads", "precision-choice", NULL);
    gboolean ok = gimp_procedure_dialog_run(d);
    gtk_widget_destroy(dialog);
    if (ok) plugin_choice_to_string(config, "precision-choice", "precision");
    return ok;
}

static GimpValueArray *set_model_run(GimpProcedure *procedure, GimpProcedureConfig *config, gpointer run_data) {
    (void)run_data;
    GimpRunMode run_mode;
    g_object_get(config, "run-mode", &run_mode, NULL);
    if (run_mode == GIMP_RUN_INTERACTIVE && !set_model_dialog(procedure, config))
        return gimp_procedure_new_return_values(procedure, GIMP_PDB_CANCEL, NULL);
    gchar *model = NULL, *yaml = NULL, *precision = NULL;
    gint threads = 0;
    g_object_get(config, "model", &model, "model-config", &yaml, "threads", &threads, "precision", &precision, NULL);
    plugin_model_settings settings = {.threads = threads, .precision = OW_PRECISION_FP32};
    GimpValueArray *result = NULL;
    if (!model || !*model)
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                     "model is empty: give the path of a Stable Diffusion 1.x checkpoint "
                                     "(.safetensors/.ckpt) or diffusers folder");
    else if (ow_precision_parse(precision, &settings.precision) != 0)
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                     "precision '%s': use fp32, bf16 or auto (bf16 where the processor has AMX or "
                                     "AVX512-BF16)",
                                     precision ? precision : "");
    else if (strlen(model) >= sizeof settings.model || (yaml && strlen(yaml) >= sizeof settings.config))
        result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "the model or config path is too long");
    if (!result) {
        snprintf(settings.model, sizeof settings.model, "%s", model);
        snprintf(settings.config, sizeof settings.config, "%s", yaml ? yaml : "");
        ow_error err = {0};
        char *description = NULL;
        plugin_profile profile;
        if (ow_model_inspect(settings.model, settings.config[0] ? settings.config : NULL, &description, &err) != OW_OK)
            result = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "'%s' is not a model oneword can read: %s",
                                         model, err.message);
        else if (plugin_open_profile(&profile, &err) != OW_OK ||
                 plugin_profile_set_model_settings(&profile, &settings, &err) != OW_OK)
            result = plugin_return_engine_error(procedure, &err);
        free(description);
    }
    g_free(model);
    g_free(yaml);
    g_free(precision);
    return result ? result : gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
}

GimpProcedure *plugin_set_model_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure = gimp_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, set_model_run, NULL, NULL);
    plugin_procedure_describe(procedure, "Set _Model...", PLUGIN_MENU_PATH,
        "Set the Stable Diffusion model oneword uses, and how it runs",
        "Stores in the oneword profile (config.json) the path of a Stable Diffusion 1.x checkpoint (.safetensors, "
        ".ckpt) or diffusers folder, the original .yaml config of a single file (empty: NAME.yaml beside it, as "
        "A1111 reads it), the CPU threads (0: all cores) and the precision (fp32; bf16 on processors with AMX or "
        "AVX512-BF16, about twice as fast; auto: bf16 where it is fast). Generate and Learn use them.");
    plugin_add_run_mode_argument(procedure);
    gimp_procedure_add_string_argument(procedure, "model", "_Model",
                                       "Path of a .safetensors/.ckpt checkpoint or a diffusers folder", "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "model-config", "_Config (.yaml)",
                                       "A single file's original LDM config; empty: NAME.yaml beside it, if any", "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(procedure, "threads", "_Threads", "CPU threads (0: all cores)", 0,
                                    PLUGIN_THREADS_MAX, 0, G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(procedure, "precision", "_Precision", "fp32, bf16 or auto", "fp32",
                                       G_PARAM_READWRITE);
    GimpChoice *choice = gimp_choice_new_with_values("fp32", 0, "fp32 (reference)", NULL, "bf16", 1,
                                                     "bf16 (AMX / AVX512-BF16)", NULL, "auto", 2,
                                                     "auto (bf16 where it is fast)", NULL, NULL);
    gimp_procedure_add_choice_aux_argument(procedure, "precision-choice", "_Precision", "The precision (the dialog's list)",
                                           choice, "fp32", G_PARAM_READWRITE);
    return procedure;
}
