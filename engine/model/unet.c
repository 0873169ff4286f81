/* unet.c: UNet2DConditionModel (Stable Diffusion 1.x / 2.x): config.json parsing
 * with diffusers' defaults, weight loading by diffusers key names, forward pass. */
#include "model/unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_config.h"

#define WHAT "unet config"

/* ---------------------------------------------------------------- config */

void ow_unet_config_default(ow_unet_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    static const int channels[4] = {320, 640, 1280, 1280};
    cfg->in_channels = 4;
    cfg->out_channels = 4;
    cfg->sample_size = 64;
    cfg->num_blocks = 4;
    for (int i = 0; i < 4; i++) {
        cfg->block_out_channels[i] = channels[i];
        cfg->down_cross_attention[i] = i < 3;
        cfg->up_cross_attention[i] = i > 0;
        cfg->layers_per_block[i] = 2;
        cfg->attention_heads[i] = 8;
        cfg->transformer_layers_per_block[i] = 1;
    }
    cfg->cross_attention_dim = 1280; /* diffusers' default; SD 1.x configs say 768 */
    cfg->norm_num_groups = 32;
    cfg->norm_eps = 1e-5f;
    cfg->flip_sin_to_cos = 1;
    cfg->freq_shift = 0.0f;
    cfg->time_embed_dim = 4 * 320;
    cfg->downsample_padding = 1;
    cfg->has_mid_block = 1;
}

static int is_explicit_null(json_object *config, const char *key) {
    json_object *v = NULL;
    return json_object_object_get_ex(config, key, &v) && (!v || json_object_is_type(v, json_type_null));
}

static ow_status require_string(json_object *config, const char *key, const char *want, ow_error *err) {
    char value[128] = "";
    ow_status s = ow_config_string(config, WHAT, key, value, sizeof value, err);
    if (s != OW_OK) return s;
    if (value[0] && strcmp(value, want) != 0)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' is \"%s\"; only \"%s\" is supported (Stable Diffusion 1.x/2.x)",
                            WHAT, key, value, want);
    return OW_OK;
}

static ow_status require_false(json_object *config, const char *key, ow_error *err) {
    json_object *v = ow_config_get(config, key);
    if (!v) return OW_OK;
    int bad = 0;
    if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++)
            bad |= json_object_get_boolean(json_object_array_get_idx(v, i));
    } else {
        bad = json_object_get_boolean(v);
    }
    if (bad)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' is %s; only false is supported (Stable Diffusion 1.x/2.x)",
                            WHAT, key, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    return OW_OK;
}

static ow_status require_number(json_object *config, const char *key, float want, ow_error *err) {
    float value = want;
    ow_status s = ow_config_float(config, WHAT, key, &value, err);
    if (s != OW_OK) return s;
    if (value != want)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' is %g; only %g is supported (Stable Diffusion 1.x/2.x)",
                            WHAT, key, value, want);
    return OW_OK;
}

#define TYPE_LEN 64

static ow_status parse_block_types(json_object *config, const char *key, int n, const char *cross, const char *plain,
                                   int *flags, ow_error *err) {
    char types[OW_UNET_MAX_BLOCKS][TYPE_LEN];
    int count = -1;
    ow_status s = ow_config_string_list(config, WHAT, key, OW_UNET_MAX_BLOCKS, TYPE_LEN, &types[0][0], &count, err);
    if (s != OW_OK) return s;
    if (count < 0) { /* absent: diffusers' default, valid for 4 blocks only */
        if (n != 4)
            return ow_error_set(err, OW_ERR_FORMAT, "%s: '%s' is missing and 'block_out_channels' has %d entries", WHAT,
                                key, n);
        return OW_OK; /* flags already hold the default layout */
    }
    if (count != n)
        return ow_error_set(err, OW_ERR_FORMAT, "%s: '%s' has %d entries but 'block_out_channels' has %d", WHAT, key,
                            count, n);
    for (int i = 0; i < n; i++) {
        if (strcmp(types[i], cross) == 0) flags[i] = 1;
        else if (strcmp(types[i], plain) == 0) flags[i] = 0;
        else
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' entry %d is \"%s\"; only %s and %s are supported",
                                WHAT, key, i, types[i], cross, plain);
    }
    return OW_OK;
}

