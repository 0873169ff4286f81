/* library_window.c: Filters > Concepts > Embedding Library...: a window over the
 * Embedding Library, through library.c as the library procedures use it. A list of
 * the entries (tokens, vectors, width and text encoder, the model it was made for,
 * steps, date, file; multiple selection) with Import... (many files at once),
 * Export... (format and layout), Rename..., Delete (to trash/, with Undo), Merge...
 * (the selected entries), Generate... (Generate from Prompt's dialog with the token in
 * the prompt) and Set Model.... Interactive only: scripts call the library procedures. */
#include <libgimp/gimpui.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "procedures.h"

enum { COL_TOKENS, COL_VECTORS, COL_WIDTH, COL_MODEL, COL_STEPS, COL_FILE, COL_CREATED, COL_TOOLTIP, COL_KEY, COL_THUMB,
       N_COLUMNS };

#define THUMB_SIDE 48 /* the list's pictures, in pixels */


typedef struct library_window {
    GtkWidget *dialog, *view, *model_label, *status;
    GtkWidget *export_button, *rename_button, *delete_button, *undo_button, *merge_button, *generate_button;
    GtkListStore *store;
    plugin_profile profile;
    library lib;
    int lib_open;
    GArray *deleted; /* library_trashed: what the last Delete or Merge moved to the trash */
    char merged[LIBRARY_TOKEN_MAX]; /* a token of the last Merge's entry; "": the last action was a Delete */
} library_window;

/* ---- what the window shows ---- */

