/* pipeline.h: the loaded model behind the public ow_model handle (internal). */
#ifndef OW_PIPELINE_PIPELINE_H
#define OW_PIPELINE_PIPELINE_H

#include "backend/backend.h"
#include "model/checkpoint.h"
#include "model/clip_text.h"
#include "model/unet.h"
#include "model/vae.h"
#include "oneword.h"
#include "sampling/schedule.h"
#include "tokenizer/tokenizer.h"

struct ow_model {
    ow_backend *backend;
    ow_tokenizer *tokenizer;
    ow_clip_text *text_encoder;
    ow_unet *unet;
    ow_vae *vae;
    ow_schedule_config schedule;
    int pad_id;       /* token that fills the context after EOS */
    int text_length;  /* ids per prompt: CLIP's 77, or the text encoder's positions when it has fewer */
    ow_precision precision;       /* resolved: FP32 or BF16 */
    ow_matrix_dtype matrix_dtype; /* the UNet's and the VAE's product weights */
    ow_log_fn log;
    void *log_user;
    struct ow_model_embeddings *embeddings; /* textual-inversion tokens (pipeline/embeddings.c); NULL: none */
    char *path;        /* the checkpoint it was opened from (learning loads the VAE encoder from it) */
    char *config_path; /* the .yaml it was opened with, or NULL */
};

/* Opens the checkpoint the model was opened from, as it was (same .yaml). */
ow_status ow_model_open_checkpoint(const ow_model *m, ow_checkpoint **ck, ow_error *err);

/* A part's weights in ck, to be loaded the way this model holds them: matrices in
 * m->matrix_dtype, the text encoder's in f32 at any precision (held in f16 where the
 * file stores f16: OW_MATRIX_F16 multiplies as f32). Model loading and
 * learning's VAE encoder both go through it. */
ow_status ow_model_part_weights(const ow_model *m, const ow_checkpoint *ck, ow_part part, ow_weights *out,
                                ow_error *err);

#endif
