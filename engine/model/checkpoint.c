/* checkpoint.c: diffusers folders and CompVis single files (see checkpoint.h):
 * layout detection, marker-key prefixes, refusing what is not SD 1.x,
 * configuration from config.json or from tensor shapes, name maps, describe. */
#include "model/checkpoint.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/text.h"
#include "model/checkpoint_keys.h"
#include "model/ldm_config.h"
#include "model/model_config.h"

#define CK_PATH_MAX 4096
#define CK_PARTS 3

enum { PART_TEXT, PART_UNET, PART_VAE };
static const char *const part_names[CK_PARTS] = {"text encoder", "unet", "vae"};
static const char *const part_dirs[CK_PARTS] = {"text_encoder", "unet", "vae"};

typedef struct ck_part {
    int present;
    ow_tensor_set *owned_set;   /* diffusers folders: this part's file */
    const ow_tensor_set *set;   /* the set its tensors are in */
    char prefix[256];           /* stored-name prefix ("" in diffusers files) */
    ow_key_map map;
    int use_map;
    char file[CK_PATH_MAX + 64]; /* the file its tensors came from */
    char config_source[96];     /* "config.json" or "tensor shapes" */
    char notes[512];            /* layout remarks for describe */
} ck_part;

struct ow_checkpoint {
    ow_checkpoint_layout layout;
    char path[CK_PATH_MAX];
    ow_tensor_set *file; /* single file */
    ck_part parts[CK_PARTS];
    ow_clip_text_config text;
    ow_unet_config unet;
    ow_vae_config vae;
    int has_scheduler;
    char scheduler[CK_PATH_MAX + 64];
    ow_checkpoint_hints hints;
    int has_ldm;                /* single files: an original LDM .yaml was read */
    ow_ldm_config ldm;
    char ldm_path[CK_PATH_MAX + 64];
    int text_is_bert;           /* single files: the text encoder is LDM's BERTEmbedder (token_emb.weight) */
    char warnings[1024];        /* what was guessed (ow_checkpoint_warnings) */
};

/* ---- small helpers ---- */

static int part_index(ow_part part) {
    switch (part) {
    case OW_PART_TEXT: return PART_TEXT;
    case OW_PART_UNET: return PART_UNET;
    case OW_PART_VAE: return PART_VAE;
    }
    return -1;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Present and not a folder. Anything but a regular file (a FIFO, a device) counts as
 * present, so that opening it gives a clear error (core/file.h) instead of the part
 * being silently taken as missing. */
static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* out = a/b; 0 when it does not fit (paths are limited at open, so it always does). */
static int join_path(char *out, size_t cap, const char *a, const char *b) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n >= 0 && (size_t)n < cap;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void appendf(char *buf, size_t cap, const char *fmt, ...) OW_PRINTF(3, 4);
static void appendf(char *buf, size_t cap, const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* Whether the set has prefix + name. */
static int has_key(const ow_tensor_set *set, const char *prefix, const char *fmt, ...) OW_PRINTF(3, 4);
static int has_key(const ow_tensor_set *set, const char *prefix, const char *fmt, ...) {
    char name[512];
    int n = snprintf(name, sizeof name, "%s", prefix);
    if (n < 0 || (size_t)n >= sizeof name) return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name + n, sizeof name - (size_t)n, fmt, ap);
    va_end(ap);
    return ow_tensor_set_find(set, name) != NULL;
}

static void part_weights(const ow_checkpoint *ck, int index, ow_weights *w) {
    const ck_part *p = &ck->parts[index];
    w->set = p->set;
    w->prefix = p->prefix;
    w->map = p->use_map ? ow_key_map_apply : NULL;
    w->map_user = p->use_map ? (void *)&p->map : NULL;
    w->what = part_names[index];
}

/* A stored entry by diffusers name with the expected number of dimensions. */
static const ow_tensor_entry *shape_of(const ow_weights *w, const char *key, int ndim) {
    const ow_tensor_entry *e = ow_weights_find(w, key);
    if (!e || e->ndim < ndim) return NULL;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] <= 0 || e->shape[i] > (1 << 24)) return NULL;
    return e;
}

static ow_status missing(const ow_weights *w, const char *key, ow_error *err) {
    return ow_error_set(err, OW_ERR_FORMAT,
                        "%s: tensor '%s' is missing or has an unexpected shape, so the configuration cannot be read "
                        "from the tensor shapes (is this a complete Stable Diffusion 1.x checkpoint?)",
                        w->what, key);
}

/* An integer metadata value (or JSON list of equal ints for per-block values). */
static int metadata_int(const ow_tensor_set *set, const char *key, int *out) {
    const char *v = set ? ow_tensor_set_metadata(set, key) : NULL;
    if (!v) return 0;
    while (*v == ' ' || *v == '[') v++;
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || x <= 0 || x > (1 << 20)) return 0;
    *out = (int)x;
    return 1;
}

/* UNet heads from metadata: an int for every block or a JSON list with one per
 * block (diffusers' attention_head_dim). heads[0] = 0 when the key is absent. */
static ow_status metadata_heads(const ow_tensor_set *set, int levels, int *heads, ow_error *err) {
    heads[0] = 0;
    const char *v = ow_tensor_set_metadata(set, OW_META_UNET_HEADS);
    if (!v) return OW_OK;
    json_object *j = json_tokener_parse(v);
    int ok = j != NULL;
    if (ok && json_object_is_type(j, json_type_int)) {
        for (int l = 0; l < levels; l++) heads[l] = (int)json_object_get_int64(j);
    } else if (ok && json_object_is_type(j, json_type_array) && (int)json_object_array_length(j) == levels) {
        for (int l = 0; l < levels; l++) {
            json_object *x = json_object_array_get_idx(j, (size_t)l);
            heads[l] = json_object_is_type(x, json_type_int) ? (int)json_object_get_int64(x) : 0;
        }
    } else {
        ok = 0;
    }
    for (int l = 0; ok && l < levels; l++) ok = heads[l] > 0 && heads[l] <= 4096;
    if (j) json_object_put(j);
    if (!ok) {
        heads[0] = 0;
        return ow_error_set(err, OW_ERR_FORMAT,
                            "unet: metadata '%s' is '%s'; expected a positive integer or a list of %d of them",
                            OW_META_UNET_HEADS, v, levels);
    }
    return OW_OK;
}

