/* templates.h: the prompt templates textual inversion trains with: "{}" stands
 * for the placeholder. The lists are those of the reference implementation
 * (rinongal/textual_inversion, ldm/data/personalized.py imagenet_templates_small for
 * objects, 81 entries with its repeats; personalized_style.py for styles, 19),
 * so a concept learned here sees the same captions. */
#ifndef OW_TRAIN_TEMPLATES_H
#define OW_TRAIN_TEMPLATES_H

#include <stddef.h>

/* The list named "object" or "style"; NULL for another name. *count gets its length. */
const char *const *ow_train_templates(const char *name, size_t *count);

#endif
