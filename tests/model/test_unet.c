/* test_unet.c: the UNet (UNet2DConditionModel) against diffusers on both tiny models
 * (tests/golden/tiny/<cfg>/golden/unet.safetensors from tests/ref/make_tiny_models.py):
 * batch 2, one timestep broadcast to the batch, square and non-square latents; the
 * sinusoidal timestep embedding; config.json defaults and refusals; missing and
 * mis-shaped weights; bad forward arguments. Everything is freed (LeakSanitizer). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "model/model_config.h"
#include "model/unet.h"

static ow_backend *backend;

/* torch's f32 exp (MKL / Sleef) is not correctly rounded: about 1% of frequencies
 * differ from ours by one ulp, which moves sin/cos by up to t * 2^-24 (6e-5 at t = 999).
 * Small timesteps agree to 1e-6 (test_timestep_embedding). */
#define TIMESTEP_TOL 1e-4

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

/* How run_unet treats ow_unet_set_context: not at all, set to the context it passes,
 * or set to another buffer (of zeros) first. */
enum { CONTEXT_NONE, CONTEXT_SAME, CONTEXT_OTHER };

/* Runs the unet on the golden inputs; returns the host output (NULL on failure). */
static float *run_unet(ow_unet *unet, const ow_tensor_set *golden, int *B_out, size_t *n_out, ow_error *err,
                       int context_mode) {
    const ow_tensor_entry *se = ow_tensor_set_find(golden, "sample");
    const ow_tensor_entry *ce = ow_tensor_set_find(golden, "encoder_hidden_states");
    if (!se || !ce) return NULL;
    const int B = (int)se->shape[0], H = (int)se->shape[2], W = (int)se->shape[3], T = (int)ce->shape[1];
    size_t ns, nc, nt;
    float *sample = golden_f32(golden, "sample", &ns), *context = golden_f32(golden, "encoder_hidden_states", &nc);
    float *t = golden_f32(golden, "timestep", &nt);
    float timesteps[16];
    for (int i = 0; i < B && i < 16; i++) timesteps[i] = t[nt == 1 ? 0 : i]; /* one timestep broadcast, as pipelines pass */
    float *d_sample = to_backend(sample, ns), *d_context = to_backend(context, nc);
    const size_t nout = (size_t)B * unet->config.out_channels * H * W;
    float *d_out = backend->alloc(backend, nout);
    float *zeros = calloc(nc, sizeof *zeros), *d_other = to_backend(zeros, nc);
    ow_status s = OW_OK;
    if (context_mode == CONTEXT_SAME) s = ow_unet_set_context(unet, backend, d_context, B, T, err);
    if (context_mode == CONTEXT_OTHER) s = ow_unet_set_context(unet, backend, d_other, B, T, err);
    if (s == OW_OK && context_mode != CONTEXT_NONE && !unet->kv_cache) s = OW_ERR_OUT_OF_MEMORY; /* nothing was kept */
    if (s == OW_OK) s = ow_unet_forward(unet, backend, d_sample, B, H, W, timesteps, d_context, T, d_out, err);
    if (s == OW_OK && context_mode == CONTEXT_SAME) /* twice: the keys/values are kept across calls */
        s = ow_unet_forward(unet, backend, d_sample, B, H, W, timesteps, d_context, T, d_out, err);
    ow_unet_clear_context(unet);
    backend->free(backend, d_other);
    free(zeros);
    float *out = NULL;
    if (s == OW_OK) {
        out = malloc(nout * sizeof *out);
        backend->download(backend, out, d_out, nout);
    }
    backend->free(backend, d_sample);
    backend->free(backend, d_context);
    backend->free(backend, d_out);
    free(sample);
    free(context);
    free(t);
    *B_out = B;
    *n_out = nout;
    return out;
}

/* ow_unet_set_context gives the same bits as computing the keys/values per call; a
 * context set for another buffer is not used for this one. got: the plain run's output. */
static void check_set_context(ow_unet *unet, const ow_tensor_set *golden, const float *got, size_t n, const char *name) {
    ow_error err = {0};
    size_t n2 = 0, n3 = 0;
    int B2 = 0;
    float *same = run_unet(unet, golden, &B2, &n2, &err, CONTEXT_SAME);
    float *other = run_unet(unet, golden, &B2, &n3, &err, CONTEXT_OTHER);
    CHECK(got && same && other && n2 == n && n3 == n && memcmp(got, same, n * sizeof *got) == 0 &&
              memcmp(got, other, n * sizeof *got) == 0,
          "%s: ow_unet_set_context: the same bits as without it, and another context's set is not used", name);
    printf("ok   %s: set context = per-call keys/values, bit for bit\n", name);
    free(same);
    free(other);
}

