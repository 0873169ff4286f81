/* library_procedures.c: the Embedding Library's PDB procedures (list, import, export,
 * rename, delete, merge) for scripts, each a thin call into library.c (the window,
 * library_window.c, makes the same calls). Entries are named by
 * their tokens, as in prompts. Like every oneword procedure they need a model set
 * (the library's embeddings are for it), and say how to set one when there is none. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "procedures.h"

typedef enum { OP_LIST, OP_IMPORT, OP_EXPORT, OP_RENAME, OP_DELETE, OP_MERGE } library_op;

static const struct {
    const char *name;
    library_op op;
    const char *menu_label, *blurb;
} operations[] = {
    {PROC_LIBRARY_LIST, OP_LIST, "_List", "List the Embedding Library: its tokens and index.json"},
    {PROC_LIBRARY_IMPORT, OP_IMPORT, "_Import...", "Import an embedding file into the library"},
    {PROC_LIBRARY_EXPORT, OP_EXPORT, "_Export...", "Export a library entry to an embedding file"},
    {PROC_LIBRARY_RENAME, OP_RENAME, "_Rename...", "Rename a token of the library"},
    {PROC_LIBRARY_DELETE, OP_DELETE, "_Delete...", "Move a library entry to the trash folder"},
    {PROC_LIBRARY_MERGE, OP_MERGE, "_Merge...", "Merge library entries into one"},
};

static GStrv entry_tokens(const library_entry *e) {
    GStrv tokens = g_new0(gchar *, (gsize)e->n_tokens + 1);
    for (int t = 0; t < e->n_tokens; t++) tokens[t] = g_strdup(e->tokens[t]);
    return tokens;
}

/* Import's and merge's return values: the new entry's name and tokens. */
static GimpValueArray *entry_result(GimpProcedure *procedure, const library_entry *e) {
    GimpValueArray *result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
    GIMP_VALUES_SET_STRING(result, 1, e->name);
    GIMP_VALUES_TAKE_STRV(result, 2, entry_tokens(e));
    return result;
}

static GStrv all_tokens(const library *lib) {
    GPtrArray *list = g_ptr_array_new();
    for (size_t i = 0; i < lib->count; i++)
        for (int t = 0; t < lib->entries[i].n_tokens; t++) g_ptr_array_add(list, g_strdup(lib->entries[i].tokens[t]));
    g_ptr_array_add(list, NULL);
    return (GStrv)g_ptr_array_free(list, FALSE);
}

static gchar *config_string(GimpProcedureConfig *config, const char *property) {
    gchar *value = NULL;
    g_object_get(config, property, &value, NULL);
    return value ? value : g_strdup("");
}

static GimpValueArray *run_op(GimpProcedure *procedure, library_op op, library *lib, GimpProcedureConfig *config,
                              ow_error *err) {
    GimpValueArray *result = NULL;
    ow_status s = OW_OK;
    switch (op) {
    case OP_LIST: {
        char *json = library_to_json(lib);
        result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
        GIMP_VALUES_TAKE_STRV(result, 1, all_tokens(lib));
        GIMP_VALUES_SET_STRING(result, 2, json ? json : "");
        GIMP_VALUES_SET_STRING(result, 3, lib->report);
        free(json);
        return result;
    }
    case OP_IMPORT: {
        gchar *file = config_string(config, "file"), *name = config_string(config, "name");
        size_t index = 0;
        if (!*file) {
            g_free(file);
            g_free(name);
            return plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "file is empty: name an embedding file");
        }
        s = library_import(lib, file, name, NULL, &index, err);
        g_free(file);
        g_free(name);
        if (s != OW_OK) break;
        return entry_result(procedure, &lib->entries[index]);
    }
    case OP_EXPORT: {
        gchar *token = config_string(config, "token"), *file = config_string(config, "file"),
              *layout = config_string(config, "layout");
        ow_embedding_layout chosen;
        if (!*file) {
            s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                             "file is empty: name the file to write (.pt, .bin, .safetensors or .json)");
        } else if (!library_layout_from_name(layout, &chosen)) {
            s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unknown layout '%s': use auto, a1111 or diffusers", layout);
        } else {
            s = library_export(lib, token, file, chosen, err);
        }
        g_free(token);
        g_free(file);
        g_free(layout);
        break;
    }
    case OP_RENAME: {
        gchar *token = config_string(config, "token"), *new_token = config_string(config, "new-token");
        s = library_rename(lib, token, new_token, err);
        g_free(token);
        g_free(new_token);
        break;
    }
    case OP_DELETE: {
        gchar *token = config_string(config, "token");
        char trash[PLUGIN_PATH_MAX + 400];
        s = library_delete(lib, token, trash, sizeof trash, err);
        g_free(token);
        if (s != OW_OK) break;
        result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
        GIMP_VALUES_SET_STRING(result, 1, trash);
        return result;
    }
    case OP_MERGE: {
        GStrv tokens = NULL;
        gchar *name = config_string(config, "name");
        g_object_get(config, "tokens", &tokens, NULL);
        size_t index = 0;
        s = library_merge(lib, (const char *const *)tokens, tokens ? g_strv_length(tokens) : 0, name, &index, NULL, NULL,
                          err);
        g_strfreev(tokens);
        g_free(name);
        if (s != OW_OK) break;
        return entry_result(procedure, &lib->entries[index]);
    }
    }
    if (s != OW_OK) return plugin_return_engine_error(procedure, err);
    return gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
}

