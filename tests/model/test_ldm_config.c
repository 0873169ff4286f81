/* test_ldm_config.c: the original LDM .yaml config of a single-file checkpoint
 * (model/ldm_config.h) and how the loader uses it (A1111's NAME.yaml beside
 * NAME.safetensors, or --config FILE).
 *
 * Parsing: the keys of SD 1.x's v1-inference.yaml and SD 2.x's v2-inference-v.yaml
 * (written here from the keys those configs use), PyYAML's booleans, and bad input
 * (not YAML, wrong types, no model section, a self-referencing alias) reported with
 * the key and line. Loading: sd-tiny-a.safetensors without its head-count metadata
 * (2 heads: not what SD 1.x's 8 would give) opens with a warning and 8 heads when
 * nothing else tells; with a .yaml beside it, or named, it gets 2 heads and
 * generates exactly what the diffusers folder generates; a yaml for another model,
 * an SD 2.x yaml and --config on a folder are refused; the yaml's schedule and
 * parameterization reach the sampler. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/checkpoint.h"
#include "model/ldm_config.h"
#include "pipeline/pipeline.h"

/* The keys of configs/stable-diffusion/v1-inference.yaml (CompVis/stable-diffusion). */
static const char *sd1_yaml(int num_heads, int context_dim, const char *extra_params, const char *cond_target) {
    static char text[4096];
    snprintf(text, sizeof text,
             "model:\n"
             "  base_learning_rate: 1.0e-04\n"
             "  target: ldm.models.diffusion.ddpm.LatentDiffusion\n"
             "  params:\n"
             "    linear_start: 0.00085\n"
             "    linear_end: 0.0120\n"
             "    timesteps: 1000\n"
             "    first_stage_key: \"jpg\"\n"
             "    image_size: 64\n"
             "    channels: 4\n"
             "    cond_stage_trainable: false   # Note: different from the one we trained before\n"
             "    conditioning_key: crossattn\n"
             "    scale_factor: 0.18215\n"
             "    use_ema: False\n"
             "%s"
             "    scheduler_config: # 10000 warmup steps\n"
             "      target: ldm.lr_scheduler.LambdaLinearScheduler\n"
             "      params:\n"
             "        warm_up_steps: [ 10000 ]\n"
             "    unet_config:\n"
             "      target: ldm.modules.diffusionmodules.openaimodel.UNetModel\n"
             "      params:\n"
             "        image_size: 32 # unused\n"
             "        in_channels: 4\n"
             "        out_channels: 4\n"
             "        model_channels: 32\n"
             "        attention_resolutions: [ 4, 2, 1 ]\n"
             "        num_res_blocks: 2\n"
             "        channel_mult: [ 1, 2 ]\n"
             "        num_heads: %d\n"
             "        use_spatial_transformer: True\n"
             "        transformer_depth: 1\n"
             "        context_dim: %d\n"
             "        use_checkpoint: True\n"
             "        legacy: False\n"
             "    first_stage_config:\n"
             "      target: ldm.models.autoencoder.AutoencoderKL\n"
             "      params:\n"
             "        embed_dim: 4\n"
             "        ddconfig:\n"
             "          double_z: true\n"
             "          ch_mult:\n"
             "          - 1\n"
             "          - 2\n"
             "    cond_stage_config:\n"
             "      target: %s\n",
             extra_params, num_heads, context_dim, cond_target);
    return text;
}

static const char *const clip_target = "ldm.modules.encoders.modules.FrozenCLIPEmbedder";