/* The status line: what the last action did, or (error) why it did not. */
static void set_status(library_window *win, gboolean error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void set_status(library_window *win, gboolean error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gchar *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    plugin_label_set_text(win->status, error, text);
    g_free(text);
}

/* The engine's name of a text encoder without its details: "SD 1.x (CLIP ...)" -> "SD 1.x". */
static gchar *short_family(const char *family) {
    const char *paren = strstr(family, " (");
    return g_strndup(family, paren ? (gsize)(paren - family) : strlen(family));
}

static void add_row(library_window *win, const library_entry *e) {
    GString *tokens = g_string_new(""), *vectors = g_string_new("");
    for (int t = 0; t < e->n_tokens; t++) {
        g_string_append_printf(tokens, "%s%s", t ? "  " : "", e->tokens[t]);
        g_string_append_printf(vectors, "%s%d", t ? ", " : "", e->vectors[t]);
    }
    gchar *family = short_family(e->family);
    gchar *width = g_str_has_prefix(e->family, "an unknown") ? g_strdup_printf("%d", e->dim)
                                                             : g_strdup_printf("%d (%s)", e->dim, family);
    gchar *steps = e->steps >= 0 ? g_strdup_printf("%lld", (long long)e->steps) : g_strdup("-");
    gchar *created = g_strndup(e->created, 16); /* 2026-12-01T14:33 */
    if (strlen(created) > 10) created[10] = ' ';
    gchar *tooltip = g_markup_printf_escaped("<b>%s</b>: %s\nText encoder: %s\nSource: %s%s%s", e->name, tokens->str,
                                             e->family, e->source[0] ? e->source : "-", e->notes[0] ? "\nNotes: " : "",
                                             e->notes);
    char thumb_path[PLUGIN_PATH_MAX + 200];
    library_thumbnail_path(&win->lib, e->name, thumb_path, sizeof thumb_path);
    GdkPixbuf *thumb = gdk_pixbuf_new_from_file_at_scale(thumb_path, THUMB_SIDE, THUMB_SIDE, TRUE, NULL); /* NULL: none */
    gtk_list_store_insert_with_values(win->store, NULL, -1, COL_TOKENS, tokens->str, COL_VECTORS, vectors->str,
                                      COL_WIDTH, width, COL_MODEL, e->model[0] ? e->model : "-", COL_STEPS, steps,
                                      COL_FILE, e->file, COL_CREATED, created, COL_TOOLTIP, tooltip, COL_KEY,
                                      e->tokens[0], COL_THUMB, thumb, -1);
    if (thumb) g_object_unref(thumb);
    g_string_free(tokens, TRUE);
    g_string_free(vectors, TRUE);
    g_free(family);
    g_free(width);
    g_free(steps);
    g_free(created);
    g_free(tooltip);
}

static void show_model(library_window *win) {
    gchar *text = plugin_model_summary(&win->profile);
    gtk_label_set_text(GTK_LABEL(win->model_label), text);
    g_free(text);
}

/* The tokens that name the selected entries (their first token each); g_ptr_array_unref. */
static GPtrArray *selected_keys(library_window *win) {
    GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
    GtkTreeModel *model = NULL;
    GList *rows = gtk_tree_selection_get_selected_rows(gtk_tree_view_get_selection(GTK_TREE_VIEW(win->view)), &model);
    for (GList *r = rows; r; r = r->next) {
        GtkTreeIter iter;
        gchar *key = NULL;
        if (gtk_tree_model_get_iter(model, &iter, r->data)) gtk_tree_model_get(model, &iter, COL_KEY, &key, -1);
        if (key) g_ptr_array_add(keys, key);
    }
    g_list_free_full(rows, (GDestroyNotify)gtk_tree_path_free);
    return keys;
}

/* The one selected entry (NULL when none or several are selected). */
static const library_entry *selected_entry(library_window *win) {
    GPtrArray *keys = selected_keys(win);
    const library_entry *e = keys->len == 1 ? library_find(&win->lib, keys->pdata[0]) : NULL;
    g_ptr_array_unref(keys);
    return e;
}

static void update_buttons(library_window *win) {
    GPtrArray *keys = selected_keys(win);
    const guint n = win->lib_open ? keys->len : 0;
    gtk_widget_set_sensitive(win->export_button, n == 1);
    gtk_widget_set_sensitive(win->rename_button, n == 1);
    gtk_widget_set_sensitive(win->generate_button, n == 1);
    gtk_widget_set_sensitive(win->delete_button, n >= 1);
    gtk_widget_set_sensitive(win->merge_button, n >= 2);
    gtk_widget_set_sensitive(win->undo_button, win->lib_open && win->deleted->len > 0);
    g_ptr_array_unref(keys);
}

/* Selects the row of the entry whose first token is key (the list may be sorted). */
static void select_row(library_window *win, const char *key) {
    GtkTreeModel *model = GTK_TREE_MODEL(win->store);
    GtkTreeIter iter;
    for (gboolean more = gtk_tree_model_get_iter_first(model, &iter); more; more = gtk_tree_model_iter_next(model, &iter)) {
        gchar *row_key = NULL;
        gtk_tree_model_get(model, &iter, COL_KEY, &row_key, -1);
        const gboolean found = row_key && strcmp(row_key, key) == 0;
        g_free(row_key);
        if (!found) continue;
        gtk_tree_selection_select_iter(gtk_tree_view_get_selection(GTK_TREE_VIEW(win->view)), &iter);
        GtkTreePath *path = gtk_tree_model_get_path(model, &iter);
        gtk_tree_view_scroll_to_cell(GTK_TREE_VIEW(win->view), path, NULL, FALSE, 0, 0);
        gtk_tree_path_free(path);
        return;
    }
}

/* Reads the library again (another process may have changed it) and lists it,
 * selecting the entry that holds select_token (may be NULL). */
static void refresh(library_window *win, const char *select_token) {
    if (win->lib_open) library_close(&win->lib);
    gtk_list_store_clear(win->store);
    ow_error err = {0};
    win->lib_open = library_open(&win->lib, &win->profile, &err) == OW_OK;
    if (!win->lib_open) {
        set_status(win, TRUE, "%s", err.message);
    } else {
        for (size_t i = 0; i < win->lib.count; i++) add_row(win, &win->lib.entries[i]);
        if (win->lib.report[0]) set_status(win, TRUE, "The library was repaired: %s", win->lib.report);
        const library_entry *chosen = select_token && *select_token ? library_find(&win->lib, select_token) : NULL;
        if (chosen) select_row(win, chosen->tokens[0]);
    }
    show_model(win);
    update_buttons(win);
}

/* After an action: the library read again (selecting select_token's row when it
 * worked) and the status: done (freed here), or err's message when it failed. */
static void finish_action(library_window *win, const char *select_token, const ow_error *err, gchar *done) {
    const gboolean failed = err->status != OW_OK;
    refresh(win, failed ? NULL : select_token);
    set_status(win, failed, "%s", failed ? err->message : done);
    g_free(done);
}

/* ---- small dialogs ---- */

/* Asks for a text (a new token, a merged entry's name); NULL if cancelled. With
 * choices (n > 1), a list to pick one from first: *picked gets its index. */
static gchar *ask_text(library_window *win, const char *title, const char *action, const char *choice_label,
                       const char *const *choices, int n, int *picked, const char *text_label, const char *initial) {
    GtkWidget *d = gimp_dialog_new(title, "oneword-library-ask", win->dialog, GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                   NULL, NULL, "_Cancel", GTK_RESPONSE_CANCEL, action, GTK_RESPONSE_OK, NULL);
    gtk_dialog_set_default_response(GTK_DIALOG(d), GTK_RESPONSE_OK);
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 6);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 6);
    gtk_container_set_border_width(GTK_CONTAINER(grid), 12);
    gtk_box_pack_start(GTK_BOX(gtk_dialog_get_content_area(GTK_DIALOG(d))), grid, TRUE, TRUE, 0);
    GtkWidget *combo = NULL;
    int row = 0;
    if (n > 1) {
        combo = gtk_combo_box_text_new();
        for (int i = 0; i < n; i++) gtk_combo_box_text_append_text(GTK_COMBO_BOX_TEXT(combo), choices[i]);
        gtk_combo_box_set_active(GTK_COMBO_BOX(combo), 0);
        gtk_grid_attach(GTK_GRID(grid), gtk_label_new(choice_label), 0, row, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), combo, 1, row++, 1, 1);
    }
    GtkWidget *entry = gtk_entry_new();
    gtk_entry_set_text(GTK_ENTRY(entry), initial);
    gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
    gtk_entry_set_width_chars(GTK_ENTRY(entry), 28);
    GtkWidget *label = gtk_label_new_with_mnemonic(text_label);
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), entry);
    gtk_grid_attach(GTK_GRID(grid), label, 0, row, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), entry, 1, row, 1, 1);
    gtk_widget_show_all(d);
    gchar *text = NULL;
    if (gimp_dialog_run(GIMP_DIALOG(d)) == GTK_RESPONSE_OK) {
        text = g_strdup(gtk_entry_get_text(GTK_ENTRY(entry)));
        if (picked) *picked = combo ? gtk_combo_box_get_active(GTK_COMBO_BOX(combo)) : 0;
    }
    gtk_widget_destroy(d);
    return text;
}

