/* test_checkpoint.c: every checkpoint layout of the tiny models loads to the same
 * tensors and the same text-encoder output as the diffusers folder.
 *
 * Layouts (tests/ref/make_single_file.py): the diffusers folders; the CompVis
 * single files tests/golden/tiny/<cfg>.safetensors; and variants of sd-tiny-a
 * (old CLIP key names, .ckpt with state_dict + model_ema, f32, bf16, a module.
 * prefix), which keep only the first 1024 vocabulary rows and only the parts
 * their question needs. Bad files must fail with a message that names the
 * problem. Also: the CompVis key maps for the real SD 1.5 configuration. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/half.h"
#include "model/checkpoint.h"
#include "model/checkpoint_keys.h"
#include "formats/tensor_set_private.h"

static ow_backend *backend;

/* ---- key maps against names known from the SD 1.5 release ---- */

static void check_map(ow_key_map *map, const char *diffusers, const char *want) {
    char got[256];
    int rc = ow_key_map_apply(diffusers, got, sizeof got, map);
    CHECK(rc == 0 && strcmp(got, want) == 0, "map %s -> %s, want %s", diffusers, rc == 0 ? got : "(none)", want);
}

static void test_key_maps(void) {
    ow_key_map map;
    ow_error err;
    const int lpb[4] = {2, 2, 2, 2}, up_attention[4] = {0, 1, 1, 1};
    CHECK(ow_key_map_unet_compvis(&map, 4, lpb, up_attention, &err) == OW_OK, "SD 1.5 unet map");
    check_map(&map, "conv_in.weight", "input_blocks.0.0.weight");
    check_map(&map, "time_embedding.linear_2.bias", "time_embed.2.bias");
    check_map(&map, "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight",
              "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight");
    check_map(&map, "down_blocks.1.resnets.0.conv_shortcut.weight", "input_blocks.4.0.skip_connection.weight");
    check_map(&map, "down_blocks.2.downsamplers.0.conv.weight", "input_blocks.9.0.op.weight");
    check_map(&map, "down_blocks.3.resnets.1.norm1.weight", "input_blocks.11.0.in_layers.0.weight");
    check_map(&map, "down_blocks.3.resnets.1.time_emb_proj.bias", "input_blocks.11.0.emb_layers.1.bias");
    check_map(&map, "mid_block.resnets.1.conv2.weight", "middle_block.2.out_layers.3.weight");
    check_map(&map, "mid_block.attentions.0.proj_in.weight", "middle_block.1.proj_in.weight");
    check_map(&map, "up_blocks.0.resnets.2.norm2.weight", "output_blocks.2.0.out_layers.0.weight");
    check_map(&map, "up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight");
    check_map(&map, "up_blocks.1.upsamplers.0.conv.bias", "output_blocks.5.2.conv.bias");
    check_map(&map, "up_blocks.2.upsamplers.0.conv.weight", "output_blocks.8.2.conv.weight");
    check_map(&map, "up_blocks.3.attentions.2.proj_out.weight", "output_blocks.11.1.proj_out.weight");
    check_map(&map, "conv_norm_out.weight", "out.0.weight");
    check_map(&map, "conv_out.bias", "out.2.bias");
    char out[64];
    CHECK(ow_key_map_apply("up_blocks.3.upsamplers.0.conv.weight", out, sizeof out, &map) == -1,
          "the last up level has no upsampler");
    ow_key_map_free(&map);

    CHECK(ow_key_map_vae_compvis(&map, 4, 2, &err) == OW_OK, "SD vae map");
    check_map(&map, "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.down.1.block.0.nin_shortcut.weight");
    check_map(&map, "encoder.down_blocks.2.downsamplers.0.conv.bias", "encoder.down.2.downsample.conv.bias");
    check_map(&map, "encoder.mid_block.attentions.0.to_out.0.weight", "encoder.mid.attn_1.proj_out.weight");
    check_map(&map, "decoder.mid_block.attentions.0.group_norm.bias", "decoder.mid.attn_1.norm.bias");
    check_map(&map, "decoder.mid_block.resnets.1.norm2.weight", "decoder.mid.block_2.norm2.weight");
    check_map(&map, "decoder.up_blocks.0.resnets.2.conv1.weight", "decoder.up.3.block.2.conv1.weight");
    check_map(&map, "decoder.up_blocks.0.upsamplers.0.conv.weight", "decoder.up.3.upsample.conv.weight");
    check_map(&map, "decoder.up_blocks.3.resnets.0.conv_shortcut.bias", "decoder.up.0.block.0.nin_shortcut.bias");
    check_map(&map, "encoder.conv_norm_out.weight", "encoder.norm_out.weight");
    check_map(&map, "post_quant_conv.weight", "post_quant_conv.weight");
    ow_key_map_free(&map);
    printf("ok   key maps: SD 1.5 UNet and VAE names\n");
}

