/* ldm_config.h: the original LDM / Stable Diffusion .yaml config of a single-file
 * checkpoint (configs/stable-diffusion/v1-inference.yaml and the copies fine-tunes
 * ship), read with libyaml.
 *
 * A1111 reads it from beside the checkpoint (model.safetensors -> model.yaml);
 * `--config FILE` names one. Kept is what tensor shapes cannot tell (attention
 * heads, the noise schedule, what the model predicts, the latent scale) and what
 * shows that the yaml belongs to the checkpoint (widths, channel multipliers).
 * Key paths are those of the LDM configs:
 *   model.target, model.params.{timesteps, linear_start, linear_end, beta_schedule,
 *   parameterization, scale_factor, image_size},
 *   model.params.unet_config.params.{num_heads, num_head_channels, model_channels,
 *   channel_mult, context_dim, in_channels, use_linear_in_transformer},
 *   model.params.cond_stage_config.target.
 * A key that is absent is left at "absent" (0, -1 or ""); a key of the wrong type
 * is an error naming the key and its line. */
#ifndef OW_MODEL_LDM_CONFIG_H
#define OW_MODEL_LDM_CONFIG_H

#include <stddef.h>

#include "oneword.h"

#define OW_LDM_MAX_LEVELS 8

typedef struct ow_ldm_config {
    char model_target[128];       /* "ldm.models.diffusion.ddpm.LatentDiffusion"; "" absent */
    char cond_stage_target[128];  /* "ldm.modules.encoders.modules.FrozenCLIPEmbedder" */
    /* model.params */
    int timesteps;                /* num_train_timesteps; 0 absent */
    double linear_start;          /* beta_start; 0 absent */
    double linear_end;            /* beta_end; 0 absent */
    char beta_schedule[32];       /* LDM's "linear" (diffusers' scaled_linear), "sqrt_linear", ...; "" absent */
    char parameterization[16];    /* "eps", "v", "x0"; "" absent (eps) */
    double scale_factor;          /* the VAE latent scale; 0 absent */
    int image_size;               /* latent size (64 for SD 1.x); 0 absent */
    /* model.params.unet_config.params */
    int num_heads;                /* heads per attention block; <= 0 absent (LDM's -1) */
    int num_head_channels;        /* width of one head instead; <= 0 absent */
    int model_channels;           /* block_out_channels[0]; 0 absent */
    int context_dim;              /* cross-attention width; 0 absent */
    int in_channels;              /* 0 absent */
    int num_levels;               /* entries of channel_mult; 0 absent */
    int channel_mult[OW_LDM_MAX_LEVELS];
    int use_linear_in_transformer; /* 0/1; -1 absent */
} ow_ldm_config;

/* Parses YAML text of size bytes (NUL not needed). what names it in messages. */
ow_status ow_ldm_config_parse(ow_ldm_config *c, const char *text, size_t size, const char *what, ow_error *err);

/* Reads a .yaml file (at most 1 MiB). */
ow_status ow_ldm_config_load(ow_ldm_config *c, const char *path, ow_error *err);

/* The UNet heads per level that the config gives (num_head_channels divides each
 * level's width, or num_heads for all), for a UNet of levels levels whose widths
 * are block_out_channels: 1 and heads filled, 0 when the config gives none, or an
 * error when they do not divide the widths. */
ow_status ow_ldm_config_unet_heads(const ow_ldm_config *c, int levels, const int *block_out_channels, int *heads,
                                   int *given, ow_error *err);

#endif