static GimpValueArray *library_run(GimpProcedure *procedure, GimpProcedureConfig *config, gpointer run_data) {
    const library_op op = (library_op)GPOINTER_TO_INT(run_data);
    plugin_model_context context;
    GimpValueArray *no_model = plugin_open_model_context(procedure, &context);
    if (no_model) return no_model;
    ow_error err = {0};
    GimpRunMode run_mode;
    g_object_get(config, "run-mode", &run_mode, NULL);
    if (run_mode == GIMP_RUN_INTERACTIVE && op != OP_LIST &&
        !plugin_run_dialog(procedure, config, gimp_procedure_get_menu_label(procedure)))
        return gimp_procedure_new_return_values(procedure, GIMP_PDB_CANCEL, NULL);
    library lib;
    if (plugin_open_library(&lib, &context.profile, &err) != OW_OK) return plugin_return_engine_error(procedure, &err);
    GimpValueArray *result = run_op(procedure, op, &lib, config, &err);
    library_close(&lib);
    return result;
}

/* What entry_result returns. */
static void add_entry_return_values(GimpProcedure *procedure, const char *name_blurb) {
    gimp_procedure_add_string_return_value(procedure, "name", "Name", name_blurb, "", G_PARAM_READWRITE);
    gimp_procedure_add_string_array_return_value(procedure, "tokens", "Tokens", "Its tokens", G_PARAM_READWRITE);
}

static void add_token_argument(GimpProcedure *procedure, const char *blurb) {
    gimp_procedure_add_string_argument(procedure, "token", "_Token", blurb, "", G_PARAM_READWRITE);
}

GimpProcedure *plugin_library_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    size_t i = 0;
    while (i < G_N_ELEMENTS(operations) && strcmp(operations[i].name, name) != 0) i++;
    if (i == G_N_ELEMENTS(operations)) return NULL;
    const library_op op = operations[i].op;
    GimpProcedure *procedure =
        gimp_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, library_run, GINT_TO_POINTER(op), NULL);
    /* No menu entry: the Embedding Library window does these (library_window.c). */
    plugin_procedure_describe(procedure, operations[i].menu_label, NULL,
        operations[i].blurb,
        "The Embedding Library lives in the oneword folder of the GIMP profile: "
        "embeddings/ (one file per entry), index.json, trash/.");
    plugin_add_run_mode_argument(procedure);
    switch (op) {
    case OP_LIST:
        gimp_procedure_add_string_array_return_value(procedure, "tokens", "Tokens", "Every token in the library",
                                                     G_PARAM_READWRITE);
        gimp_procedure_add_string_return_value(procedure, "index-json", "Index", "The library as index.json holds it",
                                               "", G_PARAM_READWRITE);
        gimp_procedure_add_string_return_value(procedure, "report", "Report",
                                               "What opening the library repaired (\"\" if nothing)", "",
                                               G_PARAM_READWRITE);
        break;
    case OP_IMPORT:
        gimp_procedure_add_string_argument(procedure, "file", "_File",
                                           "An embedding file (.pt, .bin, .safetensors, .png, .json)", "",
                                           G_PARAM_READWRITE);
        gimp_procedure_add_string_argument(procedure, "name", "_Name", "The entry's name (\"\": from its token)", "",
                                           G_PARAM_READWRITE);
        add_entry_return_values(procedure, "The new entry's name");
        break;
    case OP_EXPORT: {
        add_token_argument(procedure, "A token of the entry to export");
        gimp_procedure_add_string_argument(procedure, "file", "_File",
                                           "The file to write: .pt, .bin, .safetensors or .json", "",
                                           G_PARAM_READWRITE);
        gimp_procedure_add_string_argument(procedure, "layout", "_Layout",
                                           "auto (from the extension), a1111 (string_to_param / emb_params) or "
                                           "diffusers ({token: vectors})",
                                           "auto", G_PARAM_READWRITE);
        break;
    }
    case OP_RENAME:
        add_token_argument(procedure, "The token to rename");
        gimp_procedure_add_string_argument(procedure, "new-token", "_New token", "Its new name (no spaces)", "",
                                           G_PARAM_READWRITE);
        break;
    case OP_DELETE:
        add_token_argument(procedure, "A token of the entry to delete");
        gimp_procedure_add_string_return_value(procedure, "trash-file", "Trash file", "Where the entry's file went",
                                               "", G_PARAM_READWRITE);
        break;
    case OP_MERGE:
        gimp_procedure_add_string_array_argument(procedure, "tokens", "_Tokens",
                                                 "Tokens of the entries to merge (two entries or more)",
                                                 G_PARAM_READWRITE);
        gimp_procedure_add_string_argument(procedure, "name", "_Name", "The merged entry's name", "merged",
                                           G_PARAM_READWRITE);
        add_entry_return_values(procedure, "The merged entry's name");
        break;
    }
    return procedure;
}