/* ---- refusing what is not SD 1.x ---- */

static ow_status refuse_other_models(const ow_tensor_set *set, const char *path, ow_error *err) {
    size_t n = ow_tensor_set_count(set);
    const char *what = NULL, *example = NULL;
    for (size_t i = 0; i < n && !what; i++) {
        const char *name = ow_tensor_set_entry(set, i)->name;
        if (strstr(name, "conditioner.embedders.")) what = "an SDXL checkpoint (conditioner.embedders.*)";
        else if (strstr(name, "cond_stage_model.model."))
            what = "a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder cond_stage_model.model.*)";
        else if (strstr(name, "diffusion_model.label_emb."))
            what = "an SDXL-style UNet (label_emb: size/crop conditioning)";
        else if (strncmp(name, "lora_", 5) == 0 || strstr(name, ".lora_down.") || strstr(name, ".lora_A."))
            what = "a LoRA, not a full model (load a Stable Diffusion 1.x checkpoint)";
        else if (strcmp(name, "emb_params") == 0 || strstr(name, "string_to_param"))
            what = "a textual-inversion embedding, not a model (import it in the embedding library)";
        else if (strstr(name, "double_blocks.") && strstr(name, "img_attn")) what = "a FLUX model";
        else if (strstr(name, "joint_blocks.")) what = "a Stable Diffusion 3 model";
        else if (strncmp(name, "control_model.", 14) == 0) what = "a ControlNet";
        if (what) example = name;
    }
    if (what)
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "'%s': this looks like %s; oneword supports Stable Diffusion 1.x (found '%s')", path, what,
                            example);
    return OW_OK;
}

/* ---- marker keys ---- */

/* The prefix under which marker sits: the best of all stored names ending in
 * marker, skipping EMA / ControlNet copies; prefer one containing `preferred`,
 * then the shortest. Returns 0 when none. */
static int find_prefix(const ow_tensor_set *set, const char *marker, const char *preferred, char *out, size_t cap) {
    size_t n = ow_tensor_set_count(set), mlen = strlen(marker);
    size_t best_len = 0;
    int best_pref = -1;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = ow_tensor_set_entry(set, i)->name;
        if (!ends_with(name, marker)) continue;
        size_t plen = strlen(name) - mlen;
        if (plen > 0 && name[plen - 1] != '.') continue; /* marker must start a name component */
        if (strstr(name, "model_ema") || strstr(name, "control_model")) continue;
        int pref = preferred && strstr(name, preferred) && (size_t)(strstr(name, preferred) - name) < plen;
        if (!best || pref > best_pref || (pref == best_pref && plen < best_len)) {
            best = name;
            best_len = plen;
            best_pref = pref;
        }
    }
    if (!best || best_len >= cap) return 0;
    memcpy(out, best, best_len);
    out[best_len] = '\0';
    return 1;
}

/* ---- the .yaml beside a single file ---- */

/* The config must describe this UNet: a yaml for another model is reported, not used. */
static ow_status unet_matches_ldm_config(const ow_checkpoint *ck, ow_error *err) {
    const ow_ldm_config *y = &ck->ldm;
    const ow_unet_config *c = &ck->unet;
    const char *what = NULL;
    int said = 0, found = 0;
    if (y->context_dim > 0 && y->context_dim != c->cross_attention_dim)
        what = "context_dim", said = y->context_dim, found = c->cross_attention_dim;
    else if (y->model_channels > 0 && y->model_channels != c->block_out_channels[0])
        what = "model_channels", said = y->model_channels, found = c->block_out_channels[0];
    else if (y->in_channels > 0 && y->in_channels != c->in_channels)
        what = "in_channels", said = y->in_channels, found = c->in_channels;
    else if (y->num_levels > 0 && y->num_levels != c->num_blocks)
        what = "the number of channel_mult entries", said = y->num_levels, found = c->num_blocks;
    else if (y->use_linear_in_transformer >= 0 && y->use_linear_in_transformer != c->use_linear_projection)
        what = "use_linear_in_transformer", said = y->use_linear_in_transformer, found = c->use_linear_projection;
    for (int l = 0; !what && y->num_levels > 0 && y->model_channels > 0 && l < y->num_levels; l++)
        if (y->model_channels * y->channel_mult[l] != c->block_out_channels[l])
            what = "model_channels x channel_mult", said = y->model_channels * y->channel_mult[l],
            found = c->block_out_channels[l];
    if (what)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "'%s' does not describe '%s': its %s is %d where the checkpoint's UNet has %d; is it the "
                            "config of another model?",
                            ck->ldm_path, ck->path, what, said, found);
    return OW_OK;
}

/* Whether s is one of the NULL-terminated list. */
static int is_one_of(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return 1;
    return 0;
}

/* What the config's text encoder and model kind say before any shape is read. */
static ow_status refuse_by_ldm_config(const ow_checkpoint *ck, ow_error *err) {
    const char *cond = ck->ldm.cond_stage_target, *model = ck->ldm.model_target;
    if (strstr(cond, "OpenCLIP"))
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "'%s' is the config of a Stable Diffusion 2.x model (text encoder %s); oneword runs "
                            "Stable Diffusion 1.x (CLIP ViT-L)",
                            ck->ldm_path, cond);
    if (strncmp(model, "sgm.", 4) == 0)
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "'%s' is the config of an SDXL-family model (%s); oneword runs Stable Diffusion 1.x",
                            ck->ldm_path, model);
    static const char *const parameterizations[] = {"", "eps", "v", NULL}, *const schedules[] = {"", "linear",
                                                                                                "sqrt_linear", NULL};
    if (!is_one_of(ck->ldm.parameterization, parameterizations))
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "'%s': parameterization \"%s\" is not supported (eps or v)",
                            ck->ldm_path, ck->ldm.parameterization);
    if (!is_one_of(ck->ldm.beta_schedule, schedules))
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "'%s': beta_schedule \"%s\" is not supported (linear or sqrt_linear)", ck->ldm_path,
                            ck->ldm.beta_schedule);
    return OW_OK;
}

/* Reads the config a single file comes with: the one named (hints.config_path), or
 * A1111's <name>.yaml beside the checkpoint when there is one. */
