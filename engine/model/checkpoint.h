/* checkpoint.h: opening the Stable Diffusion 1.x checkpoints users have, whatever
 * their layout, and handing each submodel's tensors to model code by diffusers
 * key names.
 *
 * Layouts:
 * - a diffusers folder (model_index.json, or unet/ vae/ text_encoder/ subfolders),
 *   each submodel in diffusion_pytorch_model[.fp16].safetensors,
 *   model[.fp16].safetensors or the .bin pickles; configs from their config.json;
 * - a single file (.safetensors or .ckpt) in the original CompVis layout:
 *   model.diffusion_model.* (UNet), first_stage_model.* (VAE),
 *   cond_stage_model.transformer[.text_model].* (CLIP text encoder, with or
 *   without the text_model level that transformers added in 4.22), possibly
 *   under a wrapper ("state_dict" in .ckpt files) or an extra prefix ("module.").
 *   Each part is found by its marker key wherever it sits; model_ema.* copies
 *   and other training leftovers are ignored. The configuration is read from the
 *   tensor shapes; what shapes cannot tell (attention heads, group-norm groups,
 *   the schedule, the latent scale) comes from the original LDM .yaml config
 *   (A1111's <name>.yaml beside the file, or one named by hints.config_path;
 *   model/ldm_config.h), the file's `__metadata__` (keys below), hints, or SD 1.x's
 *   original config (8 UNet heads, 12 text heads, 32 groups), with a warning
 *   (ow_checkpoint_warnings) where the model is not 768 wide.
 * SD 2.x, SDXL, LoRAs, embeddings and other models are refused with
 * OW_ERR_UNSUPPORTED naming what the file looks like. */
#ifndef OW_MODEL_CHECKPOINT_H
#define OW_MODEL_CHECKPOINT_H

#include "model/clip_text.h"
#include "model/ldm_config.h"
#include "model/unet.h"
#include "model/vae.h"
#include "model/weights.h"
#include "oneword.h"

/* Single-file metadata keys read when present (values as in diffusers configs). */
#define OW_META_UNET_HEADS "oneword.unet.attention_head_dim"   /* int or JSON list: heads per block (SD 1.x) */
#define OW_META_UNET_GROUPS "oneword.unet.norm_num_groups"
#define OW_META_UNET_SAMPLE_SIZE "oneword.unet.sample_size"
#define OW_META_VAE_GROUPS "oneword.vae.norm_num_groups"
#define OW_META_VAE_SCALING "oneword.vae.scaling_factor"
#define OW_META_TEXT_HEADS "oneword.text_encoder.num_attention_heads"

typedef enum ow_part {
    OW_PART_TEXT = 1, /* CLIP text encoder */
    OW_PART_UNET = 2,
    OW_PART_VAE = 4,
} ow_part;

typedef enum ow_checkpoint_layout {
    OW_CHECKPOINT_DIFFUSERS,   /* a folder */
    OW_CHECKPOINT_SINGLE_FILE, /* CompVis names in one .safetensors / .ckpt */
} ow_checkpoint_layout;

/* What a single file cannot tell by its shapes; 0 = from metadata or SD 1.x values. */
typedef struct ow_checkpoint_hints {
    int unet_attention_heads; /* heads in every UNet attention block */
    int unet_norm_num_groups;
    int vae_norm_num_groups;
    int text_attention_heads;
    const char *config_path;  /* a single file's original LDM .yaml (NULL: <name>.yaml beside it, if any) */
} ow_checkpoint_hints;

typedef struct ow_checkpoint ow_checkpoint;

/* Opens a diffusers folder or a single file. A file need not hold all three
 * parts (a standalone VAE is one part); ow_checkpoint_parts says which are there. */
ow_status ow_checkpoint_open(ow_checkpoint **out, const char *path, ow_error *err);
/* The same with hints (NULL: none). */
ow_status ow_checkpoint_open_hints(ow_checkpoint **out, const char *path, const ow_checkpoint_hints *hints,
                                   ow_error *err);
/* A single-file checkpoint from a tensor set already open (or built in memory);
 * takes ownership of set, also on failure. name is used in messages. */
ow_status ow_checkpoint_open_set(ow_checkpoint **out, ow_tensor_set *set, const char *name,
                                 const ow_checkpoint_hints *hints, ow_error *err);
void ow_checkpoint_close(ow_checkpoint *ck);

ow_checkpoint_layout ow_checkpoint_get_layout(const ow_checkpoint *ck);
/* OR of the ow_part values present. */
int ow_checkpoint_parts(const ow_checkpoint *ck);

/* The tensors of one part by diffusers names; valid while ck is open.
 * OW_ERR_NOT_FOUND (naming the part and the file) when the part is absent. */
ow_status ow_checkpoint_weights(const ow_checkpoint *ck, ow_part part, ow_weights *out, ow_error *err);

/* Configurations (NULL when the part is absent). */
const ow_unet_config *ow_checkpoint_unet_config(const ow_checkpoint *ck);
const ow_vae_config *ow_checkpoint_vae_config(const ow_checkpoint *ck);
const ow_clip_text_config *ow_checkpoint_text_config(const ow_checkpoint *ck);

/* scheduler/scheduler_config.json of a diffusers folder, or NULL (single files:
 * the SD 1.x training schedule applies, changed by the .yaml where there is one). */
const char *ow_checkpoint_scheduler_config_path(const ow_checkpoint *ck);
/* A single file's .yaml config as read, or NULL when it has none. */
const ow_ldm_config *ow_checkpoint_ldm_config(const ow_checkpoint *ck);
/* What had to be guessed, "; "-separated ("" when nothing): for the caller's log. */
const char *ow_checkpoint_warnings(const ow_checkpoint *ck);

/* Human-readable description for `oneword inspect`: layout, prefixes, dtypes,
 * detected configurations, parameter counts per part, ignored tensors. The caller
 * frees *text with free(). */
ow_status ow_checkpoint_describe(const ow_checkpoint *ck, char **text, ow_error *err);

#endif
