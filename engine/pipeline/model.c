/* model.c: opening a checkpoint into a ready-to-run model (tokenizer, text
 * encoder, UNet, VAE decoder and encoder, noise schedule) on the device's backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"
#include "tokenizer/wordpiece.h"

void ow_model_options_init(ow_model_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->precision = OW_PRECISION_FP32;
}

ow_precision ow_model_precision(const ow_model *model) { return model->precision; }

const char *ow_model_device(const ow_model *model) { return model->backend->name; }

void ow_model_describe_kernels(const ow_model *model, char *out, size_t cap) {
    model->backend->describe_kernels(model->backend, out, cap);
}

ow_status ow_model_part_weights(const ow_model *m, const ow_checkpoint *ck, ow_part part, ow_weights *out,
                                ow_error *err) {
    ow_status s = ow_checkpoint_weights(ck, part, out, err);
    /* The text encoder keeps f32 at any precision: its pass over 77 tokens costs nothing
     * beside the UNet's, and in bf16 it moved the shapes model's images to 26 dB PSNR
     * from fp32's (39 dB with it in f32: tests/e2e/test_shapes_prompts.c). It is also
     * what the learned rows' gradient flows through. Where the file stores it in f16
     * (as SD 1.x folders and fp16 single files do), its matrices stay f16 in memory
     * and multiply as f32: the same bits at half the memory (235 of 470 MiB for CLIP ViT-L). */
    out->matrix_dtype = part == OW_PART_TEXT ? OW_MATRIX_F32 : m->matrix_dtype;
    out->f16_as_stored = part == OW_PART_TEXT;
    return s;
}

/* Resolves the requested precision on this backend: auto takes what it runs fastest. */
static ow_status choose_precision(ow_model *m, ow_precision want, ow_error *err) {
    ow_backend *b = m->backend;
    if (want == OW_PRECISION_AUTO)
        want = b->preferred_matrix_dtype == OW_MATRIX_BF16 ? OW_PRECISION_BF16 : OW_PRECISION_FP32;
    if (want != OW_PRECISION_FP32 && want != OW_PRECISION_BF16)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "precision %d: use fp32, bf16 or auto", (int)want);
    if (want == OW_PRECISION_BF16 && !b->matrix_supports(b, OW_MATRIX_BF16))
        return ow_error_set(err, OW_ERR_UNSUPPORTED,
                            "bf16 precision: the %s backend has no bf16 matrix products here (oneDNN could not start); "
                            "use --precision fp32",
                            b->name);
    m->precision = want;
    m->matrix_dtype = want == OW_PRECISION_BF16 ? OW_MATRIX_BF16 : OW_MATRIX_F32;
    b->attention_dtype = m->matrix_dtype;
    return OW_OK;
}

ow_status ow_model_open_checkpoint(const ow_model *m, ow_checkpoint **ck, ow_error *err) {
    ow_checkpoint_hints hints = {.config_path = m->config_path};
    return ow_checkpoint_open_hints(ck, m->path, &hints, err);
}

/* A single file's training schedule as its .yaml states it (LDM's DDPM.register_schedule
 * keys, read as diffusers' from_single_file reads them: "linear" is LDM's name for
 * sqrt-spaced betas, diffusers' scaled_linear), and what its UNet predicts. */
static void schedule_from_ldm_config(ow_schedule_config *c, const ow_ldm_config *y) {
    if (y->timesteps > 0) c->num_train_timesteps = y->timesteps;
    if (y->linear_start > 0.0) c->beta_start = y->linear_start;
    if (y->linear_end > 0.0) c->beta_end = y->linear_end;
    if (strcmp(y->beta_schedule, "sqrt_linear") == 0) c->beta_schedule = OW_BETAS_LINEAR;
    if (strcmp(y->parameterization, "v") == 0) c->prediction_type = OW_PREDICT_V;
}

