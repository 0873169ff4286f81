/* test_vae.c: the VAE (AutoencoderKL) against diffusers on both tiny models
 * (tests/golden/tiny/<cfg>/golden/vae.safetensors from tests/ref/make_tiny_models.py):
 * decoder (latents already divided by scaling_factor -> image), encoder (image ->
 * posterior mean and clamped logvar), the encoder's asymmetric downsampling padding
 * both through conv2d_pad4 and through the backend-neutral padded copy, old
 * attention key names (query/key/value/proj_attn), config.json defaults and refusals,
 * missing and mis-shaped weights, half-loaded models. Everything is freed. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "model/model_config.h"
#include "model/vae.h"

static ow_backend *backend;

static float *golden_f32(const ow_tensor_set *set, const char *name, size_t *count) {
    const ow_tensor_entry *e = ow_tensor_set_find(set, name);
    if (!e) return NULL;
    size_t n = (size_t)ow_tensor_entry_numel(e);
    float *x = malloc(n * sizeof *x);
    ow_error err;
    if (ow_tensor_entry_to_f32(e, x, &err) != OW_OK) { free(x); return NULL; }
    if (count) *count = n;
    return x;
}

static float *to_backend(const float *host, size_t n) {
    float *dev = backend->alloc(backend, n);
    backend->upload(backend, dev, host, n);
    return dev;
}

static float *from_backend(const float *dev, size_t n) {
    float *host = malloc(n * sizeof *host);
    backend->download(backend, host, dev, n);
    return host;
}

static void check_decode(const char *cfg, ow_vae *vae, const ow_tensor_set *golden, const char *label) {
    ow_error err;
    const ow_tensor_entry *le = ow_tensor_set_find(golden, "latents");
    const ow_tensor_entry *de = ow_tensor_set_find(golden, "decoded");
    CHECK(le && de, "%s: golden has latents and decoded", cfg);
    if (!le || !de) return;
    const int B = (int)le->shape[0], h = (int)le->shape[2], w = (int)le->shape[3];
    size_t nl, nd;
    float *latents = golden_f32(golden, "latents", &nl), *want = golden_f32(golden, "decoded", &nd);
    float *d_latents = to_backend(latents, nl), *d_image = backend->alloc(backend, nd);
    const int f = ow_vae_scale_factor(&vae->config);
    CHECK((size_t)B * vae->config.out_channels * h * f * w * f == nd, "%s: decoded size", cfg);
    ow_status s = ow_vae_decode(vae, backend, d_latents, B, h, w, d_image, &err);
    CHECK(s == OW_OK, "%s: decode: %s", cfg, err.message);
    if (s == OW_OK) {
        float *got = from_backend(d_image, nd);
        char what[160];
        snprintf(what, sizeof what, "%s vae decode%s (%d, 3, %d, %d)", cfg, label, B, h * f, w * f);
        check_close(what, got, want, nd, 1e-4);
        printf("     %s: decoder activation peak %.1f KiB\n", cfg, vae->last_peak_floats * 4.0 / 1024.0);
        free(got);
    }
    backend->free(backend, d_latents);
    backend->free(backend, d_image);
    free(latents);
    free(want);
}

static void check_encode(const char *cfg, ow_vae *vae, const ow_tensor_set *golden, const char *label) {
    ow_error err;
    const ow_tensor_entry *ie = ow_tensor_set_find(golden, "image");
    CHECK(ie != NULL, "%s: golden has image", cfg);
    if (!ie) return;
    const int B = (int)ie->shape[0], H = (int)ie->shape[2], W = (int)ie->shape[3];
    size_t ni, nm, nv;
    float *image = golden_f32(golden, "image", &ni);
    float *want_mean = golden_f32(golden, "posterior_mean", &nm), *want_logvar = golden_f32(golden, "posterior_logvar", &nv);
    float *d_image = to_backend(image, ni);
    float *d_mean = backend->alloc(backend, nm), *d_logvar = backend->alloc(backend, nv);
    ow_status s = ow_vae_encode(vae, backend, d_image, B, H, W, d_mean, d_logvar, &err);
    CHECK(s == OW_OK, "%s: encode: %s", cfg, err.message);
    if (s == OW_OK) {
        float *mean = from_backend(d_mean, nm), *logvar = from_backend(d_logvar, nv);
        char what[160];
        snprintf(what, sizeof what, "%s vae encode mean%s", cfg, label);
        check_close(what, mean, want_mean, nm, 1e-4);
        snprintf(what, sizeof what, "%s vae encode logvar%s", cfg, label);
        check_close(what, logvar, want_logvar, nv, 1e-4);
        printf("     %s: encoder activation peak %.1f KiB\n", cfg, vae->last_peak_floats * 4.0 / 1024.0);
        free(mean);
        free(logvar);
    }
    /* mean only */
    s = ow_vae_encode(vae, backend, d_image, B, H, W, d_mean, NULL, &err);
    CHECK(s == OW_OK, "%s: encode without logvar: %s", cfg, err.message);
    /* an image size the encoder cannot halve down to latents */
    s = ow_vae_encode(vae, backend, d_image, B, H - 1, W, d_mean, NULL, &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT, "%s: odd image height must be refused (got %s)", cfg, ow_status_name(s));
    backend->free(backend, d_image);
    backend->free(backend, d_mean);
    backend->free(backend, d_logvar);
    free(image);
    free(want_mean);
    free(want_logvar);
}

