/* profile.c: the paths of gimp_directory()/oneword/ and config.json (json-c),
 * written atomically. */
#include "profile.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file.h"

#define CONFIG_MAX_BYTES (1 << 20)

const char plugin_no_model_message[] = "No model is set. " PLUGIN_SET_MODEL_HINT;

static ow_status join(char *out, const char *dir, const char *name, ow_error *err) {
    if (snprintf(out, PLUGIN_PATH_MAX, "%s/%s", dir, name) >= PLUGIN_PATH_MAX)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "path too long: %s/%s", dir, name);
    return OW_OK;
}

ow_status plugin_profile_open(plugin_profile *profile, const char *gimp_dir, ow_error *err) {
    memset(profile, 0, sizeof *profile);
    ow_status s;
    if ((s = join(profile->dir, gimp_dir, "oneword", err)) || (s = join(profile->embeddings, profile->dir, "embeddings", err)) ||
        (s = join(profile->trash, profile->dir, "trash", err)) || (s = join(profile->runs, profile->dir, "runs", err)) ||
        (s = join(profile->index, profile->dir, "index.json", err)) ||
        (s = join(profile->config, profile->dir, "config.json", err)))
        return s;
    if ((s = ow_file_make_dirs(profile->embeddings, 0700, err)) || (s = ow_file_make_dirs(profile->trash, 0700, err)) ||
        (s = ow_file_make_dirs(profile->runs, 0700, err)))
        return s;
    return OW_OK;
}

/* config.json as an object; a missing file is an empty object. */
static ow_status read_config(const plugin_profile *profile, json_object **out, ow_error *err) {
    *out = NULL;
    char *text = NULL;
    size_t text_len = 0;
    if (access(profile->config, F_OK) != 0 && errno == ENOENT) {
        *out = json_object_new_object();
        return *out ? OW_OK : ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }
    ow_status s = ow_file_read_all(profile->config, "config.json", CONFIG_MAX_BYTES, &text, &text_len, err);
    if (s != OW_OK) return s;
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        free(text);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory reading %s", profile->config);
    }
    json_object *obj = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    free(text);
    if (!obj || jerr != json_tokener_success || !json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        return ow_error_set(err, OW_ERR_FORMAT, "%s is not a JSON object (%s); fix or delete it, then set the model again",
                            profile->config, jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "another type");
    }
    *out = obj;
    return OW_OK;
}

ow_status plugin_profile_model(const plugin_profile *profile, char *out, size_t cap, ow_error *err) {
    out[0] = '\0';
    json_object *config;
    ow_status s = read_config(profile, &config, err);
    if (s != OW_OK) return s;
    json_object *model;
    if (json_object_object_get_ex(config, "model", &model)) {
        if (!json_object_is_type(model, json_type_string)) {
            json_object_put(config);
            return ow_error_set(err, OW_ERR_FORMAT, "%s: \"model\" is not a string", profile->config);
        }
        if ((size_t)snprintf(out, cap, "%s", json_object_get_string(model)) >= cap) {
            json_object_put(config);
            out[0] = '\0';
            return ow_error_set(err, OW_ERR_FORMAT, "%s: \"model\" is too long", profile->config);
        }
    }
    json_object_put(config);
    return OW_OK;
}

ow_status plugin_profile_set_model(const plugin_profile *profile, const char *path, ow_error *err) {
    char absolute[PATH_MAX];
    if (!realpath(path, absolute)) return ow_error_set(err, OW_ERR_NOT_FOUND, "model '%s' does not exist", path);
    json_object *config;
    ow_status s = read_config(profile, &config, err);
    if (s != OW_OK) return s;
    json_object_object_add(config, "model", json_object_new_string(absolute));
    const char *text = json_object_to_json_string_ext(config, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    s = ow_atomic_write(profile->config, text, strlen(text), err);
    json_object_put(config);
    return s;
}