ow_status ow_unet_config_from_json(ow_unet_config *cfg, json_object *config, ow_error *err) {
    ow_status s;
    ow_unet_config_default(cfg);
#define TRY(expr) do { if ((s = (expr)) != OW_OK) return s; } while (0)
    char class_name[128] = "";
    TRY(ow_config_string(config, WHAT, "_class_name", class_name, sizeof class_name, err));
    if (class_name[0] && strcmp(class_name, "UNet2DConditionModel") != 0)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '_class_name' is \"%s\"; expected \"UNet2DConditionModel\"",
                            WHAT, class_name);

    /* things that are not Stable Diffusion 1.x / 2.x */
    static const char *const must_be_null[] = {
        "class_embed_type", "addition_embed_type", "num_class_embeds", "encoder_hid_dim", "encoder_hid_dim_type",
        "time_cond_proj_dim", "projection_class_embeddings_input_dim", "timestep_post_act", "time_embedding_act_fn",
        "cross_attention_norm", "addition_time_embed_dim", "reverse_transformer_layers_per_block",
    };
    for (size_t i = 0; i < sizeof must_be_null / sizeof must_be_null[0]; i++)
        TRY(ow_config_require_null(config, WHAT, must_be_null[i], "not a Stable Diffusion 1.x/2.x UNet", err));
    TRY(ow_config_require_null(config, WHAT, "num_attention_heads",
                               "diffusers itself refuses it for this model; SD configs give heads as 'attention_head_dim'",
                               err));
    TRY(require_string(config, "act_fn", "silu", err));
    TRY(require_string(config, "resnet_time_scale_shift", "default", err));
    TRY(require_string(config, "time_embedding_type", "positional", err));
    TRY(require_string(config, "attention_type", "default", err));
    TRY(require_false(config, "only_cross_attention", err));
    TRY(require_false(config, "dual_cross_attention", err));
    TRY(require_false(config, "center_input_sample", err));
    TRY(require_false(config, "resnet_skip_time_act", err));
    TRY(require_false(config, "class_embeddings_concat", err));
    TRY(require_false(config, "mid_block_only_cross_attention", err));
    TRY(require_number(config, "conv_in_kernel", 3, err));
    TRY(require_number(config, "conv_out_kernel", 3, err));
    TRY(require_number(config, "resnet_out_scale_factor", 1, err));
    TRY(require_number(config, "mid_block_scale_factor", 1, err));

    TRY(ow_config_int(config, WHAT, "in_channels", &cfg->in_channels, err));
    TRY(ow_config_int(config, WHAT, "out_channels", &cfg->out_channels, err));
    json_object *size = ow_config_get(config, "sample_size");
    if (size && json_object_is_type(size, json_type_array) && json_object_array_length(size) > 0)
        cfg->sample_size = json_object_get_int(json_object_array_get_idx(size, 0)); /* (h, w): informational */
    else
        TRY(ow_config_int(config, WHAT, "sample_size", &cfg->sample_size, err));

    int count = cfg->num_blocks;
    TRY(ow_config_int_list(config, WHAT, "block_out_channels", OW_UNET_MAX_BLOCKS, cfg->block_out_channels, &count,
                           err));
    const int n = cfg->num_blocks = count;
    TRY(parse_block_types(config, "down_block_types", n, "CrossAttnDownBlock2D", "DownBlock2D",
                          cfg->down_cross_attention, err));
    TRY(parse_block_types(config, "up_block_types", n, "CrossAttnUpBlock2D", "UpBlock2D", cfg->up_cross_attention,
                          err));

    char mid[128] = "UNetMidBlock2DCrossAttn";
    if (is_explicit_null(config, "mid_block_type")) {
        cfg->has_mid_block = 0;
    } else {
        TRY(ow_config_string(config, WHAT, "mid_block_type", mid, sizeof mid, err));
        if (strcmp(mid, "UNetMidBlock2DCrossAttn") != 0)
            return ow_error_set(err, OW_ERR_UNSUPPORTED,
                                "%s: 'mid_block_type' is \"%s\"; only \"UNetMidBlock2DCrossAttn\" (or null) is supported",
                                WHAT, mid);
    }

    TRY(ow_config_int_or_list(config, WHAT, "layers_per_block", n, cfg->layers_per_block, err));
    /* SD 1.x/2.x: 'attention_head_dim' holds the number of heads (a historic misnomer) */
    TRY(ow_config_int_or_list(config, WHAT, "attention_head_dim", n, cfg->attention_heads, err));
    TRY(ow_config_int_or_list(config, WHAT, "transformer_layers_per_block", n, cfg->transformer_layers_per_block, err));

    json_object *cross = ow_config_get(config, "cross_attention_dim");
    if (cross && json_object_is_type(cross, json_type_array))
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: 'cross_attention_dim' is a per-block list %s; only one number is supported",
                            WHAT, json_object_to_json_string_ext(cross, JSON_C_TO_STRING_PLAIN));
    TRY(ow_config_int(config, WHAT, "cross_attention_dim", &cfg->cross_attention_dim, err));
    if (is_explicit_null(config, "norm_num_groups"))
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: 'norm_num_groups' is null (no output norm); only a number is supported",
                            WHAT);
    TRY(ow_config_int(config, WHAT, "norm_num_groups", &cfg->norm_num_groups, err));
    TRY(ow_config_float(config, WHAT, "norm_eps", &cfg->norm_eps, err));
    TRY(ow_config_bool(config, WHAT, "flip_sin_to_cos", &cfg->flip_sin_to_cos, err));
    TRY(ow_config_float(config, WHAT, "freq_shift", &cfg->freq_shift, err));
    cfg->time_embed_dim = 4 * cfg->block_out_channels[0];
    TRY(ow_config_int(config, WHAT, "time_embedding_dim", &cfg->time_embed_dim, err));
    TRY(ow_config_int(config, WHAT, "downsample_padding", &cfg->downsample_padding, err));
    TRY(ow_config_bool(config, WHAT, "use_linear_projection", &cfg->use_linear_projection, err));
    TRY(ow_config_bool(config, WHAT, "upcast_attention", &cfg->upcast_attention, err));
