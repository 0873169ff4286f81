/* test_clip_text.c: the CLIP text encoder against transformers' CLIPTextModel on the
 * tiny models (tests/golden/tiny/<cfg>/golden/text_encoder.safetensors, written by
 * tests/ref/make_tiny_models.py): last_hidden_state (clip skip 1) and the
 * penultimate layer through the final layer norm (clip skip 2); extra embedding
 * rows for ids beyond the vocabulary; config.json variants and shape detection;
 * and the errors for bad arguments. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model/clip_text.h"

static ow_backend *backend;

/* Reads an I64 (B, T) entry as int32 (entry data may be unaligned). */
static int32_t *ids_from_entry(const ow_tensor_entry *e) {
    int64_t n = ow_tensor_entry_numel(e);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, e->data + i * 8, 8);
        ids[i] = (int32_t)v;
    }
    return ids;
}

static float *entry_f32(const ow_tensor_entry *e) {
    float *x = malloc((size_t)ow_tensor_entry_numel(e) * sizeof *x);
    ow_error err;
    if (ow_tensor_entry_to_f32(e, x, &err) != OW_OK) { free(x); return NULL; }
    return x;
}

/* Runs the encoder and downloads (B, T, H) into a fresh host buffer. */
static float *run(const ow_clip_text *enc, const int32_t *ids, int B, int T, int clip_skip,
                  const ow_clip_text_extra *extra, ow_error *err) {
    size_t n = (size_t)B * T * enc->config.hidden_size;
    float *dev = backend->alloc(backend, n);
    ow_status s = ow_clip_text_forward(enc, backend, ids, B, T, clip_skip, extra, dev, err);
    if (s != OW_OK) { backend->free(backend, dev); return NULL; }
    float *host = malloc(n * sizeof *host);
    backend->download(backend, host, dev, n);
    backend->free(backend, dev);
    return host;
}

