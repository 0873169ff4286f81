/* templates.h: the prompt templates textual inversion trains with: "{}" stands
 * for the placeholder. The lists are those of the reference implementation
 * (rinongal/textual_inversion, ldm/data/personalized.py imagenet_templates_small for
 * objects, 81 entries with its repeats; personalized_style.py for styles, 19),
 * so a concept learned here sees the same captions. */
#ifndef OW_TRAIN_TEMPLATES_H
#define OW_TRAIN_TEMPLATES_H

#include <stddef.h>

#include "oneword.h"

/* The list named "object" or "style"; NULL for another name. *count gets its length. */
const char *const *ow_train_templates(const char *name, size_t *count);

/* The templates a run trains with: spec is "object", "style" (NULL: "object"), or
 * the user's own captions, one per line (an A1111 template file: "[name]" or "{}"
 * for the placeholder, in every line; blank lines skipped; "[filewords]" refused: no
 * per-image captions yet). *out gets copies with "{}" for the placeholder. */
enum { OW_TEMPLATES_MAX_LINES = 1000, OW_TEMPLATES_MAX_TEXT = 65536, OW_TEMPLATE_MAX_LINE = 400 };
ow_status ow_train_template_list(const char *spec, char ***out, size_t *count, ow_error *err);
void ow_train_template_list_free(char **list, size_t count);

/* out = tmpl with every "{}" replaced by placeholder; -1 when it does not fit in cap. */
int ow_train_caption(const char *tmpl, const char *placeholder, char *out, size_t cap);

#endif