#undef TRY
    return ow_unet_config_validate(cfg, err);
}

ow_status ow_unet_config_load(ow_unet_config *cfg, const char *config_json_path, ow_error *err) {
    json_object *config;
    ow_status s = ow_config_read_file(config_json_path, &config, err);
    if (s != OW_OK) return s;
    s = ow_unet_config_from_json(cfg, config, err);
    json_object_put(config);
    if (s != OW_OK) return ow_error_prefix(err, "%s", config_json_path);
    return OW_OK;
}

ow_status ow_unet_config_validate(const ow_unet_config *cfg, ow_error *err) {
    const int n = cfg->num_blocks;
    if (n < 1 || n > OW_UNET_MAX_BLOCKS)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: %d blocks; 1 to %d are supported", WHAT, n, OW_UNET_MAX_BLOCKS);
    if (cfg->in_channels < 1 || cfg->out_channels < 1 || cfg->cross_attention_dim < 1 || cfg->time_embed_dim < 1 ||
        cfg->norm_num_groups < 1 || cfg->block_out_channels[0] < 2 || cfg->downsample_padding < 0 ||
        !(cfg->norm_eps > 0.0f))
        return ow_error_set(err, OW_ERR_FORMAT,
                            "%s: a size is not positive (in %d, out %d, cross_attention_dim %d, time embedding %d, "
                            "groups %d, padding %d, eps %g)",
                            WHAT, cfg->in_channels, cfg->out_channels, cfg->cross_attention_dim, cfg->time_embed_dim,
                            cfg->norm_num_groups, cfg->downsample_padding, cfg->norm_eps);
    /* Far above SD (320..1280 channels, 768/1024 context): keeps every shape product in range. */
    const int max_size = 1 << 16;
    if (cfg->in_channels > max_size || cfg->out_channels > max_size || cfg->cross_attention_dim > max_size ||
        cfg->time_embed_dim > max_size || cfg->norm_num_groups > max_size)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "%s: a size is larger than %d (in %d, out %d, cross_attention_dim %d, time embedding %d, groups %d)",
                            WHAT, max_size, cfg->in_channels, cfg->out_channels, cfg->cross_attention_dim,
                            cfg->time_embed_dim, cfg->norm_num_groups);
    for (int i = 0; i < n; i++) {
        int c = cfg->block_out_channels[i];
        if (c > max_size)
            return ow_error_set(err, OW_ERR_FORMAT, "%s: block_out_channels[%d] = %d is larger than %d", WHAT, i, c, max_size);
        if (c < 1 || c % cfg->norm_num_groups != 0)
            return ow_error_set(err, OW_ERR_FORMAT, "%s: block_out_channels[%d] = %d is not a positive multiple of norm_num_groups %d",
                                WHAT, i, c, cfg->norm_num_groups);
        if (cfg->layers_per_block[i] < 1 || cfg->layers_per_block[i] > 64)
            return ow_error_set(err, OW_ERR_FORMAT, "%s: layers_per_block[%d] = %d", WHAT, i, cfg->layers_per_block[i]);
        if (cfg->attention_heads[i] < 1 || cfg->attention_heads[i] > c)
            return ow_error_set(err, OW_ERR_FORMAT, "%s: block %d has %d attention heads for %d channels", WHAT, i,
                                cfg->attention_heads[i], c);
        if (cfg->transformer_layers_per_block[i] < 1 || cfg->transformer_layers_per_block[i] > 64)
            return ow_error_set(err, OW_ERR_FORMAT, "%s: transformer_layers_per_block[%d] = %d", WHAT, i,
                                cfg->transformer_layers_per_block[i]);
    }
    return OW_OK;
}

