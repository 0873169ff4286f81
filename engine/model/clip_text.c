/* clip_text.c: CLIP text encoder configuration, weight loading and forward pass
 * over the backend interface (see clip_text.h). */
#include "model/clip_text.h"

#include <errno.h>
#include <stddef.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"

#define CLIP_CONFIG_MAX_BYTES (1 << 20)

void ow_clip_text_config_default(ow_clip_text_config *c) {
    c->vocab_size = 49408;
    c->hidden_size = 512;
    c->intermediate_size = 2048;
    c->num_attention_heads = 8;
    c->num_hidden_layers = 12;
    c->max_position_embeddings = 77;
    c->hidden_act = OW_CLIP_ACT_QUICK_GELU;
    c->layer_norm_eps = 1e-5f;
    c->family = OW_TEXT_CLIP;
    c->causal = 1;
    c->qkv_bias = 1;
    c->attention_dim = 0;
}

int ow_clip_text_attention_dim(const ow_clip_text_config *c) {
    return c->attention_dim > 0 ? c->attention_dim : c->hidden_size;
}

ow_status ow_clip_text_config_check(const ow_clip_text_config *c, ow_error *err) {
    /* Upper bounds far above any CLIP (49408 / 768-1280 / 3072-5120 / 12-20 heads / 12-32 layers / 77)
     * and low enough that parameter counts and activation sizes cannot overflow. */
    struct { const char *name; int value, max; } ints[] = {
        {"vocab_size", c->vocab_size, 1 << 22}, {"hidden_size", c->hidden_size, 1 << 16},
        {"intermediate_size", c->intermediate_size, 1 << 18}, {"num_attention_heads", c->num_attention_heads, 1 << 12},
        {"num_hidden_layers", c->num_hidden_layers, 1 << 10}, {"max_position_embeddings", c->max_position_embeddings, 1 << 16},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].value <= 0 || ints[i].value > ints[i].max)
            return ow_error_set(err, OW_ERR_FORMAT, "text encoder config: %s is %d; it must be a size from 1 to %d",
                                ints[i].name, ints[i].value, ints[i].max);
    if (c->attention_dim < 0 || c->attention_dim > (1 << 16))
        return ow_error_set(err, OW_ERR_FORMAT, "text encoder config: attention width %d is out of range",
                            c->attention_dim);
    if (ow_clip_text_attention_dim(c) % c->num_attention_heads != 0)
        return ow_error_set(err, OW_ERR_FORMAT,
                            "text encoder config: the attention width %d is not a multiple of num_attention_heads %d",
                            ow_clip_text_attention_dim(c), c->num_attention_heads);
    if (!(c->layer_norm_eps > 0.0f) || !isfinite(c->layer_norm_eps))
        return ow_error_set(err, OW_ERR_FORMAT, "text encoder config: layer_norm_eps %g must be positive",
                            (double)c->layer_norm_eps);
    return OW_OK;
}

/* ---- config.json ---- */

static ow_status json_int(json_object *obj, const char *key, int *out, ow_error *err) {
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null)) return OW_OK;
    if (!json_object_is_type(v, json_type_int))
        return ow_error_set(err, OW_ERR_FORMAT, "text encoder config: '%s' is %s, expected an integer", key,
                            json_object_to_json_string(v));
    int64_t x = json_object_get_int64(v);
    if (x < 0 || x > (1 << 24))
        return ow_error_set(err, OW_ERR_FORMAT, "text encoder config: '%s' is %lld, out of range", key, (long long)x);
    *out = (int)x;
    return OW_OK;
}