/* Presents the file's to_q/to_k/to_v/to_out.0 under the old names query/key/value/proj_attn
 * (and hides the new ones), as in VAEs saved by diffusers before 0.14. */
static int old_attention_names(const char *key, char *out, size_t cap, void *user) {
    (void)user;
    static const char *const pairs[4][2] = {
        {".query.", ".to_q."}, {".key.", ".to_k."}, {".value.", ".to_v."}, {".proj_attn.", ".to_out.0."}};
    for (int i = 0; i < 4; i++) {
        const char *at = strstr(key, pairs[i][0]);
        if (at) {
            snprintf(out, cap, "%.*s%s%s", (int)(at - key), key, pairs[i][1], at + strlen(pairs[i][0]));
            return 0;
        }
        if (strstr(key, pairs[i][1]) && strstr(key, "attentions")) {
            snprintf(out, cap, "%s.absent", key);
            return 0;
        }
    }
    snprintf(out, cap, "%s", key);
    return 0;
}

static int hide_key(const char *key, char *out, size_t cap, void *user) {
    snprintf(out, cap, "%s%s", key, strcmp(key, (const char *)user) == 0 ? ".hidden" : "");
    return 0;
}

static void test_model(const char *cfg, int blocks, int groups, int layers) {
    char path[512];
    ow_error err;
    ow_vae_config config;
    snprintf(path, sizeof path, "tests/golden/tiny/%s/vae/config.json", cfg);
    ow_status s = ow_vae_config_load(&config, source_path(path), &err);
    CHECK(s == OW_OK, "%s: config: %s", cfg, err.message);
    if (s != OW_OK) return;
    CHECK(config.num_blocks == blocks && config.norm_num_groups == groups && config.layers_per_block == layers &&
              config.latent_channels == 4 && config.scaling_factor == 0.18215f && config.mid_block_add_attention &&
              config.use_quant_conv && config.use_post_quant_conv,
          "%s: config values (blocks %d, groups %d, layers %d, latent %d, scaling %g)", cfg, config.num_blocks,
          config.norm_num_groups, config.layers_per_block, config.latent_channels, config.scaling_factor);

    ow_tensor_set *file = NULL, *golden = NULL;
    snprintf(path, sizeof path, "tests/golden/tiny/%s/vae/diffusion_pytorch_model.safetensors", cfg);
    s = ow_tensor_set_open(&file, source_path(path), &err);
    CHECK(s == OW_OK, "%s: open weights: %s", cfg, err.message);
    snprintf(path, sizeof path, "tests/golden/tiny/%s/golden/vae.safetensors", cfg);
    if (s == OW_OK) s = ow_tensor_set_open(&golden, source_path(path), &err);
    CHECK(s == OW_OK, "%s: open golden: %s", cfg, err.message);
    if (s != OW_OK) { ow_tensor_set_free(file); return; }

    ow_weights w = {.set = file, .prefix = "", .what = "vae"};
    ow_vae *vae = NULL;
    s = ow_vae_load(&vae, &config, &w, backend, OW_VAE_BOTH, &err);
    CHECK(s == OW_OK, "%s: load: %s", cfg, err.message);
    if (s == OW_OK) {
        check_decode(cfg, vae, golden, "");
        check_encode(cfg, vae, golden, " (conv2d_pad4)");
        /* the same encoder through the padded-copy path a backend without conv2d_pad4 takes */
        void (*pad4)(ow_backend *, float *, const float *, const ow_matrix *, const float *, int, int, int, int, int,
                     int, int, int, int, int, int, int) = backend->conv2d_pad4;
        backend->conv2d_pad4 = NULL;
        check_encode(cfg, vae, golden, " (padded copy)");
        backend->conv2d_pad4 = pad4;
        ow_vae_free(vae);
    }

    /* old attention names */
    ow_weights old = {.set = file, .prefix = "", .map = old_attention_names, .what = "vae"};
    s = ow_vae_load(&vae, &config, &old, backend, OW_VAE_DECODER, &err);
    CHECK(s == OW_OK, "%s: load with query/key/value/proj_attn names: %s", cfg, err.message);
    if (s == OW_OK) {
        check_decode(cfg, vae, golden, " (old attention names)");
        /* a decoder-only model refuses to encode */
        float *dummy = backend->alloc(backend, 16);
        s = ow_vae_encode(vae, backend, dummy, 1, 8, 8, dummy, NULL, &err);
        CHECK(s == OW_ERR_INVALID_ARGUMENT, "%s: encode without an encoder must be refused (got %s)", cfg,
              ow_status_name(s));
        printf("ok   %s: %s\n", cfg, err.message);
        backend->free(backend, dummy);
        ow_vae_free(vae);
    }

    /* missing and mis-shaped weights */
    static const char *const hidden[] = {"decoder.mid_block.attentions.0.to_out.0.bias", "encoder.down_blocks.0.downsamplers.0.conv.weight",
                                         "post_quant_conv.bias", "decoder.up_blocks.2.resnets.0.conv_shortcut.weight"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        ow_weights hw = {.set = file, .prefix = "", .map = hide_key, .map_user = (void *)hidden[i], .what = "vae"};
        s = ow_vae_load(&vae, &config, &hw, backend, OW_VAE_BOTH, &err);
        CHECK(s == OW_ERR_NOT_FOUND && vae == NULL && strstr(err.message, hidden[i]),
              "%s: missing %s must fail naming it (got %s: %s)", cfg, hidden[i], ow_status_name(s), err.message);
        printf("ok   %s: %s\n", cfg, err.message);
    }
    ow_vae_config wrong = config;
    wrong.latent_channels = 8;
    s = ow_vae_load(&vae, &wrong, &w, backend, OW_VAE_ENCODER, &err);
    CHECK(s == OW_ERR_FORMAT && vae == NULL && strstr(err.message, "encoder.conv_out.weight"),
          "%s: latent_channels 8 must fail naming encoder.conv_out (got %s: %s)", cfg, ow_status_name(s), err.message);
    printf("ok   %s: wrong shape: %s\n", cfg, err.message);

    ow_tensor_set_free(file);
    ow_tensor_set_free(golden);
}