/* ---------------------------------------------------------------- loading */

static ow_status load_transformers(ow_loader *L, ow_transformer2d **out, const char *block, int count, int channels,
                                   int heads, int layers, const ow_unet_config *cfg) {
    *out = calloc((size_t)count, sizeof **out);
    if (!*out) return ow_error_set(L->err, OW_ERR_OUT_OF_MEMORY, "out of memory loading %s", block);
    char name[160];
    for (int j = 0; j < count; j++) {
        ow_key_format(name, sizeof name, "%s.attentions.%d", block, j);
        ow_status s = ow_transformer2d_load(L, &(*out)[j], name, channels, heads, layers, cfg->cross_attention_dim,
                                            cfg->norm_num_groups);
        if (s != OW_OK) return s;
    }
    return OW_OK;
}

static ow_status unet_load_weights(ow_unet *u, ow_loader *L) {
    const ow_unet_config *cfg = &u->config;
    const int n = cfg->num_blocks, C0 = cfg->block_out_channels[0], E = cfg->time_embed_dim;
    const int groups = cfg->norm_num_groups;
    const float eps = cfg->norm_eps;
    char name[160];
    ow_status s;
#define TRY(expr) do { if ((s = (expr)) != OW_OK) return s; } while (0)
    TRY(ow_load_linear(L, &u->time_linear_1, "time_embedding.linear_1", C0, E, 1));
    TRY(ow_load_linear(L, &u->time_linear_2, "time_embedding.linear_2", E, E, 1));
    TRY(ow_load_conv(L, &u->conv_in, "conv_in", cfg->in_channels, C0, 3));

    for (int i = 0; i < n; i++) {
        ow_unet_down_block *d = &u->down_blocks[i];
        d->in_channels = i == 0 ? C0 : cfg->block_out_channels[i - 1];
        d->out_channels = cfg->block_out_channels[i];
        d->has_attention = cfg->down_cross_attention[i];
        d->has_downsample = i < n - 1;
        d->resnets = calloc((size_t)cfg->layers_per_block[i], sizeof *d->resnets);
        if (!d->resnets) return ow_error_set(L->err, OW_ERR_OUT_OF_MEMORY, "out of memory loading the unet");
        d->num_layers = cfg->layers_per_block[i];
        for (int j = 0; j < d->num_layers; j++) {
            ow_key_format(name, sizeof name, "down_blocks.%d.resnets.%d", i, j);
            TRY(ow_resnet_load(L, &d->resnets[j], name, j == 0 ? d->in_channels : d->out_channels, d->out_channels, E,
                               groups, eps));
        }
        if (d->has_attention) {
            ow_key_format(name, sizeof name, "down_blocks.%d", i);
            TRY(load_transformers(L, &d->attentions, name, d->num_layers, d->out_channels, cfg->attention_heads[i],
                                  cfg->transformer_layers_per_block[i], cfg));
        }
        if (d->has_downsample) {
            ow_key_format(name, sizeof name, "down_blocks.%d.downsamplers.0.conv", i);
            TRY(ow_load_conv(L, &d->downsampler, name, d->out_channels, d->out_channels, 3));
        }
    }

    const int Cmid = cfg->block_out_channels[n - 1];
    if (cfg->has_mid_block) {
        TRY(ow_resnet_load(L, &u->mid_resnets[0], "mid_block.resnets.0", Cmid, Cmid, E, groups, eps));
        TRY(ow_transformer2d_load(L, &u->mid_attention, "mid_block.attentions.0", Cmid, cfg->attention_heads[n - 1],
                                  cfg->transformer_layers_per_block[n - 1], cfg->cross_attention_dim, groups));
        TRY(ow_resnet_load(L, &u->mid_resnets[1], "mid_block.resnets.1", Cmid, Cmid, E, groups, eps));
    }

    /* up blocks walk the down blocks' lists reversed; resnet j's input is the
     * previous output concatenated with the matching skip from the down path */
    int prev_out = Cmid;
    for (int i = 0; i < n; i++) {
        const int k = n - 1 - i; /* the down block this up block mirrors */
        ow_unet_up_block *up = &u->up_blocks[i];
        const int out_ch = cfg->block_out_channels[k];
        const int in_ch = cfg->block_out_channels[k > 0 ? k - 1 : 0];
        up->out_channels = out_ch;
        up->has_attention = cfg->up_cross_attention[i];
        up->has_upsample = i < n - 1;
        up->resnets = calloc((size_t)cfg->layers_per_block[k] + 1, sizeof *up->resnets);
        if (!up->resnets) return ow_error_set(L->err, OW_ERR_OUT_OF_MEMORY, "out of memory loading the unet");
        up->num_layers = cfg->layers_per_block[k] + 1;
        for (int j = 0; j < up->num_layers; j++) {
            const int skip = j == up->num_layers - 1 ? in_ch : out_ch;
            const int res_in = j == 0 ? prev_out : out_ch;
            ow_key_format(name, sizeof name, "up_blocks.%d.resnets.%d", i, j);
            TRY(ow_resnet_load(L, &up->resnets[j], name, res_in + skip, out_ch, E, groups, eps));
        }
        if (up->has_attention) {
            ow_key_format(name, sizeof name, "up_blocks.%d", i);
            TRY(load_transformers(L, &up->attentions, name, up->num_layers, out_ch, cfg->attention_heads[k],
                                  cfg->transformer_layers_per_block[k], cfg));
        }
        if (up->has_upsample) {
            ow_key_format(name, sizeof name, "up_blocks.%d.upsamplers.0.conv", i);
            TRY(ow_load_conv(L, &up->upsampler, name, out_ch, out_ch, 3));
        }
        prev_out = out_ch;
    }

    TRY(ow_load_norm(L, &u->conv_norm_out, "conv_norm_out", C0));
    TRY(ow_load_conv(L, &u->conv_out, "conv_out", C0, cfg->out_channels, 3));
#undef TRY
    return OW_OK;
}