static ow_status read_ldm_config(ow_checkpoint *ck, ow_error *err) {
    const char *named = ck->hints.config_path;
    ck->hints.config_path = NULL; /* the caller's string: not kept */
    if (named && named[0]) {
        if (strlen(named) >= CK_PATH_MAX) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "config path is too long");
        snprintf(ck->ldm_path, sizeof ck->ldm_path, "%s", named);
    } else {
        size_t len = strlen(ck->path);
        const char *slash = strrchr(ck->path, '/'), *dot = strrchr(ck->path, '.');
        if (dot && (!slash || dot > slash + 1)) len = (size_t)(dot - ck->path);
        snprintf(ck->ldm_path, sizeof ck->ldm_path, "%.*s.yaml", (int)len, ck->path);
        if (!is_file(ck->ldm_path)) {
            ck->ldm_path[0] = '\0';
            return OW_OK;
        }
    }
    ow_status s = ow_ldm_config_load(&ck->ldm, ck->ldm_path, err);
    if (s == OW_OK) s = refuse_by_ldm_config(ck, err);
    ck->has_ldm = s == OW_OK;
    return s;
}

/* ---- UNet from shapes ---- */

static ow_status unet_from_shapes(ow_checkpoint *ck, ow_error *err) {
    ck_part *p = &ck->parts[PART_UNET];
    const ow_tensor_set *set = p->set;
    const char *P = p->prefix;
    ow_unet_config *c = &ck->unet;
    ow_unet_config_default(c);

    /* Structure from CompVis names: per level, resnets until a downsampler. */
    int levels = 0, block = 1, lpb[OW_UNET_MAX_BLOCKS] = {0};
    for (;;) {
        int n = 0;
        while (has_key(set, P, "input_blocks.%d.0.in_layers.0.weight", block)) n++, block++;
        if (n == 0 || levels == OW_UNET_MAX_BLOCKS)
            return ow_error_set(err, OW_ERR_FORMAT,
                                "unet: unexpected structure at %sinput_blocks.%d (level %d has %d resnets); not a "
                                "Stable Diffusion 1.x UNet",
                                P, block, levels, n);
        lpb[levels++] = n;
        if (!has_key(set, P, "input_blocks.%d.0.op.weight", block)) break;
        block++;
    }
    c->num_blocks = levels;
    /* Up levels: lpb + 1 resnets each, attention decides the upsampler's slot. */
    int up_attention[OW_UNET_MAX_BLOCKS] = {0};
    block = 0;
    for (int u = 0; u < levels; u++) {
        up_attention[u] = has_key(set, P, "output_blocks.%d.1.proj_in.weight", block);
        for (int j = 0; j <= lpb[levels - 1 - u]; j++, block++)
            if (!has_key(set, P, "output_blocks.%d.0.in_layers.0.weight", block))
                return ow_error_set(err, OW_ERR_FORMAT,
                                    "unet: %soutput_blocks.%d has no resnet where up level %d expects %d; not a "
                                    "Stable Diffusion 1.x UNet",
                                    P, block, u, lpb[levels - 1 - u] + 1);
    }
    ow_status s = ow_key_map_unet_compvis(&p->map, levels, lpb, up_attention, err);
    if (s != OW_OK) return s;
    p->use_map = 1;

    ow_weights w;
    part_weights(ck, PART_UNET, &w);
    const ow_tensor_entry *e;
    char key[256];
    if (!(e = shape_of(&w, "conv_in.weight", 4))) return missing(&w, "conv_in.weight", err);
    c->in_channels = (int)e->shape[1];
    if (!(e = shape_of(&w, "conv_out.weight", 4))) return missing(&w, "conv_out.weight", err);
    c->out_channels = (int)e->shape[0];
    if (!(e = shape_of(&w, "time_embedding.linear_1.weight", 2))) return missing(&w, "time_embedding.linear_1.weight", err);
    c->time_embed_dim = (int)e->shape[0];
    c->cross_attention_dim = 0;
    for (int l = 0; l < levels; l++) {
        c->layers_per_block[l] = lpb[l];
        snprintf(key, sizeof key, "down_blocks.%d.resnets.0.conv1.weight", l);
        if (!(e = shape_of(&w, key, 4))) return missing(&w, key, err);
        c->block_out_channels[l] = (int)e->shape[0];
        snprintf(key, sizeof key, "down_blocks.%d.attentions.0.proj_in.weight", l);
        c->down_cross_attention[l] = ow_weights_find(&w, key) != NULL;
        c->up_cross_attention[l] = up_attention[l];
        if ((e = ow_weights_find(&w, key))) c->use_linear_projection = e->ndim == 2;
        int t = 0;
        for (;; t++) {
            snprintf(key, sizeof key, "down_blocks.%d.attentions.0.transformer_blocks.%d.norm1.weight", l, t);
            if (!ow_weights_find(&w, key) || t > 64) break;
        }
        c->transformer_layers_per_block[l] = t > 0 ? t : 1;
        snprintf(key, sizeof key, "down_blocks.%d.attentions.0.transformer_blocks.0.attn2.to_k.weight", l);
        if (!c->cross_attention_dim && (e = shape_of(&w, key, 2))) c->cross_attention_dim = (int)e->shape[1];
    }
    c->has_mid_block = ow_weights_find(&w, "mid_block.resnets.0.conv1.weight") != NULL;
    if (!c->cross_attention_dim && (e = shape_of(&w, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight", 2)))
        c->cross_attention_dim = (int)e->shape[1];
    if (!c->cross_attention_dim)
        return ow_error_set(err, OW_ERR_FORMAT, "unet: no cross-attention (attn2.to_k) found under '%s'", P);
    if (c->cross_attention_dim == 1024)
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "'%s': this looks like a Stable Diffusion 2.x UNet (cross-attention width 1024); oneword "
                            "supports Stable Diffusion 1.x",
                            ck->path);

    if (ck->has_ldm && (s = unet_matches_ldm_config(ck, err)) != OW_OK) return s;

    /* What shapes cannot tell: the config's heads, the file's metadata, a hint, or
     * SD 1.x's original config (8 heads), which a model of another width gets with
     * a warning, as A1111 loads a checkpoint without a .yaml with v1-inference.yaml. */
    int heads = 0, groups = 32, sample = 0, per_level = 0;
    const char *heads_from = "file metadata";
    if (ck->has_ldm) {
        s = ow_ldm_config_unet_heads(&ck->ldm, levels, c->block_out_channels, c->attention_heads, &per_level, err);
        if (s != OW_OK) return ow_error_prefix(err, "'%s'", ck->ldm_path);
        if (per_level) heads_from = "the .yaml config";
    }
    if (!per_level) {
        if ((s = metadata_heads(set, levels, c->attention_heads, err)) != OW_OK) return s;
        per_level = c->attention_heads[0] > 0;
    }
    if (per_level) {
        heads = c->attention_heads[0];
    } else if (ck->hints.unet_attention_heads > 0) {
        heads = ck->hints.unet_attention_heads, heads_from = "hint";
    } else {
        heads = 8;
        /* LDM text2img-large's UNet has 8 heads too (txt2img-1p4B-eval.yaml: num_heads 8) */
        heads_from = ck->text_is_bert ? "LDM text2img's original config" : "SD 1.x's original config";
        for (int l = 0; l < levels; l++)
            if (c->block_out_channels[l] % heads != 0)
                return ow_error_set(err, OW_ERR_UNSUPPORTED,
                                    "unet: the number of attention heads is not in the tensor shapes, and SD 1.x's 8 "
                                    "do not divide this UNet's %d channels; give the model's original .yaml config "
                                    "(beside the checkpoint with the same name, or --config FILE)",
                                    c->block_out_channels[l]);
        if (c->cross_attention_dim != (ck->text_is_bert ? 1280 : 768))
            appendf(ck->warnings, sizeof ck->warnings,
                    "%sunet: cross-attention width %d is not %s and nothing gives its number of attention "
                    "heads: using its 8; if images come out wrong, give the model's original .yaml config "
                    "(beside the checkpoint with the same name, or --config FILE)",
                    ck->warnings[0] ? "; " : "", c->cross_attention_dim,
                    ck->text_is_bert ? "LDM text2img's 1280" : "SD 1.x's 768");
    }
    if (!per_level)
        for (int l = 0; l < levels; l++) c->attention_heads[l] = heads;
    const char *groups_from = "SD default";
    if (metadata_int(set, OW_META_UNET_GROUPS, &groups)) groups_from = "file metadata";
    else if (ck->hints.unet_norm_num_groups > 0) groups = ck->hints.unet_norm_num_groups, groups_from = "hint";
    c->norm_num_groups = groups;
    if (metadata_int(set, OW_META_UNET_SAMPLE_SIZE, &sample)) c->sample_size = sample;
    else if (ck->text_is_bert) c->sample_size = 32; /* txt2img-1p4B's image_size: 256 px */
    if (ck->has_ldm && ck->ldm.image_size > 0) c->sample_size = ck->ldm.image_size;
    snprintf(p->config_source, sizeof p->config_source, ck->has_ldm ? "tensor shapes and the .yaml" : "tensor shapes");
    appendf(p->notes, sizeof p->notes, "heads %d from %s; %d groups from %s", heads, heads_from, groups, groups_from);
    if (c->in_channels == 9) appendf(p->notes, sizeof p->notes, "; 9 input channels: an inpainting UNet");
    s = ow_unet_config_validate(c, err);
    if (s != OW_OK) return ow_error_prefix(err, "unet configuration read from '%s'", ck->path);
    return OW_OK;
}

/* ---- VAE from shapes ---- */

static ow_status vae_from_shapes(ow_checkpoint *ck, ow_error *err) {
    ck_part *p = &ck->parts[PART_VAE];
    const ow_tensor_set *set = p->set;
    const char *P = p->prefix;
    ow_vae_config *c = &ck->vae;
    ow_vae_config_default(c);
    if (!has_key(set, P, "decoder.mid.block_1.conv1.weight")) {
        if (has_key(set, P, "decoder.mid_block.resnets.0.conv1.weight"))
            return ow_error_set(err, OW_ERR_UNSUPPORTED,
                                "vae: the tensors under '%s' use diffusers names; a single file with diffusers names "
                                "is not supported (put it in a diffusers folder as vae/diffusion_pytorch_model."
                                "safetensors)",
                                P);
        return ow_error_set(err, OW_ERR_FORMAT, "vae: '%sdecoder.mid.block_1.conv1.weight' is missing", P);
    }
    int levels = 0, lpb = 0;
    while (levels <= OW_VAE_MAX_BLOCKS && has_key(set, P, "encoder.down.%d.block.0.conv1.weight", levels)) levels++;
    while (lpb <= 16 && has_key(set, P, "encoder.down.0.block.%d.conv1.weight", lpb)) lpb++;
    if (levels == 0 || levels > OW_VAE_MAX_BLOCKS || lpb == 0)
        return ow_error_set(err, OW_ERR_FORMAT, "vae: unexpected structure under '%sencoder.down' (%d levels, %d resnets)",
                            P, levels, lpb);
    ow_status s = ow_key_map_vae_compvis(&p->map, levels, lpb, err);
    if (s != OW_OK) return s;
    p->use_map = 1;
    ow_weights w;
    part_weights(ck, PART_VAE, &w);
    const ow_tensor_entry *e;
    char key[256];
    c->num_blocks = levels;
    c->layers_per_block = lpb;
    for (int l = 0; l < levels; l++) {
        snprintf(key, sizeof key, "encoder.down_blocks.%d.resnets.0.conv1.weight", l);
        if (!(e = shape_of(&w, key, 4))) return missing(&w, key, err);
        c->block_out_channels[l] = (int)e->shape[0];
    }
    if (!(e = shape_of(&w, "encoder.conv_in.weight", 4))) return missing(&w, "encoder.conv_in.weight", err);
    c->in_channels = (int)e->shape[1];
    if (!(e = shape_of(&w, "decoder.conv_out.weight", 4))) return missing(&w, "decoder.conv_out.weight", err);
    c->out_channels = (int)e->shape[0];
    if (!(e = shape_of(&w, "decoder.conv_in.weight", 4))) return missing(&w, "decoder.conv_in.weight", err);
    c->latent_channels = (int)e->shape[1];
    c->use_quant_conv = ow_weights_find(&w, "quant_conv.weight") != NULL;
    c->use_post_quant_conv = ow_weights_find(&w, "post_quant_conv.weight") != NULL;
    c->mid_block_add_attention = ow_weights_find(&w, "decoder.mid_block.attentions.0.to_q.weight") != NULL;
    int groups = 32;
    const char *groups_from = "SD default";
    if (metadata_int(set, OW_META_VAE_GROUPS, &groups)) groups_from = "file metadata";
    else if (ck->hints.vae_norm_num_groups > 0) groups = ck->hints.vae_norm_num_groups, groups_from = "hint";
    c->norm_num_groups = groups;
    const char *scaling = ow_tensor_set_metadata(set, OW_META_VAE_SCALING);
    const char *scaling_from = " (SD 1.x)";
    c->scaling_factor = 0.18215f;
    if (ck->has_ldm && ck->ldm.scale_factor > 0.0) {
        c->scaling_factor = (float)ck->ldm.scale_factor;
        scaling_from = " (the .yaml's scale_factor)";
    } else if (scaling) {
        char *end;
        float f = strtof(scaling, &end);
        if (end != scaling && f > 0.0f) c->scaling_factor = f, scaling_from = " (file metadata)";
    }
    snprintf(p->config_source, sizeof p->config_source, ck->has_ldm ? "tensor shapes and the .yaml" : "tensor shapes");
    appendf(p->notes, sizeof p->notes, "%d groups from %s; scaling factor %g%s", groups, groups_from,
            (double)c->scaling_factor, scaling_from);
    s = ow_vae_config_validate(c, err);
    if (s != OW_OK) return ow_error_prefix(err, "vae configuration read from '%s'", ck->path);
    return OW_OK;
}

/* ---- text encoder from shapes ---- */

/* LDM's BERTEmbedder: its layers counted from the stored names, then its key map. */
static ow_status ldm_bert_from_shapes(ow_checkpoint *ck, ow_error *err) {
    ck_part *p = &ck->parts[PART_TEXT];
    int layers = 0;
    while (layers <= 256 && has_key(p->set, p->prefix, "attn_layers.layers.%d.0.weight", 2 * layers)) layers++;
    ow_status s = ow_key_map_ldm_bert(&p->map, layers, err);
    if (s != OW_OK) return ow_error_prefix(err, "'%s'", ck->path);
    p->use_map = 1;
    ow_weights w;
    part_weights(ck, PART_TEXT, &w);
    s = ow_ldm_bert_config_from_weights(&ck->text, &w, err);
    if (s != OW_OK) return ow_error_prefix(err, "'%s'", ck->path);
    snprintf(p->config_source, sizeof p->config_source, "tensor shapes");
    appendf(p->notes, sizeof p->notes, "LDM BERTEmbedder (x-transformers names); heads %d of 64 from the q/k/v width",
            ck->text.num_attention_heads);
    return OW_OK;
}

static ow_status text_from_shapes(ow_checkpoint *ck, ow_error *err) {
    ck_part *p = &ck->parts[PART_TEXT];
    if (ck->text_is_bert) return ldm_bert_from_shapes(ck, err);
    ow_key_map_text_strip(&p->map);
    p->use_map = 1;
    ow_weights w;
    part_weights(ck, PART_TEXT, &w);
    int heads = 0;
    const char *from = "hidden size / 64";
    if (metadata_int(p->set, OW_META_TEXT_HEADS, &heads)) from = "file metadata";
    else if (ck->hints.text_attention_heads > 0) heads = ck->hints.text_attention_heads, from = "hint";
    const ow_tensor_entry *tok = ow_weights_find(&w, "text_model.embeddings.token_embedding.weight");
    if (heads == 0 && tok && tok->ndim == 2 && tok->shape[1] % 64 != 0 && tok->shape[1] % 12 == 0) {
        /* CLIP's heads are 64 wide; a width that is not a multiple of 64 gets ViT-L's 12 */
        heads = 12, from = "CLIP ViT-L";
        appendf(ck->warnings, sizeof ck->warnings,
                "%stext encoder: width %lld is not CLIP ViT-L's 768 and nothing gives its number of attention heads: "
                "using ViT-L's 12",
                ck->warnings[0] ? "; " : "", (long long)tok->shape[1]);
    }
    ow_status s = ow_clip_text_config_from_weights(&ck->text, &w, heads, err);
    if (s != OW_OK) return ow_error_prefix(err, "'%s'", ck->path);
    snprintf(p->config_source, sizeof p->config_source, "tensor shapes");
    appendf(p->notes, sizeof p->notes, "%s; heads %d from %s",
            ends_with(p->prefix, "text_model.") ? "transformers >= 4.22 names (text_model.*)"
                                                : "older transformers names (no text_model level)",
            ck->text.num_attention_heads, from);
    return OW_OK;
}

/* ck->file is open: find the parts and their configurations. */
static ow_status open_single_file(ow_checkpoint *ck, ow_error *err) {
    ck->layout = OW_CHECKPOINT_SINGLE_FILE;
    const ow_tensor_set *set = ck->file;
    ow_status s = refuse_other_models(set, ck->path, err);
    if (s == OW_OK) s = read_ldm_config(ck, err);
    if (s != OW_OK) return s;
    static const struct { const char *marker, *preferred; } markers[CK_PARTS] = {
        [PART_TEXT] = {"embeddings.token_embedding.weight", "cond_stage_model."},
        [PART_UNET] = {"input_blocks.0.0.weight", "diffusion_model."},
        [PART_VAE] = {"decoder.conv_in.weight", "first_stage_model."},
    };
    int found = 0;
    for (int i = 0; i < CK_PARTS; i++) {
        ck_part *p = &ck->parts[i];
        if (!find_prefix(set, markers[i].marker, markers[i].preferred, p->prefix, sizeof p->prefix)) {
            /* LDM text2img-large's text encoder: cond_stage_model.transformer.token_emb.weight */
            if (i != PART_TEXT || !find_prefix(set, "transformer.token_emb.weight", "cond_stage_model.", p->prefix,
                                               sizeof p->prefix))
                continue;
            ck->text_is_bert = 1;
            snprintf(p->prefix + strlen(p->prefix), sizeof p->prefix - strlen(p->prefix), "transformer.");
        }
        p->present = 1;
        p->set = set;
        snprintf(p->file, sizeof p->file, "%s", ck->path);
        found++;
    }
    if (!found) {
        size_t n = ow_tensor_set_count(set);
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "'%s' holds %zu tensors but no Stable Diffusion 1.x part (no name ends in "
                            "input_blocks.0.0.weight, decoder.conv_in.weight or embeddings.token_embedding.weight; "
                            "first name: '%s')",
                            ck->path, n, n ? ow_tensor_set_entry(set, 0)->name : "(none)");
    }
    if (ck->parts[PART_UNET].present && (s = unet_from_shapes(ck, err)) != OW_OK) return s;
    if (ck->parts[PART_VAE].present && (s = vae_from_shapes(ck, err)) != OW_OK) return s;
    if (ck->parts[PART_TEXT].present && (s = text_from_shapes(ck, err)) != OW_OK) return s;
    /* a yaml for the other text encoder describes another model */
    if (ck->has_ldm && ck->parts[PART_TEXT].present &&
        (strstr(ck->ldm.cond_stage_target, "BERTEmbedder") != NULL) != ck->text_is_bert)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "'%s' is the config of a model with a %s text encoder (%s), but '%s' holds a %s one",
                            ck->ldm_path, ck->text_is_bert ? "CLIP" : "BERT", ck->ldm.cond_stage_target, ck->path,
                            ck->text_is_bert ? "BERT (LDM text2img)" : "CLIP");
    return OW_OK;
}

