/* checkpoint_keys.c: diffusers <-> CompVis name tables built from the detected
 * configuration (see checkpoint_keys.h). */
#include "model/checkpoint_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static ow_status add_rule(ow_key_map *m, const char *from, const char *to, ow_key_tail tail, ow_error *err) {
    if (strlen(from) >= sizeof m->rules[0].from || strlen(to) >= sizeof m->rules[0].to)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "key map: prefix '%s' is too long", from);
    if (m->count == m->cap) {
        int cap = m->cap ? m->cap * 2 : 64;
        ow_key_rule *rules = realloc(m->rules, (size_t)cap * sizeof *rules);
        if (!rules) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory building a key map");
        m->rules = rules;
        m->cap = cap;
    }
    ow_key_rule *r = &m->rules[m->count++];
    snprintf(r->from, sizeof r->from, "%s", from);
    snprintf(r->to, sizeof r->to, "%s", to);
    r->tail = tail;
    return OW_OK;
}

#define ADD(from, to, tail)                                  \
    do {                                                     \
        ow_status s_ = add_rule(map, (from), (to), (tail), err); \
        if (s_ != OW_OK) { ow_key_map_free(map); return s_; } \
    } while (0)

static ow_status check_sizes(int levels, int layers_per_block, ow_error *err) {
    if (levels < 1 || levels > 16 || layers_per_block < 1 || layers_per_block > 16)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "key map: %d levels of %d layers is not a plausible model",
                            levels, layers_per_block);
    return OW_OK;
}

ow_status ow_key_map_unet_compvis(ow_key_map *map, int levels, const int *layers_per_block,
                                  const int *up_has_attention, ow_error *err) {
    memset(map, 0, sizeof *map);
    ow_status s = check_sizes(levels, 1, err);
    for (int level = 0; s == OW_OK && level < levels; level++) s = check_sizes(levels, layers_per_block[level], err);
    if (s != OW_OK) return s;
    char from[64], to[64];
    ADD("conv_in.", "input_blocks.0.0.", OW_KEY_TAIL_SAME);
    ADD("time_embedding.linear_1.", "time_embed.0.", OW_KEY_TAIL_SAME);
    ADD("time_embedding.linear_2.", "time_embed.2.", OW_KEY_TAIL_SAME);
    ADD("conv_norm_out.", "out.0.", OW_KEY_TAIL_SAME);
    ADD("conv_out.", "out.2.", OW_KEY_TAIL_SAME);
    ADD("mid_block.resnets.0.", "middle_block.0.", OW_KEY_TAIL_UNET_RESNET);
    ADD("mid_block.attentions.0.", "middle_block.1.", OW_KEY_TAIL_SAME);
    ADD("mid_block.resnets.1.", "middle_block.2.", OW_KEY_TAIL_UNET_RESNET);
    /* input_blocks: 0 is conv_in, then per level lpb x (resnet [, attention]) and,
     * except on the last level, one downsampler. */
    int block = 1;
    for (int level = 0; level < levels; level++) {
        const int lpb = layers_per_block[level];
        for (int j = 0; j < lpb; j++, block++) {
            snprintf(from, sizeof from, "down_blocks.%d.resnets.%d.", level, j);
            snprintf(to, sizeof to, "input_blocks.%d.0.", block);
            ADD(from, to, OW_KEY_TAIL_UNET_RESNET);
            snprintf(from, sizeof from, "down_blocks.%d.attentions.%d.", level, j);
            snprintf(to, sizeof to, "input_blocks.%d.1.", block);
            ADD(from, to, OW_KEY_TAIL_SAME);
        }
        if (level < levels - 1) {
            snprintf(from, sizeof from, "down_blocks.%d.downsamplers.0.conv.", level);
            snprintf(to, sizeof to, "input_blocks.%d.0.op.", block++);
            ADD(from, to, OW_KEY_TAIL_SAME);
        }
    }
    /* output_blocks: per up level (lpb of the mirrored down level) + 1 x (resnet
     * [, attention]); the upsampler follows the last one, after its attention when
     * the level has one. */
    block = 0;
    for (int level = 0; level < levels; level++) {
        const int lpb = layers_per_block[levels - 1 - level];
        for (int j = 0; j <= lpb; j++, block++) {
            snprintf(from, sizeof from, "up_blocks.%d.resnets.%d.", level, j);
            snprintf(to, sizeof to, "output_blocks.%d.0.", block);
            ADD(from, to, OW_KEY_TAIL_UNET_RESNET);
            snprintf(from, sizeof from, "up_blocks.%d.attentions.%d.", level, j);
            snprintf(to, sizeof to, "output_blocks.%d.1.", block);
            ADD(from, to, OW_KEY_TAIL_SAME);
        }
        if (level < levels - 1) {
            snprintf(from, sizeof from, "up_blocks.%d.upsamplers.0.conv.", level);
            snprintf(to, sizeof to, "output_blocks.%d.%d.conv.", block - 1,
                     up_has_attention && up_has_attention[level] ? 2 : 1);
            ADD(from, to, OW_KEY_TAIL_SAME);
        }
    }
    return OW_OK;
}