/* ---- comparing a layout against the diffusers folder ---- */

typedef struct layout {
    const char *file;     /* under tests/golden/tiny/ */
    int parts;            /* parts it must have */
    int vocab;            /* token rows kept (text encoder) */
    ow_dtype dtype;       /* storage dtype of its float tensors */
    ow_checkpoint_hints hints;
} layout;

static float *entry_f32(const ow_tensor_entry *e) {
    float *x = malloc((size_t)ow_tensor_entry_numel(e) * sizeof *x + 1);
    ow_error err;
    if (ow_tensor_entry_to_f32(e, x, &err) != OW_OK) { free(x); return NULL; }
    return x;
}

/* Every tensor of the folder's part against the layout's, by diffusers name. */
static void compare_part(const char *name, const ow_weights *want, const ow_weights *got, ow_dtype dtype) {
    size_t n = ow_tensor_set_count(want->set), compared = 0, missing = 0, bad_shape = 0, values = 0;
    double max_err = 0;
    const char *worst = "";
    for (size_t i = 0; i < n; i++) {
        const ow_tensor_entry *w = ow_tensor_set_entry(want->set, i);
        const ow_tensor_entry *g = ow_weights_find(got, w->name);
        if (!g) {
            if (missing++ < 3) fprintf(stderr, "  %s: '%s' not found\n", name, w->name);
            continue;
        }
        /* The variants keep only the first rows of the token table. */
        int truncated_vocab = strstr(w->name, "token_embedding") && g->ndim == 2 && g->shape[0] < w->shape[0] &&
                              g->shape[1] == w->shape[1];
        if (!truncated_vocab && !ow_weights_shape_matches(g, w->ndim, w->shape)) {
            if (bad_shape++ < 3) fprintf(stderr, "  %s: '%s' has another shape\n", name, w->name);
            continue;
        }
        float *a = entry_f32(w), *b = entry_f32(g);
        size_t count = (size_t)ow_tensor_entry_numel(g);
        for (size_t k = 0; a && b && k < count; k++) {
            float expect = a[k];
            if (dtype == OW_DTYPE_BF16) expect = ow_bf16_to_f32(ow_f32_to_bf16(expect));
            double e = fabs((double)b[k] - (double)expect);
            if (e > max_err || isnan(b[k])) { max_err = isnan(b[k]) ? INFINITY : e; worst = w->name; }
        }
        values += count;
        compared++;
        free(a);
        free(b);
    }
    /* Nothing left over: every float tensor under the part's prefix was matched. */
    size_t stored = 0, plen = strlen(got->prefix);
    for (size_t i = 0, m = ow_tensor_set_count(got->set); i < m; i++) {
        const ow_tensor_entry *e = ow_tensor_set_entry(got->set, i);
        if (strncmp(e->name, got->prefix, plen) == 0 && ow_dtype_is_float(e->dtype) && !strstr(e->name, "model_ema"))
            stored++;
    }
    int ok = missing == 0 && bad_shape == 0 && max_err == 0.0 && compared == n && stored == n;
    check_count++;
    if (!ok) check_failures++;
    fprintf(ok ? stdout : stderr,
            "%s %s: %zu of %zu tensors (%zu values) identical to the folder's%s: max abs err %.3g (%s); "
            "%zu missing, %zu wrong shape, %zu float tensors stored under '%s'\n",
            ok ? "ok  " : "FAIL", name, compared, n, values, dtype == OW_DTYPE_BF16 ? " (rounded to bf16)" : "",
            max_err, worst[0] ? worst : "-", missing, bad_shape, stored, got->prefix);
}

/* sample_size is informational and only in safetensors metadata (a .ckpt gets SD's 64). */
static void compare_unet_config(const char *name, const ow_unet_config *a, const ow_unet_config *b, int has_metadata) {
    int same = a->num_blocks == b->num_blocks && a->in_channels == b->in_channels &&
               a->out_channels == b->out_channels && a->cross_attention_dim == b->cross_attention_dim &&
               a->norm_num_groups == b->norm_num_groups && a->time_embed_dim == b->time_embed_dim &&
               a->has_mid_block == b->has_mid_block && (!has_metadata || a->sample_size == b->sample_size) &&
               a->norm_eps == b->norm_eps && a->flip_sin_to_cos == b->flip_sin_to_cos &&
               a->freq_shift == b->freq_shift && a->downsample_padding == b->downsample_padding;
    for (int i = 0; same && i < a->num_blocks; i++)
        same = a->block_out_channels[i] == b->block_out_channels[i] && a->layers_per_block[i] == b->layers_per_block[i] &&
               a->down_cross_attention[i] == b->down_cross_attention[i] &&
               a->up_cross_attention[i] == b->up_cross_attention[i] && a->attention_heads[i] == b->attention_heads[i] &&
               a->transformer_layers_per_block[i] == b->transformer_layers_per_block[i];
    CHECK(same, "%s: UNet config from shapes differs from unet/config.json", name);
    if (same) printf("ok   %s: UNet config from shapes equals unet/config.json (%d blocks, C0 %d, heads %d, groups %d)\n",
                     name, a->num_blocks, a->block_out_channels[0], a->attention_heads[0], a->norm_num_groups);
}

