/* test_learn_checks.c: Learn's checks before a run, as its dialog shows them while the
 * user types (plugin/learn_checks.c): the init word's split into CLIP tokens and whether
 * ow_learn takes it with that many vectors (with one-token words suggested), and the
 * run folder of a token with an unfinished run in it (a real state, saved by ow_learn on
 * the shapes model), which the dialog offers to resume. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "check.h"
#include "learn_checks.h"
#include "oneword.h"

static void expect_word(const ow_tokenizer *t, const char *word, int vectors, int usable, const char *part1,
                        const char *part2) {
    char text[1024];
    int got = plugin_init_word_check(t, word, vectors, text, sizeof text);
    int ok = got == usable && strstr(text, part1) && (!part2 || strstr(text, part2));
    CHECK(ok, "'%s' with %d vectors: usable %d (want %d), text '%s' (want '%s'%s%s)", word, vectors, got, usable, text,
          part1, part2 ? " and " : "", part2 ? part2 : "");
    printf("%s '%s', %d vector%s: %s: %s\n", ok ? "ok  " : "FAIL", word, vectors, vectors == 1 ? "" : "s",
           got ? "usable" : "refused", text);
}

static const char *save_as;
static int save_state(void *user, int step, const ow_embedding *emb, const ow_learn_state *state) {
    (void)user;
    (void)step;
    (void)emb;
    ow_error err = {0};
    ow_learn_state_save(state, save_as, &err);
    return 1; /* stop here, as a cancelled run does: the state stays */
}

int main(void) {
    ow_error err = {0};
    ow_tokenizer *t = NULL;
    CHECK(ow_tokenizer_open(&t, NULL, &err) == OW_OK, "the CLIP vocabulary, found as the model finds it: %s",
          err.message);
    if (!t) CHECK_DONE();
    expect_word(t, "cat", 1, 1, "'cat' is one CLIP token", NULL);
    expect_word(t, "purpleorange", 1, 0, "'purpleorange' is 2 CLIP tokens: \"purple\" + \"orange\"",
                "try purple or orange (or learn 2 vectors");
    expect_word(t, "purpleorange", 2, 1, "is 2 CLIP tokens", "with 2 vectors each token starts one");
    expect_word(t, "dinosaurus", 1, 0, "try dinosaur or urus", NULL);
    expect_word(t, "xyzzy", 1, 0, "try one common word close to the concept", NULL);
    expect_word(t, "", 1, 0, "Type one common word", NULL);
    expect_word(t, "  ", 4, 0, "Type one common word", NULL);
    ow_tokenizer_free(t);

    /* the run folder: none, then an unfinished run of 3 steps stopped after its first save */
    char gimp_dir[] = "/tmp/oneword-test-learn-checks-XXXXXX";
    if (!mkdtemp(gimp_dir)) return 1;
    plugin_profile profile;
    CHECK(plugin_profile_open(&profile, gimp_dir, &err) == OW_OK, "profile: %s", err.message);
    learn_run_place place;
    CHECK(plugin_learn_run_place(&profile, "<my-cat>", "", &place, &err) == OW_OK && strcmp(place.name, "my-cat") == 0 &&
              !place.has_state && strstr(place.dir, "/runs/my-cat"),
          "a new run: name '%s', dir '%s', state %d", place.name, place.dir, place.has_state);
    learn_run_place named;
    CHECK(plugin_learn_run_place(&profile, "<my-cat>", "Cat 2", &named, &err) == OW_OK &&
              strcmp(named.name, "Cat-2") == 0,
          "a run named 'Cat 2' lives in runs/%s", named.name);
    CHECK(ow_file_make_dirs(place.dir, 0700, &err) == OW_OK, "mkdir %s: %s", place.dir, err.message);

    ow_model *m = NULL;
    ow_model_options options;
    ow_model_options_init(&options);
    options.threads = 1;
    CHECK(ow_model_open(&m, source_path("resources/shapes"), &options, &err) == OW_OK, "shapes: %s", err.message);
    if (m) {
        enum { SIDE = 32 };
        static float rgb[2][SIDE * SIDE * 3];
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < SIDE * SIDE * 3; k++) rgb[i][k] = (float)((k * (i + 3)) % 17) / 16.0f;
        ow_learn_image images[2] = {{rgb[0], SIDE, SIDE, NULL}, {rgb[1], SIDE, SIDE, NULL}};
        ow_learn_params p;
        ow_learn_params_init(&p);
        p.placeholder = "<my-cat>";
        p.init_word = "circle";
        p.steps = 3;
        p.size = SIDE;
        p.batch = 1;
        p.save_every = 2;
        p.on_checkpoint = save_state;
        save_as = place.state;
        ow_embedding *emb = NULL;
        CHECK(ow_learn(m, images, 2, &p, &emb, &err) == OW_ERR_CANCELLED, "learn 3 steps, stopped at the first save: %s",
              err.message);
        ow_embedding_free(emb);
        ow_model_close(m);
        CHECK(plugin_learn_run_place(&profile, "<my-cat>", NULL, &place, &err) == OW_OK && place.has_state,
              "runs/my-cat holds a state after the run saved one");
        int step = 0, steps = 0;
        char token[LIBRARY_TOKEN_MAX] = "";
        CHECK(plugin_learn_run_progress(&place, &step, &steps, token, sizeof token, &err) == OW_OK, "progress: %s",
              err.message);
        CHECK(step == 2 && steps == 3 && strcmp(token, "<my-cat>") == 0,
              "the unfinished run: step %d of %d (want 2 of 3), token '%s'", step, steps, token);
        printf("ok   runs/%s: an unfinished run of %s at step %d of %d\n", place.name, token, step, steps);
    }
    char command[PLUGIN_PATH_MAX + 32];
    snprintf(command, sizeof command, "rm -rf '%s'", gimp_dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", gimp_dir);
    CHECK_DONE();
}
