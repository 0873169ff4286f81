/* model_config.c: typed, defaulting lookups in diffusers config.json files. */
#include "model/model_config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"

#define CONFIG_MAX_BYTES (4 << 20)

ow_status ow_config_parse_text(const char *text, json_object **out, ow_error *err) {
    *out = NULL;
    enum json_tokener_error jerr = json_tokener_success;
    json_object *obj = json_tokener_parse_verbose(text, &jerr);
    if (!obj || jerr != json_tokener_success) {
        if (obj) json_object_put(obj);
        return ow_error_set(err, OW_ERR_FORMAT, "config is not valid JSON (%s)", json_tokener_error_desc(jerr));
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        return ow_error_set(err, OW_ERR_FORMAT, "config is JSON but not an object ({...})");
    }
    *out = obj;
    return OW_OK;
}

ow_status ow_config_read_file(const char *path, json_object **out, ow_error *err) {
    *out = NULL;
    char *text;
    size_t n;
    ow_status s = ow_file_read_all(path, "model config", CONFIG_MAX_BYTES, &text, &n, err);
    if (s != OW_OK) return s;
    if (strlen(text) != n) {
        free(text);
        return ow_error_set(err, OW_ERR_FORMAT, "'%s' contains a NUL byte: not a model config", path);
    }
    s = ow_config_parse_text(text, out, err);
    free(text);
    if (s != OW_OK) return ow_error_prefix(err, "%s", path);
    return OW_OK;
}

json_object *ow_config_get(json_object *config, const char *key) {
    json_object *v = NULL;
    if (!config || !json_object_object_get_ex(config, key, &v)) return NULL;
    if (!v || json_object_is_type(v, json_type_null)) return NULL;
    return v;
}

/* Config integers are channel counts, layer counts, sizes and timestep counts: none
 * of a real model is near this, and products of two or three of them (shapes,
 * parameter counts) must not overflow, so larger magnitudes are refused here, once
 * for every config value (e.g. 4 * block_out_channels[0] for the time embedding). */
#define CONFIG_INT_MAX (1 << 24)

static int json_as_int(json_object *v, int *out) {
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        if (i < -CONFIG_INT_MAX || i > CONFIG_INT_MAX) return -1;
        *out = (int)i;
        return 0;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d != floor(d) || !(fabs(d) <= CONFIG_INT_MAX)) return -1;
        *out = (int)d;
        return 0;
    }
    return -1;
}

static ow_status wrong_type(const char *what, const char *key, json_object *v, const char *want, ow_error *err) {
    return ow_error_set(err, OW_ERR_FORMAT, "%s: '%s' is %s, expected %s", what, key,
                        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), want);
}

ow_status ow_config_int(json_object *config, const char *what, const char *key, int *out, ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    if (json_as_int(v, out) != 0) return wrong_type(what, key, v, "an integer of magnitude at most 2^24", err);
    return OW_OK;
}

ow_status ow_config_float(json_object *config, const char *what, const char *key, float *out, ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return wrong_type(what, key, v, "a number", err);
    *out = (float)json_object_get_double(v);
    return OW_OK;
}

ow_status ow_config_bool(json_object *config, const char *what, const char *key, int *out, ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    if (json_object_is_type(v, json_type_boolean)) { *out = json_object_get_boolean(v) ? 1 : 0; return OW_OK; }
    int i;
    if (json_as_int(v, &i) == 0 && (i == 0 || i == 1)) { *out = i; return OW_OK; }
    return wrong_type(what, key, v, "true or false", err);
}

ow_status ow_config_string(json_object *config, const char *what, const char *key, char *out, size_t cap,
                           ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_string)) return wrong_type(what, key, v, "a string", err);
    const char *s = json_object_get_string(v);
    if (strlen(s) >= cap) return ow_error_set(err, OW_ERR_FORMAT, "%s: '%s' value \"%.60s\" is too long", what, key, s);
    memcpy(out, s, strlen(s) + 1);
    return OW_OK;
}

ow_status ow_config_int_or_list(json_object *config, const char *what, const char *key, int n, int *out,
                                ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    int single;
    if (json_as_int(v, &single) == 0) {
        for (int i = 0; i < n; i++) out[i] = single;
        return OW_OK;
    }
    if (!json_object_is_type(v, json_type_array)) return wrong_type(what, key, v, "an integer or a list of integers", err);
    size_t len = json_object_array_length(v);
    if (len != (size_t)n)
        return ow_error_set(err, OW_ERR_FORMAT, "%s: '%s' has %zu entries, expected one per block (%d)", what, key,
                            len, n);
    for (int i = 0; i < n; i++)
        if (json_as_int(json_object_array_get_idx(v, (size_t)i), &out[i]) != 0)
            return wrong_type(what, key, v, "a list of integers", err);
    return OW_OK;
}

ow_status ow_config_int_list(json_object *config, const char *what, const char *key, int cap, int *out,
                             int *count, ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_array)) return wrong_type(what, key, v, "a list of integers", err);
    size_t len = json_object_array_length(v);
    if (len == 0 || len > (size_t)cap)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' has %zu entries; 1 to %d are supported", what, key,
                            len, cap);
    for (size_t i = 0; i < len; i++)
        if (json_as_int(json_object_array_get_idx(v, i), &out[i]) != 0)
            return wrong_type(what, key, v, "a list of integers", err);
    *count = (int)len;
    return OW_OK;
}

ow_status ow_config_string_list(json_object *config, const char *what, const char *key, int cap, size_t len,
                                char *out, int *count, ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    if (!json_object_is_type(v, json_type_array)) return wrong_type(what, key, v, "a list of strings", err);
    size_t n = json_object_array_length(v);
    if (n == 0 || n > (size_t)cap)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' has %zu entries; 1 to %d are supported", what, key, n,
                            cap);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!e || !json_object_is_type(e, json_type_string)) return wrong_type(what, key, v, "a list of strings", err);
        const char *s = json_object_get_string(e);
        if (strlen(s) >= len)
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' entry \"%.60s\" is not a known block type", what,
                                key, s);
        memcpy(out + i * len, s, strlen(s) + 1);
    }
    *count = (int)n;
    return OW_OK;
}

ow_status ow_config_require_null(json_object *config, const char *what, const char *key, const char *why,
                                 ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' is %s; only null is supported (%s)", what, key,
                        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), why);
}
