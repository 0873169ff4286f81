/* learn_checks.c: Learn's checks before a run (see learn_checks.h): the init word
 * through the engine's ow_word_split, the run folder and its saved state. */
#include "learn_checks.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

int plugin_init_word_check(const ow_tokenizer *tokenizer, const char *word, int vectors, char *text, size_t cap) {
    ow_word_split_info split;
    ow_error err = {0};
    if (ow_word_split(tokenizer, word ? word : "", &split, &err) != OW_OK) {
        snprintf(text, cap, "cannot check the init word: %s", err.message);
        return 0;
    }
    if (split.n_tokens == 0) {
        snprintf(text, cap, "Type one common word close to the concept, e.g. cat, toy or painting.");
        return 0;
    }
    if (split.n_tokens == 1) {
        snprintf(text, cap, "'%s' is one CLIP token: learning starts from its vector.", word);
        return 1;
    }
    /* ow_learn's rule: up to one token per vector, vector i starting from token i mod n */
    if (split.n_tokens <= vectors && split.n_tokens <= 16) {
        snprintf(text, cap, "'%s' is %d CLIP tokens: %s; with %d vectors each token starts one of them.", word,
                 split.n_tokens, split.pieces, vectors);
        return 1;
    }
    char try_these[320] = "";
    size_t used = 0;
    for (int i = 0; i < split.n_suggestions; i++)
        used += (size_t)snprintf(try_these + used, sizeof try_these - used, "%s%s",
                                 i == 0 ? "" : i + 1 == split.n_suggestions ? " or " : ", ", split.suggestions[i]);
    char vectors_hint[96] = "";
    if (split.n_tokens <= 16)
        snprintf(vectors_hint, sizeof vectors_hint, " (or learn %d vectors, one started from each token)",
                 split.n_tokens);
    snprintf(text, cap, "'%s' is %d CLIP tokens: %s. It must be one token: try %s%s.", word, split.n_tokens,
             split.pieces, split.n_suggestions ? try_these : "one common word close to the concept, e.g. cat",
             vectors_hint);
    return 0;
}

ow_status plugin_learn_run_place(const plugin_profile *profile, const char *token, const char *name,
                                 learn_run_place *place, ow_error *err) {
    memset(place, 0, sizeof *place);
    library_name_from(name && *name ? name : token ? token : "", place->name, sizeof place->name);
    if (snprintf(place->dir, sizeof place->dir, "%s/%s", profile->runs, place->name) >= (int)sizeof place->dir ||
        snprintf(place->state, sizeof place->state, "%s/state.safetensors", place->dir) >= (int)sizeof place->state)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the name '%s' is too long", place->name);
    struct stat st;
    place->has_state = stat(place->state, &st) == 0;
    return OW_OK;
}

ow_status plugin_learn_run_progress(const learn_run_place *place, int *step, int *steps, char *token, size_t cap,
                                    ow_error *err) {
    ow_learn_state *state = NULL;
    ow_status s = ow_learn_state_load(&state, place->state, err);
    if (s != OW_OK) return s;
    ow_learn_params p;
    ow_learn_params_init(&p);
    ow_learn_state_params(state, &p);
    *step = ow_learn_state_step(state);
    *steps = p.steps;
    snprintf(token, cap, "%s", p.placeholder ? p.placeholder : "");
    ow_learn_state_free(state);
    return OW_OK;
}
