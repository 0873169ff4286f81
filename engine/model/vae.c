/* vae.c: AutoencoderKL (Stable Diffusion's VAE): config.json parsing with
 * diffusers' defaults, weight loading by diffusers key names, decoder and encoder. */
#include "model/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_config.h"

#define WHAT "vae config"
#define VAE_EPS 1e-6f /* every GroupNorm in the VAE */

/* ---------------------------------------------------------------- config */

void ow_vae_config_default(ow_vae_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    static const int channels[4] = {128, 256, 512, 512};
    cfg->in_channels = 3;
    cfg->out_channels = 3;
    cfg->latent_channels = 4;
    cfg->num_blocks = 4;
    for (int i = 0; i < 4; i++) cfg->block_out_channels[i] = channels[i];
    cfg->layers_per_block = 2;
    cfg->norm_num_groups = 32;
    cfg->sample_size = 512;
    cfg->scaling_factor = 0.18215f;
    cfg->use_quant_conv = 1;
    cfg->use_post_quant_conv = 1;
    cfg->mid_block_add_attention = 1;
}

static ow_status check_block_types(json_object *config, const char *key, const char *want, int n, ow_error *err) {
    char types[OW_VAE_MAX_BLOCKS][64];
    int count = -1;
    ow_status s = ow_config_string_list(config, WHAT, key, OW_VAE_MAX_BLOCKS, sizeof types[0], &types[0][0], &count, err);
    if (s != OW_OK) return s;
    if (count < 0) return OW_OK; /* absent: diffusers builds one per block_out_channels entry */
    if (count != n)
        return ow_error_set(err, OW_ERR_FORMAT, "%s: '%s' has %d entries but 'block_out_channels' has %d", WHAT, key,
                            count, n);
    for (int i = 0; i < n; i++)
        if (strcmp(types[i], want) != 0)
            return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '%s' entry %d is \"%s\"; only \"%s\" is supported", WHAT,
                                key, i, types[i], want);
    return OW_OK;
}

ow_status ow_vae_config_from_json(ow_vae_config *cfg, json_object *config, ow_error *err) {
    ow_status s;
    ow_vae_config_default(cfg);
#define TRY(expr) do { if ((s = (expr)) != OW_OK) return s; } while (0)
    char text[128] = "";
    TRY(ow_config_string(config, WHAT, "_class_name", text, sizeof text, err));
    if (text[0] && strcmp(text, "AutoencoderKL") != 0)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: '_class_name' is \"%s\"; expected \"AutoencoderKL\"", WHAT, text);
    strcpy(text, "silu");
    TRY(ow_config_string(config, WHAT, "act_fn", text, sizeof text, err));
    if (strcmp(text, "silu") != 0)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: 'act_fn' is \"%s\"; only \"silu\" is supported", WHAT, text);
    TRY(ow_config_require_null(config, WHAT, "shift_factor", "a Stable Diffusion 3 / Flux autoencoder, not SD 1.x", err));
    TRY(ow_config_require_null(config, WHAT, "latents_mean", "not a Stable Diffusion 1.x autoencoder", err));
    TRY(ow_config_require_null(config, WHAT, "latents_std", "not a Stable Diffusion 1.x autoencoder", err));

    TRY(ow_config_int(config, WHAT, "in_channels", &cfg->in_channels, err));
    TRY(ow_config_int(config, WHAT, "out_channels", &cfg->out_channels, err));
    TRY(ow_config_int(config, WHAT, "latent_channels", &cfg->latent_channels, err));
    /* diffusers' AutoencoderKL default is one block of 64 channels */
    if (!ow_config_get(config, "block_out_channels")) {
        cfg->num_blocks = 1;
        cfg->block_out_channels[0] = 64;
    }
    TRY(ow_config_int_list(config, WHAT, "block_out_channels", OW_VAE_MAX_BLOCKS, cfg->block_out_channels,
                           &cfg->num_blocks, err));
    TRY(check_block_types(config, "down_block_types", "DownEncoderBlock2D", cfg->num_blocks, err));
    TRY(check_block_types(config, "up_block_types", "UpDecoderBlock2D", cfg->num_blocks, err));
    cfg->layers_per_block = 1; /* diffusers' default */
    json_object *layers = ow_config_get(config, "layers_per_block");
    if (layers && json_object_is_type(layers, json_type_array))
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: 'layers_per_block' is a list; only one number is supported", WHAT);
    TRY(ow_config_int(config, WHAT, "layers_per_block", &cfg->layers_per_block, err));
    TRY(ow_config_int(config, WHAT, "norm_num_groups", &cfg->norm_num_groups, err));
    cfg->sample_size = 32; /* diffusers' default */
    json_object *size = ow_config_get(config, "sample_size");
    if (size && json_object_is_type(size, json_type_array) && json_object_array_length(size) > 0) {
        cfg->sample_size = json_object_get_int(json_object_array_get_idx(size, 0));
    } else {
        TRY(ow_config_int(config, WHAT, "sample_size", &cfg->sample_size, err));
    }
    TRY(ow_config_float(config, WHAT, "scaling_factor", &cfg->scaling_factor, err));
    TRY(ow_config_bool(config, WHAT, "use_quant_conv", &cfg->use_quant_conv, err));
    TRY(ow_config_bool(config, WHAT, "use_post_quant_conv", &cfg->use_post_quant_conv, err));
    TRY(ow_config_bool(config, WHAT, "mid_block_add_attention", &cfg->mid_block_add_attention, err));
    /* force_upcast: we compute in f32 anyway. */