static void test_parse(void) {
    ow_ldm_config c;
    ow_error err = {0};
    const char *text = sd1_yaml(8, 768, "", clip_target);
    CHECK(ow_ldm_config_parse(&c, text, strlen(text), "v1", &err) == OW_OK, "v1-inference keys parse: %s", err.message);
    CHECK(c.num_heads == 8 && c.context_dim == 768 && c.model_channels == 32 && c.in_channels == 4,
          "unet params: heads %d, context %d, channels %d, in %d", c.num_heads, c.context_dim, c.model_channels,
          c.in_channels);
    CHECK(c.num_levels == 2 && c.channel_mult[0] == 1 && c.channel_mult[1] == 2, "channel_mult [1, 2] (%d entries)",
          c.num_levels);
    CHECK(c.timesteps == 1000 && c.linear_start == 0.00085 && c.linear_end == 0.012 && c.scale_factor == 0.18215,
          "schedule and scale: %d %g %g %g", c.timesteps, c.linear_start, c.linear_end, c.scale_factor);
    CHECK(c.image_size == 64 && c.num_head_channels == 0 && c.use_linear_in_transformer == -1 &&
              c.parameterization[0] == '\0' && c.beta_schedule[0] == '\0',
          "model image_size 64 (not the unet's unused 32); absent keys stay absent");
    CHECK(strcmp(c.cond_stage_target, clip_target) == 0 && strstr(c.model_target, "LatentDiffusion"),
          "targets: '%s', '%s'", c.model_target, c.cond_stage_target);
    int heads[4] = {0}, given = 0, widths[2] = {32, 64};
    CHECK(ow_ldm_config_unet_heads(&c, 2, widths, heads, &given, &err) == OW_OK && given && heads[0] == 8 &&
              heads[1] == 8,
          "num_heads 8 on every level");

    /* SD 2.x's v2-inference-v.yaml: a fixed head width, linear projections, v. */
    const char *v2 = "model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n"
                     "    parameterization: \"v\"\n    unet_config:\n      params:\n"
                     "        num_head_channels: 64 # need to fix for flash-attn\n        model_channels: 320\n"
                     "        channel_mult: [ 1, 2, 4, 4 ]\n        use_linear_in_transformer: True\n"
                     "        context_dim: 1024\n"
                     "    cond_stage_config:\n      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n";
    CHECK(ow_ldm_config_parse(&c, v2, strlen(v2), "v2", &err) == OW_OK, "v2-inference-v keys parse: %s", err.message);
    int w4[4] = {320, 640, 1280, 1280}, h4[4] = {0};
    CHECK(ow_ldm_config_unet_heads(&c, 4, w4, h4, &given, &err) == OW_OK && given && h4[0] == 5 && h4[1] == 10 &&
              h4[2] == 20 && h4[3] == 20,
          "num_head_channels 64: heads 5, 10, 20, 20 (got %d %d %d %d)", h4[0], h4[1], h4[2], h4[3]);
    CHECK(c.use_linear_in_transformer == 1 && strcmp(c.parameterization, "v") == 0, "True and \"v\" read");
    int bad_widths[2] = {32, 48};
    c.num_head_channels = 0, c.num_heads = 5;
    CHECK(ow_ldm_config_unet_heads(&c, 2, bad_widths, h4, &given, &err) == OW_ERR_FORMAT &&
              strstr(err.message, "num_heads 5 does not divide"),
          "heads that do not divide the widths: %s", err.message);

    const char *yes_no = "model:\n  params:\n    unet_config:\n      params:\n        use_linear_in_transformer: no\n";
    CHECK(ow_ldm_config_parse(&c, yes_no, strlen(yes_no), "yes-no", &err) == OW_OK && c.use_linear_in_transformer == 0,
          "YAML 1.1 'no' is false, as PyYAML reads it");

    /* Bad input: each names what and where. */
    static const struct { const char *text, *needle; } bad[] = {
        {"model:\n  params: [unclosed\n", "not valid YAML: line"},
        {"model:\n  params:\n    unet_config:\n      params:\n        num_heads: eight\n",
         "line 5: \"num_heads\" must be an integer"},
        {"model:\n  params:\n    unet_config:\n      params:\n        num_heads: 99999\n", "\"num_heads\" is 99999"},
        {"model:\n  params:\n    linear_start: -1\n", "\"linear_start\" must be a positive number"},
        {"model:\n  params:\n    unet_config:\n      params:\n        channel_mult: [1, 2, 4, 4, 4, 4, 4, 4, 4]\n",
         "more than 8 entries"},
        {"model:\n  params:\n    unet_config:\n      params:\n        channel_mult: {a: 1}\n", "a list of integers"},
        {"model:\n  params:\n    unet_config:\n      params:\n        use_linear_in_transformer: maybe\n",
         "true or false"},
        {"unet_config: {}\n", "no \"model:\" section"},
        {"just text\n", "top level is not a mapping"},
        {"", "top level is not a mapping"},
        {"model: &m\n  params:\n    unet_config: *m\n", "no \"model:\" section"}, /* see below */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ow_status s = ow_ldm_config_parse(&c, bad[i].text, strlen(bad[i].text), "bad.yaml", &err);
        if (i == sizeof bad / sizeof bad[0] - 1) {
            /* an alias pointing back at its ancestor: read without looping */
            CHECK(s == OW_OK && c.num_heads == 0, "a self-referencing alias is read without looping: %s",
                  s ? err.message : "ok");
            continue;
        }
        CHECK(s == OW_ERR_FORMAT && strstr(err.message, bad[i].needle) && strstr(err.message, "bad.yaml"),
              "bad yaml %zu refused with '%s': %s", i, bad[i].needle, err.message);
    }
}