static void test_model(const char *cfg) {
    char path[512];
    ow_error err;
    ow_clip_text_config config;
    snprintf(path, sizeof path, "tests/golden/tiny/%s/text_encoder/config.json", cfg);
    ow_status s = ow_clip_text_config_load(&config, source_path(path), &err);
    CHECK(s == OW_OK, "%s: config: %s", cfg, err.message);
    if (s != OW_OK) return;
    CHECK(config.hidden_size == 32 && config.num_attention_heads == 4 && config.num_hidden_layers == 3 &&
              config.intermediate_size == 37 && config.vocab_size == 49408 && config.hidden_act == OW_CLIP_ACT_QUICK_GELU,
          "%s: config values (H %d, heads %d, layers %d, I %d, V %d)", cfg, config.hidden_size,
          config.num_attention_heads, config.num_hidden_layers, config.intermediate_size, config.vocab_size);

    ow_tensor_set *weights_file = NULL, *golden = NULL;
    snprintf(path, sizeof path, "tests/golden/tiny/%s/text_encoder/model.safetensors", cfg);
    s = ow_tensor_set_open(&weights_file, source_path(path), &err);
    CHECK(s == OW_OK, "%s: open weights: %s", cfg, err.message);
    snprintf(path, sizeof path, "tests/golden/tiny/%s/golden/text_encoder.safetensors", cfg);
    if (s == OW_OK) s = ow_tensor_set_open(&golden, source_path(path), &err);
    CHECK(s == OW_OK, "%s: open golden: %s", cfg, err.message);
    if (s != OW_OK) { ow_tensor_set_free(weights_file); return; }
    ow_weights w = {.set = weights_file, .prefix = "", .what = "text encoder"};

    /* Shapes give the same configuration once the head count is known. */
    ow_clip_text_config detected;
    s = ow_clip_text_config_from_weights(&detected, &w, 4, &err);
    CHECK(s == OW_OK && memcmp(&detected, &config, sizeof config) == 0, "%s: config from shapes equals config.json (%s)",
          cfg, s == OW_OK ? "ok" : err.message);
    s = ow_clip_text_config_from_weights(&detected, &w, 0, &err);
    CHECK(s == OW_ERR_UNSUPPORTED, "%s: hidden 32 without a head count must be refused", cfg);
    printf("ok   %s: without a head count: %s\n", cfg, err.message);

    ow_clip_text *enc = NULL;
    s = ow_clip_text_load(&enc, &config, &w, backend, &err);
    CHECK(s == OW_OK, "%s: load: %s", cfg, err.message);
    if (s != OW_OK) { ow_tensor_set_free(weights_file); ow_tensor_set_free(golden); return; }

    const ow_tensor_entry *ids_e = ow_tensor_set_find(golden, "input_ids");
    const ow_tensor_entry *last_e = ow_tensor_set_find(golden, "last_hidden_state");
    const ow_tensor_entry *pen_e = ow_tensor_set_find(golden, "penultimate");
    CHECK(ids_e && last_e && pen_e && ids_e->ndim == 2, "%s: golden entries present", cfg);
    if (ids_e && last_e && pen_e) {
        const int B = (int)ids_e->shape[0], T = (int)ids_e->shape[1], H = config.hidden_size;
        const size_t n = (size_t)B * T * H;
        int32_t *ids = ids_from_entry(ids_e);
        float *want_last = entry_f32(last_e), *want_pen = entry_f32(pen_e);
        char what[160];

        float *got = run(enc, ids, B, T, 1, NULL, &err);
        CHECK(got != NULL, "%s: forward: %s", cfg, err.message);
        snprintf(what, sizeof what, "%s last_hidden_state (%d, %d, %d), clip skip 1", cfg, B, T, H);
        if (got) check_close(what, got, want_last, n, 1e-4);
        free(got);

        got = run(enc, ids, B, T, 2, NULL, &err);
        CHECK(got != NULL, "%s: forward clip skip 2: %s", cfg, err.message);
        snprintf(what, sizeof what, "%s penultimate (clip skip 2)", cfg);
        if (got) check_close(what, got, want_pen, n, 1e-4);
        free(got);

        /* Held as the file stores it (f16, multiplied as f32): the same bits, every
         * matrix F16. */
        ow_weights w16 = w;
        w16.f16_as_stored = 1;
        ow_clip_text *enc16 = NULL;
        s = ow_clip_text_load(&enc16, &config, &w16, backend, &err);
        CHECK(s == OW_OK, "%s: load with f16_as_stored: %s", cfg, err.message);
        if (s == OW_OK) {
            const ow_clip_text_layer *l0 = &enc16->layers[0];
            CHECK(l0->q_proj_weight.dtype == OW_MATRIX_F16 && l0->fc2_weight.dtype == OW_MATRIX_F16 &&
                      enc->layers[0].q_proj_weight.dtype == OW_MATRIX_F32,
                  "%s: the f16 file's matrices are held as F16 with f16_as_stored, F32 without", cfg);
            float *f32 = run(enc, ids, B, T, 1, NULL, &err), *f16 = run(enc16, ids, B, T, 1, NULL, &err);
            CHECK(f32 && f16 && memcmp(f32, f16, n * sizeof *f16) == 0,
                  "%s: the text encoder held in f16 gives the f32-held one's bits", cfg);
            printf("ok   %s: held in f16, the output is bit-identical\n", cfg);
            free(f32);
            free(f16);
            ow_clip_text_free(enc16);
        }

        /* One sequence alone gives the same rows as in the batch. */
        got = run(enc, ids + T, 1, T, 1, NULL, &err);
        snprintf(what, sizeof what, "%s sequence 1 alone (batch 1)", cfg);
        if (got) check_close(what, got, want_last + (size_t)T * H, (size_t)T * H, 1e-4);
        free(got);

        /* Extra rows: ids V and V+1 select rows that copy the vocabulary rows of the
         * ids they replace: the output must not change. A different row must. */
        const int V = config.vocab_size;
        float *rows_host = malloc(2 * (size_t)H * sizeof *rows_host);
        float *table = malloc((size_t)V * H * sizeof *table);
        backend->download(backend, table, enc->token_embedding.data, (size_t)V * H);
        memcpy(rows_host, table + (size_t)ids[2] * H, (size_t)H * sizeof *rows_host);
        memcpy(rows_host + H, table + (size_t)ids[5] * H, (size_t)H * sizeof *rows_host);
        float *rows = backend->alloc(backend, 2 * (size_t)H);
        backend->upload(backend, rows, rows_host, 2 * (size_t)H);
        ow_clip_text_extra extra = {rows, 2};
        int32_t *ids2 = malloc((size_t)B * T * sizeof *ids2);
        memcpy(ids2, ids, (size_t)B * T * sizeof *ids2);
        ids2[2] = V;
        ids2[5] = V + 1;
        got = run(enc, ids2, B, T, 1, &extra, &err);
        CHECK(got != NULL, "%s: forward with extra rows: %s", cfg, err.message);
        snprintf(what, sizeof what, "%s extra rows copying vocabulary rows", cfg);
        if (got) check_close(what, got, want_last, n, 1e-4);
        float *copied = got;
        /* (not a constant shift: the layer norms would remove it) */
        for (int i = 0; i < H; i++) rows_host[i] += (i % 3 == 0) ? 0.5f : -0.25f;
        backend->upload(backend, rows, rows_host, 2 * (size_t)H);
        got = run(enc, ids2, B, T, 1, &extra, &err);
        if (got) {
            double diff_at_2 = 0, diff_before = 0;
            for (int i = 0; copied && i < H; i++) {
                diff_at_2 = fmax(diff_at_2, fabs(got[2 * H + i] - copied[2 * H + i]));
                diff_before = fmax(diff_before, fabs(got[1 * H + i] - copied[1 * H + i]));
            }
            CHECK(diff_at_2 > 1e-3 && diff_before == 0.0,
                  "%s: a changed extra row changes its position (%.3g) and not the one before (causal: %.3g)", cfg,
                  diff_at_2, diff_before);
            printf("ok   %s: changed extra row moves position 2 by %.3g, position 1 by %.3g\n", cfg, diff_at_2,
                   diff_before);
        }
        free(got);
        free(copied);

        /* Bad arguments are refused with a message. */
        got = run(enc, ids2, B, T, 1, NULL, &err);
        CHECK(got == NULL && err.status == OW_ERR_INVALID_ARGUMENT, "%s: id beyond the vocabulary without extra rows",
              cfg);
        printf("ok   %s: %s\n", cfg, err.message);
        free(got);
        got = run(enc, ids, B, T, 4, NULL, &err);
        CHECK(got == NULL && err.status == OW_ERR_INVALID_ARGUMENT, "%s: clip skip 4 of 3 layers", cfg);
        printf("ok   %s: %s\n", cfg, err.message);
        free(got);
        got = run(enc, ids, 1, 78, 1, NULL, &err);
        CHECK(got == NULL && err.status == OW_ERR_INVALID_ARGUMENT, "%s: 78 tokens", cfg);
        printf("ok   %s: %s\n", cfg, err.message);
        free(got);

        backend->free(backend, rows);
        free(rows_host);
        free(table);
        free(ids2);
        free(ids);
        free(want_last);
        free(want_pen);
    }
    ow_clip_text_free(enc);

    /* A wrong head count that divides H still loads; a wrong size does not. */
    ow_clip_text_config wrong = config;
    wrong.intermediate_size = 36;
    s = ow_clip_text_load(&enc, &wrong, &w, backend, &err);
    CHECK(s == OW_ERR_FORMAT && enc == NULL, "%s: intermediate size 36 against stored 37 must fail", cfg);
    printf("ok   %s: %s\n", cfg, err.message);
    ow_tensor_set_free(weights_file);
    ow_tensor_set_free(golden);
}