/* No mid-block attention, no quant convs, 3 latent channels, batch 2, non-square
 * (tests/golden/model/vae-plain from tests/ref/make_model_variants.py). */
static void test_plain_variant(void) {
    ow_error err;
    ow_vae_config config;
    ow_status s = ow_vae_config_load(&config, source_path("tests/golden/model/vae-plain/config.json"), &err);
    CHECK(s == OW_OK && !config.mid_block_add_attention && !config.use_quant_conv && !config.use_post_quant_conv &&
              config.latent_channels == 3,
          "vae-plain: config (%s)", s == OW_OK ? "ok" : err.message);
    if (s != OW_OK) return;
    ow_tensor_set *file = NULL, *golden = NULL;
    s = ow_tensor_set_open(&file, source_path("tests/golden/model/vae-plain/diffusion_pytorch_model.safetensors"), &err);
    if (s == OW_OK) s = ow_tensor_set_open(&golden, source_path("tests/golden/model/vae-plain/golden.safetensors"), &err);
    CHECK(s == OW_OK, "vae-plain: open: %s", err.message);
    ow_weights w = {.set = file, .prefix = "", .what = "vae"};
    ow_vae *vae = NULL;
    if (s == OW_OK) s = ow_vae_load(&vae, &config, &w, backend, OW_VAE_BOTH, &err);
    CHECK(s == OW_OK, "vae-plain: load: %s", err.message);
    if (s == OW_OK) {
        check_decode("vae-plain", vae, golden, " (no attention, no quant convs)");
        check_encode("vae-plain", vae, golden, " (no attention, no quant convs)");
        ow_vae_free(vae);
    }
    ow_tensor_set_free(file);
    ow_tensor_set_free(golden);
}