/* ---- diffusers folders ---- */

/* The weights file of a submodel folder: safetensors before pickles, full
 * precision before the .fp16 variant. */
static ow_status find_weights_file(const char *dir, int index, char *out, size_t cap, ow_error *err) {
    static const char *const names[] = {
        "diffusion_pytorch_model.safetensors", "model.safetensors",
        "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors",
        "diffusion_pytorch_model.bin", "pytorch_model.bin",
        "diffusion_pytorch_model.fp16.bin", "pytorch_model.fp16.bin",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (join_path(out, cap, dir, names[i]) && is_file(out)) return OW_OK;
    }
    static const char *const sharded[] = {"diffusion_pytorch_model.safetensors.index.json",
                                          "model.safetensors.index.json", "pytorch_model.bin.index.json",
                                          "diffusion_pytorch_model.bin.index.json"};
    for (size_t i = 0; i < sizeof sharded / sizeof sharded[0]; i++) {
        if (join_path(out, cap, dir, sharded[i]) && is_file(out))
            return ow_error_set(err, OW_ERR_UNSUPPORTED,
                                "%s: '%s' is split into shards; sharded weights are not supported (SD 1.x models "
                                "are not sharded)",
                                part_names[index], out);
    }
    return ow_error_set(err, OW_ERR_NOT_FOUND,
                        "%s: no weights in '%s' (looked for diffusion_pytorch_model / model [.fp16] .safetensors "
                        "and .bin)",
                        part_names[index], dir);
}