/* ---- the actions ---- */

static void on_import(GtkButton *button, library_window *win) {
    (void)button;
    GtkWidget *chooser = gtk_file_chooser_dialog_new("Import Embeddings", GTK_WINDOW(win->dialog),
                                                     GTK_FILE_CHOOSER_ACTION_OPEN, "_Cancel", GTK_RESPONSE_CANCEL,
                                                     "_Import", GTK_RESPONSE_ACCEPT, NULL);
    gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(chooser), TRUE);
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, "Embeddings (.pt .bin .safetensors .png .json)");
    static const char *const patterns[] = {"*.pt", "*.bin", "*.safetensors", "*.png", "*.json",
                                           "*.PT", "*.BIN", "*.SAFETENSORS", "*.PNG", "*.JSON"};
    for (size_t i = 0; i < G_N_ELEMENTS(patterns); i++) gtk_file_filter_add_pattern(filter, patterns[i]);
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), filter);
    GtkFileFilter *all = gtk_file_filter_new();
    gtk_file_filter_set_name(all, "All files");
    gtk_file_filter_add_pattern(all, "*");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), all);
    GSList *files = gtk_dialog_run(GTK_DIALOG(chooser)) == GTK_RESPONSE_ACCEPT
                        ? gtk_file_chooser_get_filenames(GTK_FILE_CHOOSER(chooser))
                        : NULL;
    gtk_widget_destroy(chooser);
    if (!files || !win->lib_open) {
        g_slist_free_full(files, g_free);
        return;
    }
    GString *done = g_string_new(""), *failed = g_string_new("");
    int n_done = 0;
    char last[LIBRARY_TOKEN_MAX] = "";
    for (GSList *f = files; f; f = f->next) {
        ow_error err = {0};
        size_t index = 0;
        if (library_import(&win->lib, f->data, NULL, NULL, &index, &err) == OW_OK) {
            const library_entry *e = &win->lib.entries[index];
            g_string_append_printf(done, "%s%s", n_done++ ? ", " : "", e->tokens[0]);
            g_strlcpy(last, e->tokens[0], sizeof last);
        } else {
            g_string_append_printf(failed, "%s%s", failed->len ? "; " : "", err.message);
        }
    }
    g_slist_free_full(files, g_free);
    ow_error outcome = {0};
    if (failed->len)
        ow_error_set(&outcome, OW_ERR_INVALID_ARGUMENT, "Imported %d (%s); not imported: %s", n_done, done->str,
                     failed->str);
    finish_action(win, last, &outcome, g_strdup_printf("Imported %d: %s", n_done, done->str));
    g_string_free(done, TRUE);
    g_string_free(failed, TRUE);
}

