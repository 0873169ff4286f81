/* clip_text.h: the CLIP text encoder of Stable Diffusion 1.x (transformers'
 * CLIPTextModel): token + position embeddings, pre-LN transformer layers with a
 * causal mask, quick-GELU MLP, final layer norm.
 *
 * The same encoder with three switches is LDM text2img-large's BERTEmbedder (the
 * x-transformers encoder that diffusers calls LDMBertModel): no causal mask, q/k/v
 * without bias and narrower than the stream (8 heads of 64 in a 1280-wide model),
 * erf GELU. Its weights are asked for by the same transformers CLIP names; the
 * checkpoint's key map (checkpoint_keys.h) points them at the stored x-transformers
 * names.
 *
 * The configuration comes from text_encoder/config.json (diffusers folders) or
 * from tensor shapes (single-file checkpoints). Weights are looked up by their
 * transformers names ("text_model.encoder.layers.0.self_attn.q_proj.weight")
 * through ow_weights, whatever layout the file has.
 *
 * Token ids at or above vocab_size select rows of an optional extra table
 * (textual-inversion embeddings), so new words need no copy of the vocabulary
 * table. */
#ifndef OW_MODEL_CLIP_TEXT_H
#define OW_MODEL_CLIP_TEXT_H

#include <stdint.h>

#include "backend/backend.h"
#include "core/tensor.h"
#include "model/weights.h"
#include "oneword.h"

typedef enum ow_clip_act {
    OW_CLIP_ACT_QUICK_GELU, /* x * sigmoid(1.702 x): OpenAI CLIP, SD 1.x */
    OW_CLIP_ACT_GELU,       /* exact erf GELU */
} ow_clip_act;

typedef enum ow_text_family {
    OW_TEXT_CLIP = 0,  /* CLIP ViT-L/14's text tower (SD 1.x), CLIP's BPE tokenizer */
    OW_TEXT_LDM_BERT,  /* LDM's BERTEmbedder (text2img-large), BERT's WordPiece tokenizer */
} ow_text_family;

typedef struct ow_clip_text_config {
    int vocab_size;              /* 49408 */
    int hidden_size;             /* H: 768 in SD 1.x */
    int intermediate_size;       /* I: 3072 in SD 1.x */
    int num_attention_heads;     /* 12 in SD 1.x */
    int num_hidden_layers;       /* 12 in SD 1.x */
    int max_position_embeddings; /* 77 */
    ow_clip_act hidden_act;
    float layer_norm_eps;        /* 1e-5 */
    ow_text_family family;       /* OW_TEXT_CLIP */
    int causal;                  /* 1: query i sees tokens 0..i (CLIP); 0: all tokens (BERT) */
    int qkv_bias;                /* 1: q/k/v projections have biases (CLIP); 0: none (BERT) */
    int attention_dim;           /* A: width of q/k/v, heads * head size; 0: hidden_size (CLIP) */
} ow_clip_text_config;

/* A: attention_dim, or hidden_size when it is 0. */
int ow_clip_text_attention_dim(const ow_clip_text_config *config);

/* transformers' CLIPTextConfig defaults (what an absent key means): CLIP, causal, q/k/v biases. */
void ow_clip_text_config_default(ow_clip_text_config *config);

/* Reads text_encoder/config.json. Flat CLIPTextConfig files and whole-CLIP
 * configs (keys under "text_config" / "text_config_dict", as transformers 4.2x
 * wrote them) are accepted; absent keys keep the CLIPTextConfig defaults. */
ow_status ow_clip_text_config_load(ow_clip_text_config *config, const char *path, ow_error *err);
/* The same from JSON text. */
ow_status ow_clip_text_config_parse(ow_clip_text_config *config, const char *json_text, ow_error *err);

/* Fills the configuration from the stored tensor shapes. The number of heads is
 * not visible in shapes: num_heads > 0 gives it, otherwise hidden_size / 64 is
 * used (OpenAI CLIP text towers: 512 -> 8, 768 -> 12) and anything that is not a
 * multiple of 64 is an error asking for the head count. quick_gelu, eps 1e-5. */
