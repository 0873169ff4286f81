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

/* The number format the matrix products run in. fp32 is the reference every parity
 * test holds to; bf16 keeps the UNet's and the VAE's product weights in bf16 (half
 * the memory) and rounds their inputs to bf16, accumulating in f32, with norms,
 * softmax, the sampler, the text encoder and the learned embedding rows in f32. */
typedef enum ow_precision {
    OW_PRECISION_FP32 = 0,
    OW_PRECISION_BF16,
    OW_PRECISION_AUTO, /* bf16 where the processor has AMX or AVX512-BF16, fp32 elsewhere */
} ow_precision;

/* "fp32", "bf16", "auto". */
const char *ow_precision_name(ow_precision p);
/* Parses "fp32" / "bf16" / "auto"; returns 0 on success, -1 otherwise. */
int ow_precision_parse(const char *name, ow_precision *out);

typedef struct ow_model_options {
    int threads;              /* CPU threads; <= 0: all cores */
    ow_precision precision;   /* OW_PRECISION_FP32 after ow_model_options_init */
    const char *vocab_path;   /* CLIP BPE vocabulary (.txt.gz); NULL: the installed one */
    const char *config_path;  /* a single file's original LDM .yaml (v1-inference.yaml and kin); NULL: A1111's
                                 <name>.yaml beside the checkpoint when there is one */
    ow_log_fn log;            /* warnings (e.g. a truncated prompt); may be NULL */
    void *log_user;
    const char *device;       /* "auto" (NULL: the same), "cpu", "cuda" or "cuda:N": auto takes CUDA device 0
                                 when this build has the CUDA backend and the device starts, else the CPU */
} ow_model_options;

void ow_model_options_init(ow_model_options *opts);

/* Opens a diffusers folder or a single-file .safetensors/.ckpt checkpoint. */
ow_status ow_model_open(ow_model **out, const char *path, const ow_model_options *opts, ow_error *err);
void ow_model_close(ow_model *model);

/* A human-readable description of a checkpoint (layout, detected configuration,
 * parameter counts, what had to be guessed) for `oneword inspect`, without loading
 * its weights; config_path as in ow_model_options (NULL: the .yaml beside it, if
 * any). The caller frees *text with free(). */
ow_status ow_model_inspect(const char *path, const char *config_path, char **text, ow_error *err);

/* The reference's training resolution and batch for the model at path (its family,
 * read from the checkpoint without loading weights), what ow_learn_params' size and
 * batch should be when the user gives neither: Stable Diffusion 1.x 512 px, batch 2
 * (its configs/stable-diffusion/v1-finetune.yaml); LDM text2img-large 256 px, batch 4
 * (configs/latent-diffusion/txt2img-1p4B-finetune.yaml). config_path as in
 * ow_model_inspect. */
ow_status ow_model_learn_defaults(const char *path, const char *config_path, int *size, int *batch, ow_error *err);

/* The backend the model runs on: "cpu" or "cuda". */
const char *ow_model_device(const ow_model *model);

/* The precision the model runs in (auto resolved to fp32 or bf16). */
ow_precision ow_model_precision(const ow_model *model);
/* The kernels its matrix products run on, for --verbose ("f32: OpenBLAS ...; bf16: oneDNN ..."). */
void ow_model_describe_kernels(const ow_model *model, char *out, size_t cap);

/* The image side the model was trained at, what diffusers' pipelines generate when no
 * size is given (the UNet's sample_size x the image factor): 512 for SD 1.x, 256 for
 * LDM text2img-large. */
int ow_model_default_image_side(const ow_model *model);

/* The size factor between images and latents (8 for SD 1.x): width and height
 * given to ow_generate must be multiples of it. */
int ow_model_image_factor(const ow_model *model);

/* ---- the CPU's matrix products ------------------------------------------- */