static ow_status check_model_index(const char *path, ow_error *err) {
    json_object *root;
    ow_status s = ow_config_read_file(path, &root, err);
    if (s != OW_OK) return s;
    json_object *v = NULL;
    const char *cls = json_object_object_get_ex(root, "_class_name", &v) && json_object_is_type(v, json_type_string)
                          ? json_object_get_string(v)
                          : "";
    if (json_object_object_get_ex(root, "text_encoder_2", &v) || strstr(cls, "XL"))
        s = ow_error_set(err, OW_ERR_UNSUPPORTED,
                         "'%s': this looks like an SDXL pipeline (%s%s); oneword supports Stable Diffusion 1.x", path,
                         cls[0] ? cls : "two text encoders", cls[0] ? "" : "");
    else if (json_object_object_get_ex(root, "transformer", &v))
        s = ow_error_set(err, OW_ERR_UNSUPPORTED,
                         "'%s': this pipeline (%s) has a transformer denoiser, not a UNet; oneword supports Stable "
                         "Diffusion 1.x",
                         path, cls[0] ? cls : "unknown class");
    json_object_put(root);
    return s;
}

static ow_status open_part_folder(ow_checkpoint *ck, int index, ow_error *err) {
    ck_part *p = &ck->parts[index];
    char dir[CK_PATH_MAX], config[CK_PATH_MAX + 16];
    if (!join_path(dir, sizeof dir, ck->path, part_dirs[index]) || !is_dir(dir)) return OW_OK; /* absent part */
    ow_status s = find_weights_file(dir, index, p->file, sizeof p->file, err);
    if (s != OW_OK) return s;
    snprintf(config, sizeof config, "%s/config.json", dir);
    switch (index) {
    case PART_TEXT: s = ow_clip_text_config_load(&ck->text, config, err); break;
    case PART_UNET: s = ow_unet_config_load(&ck->unet, config, err); break;
    case PART_VAE: s = ow_vae_config_load(&ck->vae, config, err); break;
    }
    if (s != OW_OK) return s;
    if (index == PART_UNET && ck->unet.cross_attention_dim == 1024)
        appendf(p->notes, sizeof p->notes, "cross-attention 1024: a Stable Diffusion 2.x UNet");
    s = ow_tensor_set_open(&p->owned_set, p->file, err);
    if (s != OW_OK) return s;
    p->set = p->owned_set;
    p->present = 1;
    snprintf(p->config_source, sizeof p->config_source, "%s/config.json", part_dirs[index]);
    if (index == PART_VAE && ow_tensor_set_find(p->set, "encoder.mid_block.attentions.0.query.weight")) {
        s = ow_key_map_vae_legacy_attention(&p->map, err);
        if (s != OW_OK) return s;
        p->use_map = 1;
        appendf(p->notes, sizeof p->notes, "attention names of diffusers < 0.14 (query/key/value/proj_attn)");
    }
    return OW_OK;
}

