/* procedures.h: the plug-in's PDB procedures (one file each, or one file for the
 * Embedding Library's), and the helpers they share (procedure_support.c). */
#ifndef OW_PLUGIN_PROCEDURES_H
#define OW_PLUGIN_PROCEDURES_H

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include "library.h"
#include "oneword.h"
#include "profile.h"

#define PLUGIN_MENU_PATH "<Image>/Filters/Concepts"
#define PLUGIN_AUTHOR "oneword contributors"
#define PLUGIN_YEAR "2026"

/* Procedure names, as Script-Fu calls them. */
#define PROC_SET_MODEL "plug-in-oneword-set-model"
#define PROC_LEARN "plug-in-oneword-learn"
#define PROC_GENERATE "plug-in-oneword-generate"
#define PROC_GENERATE_AGAIN "plug-in-oneword-generate-again"
#define PROC_LIBRARY_WINDOW "plug-in-oneword-library"
#define PROC_LIBRARY_LIST "plug-in-oneword-library-list"
#define PROC_LIBRARY_IMPORT "plug-in-oneword-library-import"
#define PROC_LIBRARY_EXPORT "plug-in-oneword-library-export"
#define PROC_LIBRARY_RENAME "plug-in-oneword-library-rename"
#define PROC_LIBRARY_DELETE "plug-in-oneword-library-delete"
#define PROC_LIBRARY_MERGE "plug-in-oneword-library-merge"
#define PROC_LIBRARY_FROM_IMAGE "plug-in-oneword-library-import-from-image"

/* Each creates the procedure called name (one of the names above that it serves). */
GimpProcedure *plugin_set_model_procedure_new(GimpPlugIn *plug_in, const gchar *name);
GimpProcedure *plugin_learn_procedure_new(GimpPlugIn *plug_in, const gchar *name);
GimpProcedure *plugin_generate_procedure_new(GimpPlugIn *plug_in, const gchar *name);
GimpProcedure *plugin_generate_again_procedure_new(GimpPlugIn *plug_in, const gchar *name);
GimpProcedure *plugin_library_procedure_new(GimpPlugIn *plug_in, const gchar *name);
GimpProcedure *plugin_library_window_procedure_new(GimpPlugIn *plug_in, const gchar *name);
GimpProcedure *plugin_image_concepts_procedure_new(GimpPlugIn *plug_in, const gchar *name);

/* ---- procedure_support.c ---- */

/* Return values for a failure: status with a GError holding the message. */
GimpValueArray *plugin_return_error(GimpProcedure *procedure, GimpPDBStatusType status, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* An engine failure: CALLING_ERROR for OW_ERR_INVALID_ARGUMENT / NOT_FOUND (the
 * caller's arguments), EXECUTION_ERROR for the rest. */
GimpValueArray *plugin_return_engine_error(GimpProcedure *procedure, const ow_error *err);

/* The profile folder (gimp_directory()/oneword), created when missing. */
ow_status plugin_open_profile(plugin_profile *profile, ow_error *err);

/* What every procedure that needs the model starts with: the profile and the model set
 * in it. */
typedef struct plugin_model_context {
    plugin_profile profile;
    plugin_model_settings settings;
} plugin_model_context;

/* Fills context; NULL when a model is set, otherwise the error return values that say
 * how to set one (plugin_no_model_message; also when the model set is gone). */
GimpValueArray *plugin_open_model_context(GimpProcedure *procedure, plugin_model_context *context);

/* A dialog shows a checked string argument (the sampler, the precision) as a list: the
 * choice aux argument takes the string's value before the dialog when it is one of the
 * list's (valid), and gives it back after OK. */
void plugin_choice_from_string(GimpProcedureConfig *config, const char *string_arg, const char *choice_arg,
                               gboolean valid);
void plugin_choice_to_string(GimpProcedureConfig *config, const char *choice_arg, const char *string_arg);

/* Runs Set Model's dialog with parent insensitive meanwhile; the caller unrefs the result. */
GimpValueArray *plugin_run_set_model_dialog(GtkWidget *parent);

/* "Model: PATH (fp32, all cores; config FILE)", or how to set one, or why the settings
 * cannot be read; g_free() it. */
gchar *plugin_model_summary(const plugin_profile *profile);

/* In a procedure dialog, where the label anchor_id (created with
 * gimp_procedure_dialog_get_label before the fill) was placed: the model summary and a
 * "Set Model..." button that runs Set Model's dialog and shows the new settings. */
void plugin_dialog_add_model_row(GimpProcedureDialog *dialog, GtkWidget *anchor, const plugin_profile *profile);

/* What every procedure's registration shares: the menu label, the menu path (NULL: no
 * menu entry), the documentation (help id: the procedure's name) and attribution. */
void plugin_procedure_describe(GimpProcedure *procedure, const char *menu_label, const char *menu_path,
                               const char *blurb, const char *help);

/* The run-mode argument of a plain procedure (image procedures get theirs from GIMP). */
void plugin_add_run_mode_argument(GimpProcedure *procedure);

/* Opens the library, and shows (gimp_message) what opening had to repair. */
ow_status plugin_open_library(library *lib, const plugin_profile *profile, ow_error *err);

/* A dialog's note: text in label, in bold when it warns. */
void plugin_label_set_text(GtkWidget *label, gboolean warn, const char *text);

/* Interactive runs: the procedure's own dialog over its arguments; FALSE if cancelled. */
gboolean plugin_run_dialog(GimpProcedure *procedure, GimpProcedureConfig *config, const char *title);

/* The engine's warnings (a truncated prompt, ...) as GIMP messages. */
void plugin_engine_log(void *user, int level, const char *message);

#endif