/* ---- a single file without its head count, and yaml files beside it ---- */

static char work[64];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* sd-tiny-a.safetensors as a file of dst without the metadata key (the UNet's
 * heads); the tensor bytes are unchanged (offsets count from the data start). */
static int copy_without_metadata(const char *dst, const char *key) {
    FILE *f = fopen(source_path("tests/golden/tiny/sd-tiny-a.safetensors"), "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size);
    int ok = data && fread(data, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    uint64_t n = 0;
    for (int i = 7; ok && i >= 0; i--) n = n << 8 | data[i];
    ok = ok && n < (uint64_t)size - 8;
    char *header = ok ? strndup((const char *)data + 8, (size_t)n) : NULL;
    json_object *root = header ? json_tokener_parse(header) : NULL, *meta = NULL;
    ok = root && json_object_object_get_ex(root, "__metadata__", &meta);
    if (ok) json_object_object_del(meta, key);
    const char *text = ok ? json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN) : "";
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    FILE *out = ok ? fopen(dst, "wb") : NULL;
    ok = out != NULL;
    for (int i = 0; ok && i < 8; i++) ok = fputc((int)((padded >> (8 * i)) & 0xff), out) != EOF;
    ok = ok && fwrite(text, 1, len, out) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', out) != EOF;
    ok = ok && fwrite(data + 8 + n, 1, (size_t)size - 8 - n, out) == (size_t)size - 8 - n;
    if (out && fclose(out) != 0) ok = 0;
    json_object_put(root);
    free(header);
    free(data);
    return ok;
}

static ow_status open_with(const char *path, const char *config, ow_checkpoint **ck, ow_error *err) {
    ow_checkpoint_hints hints = {.config_path = config};
    return ow_checkpoint_open_hints(ck, path, &hints, err);
}

static void test_loader(const char *file, const char *beside) {
    ow_checkpoint *ck = NULL;
    ow_error err = {0};
    char path[256];

    /* Nothing tells the heads: SD 1.x's 8, with a warning that says what to do. */
    ow_status s = open_with(file, NULL, &ck, &err);
    CHECK(s == OW_OK, "no yaml: opens: %s", err.message);
    if (ck) {
        const ow_unet_config *u = ow_checkpoint_unet_config(ck);
        CHECK(u->attention_heads[0] == 8 && u->attention_heads[1] == 8, "no yaml: SD 1.x's 8 heads (got %d)",
              u->attention_heads[0]);
        CHECK(strstr(ow_checkpoint_warnings(ck), "is not SD 1.x's 768 and nothing gives its number of attention heads: "
                                                 "using its 8") &&
                  strstr(ow_checkpoint_warnings(ck), "--config"),
              "no yaml: warning '%s'", ow_checkpoint_warnings(ck));
        CHECK(ow_checkpoint_ldm_config(ck) == NULL, "no yaml: no config");
        ow_checkpoint_close(ck);
    }

    /* A1111's NAME.yaml beside NAME.safetensors. */
    write_text(beside, sd1_yaml(2, 32, "", clip_target));
    s = open_with(file, NULL, &ck, &err);
    CHECK(s == OW_OK, "yaml beside: opens: %s", err.message);
    if (ck) {
        const ow_unet_config *u = ow_checkpoint_unet_config(ck);
        CHECK(u->attention_heads[0] == 2 && u->attention_heads[1] == 2, "yaml beside: its 2 heads (got %d)",
              u->attention_heads[0]);
        CHECK(ow_checkpoint_warnings(ck)[0] == '\0', "yaml beside: no warning ('%s')", ow_checkpoint_warnings(ck));
        char *text = NULL;
        CHECK(ow_checkpoint_describe(ck, &text, &err) == OW_OK && strstr(text, "config: ") &&
                  strstr(text, "heads 2 from the .yaml config"),
              "describe names the yaml and where the heads came from:\n%s", text ? text : "");
        free(text);
        ow_checkpoint_close(ck);
    }

    /* --config wins over the yaml beside. */
    write_text(beside, sd1_yaml(4, 32, "", clip_target));
    snprintf(path, sizeof path, "%s/named.yaml", work);
    write_text(path, sd1_yaml(2, 32, "", clip_target));
    s = open_with(file, path, &ck, &err);
    CHECK(s == OW_OK && ow_checkpoint_unet_config(ck)->attention_heads[0] == 2, "--config is used over the one beside");
    ow_checkpoint_close(ck);
    s = open_with(file, NULL, &ck, &err);
    CHECK(s == OW_OK && ow_checkpoint_unet_config(ck)->attention_heads[0] == 4, "the one beside is used without --config");
    ow_checkpoint_close(ck);

    /* A yaml that is not this model's, an SD 2.x one, one that cannot be read. */
    static const struct { int heads, context; const char *extra, *cond; ow_status want; const char *needle; } bad[] = {
        {2, 768, "", "ldm.modules.encoders.modules.FrozenCLIPEmbedder", OW_ERR_FORMAT,
         "its context_dim is 768 where the checkpoint's UNet has 32"},
        {3, 32, "", "ldm.modules.encoders.modules.FrozenCLIPEmbedder", OW_ERR_FORMAT, "num_heads 3 does not divide"},
        {2, 32, "", "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder", OW_ERR_UNSUPPORTED, "Stable Diffusion 2.x"},
        {2, 32, "", "ldm.modules.encoders.modules.BERTEmbedder", OW_ERR_FORMAT, "holds a CLIP one"},
        {2, 32, "    parameterization: \"x0\"\n", "ldm.modules.encoders.modules.FrozenCLIPEmbedder", OW_ERR_UNSUPPORTED,
         "parameterization \"x0\" is not supported"},
        {2, 32, "    beta_schedule: cosine\n", "ldm.modules.encoders.modules.FrozenCLIPEmbedder", OW_ERR_UNSUPPORTED,
         "beta_schedule \"cosine\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path, sd1_yaml(bad[i].heads, bad[i].context, bad[i].extra, bad[i].cond));
        s = open_with(file, path, &ck, &err);
        CHECK(s == bad[i].want && strstr(err.message, bad[i].needle) && strstr(err.message, "named.yaml"),
              "refused (%s): %s", bad[i].needle, err.message);
        ow_checkpoint_close(ck);
    }
    write_text(path, "model:\n  params: {\n");
    s = open_with(file, path, &ck, &err);
    CHECK(s == OW_ERR_FORMAT && strstr(err.message, "not valid YAML") && strstr(err.message, "named.yaml"),
          "a broken yaml is an error, not ignored: %s", err.message);
    snprintf(path, sizeof path, "%s/missing.yaml", work);
    s = open_with(file, path, &ck, &err);
    CHECK(s == OW_ERR_IO && strstr(err.message, "missing.yaml"), "a named yaml that is not there: %s", err.message);
    s = open_with(source_path("tests/golden/tiny/sd-tiny-a"), path, &ck, &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "diffusers folder"), "--config on a folder: %s",
          err.message);
    ow_checkpoint_close(ck);
}

/* The generation with the yaml beside it is the diffusers folder's, bit for bit;
 * the yaml's schedule and parameterization reach the sampler. */
static void test_generation(const char *file, const char *beside) {
    write_text(beside, sd1_yaml(2, 32, "", clip_target));
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = 2;
    ow_generate_params p;
    ow_generate_params_init(&p);
    p.prompt = "a photo of a cat";
    p.steps = 4;
    p.n_images = 1;
    p.width = p.height = 64;
    p.seed = 42;
    size_t n = (size_t)64 * 64 * 3;
    float *from_file = calloc(n, sizeof(float)), *from_folder = calloc(n, sizeof(float));
    ow_model *model = NULL;
    ow_error err = {0};
    CHECK(ow_model_open(&model, file, &opts, &err) == OW_OK && ow_generate(model, &p, from_file, &err) == OW_OK,
          "generate from the single file with its yaml: %s", err.message);
    ow_model_close(model);
    model = NULL;
    CHECK(ow_model_open(&model, source_path("tests/golden/tiny/sd-tiny-a"), &opts, &err) == OW_OK &&
              ow_generate(model, &p, from_folder, &err) == OW_OK,
          "generate from the folder: %s", err.message);
    ow_model_close(model);
    check_close("single file + yaml vs diffusers folder", from_file, from_folder, n, 0.0);

    unlink(beside);
    model = NULL;
    CHECK(ow_model_open(&model, file, &opts, &err) == OW_OK && ow_generate(model, &p, from_file, &err) == OW_OK,
          "generate without the yaml: %s", err.message);
    ow_model_close(model);
    double most = 0.0;
    for (size_t i = 0; i < n; i++) most = fmax(most, fabs((double)from_file[i] - from_folder[i]));
    CHECK(most > 0.05, "without it (8 heads) the image differs: max |diff| %.3f", most);

    write_text(beside, sd1_yaml(2, 32, "    parameterization: \"v\"\n    linear_start: 0.0001\n    timesteps: 500\n",
                                clip_target));
    model = NULL;
    CHECK(ow_model_open(&model, file, &opts, &err) == OW_OK, "open with a v-prediction yaml: %s", err.message);
    if (model)
        CHECK(model->schedule.prediction_type == OW_PREDICT_V && model->schedule.num_train_timesteps == 500 &&
                  model->schedule.beta_start == 0.0001 && model->schedule.beta_end == 0.012 &&
                  model->schedule.beta_schedule == OW_BETAS_SCALED_LINEAR,
              "the yaml's schedule: v, 500 timesteps, betas 0.0001..0.012 scaled_linear");
    ow_model_close(model);
    unlink(beside);
    free(from_file);
    free(from_folder);
}

int main(void) {
    test_parse();
    snprintf(work, sizeof work, "%s", "/tmp/ow-ldm-config-XXXXXX");
    CHECK(mkdtemp(work) != NULL, "temporary folder");
    char file[256], beside[256], named[256];
    snprintf(file, sizeof file, "%s/tiny.safetensors", work);
    snprintf(beside, sizeof beside, "%s/tiny.yaml", work);
    snprintf(named, sizeof named, "%s/named.yaml", work);
    CHECK(copy_without_metadata(file, OW_META_UNET_HEADS), "sd-tiny-a.safetensors without '%s'", OW_META_UNET_HEADS);
    test_loader(file, beside);
    test_generation(file, beside);
    unlink(file);
    unlink(beside);
    unlink(named);
    rmdir(work);
    CHECK_DONE();
}