static ow_status open_folder(ow_checkpoint *ck, ow_error *err) {
    ck->layout = OW_CHECKPOINT_DIFFUSERS;
    char path[CK_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/model_index.json", ck->path);
    int has_index = is_file(path);
    if (has_index) {
        ow_status s = check_model_index(path, err);
        if (s != OW_OK) return s;
    }
    int any_dir = 0;
    for (int i = 0; i < CK_PARTS; i++) {
        snprintf(path, sizeof path, "%s/%s", ck->path, part_dirs[i]);
        any_dir |= is_dir(path);
    }
    if (!has_index && !any_dir)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "'%s' is a folder but not a diffusers model (no model_index.json and no unet/, vae/ or "
                            "text_encoder/ subfolder)",
                            ck->path);
    for (int i = 0; i < CK_PARTS; i++) {
        ow_status s = open_part_folder(ck, i, err);
        if (s != OW_OK) return s;
    }
    if (!ck->parts[PART_TEXT].present && !ck->parts[PART_UNET].present && !ck->parts[PART_VAE].present)
        return ow_error_set(err, OW_ERR_NOT_FOUND, "'%s': no text_encoder/, unet/ or vae/ subfolder", ck->path);
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", ck->path);
    if (is_file(path)) {
        ck->has_scheduler = 1;
        memcpy(ck->scheduler, path, sizeof ck->scheduler);
    }
    return OW_OK;
}