/* The export chooser's file name follows the chosen format's extension. */
static void on_format_changed(GtkComboBox *combo, GtkFileChooser *chooser) {
    const gint f = gtk_combo_box_get_active(combo);
    if (f < 0 || (size_t)f >= library_export_format_count) return;
    gchar *name = gtk_file_chooser_get_current_name(chooser);
    if (!name) return;
    gchar *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = '\0';
    gchar *renamed = g_strconcat(name, library_export_formats[f].extension, NULL);
    gtk_file_chooser_set_current_name(chooser, renamed);
    g_free(renamed);
    g_free(name);
}

static void on_export(GtkButton *button, library_window *win) {
    (void)button;
    const library_entry *e = selected_entry(win);
    if (!e) return;
    GtkWidget *chooser = gtk_file_chooser_dialog_new("Export Embedding", GTK_WINDOW(win->dialog),
                                                     GTK_FILE_CHOOSER_ACTION_SAVE, "_Cancel", GTK_RESPONSE_CANCEL,
                                                     "_Export", GTK_RESPONSE_ACCEPT, NULL);
    gtk_file_chooser_set_do_overwrite_confirmation(GTK_FILE_CHOOSER(chooser), TRUE);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *combo = gtk_combo_box_text_new();
    for (size_t f = 0; f < library_export_format_count; f++)
        gtk_combo_box_text_append_text(GTK_COMBO_BOX_TEXT(combo), library_export_formats[f].label);
    gtk_box_pack_start(GTK_BOX(box), gtk_label_new("Format:"), FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), combo, FALSE, FALSE, 0);
    gtk_widget_show_all(box);
    gtk_file_chooser_set_extra_widget(GTK_FILE_CHOOSER(chooser), box);
    gchar *name = g_strconcat(e->name, library_export_formats[0].extension, NULL);
    gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(chooser), name);
    g_free(name);
    gtk_combo_box_set_active(GTK_COMBO_BOX(combo), 0);
    g_signal_connect(combo, "changed", G_CALLBACK(on_format_changed), chooser);
    gchar *path = NULL;
    gint f = 0;
    if (gtk_dialog_run(GTK_DIALOG(chooser)) == GTK_RESPONSE_ACCEPT) {
        path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(chooser));
        f = gtk_combo_box_get_active(GTK_COMBO_BOX(combo));
    }
    gtk_widget_destroy(chooser);
    if (path && f >= 0 && (size_t)f < library_export_format_count) {
        const library_export_format *format = &library_export_formats[f];
        /* The format decides the extension: the engine reads the format from it. */
        if (!g_str_has_suffix(path, format->extension)) {
            gchar *with = g_strconcat(path, format->extension, NULL);
            g_free(path);
            path = with;
        }
        ow_error err = {0};
        if (library_export(&win->lib, e->tokens[0], path, format->layout, &err) == OW_OK)
            set_status(win, FALSE, "Exported %s to %s (%s)", e->tokens[0], path, format->label);
        else
            set_status(win, TRUE, "%s", err.message);
    }
    g_free(path);
}

