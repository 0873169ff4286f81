/* profile.h: oneword's folder in the user's GIMP profile (gimp_directory()/oneword/,
 * layout in ARCHITECTURE.md) and its config.json (the model path; other keys a later
 * version or the user wrote are kept as they are). No GIMP calls here: the caller
 * passes the GIMP profile folder. */
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
    char index[PLUGIN_PATH_MAX];      /* dir/index.json */
    char config[PLUGIN_PATH_MAX];     /* dir/config.json */
} plugin_profile;

/* Fills the paths under gimp_dir and creates the folders. */
ow_status plugin_profile_open(plugin_profile *profile, const char *gimp_dir, ow_error *err);

/* The model path from config.json into out ("" when none is set). A config.json that
 * cannot be read is an error that names it (never silently taken as "no model"). */
ow_status plugin_profile_model(const plugin_profile *profile, char *out, size_t cap, ow_error *err);

/* Stores path (made absolute) as the model in config.json, keeping its other keys. */
ow_status plugin_profile_set_model(const plugin_profile *profile, const char *path, ow_error *err);

/* How to set a model, and the message every procedure gives when none is set. */
#define PLUGIN_SET_MODEL_HINT                                                                                \
    "Choose a Stable Diffusion 1.x checkpoint (.safetensors/.ckpt) or diffusers folder with "                \
    "Filters > Concepts > Set Model..., or from Script-Fu: "                                                 \
    "(plug-in-oneword-set-model #:run-mode RUN-NONINTERACTIVE #:model \"/path/to/model\")"
extern const char plugin_no_model_message[];

#endif
