/* generate.c: text to images, as diffusers' StableDiffusionPipeline does it:
 * prompt and negative prompt -> CLIP embeddings; seeded latents (torch.randn on
 * a CPU generator) x init_noise_sigma; per step the UNet on [uncond; cond],
 * classifier-free guidance, the sampler's step; then VAE decode of
 * latents / scaling_factor and (x / 2 + 0.5) clamped to [0, 1]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"
#include "sampling/sampler.h"
#include "sampling/torch_rng.h"

void ow_generate_params_init(ow_generate_params *p) {
    memset(p, 0, sizeof *p);
    p->prompt = "";
    p->steps = 50;
    p->guidance_scale = 7.5f;
    p->sampler = "ddim";
    p->n_images = 1;
    p->width = 512;
    p->height = 512;
    p->clip_skip = 1;
}

/* Tokenises text into the model's text_length ids, warning through the model's log when it is cut. */
static ow_status tokenize(ow_model *m, const char *text, const char *what, int32_t *ids, ow_error *err) {
    if (ow_model_embedding_count(m) > 0) return ow_model_encode_ids(m, text, what, ids, err); /* expands embedding tokens */
    ow_tokenize_info info;
    ow_status s = ow_tokenizer_encode(m->tokenizer, text ? text : "", ids, m->text_length, m->pad_id, &info, err);
    if (s != OW_OK) return ow_error_prefix(err, "%s", what);
    if (info.truncated && m->log) {
        char message[800];
        snprintf(message, sizeof message, "the %s is %d tokens long; the text encoder reads %d, so this end was cut: \"%s\"",
                 what, info.n_tokens, m->text_length, info.cut_text);
        m->log(m->log_user, 1, message);
    }
    return OW_OK;
}

static ow_status check_params(const ow_model *m, const ow_generate_params *p, ow_error *err) {
    int factor = ow_model_image_factor(m);
    if (p->width <= 0 || p->height <= 0 || p->width % factor || p->height % factor)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "width and height must be positive multiples of %d, got %dx%d",
                            factor, p->width, p->height);
    int levels = 1 << (m->unet->config.num_blocks - 1);
    if ((p->width / factor) % levels || (p->height / factor) % levels)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "width and height must be multiples of %d for this model, got %dx%d",
                            factor * levels, p->width, p->height);
    if (p->steps < 1 || p->steps > 1000)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "steps must be from 1 to 1000, got %d", p->steps);
    if (p->n_images < 1 || p->n_images > 64)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the number of images must be from 1 to 64, got %d", p->n_images);
    if (p->clip_skip < 1 || p->clip_skip > m->text_encoder->config.num_hidden_layers)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "clip skip must be from 1 to %d, got %d",
                            m->text_encoder->config.num_hidden_layers, p->clip_skip);
    if (!(p->eta >= 0.0f && p->eta <= 1.0f))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "eta must be from 0 to 1, got %g", (double)p->eta);
    /* A1111 offers 1..30; 100 still gives an image, far beyond it the prediction is all
     * guidance and a finite but absurd scale (1e38) silently gave a black picture. */
    if (!(p->guidance_scale >= 0.0f && p->guidance_scale <= 100.0f))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the guidance scale must be from 0 to 100, got %g",
                            (double)p->guidance_scale);
    return OW_OK;
}

