/* unet.h: the Stable Diffusion 1.x / 2.x denoiser, diffusers' UNet2DConditionModel:
 * its configuration (read from config.json or filled in from tensor shapes by the
 * single-file loader), weights looked up by diffusers key names, and the forward pass
 * eps = unet(sample, timestep, context) over the backend interface. */
#ifndef OW_MODEL_UNET_H
#define OW_MODEL_UNET_H

#include <json-c/json.h>

#include "backend/backend.h"
#include "model/blocks.h"
#include "model/weights.h"
#include "oneword.h"

#define OW_UNET_MAX_BLOCKS 8

/* Everything the forward pass needs to know. Fields follow diffusers' config keys;
 * lists are per down block (index 0 = the highest resolution); up blocks use them
 * reversed, as diffusers does. */
typedef struct ow_unet_config {
    int in_channels;                                  /* 4 */
    int out_channels;                                 /* 4 */
    int sample_size;                                  /* latent size the model was trained at (64 for SD 1.x) */
    int num_blocks;                                   /* len(block_out_channels) */
    int block_out_channels[OW_UNET_MAX_BLOCKS];       /* (320, 640, 1280, 1280) */
    int down_cross_attention[OW_UNET_MAX_BLOCKS];     /* CrossAttnDownBlock2D (1) or DownBlock2D (0) */
    int up_cross_attention[OW_UNET_MAX_BLOCKS];       /* in up order: CrossAttnUpBlock2D (1) or UpBlock2D (0) */
    int layers_per_block[OW_UNET_MAX_BLOCKS];         /* resnets per down block (up blocks have one more) */
    int attention_heads[OW_UNET_MAX_BLOCKS];          /* heads per block: SD 1.x's "attention_head_dim" (8) */
    int transformer_layers_per_block[OW_UNET_MAX_BLOCKS]; /* 1 */
    int cross_attention_dim;                          /* 768 (SD 1.x), 1024 (SD 2.x) */
    int norm_num_groups;                              /* 32 */
    float norm_eps;                                   /* 1e-5 (resnets and conv_norm_out) */
    int flip_sin_to_cos;                              /* 1 */
    float freq_shift;                                 /* 0 */
    int time_embed_dim;                               /* block_out_channels[0] * 4 unless time_embedding_dim */
    int downsample_padding;                           /* 1 */
    int has_mid_block;                                /* mid_block_type UNetMidBlock2DCrossAttn (1) or null (0) */
    int use_linear_projection;                        /* informational: the stored proj_in shape decides */
    int upcast_attention;                             /* informational: attention is computed in f32 */
} ow_unet_config;

/* diffusers' defaults for UNet2DConditionModel (the SD 1.x layout). */
void ow_unet_config_default(ow_unet_config *cfg);
/* Reads a diffusers unet/config.json; absent keys keep diffusers' defaults, values
 * we do not implement are refused with OW_ERR_UNSUPPORTED naming the key. */
ow_status ow_unet_config_from_json(ow_unet_config *cfg, json_object *config, ow_error *err);
ow_status ow_unet_config_load(ow_unet_config *cfg, const char *config_json_path, ow_error *err);
/* Checks the numbers are usable (e.g. after filling the struct from tensor shapes). */
ow_status ow_unet_config_validate(const ow_unet_config *cfg, ow_error *err);

typedef struct ow_unet_down_block {
    int in_channels, out_channels, num_layers, has_attention, has_downsample;
    ow_resnet_block *resnets;     /* num_layers */
    ow_transformer2d *attentions; /* num_layers when has_attention */
    ow_conv downsampler;          /* downsamplers.0.conv: (C_out, C_out, 3, 3) */
} ow_unet_down_block;

typedef struct ow_unet_up_block {
    int out_channels, num_layers, has_attention, has_upsample;
    ow_resnet_block *resnets;     /* num_layers (= layers_per_block + 1), inputs concatenated with skips */
    ow_transformer2d *attentions; /* num_layers when has_attention */
    ow_conv upsampler;            /* upsamplers.0.conv: (C_out, C_out, 3, 3) */
} ow_unet_up_block;