#undef TRY
    return ow_vae_config_validate(cfg, err);
}

ow_status ow_vae_config_load(ow_vae_config *cfg, const char *config_json_path, ow_error *err) {
    json_object *config;
    ow_status s = ow_config_read_file(config_json_path, &config, err);
    if (s != OW_OK) return s;
    s = ow_vae_config_from_json(cfg, config, err);
    json_object_put(config);
    if (s != OW_OK) return ow_error_prefix(err, "%s", config_json_path);
    return OW_OK;
}

ow_status ow_vae_config_validate(const ow_vae_config *cfg, ow_error *err) {
    if (cfg->num_blocks < 1 || cfg->num_blocks > OW_VAE_MAX_BLOCKS)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s: %d blocks; 1 to %d are supported", WHAT, cfg->num_blocks,
                            OW_VAE_MAX_BLOCKS);
    if (cfg->in_channels < 1 || cfg->out_channels < 1 || cfg->latent_channels < 1 || cfg->layers_per_block < 1 ||
        cfg->layers_per_block > 64 || cfg->norm_num_groups < 1 || !(cfg->scaling_factor > 0.0f))
        return ow_error_set(err, OW_ERR_FORMAT,
                            "%s: a size is not positive (in %d, out %d, latent %d, layers %d, groups %d, scaling %g)", WHAT,
                            cfg->in_channels, cfg->out_channels, cfg->latent_channels, cfg->layers_per_block,
                            cfg->norm_num_groups, cfg->scaling_factor);
    const int max_size = 1 << 16; /* far above SD's 128..512: keeps every shape product in range */
    if (cfg->in_channels > max_size || cfg->out_channels > max_size || cfg->latent_channels > max_size ||
        cfg->norm_num_groups > max_size)
        return ow_error_set(err, OW_ERR_FORMAT, "%s: a size is larger than %d (in %d, out %d, latent %d, groups %d)", WHAT,
                            max_size, cfg->in_channels, cfg->out_channels, cfg->latent_channels, cfg->norm_num_groups);
    for (int i = 0; i < cfg->num_blocks; i++)
        if (cfg->block_out_channels[i] < 1 || cfg->block_out_channels[i] > max_size ||
            cfg->block_out_channels[i] % cfg->norm_num_groups != 0)
            return ow_error_set(err, OW_ERR_FORMAT,
                                "%s: block_out_channels[%d] = %d is not a positive multiple of norm_num_groups %d (at most 65536)", WHAT, i,
                                cfg->block_out_channels[i], cfg->norm_num_groups);
    return OW_OK;
}

int ow_vae_scale_factor(const ow_vae_config *cfg) { return 1 << (cfg->num_blocks - 1); }

/* ---------------------------------------------------------------- loading */

static ow_status load_stack(ow_loader *L, ow_vae_resnet_stack *st, const char *block, int in_channels,
                            int out_channels, int num_layers, int has_resample, const char *resample_key, int groups) {
    st->in_channels = in_channels;
    st->out_channels = out_channels;
    st->has_resample = has_resample;
    st->resnets = calloc((size_t)num_layers, sizeof *st->resnets);
    if (!st->resnets) return ow_error_set(L->err, OW_ERR_OUT_OF_MEMORY, "out of memory loading the vae");
    st->num_layers = num_layers;
    char name[160];
    ow_status s;
    for (int j = 0; j < num_layers; j++) {
        ow_key_format(name, sizeof name, "%s.resnets.%d", block, j);
        s = ow_resnet_load(L, &st->resnets[j], name, j == 0 ? in_channels : out_channels, out_channels, 0, groups,
                           VAE_EPS);
        if (s != OW_OK) return s;
    }
    if (!has_resample) return OW_OK;
    ow_key_format(name, sizeof name, "%s.%s", block, resample_key);
    return ow_load_conv(L, &st->resample, name, out_channels, out_channels, 3);
}

