/* model_config.h: reading diffusers config.json files (json-c) for the UNet and
 * VAE configs: typed lookups with diffusers' defaults for absent or null keys,
 * and errors that name the key and the value we met. */
#ifndef OW_MODEL_MODEL_CONFIG_H
#define OW_MODEL_MODEL_CONFIG_H

#include <json-c/json.h>

#include "oneword.h"

/* Parses a whole config.json file into *out (free with json_object_put). */
ow_status ow_config_read_file(const char *path, json_object **out, ow_error *err);
/* Parses JSON text (a config held in memory). */
ow_status ow_config_parse_text(const char *text, json_object **out, ow_error *err);

/* The value of key, or NULL when the key is absent or JSON null. */
json_object *ow_config_get(json_object *config, const char *key);

/* Typed lookups: absent or null keys keep *out (the caller's default). A value of
 * the wrong type is an OW_ERR_FORMAT naming `what` (e.g. "unet config") and the key. */
ow_status ow_config_int(json_object *config, const char *what, const char *key, int *out, ow_error *err);
ow_status ow_config_float(json_object *config, const char *what, const char *key, float *out, ow_error *err);
ow_status ow_config_bool(json_object *config, const char *what, const char *key, int *out, ow_error *err);
/* Copies the string into out (cap bytes). */
ow_status ow_config_string(json_object *config, const char *what, const char *key, char *out, size_t cap,
                           ow_error *err);

/* An int or a list of ints: a list must have exactly n entries; a single int
 * is repeated n times. Absent or null keeps out. */
ow_status ow_config_int_or_list(json_object *config, const char *what, const char *key, int n, int *out,
                                ow_error *err);
/* A list of ints of at most cap entries; *count receives its length.
 * Absent or null keeps out and *count. */
ow_status ow_config_int_list(json_object *config, const char *what, const char *key, int cap, int *out,
                             int *count, ow_error *err);
/* A list of strings of at most cap entries, each copied into out[i] (len bytes each). */
ow_status ow_config_string_list(json_object *config, const char *what, const char *key, int cap, size_t len,
                                char *out, int *count, ow_error *err);

/* Fails with OW_ERR_UNSUPPORTED when the key is present and not null
 * ("<what>: '<key>' is <value>; only null is supported (<why>)"). */
ow_status ow_config_require_null(json_object *config, const char *what, const char *key, const char *why,
                                 ow_error *err);

#endif
