/* test_word_split.c: ow_tokenizer_open without a model and ow_word_split: how words
 * split into CLIP tokens (the counts and pieces transformers' CLIPTokenizer gives) and
 * the one-token words suggested for a Learn init word of several tokens. */
#include "check.h"
#include "oneword.h"

static void expect_split(const ow_tokenizer *t, const char *text, int n_tokens, const char *pieces,
                         const char *first_suggestion) {
    ow_word_split_info info;
    ow_error err = {0};
    ow_status s = ow_word_split(t, text, &info, &err);
    CHECK(s == OW_OK, "split '%s': %s", text, err.message);
    printf("%-4s '%s': %d tokens %s; suggestions:", (s == OW_OK && info.n_tokens == n_tokens) ? "ok" : "FAIL", text,
           info.n_tokens, info.pieces);
    for (int i = 0; i < info.n_suggestions; i++) printf(" %s", info.suggestions[i]);
    printf("\n");
    CHECK(info.n_tokens == n_tokens, "'%s': %d tokens, want %d", text, info.n_tokens, n_tokens);
    CHECK(strcmp(info.pieces, pieces) == 0, "'%s': pieces %s, want %s", text, info.pieces, pieces);
    if (first_suggestion)
        CHECK(info.n_suggestions > 0 && strcmp(info.suggestions[0], first_suggestion) == 0,
              "'%s': first suggestion '%s', want '%s'", text, info.n_suggestions ? info.suggestions[0] : "(none)",
              first_suggestion);
    else
        CHECK(info.n_suggestions == 0, "'%s': %d suggestions, want none", text, info.n_suggestions);
}

int main(void) {
    ow_tokenizer *t = NULL;
    ow_error err = {0};
    CHECK(ow_tokenizer_open(&t, source_path("resources/clip/bpe_simple_vocab_16e6.txt.gz"), &err) == OW_OK,
          "open the vocabulary: %s", err.message);
    if (!t) CHECK_DONE();
    expect_split(t, "cat", 1, "\"cat\"", NULL);
    expect_split(t, "Cat", 1, "\"cat\"", NULL);
    expect_split(t, "", 0, "", NULL);
    expect_split(t, "   ", 0, "", NULL);
    expect_split(t, "purpleorange", 2, "\"purple\" + \"orange\"", "purple");
    expect_split(t, "teddy bear", 2, "\"teddy\" + \"bear\"", "teddy");
    expect_split(t, "kitty-cat", 3, "\"kitty\" + \"-\" + \"cat\"", "kitty");
    /* a word's longest one-token beginning comes before shorter pieces */
    expect_split(t, "dinosaurus", 2, "\"dinosa\" + \"urus\"", "dinosaur");
    expect_split(t, "goldenretriever", 2, "\"golden\" + \"retriever\"", "retriever");
    /* nothing word-like to offer */
    expect_split(t, "xyzzy", 2, "\"xy\" + \"zzy\"", NULL);
    /* the model's own vocabulary finder (ONEWORD_VOCAB, installed, source tree) */
    ow_tokenizer *found = NULL;
    CHECK(ow_tokenizer_open(&found, NULL, &err) == OW_OK, "open the vocabulary where the model finds it: %s", err.message);
    ow_tokenizer_free(found);
    ow_word_split_info info;
    CHECK(ow_word_split(t, NULL, &info, &err) == OW_ERR_INVALID_ARGUMENT, "a NULL text is an argument error");
    ow_tokenizer_free(t);
    CHECK_DONE();
}