static void test_config_json(void) {
    ow_clip_text_config c;
    ow_error err;
    /* A whole CLIPConfig as transformers 4.2x saved it: keys nested, some absent. */
    const char *nested = "{\"architectures\": [\"CLIPModel\"], \"projection_dim\": 768,"
                         " \"text_config\": {\"hidden_size\": 768, \"num_hidden_layers\": 10},"
                         " \"text_config_dict\": {\"hidden_size\": 768, \"intermediate_size\": 3072,"
                         " \"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"hidden_act\": \"quick_gelu\"},"
                         " \"vision_config_dict\": {\"hidden_size\": 1024}}";
    ow_status s = ow_clip_text_config_parse(&c, nested, &err);
    CHECK(s == OW_OK && c.hidden_size == 768 && c.intermediate_size == 3072 && c.num_attention_heads == 12 &&
              c.num_hidden_layers == 12 && c.vocab_size == 49408 && c.max_position_embeddings == 77 &&
              c.layer_norm_eps == 1e-5f,
          "nested CLIPConfig: H %d I %d heads %d layers %d (%s)", c.hidden_size, c.intermediate_size,
          c.num_attention_heads, c.num_hidden_layers, s == OW_OK ? "ok" : err.message);
    /* An empty object: CLIPTextConfig defaults. */
    s = ow_clip_text_config_parse(&c, "{}", &err);
    CHECK(s == OW_OK && c.hidden_size == 512 && c.intermediate_size == 2048 && c.num_attention_heads == 8 &&
              c.num_hidden_layers == 12,
          "empty config gives CLIPTextConfig defaults");
    s = ow_clip_text_config_parse(&c, "{\"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-6}", &err);
    CHECK(s == OW_OK && c.hidden_act == OW_CLIP_ACT_GELU && c.layer_norm_eps == 1e-6f, "gelu and eps read");
    const char *bad[] = {"{\"hidden_act\": \"relu\"}", "{\"hidden_size\": \"big\"}", "{\"hidden_size\": 100}",
                         "[1, 2]", "{\"hidden_size\": 768,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = ow_clip_text_config_parse(&c, bad[i], &err);
        CHECK(s != OW_OK, "bad config %s must be refused", bad[i]);
        printf("ok   refused %s: %s\n", bad[i], err.message);
    }
    s = ow_clip_text_config_load(&c, "/nonexistent/config.json", &err);
    CHECK(s == OW_ERR_IO, "missing config file");
    printf("ok   %s\n", err.message);
}

int main(void) {
    ow_error err;
    if (ow_cpu_backend_create(&backend, 0, &err) != OW_OK) {
        fprintf(stderr, "cpu backend: %s\n", err.message);
        return 1;
    }
    test_config_json();
    test_model("sd-tiny-a");
    test_model("sd-tiny-b");
    backend->destroy(backend);
    CHECK_DONE();
}
