/* procedure_support.c: what every procedure shares: error return values, the
 * profile and the "no model set" rule, opening the library with its repair report,
 * the interactive dialog, and the engine's log as GIMP messages. */
#include <libgimp/gimpui.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "procedures.h"

GimpValueArray *plugin_return_error(GimpProcedure *procedure, GimpPDBStatusType status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gchar *message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    GError *error = g_error_new_literal(g_quark_from_static_string("oneword"), 0, message);
    g_free(message);
    return gimp_procedure_new_return_values(procedure, status, error);
}

GimpValueArray *plugin_return_engine_error(GimpProcedure *procedure, const ow_error *err) {
    GimpPDBStatusType status = (err->status == OW_ERR_INVALID_ARGUMENT || err->status == OW_ERR_NOT_FOUND)
                                   ? GIMP_PDB_CALLING_ERROR
                                   : GIMP_PDB_EXECUTION_ERROR;
    return plugin_return_error(procedure, status, "%s", err->message[0] ? err->message : ow_status_name(err->status));
}

ow_status plugin_open_profile(plugin_profile *profile, ow_error *err) {
    return plugin_profile_open(profile, gimp_directory(), err);
}

ow_status plugin_require_model(plugin_profile *profile, char *model_path, size_t cap, ow_error *err) {
    ow_status s = plugin_open_profile(profile, err);
    if (s == OW_OK) s = plugin_profile_model(profile, model_path, cap, err);
    if (s != OW_OK) return s;
    if (!model_path[0]) return plugin_fail(err, OW_ERR_UNSUPPORTED, "%s", plugin_no_model_message);
    struct stat st;
    if (stat(model_path, &st) != 0)
        return plugin_fail(err, OW_ERR_UNSUPPORTED, "The model set in %s, '%s', is gone. %s", profile->config,
                           model_path, PLUGIN_SET_MODEL_HINT);
    return OW_OK;
}

ow_status plugin_open_library(library *lib, const plugin_profile *profile, ow_error *err) {
    ow_status s = library_open(lib, profile, err);
    if (s == OW_OK && lib->report[0]) gimp_message(lib->report);
    return s;
}

gboolean plugin_run_dialog(GimpProcedure *procedure, GimpProcedureConfig *config, const char *title) {
    gimp_ui_init("oneword");
    GtkWidget *dialog = gimp_procedure_dialog_new(procedure, config, title);
    /* Every argument but the run mode (which GIMP shows for plain procedures). */
    gint n = 0;
    GParamSpec **specs = gimp_procedure_get_arguments(procedure, &n);
    GList *properties = NULL;
    for (gint i = 0; i < n; i++)
        if (strcmp(specs[i]->name, "run-mode") != 0) properties = g_list_append(properties, (gpointer)specs[i]->name);
    gimp_procedure_dialog_fill_list(GIMP_PROCEDURE_DIALOG(dialog), properties);
    g_list_free(properties);
    gboolean ok = gimp_procedure_dialog_run(GIMP_PROCEDURE_DIALOG(dialog));
    gtk_widget_destroy(dialog);
    return ok;
}

void plugin_engine_log(void *user, int level, const char *message) {
    (void)user;
    gchar *text = g_strdup_printf("oneword%s: %s", level > 0 ? " warning" : "", message);
    gimp_message(text);
    g_free(text);
}
