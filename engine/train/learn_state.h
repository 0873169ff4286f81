/* learn_state.h: the resumable state of a textual-inversion run (internal side of
 * ow_learn_state): made after a step, checked against a resumed run's options,
 * model and images. Saved as one .safetensors (rows and AdamW moments as F32, the
 * mt19937 words as I32, everything else as exact text in the metadata). */
#ifndef OW_TRAIN_LEARN_STATE_H
#define OW_TRAIN_LEARN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "oneword.h"
#include "sampling/torch_rng.h"

/* What identifies a run's training images: an exact fingerprint of the views the VAE
 * encoder takes and of the mask weights, and a coarse summary of the same (block
 * means, OW_IMAGES_SUMMARY_GRID per side at most). The same pictures converted by
 * another process may differ in the last bits (GIMP's babl picks its conversion
 * paths by timing them): the summaries then agree within OW_IMAGES_SUMMARY_TOLERANCE. */
#define OW_IMAGES_SUMMARY_GRID 16
#define OW_IMAGES_SUMMARY_TOLERANCE (1.0f / 1024.0f)
typedef struct {
    int masked;     /* 1: some image has a loss mask; -1: not known (states saved before) */
    uint64_t fingerprint;
    float *summary; /* (n_summary) block means; NULL in states saved before summaries */
    size_t n_summary;
} ow_learn_images_id;

/* Block means of an (n, n) plane on a g x g grid, g = min(n, OW_IMAGES_SUMMARY_GRID),
 * appended to id's summary; the plane's bytes continue its fingerprint. */
ow_status ow_learn_images_id_add(ow_learn_images_id *id, const float *plane, int n, ow_error *err);
void ow_learn_images_id_clear(ow_learn_images_id *id);

struct ow_learn_state {
    char *placeholder, *init_word, *templates;
    int vectors, H, steps, batch, grad_accum, size, scale_lr, force_placeholder;
    int center_crop;               /* 0 or 1; 0 in states saved before it was an option */
    float learning_rate, flip, weight_decay;
    float embedding_reg_weight;    /* 0 and */
    int rescale_norm;              /* 0 in states saved before these options */
    int repeats;                   /* 0 in states saved before epochs */
    int32_t *epoch;                /* (epoch_len) image order of the current epoch, or NULL */
    int epoch_len, epoch_pos;      /* n_images x repeats; draws taken from it */
    uint64_t seed;
    int step, adam_t;              /* steps done; AdamW's step count */
    float *rows, *m1, *m2;         /* (vectors, H) each */
    ow_torch_rng rng;
    uint64_t model_fingerprint;    /* of the frozen weights the run reads */
    int precision;                 /* OW_PRECISION_FP32 or _BF16 the run computed in; -1 in states saved before */
    ow_learn_images_id images;     /* of the training views the encoder takes, and the masks */
};

/* FNV-1a over bytes, continuing from h (start with OW_FINGERPRINT_START). */
#define OW_FINGERPRINT_START 0xcbf29ce484222325ull
uint64_t ow_fingerprint(uint64_t h, const void *data, size_t n);

/* Where the image draws stand: the current epoch's order (len entries, pos taken). */
typedef struct ow_learn_epoch {
    int32_t *order;
    int len, pos;
} ow_learn_epoch;

/* A copy of the run's state after `step`. */
ow_status ow_learn_state_make(const ow_learn_params *p, int H, int step, int adam_t, const float *rows,
                              const float *m1, const float *m2, const ow_torch_rng *rng, const ow_learn_epoch *epoch,
                              uint64_t model_fingerprint, ow_precision precision, const ow_learn_images_id *images,
                              ow_learn_state **out, ow_error *err);

/* Whether p (with width H, model fingerprint, precision and images) continues the state's run;
 * the error names what differs. Images match when their fingerprints do, or their
 * summaries agree within OW_IMAGES_SUMMARY_TOLERANCE. */
ow_status ow_learn_state_check(const ow_learn_state *s, const ow_learn_params *p, int H, uint64_t model_fingerprint,
                               ow_precision precision, const ow_learn_images_id *images, ow_error *err);

#endif
