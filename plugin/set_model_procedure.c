/* set_model_procedure.c: Filters > Concepts > Set Model...: checks that the path is a
 * checkpoint or diffusers folder the engine can read (ow_model_inspect, no weights
 * loaded) and stores it in config.json. */
#include <stdlib.h>

#include "procedures.h"

static GimpValueArray *set_model_run(GimpProcedure *procedure, GimpProcedureConfig *config, gpointer run_data) {
    (void)run_data;
    GimpRunMode run_mode;
    gchar *model = NULL;
    g_object_get(config, "run-mode", &run_mode, "model", &model, NULL);
    if (run_mode == GIMP_RUN_INTERACTIVE && !plugin_run_dialog(procedure, config, "Set Model")) {
        g_free(model);
        return gimp_procedure_new_return_values(procedure, GIMP_PDB_CANCEL, NULL);
    }
    if (run_mode == GIMP_RUN_INTERACTIVE) {
        g_free(model);
        g_object_get(config, "model", &model, NULL);
    }
    if (!model || !*model) {
        g_free(model);
        return plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                   "model is empty: give the path of a Stable Diffusion 1.x checkpoint "
                                   "(.safetensors/.ckpt) or diffusers folder");
    }
    ow_error err = {0};
    char *description = NULL;
    if (ow_model_inspect(model, NULL, &description, &err) != OW_OK) {
        GimpValueArray *r = plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                                "'%s' is not a model oneword can read: %s", model, err.message);
        g_free(model);
        return r;
    }
    free(description);
    plugin_profile profile;
    ow_status s = plugin_open_profile(&profile, &err);
    if (s == OW_OK) s = plugin_profile_set_model(&profile, model, &err);
    g_free(model);
    if (s != OW_OK) return plugin_return_engine_error(procedure, &err);
    return gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
}

GimpProcedure *plugin_set_model_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure = gimp_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, set_model_run, NULL, NULL);
    plugin_procedure_describe(procedure, "Set _Model...", PLUGIN_MENU_PATH,
        "Set the Stable Diffusion model oneword uses",
        "Stores the path of a Stable Diffusion 1.x checkpoint (.safetensors, .ckpt) or "
        "diffusers folder in the oneword profile (config.json). Generate and Learn use it.");
    plugin_add_run_mode_argument(procedure);
    gimp_procedure_add_string_argument(procedure, "model", "_Model",
                                       "Path of a .safetensors/.ckpt checkpoint or a diffusers folder", "",
                                       G_PARAM_READWRITE);
    return procedure;
}
