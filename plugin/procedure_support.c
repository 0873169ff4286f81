/* procedure_support.c: what every procedure shares: error return values, the
 * profile and the "no model set" rule, its registration's common parts, opening the
 * library with its repair report, the interactive dialog and its notes, and the
 * engine's log as GIMP messages. */
#include <libgimp/gimpui.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
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

GimpValueArray *plugin_open_model_context(GimpProcedure *procedure, plugin_model_context *context) {
    ow_error err = {0};
    ow_status s = plugin_open_profile(&context->profile, &err);
    if (s == OW_OK) s = plugin_profile_model_settings(&context->profile, &context->settings, &err);
    struct stat st;
    if (s == OW_OK && !context->settings.model[0])
        s = ow_error_set(&err, OW_ERR_UNSUPPORTED, "%s", plugin_no_model_message);
    else if (s == OW_OK && stat(context->settings.model, &st) != 0)
        s = ow_error_set(&err, OW_ERR_UNSUPPORTED, "The model set in %s, '%s', is gone. %s", context->profile.config,
                         context->settings.model, PLUGIN_SET_MODEL_HINT);
    return s == OW_OK ? NULL : plugin_return_engine_error(procedure, &err);
}

void plugin_procedure_describe(GimpProcedure *procedure, const char *menu_label, const char *menu_path,
                               const char *blurb, const char *help) {
    gimp_procedure_set_menu_label(procedure, menu_label);
    if (menu_path) gimp_procedure_add_menu_path(procedure, menu_path);
    gimp_procedure_set_documentation(procedure, blurb, help, gimp_procedure_get_name(procedure));
    gimp_procedure_set_attribution(procedure, PLUGIN_AUTHOR, PLUGIN_AUTHOR, PLUGIN_YEAR);
}

void plugin_add_run_mode_argument(GimpProcedure *procedure) {
    gimp_procedure_add_enum_argument(procedure, "run-mode", "Run mode", "The run mode", GIMP_TYPE_RUN_MODE,
                                     GIMP_RUN_INTERACTIVE, G_PARAM_READWRITE);
}

void plugin_label_set_text(GtkWidget *label, gboolean warn, const char *text) {
    gchar *markup = warn ? g_markup_printf_escaped("<b>%s</b>", text) : g_markup_escape_text(text, -1);
    gtk_label_set_markup(GTK_LABEL(label), markup);
    g_free(markup);
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