ow_status ow_key_map_vae_compvis(ow_key_map *map, int levels, int lpb, ow_error *err) {
    memset(map, 0, sizeof *map);
    ow_status s = check_sizes(levels, lpb, err);
    if (s != OW_OK) return s;
    char from[64], to[64];
    static const char *parts[] = {"encoder", "decoder"};
    for (int p = 0; p < 2; p++) {
        const char *part = parts[p];
        static const struct { const char *from, *to; ow_key_tail tail; } common[] = {
            {"conv_in.", "conv_in.", OW_KEY_TAIL_SAME},
            {"conv_out.", "conv_out.", OW_KEY_TAIL_SAME},
            {"conv_norm_out.", "norm_out.", OW_KEY_TAIL_SAME},
            {"mid_block.resnets.0.", "mid.block_1.", OW_KEY_TAIL_VAE_RESNET},
            {"mid_block.resnets.1.", "mid.block_2.", OW_KEY_TAIL_VAE_RESNET},
            {"mid_block.attentions.0.", "mid.attn_1.", OW_KEY_TAIL_VAE_ATTENTION},
        };
        for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
            snprintf(from, sizeof from, "%s.%s", part, common[i].from);
            snprintf(to, sizeof to, "%s.%s", part, common[i].to);
            ADD(from, to, common[i].tail);
        }
    }
    for (int level = 0; level < levels; level++) {
        for (int j = 0; j < lpb; j++) {
            snprintf(from, sizeof from, "encoder.down_blocks.%d.resnets.%d.", level, j);
            snprintf(to, sizeof to, "encoder.down.%d.block.%d.", level, j);
            ADD(from, to, OW_KEY_TAIL_VAE_RESNET);
        }
        if (level < levels - 1) {
            snprintf(from, sizeof from, "encoder.down_blocks.%d.downsamplers.0.conv.", level);
            snprintf(to, sizeof to, "encoder.down.%d.downsample.conv.", level);
            ADD(from, to, OW_KEY_TAIL_SAME);
        }
        int stored = levels - 1 - level;
        for (int j = 0; j <= lpb; j++) {
            snprintf(from, sizeof from, "decoder.up_blocks.%d.resnets.%d.", level, j);
            snprintf(to, sizeof to, "decoder.up.%d.block.%d.", stored, j);
            ADD(from, to, OW_KEY_TAIL_VAE_RESNET);
        }
        if (level < levels - 1) {
            snprintf(from, sizeof from, "decoder.up_blocks.%d.upsamplers.0.conv.", level);
            snprintf(to, sizeof to, "decoder.up.%d.upsample.conv.", stored);
            ADD(from, to, OW_KEY_TAIL_SAME);
        }
    }
    ADD("quant_conv.", "quant_conv.", OW_KEY_TAIL_SAME);
    ADD("post_quant_conv.", "post_quant_conv.", OW_KEY_TAIL_SAME);
    return OW_OK;
}

ow_status ow_key_map_vae_legacy_attention(ow_key_map *map, ow_error *err) {
    memset(map, 0, sizeof *map);
    map->passthrough = 1;
    ADD("encoder.mid_block.attentions.0.", "encoder.mid_block.attentions.0.", OW_KEY_TAIL_VAE_LEGACY_ATTN);
    ADD("decoder.mid_block.attentions.0.", "decoder.mid_block.attentions.0.", OW_KEY_TAIL_VAE_LEGACY_ATTN);
    return OW_OK;
}