static void on_rename(GtkButton *button, library_window *win) {
    (void)button;
    const library_entry *e = selected_entry(win);
    if (e) {
        const char *tokens[LIBRARY_ENTRY_TOKENS];
        for (int t = 0; t < e->n_tokens; t++) tokens[t] = e->tokens[t];
        int picked = 0;
        gchar *new_token = ask_text(win, "Rename Token", "_Rename", "Token:", tokens, e->n_tokens, &picked,
                                    "_New token:", e->tokens[0]);
        if (new_token) {
            char old_token[LIBRARY_TOKEN_MAX];
            g_strlcpy(old_token, e->tokens[picked], sizeof old_token);
            ow_error err = {0};
            library_rename(&win->lib, old_token, new_token, &err);
            finish_action(win, new_token, &err, g_strdup_printf("Renamed %s to %s", old_token, new_token));
            g_free(new_token);
        }
    }
}

static void on_delete(GtkButton *button, library_window *win) {
    (void)button;
    GPtrArray *keys = selected_keys(win);
    g_array_set_size(win->deleted, 0);
    win->merged[0] = '\0';
    GString *done = g_string_new("");
    ow_error err = {0};
    for (guint k = 0; k < keys->len; k++) {
        const library_entry *e = library_find(&win->lib, keys->pdata[k]);
        if (!e) continue;
        library_trashed d;
        d.entry = *e;
        if (library_delete(&win->lib, keys->pdata[k], d.trash, sizeof d.trash, &err) != OW_OK) break;
        g_array_append_val(win->deleted, d);
        g_string_append_printf(done, "%s%s", done->len ? ", " : "", d.entry.name);
    }
    finish_action(win, NULL, &err,
                  g_strdup_printf("Moved %s to the trash folder (%s); Undo puts %s back", done->str,
                                  win->profile.trash, win->deleted->len > 1 ? "them" : "it"));
    g_string_free(done, TRUE);
    g_ptr_array_unref(keys);
}

/* Undoes the last Delete (its entries come back from the trash) or Merge (the merged
 * entry goes to the trash, and its inputs come back). */
static void on_undo(GtkButton *button, library_window *win) {
    (void)button;
    GString *done = g_string_new("");
    ow_error err = {0};
    char first[LIBRARY_TOKEN_MAX] = "";
    ow_status s = OW_OK;
    if (win->merged[0]) {
        s = library_delete(&win->lib, win->merged, NULL, 0, &err);
        if (s == OW_OK) win->merged[0] = '\0';
    }
    while (s == OW_OK && win->deleted->len > 0) {
        const library_trashed *d = &g_array_index(win->deleted, library_trashed, win->deleted->len - 1);
        if (library_undelete(&win->lib, &d->entry, d->trash, NULL, &err) != OW_OK) break;
        g_string_append_printf(done, "%s%s", done->len ? ", " : "", d->entry.name);
        g_strlcpy(first, d->entry.tokens[0], sizeof first);
        g_array_set_size(win->deleted, win->deleted->len - 1);
    }
    finish_action(win, first, &err, g_strdup_printf("Restored %s", done->str));
    g_string_free(done, TRUE);
}