/* The CLIP vocabulary: the caller's path, or where ow_tokenizer_vocab_path finds it. */
static const char *find_vocab(const ow_model_options *opts, char *buffer, size_t cap) {
    if (opts && opts->vocab_path) return opts->vocab_path;
    return ow_tokenizer_vocab_path(buffer, cap);
}

ow_status ow_model_open(ow_model **out, const char *path, const ow_model_options *opts, ow_error *err) {
    *out = NULL;
    ow_model *m = calloc(1, sizeof *m);
    if (!m) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    m->pad_id = OW_CLIP_EOS_ID; /* SD 1.x: CLIP's tokenizer pads with <|endoftext|> */
    if (opts) { m->log = opts->log; m->log_user = opts->log_user; }
    if (!(m->path = strdup(path)) || (opts && opts->config_path && !(m->config_path = strdup(opts->config_path)))) {
        free(m->path);
        free(m);
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    }

    ow_checkpoint *ck = NULL;
    ow_status s = ow_backend_create_for_device(&m->backend, opts ? opts->device : NULL, opts ? opts->threads : 0,
                                               m->log, m->log_user, err);
    if (s == OW_OK) s = choose_precision(m, opts ? opts->precision : OW_PRECISION_FP32, err);
    if (s == OW_OK) s = ow_model_open_checkpoint(m, &ck, err);
    if (s == OW_OK && ow_checkpoint_warnings(ck)[0] && m->log) m->log(m->log_user, 1, ow_checkpoint_warnings(ck));
    if (s == OW_OK) {
        int parts = ow_checkpoint_parts(ck);
        if ((parts & (OW_PART_TEXT | OW_PART_UNET | OW_PART_VAE)) != (OW_PART_TEXT | OW_PART_UNET | OW_PART_VAE))
            s = ow_error_set(err, OW_ERR_FORMAT,
                             "'%s' lacks the %s%s%s: generation needs a whole Stable Diffusion model", path,
                             parts & OW_PART_TEXT ? "" : "text encoder ", parts & OW_PART_UNET ? "" : "UNet ",
                             parts & OW_PART_VAE ? "" : "VAE");
    }
    /* SD 2.x (OpenCLIP ViT-H: 1024-wide context) is refused before any weight is read:
     * its text encoder is not CLIP ViT-L, its tokenizer pads differently and most of
     * its models predict v at 768x768. */
    if (s == OW_OK && (ow_checkpoint_unet_config(ck)->cross_attention_dim == 1024 ||
                       ow_checkpoint_text_config(ck)->hidden_size == 1024))
        s = ow_error_set(err, OW_ERR_UNSUPPORTED,
                         "'%s' is a Stable Diffusion 2.x model (1024-wide text encoder and cross-attention: OpenCLIP "
                         "ViT-H); oneword runs Stable Diffusion 1.x (CLIP ViT-L, 768 wide), e.g. v1-5-pruned-emaonly",
                         path);
    /* The tokenizer the text encoder was trained with: CLIP's BPE, or BERT's WordPiece
     * for LDM text2img (which pads with [PAD] = 0). */
    char vocab[4096];
    if (s == OW_OK && ow_checkpoint_text_config(ck)->family == OW_TEXT_LDM_BERT) {
        m->pad_id = OW_BERT_PAD_ID;
        s = ow_tokenizer_load_wordpiece(&m->tokenizer, ow_tokenizer_bert_vocab_path(vocab, sizeof vocab), err);
    } else if (s == OW_OK) {
        s = ow_tokenizer_load(&m->tokenizer, find_vocab(opts, vocab, sizeof vocab), err);
    }
    ow_weights w;
    if (s == OW_OK) s = ow_model_part_weights(m, ck, OW_PART_TEXT, &w, err);
    if (s == OW_OK) s = ow_clip_text_load(&m->text_encoder, ow_checkpoint_text_config(ck), &w, m->backend, err);
    if (s == OW_OK) s = ow_model_part_weights(m, ck, OW_PART_UNET, &w, err);
    if (s == OW_OK) s = ow_unet_load(&m->unet, ow_checkpoint_unet_config(ck), &w, m->backend, err);
    if (s == OW_OK) s = ow_model_part_weights(m, ck, OW_PART_VAE, &w, err);
    if (s == OW_OK)
        s = ow_vae_load(&m->vae, ow_checkpoint_vae_config(ck), &w, m->backend, OW_VAE_DECODER, err); /* the encoder is for learning */
    if (s == OW_OK) {
        const char *scheduler = ow_checkpoint_scheduler_config_path(ck);
        ow_schedule_config_default(&m->schedule);
        if (scheduler) s = ow_schedule_config_load(&m->schedule, scheduler, err);
        if (ow_checkpoint_ldm_config(ck)) schedule_from_ldm_config(&m->schedule, ow_checkpoint_ldm_config(ck));
    }
    /* The text length comes from the model: CLIP's tokenizer pads and cuts at 77, and a
     * text encoder with fewer positions reads that many. */
    if (s == OW_OK) {
        const int positions = m->text_encoder->config.max_position_embeddings;
        m->text_length = positions < OW_CLIP_CONTEXT ? positions : OW_CLIP_CONTEXT;
        if (m->text_length < 3)
            s = ow_error_set(err, OW_ERR_FORMAT, "the text encoder has %d positions: too few for a prompt", positions);
    }
    if (s == OW_OK && m->text_encoder->config.hidden_size != m->unet->config.cross_attention_dim)
        s = ow_error_set(err, OW_ERR_FORMAT, "the text encoder gives %d-wide vectors but the UNet expects %d",
                         m->text_encoder->config.hidden_size, m->unet->config.cross_attention_dim);
    ow_checkpoint_close(ck); /* the weights now live in backend memory */
    if (s != OW_OK) {
        ow_model_close(m);
        return s;
    }
    *out = m;
    return OW_OK;
}

