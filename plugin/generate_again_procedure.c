/* generate_again_procedure.c: Filters > Concepts > Generate Again Like This Layer: reads
 * the "oneword-generation" record of the selected layer and runs it again (generation.c)
 * into the same image: with its own seed it re-makes the layer exactly, with another
 * seed it gives a variation. Returns the new layer. */
#include "generation.h"
#include "procedures.h"

static GimpValueArray *again_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                 GimpDrawable **drawables, GimpProcedureConfig *config, gpointer run_data) {
    (void)run_data;
    plugin_model_context context;
    GimpValueArray *no_model = plugin_open_model_context(procedure, &context);
    if (no_model) return no_model;
    ow_error err = {0};
    if (!drawables || !drawables[0] || drawables[1])
        return plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                   "select one layer made by Generate from Prompt (got %s)",
                                   !drawables || !drawables[0] ? "none" : "several");
    generation_request request;
    void *record = NULL;
    if (plugin_generation_record_read(GIMP_ITEM(drawables[0]), &request, &record, &err) != OW_OK)
        return plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                   "the layer '%s' was not made by Generate from Prompt: %s",
                                   gimp_item_get_name(GIMP_ITEM(drawables[0])), err.message);
    if (run_mode == GIMP_RUN_INTERACTIVE && !plugin_run_dialog(procedure, config, "Generate Again")) {
        plugin_generation_record_free(record);
        return gimp_procedure_new_return_values(procedure, GIMP_PDB_CANCEL, NULL);
    }
    int seed = -1;
    g_object_get(config, "seed", &seed, NULL);
    /* -1: the layer's own seed (the same picture); -2: a random one (a variation). */
    if (seed == -2) request.seed = (uint64_t)g_random_int_range(0, G_MAXINT);
    else if (seed >= 0) request.seed = (uint64_t)seed;
    GimpLayer **layers = NULL;
    GimpImage *target = NULL;
    GimpValueArray *result = plugin_generate_layers(procedure, run_mode, image, &request, &layers, &target);
    plugin_generation_record_free(record);
    if (!result) {
        result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
        GIMP_VALUES_SET_LAYER(result, 1, layers[0]);
        GIMP_VALUES_SET_INT(result, 2, (int)request.seed);
    }
    g_free(layers);
    return result;
}

GimpProcedure *plugin_generate_again_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure = gimp_image_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, again_run, NULL, NULL);
    gimp_procedure_set_image_types(procedure, "*");
    gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLE);
    plugin_procedure_describe(procedure, "Generate _Again Like This Layer...", PLUGIN_MENU_PATH,
        "Generate again with the parameters of a generated layer",
        "Reads the '" PLUGIN_GENERATION_PARASITE "' parasite of the selected layer (made by Generate from Prompt) "
        "and generates again into its image: with the layer's own seed the same picture, with another seed a "
        "variation.");
    gimp_procedure_add_int_argument(procedure, "seed", "See_d",
                                    "-1: the layer's own seed (the same picture); -2: a random one; else this seed", -2,
                                    G_MAXINT, -1, G_PARAM_READWRITE);
    gimp_procedure_add_layer_return_value(procedure, "layer", "Layer", "The new layer", FALSE, G_PARAM_READWRITE);
    gimp_procedure_add_int_return_value(procedure, "seed", "Seed", "The seed it used", 0, G_MAXINT, 0,
                                        G_PARAM_READWRITE);
    return procedure;
}