ow_status ow_unet_load(ow_unet **out, const ow_unet_config *cfg, const ow_weights *w, ow_backend *b, ow_error *err) {
    *out = NULL;
    ow_status s = ow_unet_config_validate(cfg, err);
    if (s != OW_OK) return s;
    ow_unet *u = calloc(1, sizeof *u);
    if (!u) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory loading the unet");
    u->config = *cfg;
    u->backend = b;
    ow_weights named = *w;
    if (!named.what) named.what = "unet";
    ow_loader L = {.weights = &named, .backend = b, .err = err};
    s = unet_load_weights(u, &L);
    if (s != OW_OK) {
        ow_unet_free(u);
        return s;
    }
    *out = u;
    return OW_OK;
}

static void free_transformers(ow_backend *b, ow_transformer2d *t, int count) {
    if (!t) return;
    for (int j = 0; j < count; j++) ow_transformer2d_free(b, &t[j]);
    free(t);
}

void ow_unet_free(ow_unet *u) {
    if (!u) return;
    ow_backend *b = u->backend;
    ow_linear_free(b, &u->time_linear_1);
    ow_linear_free(b, &u->time_linear_2);
    ow_conv_free(b, &u->conv_in);
    for (int i = 0; i < OW_UNET_MAX_BLOCKS; i++) {
        ow_unet_down_block *d = &u->down_blocks[i];
        if (d->resnets)
            for (int j = 0; j < d->num_layers; j++) ow_resnet_free(b, &d->resnets[j]);
        free(d->resnets);
        free_transformers(b, d->attentions, d->num_layers);
        ow_conv_free(b, &d->downsampler);
        ow_unet_up_block *up = &u->up_blocks[i];
        if (up->resnets)
            for (int j = 0; j < up->num_layers; j++) ow_resnet_free(b, &up->resnets[j]);
        free(up->resnets);
        free_transformers(b, up->attentions, up->num_layers);
        ow_conv_free(b, &up->upsampler);
    }
    ow_resnet_free(b, &u->mid_resnets[0]);
    ow_transformer2d_free(b, &u->mid_attention);
    ow_resnet_free(b, &u->mid_resnets[1]);
    ow_norm_free(b, &u->conv_norm_out);
    ow_conv_free(b, &u->conv_out);
    ow_unet_clear_context(u);
    free(u);
}