/* ---- public ---- */

ow_status ow_checkpoint_open_hints(ow_checkpoint **out, const char *path, const ow_checkpoint_hints *hints,
                                   ow_error *err) {
    *out = NULL;
    if (!path || !path[0]) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "no checkpoint path given");
    if (strlen(path) >= CK_PATH_MAX - 64)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "checkpoint path is too long");
    ow_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory opening '%s'", path);
    snprintf(ck->path, sizeof ck->path, "%s", path);
    size_t len = strlen(ck->path);
    while (len > 1 && ck->path[len - 1] == '/') ck->path[--len] = '\0';
    if (hints) ck->hints = *hints;
    struct stat st;
    ow_status s;
    if (stat(ck->path, &st) != 0)
        s = ow_error_set(err, OW_ERR_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode) && ck->hints.config_path)
        s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                         "'%s' is a diffusers folder: its parts' config.json files configure it; a .yaml config "
                         "(--config) is for single-file checkpoints",
                         path);
    else if (S_ISDIR(st.st_mode))
        s = open_folder(ck, err);
    else if ((s = ow_tensor_set_open(&ck->file, ck->path, err)) == OW_OK)
        s = open_single_file(ck, err);
    if (s != OW_OK) {
        ow_checkpoint_close(ck);
        return s;
    }
    *out = ck;
    return OW_OK;
}

ow_status ow_checkpoint_open_set(ow_checkpoint **out, ow_tensor_set *set, const char *name,
                                 const ow_checkpoint_hints *hints, ow_error *err) {
    *out = NULL;
    ow_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        ow_tensor_set_free(set);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory opening '%s'", name);
    }
    snprintf(ck->path, sizeof ck->path, "%s", name ? name : "(tensors in memory)");
    if (hints) ck->hints = *hints;
    ck->file = set;
    ow_status s = open_single_file(ck, err);
    if (s != OW_OK) {
        ow_checkpoint_close(ck);
        return s;
    }
    *out = ck;
    return OW_OK;
}

ow_status ow_checkpoint_open(ow_checkpoint **out, const char *path, ow_error *err) {
    return ow_checkpoint_open_hints(out, path, NULL, err);
}

void ow_checkpoint_close(ow_checkpoint *ck) {
    if (!ck) return;
    for (int i = 0; i < CK_PARTS; i++) {
        ow_tensor_set_free(ck->parts[i].owned_set);
        ow_key_map_free(&ck->parts[i].map);
    }
    ow_tensor_set_free(ck->file);
    free(ck);
}

ow_checkpoint_layout ow_checkpoint_get_layout(const ow_checkpoint *ck) { return ck->layout; }

int ow_checkpoint_parts(const ow_checkpoint *ck) {
    return (ck->parts[PART_TEXT].present ? OW_PART_TEXT : 0) | (ck->parts[PART_UNET].present ? OW_PART_UNET : 0) |
           (ck->parts[PART_VAE].present ? OW_PART_VAE : 0);
}

ow_status ow_checkpoint_weights(const ow_checkpoint *ck, ow_part part, ow_weights *out, ow_error *err) {
    memset(out, 0, sizeof *out);
    int i = part_index(part);
    if (i < 0) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "checkpoint: unknown part %d", (int)part);
    if (!ck->parts[i].present)
        return ow_error_set(err, OW_ERR_NOT_FOUND, "'%s' has no %s%s", ck->path, part_names[i],
                            ck->layout == OW_CHECKPOINT_DIFFUSERS ? " subfolder"
                            : i == PART_UNET ? " (no model.diffusion_model.* tensors)"
                            : i == PART_VAE  ? " (no first_stage_model.* tensors)"
                                             : " (no cond_stage_model.transformer.* tensors)");
    part_weights(ck, i, out);
    return OW_OK;
}

const ow_unet_config *ow_checkpoint_unet_config(const ow_checkpoint *ck) {
    return ck->parts[PART_UNET].present ? &ck->unet : NULL;
}
const ow_vae_config *ow_checkpoint_vae_config(const ow_checkpoint *ck) {
    return ck->parts[PART_VAE].present ? &ck->vae : NULL;
}
const ow_clip_text_config *ow_checkpoint_text_config(const ow_checkpoint *ck) {
    return ck->parts[PART_TEXT].present ? &ck->text : NULL;
}
const char *ow_checkpoint_scheduler_config_path(const ow_checkpoint *ck) {
    return ck->has_scheduler ? ck->scheduler : NULL;
}
const ow_ldm_config *ow_checkpoint_ldm_config(const ow_checkpoint *ck) { return ck->has_ldm ? &ck->ldm : NULL; }
const char *ow_checkpoint_warnings(const ow_checkpoint *ck) { return ck->warnings; }

/* ---- describe ---- */

static void describe_list(char *buf, size_t cap, const int *values, int n) {
    appendf(buf, cap, "(");
    for (int i = 0; i < n; i++) appendf(buf, cap, i ? ", %d" : "%d", values[i]);
    appendf(buf, cap, ")");
}