/* The OpenBLAS core type this process should run with, when OpenBLAS fell back to
 * generic kernels on a processor it does not know (OpenBLAS 0.3.21 on a 2023 Xeon:
 * 5x slower matrix products): "SkylakeX" (AVX-512) or "Haswell" (AVX2 + FMA); NULL
 * when its own choice is right or OPENBLAS_CORETYPE is set. OpenBLAS reads the
 * variable only when it loads, so a program sets it and restarts itself (the CLI
 * does: it runs itself again with the variable set). */
const char *ow_cpu_blas_core_to_force(void);
/* "<OpenBLAS config>, <core> kernels[, OPENBLAS_CORETYPE=...]" into out. */
void ow_cpu_blas_describe(char *out, size_t cap);

/* ---- generation ------------------------------------------------------ */

typedef struct ow_generate_params {
    const char *prompt;          /* may be empty */
    const char *negative_prompt; /* NULL or "" : the empty prompt, as diffusers */
    int steps;                   /* 50 */
    float guidance_scale;        /* 7.5; 0 to 100; <= 1 disables classifier-free guidance */
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

/* ---- embeddings ---------------------------------------------------------
 * Textual-inversion embedding files: read every layout people share, write the
 * layouts other tools load, merge them. (Section owned by engine/embeddings/.)
 *
 * Read (format detected from the contents; f32/f16/bf16 storage):
 *   - reference repo .pt: {'string_to_token': {tok: id}, 'string_to_param': {tok: (n, H)}}
 *     (768-wide for SD, 1280-wide for the LDM BERT encoder);
 *   - A1111 .pt: the same with one '*' entry plus 'name', 'step', 'sd_checkpoint',
 *     'sd_checkpoint_name' (zip with any root folder, legacy non-zip files,
 *     GPU-tagged storages);
 *   - {'emb_params': (n, H)} in .safetensors or .pt (kohya / A1111-style);
 *   - diffusers learned_embeds.bin / .safetensors: {tok: (H) or (n, H)};
 *   - A1111 PNG embeddings: base64 JSON in an 'sd-ti-embedding' text chunk, or
 *     (without the chunk) the zlib'd JSON A1111 hides in the pixels beside the picture;
 *   - SDXL embeddings {'clip_l': (n, 768), 'clip_g': (n, 1280)}: read and
 *     reported, refused by generation until SDXL exists;
 *   - our .json (see ow_embedding_save).
 * Pickled files go through the restricted pickle reader: nothing in a file can
 * make us run code; any global outside the allow-list is refused by name.
 *
 * The token of a file: its tokens as stored (reference and diffusers keys), the
 * 'name' of an A1111 file (or safetensors metadata "name"), otherwise (emb_params,
 * SDXL, A1111 files without a name) the file name without its extension.
 * A token with k vectors stands for k consecutive vectors wherever it appears in
 * a prompt (as A1111, and diffusers after maybe_convert_prompt, which names them
 * <tok>, <tok>_1, ...); the 77-token limit counts the expanded vectors. Tokens
 * match the raw prompt text exactly (case-sensitive, like transformers' added
 * tokens; A1111 matches after CLIP's lower-casing). */
typedef struct ow_embedding ow_embedding;

typedef enum ow_embedding_layout {
    OW_EMBEDDING_LAYOUT_AUTO,      /* from the extension: .pt A1111 (reference layout for several
                                      tokens), .safetensors A1111 ('emb_params'; diffusers for several
                                      tokens), .bin diffusers, .json ours */
    OW_EMBEDDING_LAYOUT_A1111,     /* .pt/.bin: string_to_param; .safetensors: emb_params */
    OW_EMBEDDING_LAYOUT_DIFFUSERS, /* {token: (n, H)} */
} ow_embedding_layout;

/* Reads an embedding file (.pt/.bin/.ckpt, .safetensors, .png, .json). A valid
 * tensor file that holds no embedding layout (a model checkpoint) fails with
 * OW_ERR_NOT_FOUND, so callers can fall back to ow_model_inspect. */
ow_status ow_embedding_load(ow_embedding **out, const char *path, ow_error *err);
/* An empty embedding to fill with ow_embedding_add. */
ow_status ow_embedding_create(ow_embedding **out, ow_error *err);
void ow_embedding_free(ow_embedding *emb);

const char *ow_embedding_format(const ow_embedding *emb);          /* "A1111 .pt", "diffusers .safetensors", ... */
const char *ow_embedding_name(const ow_embedding *emb);            /* NULL if the file has none */
int64_t ow_embedding_step(const ow_embedding *emb);               /* -1 if the file has none */
const char *ow_embedding_checkpoint(const ow_embedding *emb);      /* A1111 sd_checkpoint hash, or NULL */
const char *ow_embedding_checkpoint_name(const ow_embedding *emb); /* A1111 sd_checkpoint_name, or NULL */
int ow_embedding_dim(const ow_embedding *emb);      /* vector width (SDXL: the clip_l width); 0 when empty */
int ow_embedding_is_sdxl(const ow_embedding *emb);  /* 1 for clip_l + clip_g embeddings */
/* The text encoder the width points to ("SD 1.x (CLIP ViT-L/14, 768)", ...). */
const char *ow_embedding_model_family(const ow_embedding *emb);
size_t ow_embedding_count(const ow_embedding *emb);
const char *ow_embedding_token(const ow_embedding *emb, size_t index);
/* Vectors of token index: returns their number and sets *rows to (n, dim) floats
 * (and *rows_g, may be NULL, to the SDXL clip_g rows or NULL). */
int ow_embedding_vectors(const ow_embedding *emb, size_t index, const float **rows, const float **rows_g);
/* Storage dtype of token index as read: "F32", "F16" or "BF16". */
const char *ow_embedding_dtype(const ow_embedding *emb, size_t index);

/* Adds a token with n vectors of width dim (copied; written as F32). */
ow_status ow_embedding_add(ow_embedding *emb, const char *token, const float *rows, int n, int dim, ow_error *err);
ow_status ow_embedding_set_info(ow_embedding *emb, const char *name, int64_t step, ow_error *err);
/* Renames a token; NOT_FOUND if absent, INVALID_ARGUMENT if new_token is taken. */
ow_status ow_embedding_rename(ow_embedding *emb, const char *old_token, const char *new_token, ow_error *err);

/* All tokens of inputs[0..n-1] in one embedding, as the reference repo's
 * merge_embeddings.py: a token used by two inputs is an error whose message lists
 * every clash with the files (labels[i] names inputs[i]); inputs of different
 * widths (768 vs 1280) or SDXL mixed with others are refused. */
ow_status ow_embedding_merge(ow_embedding **out, const ow_embedding *const *inputs, const char *const *labels, size_t n,
                             ow_error *err);

/* Writes emb atomically; the format comes from the extension (.pt, .bin,
 * .safetensors, .json) and layout. The .json holds {"format", "name", "step",
 * "tokens": [{"token", "dtype", "vectors": [[...], ...]}]} (SDXL: "clip_g" too).
 * Each token keeps the dtype it was read with. */
ow_status ow_embedding_save(const ow_embedding *emb, const char *path, ow_embedding_layout layout, ow_error *err);

/* What `oneword inspect` prints: text, or JSON when json is non-zero; free() *text. */
ow_status ow_embedding_describe(const ow_embedding *emb, const char *path, int json, char **text, ow_error *err);

/* Tokens of an embedding file usable in this model's prompts (see the token rules
 * above). Widths must match the text encoder; SDXL embeddings are refused. */
ow_status ow_model_add_embedding(ow_model *model, const char *path, ow_error *err);
/* The same from memory (the plug-in's library). */
ow_status ow_model_add_embedding_data(ow_model *model, const ow_embedding *emb, const char *source, ow_error *err);
/* Every embedding file in dir (not recursive), as A1111's embeddings folder: a
 * one-token file is used under its file name without extension; files that cannot
 * be read or do not fit this model are skipped with a warning through the log. */
ow_status ow_model_add_embedding_dir(ow_model *model, const char *dir, ow_error *err);
/* Number of embedding tokens loaded into the model. */
size_t ow_model_embedding_count(const ow_model *model);

/* ---- words: the CLIP vocabulary without a model ----------------------------
 * How text splits into CLIP tokens, e.g. to check a Learn init word while the user
 * types it: ow_learn takes an init word of one token, or of up to `vectors` tokens
 * (vector i starts from token i mod n). */
typedef struct ow_tokenizer ow_tokenizer;

/* Loads the CLIP BPE vocabulary (.txt.gz); vocab_path NULL: found as ow_model_open
 * finds it ($ONEWORD_VOCAB, the installed copy, the source tree's). ~50 ms. */
ow_status ow_tokenizer_open(ow_tokenizer **out, const char *vocab_path, ow_error *err);
void ow_tokenizer_free(ow_tokenizer *tokenizer);

#define OW_WORD_SUGGESTIONS 4

typedef struct ow_word_split_info {
    int n_tokens;     /* CLIP tokens of the text (0: nothing in it makes a token) */
    char pieces[512]; /* the tokens as CLIP sees them: "purple" + "orange" (lower-cased) */
    /* When the text is several tokens: the pieces that are one-token words on their
     * own (3 letters or more), longest first; what to use as a one-token init word. */
    int n_suggestions;
    char suggestions[OW_WORD_SUGGESTIONS][64];
} ow_word_split_info;

ow_status ow_word_split(const ow_tokenizer *tokenizer, const char *text, ow_word_split_info *out, ow_error *err);

/* ---- learning (textual inversion) ----------------------------------------
 * "An Image is Worth One Word" (Gal et al.): new token vectors for a frozen model,
 * learned from a few images. Defaults follow the reference implementation's
 * configs/stable-diffusion/v1-finetune.yaml (see ow_learn_params_init). */

/* One training image: rgb (height, width, 3) floats in [0, 1], rows top to bottom.
 * mask (height, width) in [0, 1], or NULL: how much each pixel counts in the loss
 * (a layer mask or alpha: 0 = outside the concept, not learned from). The mask is
 * resized with the image and averaged over each latent pixel; the loss is the mean
 * over all latent pixels of weight x squared error (kohya's masked loss). */
typedef struct ow_learn_image {
    const float *rgb;
    int width, height;
    const float *mask;
} ow_learn_image;

/* After each optimiser step: return non-zero to stop (the embedding so far is kept). */
typedef int (*ow_learn_progress_fn)(void *user, int step, int total_steps, float loss, double seconds);

/* Everything a run needs to continue after a step exactly as if it had not stopped:
 * the rows, the optimiser's moments and step, the random generator, the step, the
 * options and fingerprints of the model and the images (a resumed run on another
 * model or other images is refused). */
typedef struct ow_learn_state ow_learn_state;

typedef struct ow_learn_params {
    const char *placeholder;     /* "*": the new token as typed in prompts */
    const char *init_word;       /* one CLIP token whose embedding starts every vector, or up to `vectors`
                                  * tokens: vector i starts from token i mod n (kohya) */
    int vectors;                 /* vectors per token, 1 (1..16) */
    int steps;                   /* optimiser steps, 5000 */
    float learning_rate;         /* base rate 5e-3 */
    int scale_lr;                /* 1: rate = base x batch x grad_accum (the reference's scale_lr) */
    int batch;                   /* images per micro-batch, 2 */
    int grad_accum;              /* micro-batches per step, 1 */
    int size;                    /* training resolution in pixels, 512 (a multiple of the model's factor) */
    int repeats;                 /* 100, the reference's: images are drawn in shuffled epochs holding each
                                  * image `repeats` times (its training set); 0: each draw independent */
    float flip;                  /* probability of a horizontal flip, 0.5 */
    int center_crop;             /* 1: each image's largest centred square is resized to size x size (the
                                  * reference's center_crop); 0 (default): the whole image, its aspect ignored */
    const char *templates;       /* "object" (default) or "style": the reference's prompt lists */
    float weight_decay;          /* AdamW, 0.01 (torch's default, as the reference uses) */
    uint64_t seed;               /* every random choice (images, flips, prompts, timesteps, noise) */
    int force_placeholder;       /* 1: allow a placeholder that is an ordinary word of the vocabulary */
    /* Norm constraints (both off by default, as in the reference's configs):
     * embedding_reg_weight: the reference's embedding_reg_weight: the loss gains
     *   w mean_ij <r_i - c_i, r_j - c_j> over the rows r and their init-word rows c
     *   (its embedding_to_coarse_loss().mean());
     * rescale_norm: 1: after every step each vector is rescaled to the mean norm of
     *   the vocabulary's rows, so it stays the size of a word. */
    float embedding_reg_weight;
    int rescale_norm;
    int gradient_checkpointing;  /* 1: keep only each UNet block's input between the passes and recompute
                                  * the block in the backward pass: less memory, slower; the same bits */
    ow_learn_progress_fn progress;
    void *progress_user;
    /* Every save_every steps (0: never) the embedding so far is handed to on_checkpoint
     * (the reference writes embeddings_gs-N.pt then); non-zero from it stops the run.
     * In progress and on_checkpoint the model already knows the placeholder with the
     * rows so far: ow_generate may be called there for a preview. */
    int save_every;
    int (*on_checkpoint)(void *user, int step, const ow_embedding *embedding, const ow_learn_state *state);
    void *checkpoint_user;
    /* A state from on_checkpoint (or ow_learn_state_load) to continue from; NULL: a new
     * run. Its options must match these, except steps, which may be raised. */
    const ow_learn_state *resume;
} ow_learn_params;

void ow_learn_params_init(ow_learn_params *params);

/* A state as one .safetensors file (written atomically), and back. */
ow_status ow_learn_state_save(const ow_learn_state *state, const char *path, ow_error *err);
ow_status ow_learn_state_load(ow_learn_state **out, const char *path, ow_error *err);
/* The options the state's run used (strings point into the state), for a resume. */
void ow_learn_state_params(const ow_learn_state *state, ow_learn_params *params);
/* The step the state was taken after. */
int ow_learn_state_step(const ow_learn_state *state);
/* The precision the run computed in (a resume must use it), or OW_PRECISION_AUTO for
 * states saved before it was recorded. */
ow_precision ow_learn_state_precision(const ow_learn_state *state);
void ow_learn_state_free(ow_learn_state *state);

/* The training views ow_learn would encode, without a model (a dry run to show the
 * user): each image (or, with params->center_crop, its largest centred square)
 * resized to params->size square as learning resizes it and, when
 * params->flip > 0, its mirror next to it. views gets ow_learn_view_count() x (size,
 * size, 3) floats in [0, 1] (view 2i + 1 mirrors view 2i when flipping); masks, when
 * not NULL, as many (size, size) loss weights (1 where an image has no mask). */
int ow_learn_view_count(int n_images, const ow_learn_params *params);
ow_status ow_learn_views(const ow_learn_image *images, int n_images, const ow_learn_params *params, float *views,
                         float *masks, ow_error *err);

/* Learns params->vectors new rows for params->placeholder from n_images images and
 * returns them as an embedding (token = placeholder; caller frees it). Afterwards the
 * model knows the placeholder with the learned vectors, so ow_generate can use it at
 * once. Stopped by the progress callback, it returns OW_ERR_CANCELLED and still hands
 * back the embedding of the last completed step. */
ow_status ow_learn(ow_model *model, const ow_learn_image *images, int n_images, const ow_learn_params *params,
                   ow_embedding **out, ow_error *err);

#ifdef __cplusplus
}
#endif
#endif
