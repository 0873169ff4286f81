/* oneword.h: the one public header of the oneword engine.
 *
 * The engine is a C11 library with no GIMP or GTK in it. The `oneword` CLI and
 * the GIMP 3 plug-in both call this API. Functions return an ow_status; the
 * message that explains a failure is kept in an ow_error the caller owns.
 * The library never prints and never exits. */
#ifndef ONEWORD_H
#define ONEWORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OW_VERSION_STRING "0.1.0"

typedef enum ow_status {
    OW_OK = 0,
    OW_ERR_INVALID_ARGUMENT, /* a caller-supplied value is out of range */
    OW_ERR_IO,               /* a file could not be opened, read or written */
    OW_ERR_FORMAT,           /* a file is truncated, malformed or lies about itself */
    OW_ERR_UNSUPPORTED,      /* a valid file or request we do not handle (yet) */
    OW_ERR_UNSAFE,           /* a file asked for something we refuse (pickle global) */
    OW_ERR_NOT_FOUND,        /* a named tensor, token or key is missing */
    OW_ERR_OUT_OF_MEMORY,
    OW_ERR_CANCELLED,        /* the progress callback asked to stop */
} ow_status;

/* The message of the last failure, owned by the caller (stack or struct). */
typedef struct ow_error {
    ow_status status;
    char message[1024];
} ow_error;

/* A short name for a status ("format error", ...). Never NULL. */
const char *ow_status_name(ow_status status);

/* Log sink: level 0 = info, 1 = warning. The library calls it instead of printing. */
typedef void (*ow_log_fn)(void *user, int level, const char *message);

/* Progress: return non-zero to cancel at the next safe point. */
typedef int (*ow_progress_fn)(void *user, int step, int total_steps);

/* ---- models ---------------------------------------------------------- */

/* A loaded Stable Diffusion 1.x model: text encoder, UNet, VAE, scheduler config,
 * tokenizer, and the backend they run on. */
typedef struct ow_model ow_model;

typedef struct ow_model_options {
    int threads;              /* CPU threads; <= 0: all cores */
    const char *vocab_path;   /* CLIP BPE vocabulary (.txt.gz); NULL: the installed one */
    ow_log_fn log;            /* warnings (e.g. a truncated prompt); may be NULL */
    void *log_user;
} ow_model_options;

void ow_model_options_init(ow_model_options *opts);

/* Opens a diffusers folder or a single-file .safetensors/.ckpt checkpoint. */
ow_status ow_model_open(ow_model **out, const char *path, const ow_model_options *opts, ow_error *err);
void ow_model_close(ow_model *model);

/* A human-readable description of a checkpoint (layout, detected configuration,
 * parameter counts) for `oneword inspect`, without loading its weights; the
 * caller frees *text with free(). */
ow_status ow_model_inspect(const char *path, char **text, ow_error *err);

/* The size factor between images and latents (8 for SD 1.x): width and height
 * given to ow_generate must be multiples of it. */
int ow_model_image_factor(const ow_model *model);

/* ---- generation ------------------------------------------------------ */

typedef struct ow_generate_params {
    const char *prompt;          /* may be empty */
    const char *negative_prompt; /* NULL or "" : the empty prompt, as diffusers */
    int steps;                   /* 50 */
    float guidance_scale;        /* 7.5; <= 1 disables classifier-free guidance */
    const char *sampler;         /* "ddim" | "plms" | "euler" | "euler-a" | "dpm++2m-karras" */
    float eta;                   /* DDIM eta, 0 */
    uint64_t seed;               /* torch.manual_seed(seed) on a CPU generator */
    int n_images;                /* images drawn together (latents from one randn call) */
    int width, height;           /* multiples of 8 (of the VAE's factor) */
    int clip_skip;               /* 1: last layer (default); 2: penultimate (A1111) */
    ow_progress_fn progress;     /* called after each step; non-zero return cancels */
    void *progress_user;
} ow_generate_params;

void ow_generate_params_init(ow_generate_params *params);

/* Generates params->n_images images into images: n_images * height * width * 3
 * floats in [0, 1], RGB, rows top to bottom (the caller allocates them). */
ow_status ow_generate(ow_model *model, const ow_generate_params *params, float *images, ow_error *err);

#ifdef __cplusplus
}
#endif
#endif
