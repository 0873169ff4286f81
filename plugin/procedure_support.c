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

gchar *plugin_model_summary(const plugin_profile *profile) {
    plugin_model_settings settings;
    ow_error err = {0};
    if (plugin_profile_model_settings(profile, &settings, &err) != OW_OK) return g_strdup_printf("Model: %s", err.message);
    if (!settings.model[0])
        return g_strdup("No model is set: Set Model... chooses the checkpoint that generating and learning use.");
    char threads[32] = "all cores";
    if (settings.threads) snprintf(threads, sizeof threads, "%d threads", settings.threads);
    return g_strdup_printf("Model: %s (%s, %s%s%s)", settings.model, ow_precision_name(settings.precision), threads,
                           settings.config[0] ? "; config " : "", settings.config);
}

void plugin_choice_from_string(GimpProcedureConfig *config, const char *string_arg, const char *choice_arg,
                               gboolean valid) {
    gchar *value = NULL;
    g_object_get(config, string_arg, &value, NULL);
    if (valid && value) g_object_set(config, choice_arg, value, NULL);
    g_free(value);
}

void plugin_choice_to_string(GimpProcedureConfig *config, const char *choice_arg, const char *string_arg) {
    gchar *value = NULL;
    g_object_get(config, choice_arg, &value, NULL);
    g_object_set(config, string_arg, value, NULL);
    g_free(value);
}

GimpValueArray *plugin_run_set_model_dialog(GtkWidget *parent) {
    GimpProcedure *set_model = gimp_pdb_lookup_procedure(gimp_get_pdb(), PROC_SET_MODEL);
    gtk_widget_set_sensitive(parent, FALSE);
    GimpValueArray *result = gimp_procedure_run(set_model, "run-mode", GIMP_RUN_INTERACTIVE, NULL);
    gtk_widget_set_sensitive(parent, TRUE);
    return result;
}

typedef struct model_row {
    GtkWidget *label, *dialog;
    const plugin_profile *profile;
} model_row;

static void on_dialog_set_model(GtkButton *button, model_row *row) {
    (void)button;
    gimp_value_array_unref(plugin_run_set_model_dialog(row->dialog));
    gchar *text = plugin_model_summary(row->profile);
    gtk_label_set_text(GTK_LABEL(row->label), text);
    g_free(text);
}

void plugin_dialog_add_model_row(GimpProcedureDialog *dialog, GtkWidget *anchor, const plugin_profile *profile) {
    model_row *row = g_new0(model_row, 1);
    row->label = anchor;
    row->dialog = GTK_WIDGET(dialog);
    row->profile = profile;
    g_object_set_data_full(G_OBJECT(anchor), "oneword-model-row", row, g_free);
    gchar *text = plugin_model_summary(profile);
    gtk_label_set_text(GTK_LABEL(anchor), text);
    g_free(text);
    gtk_label_set_xalign(GTK_LABEL(anchor), 0.0f);
    gtk_label_set_ellipsize(GTK_LABEL(anchor), PANGO_ELLIPSIZE_MIDDLE);
    GtkWidget *parent = gtk_widget_get_parent(anchor);
    if (!GTK_IS_BOX(parent)) return;
    GtkWidget *button = gtk_button_new_with_mnemonic("Set _Model...");
    gtk_widget_set_tooltip_text(button, "The checkpoint, its config, threads and precision generating and learning use");
    gtk_widget_set_halign(button, GTK_ALIGN_START);
    g_signal_connect(button, "clicked", G_CALLBACK(on_dialog_set_model), row);
    gint position = 0;
    gtk_container_child_get(GTK_CONTAINER(parent), anchor, "position", &position, NULL);
    gtk_box_pack_start(GTK_BOX(parent), button, FALSE, FALSE, 0);
    gtk_box_reorder_child(GTK_BOX(parent), button, position + 1);
    gtk_widget_show(button);
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
