/* test_embedding_model.c: embeddings in a loaded model (sd-tiny-a, 32-wide text
 * encoder): the text-encoder output with added tokens against transformers
 * (tests/ref/make_embedding_fixtures.py: add the token, set its row, encode;
 * a 2-vector token against diffusers' "<tok> <tok>_1" expansion), the 77-token
 * limit after expansion, width / SDXL / duplicate refusals, an embeddings folder
 * (A1111 file-name tokens, bad files skipped with a warning), and generation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "oneword.h"
#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"

#define GOLDEN "tests/golden/embeddings/"
#define H 32

static int warnings;
static char last_warning[2048];

static void count_log(void *user, int level, const char *message) {
    (void)user;
    if (level) {
        warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", message);
    }
}

static ow_model *open_tiny(void) {
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = 2;
    opts.log = count_log;
    ow_error err = {0};
    ow_model *m = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", source_path("tests/golden/tiny/sd-tiny-a"));
    if (ow_model_open(&m, path, &opts, &err) != OW_OK) fprintf(stderr, "cannot open sd-tiny-a: %s\n", err.message);
    return m;
}

static ow_status add(ow_model *m, const char *file, ow_error *err) {
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, GOLDEN "%s", file);
    snprintf(path, sizeof path, "%s", source_path(rel));
    return ow_model_add_embedding(m, path, err);
}

static void copy_file(const char *from_golden, const char *to) {
    char rel[512], cmd[9000];
    snprintf(rel, sizeof rel, GOLDEN "%s", from_golden);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", source_path(rel), to);
    CHECK(system(cmd) == 0, "%s", cmd);
}

int main(void) {
    ow_error err = {0};
    ow_tensor_set *golden = NULL;
    if (ow_tensor_set_open(&golden, source_path(GOLDEN "text_encoder.safetensors"), &err) != OW_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    ow_model *m = open_tiny(), *plain = open_tiny();
    if (!m || !plain) return 1;
    CHECK(add(m, "tiny_a.bin", &err) == OW_OK, "add tiny_a.bin: %s", err.message);
    CHECK(add(m, "tiny_b.safetensors", &err) == OW_OK, "add tiny_b.safetensors: %s", err.message);
    CHECK(ow_model_embedding_count(m) == 2, "two tokens loaded");

    /* Against transformers. */
    const char *prompts[3] = {"a photo of <tiny-a>", "<tiny-b> in the style of <tiny-a>", "a photo of a cat"};
    float out[77 * H], want[77 * H], plain_out[77 * H];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "ids_%d", i);
        const ow_tensor_entry *ids_e = ow_tensor_set_find(golden, name);
        snprintf(name, sizeof name, "hidden_%d", i);
        const ow_tensor_entry *hid_e = ow_tensor_set_find(golden, name);
        CHECK(ids_e && hid_e && ids_e->nbytes == 77 * 4 && hid_e->nbytes == sizeof want, "golden %d present", i);
        if (!ids_e || !hid_e) continue;
        int32_t ids[77], want_ids[77];
        memcpy(want_ids, ids_e->data, sizeof want_ids);
        CHECK(ow_model_encode_ids(m, prompts[i], "prompt", ids, &err) == OW_OK, "encode ids: %s", err.message);
        int id_diff = 0;
        for (int k = 0; k < 77; k++) id_diff += ids[k] != want_ids[k];
        CHECK(id_diff == 0, "'%s': %d ids differ from transformers' (expanded) ids", prompts[i], id_diff);
        printf("ok   '%s': 77 ids equal transformers' (first embedding id %d)\n", prompts[i], ids[4]);
        memcpy(want, hid_e->data, sizeof want);
        CHECK(ow_model_encode_prompt(m, prompts[i], 1, out, &err) == OW_OK, "encode: %s", err.message);
        char what[200];
        snprintf(what, sizeof what, "text encoder '%s' vs transformers", prompts[i]);
        check_close(what, out, want, 77 * H, 2e-5);
        /* The same text without the embeddings loaded encodes differently (tokens become BPE pieces). */
        CHECK(ow_model_encode_prompt(plain, prompts[i], 1, plain_out, &err) == OW_OK, "encode plain: %s", err.message);
        double diff = 0;
        for (int k = 0; k < 77 * H; k++) diff = fmax(diff, fabs((double)plain_out[k] - out[k]));
        if (i < 2) {
            CHECK(diff > 1e-2, "'%s': the embedding changes the encoder output (max diff %g)", prompts[i], diff);
            printf("ok   '%s': with vs without the embedding: max diff %.4g\n", prompts[i], diff);
        } else {
            CHECK(diff == 0, "'%s': no embedding token, output unchanged (max diff %g)", prompts[i], diff);
        }
    }

    /* The 77-token limit counts expanded vectors: 74 words + <tiny-b> (2 vectors) keeps one. */
    char long_prompt[1024] = "";
    for (int i = 0; i < 74; i++) strcat(long_prompt, "a ");
    strcat(long_prompt, "<tiny-b>");
    int32_t ids[77];
    warnings = 0;
    CHECK(ow_model_encode_ids(m, long_prompt, "prompt", ids, &err) == OW_OK, "long prompt: %s", err.message);
    int32_t first_b = m->text_encoder->config.vocab_size + 1;
    CHECK(ids[75] == first_b && ids[76] == OW_CLIP_EOS_ID, "long prompt: ids[75] = %d (want %d), ids[76] = %d", ids[75],
          first_b, ids[76]);
    CHECK(warnings == 1 && strstr(last_warning, "78 tokens long after expanding") && strstr(last_warning, "inside the vectors") && strstr(last_warning, "<tiny-b>"),
          "cut reported: %s", last_warning);
    printf("ok   77-token limit after expansion: %s\n", last_warning);

    /* Refusals. */
    ow_status s = add(m, "ref_sd.pt", &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "768") && strstr(err.message, "32-wide"),
          "768-wide refused: %s", err.message);
    printf("ok   %s\n", err.message);
    s = add(m, "sdxl-style.safetensors", &err);
    CHECK(s == OW_ERR_UNSUPPORTED && strstr(err.message, "SDXL"), "SDXL refused: %s", err.message);
    printf("ok   %s\n", err.message);
    s = add(m, "tiny_a.bin", &err);
    CHECK(s == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "already loaded"), "duplicate refused: %s", err.message);
    printf("ok   %s\n", err.message);
    s = add(m, "evil_os_system_zip.pt", &err);
    CHECK(s == OW_ERR_UNSAFE && strstr(err.message, "posix.system"), "hostile file refused: %s", err.message);
    CHECK(ow_model_embedding_count(m) == 2, "failed adds add nothing");

    /* An embeddings folder: one-token files under their file names, bad ones skipped with a warning. */
    char dir[] = "/tmp/ow_emb_dir_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    char to[4200];
    snprintf(to, sizeof to, "%s/starry.pt", dir);
    copy_file("tiny_star_1.pt", to);
    snprintf(to, sizeof to, "%s/bee.safetensors", dir);
    copy_file("tiny_b.safetensors", to);
    snprintf(to, sizeof to, "%s/wide.pt", dir);
    copy_file("ref_sd.pt", to);
    snprintf(to, sizeof to, "%s/evil.pt", dir);
    copy_file("evil_os_system_zip.pt", to);
    snprintf(to, sizeof to, "%s/bee.preview.png", dir);
    copy_file("png_plain.png", to);
    snprintf(to, sizeof to, "%s/notes.txt", dir);
    copy_file("expect.json", to);
    ow_model *d = open_tiny();
    warnings = 0;
    CHECK(d && ow_model_add_embedding_dir(d, dir, &err) == OW_OK, "folder: %s", err.message);
    CHECK(d && ow_model_embedding_count(d) == 2, "folder: 2 tokens (bee, starry)");
    CHECK(warnings == 2, "folder: 2 files skipped with a warning (got %d; last: %s)", warnings, last_warning);
    if (d && ow_model_embedding_count(d) == 2) {
        const ow_model_embeddings *e = d->embeddings;
        CHECK(strcmp(e->tokens[0].token, "bee") == 0 && e->tokens[0].n == 2 && strcmp(e->tokens[1].token, "starry") == 0,
              "folder tokens are the file names");
        CHECK(ow_model_encode_ids(d, "starry night by bee", "prompt", ids, &err) == OW_OK, "encode: %s", err.message);
        int32_t base = d->text_encoder->config.vocab_size;
        CHECK(ids[1] == base + 2 && ids[4] == base && ids[5] == base + 1 && ids[6] == OW_CLIP_EOS_ID,
              "'starry night by bee' -> %d %d %d %d %d %d", ids[1], ids[2], ids[3], ids[4], ids[5], ids[6]);
        printf("ok   embeddings folder: tokens 'bee' (2 vectors) and 'starry'; 2 bad files skipped\n");
        /* Several concepts in one prompt generate. */
        ow_generate_params p;
        ow_generate_params_init(&p);
        p.prompt = "starry in the style of bee";
        p.steps = 2;
        p.width = p.height = 64;
        float *img = malloc(64 * 64 * 3 * sizeof *img), *img_plain = malloc(64 * 64 * 3 * sizeof *img);
        CHECK(ow_generate(d, &p, img, &err) == OW_OK, "generate with embeddings: %s", err.message);
        CHECK(ow_generate(plain, &p, img_plain, &err) == OW_OK, "generate without: %s", err.message);
        double diff = 0;
        for (int k = 0; k < 64 * 64 * 3; k++) diff = fmax(diff, fabs((double)img[k] - img_plain[k]));
        CHECK(diff > 1e-4, "the embeddings change the image (max diff %g)", diff);
        printf("ok   generation with two embedding tokens: image differs from the plain prompt's by up to %.4g\n", diff);
        free(img);
        free(img_plain);
    }
    ow_model_close(d);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    s = ow_model_add_embedding_dir(m, "/nonexistent/embeddings", &err);
    CHECK(s == OW_ERR_IO, "missing folder: %s", err.message);

    ow_model_close(m);
    ow_model_close(plain);
    ow_tensor_set_free(golden);
    CHECK_DONE();
}