/* ---------------------------------------------------------------- forward */

void ow_timestep_embedding(float *out, const float *timesteps, int B, int dim, int flip_sin_to_cos, float freq_shift) {
    /* torch's float32 order: exponent = (-ln 10000 * i) / (half - shift), freq = exp(exponent),
     * arg = t * freq, all rounded to f32 at each step; exp/sin/cos are evaluated in
     * double and rounded (correctly rounded f32). torch's own f32 exp (MKL or Sleef,
     * depending on the build) is off by one ulp for about 1% of arguments, so the
     * two agree to t * 2^-24 (6e-5 at t = 999; 1e-7 for t <= 1). */
    const int half = dim / 2;
    const float neg_log_period = (float)(-log(10000.0));
    const float divisor = (float)half - freq_shift;
    for (int bi = 0; bi < B; bi++) {
        float *row = out + (size_t)bi * dim;
        for (int i = 0; i < half; i++) {
            float exponent = (neg_log_period * (float)i) / divisor;
            float freq = (float)exp((double)exponent);
            float arg = timesteps[bi] * freq;
            float s = (float)sin((double)arg), c = (float)cos((double)arg);
            row[i] = flip_sin_to_cos ? c : s;
            row[half + i] = flip_sin_to_cos ? s : c;
        }
        if (dim % 2) row[dim - 1] = 0.0f;
    }
}

/* The transformers in forward order (down blocks, mid block, up blocks); *count of them.
 * NULL when out of memory. */
static const ow_transformer2d **unet_transformers(const ow_unet *u, int *count) {
    const int n = u->config.num_blocks;
    int total = u->config.has_mid_block;
    for (int i = 0; i < n; i++) {
        if (u->down_blocks[i].has_attention) total += u->down_blocks[i].num_layers;
        if (u->up_blocks[i].has_attention) total += u->up_blocks[i].num_layers;
    }
    const ow_transformer2d **list = malloc((size_t)(total ? total : 1) * sizeof *list);
    if (!list) return NULL;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (u->down_blocks[i].has_attention)
            for (int j = 0; j < u->down_blocks[i].num_layers; j++) list[k++] = &u->down_blocks[i].attentions[j];
    if (u->config.has_mid_block) list[k++] = &u->mid_attention;
    for (int i = 0; i < n; i++)
        if (u->up_blocks[i].has_attention)
            for (int j = 0; j < u->up_blocks[i].num_layers; j++) list[k++] = &u->up_blocks[i].attentions[j];
    *count = k;
    return list;
}

void ow_unet_clear_context(ow_unet *u) {
    if (u->kv_cache) u->backend->free(u->backend, u->kv_cache);
    u->kv_cache = NULL;
    u->kv_context = NULL;
    u->kv_B = u->kv_T = 0;
}

ow_status ow_unet_set_context(ow_unet *u, ow_backend *b, const float *context, int B, int T, ow_error *err) {
    if (b != u->backend)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unet: context set with another backend than its weights live on");
    ow_unet_clear_context(u);
    if (!context || B < 1 || T < 1) return OW_OK;
    int count = 0;
    const ow_transformer2d **list = unet_transformers(u, &count);
    if (!list) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "unet: out of memory");
    size_t total = 0;
    for (int i = 0; i < count; i++) total += ow_transformer2d_cross_kv_floats(list[i], B, T);
    float *kv = total ? b->alloc(b, total) : NULL;
    if (kv) {
        size_t at = 0;
        for (int i = 0; i < count; i++) {
            ow_transformer2d_cross_kv(b, list[i], context, B, T, kv + at);
            at += ow_transformer2d_cross_kv_floats(list[i], B, T);
        }
        u->kv_cache = kv;
        u->kv_context = context;
        u->kv_B = B;
        u->kv_T = T;
    }
    free(list);
    return OW_OK;
}

/* The cached keys/values of transformer t (in forward order) and the offset of the next. */
static const float *cross_kv_at(const ow_unet *u, int use, const ow_transformer2d *t, int B, int T, size_t *at) {
    if (!use) return NULL;
    const float *kv = u->kv_cache + *at;
    *at += ow_transformer2d_cross_kv_floats(t, B, T);
    return kv;
}