/* Reads the known keys of one object over c (absent keys keep their values). */
static ow_status config_from_object(ow_clip_text_config *c, json_object *obj, ow_error *err) {
    static const struct { const char *key; size_t offset; } int_keys[] = {
        {"vocab_size", offsetof(ow_clip_text_config, vocab_size)},
        {"hidden_size", offsetof(ow_clip_text_config, hidden_size)},
        {"intermediate_size", offsetof(ow_clip_text_config, intermediate_size)},
        {"num_attention_heads", offsetof(ow_clip_text_config, num_attention_heads)},
        {"num_hidden_layers", offsetof(ow_clip_text_config, num_hidden_layers)},
        {"max_position_embeddings", offsetof(ow_clip_text_config, max_position_embeddings)},
    };
    for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
        ow_status s = json_int(obj, int_keys[i].key, (int *)((char *)c + int_keys[i].offset), err);
        if (s != OW_OK) return s;
    }
    json_object *v;
    if (json_object_object_get_ex(obj, "layer_norm_eps", &v) && !json_object_is_type(v, json_type_null)) {
        if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
            return ow_error_set(err, OW_ERR_FORMAT, "text encoder config: 'layer_norm_eps' is %s, expected a number",
                                json_object_to_json_string(v));
        c->layer_norm_eps = (float)json_object_get_double(v);
    }
    if (json_object_object_get_ex(obj, "hidden_act", &v) && !json_object_is_type(v, json_type_null)) {
        const char *act = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (strcmp(act, "quick_gelu") == 0) c->hidden_act = OW_CLIP_ACT_QUICK_GELU;
        else if (strcmp(act, "gelu") == 0) c->hidden_act = OW_CLIP_ACT_GELU;
        else
            return ow_error_set(err, OW_ERR_UNSUPPORTED,
                                "text encoder config: hidden_act %s is not supported (quick_gelu or gelu)",
                                json_object_to_json_string(v));
    }
    return OW_OK;
}

ow_status ow_clip_text_config_parse(ow_clip_text_config *c, const char *json_text, ow_error *err) {
    ow_clip_text_config_default(c);
    enum json_tokener_error jerr = json_tokener_success;
    json_object *root = json_tokener_parse_verbose(json_text, &jerr);
    if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
        if (root) json_object_put(root);
        return ow_error_set(err, OW_ERR_FORMAT, "text encoder config is not a JSON object (%s)",
                            json_tokener_error_desc(jerr));
    }
    /* A whole CLIPConfig (vision + text) keeps the text tower's keys in
     * "text_config"; transformers 4.2x also wrote "text_config_dict", which it
     * preferred. A flat CLIPTextConfig has them at the top level. */
    json_object *text = NULL, *text_dict = NULL;
    json_object_object_get_ex(root, "text_config", &text);
    json_object_object_get_ex(root, "text_config_dict", &text_dict);
    ow_status s = OW_OK;
    int nested = 0;
    if (text && json_object_is_type(text, json_type_object)) {
        s = config_from_object(c, text, err);
        nested = 1;
    }
    if (s == OW_OK && text_dict && json_object_is_type(text_dict, json_type_object)) {
        s = config_from_object(c, text_dict, err);
        nested = 1;
    }
    if (s == OW_OK && !nested) s = config_from_object(c, root, err);
    json_object_put(root);
    if (s != OW_OK) return s;
    return ow_clip_text_config_check(c, err);
}

ow_status ow_clip_text_config_load(ow_clip_text_config *c, const char *path, ow_error *err) {
    char *text;
    size_t n;
    ow_status s = ow_file_read_all(path, "text encoder config", CLIP_CONFIG_MAX_BYTES, &text, &n, err);
    if (s != OW_OK) return s;
    s = ow_clip_text_config_parse(c, text, err);
    free(text);
    if (s != OW_OK) return ow_error_prefix(err, "%s", path);
    return OW_OK;
}

/* ---- configuration from shapes ---- */