ow_status ow_generate(ow_model *m, const ow_generate_params *p, float *images, ow_error *err) {
    ow_status s = check_params(m, p, err);
    if (s != OW_OK) return s;
    ow_sampler_kind kind;
    s = ow_sampler_kind_parse(p->sampler ? p->sampler : "ddim", &kind, err);
    if (s != OW_OK) return s;

    ow_backend *b = m->backend;
    const int n = p->n_images;
    const int guided = p->guidance_scale > 1.0f; /* diffusers: do_classifier_free_guidance */
    const int batch = guided ? 2 * n : n;        /* [uncond x n; cond x n] */
    const int factor = ow_model_image_factor(m);
    const int h = p->height / factor, w = p->width / factor;
    const int channels = m->unet->config.in_channels;
    const int T = m->text_length, H = m->text_encoder->config.hidden_size;
    const size_t latent_n = (size_t)n * channels * h * w;
    const size_t image_n = (size_t)n * 3 * p->height * p->width;

    int32_t ids[2 * OW_CLIP_CONTEXT];
    s = tokenize(m, p->negative_prompt, "negative prompt", ids, err);
    if (s == OW_OK) s = tokenize(m, p->prompt, "prompt", ids + T, err);
    const ow_clip_text_extra *extra = NULL; /* rows of loaded embeddings */
    if (s == OW_OK) s = ow_model_text_extra(m, &extra, err);
    if (s != OW_OK) return s;

    ow_sampler *sampler = NULL;
    s = ow_sampler_create(&sampler, kind, &m->schedule, p->steps, p->eta, err);
    if (s != OW_OK) return s;

    /* host buffers */
    float *latents = malloc(latent_n * sizeof *latents);
    float *guided_eps = malloc(latent_n * sizeof *guided_eps);
    float *eps_host = malloc(latent_n * (guided ? 2 : 1) * sizeof *eps_host);
    float *timesteps = malloc((size_t)batch * sizeof *timesteps);
    /* backend buffers */
    float *embeddings = b->alloc(b, (size_t)2 * T * H);          /* (2, T, H): uncond, cond */
    float *context = b->alloc(b, (size_t)batch * T * H);         /* (batch, T, H) */
    float *unet_in = b->alloc(b, (size_t)batch * channels * h * w);
    float *unet_out = b->alloc(b, (size_t)batch * channels * h * w);
    float *decoded = NULL;
    if (!latents || !guided_eps || !eps_host || !timesteps || !embeddings || !context || !unet_in || !unet_out) {
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for %d images of %dx%d", n, p->width, p->height);
        goto done;
    }

    /* Text: negative and positive prompts in one pass, then repeated per image. */
    s = ow_clip_text_forward(m->text_encoder, b, ids, 2, T, p->clip_skip, extra, embeddings, err);
    if (s != OW_OK) goto done;
    for (int i = 0; i < batch; i++) {
        int which = guided ? (i < n ? 0 : 1) : 1;
        b->copy(b, context + (size_t)i * T * H, embeddings + (size_t)which * T * H, (size_t)T * H);
    }

    /* Latents: one torch.randn((n, C, h, w)) call on a generator seeded with seed. */
    ow_torch_rng rng;
    ow_torch_rng_seed(&rng, p->seed);
    ow_torch_randn(&rng, latents, latent_n);
    float sigma0 = ow_sampler_init_noise_sigma(sampler);
    for (size_t i = 0; i < latent_n; i++) latents[i] *= sigma0;

    /* the context is fixed for the loop: its cross-attention keys/values once */
    s = ow_unet_set_context(m->unet, b, context, batch, T, err);
    if (s != OW_OK) goto done;
    const int steps = ow_sampler_num_steps(sampler);
    for (int step = 0; step < steps; step++) {
        float *scaled = guided_eps; /* reused as scratch for the scaled input */
        ow_sampler_scale_input(sampler, step, latents, scaled, latent_n);
        for (int copy = 0; copy < (guided ? 2 : 1); copy++) b->upload(b, unet_in + copy * latent_n, scaled, latent_n);
        float t = ow_sampler_timestep(sampler, step);
        for (int i = 0; i < batch; i++) timesteps[i] = t;
        s = ow_unet_forward(m->unet, b, unet_in, batch, h, w, timesteps, context, T, unet_out, err);
        if (s != OW_OK) goto done;
        b->download(b, eps_host, unet_out, latent_n * (guided ? 2 : 1));
        if (guided) {
            /* noise_pred_uncond + scale * (noise_pred_text - noise_pred_uncond), in f32 as torch */
            const float scale = p->guidance_scale;
            for (size_t i = 0; i < latent_n; i++) {
                float uncond = eps_host[i], cond = eps_host[latent_n + i];
                guided_eps[i] = uncond + scale * (cond - uncond);
            }
        } else {
            memcpy(guided_eps, eps_host, latent_n * sizeof *guided_eps);
        }
        s = ow_sampler_step(sampler, step, guided_eps, latents, latent_n, &rng, err);
        if (s != OW_OK) goto done;
        if (p->progress && p->progress(p->progress_user, step + 1, steps)) {
            s = ow_error_set(err, OW_ERR_CANCELLED, "generation cancelled at step %d of %d", step + 1, steps);
            goto done;
        }
    }

    /* Decode latents / scaling_factor, then (x / 2 + 0.5).clamp(0, 1) to (n, H, W, 3). */
    for (size_t i = 0; i < latent_n; i++) latents[i] = latents[i] / m->vae->config.scaling_factor;
    b->upload(b, unet_in, latents, latent_n);
    decoded = b->alloc(b, image_n);
    float *decoded_host = decoded ? malloc(image_n * sizeof *decoded_host) : NULL;
    if (!decoded || !decoded_host) {
        free(decoded_host);
        s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory decoding %d images of %dx%d", n, p->width, p->height);
        goto done;
    }
    s = ow_vae_decode(m->vae, b, unet_in, n, h, w, decoded, err);
    if (s == OW_OK) b->download(b, decoded_host, decoded, image_n);
    if (s == OW_OK) s = b->status(b, err); /* a device's first failure, if any op failed */
    if (s == OW_OK) {
        const size_t plane = (size_t)p->height * p->width;
        for (int i = 0; i < n; i++)
            for (size_t px = 0; px < plane; px++)
                for (int c = 0; c < 3; c++) {
                    float v = decoded_host[((size_t)i * 3 + c) * plane + px] / 2.0f + 0.5f;
                    images[((size_t)i * plane + px) * 3 + c] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                }
    }
    free(decoded_host);

done:
    ow_unet_clear_context(m->unet); /* before its buffer is freed: a later one may reuse the address */
    if (decoded) b->free(b, decoded);
    if (unet_out) b->free(b, unet_out);
    if (unet_in) b->free(b, unet_in);
    if (context) b->free(b, context);
    if (embeddings) b->free(b, embeddings);
    free(timesteps);
    free(eps_host);
    free(guided_eps);
    free(latents);
    ow_sampler_free(sampler);
    return s;
}
