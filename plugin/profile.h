/* profile.h: oneword's folder in the user's GIMP profile (gimp_directory()/oneword/,
 * layout in ARCHITECTURE.md) and its config.json (the model settings: "model",
 * "model_config", "threads", "precision"; other keys a later version or the user
 * wrote are kept as they are). No GIMP calls here: the caller passes the GIMP
 * profile folder. */
#ifndef OW_PLUGIN_PROFILE_H
#define OW_PLUGIN_PROFILE_H

#include <stddef.h>

#include "oneword.h"

#define PLUGIN_PATH_MAX 4096

typedef struct plugin_profile {
    char dir[PLUGIN_PATH_MAX];        /* <gimp profile>/oneword */
    char embeddings[PLUGIN_PATH_MAX]; /* dir/embeddings: one file per library entry */
    char trash[PLUGIN_PATH_MAX];      /* dir/trash: deleted entries, recoverable */
    char runs[PLUGIN_PATH_MAX];       /* dir/runs: Learn checkpoints */
    char thumbnails[PLUGIN_PATH_MAX]; /* dir/thumbnails: <entry name>.png, what the Library window shows */
    char index[PLUGIN_PATH_MAX];      /* dir/index.json */
    char config[PLUGIN_PATH_MAX];     /* dir/config.json */
} plugin_profile;

/* Fills the paths under gimp_dir and creates the folders. */
ow_status plugin_profile_open(plugin_profile *profile, const char *gimp_dir, ow_error *err);

/* What the model is opened with. */
typedef struct plugin_model_settings {
    char model[PLUGIN_PATH_MAX];  /* checkpoint or diffusers folder; "" when none is set */
    char config[PLUGIN_PATH_MAX]; /* a single file's original .yaml; "": NAME.yaml beside it, if any */
    int threads;                  /* CPU threads; 0: all cores */
    ow_precision precision;       /* fp32 unless set */
} plugin_model_settings;

#define PLUGIN_THREADS_MAX 1024

/* The settings in config.json (absent keys: "", 0, fp32). A config.json that cannot be
 * read, or a key of the wrong type or range, is an error that names it (never silently
 * taken as "no model"). */
ow_status plugin_profile_model_settings(const plugin_profile *profile, plugin_model_settings *out, ow_error *err);

/* Stores the settings (model and config made absolute; config "" removes the key),
 * keeping config.json's other keys. */
ow_status plugin_profile_set_model_settings(const plugin_profile *profile, const plugin_model_settings *settings,
                                            ow_error *err);

/* The engine's options for these settings (strings point into settings). */
void plugin_model_options(const plugin_model_settings *settings, ow_model_options *options);

/* How to set a model, and the message every procedure gives when none is set. */
#define PLUGIN_SET_MODEL_HINT                                                                                \
    "Choose a Stable Diffusion 1.x checkpoint (.safetensors/.ckpt) or diffusers folder with "                \
    "Filters > Concepts > Set Model..., or from Script-Fu: "                                                 \
    "(plug-in-oneword-set-model #:run-mode RUN-NONINTERACTIVE #:model \"/path/to/model\")"
extern const char plugin_no_model_message[];

#endif