static void free_stack(ow_backend *b, ow_vae_resnet_stack *st) {
    if (st->resnets)
        for (int j = 0; j < st->num_layers; j++) ow_resnet_free(b, &st->resnets[j]);
    free(st->resnets);
    st->resnets = NULL;
    ow_conv_free(b, &st->resample);
}

static ow_status load_mid(ow_loader *L, ow_vae_mid_block *m, const char *block, int channels, int groups,
                          int has_attention) {
    char name[160];
    ow_status s;
    m->has_attention = has_attention;
    ow_key_format(name, sizeof name, "%s.resnets.0", block);
    if ((s = ow_resnet_load(L, &m->resnets[0], name, channels, channels, 0, groups, VAE_EPS)) != OW_OK) return s;
    if (has_attention) {
        ow_key_format(name, sizeof name, "%s.attentions.0", block);
        if ((s = ow_spatial_attention_load(L, &m->attention, name, channels, groups, VAE_EPS)) != OW_OK) return s;
    }
    ow_key_format(name, sizeof name, "%s.resnets.1", block);
    return ow_resnet_load(L, &m->resnets[1], name, channels, channels, 0, groups, VAE_EPS);
}

static void free_mid(ow_backend *b, ow_vae_mid_block *m) {
    ow_resnet_free(b, &m->resnets[0]);
    ow_spatial_attention_free(b, &m->attention);
    ow_resnet_free(b, &m->resnets[1]);
}

static ow_status vae_load_weights(ow_vae *v, ow_loader *L) {
    const ow_vae_config *cfg = &v->config;
    const int n = cfg->num_blocks, C0 = cfg->block_out_channels[0], Clast = cfg->block_out_channels[n - 1];
    const int G = cfg->norm_num_groups, Lc = cfg->latent_channels;
    char name[160];
    ow_status s;
#define TRY(expr) do { if ((s = (expr)) != OW_OK) return s; } while (0)
    if (v->parts & OW_VAE_ENCODER) {
        TRY(ow_load_conv(L, &v->encoder_conv_in, "encoder.conv_in", cfg->in_channels, C0, 3));
        int out_ch = C0;
        for (int i = 0; i < n; i++) {
            int in_ch = out_ch;
            out_ch = cfg->block_out_channels[i];
            ow_key_format(name, sizeof name, "encoder.down_blocks.%d", i);
            TRY(load_stack(L, &v->down_blocks[i], name, in_ch, out_ch, cfg->layers_per_block, i < n - 1,
                           "downsamplers.0.conv", G));
        }
        TRY(load_mid(L, &v->encoder_mid, "encoder.mid_block", Clast, G, cfg->mid_block_add_attention));
        TRY(ow_load_norm(L, &v->encoder_conv_norm_out, "encoder.conv_norm_out", Clast));
        TRY(ow_load_conv(L, &v->encoder_conv_out, "encoder.conv_out", Clast, 2 * Lc, 3));
        if (cfg->use_quant_conv) TRY(ow_load_conv(L, &v->quant_conv, "quant_conv", 2 * Lc, 2 * Lc, 1));
    }
    if (v->parts & OW_VAE_DECODER) {
        if (cfg->use_post_quant_conv) TRY(ow_load_conv(L, &v->post_quant_conv, "post_quant_conv", Lc, Lc, 1));
        TRY(ow_load_conv(L, &v->decoder_conv_in, "decoder.conv_in", Lc, Clast, 3));
        TRY(load_mid(L, &v->decoder_mid, "decoder.mid_block", Clast, G, cfg->mid_block_add_attention));
        int out_ch = Clast;
        for (int i = 0; i < n; i++) {
            int in_ch = out_ch;
            out_ch = cfg->block_out_channels[n - 1 - i];
            ow_key_format(name, sizeof name, "decoder.up_blocks.%d", i);
            TRY(load_stack(L, &v->up_blocks[i], name, in_ch, out_ch, cfg->layers_per_block + 1, i < n - 1,
                           "upsamplers.0.conv", G));
        }
        TRY(ow_load_norm(L, &v->decoder_conv_norm_out, "decoder.conv_norm_out", C0));
        TRY(ow_load_conv(L, &v->decoder_conv_out, "decoder.conv_out", C0, cfg->out_channels, 3));
    }
#undef TRY
    return OW_OK;
}