ow_status ow_clip_text_config_from_weights(ow_clip_text_config *config, const ow_weights *weights, int num_heads,
                                           ow_error *err);

/* LDM's BERTEmbedder from the stored shapes (x-transformers names behind the key map):
 * width and layers from the tensors, heads = q/k/v width / 64 (x-transformers' head
 * size), erf GELU, eps 1e-5, not causal, no q/k/v bias. */
ow_status ow_ldm_bert_config_from_weights(ow_clip_text_config *config, const ow_weights *weights, ow_error *err);

/* Checks the values are usable (positive, heads divide the attention width). */
ow_status ow_clip_text_config_check(const ow_clip_text_config *config, ow_error *err);

/* One encoder layer; names follow the checkpoint keys
 * text_model.encoder.layers.N.{layer_norm1, self_attn.*, layer_norm2, mlp.*}. */
typedef struct ow_clip_text_layer {
    ow_tensor layer_norm1_weight, layer_norm1_bias; /* (H) */
    ow_matrix q_proj_weight, k_proj_weight, v_proj_weight; /* (A, H) */
    ow_matrix out_proj_weight;                             /* (H, A) */
    ow_tensor q_proj_bias, k_proj_bias, v_proj_bias;       /* (A), empty without qkv_bias */
    ow_tensor out_proj_bias;                               /* (H) */
    ow_tensor layer_norm2_weight, layer_norm2_bias; /* (H) */
    ow_matrix fc1_weight;                           /* (I, H) */
    ow_tensor fc1_bias;                             /* (I) */
    ow_matrix fc2_weight;                           /* (H, I) */
    ow_tensor fc2_bias;                             /* (H) */
} ow_clip_text_layer;

typedef struct ow_clip_text {
    ow_clip_text_config config;
    ow_backend *backend;                  /* the weights live in its memory */
    ow_tensor token_embedding;            /* (V, H) */
    ow_tensor position_embedding;         /* (P, H) */
    ow_clip_text_layer *layers;           /* num_hidden_layers */
    ow_tensor final_layer_norm_weight;    /* (H) */
    ow_tensor final_layer_norm_bias;      /* (H) */
} ow_clip_text;

/* Loads every weight (converted to f32 into backend memory) after checking the
 * configuration against the stored shapes. Free with ow_clip_text_free. */
ow_status ow_clip_text_load(ow_clip_text **out, const ow_clip_text_config *config, const ow_weights *weights,
                            ow_backend *backend, ow_error *err);
void ow_clip_text_free(ow_clip_text *enc);

/* Rows for ids >= vocab_size: id vocab_size + i selects rows[i]. */
typedef struct ow_clip_text_extra {
    const float *rows; /* (count, H) in backend memory */
    int count;
} ow_clip_text_extra;

/* out (B, T, H) in backend memory = the encoder output for ids (B, T) (host
 * memory), T <= max_position_embeddings.
 * clip_skip 1: last_hidden_state (final layer norm of the last layer's output);
 * clip_skip k > 1: final layer norm of the output k - 1 layers before the last
 * (A1111's "clip skip": 2 = penultimate layer). 1 <= clip_skip <= num_hidden_layers.
 * extra may be NULL; ids must lie in [0, vocab_size + extra->count). */
ow_status ow_clip_text_forward(const ow_clip_text *enc, ow_backend *backend, const int32_t *ids, int B, int T,
                               int clip_skip, const ow_clip_text_extra *extra, float *out, ow_error *err);

/* What ow_clip_text_forward checks of its arguments (shared with the training pass). */
ow_status ow_clip_text_check_args(const ow_clip_text *enc, int B, int T, int clip_skip, const ow_clip_text_extra *extra,
                                  ow_error *err);
/* x (B*T, H) = token embeddings (vocabulary or extra rows) + position embeddings;
 * refuses ids outside [0, vocab_size + extra->count). */
ow_status ow_clip_text_embed(const ow_clip_text *enc, ow_backend *backend, const int32_t *ids, int B, int T,
                             const ow_clip_text_extra *extra, float *x, ow_error *err);

/* Number of parameters (for `oneword inspect`). */
int64_t ow_clip_text_param_count(const ow_clip_text_config *config);

#endif
