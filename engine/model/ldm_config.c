/* ldm_config.c: reading an original LDM .yaml config (see ldm_config.h) with
 * libyaml's document API. Aliases are node references in that API, never copies,
 * and every lookup below walks a fixed path of keys, so a crafted file can
 * neither expand nor loop. */
#include "model/ldm_config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/error.h"
#include "core/file.h"

#define LDM_CONFIG_MAX_BYTES ((uint64_t)1 << 20)

typedef struct reader {
    yaml_document_t *doc;
    const char *what;
    ow_error *err;
} reader;

/* The value of key in a mapping node; NULL when node is not a mapping or lacks it
 * (a later duplicate key wins, as in PyYAML). */
static yaml_node_t *map_get(const reader *r, yaml_node_t *node, const char *key) {
    if (!node || node->type != YAML_MAPPING_NODE) return NULL;
    yaml_node_t *found = NULL;
    size_t n = strlen(key);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == n &&
            memcmp(k->data.scalar.value, key, n) == 0)
            found = yaml_document_get_node(r->doc, p->value);
    }
    return found;
}

/* Follows a NULL-terminated list of keys from node. */
static yaml_node_t *path_get(const reader *r, yaml_node_t *node, const char *const *keys) {
    for (; node && *keys; keys++) node = map_get(r, node, *keys);
    return node;
}

/* A null value (`key:` or `key: null`, `~`) counts as absent. */
static int is_null(const yaml_node_t *v) {
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)v->data.scalar.value;
    size_t n = v->data.scalar.length;
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static ow_status wrong(const reader *r, const yaml_node_t *v, const char *key, const char *want) {
    return ow_error_set(r->err, OW_ERR_FORMAT, "%s: line %lu: \"%s\" must be %s", r->what,
                        (unsigned long)v->start_mark.line + 1, key, want);
}

/* A scalar's text, NUL-terminated in buf; 0 when it is not a scalar or too long. */
static int scalar_text(const yaml_node_t *v, char *buf, size_t cap) {
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.length >= cap) return 0;
    memcpy(buf, v->data.scalar.value, v->data.scalar.length);
    buf[v->data.scalar.length] = '\0';
    return strlen(buf) == v->data.scalar.length; /* no NUL inside */
}

static ow_status get_int(const reader *r, yaml_node_t *map, const char *key, int lo, int hi, int *out) {
    yaml_node_t *v = map_get(r, map, key);
    if (!v || is_null(v)) return OW_OK;
    char buf[32], *end;
    if (!scalar_text(v, buf, sizeof buf)) return wrong(r, v, key, "an integer");
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (end == buf || *end || errno) return wrong(r, v, key, "an integer");
    if (x < lo || x > hi)
        return ow_error_set(r->err, OW_ERR_FORMAT, "%s: line %lu: \"%s\" is %lld, expected %d to %d", r->what,
                            (unsigned long)v->start_mark.line + 1, key, x, lo, hi);
    *out = (int)x;
    return OW_OK;
}

static ow_status get_number(const reader *r, yaml_node_t *map, const char *key, double *out) {
    yaml_node_t *v = map_get(r, map, key);
    if (!v || is_null(v)) return OW_OK;
    char buf[64], *end;
    if (!scalar_text(v, buf, sizeof buf)) return wrong(r, v, key, "a number");
    double x = strtod(buf, &end);
    if (end == buf || *end || !isfinite(x) || x <= 0.0) return wrong(r, v, key, "a positive number");
    *out = x;
    return OW_OK;
}

/* YAML 1.1 booleans, as PyYAML (which OmegaConf and the LDM code use) reads them. */
static ow_status get_bool(const reader *r, yaml_node_t *map, const char *key, int *out) {
    yaml_node_t *v = map_get(r, map, key);
    if (!v || is_null(v)) return OW_OK;
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    char buf[8];
    if (scalar_text(v, buf, sizeof buf))
        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
            if (!strcmp(buf, yes[i])) return *out = 1, OW_OK;
            if (!strcmp(buf, no[i])) return *out = 0, OW_OK;
        }
    return wrong(r, v, key, "true or false");
}

static ow_status get_string(const reader *r, yaml_node_t *map, const char *key, char *out, size_t cap) {
    yaml_node_t *v = map_get(r, map, key);
    if (!v || is_null(v)) return OW_OK;
    if (!scalar_text(v, out, cap)) {
        out[0] = '\0';
        return wrong(r, v, key, "a short string");
    }
    return OW_OK;
}

static ow_status get_int_list(const reader *r, yaml_node_t *map, const char *key, int *values, int *count) {
    yaml_node_t *v = map_get(r, map, key);
    if (!v || is_null(v)) return OW_OK;
    if (v->type != YAML_SEQUENCE_NODE) return wrong(r, v, key, "a list of integers");
    int n = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        yaml_node_t *item = yaml_document_get_node(r->doc, *i);
        char buf[32], *end;
        if (n == OW_LDM_MAX_LEVELS)
            return ow_error_set(r->err, OW_ERR_FORMAT, "%s: line %lu: \"%s\" has more than %d entries", r->what,
                                (unsigned long)v->start_mark.line + 1, key, OW_LDM_MAX_LEVELS);
        if (!item || !scalar_text(item, buf, sizeof buf)) return wrong(r, v, key, "a list of integers");
        long x = strtol(buf, &end, 10);
        if (end == buf || *end || x < 1 || x > 64) return wrong(r, v, key, "a list of integers from 1 to 64");
        values[n++] = (int)x;
    }
    *count = n;
    return OW_OK;
}

