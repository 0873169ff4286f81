/* test_tokenizer_api.c: the CLIP tokenizer's API edges: truncation info, padding,
 * context limits, added tokens, ill-formed UTF-8 (fuzzed, must never fail or crash),
 * decode errors, and missing / damaged vocabulary files (clear errors). */
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "tokenizer/tokenizer.h"

static ow_tokenizer *load(const char *path, ow_status *status, ow_error *err) {
    ow_tokenizer *t = NULL;
    *status = ow_tokenizer_load(&t, path, err);
    return t;
}

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static int write_gz(const char *path, const char *text) {
    gzFile f = gzopen(path, "wb");
    if (!f) return -1;
    int n = gzwrite(f, text, (unsigned)strlen(text));
    gzclose(f);
    return n == (int)strlen(text) ? 0 : -1;
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)len);
    *n = fread(data, 1, (size_t)len, f);
    fclose(f);
    return data;
}

/* The vocabulary text (inflated), for building damaged variants. */
static char *inflate_vocab(const char *path, size_t *n) {
    gzFile f = gzopen(path, "rb");
    size_t cap = 8 << 20;
    char *data = malloc(cap + 1);
    int got = gzread(f, data, (unsigned)cap);
    gzclose(f);
    *n = got > 0 ? (size_t)got : 0;
    data[*n] = '\0';
    return data;
}

static int is_valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (!len) return 0;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80) return 0;
        p += len;
    }
    return 1;
}