static void on_merge(GtkButton *button, library_window *win) {
    (void)button;
    GPtrArray *keys = selected_keys(win);
    gchar *name = keys->len >= 2 ? ask_text(win, "Merge Entries", "_Merge", NULL, NULL, 0, NULL, "Merged entry's _name:",
                                            "merged")
                                 : NULL;
    if (name) {
        ow_error err = {0};
        size_t index = 0, n_moved = 0;
        char first[LIBRARY_TOKEN_MAX] = "", merged[LIBRARY_TOKEN_MAX] = "";
        library_trashed moved[LIBRARY_ENTRY_TOKENS];
        if (library_merge(&win->lib, (const char *const *)keys->pdata, keys->len, name, &index, moved, &n_moved,
                          &err) == OW_OK) {
            g_strlcpy(first, win->lib.entries[index].tokens[0], sizeof first);
            g_strlcpy(merged, win->lib.entries[index].name, sizeof merged);
            g_array_set_size(win->deleted, 0);
            g_array_append_vals(win->deleted, moved, (guint)n_moved);
            g_strlcpy(win->merged, first, sizeof win->merged);
        }
        finish_action(win, first, &err,
                      g_strdup_printf("Merged %u entries into '%s' (the inputs went to the trash folder; Undo "
                                      "takes them back)",
                                      keys->len, merged));
        g_free(name);
    }
    g_ptr_array_unref(keys);
}

/* Reports how a procedure this window ran ended. */
static void report_run(library_window *win, GimpValueArray *result, const char *what) {
    const GimpPDBStatusType status = GIMP_VALUES_GET_ENUM(result, 0);
    if (status == GIMP_PDB_SUCCESS || status == GIMP_PDB_CANCEL)
        set_status(win, FALSE, "%s: %s", what, status == GIMP_PDB_SUCCESS ? "done" : "cancelled");
    else
        set_status(win, TRUE, "%s failed: %s", what, gimp_pdb_get_last_error(gimp_get_pdb()));
    gimp_value_array_unref(result);
}

/* Generate from Prompt's own dialog with the token in the prompt: a non-interactive
 * call with show-dialog (an interactive one would start from the last used prompt). */
static void on_generate(GtkButton *button, library_window *win) {
    (void)button;
    const library_entry *e = selected_entry(win);
    if (e) {
        GimpProcedure *generate = gimp_pdb_lookup_procedure(gimp_get_pdb(), PROC_GENERATE);
        gchar *prompt = g_strdup_printf("a photo of %s", e->tokens[0]);
        gtk_widget_set_sensitive(win->dialog, FALSE);
        GimpValueArray *result = gimp_procedure_run(generate, "run-mode", GIMP_RUN_NONINTERACTIVE, "prompt", prompt,
                                                    "show-dialog", TRUE, NULL);
        gtk_widget_set_sensitive(win->dialog, TRUE);
        report_run(win, result, "Generate from Prompt");
        g_free(prompt);
    }
}

static void on_set_model(GtkButton *button, library_window *win) {
    (void)button;
    report_run(win, plugin_run_set_model_dialog(win->dialog), "Set Model");
    show_model(win);
}

static void on_selection_changed(GtkTreeSelection *selection, library_window *win) {
    (void)selection;
    update_buttons(win);
}

/* ---- the window ---- */

/* The action buttons under the list, and where the window keeps each (to make it
 * sensitive when the selection allows it). */
#define NO_WIDGET ((size_t)-1)
static const struct {
    const char *label, *tooltip;
    void (*clicked)(GtkButton *button, library_window *win);
    size_t widget; /* offset of its GtkWidget * in library_window, or NO_WIDGET */
} actions[] = {
    {"_Import...", "Add embedding files (.pt, .bin, .safetensors, .png, .json; several at once)", on_import, NO_WIDGET},
    {"_Export...", "Write the selected entry as a file other tools read", on_export,
     offsetof(library_window, export_button)},
    {"_Rename...", "Give a token of the selected entry a new name", on_rename, offsetof(library_window, rename_button)},
    {"_Delete", "Move the selected entries to the trash folder", on_delete, offsetof(library_window, delete_button)},
    {"_Undo", "Undo the last Delete (its entries come back from the trash) or Merge (the inputs come back)", on_undo,
     offsetof(library_window, undo_button)},
    {"_Merge...", "One entry with every token of the selected entries", on_merge, offsetof(library_window, merge_button)},
    {"_Generate...", "Generate from Prompt with the selected token in the prompt", on_generate,
     offsetof(library_window, generate_button)},
};