static ow_status parse(const char *json, ow_vae_config *cfg, ow_error *err) {
    json_object *obj;
    ow_status s = ow_config_parse_text(json, &obj, err);
    if (s != OW_OK) return s;
    s = ow_vae_config_from_json(cfg, obj, err);
    json_object_put(obj);
    return s;
}

static void test_config(void) {
    ow_error err;
    ow_vae_config cfg;
    ow_status s = parse("{}", &cfg, &err);
    CHECK(s == OW_OK && cfg.num_blocks == 1 && cfg.block_out_channels[0] == 64 && cfg.layers_per_block == 1 &&
              cfg.latent_channels == 4 && cfg.scaling_factor == 0.18215f && cfg.mid_block_add_attention &&
              cfg.use_quant_conv && cfg.use_post_quant_conv,
          "defaults (%s)", s == OW_OK ? "ok" : err.message);
    /* the SD 1.x release config (diffusers 0.2 era) */
    s = parse("{\"_class_name\": \"AutoencoderKL\", \"_diffusers_version\": \"0.2.2\", \"act_fn\": \"silu\","
              " \"block_out_channels\": [128, 256, 512, 512], \"down_block_types\": [\"DownEncoderBlock2D\","
              " \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\"], \"in_channels\": 3,"
              " \"latent_channels\": 4, \"layers_per_block\": 2, \"out_channels\": 3, \"sample_size\": 256,"
              " \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}",
              &cfg, &err);
    CHECK(s == OW_OK && cfg.num_blocks == 4 && cfg.block_out_channels[2] == 512 && cfg.layers_per_block == 2 &&
              cfg.norm_num_groups == 32 && ow_vae_scale_factor(&cfg) == 8 && cfg.scaling_factor == 0.18215f,
          "SD 1.x config (%s)", s == OW_OK ? "ok" : err.message);
    s = parse("{\"mid_block_add_attention\": false, \"use_quant_conv\": false, \"scaling_factor\": 0.13025,"
              " \"force_upcast\": false}", &cfg, &err);
    CHECK(s == OW_OK && !cfg.mid_block_add_attention && !cfg.use_quant_conv && cfg.scaling_factor == 0.13025f,
          "options (%s)", s == OW_OK ? "ok" : err.message);

    static const struct { const char *json, *key; ow_status want; } bad[] = {
        {"{\"shift_factor\": 0.0609}", "shift_factor", OW_ERR_UNSUPPORTED},
        {"{\"latents_mean\": [0, 0, 0, 0]}", "latents_mean", OW_ERR_UNSUPPORTED},
        {"{\"_class_name\": \"AutoencoderTiny\"}", "_class_name", OW_ERR_UNSUPPORTED},
        {"{\"act_fn\": \"gelu\"}", "act_fn", OW_ERR_UNSUPPORTED},
        {"{\"down_block_types\": [\"DownBlock2D\"]}", "down_block_types", OW_ERR_UNSUPPORTED},
        {"{\"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}", "up_block_types", OW_ERR_FORMAT},
        {"{\"layers_per_block\": [1, 2]}", "layers_per_block", OW_ERR_UNSUPPORTED},
        {"{\"block_out_channels\": [128, 250], \"down_block_types\": null, \"up_block_types\": null}",
         "block_out_channels", OW_ERR_FORMAT},
        {"{\"latent_channels\": 0}", "latent", OW_ERR_FORMAT},
        {"[1, 2]", "object", OW_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = parse(bad[i].json, &cfg, &err);
        CHECK(s == bad[i].want && strstr(err.message, bad[i].key), "%s must fail with %s naming '%s' (got %s: %s)",
              bad[i].json, ow_status_name(bad[i].want), bad[i].key, ow_status_name(s), s ? err.message : "");
        printf("ok   refused: %s\n", err.message);
    }
}

int main(void) {
    ow_error err;
    if (ow_cpu_backend_create(&backend, 2, &err) != OW_OK) {
        fprintf(stderr, "cpu backend: %s\n", err.message);
        return 1;
    }
    test_config();
    test_model("sd-tiny-a", 4, 32, 1);
    test_model("sd-tiny-b", 3, 8, 2);
    test_plain_variant();
    backend->destroy(backend);
    CHECK_DONE();
}
