/* test_ldm_text2img.c: the reference's model family, LDM text2img (issue 19), on a tiny
 * random model in the original checkpoint layout (tests/golden/ldm/ldm-tiny.ckpt, made
 * by tests/ref/make_ldm_text2img.py): the file is recognised by its keys (BERT text
 * encoder under cond_stage_model.transformer.*, x-transformers names), prompts go
 * through BERT's WordPiece tokenizer, the text encoder matches diffusers' LDMBertModel
 * within 1e-4, and whole DDIM (eta 0 and 0.5, two images) and PLMS generations match
 * diffusers' LDMTextToImagePipeline within 1/255 per pixel. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"

static char warnings[4096];

static void keep_warning(void *user, int level, const char *message) {
    (void)user;
    if (level >= 1) snprintf(warnings + strlen(warnings), sizeof warnings - strlen(warnings), "%s\n", message);
}

static void check_text_encoder(ow_model *m) {
    ow_error err = {0};
    ow_tensor_set *golden = NULL;
    CHECK(ow_tensor_set_open(&golden, source_path("tests/golden/ldm/text_encoder.safetensors"), &err) == OW_OK,
          "open the text encoder golden: %s", err.message);
    if (!golden) return;
    const ow_tensor_entry *ids_e = ow_tensor_set_find(golden, "input_ids");
    const ow_tensor_entry *hidden_e = ow_tensor_set_find(golden, "last_hidden_state");
    json_object *prompts = json_tokener_parse(ow_tensor_set_metadata(golden, "prompts"));
    const int H = m->text_encoder->config.hidden_size, T = m->text_length;
    const size_t n_prompts = prompts ? json_object_array_length(prompts) : 0;
    CHECK(ids_e && hidden_e && n_prompts == (size_t)ids_e->shape[0] && T == 77 && H == 48,
          "golden of %zu prompts, model text length %d, width %d", n_prompts, T, H);
    float *want = malloc((size_t)ow_tensor_entry_numel(hidden_e) * sizeof *want);
    float *got = malloc((size_t)T * H * sizeof *got);
    if (want && ow_tensor_entry_to_f32(hidden_e, want, &err) == OW_OK) {
        const int32_t *want_ids = (const int32_t *)ids_e->data;
        for (size_t p = 0; p < n_prompts && T == 77; p++) {
            const char *text = json_object_get_string(json_object_array_get_idx(prompts, p));
            int32_t ids[77];
            CHECK(ow_model_encode_ids(m, text, "prompt", ids, &err) == OW_OK, "encode '%s': %s", text, err.message);
            CHECK(memcmp(ids, want_ids + p * 77, sizeof ids) == 0, "'%s': WordPiece ids as BertTokenizerFast's", text);
            CHECK(ow_model_encode_prompt(m, text, 1, got, &err) == OW_OK, "text encoder '%s': %s", text, err.message);
            char what[160];
            snprintf(what, sizeof what, "LDM BERT text encoder vs LDMBertModel: \"%s\"", text);
            check_close(what, got, want + p * 77 * (size_t)H, (size_t)77 * H, 1e-4);
        }
    }
    free(want);
    free(got);
    json_object_put(prompts);
    ow_tensor_set_free(golden);
}

static void check_generations(ow_model *m) {
    json_object *cases = json_object_from_file(source_path("tests/golden/ldm/cases.json"));
    CHECK(cases != NULL, "tests/golden/ldm/cases.json readable");
    size_t count = cases ? json_object_array_length(cases) : 0;
    for (size_t c = 0; c < count; c++) {
        json_object *tc = json_object_array_get_idx(cases, c), *v;
        ow_generate_params p;
        ow_generate_params_init(&p);
#define FIELD(key) (json_object_object_get_ex(tc, key, &v) ? v : NULL)
        p.prompt = json_object_get_string(FIELD("prompt"));
        p.sampler = json_object_get_string(FIELD("sampler"));
        p.eta = (float)json_object_get_double(FIELD("eta"));
        p.steps = json_object_get_int(FIELD("steps"));
        p.guidance_scale = (float)json_object_get_double(FIELD("scale"));
        p.seed = (uint64_t)json_object_get_int64(FIELD("seed"));
        p.n_images = json_object_get_int(FIELD("n"));
        p.width = json_object_get_int(FIELD("width"));
        p.height = json_object_get_int(FIELD("height"));
        char golden_path[512];
        snprintf(golden_path, sizeof golden_path, "tests/golden/ldm/%s", json_object_get_string(FIELD("file")));
#undef FIELD
        const size_t n_values = (size_t)p.n_images * p.width * p.height * 3;
        float *images = malloc(n_values * sizeof *images), *want = malloc(n_values * sizeof *want);
        ow_error err = {0};
        CHECK(ow_generate(m, &p, images, &err) == OW_OK, "generate %s: %s", golden_path, err.message);
        ow_tensor_set *golden = NULL;
        CHECK(ow_tensor_set_open(&golden, source_path(golden_path), &err) == OW_OK, "open %s: %s", golden_path,
              err.message);
        const ow_tensor_entry *u8 = golden ? ow_tensor_set_find(golden, "image_u8") : NULL;
        CHECK(u8 && (size_t)ow_tensor_entry_numel(u8) == n_values, "%s: image_u8 of %zu values", golden_path, n_values);
        if (u8 && (size_t)ow_tensor_entry_numel(u8) == n_values) {
            for (size_t i = 0; i < n_values; i++) {
                want[i] = u8->data[i] / 255.0f;
                images[i] = nearbyintf(images[i] * 255.0f) / 255.0f;
            }
            char what[256];
            snprintf(what, sizeof what, "LDM %s eta %g n %d, %d steps, scale %g: 8-bit pixels vs LDMTextToImagePipeline",
                     p.sampler, (double)p.eta, p.n_images, p.steps, (double)p.guidance_scale);
            check_close(what, images, want, n_values, 1.0 / 255.0 + 1e-6);
        }
        ow_tensor_set_free(golden);
        free(images);
        free(want);
    }
    CHECK(count >= 3, "at least 3 generation cases (got %zu)", count);
    json_object_put(cases);
}

/* ow_learn on the LDM model: "*" from "sculpture" for 3 steps at 16 px; the result is a
 * 48-wide embedding that, saved in the reference's .pt layout and loaded back, changes
 * what "a photo of *" generates. A placeholder of several WordPieces is refused. */