void ow_model_close(ow_model *m) {
    if (!m) return;
    if (m->vae) ow_vae_free(m->vae);
    if (m->unet) ow_unet_free(m->unet);
    if (m->text_encoder) ow_clip_text_free(m->text_encoder);
    if (m->tokenizer) ow_tokenizer_free(m->tokenizer);
    ow_model_embeddings_free(m); /* before the backend: its rows live there */
    if (m->backend) m->backend->destroy(m->backend);
    free(m->path);
    free(m->config_path);
    free(m);
}

int ow_model_image_factor(const ow_model *m) {
    return ow_vae_scale_factor(&m->vae->config);
}

int ow_model_default_image_side(const ow_model *m) {
    int side = m->unet->config.sample_size * ow_model_image_factor(m);
    return side >= 8 && side <= 8192 ? side : 512;
}

ow_status ow_model_learn_defaults(const char *path, const char *config_path, int *size, int *batch, ow_error *err) {
    *size = 512;
    *batch = 2;
    ow_checkpoint *ck = NULL;
    ow_checkpoint_hints hints = {.config_path = config_path};
    ow_status s = ow_checkpoint_open_hints(&ck, path, &hints, err);
    if (s != OW_OK) return s;
    if (ow_checkpoint_text_config(ck)->family == OW_TEXT_LDM_BERT) {
        *size = 256;
        *batch = 4;
    }
    ow_checkpoint_close(ck);
    return OW_OK;
}

ow_status ow_model_inspect(const char *path, const char *config_path, char **text, ow_error *err) {
    *text = NULL;
    ow_checkpoint *ck = NULL;
    ow_checkpoint_hints hints = {.config_path = config_path};
    ow_status s = ow_checkpoint_open_hints(&ck, path, &hints, err);
    if (s != OW_OK) return s;
    s = ow_checkpoint_describe(ck, text, err);
    ow_checkpoint_close(ck);
    return s;
}