static void compare_vae_config(const char *name, const ow_vae_config *a, const ow_vae_config *b) {
    int same = a->num_blocks == b->num_blocks && a->in_channels == b->in_channels &&
               a->out_channels == b->out_channels && a->latent_channels == b->latent_channels &&
               a->layers_per_block == b->layers_per_block && a->norm_num_groups == b->norm_num_groups &&
               a->scaling_factor == b->scaling_factor && a->use_quant_conv == b->use_quant_conv &&
               a->use_post_quant_conv == b->use_post_quant_conv && a->mid_block_add_attention == b->mid_block_add_attention;
    for (int i = 0; same && i < a->num_blocks; i++) same = a->block_out_channels[i] == b->block_out_channels[i];
    CHECK(same, "%s: VAE config from shapes differs from vae/config.json", name);
    if (same) printf("ok   %s: VAE config from shapes equals vae/config.json (%d blocks, lpb %d, groups %d)\n", name,
                     a->num_blocks, a->layers_per_block, a->norm_num_groups);
}

/* Text encoder output of ck for ids (each taken modulo its vocabulary). */
static float *encode(const ow_checkpoint *ck, const int32_t *ids_in, int B, int T, int vocab, ow_error *err) {
    ow_weights w;
    if (ow_checkpoint_weights(ck, OW_PART_TEXT, &w, err) != OW_OK) return NULL;
    ow_clip_text *enc = NULL;
    if (ow_clip_text_load(&enc, ow_checkpoint_text_config(ck), &w, backend, err) != OW_OK) return NULL;
    int32_t *ids = malloc((size_t)B * T * sizeof *ids);
    for (int i = 0; i < B * T; i++) ids[i] = ids_in[i] % vocab;
    size_t n = (size_t)B * T * enc->config.hidden_size;
    float *dev = backend->alloc(backend, n), *host = NULL;
    if (ow_clip_text_forward(enc, backend, ids, B, T, 1, NULL, dev, err) == OW_OK) {
        host = malloc(n * sizeof *host);
        backend->download(backend, host, dev, n);
    }
    backend->free(backend, dev);
    free(ids);
    ow_clip_text_free(enc);
    return host;
}

/* Golden token ids of a tiny model, as int32. */
static int32_t *golden_ids(const char *cfg, int *B, int *T) {
    char path[256];
    snprintf(path, sizeof path, "tests/golden/tiny/%s/golden/text_encoder.safetensors", cfg);
    ow_tensor_set *set;
    ow_error err;
    if (ow_tensor_set_open(&set, source_path(path), &err) != OW_OK) return NULL;
    const ow_tensor_entry *e = ow_tensor_set_find(set, "input_ids");
    *B = (int)e->shape[0];
    *T = (int)e->shape[1];
    int32_t *ids = malloc((size_t)*B * *T * sizeof *ids);
    for (int i = 0; i < *B * *T; i++) {
        int64_t v;
        memcpy(&v, e->data + 8 * (size_t)i, 8);
        ids[i] = (int32_t)v;
    }
    ow_tensor_set_free(set);
    return ids;
}

/* The model code asks for every tensor it needs: loading must succeed. */
static void check_loads(const char *name, const ow_checkpoint *ck) {
    ow_error err;
    ow_weights w;
    if (ow_checkpoint_parts(ck) & OW_PART_UNET) {
        ow_unet *u = NULL;
        ow_status s = ow_checkpoint_weights(ck, OW_PART_UNET, &w, &err);
        if (s == OW_OK) s = ow_unet_load(&u, ow_checkpoint_unet_config(ck), &w, backend, &err);
        CHECK(s == OW_OK, "%s: ow_unet_load: %s", name, err.message);
        if (s == OW_OK) printf("ok   %s: ow_unet_load finds every UNet tensor\n", name);
        ow_unet_free(u);
    }
    if (ow_checkpoint_parts(ck) & OW_PART_VAE) {
        ow_vae *v = NULL;
        ow_status s = ow_checkpoint_weights(ck, OW_PART_VAE, &w, &err);
        if (s == OW_OK) s = ow_vae_load(&v, ow_checkpoint_vae_config(ck), &w, backend, OW_VAE_BOTH, &err);
        CHECK(s == OW_OK, "%s: ow_vae_load: %s", name, err.message);
        if (s == OW_OK) printf("ok   %s: ow_vae_load finds every VAE tensor\n", name);
        ow_vae_free(v);
    }
}