static const ow_tensor_entry *need_entry(const ow_weights *w, const char *key, int ndim, ow_error *err) {
    const ow_tensor_entry *e = ow_weights_find(w, key);
    if (!e) {
        ow_error_set(err, OW_ERR_NOT_FOUND, "text encoder: tensor '%s' is missing", key);
        return NULL;
    }
    if (e->ndim != ndim) {
        ow_error_set(err, OW_ERR_FORMAT, "text encoder: tensor '%s' has %d dimensions, expected %d", key, e->ndim,
                     ndim);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (e->shape[i] <= 0 || e->shape[i] > (1 << 24)) {
            ow_error_set(err, OW_ERR_FORMAT, "text encoder: tensor '%s' has an implausible size %lld", key,
                         (long long)e->shape[i]);
            return NULL;
        }
    return e;
}

/* Layers stored (text_model.encoder.layers.N.*), at most 1001. */
static int count_layers(const ow_weights *w) {
    int layers = 0;
    for (;; layers++) {
        char key[128];
        snprintf(key, sizeof key, "text_model.encoder.layers.%d.layer_norm1.weight", layers);
        if (!ow_weights_find(w, key) || layers > 1000) break;
    }
    return layers;
}

ow_status ow_clip_text_config_from_weights(ow_clip_text_config *c, const ow_weights *w, int num_heads,
                                           ow_error *err) {
    ow_clip_text_config_default(c);
    const ow_tensor_entry *tok = need_entry(w, "text_model.embeddings.token_embedding.weight", 2, err);
    if (!tok) return err ? err->status : OW_ERR_NOT_FOUND;
    const ow_tensor_entry *pos = need_entry(w, "text_model.embeddings.position_embedding.weight", 2, err);
    if (!pos) return err ? err->status : OW_ERR_NOT_FOUND;
    const ow_tensor_entry *fc1 = need_entry(w, "text_model.encoder.layers.0.mlp.fc1.weight", 2, err);
    if (!fc1) return err ? err->status : OW_ERR_NOT_FOUND;
    c->vocab_size = (int)tok->shape[0];
    c->hidden_size = (int)tok->shape[1];
    c->max_position_embeddings = (int)pos->shape[0];
    c->intermediate_size = (int)fc1->shape[0];
    c->num_hidden_layers = count_layers(w);
    if (num_heads > 0) {
        c->num_attention_heads = num_heads;
    } else if (c->hidden_size % 64 == 0) {
        c->num_attention_heads = c->hidden_size / 64;
    } else {
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "text encoder: hidden size %d is not a multiple of 64, so its number of attention heads "
                            "cannot be inferred from the tensor shapes; give it explicitly (checkpoint metadata "
                            "'oneword.text_encoder.num_attention_heads')",
                            c->hidden_size);
    }
    return ow_clip_text_config_check(c, err);
}

ow_status ow_ldm_bert_config_from_weights(ow_clip_text_config *c, const ow_weights *w, ow_error *err) {
    ow_status s = OW_OK;
    ow_clip_text_config_default(c);
    const ow_tensor_entry *tok = need_entry(w, "text_model.embeddings.token_embedding.weight", 2, err);
    const ow_tensor_entry *pos = tok ? need_entry(w, "text_model.embeddings.position_embedding.weight", 2, err) : NULL;
    const ow_tensor_entry *q = pos ? need_entry(w, "text_model.encoder.layers.0.self_attn.q_proj.weight", 2, err) : NULL;
    const ow_tensor_entry *fc1 = q ? need_entry(w, "text_model.encoder.layers.0.mlp.fc1.weight", 2, err) : NULL;
    if (!fc1) return err ? err->status : OW_ERR_NOT_FOUND;
    c->family = OW_TEXT_LDM_BERT;
    c->vocab_size = (int)tok->shape[0];
    c->hidden_size = (int)tok->shape[1];
    c->max_position_embeddings = (int)pos->shape[0];
    c->attention_dim = (int)q->shape[0];
    c->intermediate_size = (int)fc1->shape[0];
    c->hidden_act = OW_CLIP_ACT_GELU;
    c->causal = 0;
    c->qkv_bias = 0;
    if (c->attention_dim % 64 != 0)
        s = ow_error_set(err, OW_ERR_UNSUPPORTED,
                         "BERT text encoder: its q/k/v are %d wide, not a multiple of x-transformers' 64-wide heads",
                         c->attention_dim);
    c->num_attention_heads = c->attention_dim / 64;
    c->num_hidden_layers = count_layers(w);
    return s == OW_OK ? ow_clip_text_config_check(c, err) : s;
}

/* ---- weights ---- */

static ow_status get_tensor(const ow_weights *w, ow_backend *b, const char *key, int ndim, int64_t d0, int64_t d1,
                            ow_tensor *out, ow_error *err) {
    int64_t shape[2] = {d0, d1};
    return ow_weights_get(w, b, key, ndim, shape, out, err);
}

