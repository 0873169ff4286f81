/* test_bert_tokenizer_golden.c: the C WordPiece tokenizer against transformers 4.46.3
 * BertTokenizerFast on every case of tests/golden/tokenizer/bert_tokenizer.json (made by
 * tests/ref/make_bert_tokenizer_golden.py): the content ids, and the 77 ids LDM's text
 * encoder reads ([CLS] ... [SEP], truncation, [PAD] = 0). Also decode and the
 * vocabulary's damaged forms. */
#include <json-c/json.h>
#include <stdint.h>

#include "check.h"
#include "golden_ids.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/wordpiece.h"

#define CHECK_OK(call, e)                                                   \
    do {                                                                    \
        ow_status check_ok_status = (call);                                 \
        CHECK(check_ok_status == OW_OK, "%s: %s", #call, (e)->message);     \
    } while (0)

static void check_golden(ow_tokenizer *t) {
    json_object *golden = json_object_from_file(source_path("tests/golden/tokenizer/bert_tokenizer.json"));
    CHECK(golden != NULL, "read tests/golden/tokenizer/bert_tokenizer.json: %s", json_util_get_last_err());
    if (!golden) return;
    json_object *cases, *v;
    json_object_object_get_ex(golden, "cases", &cases);
    size_t n_cases = json_object_array_length(cases), bad_ids = 0, bad_77 = 0;
    CHECK(n_cases >= 300, "%zu golden cases, want at least 300", n_cases);
    ow_error err = {0};
    for (size_t c = 0; c < n_cases; c++) {
        json_object *cs = json_object_array_get_idx(cases, c), *want, *want77;
        json_object_object_get_ex(cs, "text", &v);
        const char *text = json_object_get_string(v);
        json_object_object_get_ex(cs, "ids", &want);
        json_object_object_get_ex(cs, "ids77", &want77);
        int32_t ids[4096];
        size_t n = 0;
        ow_status st = ow_tokenizer_tokenize(t, text, ids, 4096, &n, &err);
        if (st != OW_OK || n > 4096 || !ids_equal(want, ids, n)) {
            if (bad_ids++ < 8) {
                fprintf(stderr, "case %zu ids differ: \"%.120s\"\n", c, text);
                print_ids("got", ids, n < 4096 ? n : 4096);
                print_want(want);
            }
        }
        int32_t ids77[77];
        ow_tokenize_info info;
        st = ow_tokenizer_encode(t, text, ids77, 77, OW_BERT_PAD_ID, &info, &err);
        size_t used = json_object_array_length(want77);
        int ok = st == OW_OK && ids_equal(want77, ids77, used) && info.n_used == (int)used;
        for (size_t i = used; ok && i < 77; i++) ok = ids77[i] == OW_BERT_PAD_ID;
        if (!ok && bad_77++ < 8) {
            fprintf(stderr, "case %zu ids77 differ: \"%.120s\"\n", c, text);
            print_ids("got", ids77, 77);
            print_want(want77);
        }
    }
    CHECK(bad_ids == 0, "%zu of %zu cases give other content ids than BertTokenizerFast", bad_ids, n_cases);
    CHECK(bad_77 == 0, "%zu of %zu cases give other 77-id inputs than BertTokenizerFast", bad_77, n_cases);
    printf("bert golden: %zu cases, %zu differ\n", n_cases, bad_ids + bad_77);
    json_object_put(golden);
}

static void check_decode_and_ids(ow_tokenizer *t) {
    ow_error err = {0};
    CHECK(ow_tokenizer_is_wordpiece(t) && ow_tokenizer_base_vocab_size(t) == OW_BERT_VOCAB_SIZE &&
              ow_tokenizer_bos_id(t) == OW_BERT_CLS_ID && ow_tokenizer_eos_id(t) == OW_BERT_SEP_ID,
          "BERT tokenizer: vocabulary %d, bos %d, eos %d", ow_tokenizer_base_vocab_size(t), ow_tokenizer_bos_id(t),
          ow_tokenizer_eos_id(t));
    int32_t ids[77];
    CHECK_OK(ow_tokenizer_encode(t, "An unaffable Sculpture!", ids, 77, 0, NULL, &err), &err);
    char text[256];
    CHECK_OK(ow_tokenizer_decode(t, ids, 77, text, sizeof text, NULL, &err), &err);
    CHECK(strcmp(text, "an unaffable sculpture !") == 0, "decode gave '%s'", text);
    /* an added token (a placeholder) gets the first id after the vocabulary and splits the raw text */
    int32_t star = 0;
    CHECK_OK(ow_tokenizer_add_token(t, "<my-cat>", &star, &err), &err);
    CHECK(star == OW_BERT_VOCAB_SIZE, "first added id %d, want %d", star, OW_BERT_VOCAB_SIZE);
    size_t n = 0;
    CHECK_OK(ow_tokenizer_tokenize(t, "a <my-cat>s toy", ids, 77, &n, &err), &err);
    CHECK(n == 4 && ids[0] == 1037 && ids[1] == star && ids[3] == 9121, "'a <my-cat>s toy': %zu ids, %d %d %d", n,
          ids[0], ids[1], n > 3 ? ids[3] : -1);
    CHECK(ow_tokenizer_add_token(t, "[MASK]", NULL, &err) == OW_ERR_INVALID_ARGUMENT, "[MASK] accepted as a placeholder");
}

static void check_damaged_vocab(void) {
    ow_error err = {0};
    ow_wordpiece *wp = NULL;
    const char *no_specials = "a\nb\nc\n";
    CHECK(ow_wordpiece_build(&wp, no_specials, strlen(no_specials), "tiny", &err) == OW_ERR_FORMAT &&
              strstr(err.message, "[PAD]"),
          "a vocabulary without [PAD]: %s", err.message);
    const char *repeated = "[PAD]\nx\nx\n";
    CHECK(ow_wordpiece_build(&wp, repeated, strlen(repeated), "rep", &err) == OW_ERR_FORMAT &&
              strstr(err.message, "repeats"),
          "a repeated line: %s", err.message);
    const char *empty_line = "[PAD]\n\nx\n";
    CHECK(ow_wordpiece_build(&wp, empty_line, strlen(empty_line), "empty", &err) == OW_ERR_FORMAT &&
              strstr(err.message, "empty"),
          "an empty line: %s", err.message);
    CHECK(wp == NULL, "a refused vocabulary left a tokenizer");
    ow_tokenizer *t = NULL;
    CHECK(ow_tokenizer_load_wordpiece(&t, source_path("resources/clip/NOTICE"), &err) == OW_ERR_FORMAT,
          "a text file that is not gzip: %s", err.message);
}

int main(void) {
    ow_error err = {0};
    ow_tokenizer *t = NULL;
    CHECK_OK(ow_tokenizer_load_wordpiece(&t, source_path("resources/bert/vocab.txt.gz"), &err), &err);
    if (!t) CHECK_DONE();
    check_golden(t);
    check_decode_and_ids(t);
    ow_tokenizer_free(t);
    check_damaged_vocab();
    CHECK_DONE();
}