static void test_layout(const char *cfg, const ow_checkpoint *folder, const layout *L) {
    char path[256];
    ow_error err;
    snprintf(path, sizeof path, "tests/golden/tiny/%s", L->file);
    ow_checkpoint *ck = NULL;
    ow_status s = ow_checkpoint_open_hints(&ck, source_path(path), &L->hints, &err);
    CHECK(s == OW_OK, "%s: open: %s", L->file, err.message);
    if (s != OW_OK) return;
    CHECK(ow_checkpoint_get_layout(ck) == OW_CHECKPOINT_SINGLE_FILE, "%s: single-file layout", L->file);
    CHECK(ow_checkpoint_parts(ck) == L->parts, "%s: parts 0x%x, want 0x%x", L->file, ow_checkpoint_parts(ck), L->parts);
    CHECK(ow_checkpoint_scheduler_config_path(ck) == NULL, "%s: no scheduler config", L->file);
    char *text = NULL;
    if (ow_checkpoint_describe(ck, &text, &err) == OW_OK) printf("---- describe %s\n%s----\n", L->file, text);
    free(text);

    static const struct { ow_part part; const char *name; } parts[] = {
        {OW_PART_TEXT, "text encoder"}, {OW_PART_UNET, "unet"}, {OW_PART_VAE, "vae"}};
    for (size_t i = 0; i < 3; i++) {
        if (!(L->parts & parts[i].part)) {
            ow_weights w;
            s = ow_checkpoint_weights(ck, parts[i].part, &w, &err);
            CHECK(s == OW_ERR_NOT_FOUND, "%s: absent %s must be NOT_FOUND", L->file, parts[i].name);
            continue;
        }
        ow_weights want, got;
        ow_checkpoint_weights(folder, parts[i].part, &want, &err);
        if (ow_checkpoint_weights(ck, parts[i].part, &got, &err) != OW_OK) {
            CHECK(0, "%s: %s weights: %s", L->file, parts[i].name, err.message);
            continue;
        }
        char what[160];
        snprintf(what, sizeof what, "%s %s", L->file, parts[i].name);
        compare_part(what, &want, &got, L->dtype);
    }
    if (L->parts & OW_PART_UNET)
        compare_unet_config(L->file, ow_checkpoint_unet_config(ck), ow_checkpoint_unet_config(folder),
                            strstr(L->file, ".safetensors") != NULL);
    if (L->parts & OW_PART_VAE) compare_vae_config(L->file, ow_checkpoint_vae_config(ck), ow_checkpoint_vae_config(folder));
    if (L->parts & OW_PART_TEXT) {
        const ow_clip_text_config *tc = ow_checkpoint_text_config(ck), *fc = ow_checkpoint_text_config(folder);
        CHECK(tc->vocab_size == L->vocab && tc->hidden_size == fc->hidden_size &&
                  tc->num_attention_heads == fc->num_attention_heads && tc->num_hidden_layers == fc->num_hidden_layers &&
                  tc->intermediate_size == fc->intermediate_size,
              "%s: text config from shapes (vocab %d, H %d, heads %d, layers %d, I %d)", L->file, tc->vocab_size,
              tc->hidden_size, tc->num_attention_heads, tc->num_hidden_layers, tc->intermediate_size);
        int B, T;
        int32_t *ids = golden_ids(cfg, &B, &T);
        float *want = ids ? encode(folder, ids, B, T, L->vocab, &err) : NULL;
        float *got = ids ? encode(ck, ids, B, T, L->vocab, &err) : NULL;
        CHECK(want && got, "%s: text encoder forward: %s", L->file, err.message);
        if (want && got) {
            char what[160];
            snprintf(what, sizeof what, "%s text encoder output vs folder (ids mod %d)%s", L->file, L->vocab,
                     L->dtype == OW_DTYPE_BF16 ? " [bf16 weights]" : " [bit-identical]");
            check_close(what, got, want, (size_t)B * T * fc->hidden_size, L->dtype == OW_DTYPE_BF16 ? 5e-2 : 0.0);
        }
        free(ids);
        free(want);
        free(got);
    }
    check_loads(L->file, ck);
    ow_checkpoint_close(ck);
}