static ow_status read_document(ow_ldm_config *c, const reader *r, yaml_node_t *root) {
    if (!root || root->type != YAML_MAPPING_NODE)
        return ow_error_set(r->err, OW_ERR_FORMAT, "%s: not an LDM config (the top level is not a mapping)", r->what);
    yaml_node_t *model = map_get(r, root, "model");
    if (!model || model->type != YAML_MAPPING_NODE)
        return ow_error_set(r->err, OW_ERR_FORMAT,
                            "%s: not an original Stable Diffusion config (no \"model:\" section as in "
                            "v1-inference.yaml)",
                            r->what);
    ow_status s;
    if ((s = get_string(r, model, "target", c->model_target, sizeof c->model_target))) return s;
    static const char *const params_path[] = {"params", NULL};
    static const char *const unet_path[] = {"params", "unet_config", "params", NULL};
    static const char *const cond_path[] = {"params", "cond_stage_config", NULL};
    yaml_node_t *params = path_get(r, model, params_path);
    if ((s = get_int(r, params, "timesteps", 2, 100000, &c->timesteps))) return s;
    if ((s = get_number(r, params, "linear_start", &c->linear_start))) return s;
    if ((s = get_number(r, params, "linear_end", &c->linear_end))) return s;
    if ((s = get_string(r, params, "beta_schedule", c->beta_schedule, sizeof c->beta_schedule))) return s;
    if ((s = get_string(r, params, "parameterization", c->parameterization, sizeof c->parameterization))) return s;
    if ((s = get_number(r, params, "scale_factor", &c->scale_factor))) return s;
    if ((s = get_int(r, params, "image_size", 1, 1 << 16, &c->image_size))) return s;
    yaml_node_t *unet = path_get(r, model, unet_path);
    if ((s = get_int(r, unet, "num_heads", -1, 4096, &c->num_heads))) return s;
    if ((s = get_int(r, unet, "num_head_channels", -1, 1 << 16, &c->num_head_channels))) return s;
    if ((s = get_int(r, unet, "model_channels", 1, 1 << 16, &c->model_channels))) return s;
    if ((s = get_int(r, unet, "context_dim", 1, 1 << 16, &c->context_dim))) return s;
    if ((s = get_int(r, unet, "in_channels", 1, 1 << 16, &c->in_channels))) return s;
    if ((s = get_int_list(r, unet, "channel_mult", c->channel_mult, &c->num_levels))) return s;
    if ((s = get_bool(r, unet, "use_linear_in_transformer", &c->use_linear_in_transformer))) return s;
    yaml_node_t *cond = path_get(r, model, cond_path);
    if ((s = get_string(r, cond, "target", c->cond_stage_target, sizeof c->cond_stage_target))) return s;
    return OW_OK;
}

static void config_clear(ow_ldm_config *c) {
    memset(c, 0, sizeof *c);
    c->use_linear_in_transformer = -1;
}

ow_status ow_ldm_config_parse(ow_ldm_config *c, const char *text, size_t size, const char *what, ow_error *err) {
    config_clear(c);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory reading %s", what);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    ow_status s;
    if (!yaml_parser_load(&parser, &doc)) {
        s = ow_error_set(err, OW_ERR_FORMAT, "%s: not valid YAML: line %lu, column %lu: %s%s%s", what,
                         (unsigned long)parser.problem_mark.line + 1, (unsigned long)parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                         parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return s;
    }
    reader r = {&doc, what, err};
    s = read_document(c, &r, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (s != OW_OK) config_clear(c);
    return s;
}

ow_status ow_ldm_config_load(ow_ldm_config *c, const char *path, ow_error *err) {
    config_clear(c);
    char *text;
    size_t size;
    ow_status s = ow_file_read_all(path, "model config (.yaml)", LDM_CONFIG_MAX_BYTES, &text, &size, err);
    if (s != OW_OK) return s;
    char what[4200];
    snprintf(what, sizeof what, "'%s'", path);
    s = ow_ldm_config_parse(c, text, size, what, err);
    free(text);
    return s;
}

ow_status ow_ldm_config_unet_heads(const ow_ldm_config *c, int levels, const int *block_out_channels, int *heads,
                                   int *given, ow_error *err) {
    *given = 0;
    if (c->num_head_channels <= 0 && c->num_heads <= 0) return OW_OK;
    for (int l = 0; l < levels; l++) {
        int width = block_out_channels[l];
        /* openaimodel.UNetModel: num_head_channels, when set, fixes the head width
         * (num_heads = channels / num_head_channels); otherwise num_heads is fixed. */
        int h = c->num_head_channels > 0 ? width / c->num_head_channels : c->num_heads;
        if (h <= 0 || width % h != 0 || (c->num_head_channels > 0 && width % c->num_head_channels != 0))
            return ow_error_set(err, OW_ERR_FORMAT,
                                "the config's %s %d does not divide the UNet's %d channels at level %d: is this "
                                "config for another model?",
                                c->num_head_channels > 0 ? "num_head_channels" : "num_heads",
                                c->num_head_channels > 0 ? c->num_head_channels : c->num_heads, width, l);
        heads[l] = h;
    }
    *given = 1;
    return OW_OK;
}
