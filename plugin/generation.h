/* generation.h: one generation as the plug-in runs it, shared by Generate from Prompt
 * and Generate Again: the model set in the profile with the library's embeddings
 * loaded, ow_generate once per image (image k with seed + k, so each layer can be
 * re-made on its own), each image a new layer at the top of the image (or of a new
 * image), named "PROMPT (seed N)", and the record of its parameters: the
 * "oneword-generation" parasite (JSON) that Generate Again reads back; the library
 * entries the prompts used go with the image as parasites too. */
#ifndef OW_PLUGIN_GENERATION_H
#define OW_PLUGIN_GENERATION_H

#include <libgimp/gimp.h>
#include <stdint.h>

#include "oneword.h"

#define PLUGIN_GENERATION_PARASITE "oneword-generation"
/* Image parasites "oneword-embedding:<entry name>": the library files the prompts used,
 * byte for byte, so the picture carries its concepts (library-import-from-image). */
#define PLUGIN_EMBEDDING_PARASITE_PREFIX "oneword-embedding:"
#define PLUGIN_SAMPLER_LIST "ddim, plms, euler, euler-a or dpm++2m-karras"
#define PLUGIN_SIDE_MAX 8192
#define PLUGIN_IMAGES_MAX 64

typedef struct generation_request {
    const char *prompt, *negative_prompt; /* never NULL */
    const char *sampler;                  /* an engine sampler name (plugin_sampler_name) */
    int steps;
    double guidance_scale, eta;
    uint64_t seed;      /* of image 1; image k uses seed + k */
    int n_images;
    int width, height;  /* 0: from the image (rounded down to the model's factor), 512 without one */
    int clip_skip;
} generation_request;

/* name if it is one of the engine's samplers ("ddim", ...), else NULL. */
const char *plugin_sampler_name(const char *name);

/* Runs the request and adds the layers to image (NULL or indexed: to a new image).
 * Returns NULL on success, with *layers (NULL-terminated; g_free it) and *target set;
 * otherwise the error return values of procedure. */
GimpValueArray *plugin_generate_layers(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                       const generation_request *request, GimpLayer ***layers, GimpImage **target);

/* The record attached to a generated layer, read back. The strings of *request live in
 * *storage until plugin_generation_record_free(*storage). OW_ERR_NOT_FOUND when the item
 * has no record, OW_ERR_FORMAT when it is not one we wrote. */
ow_status plugin_generation_record_read(GimpItem *item, generation_request *request, void **storage, ow_error *err);
void plugin_generation_record_free(void *storage);

#endif
