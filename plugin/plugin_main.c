/* plugin_main.c: the oneword GIMP 3 plug-in: a GimpPlugIn subclass that names its
 * procedures and hands each name to the file that builds it. Every procedure runs
 * the engine in this process through oneword.h; nothing here knows the model. */
#include <libgimp/gimp.h>
#include <string.h>

#include "blas_restart.h"
#include "procedures.h"

typedef struct {
    const char *name;
    GimpProcedure *(*create)(GimpPlugIn *plug_in, const gchar *name);
} procedure_entry;

static const procedure_entry procedure_table[] = {
    {PROC_SET_MODEL, plugin_set_model_procedure_new},
    {PROC_LEARN, plugin_learn_procedure_new},
    {PROC_GENERATE, plugin_generate_procedure_new},
    {PROC_GENERATE_AGAIN, plugin_generate_again_procedure_new},
    {PROC_LIBRARY_WINDOW, plugin_library_window_procedure_new},
    {PROC_LIBRARY_LIST, plugin_library_procedure_new},
    {PROC_LIBRARY_IMPORT, plugin_library_procedure_new},
    {PROC_LIBRARY_EXPORT, plugin_library_procedure_new},
    {PROC_LIBRARY_RENAME, plugin_library_procedure_new},
    {PROC_LIBRARY_DELETE, plugin_library_procedure_new},
    {PROC_LIBRARY_MERGE, plugin_library_procedure_new},
    {PROC_LIBRARY_FROM_IMAGE, plugin_image_concepts_procedure_new},
};

#define ONEWORD_TYPE_PLUG_IN (oneword_plug_in_get_type())
G_DECLARE_FINAL_TYPE(OnewordPlugIn, oneword_plug_in, ONEWORD, PLUG_IN, GimpPlugIn)

struct _OnewordPlugIn {
    GimpPlugIn parent_instance;
};

G_DEFINE_TYPE(OnewordPlugIn, oneword_plug_in, GIMP_TYPE_PLUG_IN)

static GList *oneword_query_procedures(GimpPlugIn *plug_in) {
    (void)plug_in;
    GList *list = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(procedure_table); i++)
        list = g_list_append(list, g_strdup(procedure_table[i].name));
    return list;
}

static GimpProcedure *oneword_create_procedure(GimpPlugIn *plug_in, const gchar *name) {
    for (size_t i = 0; i < G_N_ELEMENTS(procedure_table); i++)
        if (strcmp(procedure_table[i].name, name) == 0) return procedure_table[i].create(plug_in, name);
    return NULL;
}

static gboolean oneword_set_i18n(GimpPlugIn *plug_in, const gchar *procedure_name, gchar **gettext_domain,
                                 gchar **catalog_dir) {
    (void)plug_in;
    (void)procedure_name;
    (void)gettext_domain;
    (void)catalog_dir;
    return FALSE; /* no translations yet */
}

static void oneword_plug_in_class_init(OnewordPlugInClass *klass) {
    GimpPlugInClass *plug_in_class = GIMP_PLUG_IN_CLASS(klass);
    plug_in_class->query_procedures = oneword_query_procedures;
    plug_in_class->create_procedure = oneword_create_procedure;
    plug_in_class->set_i18n = oneword_set_i18n;
}

static void oneword_plug_in_init(OnewordPlugIn *self) {
    (void)self;
}

/* GIMP_MAIN, with a first step: when OpenBLAS chose generic kernels on this
 * processor, the plug-in runs itself again with the right ones (blas_restart.h;
 * GIMP's pipe descriptors in argv stay open across the exec). */
int main(int argc, char **argv) {
    blas_restart_if_generic(argv);
    return gimp_main(ONEWORD_TYPE_PLUG_IN, argc, argv);
}