ow_status ow_unet_time_embedding(const ow_unet *u, ow_run *run, const float *timesteps, int B, int *rows_out,
                                 float **temb_out) {
    const ow_unet_config *cfg = &u->config;
    ow_backend *b = run->backend;
    const int C0 = cfg->block_out_channels[0], E = cfg->time_embed_dim;
    *temb_out = NULL;
    int rows = 1;
    for (int i = 1; i < B; i++)
        if (timesteps[i] != timesteps[0]) rows = B;
    *rows_out = rows;
    float *host = malloc((size_t)rows * C0 * sizeof *host);
    if (!host) return ow_error_set(run->err, OW_ERR_OUT_OF_MEMORY, "unet: out of memory");
    ow_timestep_embedding(host, timesteps, rows, C0, cfg->flip_sin_to_cos, cfg->freq_shift);
    float *sinusoid = ow_run_alloc(run, (size_t)rows * C0);
    if (!sinusoid) { free(host); return run->err->status; }
    b->upload(b, sinusoid, host, (size_t)rows * C0);
    free(host);
    float *hidden = ow_run_alloc(run, (size_t)rows * E);
    if (!hidden) return run->err->status;
    b->linear(b, hidden, sinusoid, &u->time_linear_1.weight, u->time_linear_1.bias.data, rows, E, C0);
    ow_run_free(run, sinusoid);
    b->silu(b, hidden, hidden, (size_t)rows * E);
    float *temb = ow_run_alloc(run, (size_t)rows * E);
    if (!temb) return run->err->status;
    b->linear(b, temb, hidden, &u->time_linear_2.weight, u->time_linear_2.bias.data, rows, E, E);
    ow_run_free(run, hidden);
    b->silu(b, temb, temb, (size_t)rows * E);
    *temb_out = temb;
    return OW_OK;
}

typedef struct skip_entry {
    float *data; /* owned by the stack until popped */
    int channels, H, W;
} skip_entry;

ow_status ow_unet_forward(ow_unet *u, ow_backend *b, const float *sample, int B, int H, int W,
                          const float *timesteps, const float *context, int T, float *out, ow_error *err) {
    const ow_unet_config *cfg = &u->config;
    const int n = cfg->num_blocks, C0 = cfg->block_out_channels[0];
    if (b != u->backend)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "unet forward: called with another backend than its weights live on");
    const int factor = 1 << (n - 1);
    if (B < 1 || T < 1 || H < 1 || W < 1 || H % factor || W % factor)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "unet forward: latent %dx%d (batch %d, %d context tokens) must be a positive multiple of %d "
                            "(image sizes a multiple of %d pixels)",
                            H, W, B, T, factor, factor * 8);

    int max_skips = 1 + n;
    for (int i = 0; i < n; i++) max_skips += cfg->layers_per_block[i];
    skip_entry *skips = calloc((size_t)max_skips, sizeof *skips);
    if (!skips) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "unet forward: out of memory");
    int nskips = 0;

    ow_run run;
    ow_run_begin(&run, b, err);
    ow_status s = OW_OK;
    float *cur = NULL;
    int cur_owned = 0;