static void expect_failure(const char *file, const ow_checkpoint_hints *hints, ow_status want, const char *needle) {
    ow_checkpoint *ck = NULL;
    ow_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s", file[0] == '/' ? file : source_path(file));
    ow_status s = ow_checkpoint_open_hints(&ck, path, hints, &err);
    CHECK(s == want && ck == NULL && strstr(err.message, needle),
          "%s: status %s (want %s), message '%s' should mention '%s'", file, ow_status_name(s), ow_status_name(want),
          s == OW_OK ? "" : err.message, needle);
    if (s == want) printf("ok   %s refused: %s\n", file, err.message);
    ow_checkpoint_close(ck);
}

static void test_bad_files(void) {
    expect_failure("tests/golden/tiny/variants/bad-sdxl.safetensors", NULL, OW_ERR_UNSUPPORTED, "SDXL");
    expect_failure("tests/golden/tiny/variants/bad-sd2.safetensors", NULL, OW_ERR_UNSUPPORTED, "Stable Diffusion 2");
    expect_failure("tests/golden/tiny/variants/bad-truncated.safetensors", NULL, OW_ERR_FORMAT, "bad-truncated");
    expect_failure("tests/golden/tiny/sd-tiny-a/golden/unet.safetensors", NULL, OW_ERR_UNSUPPORTED,
                   "no Stable Diffusion 1.x part");
    expect_failure("tests/golden/tiny/variants", NULL, OW_ERR_FORMAT, "not a diffusers model");
    expect_failure("tests/golden/tiny/does-not-exist.safetensors", NULL, OW_ERR_IO, "does-not-exist");
    /* .ckpt files carry no metadata: the tiny heads must come from hints. */
    expect_failure("tests/golden/tiny/variants/ema.ckpt", NULL, OW_ERR_UNSUPPORTED, "attention heads");

    /* A wrong-shaped tensor: the file opens (layer 0 defines the sizes), loading names the tensor. */
    ow_checkpoint *ck = NULL;
    ow_error err;
    ow_status s = ow_checkpoint_open(&ck, source_path("tests/golden/tiny/variants/bad-wrong-shape.safetensors"), &err);
    CHECK(s == OW_OK, "bad-wrong-shape opens: %s", err.message);
    if (s == OW_OK) {
        ow_weights w;
        ow_clip_text *enc = NULL;
        ow_checkpoint_weights(ck, OW_PART_TEXT, &w, &err);
        s = ow_clip_text_load(&enc, ow_checkpoint_text_config(ck), &w, backend, &err);
        CHECK(s == OW_ERR_FORMAT && strstr(err.message, "layers.1.mlp.fc1.weight") && strstr(err.message, "(36, 32)"),
              "bad-wrong-shape: load must name the tensor and its shape: %s", err.message);
        printf("ok   bad-wrong-shape refused at load: %s\n", err.message);
        ow_clip_text_free(enc);
        ow_checkpoint_close(ck);
    }
}

static void test_folder(const char *cfg, ow_checkpoint **out) {
    char path[256];
    ow_error err;
    snprintf(path, sizeof path, "tests/golden/tiny/%s", cfg);
    ow_status s = ow_checkpoint_open(out, source_path(path), &err);
    CHECK(s == OW_OK, "%s folder: %s", cfg, err.message);
    if (s != OW_OK) return;
    CHECK(ow_checkpoint_get_layout(*out) == OW_CHECKPOINT_DIFFUSERS, "%s: diffusers layout", cfg);
    CHECK(ow_checkpoint_parts(*out) == (OW_PART_TEXT | OW_PART_UNET | OW_PART_VAE), "%s: all parts", cfg);
    const char *sched = ow_checkpoint_scheduler_config_path(*out);
    CHECK(sched && strstr(sched, "scheduler/scheduler_config.json"), "%s: scheduler config path", cfg);
    char *text = NULL;
    if (ow_checkpoint_describe(*out, &text, &err) == OW_OK) printf("---- describe %s\n%s----\n", cfg, text);
    free(text);
    check_loads(cfg, *out);
    /* The folder's own text encoder reproduces transformers (tested in full in test_clip_text). */
}

/* The names and shapes of a real SD 1.5 checkpoint (variants/sd15-names.txt, from
 * models built without weights): detection without hints must give SD 1.5's
 * configuration, and every diffusers name must map to its CompVis name. */
