/* learn_checks.h: what Learn Concept checks before it runs, shared by the procedure and
 * its dialog (which shows them as the user types): how the init word splits into CLIP
 * tokens and whether ow_learn takes it with that many vectors, and whether the run
 * folder of the token (runs/<name>) holds an unfinished run to resume. No GIMP calls. */
#ifndef OW_PLUGIN_LEARN_CHECKS_H
#define OW_PLUGIN_LEARN_CHECKS_H

#include <stddef.h>

#include "library.h"
#include "oneword.h"
#include "profile.h"

/* Describes word for the dialog in text (cap bytes, plain UTF-8): one token, or the
 * tokens it splits into with one-token words to use instead. Returns 1 when ow_learn
 * takes it with `vectors` vectors (one token, or up to `vectors` tokens), else 0. */
int plugin_init_word_check(const ow_tokenizer *tokenizer, const char *word, int vectors, char *text, size_t cap);

/* The run a Learn of token (entry name: name, or "" for one from the token) uses. */
typedef struct learn_run_place {
    char name[LIBRARY_TOKEN_MAX]; /* the entry and run name */
    char dir[PLUGIN_PATH_MAX];    /* <profile>/runs/<name> */
    char state[PLUGIN_PATH_MAX];  /* dir/state.safetensors: present while a run is unfinished */
    int has_state;
} learn_run_place;

ow_status plugin_learn_run_place(const plugin_profile *profile, const char *token, const char *name,
                                 learn_run_place *place, ow_error *err);

/* What the unfinished run in place->state is: the step it reached, the steps it was
 * asked for and its token (cap bytes). */
ow_status plugin_learn_run_progress(const learn_run_place *place, int *step, int *steps, char *token, size_t cap,
                                    ow_error *err);

#endif