static void layer_release(ow_backend *b, ow_clip_text_layer *l) {
    ow_tensor *vectors[] = {&l->layer_norm1_weight, &l->layer_norm1_bias, &l->q_proj_bias, &l->k_proj_bias,
                            &l->v_proj_bias, &l->out_proj_bias, &l->layer_norm2_weight, &l->layer_norm2_bias,
                            &l->fc1_bias, &l->fc2_bias};
    ow_matrix *matrices[] = {&l->q_proj_weight, &l->k_proj_weight, &l->v_proj_weight, &l->out_proj_weight,
                             &l->fc1_weight, &l->fc2_weight};
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) ow_weights_release(b, vectors[i]);
    for (size_t i = 0; i < sizeof matrices / sizeof matrices[0]; i++)
        if (matrices[i]->data.ptr) b->matrix_free(b, matrices[i]);
}

static ow_status layer_load(const ow_weights *w, ow_backend *b, int index, const ow_clip_text_config *c,
                            ow_clip_text_layer *l, ow_error *err) {
    const int H = c->hidden_size, I = c->intermediate_size, A = ow_clip_text_attention_dim(c);
    struct { const char *name; ow_tensor *t; int64_t n; } vectors[] = {
        {"layer_norm1.weight", &l->layer_norm1_weight, H}, {"layer_norm1.bias", &l->layer_norm1_bias, H},
        {"self_attn.out_proj.bias", &l->out_proj_bias, H},
        {"layer_norm2.weight", &l->layer_norm2_weight, H}, {"layer_norm2.bias", &l->layer_norm2_bias, H},
        {"mlp.fc1.bias", &l->fc1_bias, I},                  {"mlp.fc2.bias", &l->fc2_bias, H},
        {"self_attn.q_proj.bias", &l->q_proj_bias, A},      {"self_attn.k_proj.bias", &l->k_proj_bias, A},
        {"self_attn.v_proj.bias", &l->v_proj_bias, A}, /* the last three: only with qkv_bias */
    };
    struct { const char *name; ow_matrix *m; int64_t rows, cols; } matrices[] = {
        {"self_attn.q_proj.weight", &l->q_proj_weight, A, H}, {"self_attn.k_proj.weight", &l->k_proj_weight, A, H},
        {"self_attn.v_proj.weight", &l->v_proj_weight, A, H}, {"self_attn.out_proj.weight", &l->out_proj_weight, H, A},
        {"mlp.fc1.weight", &l->fc1_weight, I, H},             {"mlp.fc2.weight", &l->fc2_weight, H, I},
    };
    const size_t n_vectors = sizeof vectors / sizeof vectors[0] - (c->qkv_bias ? 0 : 3);
    char key[160];
    for (size_t i = 0; i < n_vectors; i++) {
        snprintf(key, sizeof key, "text_model.encoder.layers.%d.%s", index, vectors[i].name);
        ow_status s = get_tensor(w, b, key, 1, vectors[i].n, 0, vectors[i].t, err);
        if (s != OW_OK) return s;
    }
    for (size_t i = 0; i < sizeof matrices / sizeof matrices[0]; i++) {
        snprintf(key, sizeof key, "text_model.encoder.layers.%d.%s", index, matrices[i].name);
        int64_t shape[2] = {matrices[i].rows, matrices[i].cols};
        ow_status s = ow_weights_get_matrix(w, b, key, 2, shape, matrices[i].m, err);
        if (s != OW_OK) return s;
    }
    return OW_OK;
}

void ow_clip_text_free(ow_clip_text *enc) {
    if (!enc) return;
    ow_backend *b = enc->backend;
    ow_weights_release(b, &enc->token_embedding);
    ow_weights_release(b, &enc->position_embedding);
    if (enc->layers)
        for (int i = 0; i < enc->config.num_hidden_layers; i++) layer_release(b, &enc->layers[i]);
    free(enc->layers);
    ow_weights_release(b, &enc->final_layer_norm_weight);
    ow_weights_release(b, &enc->final_layer_norm_bias);
    free(enc);
}