static void describe_part(const ow_checkpoint *ck, int i, char *buf, size_t cap) {
    const ck_part *p = &ck->parts[i];
    if (!p->present) {
        appendf(buf, cap, "%s: absent\n", part_names[i]);
        return;
    }
    int64_t params = 0;
    size_t tensors = 0;
    unsigned dtypes = 0;
    size_t plen = strlen(p->prefix);
    for (size_t k = 0, n = ow_tensor_set_count(p->set); k < n; k++) {
        const ow_tensor_entry *e = ow_tensor_set_entry(p->set, k);
        if (strncmp(e->name, p->prefix, plen) != 0 || !ow_dtype_is_float(e->dtype)) continue;
        if (strncmp(e->name, "model_ema", 9) == 0) continue;
        params += ow_tensor_entry_numel(e);
        tensors++;
        dtypes |= 1u << e->dtype;
    }
    appendf(buf, cap, "%s: %zu tensors, %lld parameters, dtype", part_names[i], tensors, (long long)params);
    for (int d = 0; d < 16; d++)
        if (dtypes & (1u << d)) appendf(buf, cap, " %s", ow_dtype_name((ow_dtype)d));
    appendf(buf, cap, "\n  from %s", p->file);
    if (ck->layout == OW_CHECKPOINT_SINGLE_FILE) appendf(buf, cap, ", prefix '%s'", p->prefix);
    appendf(buf, cap, "; config from %s\n", p->config_source);
    if (i == PART_TEXT) {
        const ow_clip_text_config *c = &ck->text;
        appendf(buf, cap,
                "  %s: vocab %d, hidden %d, intermediate %d, heads %d, layers %d, positions %d, %s, eps %g%s\n",
                c->family == OW_TEXT_LDM_BERT ? "LDM BERT text (not causal, no q/k/v bias)" : "CLIP text",
                c->vocab_size, c->hidden_size, c->intermediate_size, c->num_attention_heads, c->num_hidden_layers,
                c->max_position_embeddings, c->hidden_act == OW_CLIP_ACT_GELU ? "gelu" : "quick_gelu",
                (double)c->layer_norm_eps, c->family == OW_TEXT_LDM_BERT ? "; model family: LDM text2img (BERT)" : "");
    } else if (i == PART_UNET) {
        const ow_unet_config *c = &ck->unet;
        appendf(buf, cap, "  UNet: block_out_channels ");
        describe_list(buf, cap, c->block_out_channels, c->num_blocks);
        appendf(buf, cap, ", layers_per_block ");
        describe_list(buf, cap, c->layers_per_block, c->num_blocks);
        appendf(buf, cap, ", cross-attention down ");
        describe_list(buf, cap, c->down_cross_attention, c->num_blocks);
        appendf(buf, cap, " up ");
        describe_list(buf, cap, c->up_cross_attention, c->num_blocks);
        appendf(buf, cap, ", heads ");
        describe_list(buf, cap, c->attention_heads, c->num_blocks);
        appendf(buf, cap, ", cross_attention_dim %d, channels in %d out %d, groups %d\n", c->cross_attention_dim,
                c->in_channels, c->out_channels, c->norm_num_groups);
    } else {
        const ow_vae_config *c = &ck->vae;
        appendf(buf, cap, "  VAE: block_out_channels ");
        describe_list(buf, cap, c->block_out_channels, c->num_blocks);
        appendf(buf, cap, ", layers_per_block %d, latent_channels %d, groups %d, scaling_factor %g\n",
                c->layers_per_block, c->latent_channels, c->norm_num_groups, (double)c->scaling_factor);
    }
    if (p->notes[0]) appendf(buf, cap, "  %s\n", p->notes);
}

ow_status ow_checkpoint_describe(const ow_checkpoint *ck, char **text, ow_error *err) {
    const size_t cap = 8192;
    char *buf = calloc(1, cap);
    if (!buf) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory describing '%s'", ck->path);
    appendf(buf, cap, "checkpoint: %s\nlayout: %s\n", ck->path,
            ck->layout == OW_CHECKPOINT_DIFFUSERS ? "diffusers folder"
            : ends_with(ck->path, ".ckpt") || ends_with(ck->path, ".pt")
                ? "single file, original CompVis names (torch pickle)"
                : "single file, original CompVis names (safetensors)");
    for (int i = 0; i < CK_PARTS; i++) describe_part(ck, i, buf, cap);
    if (ck->layout == OW_CHECKPOINT_SINGLE_FILE) {
        size_t ignored = 0, ema = 0, n = ow_tensor_set_count(ck->file);
        const char *example = NULL;
        for (size_t k = 0; k < n; k++) {
            const char *name = ow_tensor_set_entry(ck->file, k)->name;
            int used = 0;
            for (int i = 0; i < CK_PARTS && !used; i++)
                used = ck->parts[i].present && strncmp(name, ck->parts[i].prefix, strlen(ck->parts[i].prefix)) == 0 &&
                       !strstr(name, "model_ema");
            if (used) continue;
            ignored++;
            if (strstr(name, "model_ema")) ema++;
            else if (!example) example = name;
        }
        appendf(buf, cap, "ignored: %zu tensors (%zu model_ema.* copies", ignored, ema);
        if (example) {
            char shown[256]; /* a name from the file: printable only */
            ow_text_escape(shown, sizeof shown, example, strlen(example));
            appendf(buf, cap, "; other, e.g. '%s'", shown);
        }
        appendf(buf, cap, ")\n");
    }
    char scheduler[256];
    ow_text_escape(scheduler, sizeof scheduler, ck->scheduler, strlen(ck->scheduler));
    if (ck->has_ldm) {
        const ow_ldm_config *y = &ck->ldm;
        char config[256];
        ow_text_escape(config, sizeof config, ck->ldm_path, strlen(ck->ldm_path));
        appendf(buf, cap, "config: %s", config);
        /* what the yaml states of the schedule (the rest stays SD 1.x's) */
        if (y->timesteps) appendf(buf, cap, "; %d timesteps", y->timesteps);
        if (y->linear_start > 0.0) appendf(buf, cap, "; linear_start %g", y->linear_start);
        if (y->linear_end > 0.0) appendf(buf, cap, "; linear_end %g", y->linear_end);
        if (strcmp(y->parameterization, "v") == 0) appendf(buf, cap, "; predicts v");
        appendf(buf, cap, "\n");
    }
    appendf(buf, cap, "scheduler: %s\n",
            ck->has_scheduler ? scheduler
            : ck->has_ldm     ? "none (the .yaml's training schedule)"
                              : "none (SD 1.x training schedule)");
    if (ck->warnings[0]) appendf(buf, cap, "warning: %s\n", ck->warnings);
    *text = buf;
    return OW_OK;
}