ow_status ow_key_map_ldm_bert(ow_key_map *map, int layers, ow_error *err) {
    memset(map, 0, sizeof *map);
    if (layers < 1 || layers > 256)
        return ow_error_set(err, OW_ERR_FORMAT, "key map: a BERT text encoder of %d layers is not plausible", layers);
    map->strip_text_model = 1;
    ADD("embeddings.token_embedding.", "token_emb.", OW_KEY_TAIL_SAME);
    ADD("embeddings.position_embedding.", "pos_emb.emb.", OW_KEY_TAIL_SAME);
    ADD("final_layer_norm.", "norm.", OW_KEY_TAIL_SAME);
    /* x-transformers keeps the sublayers in one list, attention (2L) then feed-forward (2L + 1),
     * each as [norm, block, residual]; its feed-forward is net = [[Linear, GELU], Dropout, Linear]. */
    static const struct { const char *from; int sublayer; const char *to; } parts[] = {
        {"layer_norm1.", 0, "0."},           {"self_attn.q_proj.", 0, "1.to_q."}, {"self_attn.k_proj.", 0, "1.to_k."},
        {"self_attn.v_proj.", 0, "1.to_v."}, {"self_attn.out_proj.", 0, "1.to_out."},
        {"layer_norm2.", 1, "0."},           {"mlp.fc1.", 1, "1.net.0.0."},       {"mlp.fc2.", 1, "1.net.2."},
    };
    char from[64], to[64];
    for (int l = 0; l < layers; l++)
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            snprintf(from, sizeof from, "encoder.layers.%d.%s", l, parts[i].from);
            snprintf(to, sizeof to, "attn_layers.layers.%d.%s", 2 * l + parts[i].sublayer, parts[i].to);
            ADD(from, to, OW_KEY_TAIL_SAME);
        }
    return OW_OK;
}

void ow_key_map_text_strip(ow_key_map *map) {
    memset(map, 0, sizeof *map);
    map->strip_text_model = 1;
}

void ow_key_map_free(ow_key_map *map) {
    free(map->rules);
    memset(map, 0, sizeof *map);
}

/* Renames the first component(s) of tail by a table of (diffusers, stored) pairs. */
static const char *rename_tail(const char *tail, ow_key_tail kind, const char **rest) {
    static const char *unet_resnet[][2] = {{"norm1.", "in_layers.0."}, {"conv1.", "in_layers.2."},
                                           {"time_emb_proj.", "emb_layers.1."}, {"norm2.", "out_layers.0."},
                                           {"conv2.", "out_layers.3."}, {"conv_shortcut.", "skip_connection."}};
    static const char *vae_resnet[][2] = {{"conv_shortcut.", "nin_shortcut."}};
    static const char *vae_attention[][2] = {{"group_norm.", "norm."}, {"to_q.", "q."}, {"to_k.", "k."},
                                             {"to_v.", "v."}, {"to_out.0.", "proj_out."}};
    static const char *vae_legacy[][2] = {{"to_q.", "query."}, {"to_k.", "key."}, {"to_v.", "value."},
                                          {"to_out.0.", "proj_attn."}};
    const char *(*table)[2] = NULL;
    size_t n = 0;
    switch (kind) {
    case OW_KEY_TAIL_UNET_RESNET: table = unet_resnet; n = sizeof unet_resnet / sizeof unet_resnet[0]; break;
    case OW_KEY_TAIL_VAE_RESNET: table = vae_resnet; n = sizeof vae_resnet / sizeof vae_resnet[0]; break;
    case OW_KEY_TAIL_VAE_ATTENTION: table = vae_attention; n = sizeof vae_attention / sizeof vae_attention[0]; break;
    case OW_KEY_TAIL_VAE_LEGACY_ATTN: table = vae_legacy; n = sizeof vae_legacy / sizeof vae_legacy[0]; break;
    case OW_KEY_TAIL_SAME: break;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(table[i][0]);
        if (strncmp(tail, table[i][0], len) == 0) {
            *rest = tail + len;
            return table[i][1];
        }
    }
    *rest = tail;
    return "";
}

int ow_key_map_apply(const char *key, char *out, size_t cap, void *user) {
    const ow_key_map *m = user;
    if (m->strip_text_model) {
        static const char text_model[] = "text_model.";
        if (strncmp(key, text_model, sizeof text_model - 1) != 0) return -1;
        key += sizeof text_model - 1;
    }
    const ow_key_rule *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < m->count; i++) {
        size_t len = strlen(m->rules[i].from);
        if (len > best_len && strncmp(key, m->rules[i].from, len) == 0) {
            best = &m->rules[i];
            best_len = len;
        }
    }
    int n;
    if (!best) {
        if (m->count > 0 && !m->passthrough) return -1;
        n = snprintf(out, cap, "%s", key);
    } else {
        const char *rest;
        const char *renamed = rename_tail(key + best_len, best->tail, &rest);
        n = snprintf(out, cap, "%s%s%s", best->to, renamed, rest);
    }
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}