ow_status ow_clip_text_load(ow_clip_text **out, const ow_clip_text_config *config, const ow_weights *w,
                            ow_backend *b, ow_error *err) {
    *out = NULL;
    ow_status s = ow_clip_text_config_check(config, err);
    if (s != OW_OK) return s;
    ow_clip_text *enc = calloc(1, sizeof *enc);
    if (!enc) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory creating the text encoder");
    enc->config = *config;
    enc->backend = b;
    const int H = config->hidden_size;
    enc->layers = calloc((size_t)config->num_hidden_layers, sizeof *enc->layers);
    if (!enc->layers) {
        free(enc);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory creating the text encoder");
    }
    s = get_tensor(w, b, "text_model.embeddings.token_embedding.weight", 2, config->vocab_size, H,
                   &enc->token_embedding, err);
    if (s == OW_OK)
        s = get_tensor(w, b, "text_model.embeddings.position_embedding.weight", 2, config->max_position_embeddings,
                       H, &enc->position_embedding, err);
    for (int i = 0; s == OW_OK && i < config->num_hidden_layers; i++) s = layer_load(w, b, i, config, &enc->layers[i], err);
    if (s == OW_OK)
        s = get_tensor(w, b, "text_model.final_layer_norm.weight", 1, H, 0, &enc->final_layer_norm_weight, err);
    if (s == OW_OK) s = get_tensor(w, b, "text_model.final_layer_norm.bias", 1, H, 0, &enc->final_layer_norm_bias, err);
    if (s != OW_OK) {
        ow_clip_text_free(enc);
        return s;
    }
    *out = enc;
    return OW_OK;
}

int64_t ow_clip_text_param_count(const ow_clip_text_config *c) {
    int64_t H = c->hidden_size, I = c->intermediate_size, A = ow_clip_text_attention_dim(c);
    int64_t per_layer = 4 * H * A + (c->qkv_bias ? 3 * A : 0) + H + 2 * (2 * H) + (I * H + I) + (H * I + H);
    return (int64_t)c->vocab_size * H + (int64_t)c->max_position_embeddings * H + c->num_hidden_layers * per_layer +
           2 * H;
}

/* ---- forward ---- */

/* Scratch buffers of one forward call, in backend memory. */
typedef struct clip_scratch {
    float *x;        /* (B*T, H) residual stream */
    float *h;        /* (B*T, H) normalised input of a sublayer */
    float *q, *k, *v; /* (B*T, A) */
    float *attn;     /* (B*T, A) */
    float *mlp;      /* (B*T, I) */
} clip_scratch;

static void scratch_free(ow_backend *b, clip_scratch *s) {
    float *all[] = {s->x, s->h, s->q, s->k, s->v, s->attn, s->mlp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) b->free(b, all[i]);
    memset(s, 0, sizeof *s);
}

/* x (M, H) += layer(x): pre-LN self-attention block then pre-LN MLP block. */
static void clip_layer_forward(const ow_clip_text *enc, ow_backend *b, const ow_clip_text_layer *l, clip_scratch *s,
                               int B, int T) {
    const ow_clip_text_config *c = &enc->config;
    const int H = c->hidden_size, I = c->intermediate_size, M = B * T, A = ow_clip_text_attention_dim(c);
    const int heads = c->num_attention_heads, D = A / heads;
    /* self-attention */
    b->layer_norm(b, s->h, s->x, l->layer_norm1_weight.data, l->layer_norm1_bias.data, M, H, c->layer_norm_eps);
    b->linear(b, s->q, s->h, &l->q_proj_weight, l->q_proj_bias.data, M, A, H); /* bias NULL without qkv_bias */
    b->linear(b, s->k, s->h, &l->k_proj_weight, l->k_proj_bias.data, M, A, H);
    b->linear(b, s->v, s->h, &l->v_proj_weight, l->v_proj_bias.data, M, A, H);
    b->attention(b, s->attn, s->q, s->k, s->v, B, T, T, heads, D, 1.0f / sqrtf((float)D), c->causal);
    b->linear(b, s->h, s->attn, &l->out_proj_weight, l->out_proj_bias.data, M, H, A);
    b->add(b, s->x, s->x, s->h, (size_t)M * H);
    /* MLP */
    b->layer_norm(b, s->h, s->x, l->layer_norm2_weight.data, l->layer_norm2_bias.data, M, H, c->layer_norm_eps);
    b->linear(b, s->mlp, s->h, &l->fc1_weight, l->fc1_bias.data, M, I, H);
    if (c->hidden_act == OW_CLIP_ACT_GELU) b->gelu(b, s->mlp, s->mlp, (size_t)M * I);
    else b->quick_gelu(b, s->mlp, s->mlp, (size_t)M * I);
    b->linear(b, s->h, s->mlp, &l->fc2_weight, l->fc2_bias.data, M, H, I);
    b->add(b, s->x, s->x, s->h, (size_t)M * H);
}