static void test_model(const char *cfg, int blocks, int groups, int heads) {
    char path[512];
    ow_error err;
    ow_unet_config config;
    snprintf(path, sizeof path, "tests/golden/tiny/%s/unet/config.json", cfg);
    ow_status s = ow_unet_config_load(&config, source_path(path), &err);
    CHECK(s == OW_OK, "%s: config: %s", cfg, err.message);
    if (s != OW_OK) return;
    CHECK(config.num_blocks == blocks && config.norm_num_groups == groups && config.attention_heads[0] == heads &&
              config.cross_attention_dim == 32 && config.time_embed_dim == 128 && config.down_cross_attention[0] == 1 &&
              config.down_cross_attention[blocks - 1] == 0 && config.up_cross_attention[0] == 0 &&
              config.up_cross_attention[blocks - 1] == 1 && config.layers_per_block[0] == 2 && config.has_mid_block,
          "%s: config values (blocks %d, groups %d, heads %d, cross %d, temb %d)", cfg, config.num_blocks,
          config.norm_num_groups, config.attention_heads[0], config.cross_attention_dim, config.time_embed_dim);

    ow_tensor_set *file = NULL, *golden = NULL;
    snprintf(path, sizeof path, "tests/golden/tiny/%s/unet/diffusion_pytorch_model.safetensors", cfg);
    s = ow_tensor_set_open(&file, source_path(path), &err);
    CHECK(s == OW_OK, "%s: open weights: %s", cfg, err.message);
    snprintf(path, sizeof path, "tests/golden/tiny/%s/golden/unet.safetensors", cfg);
    if (s == OW_OK) s = ow_tensor_set_open(&golden, source_path(path), &err);
    CHECK(s == OW_OK, "%s: open golden: %s", cfg, err.message);
    if (s != OW_OK) { ow_tensor_set_free(file); return; }

    ow_weights w = {.set = file, .prefix = "", .what = "unet"};
    ow_unet *unet = NULL;
    s = ow_unet_load(&unet, &config, &w, backend, &err);
    CHECK(s == OW_OK, "%s: load: %s", cfg, err.message);
    if (s == OW_OK) {
        int B;
        size_t n, nwant;
        float *got = run_unet(unet, golden, &B, &n, &err, CONTEXT_NONE);
        float *want = golden_f32(golden, "out", &nwant);
        check_set_context(unet, golden, got, n, cfg);
        CHECK(got && want && n == nwant, "%s: forward: %s", cfg, got ? "size mismatch" : err.message);
        if (got && want && n == nwant) {
            char what[128];
            snprintf(what, sizeof what, "%s unet out (batch %d)", cfg, B);
            check_close(what, got, want, n, 1e-4);
            printf("     %s: activation peak %.1f KiB\n", cfg, unet->last_peak_floats * 4.0 / 1024.0);
        }
        free(got);
        free(want);

        /* bad forward arguments: a latent size the down path cannot halve */
        float *dummy = backend->alloc(backend, 4 * 9 * 9 * 2);
        float t[2] = {1, 1};
        s = ow_unet_forward(unet, backend, dummy, 2, 9, 9, t, dummy, 1, dummy, &err);
        CHECK(s == OW_ERR_INVALID_ARGUMENT, "%s: 9x9 latent must be refused (got %s)", cfg, ow_status_name(s));
        printf("ok   %s: 9x9 latent: %s\n", cfg, err.message);
        backend->free(backend, dummy);
        ow_unet_free(unet);
    }

    /* a config that disagrees with the stored shapes: cross_attention_dim 16 */
    ow_unet_config wrong = config;
    wrong.cross_attention_dim = 16;
    s = ow_unet_load(&unet, &wrong, &w, backend, &err);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "attn2.to_k.weight") && unet == NULL,
          "%s: wrong cross_attention_dim must fail naming attn2.to_k (got %s: %s)", cfg, ow_status_name(s), err.message);
    printf("ok   %s: wrong shape: %s\n", cfg, err.message);

    ow_tensor_set_free(file);
    ow_tensor_set_free(golden);
}