#define TRY(expr) do { if ((s = (expr)) != OW_OK) goto done; } while (0)
#define ALLOC(var, count) do { if (!((var) = ow_run_alloc(&run, (size_t)(count)))) { s = run.err->status; goto done; } } while (0)

    /* cross-attention keys/values: those of ow_unet_set_context when this is its context */
    const int kv_set = u->kv_cache && context == u->kv_context && B == u->kv_B && T == u->kv_T;
    size_t kv_at = 0;

    int rows;
    float *temb;
    TRY(ow_unet_time_embedding(u, &run, timesteps, B, &rows, &temb));

    /* conv_in: (B, C0, H, W) */
    int C = C0, h = H, w = W;
    TRY(ow_conv_forward(&run, &u->conv_in, sample, B, H, W, &cur));
    skips[nskips++] = (skip_entry){cur, C, h, w};

    /* down path: every resnet (+ transformer) output and every downsample is a skip */
    for (int i = 0; i < n; i++) {
        const ow_unet_down_block *d = &u->down_blocks[i];
        for (int j = 0; j < d->num_layers; j++) {
            float *r;
            TRY(ow_resnet_forward_temb(&run, &d->resnets[j], cur, temb, rows, B, h, w, &r));
            if (d->has_attention) {
                float *t;
                TRY(ow_transformer2d_forward_kv(&run, &d->attentions[j], r, context,
                                                cross_kv_at(u, kv_set, &d->attentions[j], B, T, &kv_at), B, h, w, T, &t));
                ow_run_free(&run, r);
                r = t;
            }
            C = d->out_channels;
            cur = r;
            skips[nskips++] = (skip_entry){cur, C, h, w};
        }
        if (d->has_downsample) {
            float *down;
            int ho, wo;
            TRY(ow_downsample_forward(&run, &d->downsampler, cur, B, h, w, cfg->downsample_padding, &down, &ho, &wo));
            h = ho;
            w = wo;
            cur = down;
            skips[nskips++] = (skip_entry){cur, C, h, w};
        }
    }

    /* mid block: resnet, transformer, resnet */
    if (cfg->has_mid_block) {
        float *m, *t;
        TRY(ow_resnet_forward_temb(&run, &u->mid_resnets[0], cur, temb, rows, B, h, w, &m));
        TRY(ow_transformer2d_forward_kv(&run, &u->mid_attention, m, context, cross_kv_at(u, kv_set, &u->mid_attention, B, T, &kv_at),
                                        B, h, w, T, &t));
        ow_run_free(&run, m);
        TRY(ow_resnet_forward_temb(&run, &u->mid_resnets[1], t, temb, rows, B, h, w, &m));
        ow_run_free(&run, t);
        cur = m;
        cur_owned = 1;
    }

    /* up path: cat([hidden, skip], channels) into each resnet, skips taken last-in first-out */
    for (int i = 0; i < n; i++) {
        const ow_unet_up_block *up = &u->up_blocks[i];
        for (int j = 0; j < up->num_layers; j++) {
            if (nskips == 0) { s = ow_error_set(err, OW_ERR_FORMAT, "unet forward: skip connections ran out"); goto done; }
            skip_entry sk = skips[--nskips];
            skips[nskips].data = NULL;
            if (sk.H != h || sk.W != w || C + sk.channels != up->resnets[j].in_channels) {
                ow_run_free(&run, sk.data);
                s = ow_error_set(err, OW_ERR_FORMAT, "unet forward: skip (%d, %d, %d) does not fit up block %d resnet %d",
                                 sk.channels, sk.H, sk.W, i, j);
                goto done;
            }
            float *cat;
            ALLOC(cat, (size_t)B * (C + sk.channels) * h * w);
            b->concat_channels(b, cat, cur, sk.data, B, C, sk.channels, h * w);
            if (cur_owned) ow_run_free(&run, cur);
            ow_run_free(&run, sk.data);
            cur = NULL;
            float *r;
            TRY(ow_resnet_forward_temb(&run, &up->resnets[j], cat, temb, rows, B, h, w, &r));
            ow_run_free(&run, cat);
            if (up->has_attention) {
                float *t;
                TRY(ow_transformer2d_forward_kv(&run, &up->attentions[j], r, context,
                                                cross_kv_at(u, kv_set, &up->attentions[j], B, T, &kv_at), B, h, w, T, &t));
                ow_run_free(&run, r);
                r = t;
            }
            cur = r;
            cur_owned = 1;
            C = up->out_channels;
        }
        if (up->has_upsample) {
            float *upsampled;
            TRY(ow_upsample_forward(&run, &up->upsampler, cur, B, h, w, &upsampled));
            ow_run_free(&run, cur);
            cur = upsampled;
            h *= 2;
            w *= 2;
        }
    }
    if (nskips != 0 || h != H || w != W) {
        s = ow_error_set(err, OW_ERR_FORMAT, "unet forward: %d skips left, output %dx%d", nskips, h, w);
        goto done;
    }

    /* out = conv_out(silu(conv_norm_out(hidden))) */
    {
        float *normed;
        ALLOC(normed, (size_t)B * C0 * H * W);
        b->group_norm(b, normed, cur, u->conv_norm_out.weight.data, u->conv_norm_out.bias.data, B, C0, H * W,
                      cfg->norm_num_groups, cfg->norm_eps, 1);
        ow_run_free(&run, cur);
        cur = NULL;
        b->conv2d(b, out, normed, &u->conv_out.weight, u->conv_out.bias.data, B, C0, H, W, cfg->out_channels, 3, 3,
                  1, 1);
        ow_run_free(&run, normed);
    }
    ow_run_free(&run, temb);
#undef TRY
#undef ALLOC
done:
    u->last_peak_floats = run.peak_floats;
    ow_run_end(&run); /* frees whatever a failure left behind (skips included) */
    free(skips);
    return s;
}