static ow_tensor_set *sd15_set(const char *heads_metadata) {
    FILE *f = fopen(source_path("tests/golden/tiny/variants/sd15-names.txt"), "r");
    if (!f) return NULL;
    ow_error err;
    ow_tensor_set *set = calloc(1, sizeof *set);
    char line[512], name[160], shape_text[128];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%*s %159s %127s", name, shape_text) != 2) continue;
        int64_t shape[8];
        int ndim = 0;
        for (char *tok = strtok(shape_text, ","); tok && ndim < 8; tok = strtok(NULL, ",")) shape[ndim++] = atoll(tok);
        ow_tensor_set_add(set, name, OW_DTYPE_F16, ndim, shape, NULL, 0, &err);
    }
    fclose(f);
    if (heads_metadata) ow_tensor_set_add_metadata(set, OW_META_UNET_HEADS, heads_metadata, &err);
    ow_tensor_set_finish(set, &err);
    return set;
}

/* Per-block heads from metadata (a list), and a bad value. */
static void test_heads_metadata(void) {
    ow_checkpoint *ck = NULL;
    ow_error err;
    ow_status s = ow_checkpoint_open_set(&ck, sd15_set("[5, 10, 20, 20]"), "sd15 + heads list", NULL, &err);
    const ow_unet_config *u = s == OW_OK ? ow_checkpoint_unet_config(ck) : NULL;
    CHECK(u && u->attention_heads[0] == 5 && u->attention_heads[1] == 10 && u->attention_heads[2] == 20 &&
              u->attention_heads[3] == 20,
          "heads list from metadata: %s", s == OW_OK ? "opened" : err.message);
    if (u) printf("ok   heads per block from metadata list: (%d, %d, %d, %d)\n", u->attention_heads[0],
                  u->attention_heads[1], u->attention_heads[2], u->attention_heads[3]);
    ow_checkpoint_close(ck);
    const char *bad[] = {"eight", "[8, 8]", "0", "[8, 8, 8, -1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck = NULL;
        s = ow_checkpoint_open_set(&ck, sd15_set(bad[i]), "sd15 + bad heads", NULL, &err);
        CHECK(s == OW_ERR_FORMAT && ck == NULL, "heads metadata '%s' must be refused", bad[i]);
        if (s == OW_ERR_FORMAT) printf("ok   refused: %s\n", err.message);
        ow_checkpoint_close(ck);
    }
}