int main(void) {
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s", source_path("resources/clip/bpe_simple_vocab_16e6.txt.gz"));
    ow_error err = {0};
    ow_status st;
    ow_tokenizer *t = load(vocab, &st, &err);
    CHECK(st == OW_OK && t, "load %s: %s", vocab, err.message);
    if (!t) CHECK_DONE();
    int32_t ids[OW_CLIP_CONTEXT];
    ow_tokenize_info info;

    /* A short prompt: BOS, tokens, EOS, then the pad id the caller picked. */
    static const int32_t cat[] = {49406, 320, 1125, 539, 320, 2368, 49407};
    for (int pad = 0; pad <= 49407; pad += 49407) {
        st = ow_tokenizer_encode(t, "a photo of a cat", ids, OW_CLIP_CONTEXT, pad, &info, &err);
        int ok = st == OW_OK && memcmp(ids, cat, sizeof cat) == 0 && info.n_tokens == 7 && info.n_used == 7 &&
                 !info.truncated && info.n_cut == 0 && info.cut_text[0] == '\0';
        for (int i = 7; i < OW_CLIP_CONTEXT; i++) ok = ok && ids[i] == pad;
        CHECK(ok, "'a photo of a cat' with pad %d: ids %d %d %d .. [7]=%d [76]=%d, n_tokens %d", pad, ids[0], ids[1],
              ids[6], ids[7], ids[76], info.n_tokens);
    }
    printf("ok   'a photo of a cat' -> 49406 320 1125 539 320 2368 49407 + pads 0 and 49407\n");

    /* Truncation at the boundary: 75 content tokens fit, 76 do not. */
    char prompt[8192];
    prompt[0] = '\0';
    for (int i = 0; i < 75; i++) strcat(prompt, "a ");
    st = ow_tokenizer_encode(t, prompt, ids, OW_CLIP_CONTEXT, 0, &info, &err);
    CHECK(st == OW_OK && info.n_tokens == 77 && info.n_used == 77 && !info.truncated && ids[76] == 49407,
          "75 x 'a': n_tokens %d n_used %d truncated %d ids[76] %d", info.n_tokens, info.n_used, info.truncated, ids[76]);
    strcat(prompt, "dog");
    st = ow_tokenizer_encode(t, prompt, ids, OW_CLIP_CONTEXT, 0, &info, &err);
    CHECK(st == OW_OK && info.n_tokens == 78 && info.n_used == 77 && info.truncated && info.n_cut == 1 &&
          strcmp(info.cut_text, "dog") == 0 && ids[75] == 320 && ids[76] == 49407,
          "75 x 'a' + dog: n_tokens %d n_used %d truncated %d n_cut %d cut '%s' ids[75] %d ids[76] %d", info.n_tokens,
          info.n_used, info.truncated, info.n_cut, info.cut_text, ids[75], ids[76]);
    prompt[0] = '\0';
    for (int i = 0; i < 80; i++) strcat(prompt, "Cat ");
    st = ow_tokenizer_encode(t, prompt, ids, OW_CLIP_CONTEXT, 49407, &info, &err);
    CHECK(st == OW_OK && info.n_tokens == 82 && info.truncated && info.n_cut == 5 &&
          strcmp(info.cut_text, "cat cat cat cat cat") == 0 && ids[75] == 2368 && ids[76] == 49407,
          "80 x 'Cat': n_tokens %d n_cut %d cut '%s'", info.n_tokens, info.n_cut, info.cut_text);
    printf("ok   truncation: 75 content tokens fit, 76th cut and reported ('%s'), 80 x cat -> cut '%s'\n", "dog",
           info.cut_text);

    /* A long cut text is shortened with "..." at a character boundary. */
    prompt[0] = '\0';
    for (int i = 0; i < 75; i++) strcat(prompt, "a ");
    for (int i = 0; i < 400; i++) strcat(prompt, "日é");
    st = ow_tokenizer_encode(t, prompt, ids, OW_CLIP_CONTEXT, 49407, &info, &err);
    size_t cut_len = strlen(info.cut_text);
    CHECK(st == OW_OK && info.truncated && cut_len < sizeof info.cut_text && cut_len > 400 &&
          strcmp(info.cut_text + cut_len - 3, "...") == 0 && is_valid_utf8(info.cut_text) &&
          strncmp(info.cut_text, "日 é 日", strlen("日 é 日")) == 0,
          "long cut text: %zu bytes, valid UTF-8 %d, starts '%.20s'", cut_len, is_valid_utf8(info.cut_text),
          info.cut_text);
    printf("ok   long cut text: %zu bytes, ends in '...', valid UTF-8 (%d tokens cut)\n", cut_len, info.n_cut);

    /* Context limits. */
    st = ow_tokenizer_encode(t, "cat", ids, 1, 0, &info, &err);
    CHECK(st == OW_ERR_INVALID_ARGUMENT, "context 1 must be refused, got %s", ow_status_name(st));
    printf("     context 1 refused: %s\n", err.message);
    st = ow_tokenizer_encode(t, "cat", ids, 2, 0, &info, &err);
    CHECK(st == OW_OK && ids[0] == 49406 && ids[1] == 49407 && info.truncated && info.n_cut == 1,
          "context 2: ids %d %d truncated %d", ids[0], ids[1], info.truncated);
    st = ow_tokenizer_encode(t, "", ids, OW_CLIP_CONTEXT, 0, NULL, &err);
    CHECK(st == OW_OK && ids[0] == 49406 && ids[1] == 49407 && ids[2] == 0, "empty prompt: %d %d %d", ids[0], ids[1],
          ids[2]);

    /* tokenize: capacity semantics. */
    size_t n = 99;
    st = ow_tokenizer_tokenize(t, "a photo of a cat", NULL, 0, &n, &err);
    CHECK(st == OW_OK && n == 5, "tokenize with capacity 0: n %zu, want 5", n);
    int32_t two[3] = {-1, -1, -1};
    st = ow_tokenizer_tokenize(t, "a photo of a cat", two, 2, &n, &err);
    CHECK(st == OW_OK && n == 5 && two[0] == 320 && two[1] == 1125 && two[2] == -1,
          "tokenize with capacity 2: n %zu ids %d %d %d", n, two[0], two[1], two[2]);

    /* Added tokens. */
    int32_t id_cat = -1, id_star = -1, id_again = -1, id_bad = -1;
    CHECK(ow_tokenizer_add_token(t, "<my-cat>", &id_cat, &err) == OW_OK && id_cat == 49408, "add <my-cat>: %d", id_cat);
    CHECK(ow_tokenizer_add_token(t, "*", &id_star, &err) == OW_OK && id_star == 49409, "add *: %d", id_star);
    CHECK(ow_tokenizer_add_token(t, "<my-cat>", &id_again, &err) == OW_OK && id_again == 49408,
          "adding <my-cat> again gives %d, want 49408", id_again);
    CHECK(ow_tokenizer_vocab_size(t) == 49410, "vocab size after 2 added: %d", ow_tokenizer_vocab_size(t));
    st = ow_tokenizer_add_token(t, "<|endoftext|>", &id_bad, &err);
    CHECK(st == OW_ERR_INVALID_ARGUMENT && id_bad == -1, "adding <|endoftext|> must be refused: %s", ow_status_name(st));
    printf("     special token refused: %s\n", err.message);
    CHECK(ow_tokenizer_add_token(t, "", &id_bad, &err) == OW_ERR_INVALID_ARGUMENT, "adding '' must be refused");
    CHECK(ow_tokenizer_add_token(t, "bad\xff", &id_bad, &err) == OW_ERR_INVALID_ARGUMENT,
          "adding ill-formed UTF-8 must be refused");
    CHECK(ow_tokenizer_vocab_size(t) == 49410, "vocab size after refused adds: %d", ow_tokenizer_vocab_size(t));
    static const int32_t with_cat[] = {49406, 320, 1125, 539, 49408, 49407};
    st = ow_tokenizer_encode(t, "a photo of <my-cat>", ids, OW_CLIP_CONTEXT, 0, &info, &err);
    CHECK(st == OW_OK && memcmp(ids, with_cat, sizeof with_cat) == 0 && info.n_tokens == 6,
          "'a photo of <my-cat>': %d %d %d %d %d %d", ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]);
    static const int32_t star_s[] = {49406, 320, 49409, 338, 49409, 49407};
    st = ow_tokenizer_encode(t, "a *s*", ids, OW_CLIP_CONTEXT, 0, &info, &err);
    CHECK(st == OW_OK && memcmp(ids, star_s, sizeof star_s) == 0, "'a *s*': %d %d %d %d %d %d", ids[0], ids[1], ids[2],
          ids[3], ids[4], ids[5]);
    st = ow_tokenizer_tokenize(t, "<My-Cat>", ids, OW_CLIP_CONTEXT, &n, &err);
    int has_added = 0;
    for (size_t i = 0; i < n; i++) has_added |= ids[i] >= 49408;
    CHECK(st == OW_OK && n > 1 && !has_added, "'<My-Cat>' must not match the case-sensitive added token (%zu ids)", n);
    char text[256];
    int32_t dec_ids[] = {49406, 320, 49409, 338, 49408, 49407};
    st = ow_tokenizer_decode(t, dec_ids, 6, text, sizeof text, NULL, &err);
    CHECK(st == OW_OK && strcmp(text, "a * s <my-cat>") == 0, "decode with added tokens: '%s'", text);
    int32_t bad_id = 49410;
    st = ow_tokenizer_decode(t, &bad_id, 1, text, sizeof text, NULL, &err);
    CHECK(st == OW_ERR_INVALID_ARGUMENT, "decoding id 49410 must fail: %s", ow_status_name(st));
    printf("     bad id refused: %s\n", err.message);
    size_t needed = 0;
    st = ow_tokenizer_decode(t, cat, 7, text, 5, &needed, &err);
    CHECK(st == OW_OK && strcmp(text, "a ph") == 0 && needed == strlen("a photo of a cat") + 1,
          "decode into 5 bytes: '%s', needed %zu", text, needed);
    printf("ok   added tokens: <my-cat> 49408, * 49409 (split anywhere, case-sensitive), repeats and specials handled\n");

    /* The tokenizer without added tokens treats them as text. */
    ow_tokenizer *plain = load(vocab, &st, &err);
    st = ow_tokenizer_tokenize(plain, "a *s*", ids, OW_CLIP_CONTEXT, &n, &err);
    CHECK(st == OW_OK && n == 4 && ids[0] == 320 && ids[1] == 265 && ids[2] == 338 && ids[3] == 265,
          "plain 'a *s*' (transformers: 320 265 338 265): %zu ids %d %d %d %d", n, ids[0], ids[1], ids[2], ids[3]);

    /* Ill-formed UTF-8: replaced, then dropped, never an error. */
    size_t n_a, n_b;
    int32_t a_ids[16], b_ids[16];
    ow_tokenizer_tokenize(plain, "caf\xc3 ok", a_ids, 16, &n_a, &err);
    ow_tokenizer_tokenize(plain, "caf ok", b_ids, 16, &n_b, &err);
    CHECK(n_a == n_b && memcmp(a_ids, b_ids, n_a * sizeof *a_ids) == 0, "'caf\\xc3 ok' must tokenize as 'caf ok'");
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int fuzz_ok = 1;
    double t0 = (double)clock() / CLOCKS_PER_SEC;
    for (int round = 0; round < 3000; round++) {
        char buf[97];
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int len = (int)((rng >> 33) % 96);
        for (int i = 0; i < len; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            unsigned b = (unsigned)(rng >> 40) & 0xFF;
            if (round % 3 == 0) b = 0x80 | (b & 0x7F); /* continuation/lead heavy */
            buf[i] = (char)(b ? b : 'x');
        }
        buf[len] = '\0';
        st = ow_tokenizer_encode(t, buf, ids, OW_CLIP_CONTEXT, 0, &info, &err);
        fuzz_ok &= st == OW_OK && ids[0] == 49406;
        for (int i = 0; i < OW_CLIP_CONTEXT; i++) fuzz_ok &= ids[i] >= 0 && ids[i] < ow_tokenizer_vocab_size(t);
        st = ow_tokenizer_decode(t, ids, (size_t)info.n_used, text, sizeof text, NULL, &err);
        fuzz_ok &= st == OW_OK && is_valid_utf8(text);
    }
    CHECK(fuzz_ok, "3000 random byte strings: encode/decode must succeed with ids in range and valid UTF-8 out");
    printf("ok   3000 random byte strings (ill-formed UTF-8) encoded and decoded (%.0f ms)\n",
           ((double)clock() / CLOCKS_PER_SEC - t0) * 1e3);

    /* A very long word stays fast (BPE is quadratic in the word length at worst). */
    char *word = malloc(20001);
    for (int i = 0; i < 20000; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        word[i] = (char)('a' + (rng >> 40) % 26);
    }
    word[20000] = '\0';
    t0 = (double)clock() / CLOCKS_PER_SEC;
    st = ow_tokenizer_tokenize(t, word, NULL, 0, &n, &err);
    double long_ms = ((double)clock() / CLOCKS_PER_SEC - t0) * 1e3;
    CHECK(st == OW_OK && n > 2000 && long_ms < 3000, "20000-letter word: %zu tokens in %.0f ms", n, long_ms);
    printf("ok   20000-letter word: %zu tokens in %.0f ms\n", n, long_ms);
    free(word);

    /* normalize: what CLIP's BPE sees. */
    char *norm = NULL;
    st = ow_tokenizer_normalize("  Héllo\tWORLD\x01 ΟΔΟΣ 中文  ", &norm, &err);
    CHECK(st == OW_OK && strcmp(norm, "héllo world οδος 中 文") == 0, "normalize: '%s'", norm ? norm : err.message);
    free(norm);

    /* Missing and damaged vocabulary files. */
    char dir[] = "/tmp/ow_tok_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[4200];
    ow_tokenizer *bad;
    snprintf(path, sizeof path, "%s/missing.txt.gz", dir);
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_IO && !bad && strstr(err.message, path), "missing file: %s: %s", ow_status_name(st), err.message);
    printf("     missing: %s\n", err.message);

    snprintf(path, sizeof path, "%s/plain.txt", dir);
    write_file(path, "#version: 0.2\ni n\nt h\n", 21);
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_FORMAT && !bad && strstr(err.message, "gzip"), "plain text file: %s: %s", ow_status_name(st),
          err.message);
    printf("     not gzip: %s\n", err.message);

    size_t gz_len = 0;
    char *gz = read_all(vocab, &gz_len);
    snprintf(path, sizeof path, "%s/truncated.txt.gz", dir);
    write_file(path, gz, gz_len / 2);
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_FORMAT && !bad && strstr(err.message, "damaged"), "truncated gzip: %s: %s", ow_status_name(st),
          err.message);
    printf("     truncated gzip: %s\n", err.message);
    gz[gz_len / 2] ^= 0x55; /* flip bits in the middle of the deflate stream */
    snprintf(path, sizeof path, "%s/flipped.txt.gz", dir);
    write_file(path, gz, gz_len);
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_FORMAT && !bad, "corrupted gzip: %s: %s", ow_status_name(st), err.message);
    printf("     corrupted gzip: %s\n", err.message);
    free(gz);

    size_t text_len = 0;
    char *merges = inflate_vocab(vocab, &text_len);
    size_t cut = 0; /* keep the header and 1000 merges */
    for (int lines = 0; lines < 1001 && cut < text_len; cut++)
        if (merges[cut] == '\n') lines++;
    char saved = merges[cut];
    merges[cut] = '\0';
    snprintf(path, sizeof path, "%s/short.txt.gz", dir);
    write_gz(path, merges);
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_FORMAT && !bad && strstr(err.message, "ends after 1000 merges"), "short merge list: %s: %s",
          ow_status_name(st), err.message);
    printf("     short: %s\n", err.message);
    merges[cut] = saved;
    char *line5 = merges;
    for (int lines = 0; lines < 5; line5++)
        if (*line5 == '\n') lines++;
    char line5_saved[5];
    memcpy(line5_saved, line5, 5);
    memcpy(line5, "x y z", 5); /* line 5 (merge 5) gets three symbols */
    snprintf(path, sizeof path, "%s/badline.txt.gz", dir);
    write_gz(path, merges);
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_FORMAT && !bad && strstr(err.message, "merge line 5"), "bad merge line: %s: %s",
          ow_status_name(st), err.message);
    printf("     bad line: %s\n", err.message);
    memcpy(line5, line5_saved, 5);
    /* Lines 1 "i n" and 7 "th e</w>" swapped: merge 1 would use "th", made by merge 2. */
    char *line1 = strchr(merges, '\n') + 1, *line7 = line1;
    for (int lines = 0; lines < 6; line7++)
        if (*line7 == '\n') lines++;
    CHECK(strncmp(line1, "i n\n", 4) == 0 && strncmp(line7, "th e</w>\n", 9) == 0, "merge lines 1 and 7 as expected");
    char swapped[16];
    memcpy(swapped, line1, 3);
    memmove(line1 + 8, line1 + 3, (size_t)(line7 - line1) - 3);
    memcpy(line1, "th e</w>", 8);
    memcpy(line7 + 5, swapped, 3);
    snprintf(path, sizeof path, "%s/order.txt.gz", dir);
    write_gz(path, merges);
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_FORMAT && !bad && strstr(err.message, "later merge"), "merges out of order: %s: %s",
          ow_status_name(st), err.message);
    printf("     out of order: %s\n", err.message);
    free(merges);
    snprintf(path, sizeof path, "%s/empty.txt.gz", dir);
    write_gz(path, "");
    bad = load(path, &st, &err);
    CHECK(st == OW_ERR_FORMAT && !bad, "empty file: %s: %s", ow_status_name(st), err.message);
    printf("     empty: %s\n", err.message);
    const char *names[] = {"missing.txt.gz", "plain.txt", "truncated.txt.gz", "flipped.txt.gz", "short.txt.gz",
                           "badline.txt.gz", "empty.txt.gz", "order.txt.gz"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    printf("ok   missing, non-gzip, truncated, corrupted, short, malformed, out-of-order and empty vocabulary files refused\n");

    ow_tokenizer_free(plain);
    ow_tokenizer_free(t);
    CHECK_DONE();
}