static void add_column(GtkWidget *view, const char *title, int column, gboolean expand) {
    GtkCellRenderer *cell = gtk_cell_renderer_text_new();
    /* Long texts are shortened in the middle (a tree view shortens only columns of a
     * fixed width; they still take the room left over). */
    if (expand) g_object_set(cell, "ellipsize", PANGO_ELLIPSIZE_MIDDLE, NULL);
    GtkTreeViewColumn *c = gtk_tree_view_column_new_with_attributes(title, cell, "text", column, NULL);
    gtk_tree_view_column_set_resizable(c, TRUE);
    gtk_tree_view_column_set_sort_column_id(c, column);
    gtk_tree_view_column_set_expand(c, expand);
    if (expand) {
        gtk_tree_view_column_set_sizing(c, GTK_TREE_VIEW_COLUMN_FIXED);
        gtk_tree_view_column_set_fixed_width(c, 150);
    }
    gtk_tree_view_append_column(GTK_TREE_VIEW(view), c);
}

static void run_window(const plugin_profile *profile) {
    library_window win = {0};
    win.profile = *profile;
    win.deleted = g_array_new(FALSE, FALSE, sizeof(library_trashed));
    gimp_ui_init("oneword");
    win.dialog = gimp_dialog_new("Embedding Library", "oneword-library", NULL, 0, gimp_standard_help_func,
                                 PROC_LIBRARY_WINDOW, "_Close", GTK_RESPONSE_CLOSE, NULL);
    gimp_window_set_transient(GTK_WINDOW(win.dialog));
    GtkWidget *content = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
    gtk_container_set_border_width(GTK_CONTAINER(content), 12);
    gtk_box_pack_start(GTK_BOX(gtk_dialog_get_content_area(GTK_DIALOG(win.dialog))), content, TRUE, TRUE, 0);

    GtkWidget *model_row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 8);
    win.model_label = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(win.model_label), 0.0f);
    gtk_label_set_ellipsize(GTK_LABEL(win.model_label), PANGO_ELLIPSIZE_MIDDLE);
    gtk_box_pack_start(GTK_BOX(model_row), win.model_label, TRUE, TRUE, 0);
    GtkWidget *set_model = gtk_button_new_with_mnemonic("Set _Model...");
    gtk_widget_set_tooltip_text(set_model, "The Stable Diffusion checkpoint or diffusers folder to use");
    g_signal_connect(set_model, "clicked", G_CALLBACK(on_set_model), &win);
    gtk_box_pack_end(GTK_BOX(model_row), set_model, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(content), model_row, FALSE, FALSE, 0);

    win.store = gtk_list_store_new(N_COLUMNS, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                   G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                   GDK_TYPE_PIXBUF);
    win.view = gtk_tree_view_new_with_model(GTK_TREE_MODEL(win.store));
    g_object_unref(win.store);
    /* the thumbnail Learn made from the first training layer (imported entries have none) */
    GtkCellRenderer *picture = gtk_cell_renderer_pixbuf_new();
    gtk_cell_renderer_set_fixed_size(picture, THUMB_SIDE + 4, THUMB_SIDE + 4);
    gtk_tree_view_append_column(GTK_TREE_VIEW(win.view),
                                gtk_tree_view_column_new_with_attributes("", picture, "pixbuf", COL_THUMB, NULL));
    add_column(win.view, "Token", COL_TOKENS, TRUE);
    add_column(win.view, "Vectors", COL_VECTORS, FALSE);
    add_column(win.view, "Width", COL_WIDTH, FALSE);
    add_column(win.view, "Made for", COL_MODEL, TRUE);
    add_column(win.view, "Steps", COL_STEPS, FALSE);
    add_column(win.view, "Created (UTC)", COL_CREATED, FALSE);
    add_column(win.view, "File", COL_FILE, TRUE);
    gtk_tree_view_set_tooltip_column(GTK_TREE_VIEW(win.view), COL_TOOLTIP);
    GtkTreeSelection *selection = gtk_tree_view_get_selection(GTK_TREE_VIEW(win.view));
    gtk_tree_selection_set_mode(selection, GTK_SELECTION_MULTIPLE);
    g_signal_connect(selection, "changed", G_CALLBACK(on_selection_changed), &win);
    GtkWidget *scrolled = gtk_scrolled_window_new(NULL, NULL);
    /* no horizontal scrolling: the long columns shorten instead */
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_shadow_type(GTK_SCROLLED_WINDOW(scrolled), GTK_SHADOW_IN);
    gtk_widget_set_size_request(scrolled, 980, 240);
    gtk_container_add(GTK_CONTAINER(scrolled), win.view);
    gtk_box_pack_start(GTK_BOX(content), scrolled, TRUE, TRUE, 0);

    GtkWidget *buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    for (size_t i = 0; i < G_N_ELEMENTS(actions); i++) {
        GtkWidget *button = gtk_button_new_with_mnemonic(actions[i].label);
        gtk_widget_set_tooltip_text(button, actions[i].tooltip);
        g_signal_connect(button, "clicked", G_CALLBACK(actions[i].clicked), &win);
        gtk_box_pack_start(GTK_BOX(buttons), button, FALSE, FALSE, 0);
        if (actions[i].widget != NO_WIDGET) *(GtkWidget **)((char *)&win + actions[i].widget) = button;
    }
    gtk_box_pack_start(GTK_BOX(content), buttons, FALSE, FALSE, 0);

    win.status = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(win.status), 0.0f);
    gtk_label_set_line_wrap(GTK_LABEL(win.status), TRUE);
    gtk_label_set_max_width_chars(GTK_LABEL(win.status), 110);
    gtk_label_set_selectable(GTK_LABEL(win.status), TRUE);
    gtk_box_pack_start(GTK_BOX(content), win.status, FALSE, FALSE, 0);

    refresh(&win, NULL);
    if (win.lib_open && win.lib.count) select_row(&win, win.lib.entries[0].tokens[0]);
    if (!win.lib.report[0] && win.lib_open)
        set_status(&win, FALSE, "%zu entries in %s. Library tokens can be used in prompts as they are.", win.lib.count,
                   win.profile.embeddings);
    gtk_widget_show_all(win.dialog);
    gimp_dialog_run(GIMP_DIALOG(win.dialog));
    gtk_widget_destroy(win.dialog);
    if (win.lib_open) library_close(&win.lib);
    g_array_free(win.deleted, TRUE);
}