ow_status ow_vae_load(ow_vae **out, const ow_vae_config *cfg, const ow_weights *w, ow_backend *b, int parts,
                      ow_error *err) {
    *out = NULL;
    ow_status s = ow_vae_config_validate(cfg, err);
    if (s != OW_OK) return s;
    if (parts < 1 || parts > OW_VAE_BOTH)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "vae: parts must be OW_VAE_ENCODER, OW_VAE_DECODER or both");
    ow_vae *v = calloc(1, sizeof *v);
    if (!v) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory loading the vae");
    v->config = *cfg;
    v->backend = b;
    v->parts = parts;
    ow_weights named = *w;
    if (!named.what) named.what = "vae";
    ow_loader L = {.weights = &named, .backend = b, .err = err};
    s = vae_load_weights(v, &L);
    if (s != OW_OK) {
        ow_vae_free(v);
        return s;
    }
    *out = v;
    return OW_OK;
}

void ow_vae_free(ow_vae *v) {
    if (!v) return;
    ow_backend *b = v->backend;
    ow_conv_free(b, &v->encoder_conv_in);
    for (int i = 0; i < OW_VAE_MAX_BLOCKS; i++) {
        free_stack(b, &v->down_blocks[i]);
        free_stack(b, &v->up_blocks[i]);
    }
    free_mid(b, &v->encoder_mid);
    ow_norm_free(b, &v->encoder_conv_norm_out);
    ow_conv_free(b, &v->encoder_conv_out);
    ow_conv_free(b, &v->quant_conv);
    ow_conv_free(b, &v->post_quant_conv);
    ow_conv_free(b, &v->decoder_conv_in);
    free_mid(b, &v->decoder_mid);
    ow_norm_free(b, &v->decoder_conv_norm_out);
    ow_conv_free(b, &v->decoder_conv_out);
    free(v);
}

/* ---------------------------------------------------------------- forward */

/* x (B, C, H, W) -> *out (B, C, H, W): resnet, attention, resnet. */
static ow_status mid_forward(ow_run *run, const ow_vae_mid_block *m, const float *x, int B, int H, int W,
                             float **out) {
    float *h, *a;
    ow_status s = ow_resnet_forward(run, &m->resnets[0], x, NULL, B, H, W, &h);
    if (s != OW_OK) return s;
    if (m->has_attention) {
        if ((s = ow_spatial_attention_forward(run, &m->attention, h, B, H, W, &a)) != OW_OK) return s;
        ow_run_free(run, h);
        h = a;
    }
    s = ow_resnet_forward(run, &m->resnets[1], h, NULL, B, H, W, out);
    ow_run_free(run, h);
    return s;
}

/* out = conv(silu(group_norm(x))) written into out (preallocated or from the run). */
static ow_status norm_silu_conv(ow_run *run, const ow_norm *norm, const ow_conv *conv, int groups, const float *x,
                                int B, int H, int W, float *out) {
    ow_backend *b = run->backend;
    float *normed = ow_run_alloc(run, (size_t)B * norm->channels * H * W);
    if (!normed) return run->err->status;
    b->group_norm(b, normed, x, norm->weight.data, norm->bias.data, B, norm->channels, H * W, groups, VAE_EPS, 1);
    b->conv2d(b, out, normed, &conv->weight, conv->bias.data, B, conv->in, H, W, conv->out, conv->kernel,
              conv->kernel, 1, conv->kernel / 2);
    ow_run_free(run, normed);
    return OW_OK;
}

ow_status ow_vae_decode(ow_vae *v, ow_backend *b, const float *z, int B, int h, int w, float *image, ow_error *err) {
    const ow_vae_config *cfg = &v->config;
    const int n = cfg->num_blocks;
    if (b != v->backend)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "vae decode: called with another backend than its weights live on");
    if (!(v->parts & OW_VAE_DECODER))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "vae decode: the decoder was not loaded");
    if (B < 1 || h < 1 || w < 1)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "vae decode: empty latents (%d, %d, %d)", B, h, w);
    ow_run run;
    ow_run_begin(&run, b, err);
    ow_status s;
    float *cur = NULL, *next;
