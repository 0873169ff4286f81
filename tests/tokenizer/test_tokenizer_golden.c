/* test_tokenizer_golden.c: the C CLIP tokenizer against transformers 4.46.3
 * CLIPTokenizer (no-ftfy path) on every case of tests/golden/tokenizer/clip_tokenizer.json
 * (made by tests/ref/make_tokenizer_golden.py): full ids, 77-context ids padded with
 * 49407, decoded text, the same with added tokens, invalid UTF-8, every Unicode
 * property boundary, and the clean-up (NFC, lower case) on its own. Also times it. */
#include <json-c/json.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "golden_ids.h"
#include "tokenizer/tokenizer.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The case's input: its "text", or its "bytes_hex" decoded (for ill-formed UTF-8). */
static char *case_input(json_object *c) {
    json_object *v;
    if (json_object_object_get_ex(c, "text", &v)) return strdup(json_object_get_string(v));
    json_object_object_get_ex(c, "bytes_hex", &v);
    const char *hex = json_object_get_string(v);
    size_t n = strlen(hex) / 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        sscanf(hex + 2 * i, "%2x", &b);
        s[i] = (char)b;
    }
    s[n] = '\0';
    return s;
}

int main(void) {
    json_object *golden = json_object_from_file(source_path("tests/golden/tokenizer/clip_tokenizer.json"));
    CHECK(golden != NULL, "read tests/golden/tokenizer/clip_tokenizer.json: %s", json_util_get_last_err());
    if (!golden) CHECK_DONE();

    ow_error err = {0};
    ow_tokenizer *plain = NULL, *added = NULL;
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s", source_path("resources/clip/bpe_simple_vocab_16e6.txt.gz"));
    double t0 = now_seconds();
    ow_status st = ow_tokenizer_load(&plain, vocab, &err);
    double load_seconds = now_seconds() - t0;
    CHECK(st == OW_OK, "load %s: %s", vocab, err.message);
    st = ow_tokenizer_load(&added, vocab, &err);
    CHECK(st == OW_OK, "load %s: %s", vocab, err.message);
    if (!plain || !added) CHECK_DONE();
    CHECK(ow_tokenizer_vocab_size(plain) == 49408, "vocab size %d, want 49408", ow_tokenizer_vocab_size(plain));

    json_object *list, *v;
    json_object_object_get_ex(golden, "added_tokens", &list);
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *a = json_object_array_get_idx(list, i);
        json_object_object_get_ex(a, "text", &v);
        const char *text = json_object_get_string(v);
        json_object_object_get_ex(a, "id", &v);
        int32_t want = json_object_get_int(v), got = -1;
        st = ow_tokenizer_add_token(added, text, &got, &err);
        CHECK(st == OW_OK && got == want, "add_token '%s': id %d (%s), want %d", text, got, err.message, want);
    }
    json_object_object_get_ex(golden, "context", &v);
    int context = json_object_get_int(v);
    json_object_object_get_ex(golden, "pad_id", &v);
    int pad_id = json_object_get_int(v);

    json_object *cases;
    json_object_object_get_ex(golden, "cases", &cases);
    size_t n_cases = json_object_array_length(cases);
    int ids_ok = 0, ctx_ok = 0, ctx_total = 0, dec_ok = 0, dec_total = 0, n_long = 0;
    size_t n_ids = 0;
    int32_t *ids = malloc(65536 * sizeof *ids);
    int32_t *ids77 = malloc((size_t)context * sizeof *ids77);
    char *decoded = malloc(1 << 16);
    double tokenize_seconds = 0;
    for (size_t k = 0; k < n_cases; k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        char *input = case_input(c);
        json_object_object_get_ex(c, "added", &v);
        const ow_tokenizer *t = json_object_get_boolean(v) ? added : plain;
        json_object *want_ids, *want77 = NULL, *want_decoded = NULL;
        json_object_object_get_ex(c, "ids", &want_ids);
        json_object_object_get_ex(c, "ids77", &want77);
        json_object_object_get_ex(c, "decoded", &want_decoded);

        size_t n = 0;
        double t1 = now_seconds();
        st = ow_tokenizer_tokenize(t, input, ids, 65536, &n, &err);
        tokenize_seconds += now_seconds() - t1;
        int ok = st == OW_OK && ids_equal(want_ids, ids, n);
        ids_ok += ok;
        n_ids += n;
        if (!ok) {
            CHECK(0, "case %zu ids differ for '%s' (%s)", k, input, st == OW_OK ? "" : err.message);
            print_ids("got", ids, n);
            print_want(want_ids);
        }
        if (want77) {
            ctx_total++;
            ow_tokenize_info info;
            st = ow_tokenizer_encode(t, input, ids77, context, pad_id, &info, &err);
            int ok77 = st == OW_OK && ids_equal(want77, ids77, (size_t)context);
            size_t want_n = json_object_array_length(want_ids);
            ok77 = ok77 && info.n_tokens == (int)want_n + 2 && info.truncated == (want_n > (size_t)context - 2) &&
                   info.n_used == (want_n > (size_t)context - 2 ? context : (int)want_n + 2);
            n_long += info.truncated;
            ctx_ok += ok77;
            if (!ok77) {
                CHECK(0, "case %zu context ids/info differ for '%s' (n_tokens %d truncated %d)", k, input,
                      info.n_tokens, info.truncated);
                print_ids("got", ids77, (size_t)context);
                print_want(want77);
            }
        }
        if (want_decoded) {
            dec_total++;
            int32_t *with_specials = malloc((n + 2) * sizeof *with_specials);
            with_specials[0] = 49406;
            memcpy(with_specials + 1, ids, n * sizeof *ids);
            with_specials[n + 1] = 49407;
            st = ow_tokenizer_decode(t, with_specials, n + 2, decoded, 1 << 16, NULL, &err);
            int okd = st == OW_OK && strcmp(decoded, json_object_get_string(want_decoded)) == 0;
            dec_ok += okd;
            CHECK(okd, "case %zu decode: got '%s', want '%s'", k, decoded, json_object_get_string(want_decoded));
            free(with_specials);
        }
        free(input);
    }
    printf("%s ids of %zu golden cases: %d match exactly (%zu ids)\n", ids_ok == (int)n_cases ? "ok  " : "FAIL",
           n_cases, ids_ok, n_ids);
    printf("%s 77-context ids + info of %d prompts (%d truncated): %d match\n", ctx_ok == ctx_total ? "ok  " : "FAIL",
           ctx_total, n_long, ctx_ok);
    printf("%s decode of %d prompts: %d match\n", dec_ok == dec_total ? "ok  " : "FAIL", dec_total, dec_ok);
    CHECK(n_cases >= 400 && n_long >= 5, "golden has %zu cases, %d truncated; expected >= 400 and >= 5", n_cases, n_long);

    /* The clean-up on its own (NFC, lower case with final sigma, whitespace). */
    json_object *norm;
    json_object_object_get_ex(golden, "normalize", &norm);
    size_t n_norm = json_object_array_length(norm);
    int norm_ok = 0;
    for (size_t k = 0; k < n_norm; k++) {
        json_object *c = json_object_array_get_idx(norm, k), *want;
        json_object_object_get_ex(c, "text", &v);
        json_object_object_get_ex(c, "want", &want);
        char *got = NULL;
        st = ow_tokenizer_normalize(json_object_get_string(v), &got, &err);
        int ok = st == OW_OK && strcmp(got, json_object_get_string(want)) == 0;
        norm_ok += ok;
        CHECK(ok, "normalize case %zu: got '%s', want '%s'", k, got ? got : err.message, json_object_get_string(want));
        free(got);
    }
    printf("%s clean-up (NFC, lower, whitespace) of %zu strings: %d match\n", norm_ok == (int)n_norm ? "ok  " : "FAIL",
           n_norm, norm_ok);

    printf("time: load %.1f ms, tokenize all %zu cases %.2f ms (%.1f us per case)\n", load_seconds * 1e3, n_cases,
           tokenize_seconds * 1e3, tokenize_seconds * 1e6 / (double)n_cases);
    CHECK(tokenize_seconds < 2.0, "tokenizing the golden cases took %.3f s; expected milliseconds", tokenize_seconds);

    free(ids);
    free(ids77);
    free(decoded);
    ow_tokenizer_free(plain);
    ow_tokenizer_free(added);
    json_object_put(golden);
    CHECK_DONE();
}
