/* checkpoint_keys.h: name tables between the diffusers layout (the names model
 * code asks for) and the original CompVis / A1111 single-file layout.
 *
 * A key map is a list of prefix rules built from the detected configuration
 * (number of levels, layers per block, which up levels have attention), never
 * from SD 1.5 numbers: "down_blocks.1.resnets.0." -> "input_blocks.4.0." with
 * the resnet's own names renamed behind it ("norm1" -> "in_layers.0", ...).
 * Maps plug into ow_weights through ow_key_map_apply. */
#ifndef OW_MODEL_CHECKPOINT_KEYS_H
#define OW_MODEL_CHECKPOINT_KEYS_H

#include <stddef.h>

#include "oneword.h"

/* How the rest of the name behind a matched prefix is rewritten. */
typedef enum ow_key_tail {
    OW_KEY_TAIL_SAME,            /* unchanged */
    OW_KEY_TAIL_UNET_RESNET,     /* norm1 -> in_layers.0, conv1 -> in_layers.2, time_emb_proj -> emb_layers.1,
                                    norm2 -> out_layers.0, conv2 -> out_layers.3, conv_shortcut -> skip_connection */
    OW_KEY_TAIL_VAE_RESNET,      /* conv_shortcut -> nin_shortcut */
    OW_KEY_TAIL_VAE_ATTENTION,   /* group_norm -> norm, to_q/k/v -> q/k/v, to_out.0 -> proj_out */
    OW_KEY_TAIL_VAE_LEGACY_ATTN, /* diffusers < 0.14 folders: to_q/k/v -> query/key/value, to_out.0 -> proj_attn */
} ow_key_tail;

typedef struct ow_key_rule {
    char from[64]; /* diffusers prefix, e.g. "down_blocks.0.resnets.1." */
    char to[64];   /* stored prefix, e.g. "input_blocks.2.0." */
    ow_key_tail tail;
} ow_key_rule;

typedef struct ow_key_map {
    ow_key_rule *rules;
    int count, cap;
    int strip_text_model; /* text encoder: drop the leading "text_model." (the stored prefix holds it or not) */
    int passthrough;      /* keys no rule covers keep their name (else they have no counterpart) */
} ow_key_map;

/* UNet, CompVis layout (model.diffusion_model.*): levels = len(block_out_channels);
 * layers_per_block[level] per down level (up level u has one more than down level
 * levels - 1 - u); up_has_attention[u] for up level u (diffusers order, lowest
 * resolution first) decides whether its upsampler sits in slot 1 or 2. */
ow_status ow_key_map_unet_compvis(ow_key_map *map, int levels, const int *layers_per_block,
                                  const int *up_has_attention, ow_error *err);
/* VAE, CompVis layout (first_stage_model.*); the decoder's up blocks are stored in
 * reverse order (diffusers up_blocks.i is up.(levels - 1 - i)). */
ow_status ow_key_map_vae_compvis(ow_key_map *map, int levels, int layers_per_block, ow_error *err);
/* VAE in a diffusers folder written before diffusers 0.14 (query/key/value/proj_attn). */
ow_status ow_key_map_vae_legacy_attention(ow_key_map *map, ow_error *err);
/* Text encoder whose stored prefix already ends where "text_model." would start
 * (both cond_stage_model.transformer.text_model.* and the older
 * cond_stage_model.transformer.* are handled by choosing the prefix). */
void ow_key_map_text_strip(ow_key_map *map);

/* LDM's BERTEmbedder (cond_stage_model.transformer.*, x-transformers names) behind the
 * transformers CLIP names the text encoder asks for (model/clip_text.h):
 *   text_model.embeddings.token_embedding      token_emb
 *   text_model.embeddings.position_embedding   pos_emb.emb
 *   text_model.encoder.layers.L.layer_norm1    attn_layers.layers.(2L).0
 *   ... .self_attn.{q,k,v,out}_proj            attn_layers.layers.(2L).1.to_{q,k,v,out}
 *   ... .layer_norm2                           attn_layers.layers.(2L+1).0
 *   ... .mlp.fc1 / .mlp.fc2                    attn_layers.layers.(2L+1).1.net.0.0 / .net.2
 *   text_model.final_layer_norm                norm
 * (the map diffusers' convert_ldm_bert_checkpoint applies, to LDMBertModel's names). */
ow_status ow_key_map_ldm_bert(ow_key_map *map, int layers, ow_error *err);

void ow_key_map_free(ow_key_map *map);

/* ow_key_map_fn for ow_weights (user = the ow_key_map): writes the stored name of
 * diffusers_key (the longest matching rule wins); returns -1 when no rule covers
 * it and the map is not passthrough, or when the name does not fit. */
int ow_key_map_apply(const char *diffusers_key, char *out, size_t cap, void *user);

#endif