static void test_sd15_names(void) {
    FILE *f = fopen(source_path("tests/golden/tiny/variants/sd15-names.txt"), "r");
    CHECK(f != NULL, "open sd15-names.txt");
    if (!f) return;
    ow_error err;
    ow_tensor_set *set = calloc(1, sizeof *set);
    char line[512];
    char (*pairs)[2][160] = calloc(2048, sizeof *pairs); /* diffusers name, CompVis name */
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 2048) {
        char shape_text[128];
        if (sscanf(line, "%159s %159s %127s", pairs[n][0], pairs[n][1], shape_text) != 3) continue;
        int64_t shape[8];
        int ndim = 0;
        for (char *tok = strtok(shape_text, ","); tok && ndim < 8; tok = strtok(NULL, ",")) shape[ndim++] = atoll(tok);
        ow_tensor_set_add(set, pairs[n][1], OW_DTYPE_F16, ndim, shape, NULL, 0, &err);
        n++;
    }
    fclose(f);
    CHECK(n == 1130 && ow_tensor_set_finish(set, &err) == OW_OK, "sd15 names: %d read", n);
    ow_checkpoint *ck = NULL;
    ow_status s = ow_checkpoint_open_set(&ck, set, "sd15-names (shapes only)", NULL, &err);
    CHECK(s == OW_OK, "sd15 shapes: %s", err.message);
    if (s != OW_OK) { free(pairs); return; }
    const ow_unet_config *u = ow_checkpoint_unet_config(ck);
    const ow_vae_config *v = ow_checkpoint_vae_config(ck);
    const ow_clip_text_config *t = ow_checkpoint_text_config(ck);
    static const int channels[4] = {320, 640, 1280, 1280}, down_attn[4] = {1, 1, 1, 0}, up_attn[4] = {0, 1, 1, 1};
    int unet_ok = u && u->num_blocks == 4 && u->cross_attention_dim == 768 && u->in_channels == 4 &&
                  u->out_channels == 4 && u->norm_num_groups == 32 && u->time_embed_dim == 1280 && u->has_mid_block;
    for (int i = 0; unet_ok && i < 4; i++)
        unet_ok = u->block_out_channels[i] == channels[i] && u->layers_per_block[i] == 2 &&
                  u->down_cross_attention[i] == down_attn[i] && u->up_cross_attention[i] == up_attn[i] &&
                  u->attention_heads[i] == 8 && u->transformer_layers_per_block[i] == 1;
    CHECK(unet_ok, "sd15: UNet config from shapes is SD 1.5's");
    static const int vae_channels[4] = {128, 256, 512, 512};
    int vae_ok = v && v->num_blocks == 4 && v->layers_per_block == 2 && v->latent_channels == 4 &&
                 v->in_channels == 3 && v->out_channels == 3 && v->norm_num_groups == 32 && v->scaling_factor == 0.18215f;
    for (int i = 0; vae_ok && i < 4; i++) vae_ok = v->block_out_channels[i] == vae_channels[i];
    CHECK(vae_ok, "sd15: VAE config from shapes is SD's");
    CHECK(t && t->vocab_size == 49408 && t->hidden_size == 768 && t->num_attention_heads == 12 &&
              t->num_hidden_layers == 12 && t->intermediate_size == 3072 && t->max_position_embeddings == 77,
          "sd15: CLIP ViT-L/14 text config from shapes");
    CHECK(t && ow_clip_text_param_count(t) == 123060480, "CLIP-L text parameters %lld, want 123060480",
          t ? (long long)ow_clip_text_param_count(t) : 0LL);
    /* Every name through the maps. */
    int mapped = 0;
    for (int i = 0; i < n; i++) {
        ow_part part = strncmp(pairs[i][1], "model.diffusion_model.", 22) == 0 ? OW_PART_UNET
                       : strncmp(pairs[i][1], "first_stage_model.", 18) == 0 ? OW_PART_VAE
                                                                             : OW_PART_TEXT;
        ow_weights w;
        ow_checkpoint_weights(ck, part, &w, &err);
        const ow_tensor_entry *e = ow_weights_find(&w, pairs[i][0]);
        if (e && strcmp(e->name, pairs[i][1]) == 0) mapped++;
        else if (i - mapped < 4) fprintf(stderr, "  %s -> %s, want %s\n", pairs[i][0], e ? e->name : "(none)", pairs[i][1]);
    }
    CHECK(mapped == n, "sd15: %d of %d names mapped", mapped, n);
    char *text = NULL;
    if (ow_checkpoint_describe(ck, &text, &err) == OW_OK) {
        printf("---- describe SD 1.5 shapes\n%s----\n", text);
        CHECK(strstr(text, "859520964 parameters") && strstr(text, "83653863 parameters") &&
                  strstr(text, "123060480 parameters"),
              "SD 1.5 parameter counts (UNet 859520964, VAE 83653863, text 123060480)");
    }
    free(text);
    if (unet_ok && vae_ok && mapped == n)
        printf("ok   SD 1.5 shapes: configs detected without hints, %d of %d names mapped\n", mapped, n);
    ow_checkpoint_close(ck);
    free(pairs);
}

/* Folder variants built at test time from links to sd-tiny-a's files: .fp16 file
 * names, a missing part, sharded weights, an SDXL model_index.json. */
static void link_to(const char *dir, const char *sub, const char *target_rel, const char *name) {
    char d[512], link[600];
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    mkdir(d, 0755);
    snprintf(link, sizeof link, "%s/%s", d, name);
    if (symlink(source_path(target_rel), link) != 0) fprintf(stderr, "symlink %s failed\n", link);
}