/* A layout the tiny SD 1.x models do not have (tests/ref/make_model_variants.py). */
static void test_variant(const char *name) {
    char path[512];
    ow_error err;
    ow_unet_config config;
    snprintf(path, sizeof path, "tests/golden/model/%s/config.json", name);
    ow_status s = ow_unet_config_load(&config, source_path(path), &err);
    CHECK(s == OW_OK, "%s: config: %s", name, err.message);
    if (s != OW_OK) return;
    ow_tensor_set *file = NULL, *golden = NULL;
    snprintf(path, sizeof path, "tests/golden/model/%s/diffusion_pytorch_model.safetensors", name);
    s = ow_tensor_set_open(&file, source_path(path), &err);
    snprintf(path, sizeof path, "tests/golden/model/%s/golden.safetensors", name);
    if (s == OW_OK) s = ow_tensor_set_open(&golden, source_path(path), &err);
    CHECK(s == OW_OK, "%s: open: %s", name, err.message);
    ow_weights w = {.set = file, .prefix = "", .what = "unet"};
    ow_unet *unet = NULL;
    if (s == OW_OK) s = ow_unet_load(&unet, &config, &w, backend, &err);
    CHECK(s == OW_OK, "%s: load: %s", name, err.message);
    if (s == OW_OK) {
        int B;
        size_t n, nwant;
        float *got = run_unet(unet, golden, &B, &n, &err, CONTEXT_NONE);
        float *want = golden_f32(golden, "out", &nwant);
        check_set_context(unet, golden, got, n, name);
        CHECK(got && want && n == nwant, "%s: forward: %s", name, got ? "size mismatch" : err.message);
        if (got && want && n == nwant) {
            char what[160];
            snprintf(what, sizeof what, "%s unet out (batch %d, linear proj %d, mid block %d)", name, B,
                     config.use_linear_projection, config.has_mid_block);
            check_close(what, got, want, n, 1e-4);
        }
        free(got);
        free(want);
        ow_unet_free(unet);
    }
    ow_tensor_set_free(file);
    ow_tensor_set_free(golden);
}

/* The sinusoidal embedding at SD's size (320) and an odd size against torch, for
 * timesteps up to 999 (tests/golden/model/timestep_embedding.safetensors). */