/* x (B*T, H) = token embeddings (vocabulary or extra rows) + position embeddings. */
ow_status ow_clip_text_embed(const ow_clip_text *enc, ow_backend *b, const int32_t *ids, int B, int T,
                             const ow_clip_text_extra *extra, float *x, ow_error *err) {
    const ow_clip_text_config *c = &enc->config;
    const int H = c->hidden_size, V = c->vocab_size;
    const int n_extra = extra && extra->rows ? extra->count : 0;
    const size_t n = (size_t)B * T;
    int32_t *table_ids = calloc(n ? n : 1, sizeof *table_ids);
    if (!table_ids) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "text encoder: out of memory");
    int any_extra = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= V + n_extra) {
            free(table_ids);
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "text encoder: token id %d at position %zu is outside the vocabulary (%d tokens + %d "
                                "extra rows)",
                                (int)id, i % (size_t)T, V, n_extra);
        }
        any_extra |= id >= V;
        table_ids[i] = id < V ? id : 0; /* placeholder row, overwritten below */
    }
    b->embedding(b, x, enc->token_embedding.data, table_ids, (int)n, H);
    if (any_extra)
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= V) b->copy(b, x + i * (size_t)H, extra->rows + (size_t)(ids[i] - V) * H, (size_t)H);
    free(table_ids);
    for (int bi = 0; bi < B; bi++) {
        float *row = x + (size_t)bi * T * H;
        b->add(b, row, row, enc->position_embedding.data, (size_t)T * H);
    }
    return OW_OK;
}

ow_status ow_clip_text_check_args(const ow_clip_text *enc, int B, int T, int clip_skip, const ow_clip_text_extra *extra,
                                  ow_error *err) {
    const ow_clip_text_config *c = &enc->config;
    if (B <= 0 || T <= 0 || T > c->max_position_embeddings)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "text encoder: %d sequences of %d tokens requested; 1..%d tokens per sequence are possible",
                            B, T, c->max_position_embeddings);
    if (clip_skip < 1 || clip_skip > c->num_hidden_layers)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "text encoder: clip skip %d is out of range (1 = last layer, up to %d layers)", clip_skip,
                            c->num_hidden_layers);
    if (extra && extra->count > 0 && !extra->rows)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "text encoder: %d extra rows announced without data",
                            extra->count);
    return OW_OK;
}

ow_status ow_clip_text_forward(const ow_clip_text *enc, ow_backend *b, const int32_t *ids, int B, int T,
                               int clip_skip, const ow_clip_text_extra *extra, float *out, ow_error *err) {
    const ow_clip_text_config *c = &enc->config;
    ow_status checked = ow_clip_text_check_args(enc, B, T, clip_skip, extra, err);
    if (checked != OW_OK) return checked;
    const size_t M = (size_t)B * T, H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t A = (size_t)ow_clip_text_attention_dim(c);
    clip_scratch s = {0};
    s.x = b->alloc(b, M * H);
    s.h = b->alloc(b, M * H);
    s.q = b->alloc(b, M * A);
    s.k = b->alloc(b, M * A);
    s.v = b->alloc(b, M * A);
    s.attn = b->alloc(b, M * A);
    s.mlp = b->alloc(b, M * I);
    if (!s.x || !s.h || !s.q || !s.k || !s.v || !s.attn || !s.mlp) {
        scratch_free(b, &s);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "text encoder: out of memory for %zu tokens", M);
    }
    ow_status st = ow_clip_text_embed(enc, b, ids, B, T, extra, s.x, err);
    if (st != OW_OK) {
        scratch_free(b, &s);
        return st;
    }
    const int layers = c->num_hidden_layers - (clip_skip - 1);
    for (int i = 0; i < layers; i++) clip_layer_forward(enc, b, &enc->layers[i], &s, B, T);
    b->layer_norm(b, out, s.x, enc->final_layer_norm_weight.data, enc->final_layer_norm_bias.data, (int)M, (int)H,
                  c->layer_norm_eps);
    scratch_free(b, &s);
    return OW_OK;
}