static void write_text(const char *dir, const char *rel, const char *text) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void test_folder_variants(const ow_checkpoint *folder, const ow_checkpoint *folder_b) {
    char dir[] = "/tmp/ow_ckpt_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    link_to(dir, "text_encoder", "tests/golden/tiny/sd-tiny-a/text_encoder/config.json", "config.json");
    link_to(dir, "text_encoder", "tests/golden/tiny/sd-tiny-a/text_encoder/model.safetensors", "model.fp16.safetensors");
    link_to(dir, "unet", "tests/golden/tiny/sd-tiny-a/unet/config.json", "config.json");
    link_to(dir, "unet", "tests/golden/tiny/sd-tiny-a/unet/diffusion_pytorch_model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors");
    ow_checkpoint *ck = NULL;
    ow_error err;
    ow_status s = ow_checkpoint_open(&ck, dir, &err);
    CHECK(s == OW_OK && ow_checkpoint_parts(ck) == (OW_PART_TEXT | OW_PART_UNET),
          "folder with .fp16 files and no vae/: %s", s == OW_OK ? "opened" : err.message);
    if (s == OW_OK) {
        ow_weights want, got;
        ow_checkpoint_weights(folder, OW_PART_UNET, &want, &err);
        ow_checkpoint_weights(ck, OW_PART_UNET, &got, &err);
        compare_part(".fp16 folder unet", &want, &got, OW_DTYPE_F16);
        s = ow_checkpoint_weights(ck, OW_PART_VAE, &got, &err);
        CHECK(s == OW_ERR_NOT_FOUND, "absent vae/");
        printf("ok   .fp16 folder without vae/: %s\n", err.message);
        CHECK(ow_checkpoint_scheduler_config_path(ck) == NULL, "no scheduler/ folder");
        ow_checkpoint_close(ck);
    }
    /* A .bin pickle with the attention names of diffusers < 0.14 (sd-tiny-b's VAE). */
    if (folder_b) {
        char legacy[] = "/tmp/ow_ckpt_legacy_XXXXXX";
        if (mkdtemp(legacy)) {
            link_to(legacy, "vae", "tests/golden/tiny/sd-tiny-b/vae/config.json", "config.json");
            link_to(legacy, "vae", "tests/golden/tiny/variants/sd-tiny-b-vae-legacy.bin", "diffusion_pytorch_model.bin");
            s = ow_checkpoint_open(&ck, legacy, &err);
            CHECK(s == OW_OK && ow_checkpoint_parts(ck) == OW_PART_VAE, "folder with a legacy vae .bin: %s",
                  s == OW_OK ? "opened" : err.message);
            if (s == OW_OK) {
                ow_weights want, got;
                ow_checkpoint_weights(folder_b, OW_PART_VAE, &want, &err);
                ow_checkpoint_weights(ck, OW_PART_VAE, &got, &err);
                compare_part("legacy .bin vae (query/key/value/proj_attn)", &want, &got, OW_DTYPE_F16);
                check_loads("legacy .bin vae", ck);
                char *text = NULL;
                if (ow_checkpoint_describe(ck, &text, &err) == OW_OK) printf("---- describe legacy .bin\n%s----\n", text);
                free(text);
                ow_checkpoint_close(ck);
            }
            remove_tree(legacy);
        }
    }
    /* A sharded VAE is refused by name. */
    char vae[600];
    snprintf(vae, sizeof vae, "%s/vae", dir);
    mkdir(vae, 0755);
    write_text(dir, "vae/diffusion_pytorch_model.safetensors.index.json", "{}");
    expect_failure(dir, NULL, OW_ERR_UNSUPPORTED, "shards");
    /* An SDXL pipeline. */
    write_text(dir, "model_index.json",
               "{\"_class_name\": \"StableDiffusionXLPipeline\", \"text_encoder_2\": [\"transformers\", "
               "\"CLIPTextModelWithProjection\"]}");
    expect_failure(dir, NULL, OW_ERR_UNSUPPORTED, "SDXL");
    remove_tree(dir);
}

int main(void) {
    ow_error err;
    if (ow_cpu_backend_create(&backend, 0, &err) != OW_OK) {
        fprintf(stderr, "cpu backend: %s\n", err.message);
        return 1;
    }
    test_key_maps();
    test_sd15_names();
    test_heads_metadata();

    const int all = OW_PART_TEXT | OW_PART_UNET | OW_PART_VAE;
    const ow_checkpoint_hints none = {0}, tiny_a_heads = {.unet_attention_heads = 2, .text_attention_heads = 4};
    ow_checkpoint *folder_a = NULL, *folder_b = NULL;
    test_folder("sd-tiny-a", &folder_a);
    test_folder("sd-tiny-b", &folder_b);
    if (folder_b) {
        const layout b = {"sd-tiny-b.safetensors", all, 1024, OW_DTYPE_F16, none}; /* its token table cut to 1024 rows */
        test_layout("sd-tiny-b", folder_b, &b);
    }
    if (folder_a) {
        const layout layouts[] = {
            {"sd-tiny-a.safetensors", all, 49408, OW_DTYPE_F16, none},
            {"variants/old-text-keys.safetensors", OW_PART_TEXT, 1024, OW_DTYPE_F16, none},
            {"variants/ema.ckpt", OW_PART_TEXT | OW_PART_UNET, 1024, OW_DTYPE_F16, tiny_a_heads},
            {"variants/f32.safetensors", OW_PART_TEXT | OW_PART_VAE, 1024, OW_DTYPE_F32, none},
            {"variants/bf16.safetensors", OW_PART_TEXT | OW_PART_UNET, 1024, OW_DTYPE_BF16, none},
            {"variants/module-prefix.safetensors", OW_PART_TEXT | OW_PART_VAE, 1024, OW_DTYPE_F16, none},
        };
        for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) test_layout("sd-tiny-a", folder_a, &layouts[i]);
    }
    test_bad_files();
    if (folder_a) test_folder_variants(folder_a, folder_b);
    ow_checkpoint_close(folder_a);
    ow_checkpoint_close(folder_b);
    backend->destroy(backend);
    CHECK_DONE();
}