static void check_learning(ow_model *m) {
    enum { SIDE = 24, N = 2 };
    float *rgb = malloc((size_t)N * SIDE * SIDE * 3 * sizeof *rgb);
    for (int i = 0; i < N * SIDE * SIDE * 3; i++) rgb[i] = (float)((i * 37 + (i / 97) * 11) % 256) / 255.0f;
    ow_learn_image images[N] = {{rgb, SIDE, SIDE, NULL}, {rgb + SIDE * SIDE * 3, SIDE, SIDE, NULL}};
    ow_learn_params p;
    ow_learn_params_init(&p);
    p.init_word = "sculpture";
    p.steps = 3;
    p.size = 16;
    p.batch = 2;
    p.repeats = 1;
    p.seed = 5;
    ow_error err = {0};
    ow_embedding *emb = NULL;
    p.placeholder = "<my-cat>";
    CHECK(ow_learn(m, images, N, &p, &emb, &err) == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "WordPiece"),
          "a placeholder of several WordPieces is refused: %s", err.message);
    ow_embedding_free(emb);
    emb = NULL;
    p.placeholder = "*";
    ow_status s = ow_learn(m, images, N, &p, &emb, &err);
    CHECK(s == OW_OK, "learn '*' on the LDM model: %s", err.message);
    free(rgb);
    if (s != OW_OK) return;
    const float *rows = NULL;
    CHECK(ow_embedding_count(emb) == 1 && ow_embedding_dim(emb) == 48 && ow_embedding_vectors(emb, 0, &rows, NULL) == 1,
          "one 48-wide vector learned");
    int finite = rows != NULL;
    for (int j = 0; finite && j < 48; j++) finite = isfinite(rows[j]);
    CHECK(finite, "the learned vector is finite");

    ow_generate_params g;
    ow_generate_params_init(&g);
    g.prompt = "a photo of *";
    g.sampler = "ddim";
    g.steps = 4;
    g.guidance_scale = 5.0f;
    g.seed = 1;
    g.width = g.height = 16;
    float plain[16 * 16 * 3], learned[16 * 16 * 3], in_run[16 * 16 * 3];
    CHECK(ow_generate(m, &g, in_run, &err) == OW_OK, "generate with the model that learned '*': %s", err.message);
    char path[] = "/tmp/ow-ldm-embedding-XXXXXX.pt";
    int fd = mkstemps(path, 3);
    if (fd >= 0) close(fd);
    s = ow_embedding_save(emb, path, OW_EMBEDDING_LAYOUT_A1111, &err);
    CHECK(s == OW_OK, "save in the reference's .pt layout: %s", err.message);
    ow_model *fresh = NULL;
    ow_model_options opts;
    ow_model_options_init(&opts);
    if (s == OW_OK) s = ow_model_open(&fresh, source_path("tests/golden/ldm/ldm-tiny.ckpt"), &opts, &err);
    if (s == OW_OK) s = ow_generate(fresh, &g, plain, &err);
    if (s == OW_OK) s = ow_model_add_embedding(fresh, path, &err);
    CHECK(s == OW_OK, "a fresh LDM model loads the saved file: %s", err.message);
    if (s == OW_OK) s = ow_generate(fresh, &g, learned, &err);
    CHECK(s == OW_OK, "generate with the loaded '*': %s", err.message);
    double diff = 0.0;
    for (size_t i = 0; s == OW_OK && i < sizeof plain / sizeof plain[0]; i++) diff += fabs(plain[i] - learned[i]);
    CHECK(s == OW_OK && diff > 1e-3, "the learned '*' changes the image from the WordPiece '*' (sum |diff| %g)", diff);
    CHECK(s == OW_OK && memcmp(learned, in_run, sizeof learned) == 0,
          "the file generates exactly what the run that learned it does");
    ow_model_close(fresh);
    unlink(path);
    ow_embedding_free(emb);
}