typedef struct ow_unet {
    ow_unet_config config;
    ow_backend *backend;           /* the backend holding the weights */
    ow_linear time_linear_1;       /* time_embedding.linear_1: (E, C0) */
    ow_linear time_linear_2;       /* time_embedding.linear_2: (E, E) */
    ow_conv conv_in;               /* (C0, in_channels, 3, 3) */
    ow_unet_down_block down_blocks[OW_UNET_MAX_BLOCKS];
    ow_resnet_block mid_resnets[2];
    ow_transformer2d mid_attention;
    ow_unet_up_block up_blocks[OW_UNET_MAX_BLOCKS];
    ow_norm conv_norm_out;         /* (C0) */
    ow_conv conv_out;              /* (out_channels, C0, 3, 3) */
    size_t last_peak_floats;       /* activation peak of the last forward pass (floats) */
    /* Cross-attention keys and values of the context set by ow_unet_set_context: a
     * sampler passes the same context at every step, so they are computed once. Owned;
     * freed by ow_unet_clear_context and ow_unet_free. */
    float *kv_cache;               /* backend memory, every transformer's (layers, 2, B, T, inner) in forward order */
    const float *kv_context;       /* the context buffer (kv_B, kv_T, cross_attention_dim) they belong to */
    int kv_B, kv_T;
} ow_unet;

/* Loads every weight into backend memory (f32). The unet keeps b for ow_unet_free. */
ow_status ow_unet_load(ow_unet **out, const ow_unet_config *cfg, const ow_weights *w, ow_backend *b, ow_error *err);
void ow_unet_free(ow_unet *unet);

/* diffusers' get_timestep_embedding in f32: out (B, dim) host memory,
 * [cos | sin] when flip_sin_to_cos, frequencies exp(-ln(10000) i / (dim/2 - shift)),
 * a zero last column when dim is odd. Same f32 operation order as torch; see unet.c
 * for the one-ulp exp caveat. */
void ow_timestep_embedding(float *out, const float *timesteps, int B, int dim, int flip_sin_to_cos, float freq_shift);

/* The time embedding every resnet reads: *temb (rows, E) = silu(linear_2(silu(linear_1(
 * sinusoid(t))))), allocated through run; silu is applied once here because every
 * resnet applies it first. *rows is 1 when every item has the same timestep (guided
 * sampling: the resnets then fold it into a bias), B otherwise. */
ow_status ow_unet_time_embedding(const ow_unet *unet, ow_run *run, const float *timesteps, int B, int *rows,
                                 float **temb);

/* Computes the cross-attention keys/values of context (B, T, cross_attention_dim;
 * backend memory) once, for the ow_unet_forward calls that pass this same buffer until
 * ow_unet_clear_context: its contents must not change in between (a sampler's context
 * is fixed for its whole loop). Nothing is read back to the host, so a device backend
 * keeps the loop on the device. When the keys/values cannot be allocated nothing is
 * kept and each call computes its own (the same values). */
ow_status ow_unet_set_context(ow_unet *unet, ow_backend *b, const float *context, int B, int T, ow_error *err);
/* Forgets the context (before its buffer is freed or reused) and frees its keys/values. */
void ow_unet_clear_context(ow_unet *unet);

/* out (B, out_channels, H, W) = unet(sample (B, in_channels, H, W), timesteps[B] (host),
 * context (B, T, cross_attention_dim)). sample, context and out are backend memory
 * (out preallocated). H and W must be multiples of 2^(num_blocks-1). Uses the keys and
 * values of ow_unet_set_context when context is that buffer (same B and T), so calls on
 * one unet must not run concurrently. */
ow_status ow_unet_forward(ow_unet *unet, ow_backend *b, const float *sample, int B, int H, int W,
                          const float *timesteps, const float *context, int T, float *out, ow_error *err);

#endif
