/* vae.h: the Stable Diffusion image autoencoder, diffusers' AutoencoderKL: its
 * configuration, weights by diffusers key names ("encoder.*", "decoder.*",
 * "quant_conv", "post_quant_conv"), the decoder (latents -> image) and the encoder
 * (image -> mean and log-variance of the latent distribution).
 *
 * Scaling: these functions are the raw autoencoder, exactly diffusers'
 * vae.decode(z) and vae.encode(x).latent_dist. The pipeline divides latents by
 * config.scaling_factor before ow_vae_decode, and multiplies the encoder's mean
 * by scaling_factor to get diffusion latents. */
#ifndef OW_MODEL_VAE_H
#define OW_MODEL_VAE_H

#include <json-c/json.h>

#include "backend/backend.h"
#include "model/blocks.h"
#include "model/weights.h"
#include "oneword.h"

#define OW_VAE_MAX_BLOCKS 8

typedef struct ow_vae_config {
    int in_channels;                            /* 3 */
    int out_channels;                           /* 3 */
    int latent_channels;                        /* 4 */
    int num_blocks;                             /* len(block_out_channels); the size factor is 2^(num_blocks-1) */
    int block_out_channels[OW_VAE_MAX_BLOCKS];  /* (128, 256, 512, 512) for SD */
    int layers_per_block;                       /* 2 (the decoder's up blocks have one more) */
    int norm_num_groups;                        /* 32 */
    int sample_size;                            /* 512 (informational) */
    float scaling_factor;                       /* 0.18215 */
    int use_quant_conv;                         /* 1 */
    int use_post_quant_conv;                    /* 1 */
    int mid_block_add_attention;                /* 1 */
} ow_vae_config;

/* diffusers' defaults for AutoencoderKL, with SD's block layout. */
void ow_vae_config_default(ow_vae_config *cfg);
ow_status ow_vae_config_from_json(ow_vae_config *cfg, json_object *config, ow_error *err);
ow_status ow_vae_config_load(ow_vae_config *cfg, const char *config_json_path, ow_error *err);
ow_status ow_vae_config_validate(const ow_vae_config *cfg, ow_error *err);

/* Which halves to load (generation needs the decoder, learning the encoder). */
enum { OW_VAE_ENCODER = 1, OW_VAE_DECODER = 2, OW_VAE_BOTH = 3 };

typedef struct ow_vae_resnet_stack {
    int in_channels, out_channels, num_layers, has_resample;
    ow_resnet_block *resnets; /* num_layers */
    ow_conv resample;         /* downsamplers.0.conv or upsamplers.0.conv: (C_out, C_out, 3, 3) */
} ow_vae_resnet_stack;

typedef struct ow_vae_mid_block {
    int has_attention;
    ow_resnet_block resnets[2];     /* (C, C) */
    ow_spatial_attention attention; /* attentions.0 */
} ow_vae_mid_block;

typedef struct ow_vae {
    ow_vae_config config;
    ow_backend *backend;
    int parts; /* OW_VAE_ENCODER | OW_VAE_DECODER loaded */
    /* encoder.* and quant_conv */
    ow_conv encoder_conv_in;                            /* (C0, in_channels, 3, 3) */
    ow_vae_resnet_stack down_blocks[OW_VAE_MAX_BLOCKS]; /* encoder.down_blocks.i */
    ow_vae_mid_block encoder_mid;
    ow_norm encoder_conv_norm_out;                      /* (C_last) */
    ow_conv encoder_conv_out;                           /* (2 * latent, C_last, 3, 3) */
    ow_conv quant_conv;                                 /* (2 * latent, 2 * latent, 1, 1) */
    /* post_quant_conv and decoder.* */
    ow_conv post_quant_conv;                            /* (latent, latent, 1, 1) */
    ow_conv decoder_conv_in;                            /* (C_last, latent, 3, 3) */
    ow_vae_mid_block decoder_mid;
    ow_vae_resnet_stack up_blocks[OW_VAE_MAX_BLOCKS];   /* decoder.up_blocks.i */
    ow_norm decoder_conv_norm_out;                      /* (C0) */
    ow_conv decoder_conv_out;                           /* (out_channels, C0, 3, 3) */
    size_t last_peak_floats;                            /* activation peak of the last call (floats) */
} ow_vae;

ow_status ow_vae_load(ow_vae **out, const ow_vae_config *cfg, const ow_weights *w, ow_backend *b, int parts,
                      ow_error *err);
void ow_vae_free(ow_vae *vae);

/* The spatial factor between latents and pixels: 2^(num_blocks-1) (8 for SD). */
int ow_vae_scale_factor(const ow_vae_config *cfg);

/* image (B, out_channels, f*h, f*w) in about [-1, 1] = decoder(z (B, latent, h, w)),
 * z = diffusion latents / scaling_factor. Backend memory; image preallocated. */
ow_status ow_vae_decode(ow_vae *vae, ow_backend *b, const float *z, int B, int h, int w, float *image, ow_error *err);

/* mean and logvar (B, latent, H/f, W/f) of the latent distribution of image
 * (B, in_channels, H, W) in [-1, 1]; logvar clamped to [-30, 20] as diffusers does
 * (may be NULL when only the mean is wanted). H and W must be multiples of f. */
ow_status ow_vae_encode(ow_vae *vae, ow_backend *b, const float *image, int B, int H, int W, float *mean,
                        float *logvar, ow_error *err);

#endif