static void test_timestep_embedding_golden(void) {
    ow_error err;
    ow_tensor_set *golden = NULL;
    ow_status s = ow_tensor_set_open(&golden, source_path("tests/golden/model/timestep_embedding.safetensors"), &err);
    CHECK(s == OW_OK, "open timestep embedding golden: %s", err.message);
    if (s != OW_OK) return;
    size_t nt;
    float *t = golden_f32(golden, "timesteps", &nt);
    static const struct { int dim, flip; float shift; const char *name; } cases[] = {
        {320, 1, 0.0f, "dim320_flip1_shift0"}, {320, 0, 1.0f, "dim320_flip0_shift1"},
        {321, 1, 0.0f, "dim321_flip1_shift0"}, {321, 0, 1.0f, "dim321_flip0_shift1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = 0;
        float *want = golden_f32(golden, cases[i].name, &n);
        float *got = malloc(n * sizeof *got);
        ow_timestep_embedding(got, t, (int)nt, cases[i].dim, cases[i].flip, cases[i].shift);
        char what[96];
        snprintf(what, sizeof what, "timestep embedding %s", cases[i].name);
        check_close(what, got, want, n, TIMESTEP_TOL);
        free(got);
        free(want);
    }
    free(t);
    ow_tensor_set_free(golden);
}

/* Renames one key to something absent, so the loader meets a missing tensor. */
static int hide_key(const char *key, char *out, size_t cap, void *user) {
    const char *hidden = user;
    snprintf(out, cap, "%s%s", key, strcmp(key, hidden) == 0 ? ".hidden" : "");
    return 0;
}

static void test_missing_weight(void) {
    ow_error err;
    ow_unet_config config;
    ow_status s = ow_unet_config_load(&config, source_path("tests/golden/tiny/sd-tiny-a/unet/config.json"), &err);
    ow_tensor_set *file = NULL;
    if (s == OW_OK)
        s = ow_tensor_set_open(&file, source_path("tests/golden/tiny/sd-tiny-a/unet/diffusion_pytorch_model.safetensors"),
                               &err);
    CHECK(s == OW_OK, "missing weight: setup: %s", err.message);
    if (s != OW_OK) return;
    static const char *const keys[] = {"time_embedding.linear_1.bias", "mid_block.attentions.0.proj_out.weight",
                                       "up_blocks.1.resnets.2.conv_shortcut.bias", "conv_out.weight"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ow_weights w = {.set = file, .prefix = "", .map = hide_key, .map_user = (void *)keys[i], .what = "unet"};
        ow_unet *unet = NULL;
        s = ow_unet_load(&unet, &config, &w, backend, &err);
        CHECK(s == OW_ERR_NOT_FOUND && unet == NULL && strstr(err.message, keys[i]),
              "missing %s must fail naming it (got %s: %s)", keys[i], ow_status_name(s), err.message);
        printf("ok   missing weight: %s\n", err.message);
    }
    ow_tensor_set_free(file);
}

static ow_status parse(const char *json, ow_unet_config *cfg, ow_error *err) {
    json_object *obj;
    ow_status s = ow_config_parse_text(json, &obj, err);
    if (s != OW_OK) return s;
    s = ow_unet_config_from_json(cfg, obj, err);
    json_object_put(obj);
    return s;
}

static void test_config(void) {
    ow_error err;
    ow_unet_config cfg;
    /* an empty object gives diffusers' defaults */
    ow_status s = parse("{}", &cfg, &err);
    CHECK(s == OW_OK && cfg.num_blocks == 4 && cfg.block_out_channels[3] == 1280 && cfg.attention_heads[0] == 8 &&
              cfg.cross_attention_dim == 1280 && cfg.time_embed_dim == 1280 && cfg.flip_sin_to_cos == 1 &&
              cfg.freq_shift == 0.0f && cfg.has_mid_block && cfg.down_cross_attention[2] && !cfg.down_cross_attention[3] &&
              !cfg.up_cross_attention[0] && cfg.up_cross_attention[1],
          "defaults (%s)", s == OW_OK ? "ok" : err.message);
    /* the SD 1.4 release config (diffusers 0.2 era: no newer keys at all) */
    s = parse("{\"_class_name\": \"UNet2DConditionModel\", \"_diffusers_version\": \"0.2.2\", \"act_fn\": \"silu\","
              " \"attention_head_dim\": 8, \"block_out_channels\": [320, 640, 1280, 1280], \"center_input_sample\": false,"
              " \"cross_attention_dim\": 768, \"down_block_types\": [\"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\","
              " \"CrossAttnDownBlock2D\", \"DownBlock2D\"], \"downsample_padding\": 1, \"flip_sin_to_cos\": true,"
              " \"freq_shift\": 0, \"in_channels\": 4, \"layers_per_block\": 2, \"mid_block_scale_factor\": 1,"
              " \"norm_eps\": 1e-05, \"norm_num_groups\": 32, \"out_channels\": 4, \"sample_size\": 64,"
              " \"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\"]}",
              &cfg, &err);
    CHECK(s == OW_OK && cfg.cross_attention_dim == 768 && cfg.attention_heads[3] == 8 && cfg.sample_size == 64 &&
              !cfg.use_linear_projection && cfg.transformer_layers_per_block[2] == 1,
          "SD 1.4 config (%s)", s == OW_OK ? "ok" : err.message);
    /* SD 2.x: per-block heads, linear projections, upcast attention */
    s = parse("{\"attention_head_dim\": [5, 10, 20, 20], \"cross_attention_dim\": 1024, \"use_linear_projection\": true,"
              " \"upcast_attention\": true, \"num_attention_heads\": null, \"transformer_layers_per_block\": 1}",
              &cfg, &err);
    CHECK(s == OW_OK && cfg.attention_heads[0] == 5 && cfg.attention_heads[3] == 20 && cfg.use_linear_projection &&
              cfg.upcast_attention && cfg.cross_attention_dim == 1024,
          "SD 2.x config (%s)", s == OW_OK ? "ok" : err.message);
    s = parse("{\"sample_size\": [96, 64]}", &cfg, &err);
    CHECK(s == OW_OK && cfg.sample_size == 96, "sample_size as a list (%s)", s == OW_OK ? "ok" : err.message);
    s = parse("{\"mid_block_type\": null}", &cfg, &err);
    CHECK(s == OW_OK && !cfg.has_mid_block, "mid_block_type null means no mid block");

    static const struct { const char *json, *key; ow_status want; } bad[] = {
        {"{\"resnet_time_scale_shift\": \"scale_shift\"}", "resnet_time_scale_shift", OW_ERR_UNSUPPORTED},
        {"{\"class_embed_type\": \"timestep\"}", "class_embed_type", OW_ERR_UNSUPPORTED},
        {"{\"addition_embed_type\": \"text_time\"}", "addition_embed_type", OW_ERR_UNSUPPORTED},
        {"{\"num_attention_heads\": 8}", "num_attention_heads", OW_ERR_UNSUPPORTED},
        {"{\"act_fn\": \"gelu\"}", "act_fn", OW_ERR_UNSUPPORTED},
        {"{\"mid_block_type\": \"UNetMidBlock2DSimpleCrossAttn\"}", "mid_block_type", OW_ERR_UNSUPPORTED},
        {"{\"down_block_types\": [\"AttnDownBlock2D\", \"DownBlock2D\", \"DownBlock2D\", \"DownBlock2D\"]}",
         "down_block_types", OW_ERR_UNSUPPORTED},
        {"{\"cross_attention_dim\": [768, 768, 768, 768]}", "cross_attention_dim", OW_ERR_UNSUPPORTED},
        {"{\"only_cross_attention\": true}", "only_cross_attention", OW_ERR_UNSUPPORTED},
        {"{\"time_cond_proj_dim\": 256}", "time_cond_proj_dim", OW_ERR_UNSUPPORTED},
        {"{\"conv_in_kernel\": 7}", "conv_in_kernel", OW_ERR_UNSUPPORTED},
        {"{\"block_out_channels\": [320, 640]}", "down_block_types", OW_ERR_FORMAT},
        {"{\"layers_per_block\": [2, 2]}", "layers_per_block", OW_ERR_FORMAT},
        {"{\"norm_num_groups\": \"32\"}", "norm_num_groups", OW_ERR_FORMAT},
        {"{\"block_out_channels\": [320, 640, 1280, 1000]}", "block_out_channels", OW_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = parse(bad[i].json, &cfg, &err);
        CHECK(s == bad[i].want && strstr(err.message, bad[i].key), "%s must fail with %s naming '%s' (got %s: %s)",
              bad[i].json, ow_status_name(bad[i].want), bad[i].key, ow_status_name(s), s ? err.message : "");
        printf("ok   refused: %s\n", err.message);
    }
    s = ow_unet_config_load(&cfg, source_path("tests/golden/tiny/no-such-model/unet/config.json"), &err);
    CHECK(s == OW_ERR_IO, "missing config.json is an i/o error (got %s)", ow_status_name(s));
}

/* diffusers' get_timestep_embedding values (torch 2.5.1, f32) for t = 500 and 1,
 * dim 8: flip_sin_to_cos true / shift 0 and false / shift 1. */
static void test_timestep_embedding(void) {
    const float t[2] = {500.0f, 1.0f};
    float got[16];
    static const float flip0[16] = {
        -0.8838492632f, 0.9649650455f, 0.2836622000f, 0.8775825500f,
        -0.4677717984f, -0.2623785436f, -0.9589242935f, 0.4794255197f,
        0.5403023362f, 0.9950041771f, 0.9999499917f, 0.9999995232f,
        0.8414709568f, 0.0998334140f, 0.0099998331f, 0.0009999998f,
    };
    static const float plain1[16] = {
        -0.4677717984f, -0.9379935861f, 0.8806428313f, 0.0499791615f,
        -0.8838492632f, -0.3466525674f, 0.4737807214f, 0.9987502694f,
        0.8414709568f, 0.0463992283f, 0.0021544332f, 0.0001000000f,
        0.5403023362f, 0.9989229441f, 0.9999976754f, 1.0000000000f,
    };
    ow_timestep_embedding(got, t, 2, 8, 1, 0.0f);
    check_close("timestep embedding (flip, shift 0)", got, flip0, 16, 1e-6);
    ow_timestep_embedding(got, t, 2, 8, 0, 1.0f);
    check_close("timestep embedding (no flip, shift 1)", got, plain1, 16, 1e-6);
}

int main(void) {
    ow_error err;
    if (ow_cpu_backend_create(&backend, 2, &err) != OW_OK) {
        fprintf(stderr, "cpu backend: %s\n", err.message);
        return 1;
    }
    test_timestep_embedding();
    test_config();
    test_model("sd-tiny-a", 2, 32, 2);
    test_model("sd-tiny-b", 3, 8, 4);
    test_timestep_embedding_golden();
    test_variant("unet-sd2");
    test_variant("unet-nomid");
    test_missing_weight();
    backend->destroy(backend);
    CHECK_DONE();
}