#define TRY(expr) do { if ((s = (expr)) != OW_OK) goto done; } while (0)
    const float *input = z;
    if (cfg->use_post_quant_conv) {
        TRY(ow_conv_forward(&run, &v->post_quant_conv, z, B, h, w, &next));
        cur = next;
        input = cur;
    }
    TRY(ow_conv_forward(&run, &v->decoder_conv_in, input, B, h, w, &next));
    ow_run_free(&run, cur);
    cur = next;
    TRY(mid_forward(&run, &v->decoder_mid, cur, B, h, w, &next));
    ow_run_free(&run, cur);
    cur = next;
    for (int i = 0; i < n; i++) {
        const ow_vae_resnet_stack *up = &v->up_blocks[i];
        for (int j = 0; j < up->num_layers; j++) {
            TRY(ow_resnet_forward(&run, &up->resnets[j], cur, NULL, B, h, w, &next));
            ow_run_free(&run, cur);
            cur = next;
        }
        if (up->has_resample) {
            TRY(ow_upsample_forward(&run, &up->resample, cur, B, h, w, &next));
            ow_run_free(&run, cur);
            cur = next;
            h *= 2;
            w *= 2;
        }
    }
    TRY(norm_silu_conv(&run, &v->decoder_conv_norm_out, &v->decoder_conv_out, cfg->norm_num_groups, cur, B, h, w,
                       image));
    ow_run_free(&run, cur);
#undef TRY
done:
    v->last_peak_floats = run.peak_floats;
    ow_run_end(&run);
    return s;
}

ow_status ow_vae_encode(ow_vae *v, ow_backend *b, const float *image, int B, int H, int W, float *mean,
                        float *logvar, ow_error *err) {
    const ow_vae_config *cfg = &v->config;
    const int n = cfg->num_blocks, f = ow_vae_scale_factor(cfg), Lc = cfg->latent_channels;
    if (b != v->backend)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "vae encode: called with another backend than its weights live on");
    if (!(v->parts & OW_VAE_ENCODER))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "vae encode: the encoder was not loaded");
    if (B < 1 || H < 1 || W < 1 || H % f || W % f)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "vae encode: image %dx%d (batch %d) must be a positive multiple of %d pixels", W, H, B, f);
    ow_run run;
    ow_run_begin(&run, b, err);
    ow_status s;
    float *cur = NULL, *next;
    int h = H, w = W;
#define TRY(expr) do { if ((s = (expr)) != OW_OK) goto done; } while (0)
    TRY(ow_conv_forward(&run, &v->encoder_conv_in, image, B, h, w, &cur));
    for (int i = 0; i < n; i++) {
        const ow_vae_resnet_stack *d = &v->down_blocks[i];
        for (int j = 0; j < d->num_layers; j++) {
            TRY(ow_resnet_forward(&run, &d->resnets[j], cur, NULL, B, h, w, &next));
            ow_run_free(&run, cur);
            cur = next;
        }
        if (d->has_resample) {
            int ho, wo;
            /* diffusers pads (0, 1, 0, 1) and convolves with stride 2 and no padding */
            TRY(ow_downsample_forward(&run, &d->resample, cur, B, h, w, -1, &next, &ho, &wo));
            ow_run_free(&run, cur);
            cur = next;
            h = ho;
            w = wo;
        }
    }
    TRY(mid_forward(&run, &v->encoder_mid, cur, B, h, w, &next));
    ow_run_free(&run, cur);
    cur = next;

    /* moments (B, 2L, h, w) = quant_conv(conv_out(silu(norm(x)))) */
    const size_t plane = (size_t)Lc * h * w;
    float *moments = ow_run_alloc(&run, (size_t)B * 2 * plane);
    if (!moments) { s = run.err->status; goto done; }
    TRY(norm_silu_conv(&run, &v->encoder_conv_norm_out, &v->encoder_conv_out, cfg->norm_num_groups, cur, B, h, w,
                       moments));
    ow_run_free(&run, cur);
    cur = NULL;
    if (cfg->use_quant_conv) {
        TRY(ow_conv_forward(&run, &v->quant_conv, moments, B, h, w, &next));
        ow_run_free(&run, moments);
        moments = next;
    }

    /* mean, logvar = moments.chunk(2, dim=1); logvar clamped to [-30, 20] (small: on the host) */
    for (int bi = 0; bi < B; bi++) {
        b->copy(b, mean + bi * plane, moments + (size_t)bi * 2 * plane, plane);
        if (logvar) b->copy(b, logvar + bi * plane, moments + (size_t)bi * 2 * plane + plane, plane);
    }
    ow_run_free(&run, moments);
    if (logvar) {
        const size_t total = (size_t)B * plane;
        float *host = malloc(total * sizeof *host);
        if (!host) { s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "vae encode: out of memory"); goto done; }
        b->download(b, host, logvar, total);
        for (size_t i = 0; i < total; i++) host[i] = host[i] < -30.0f ? -30.0f : host[i] > 20.0f ? 20.0f : host[i];
        b->upload(b, logvar, host, total);
        free(host);
    }
#undef TRY
done:
    v->last_peak_floats = run.peak_floats;
    ow_run_end(&run);
    return s;
}