int main(void) {
    ow_error err = {0};
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.log = keep_warning;
    ow_model *m = NULL;
    CHECK(ow_model_open(&m, source_path("tests/golden/ldm/ldm-tiny.ckpt"), &opts, &err) == OW_OK, "open ldm-tiny.ckpt: %s",
          err.message);
    if (!m) CHECK_DONE();
    CHECK(ow_tokenizer_is_wordpiece(m->tokenizer) && m->pad_id == 0, "LDM's model tokenizes with BERT's WordPiece");
    CHECK(m->text_encoder->config.family == OW_TEXT_LDM_BERT && !m->text_encoder->config.causal &&
              m->text_encoder->config.num_attention_heads == 2 && ow_clip_text_attention_dim(&m->text_encoder->config) == 128,
          "BERT text encoder: 2 heads of 64, not causal");
    CHECK(m->unet->config.cross_attention_dim == 48, "the UNet reads 48-wide context");
    check_text_encoder(m);
    check_generations(m);
    check_learning(m);
    ow_model_close(m);

    char *text = NULL;
    CHECK(ow_model_inspect(source_path("tests/golden/ldm/ldm-tiny.ckpt"), NULL, &text, &err) == OW_OK, "inspect: %s",
          err.message);
    CHECK(text && strstr(text, "LDM BERT text") && strstr(text, "model family: LDM text2img"), "inspect names the family:\n%s",
          text ? text : "");
    free(text);

    /* Training defaults by family, as the reference's two finetune configs. */
    int size = 0, batch = 0;
    CHECK(ow_model_learn_defaults(source_path("tests/golden/ldm/ldm-tiny.ckpt"), NULL, &size, &batch, &err) == OW_OK &&
              size == 256 && batch == 4,
          "LDM learns at 256 px, batch 4 by default (got %d, %d)", size, batch);
    CHECK(ow_model_learn_defaults(source_path("tests/golden/tiny/sd-tiny-a"), NULL, &size, &batch, &err) == OW_OK &&
              size == 512 && batch == 2,
          "SD 1.x learns at 512 px, batch 2 by default (got %d, %d)", size, batch);
    CHECK(ow_model_learn_defaults(source_path("tests/golden/ldm/no-such.ckpt"), NULL, &size, &batch, &err) != OW_OK,
          "a missing model is an error");
    CHECK_DONE();
}
