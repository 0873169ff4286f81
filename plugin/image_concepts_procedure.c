/* image_concepts_procedure.c: the concept travels with the picture. Generate attaches
 * the library files its prompts used to the image (parasites "oneword-embedding:NAME",
 * saved in .xcf); Filters > Concepts > Import Concepts from Image takes them
 * back into the library here, so an .xcf opened on another machine can generate with
 * its concepts. Entries whose tokens the library already holds are skipped and named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "generation.h"
#include "procedures.h"

/* Writes one parasite's bytes to a temporary file in the profile and imports it. */
static ow_status import_parasite(library *lib, const GimpParasite *parasite, const char *entry_name,
                                 size_t *entry_index, ow_error *err) {
    guint32 size = 0;
    const char *data = gimp_parasite_get_data(parasite, &size);
    char tmp[PLUGIN_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s/.from-image-XXXXXX.safetensors", lib->profile.dir);
    int fd = mkstemps(tmp, (int)strlen(".safetensors"));
    if (fd < 0) return ow_error_set(err, OW_ERR_IO, "cannot create a temporary file in %s: %s", lib->profile.dir,
                                    strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    close(fd);
    ow_status s = done == size ? OW_OK : ow_error_set(err, OW_ERR_IO, "cannot write %s", tmp);
    if (s == OW_OK) {
        char source[LIBRARY_TEXT_MAX];
        snprintf(source, sizeof source, "image parasite %s%.200s", PLUGIN_EMBEDDING_PARASITE_PREFIX, entry_name);
        s = library_import(lib, tmp, entry_name, source, entry_index, err);
    }
    unlink(tmp);
    return s;
}

static GimpValueArray *import_from_image_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                             GimpDrawable **drawables, GimpProcedureConfig *config,
                                             gpointer run_data) {
    (void)run_mode;
    (void)drawables;
    (void)config;
    (void)run_data;
    plugin_model_context context;
    GimpValueArray *no_model = plugin_open_model_context(procedure, &context);
    if (no_model) return no_model;
    ow_error err = {0};
    if (!image) return plugin_return_error(procedure, GIMP_PDB_CALLING_ERROR, "no image given");
    library lib;
    if (plugin_open_library(&lib, &context.profile, &err) != OW_OK) return plugin_return_engine_error(procedure, &err);
    GPtrArray *imported = g_ptr_array_new();
    GString *skipped = g_string_new("");
    gchar **names = gimp_image_get_parasite_list(image);
    const size_t prefix = strlen(PLUGIN_EMBEDDING_PARASITE_PREFIX);
    for (gchar **name = names; name && *name; name++) {
        if (strncmp(*name, PLUGIN_EMBEDDING_PARASITE_PREFIX, prefix) != 0) continue;
        GimpParasite *parasite = gimp_image_get_parasite(image, *name);
        if (!parasite) continue;
        size_t index = 0;
        ow_error one = {0};
        if (import_parasite(&lib, parasite, *name + prefix, &index, &one) == OW_OK) {
            for (int t = 0; t < lib.entries[index].n_tokens; t++)
                g_ptr_array_add(imported, g_strdup(lib.entries[index].tokens[t]));
        } else {
            g_string_append_printf(skipped, "%s%s: %s", skipped->len ? "; " : "", *name + prefix, one.message);
        }
        gimp_parasite_free(parasite);
    }
    g_strfreev(names);
    library_close(&lib);
    g_ptr_array_add(imported, NULL);
    GimpValueArray *result = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
    GIMP_VALUES_TAKE_STRV(result, 1, (GStrv)g_ptr_array_free(imported, FALSE));
    GIMP_VALUES_SET_STRING(result, 2, skipped->str);
    g_string_free(skipped, TRUE);
    return result;
}

GimpProcedure *plugin_image_concepts_procedure_new(GimpPlugIn *plug_in, const gchar *name) {
    GimpProcedure *procedure =
        gimp_image_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, import_from_image_run, NULL, NULL);
    gimp_procedure_set_image_types(procedure, "*");
    gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLE | GIMP_PROCEDURE_SENSITIVE_DRAWABLES |
                                                       GIMP_PROCEDURE_SENSITIVE_NO_DRAWABLES);
    plugin_procedure_describe(procedure, "Import Concepts from _Image", PLUGIN_MENU_PATH,
        "Import the concepts an image carries into the Embedding Library",
        "Generate attaches the library embeddings its prompt used to the image (parasites '"
        PLUGIN_EMBEDDING_PARASITE_PREFIX "NAME', kept in .xcf files). This imports them; entries whose tokens the "
        "library already holds are skipped and named in 'skipped'.");
    gimp_procedure_add_string_array_return_value(procedure, "tokens", "Tokens", "The tokens imported",
                                                 G_PARAM_READWRITE);
    gimp_procedure_add_string_return_value(procedure, "skipped", "Skipped", "What was not imported, and why", "",
                                           G_PARAM_READWRITE);
    return procedure;
}