static GimpValueArray *library_window_run(GimpProcedure *procedure, GimpProcedureConfig *config, gpointer run_data) {
    (void)run_data;
    GimpRunMode run_mode;
    g_object_get(config, "run-mode", &run_mode, NULL);
    if (run_mode != GIMP_RUN_INTERACTIVE)
        return plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR,
                                   "the Embedding Library window is interactive only: scripts use "
                                   PROC_LIBRARY_LIST ", -import, -export, -rename, -delete and -merge");
    ow_error err = {0};
    plugin_profile profile;
    if (plugin_open_profile(&profile, &err) != OW_OK) return plugin_return_engine_error(procedure, &err);
    run_window(&profile);
    return gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
}

GimpProcedure *plugin_library_window_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure =
        gimp_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, library_window_run, NULL, NULL);
    plugin_procedure_describe(procedure, "Embedding _Library...", PLUGIN_MENU_PATH,
        "The Embedding Library: list, import, export, rename, delete and merge learned concepts",
        "A window over the library in the oneword folder of the GIMP profile (embeddings/, index.json, trash/), "
        "with Generate from Prompt and Set Model at hand. Interactive only; scripts call the library procedures "
        "(" PROC_LIBRARY_LIST " and the others).");
    plugin_add_run_mode_argument(procedure);
    return procedure;
}
