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
        (s = join(profile->thumbnails, profile->dir, "thumbnails", err)) ||
        (s = join(profile->index, profile->dir, "index.json", err)) ||
        (s = join(profile->config, profile->dir, "config.json", err)))
        return s;
    if ((s = ow_file_make_dirs(profile->embeddings, 0700, err)) || (s = ow_file_make_dirs(profile->trash, 0700, err)) ||
        (s = ow_file_make_dirs(profile->runs, 0700, err)) || (s = ow_file_make_dirs(profile->thumbnails, 0700, err)))
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

static ow_status wrong_key(const plugin_profile *profile, const char *key, const char *want, ow_error *err) {
    return ow_error_set(err, OW_ERR_FORMAT, "%s: \"%s\" must be %s; fix it, or set the model again", profile->config,
                        key, want);
}

static ow_status read_path(const plugin_profile *profile, json_object *config, const char *key, char *out,
                           ow_error *err) {
    json_object *v;
    out[0] = '\0';
    if (!json_object_object_get_ex(config, key, &v)) return OW_OK;
    if (!json_object_is_type(v, json_type_string)) return wrong_key(profile, key, "a string", err);
    if ((size_t)snprintf(out, PLUGIN_PATH_MAX, "%s", json_object_get_string(v)) >= PLUGIN_PATH_MAX) {
        out[0] = '\0';
        return wrong_key(profile, key, "a shorter path", err);
    }
    return OW_OK;
}

static ow_status read_settings(const plugin_profile *profile, json_object *config, plugin_model_settings *out,
                               ow_error *err) {
    ow_status s;
    if ((s = read_path(profile, config, "model", out->model, err))) return s;
    if ((s = read_path(profile, config, "model_config", out->config, err))) return s;
    json_object *v;
    if (json_object_object_get_ex(config, "threads", &v)) {
        int64_t n = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || n < 0 || n > PLUGIN_THREADS_MAX)
            return wrong_key(profile, "threads", "an integer from 0 (all cores) to 1024", err);
        out->threads = (int)n;
    }
    if (json_object_object_get_ex(config, "precision", &v) &&
        (!json_object_is_type(v, json_type_string) || ow_precision_parse(json_object_get_string(v), &out->precision)))
        return wrong_key(profile, "precision", "\"fp32\", \"bf16\" or \"auto\"", err);
    return OW_OK;
}

ow_status plugin_profile_model_settings(const plugin_profile *profile, plugin_model_settings *out, ow_error *err) {
    memset(out, 0, sizeof *out);
    out->precision = OW_PRECISION_FP32;
    json_object *config;
    ow_status s = read_config(profile, &config, err);
    if (s != OW_OK) return s;
    s = read_settings(profile, config, out, err);
    json_object_put(config);
    if (s != OW_OK) {
        memset(out, 0, sizeof *out);
        out->precision = OW_PRECISION_FP32;
    }
    return s;
}

ow_status plugin_profile_set_model_settings(const plugin_profile *profile, const plugin_model_settings *settings,
                                            ow_error *err) {
    char model[PATH_MAX], yaml[PATH_MAX];
    if (!realpath(settings->model, model))
        return ow_error_set(err, OW_ERR_NOT_FOUND, "model '%s' does not exist", settings->model);
    if (settings->config[0] && !realpath(settings->config, yaml))
        return ow_error_set(err, OW_ERR_NOT_FOUND, "model config '%s' does not exist", settings->config);
    if (settings->threads < 0 || settings->threads > PLUGIN_THREADS_MAX)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "threads %d: use 0 (all cores) to %d", settings->threads,
                            PLUGIN_THREADS_MAX);
    json_object *config;
    ow_status s = read_config(profile, &config, err);
    if (s != OW_OK) return s;
    json_object_object_add(config, "model", json_object_new_string(model));
    if (settings->config[0]) json_object_object_add(config, "model_config", json_object_new_string(yaml));
    else json_object_object_del(config, "model_config");
    json_object_object_add(config, "threads", json_object_new_int(settings->threads));
    json_object_object_add(config, "precision", json_object_new_string(ow_precision_name(settings->precision)));
    const char *text = json_object_to_json_string_ext(config, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    s = ow_atomic_write(profile->config, text, strlen(text), err);
    json_object_put(config);
    return s;
}

void plugin_model_options(const plugin_model_settings *settings, ow_model_options *options) {
    ow_model_options_init(options);
    options->threads = settings->threads;
    options->precision = settings->precision;
    options->config_path = settings->config[0] ? settings->config : NULL;
}
