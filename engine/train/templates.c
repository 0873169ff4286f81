/* templates.c: the reference implementation's caption lists (see templates.h). */
#include "train/templates.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/text.h"

#include <string.h>

static const char *const object_templates[] = {
    "a photo of a {}",
    "a rendering of a {}",
    "a cropped photo of the {}",
    "the photo of a {}",
    "a photo of a clean {}",
    "a photo of a dirty {}",
    "a dark photo of the {}",
    "a photo of my {}",
    "a photo of the cool {}",
    "a close-up photo of a {}",
    "a bright photo of the {}",
    "a cropped photo of a {}",
    "a photo of the {}",
    "a good photo of the {}",
    "a photo of one {}",
    "a close-up photo of the {}",
    "a rendition of the {}",
    "a photo of the clean {}",
    "a rendition of a {}",
    "a photo of a nice {}",
    "a good photo of a {}",
    "a photo of the nice {}",
    "a photo of the small {}",
    "a photo of the weird {}",
    "a photo of the large {}",
    "a photo of a cool {}",
    "a photo of a small {}",
    "an illustration of a {}",
    "a rendering of a {}",
    "a cropped photo of the {}",
    "the photo of a {}",
    "an illustration of a clean {}",
    "an illustration of a dirty {}",
    "a dark photo of the {}",
    "an illustration of my {}",
    "an illustration of the cool {}",
    "a close-up photo of a {}",
    "a bright photo of the {}",
    "a cropped photo of a {}",
    "an illustration of the {}",
    "a good photo of the {}",
    "an illustration of one {}",
    "a close-up photo of the {}",
    "a rendition of the {}",
    "an illustration of the clean {}",
    "a rendition of a {}",
    "an illustration of a nice {}",
    "a good photo of a {}",
    "an illustration of the nice {}",
    "an illustration of the small {}",
    "an illustration of the weird {}",
    "an illustration of the large {}",
    "an illustration of a cool {}",
    "an illustration of a small {}",
    "a depiction of a {}",
    "a rendering of a {}",
    "a cropped photo of the {}",
    "the photo of a {}",
    "a depiction of a clean {}",
    "a depiction of a dirty {}",
    "a dark photo of the {}",
    "a depiction of my {}",
    "a depiction of the cool {}",
    "a close-up photo of a {}",
    "a bright photo of the {}",
    "a cropped photo of a {}",
    "a depiction of the {}",
    "a good photo of the {}",
    "a depiction of one {}",
    "a close-up photo of the {}",
    "a rendition of the {}",
    "a depiction of the clean {}",
    "a rendition of a {}",
    "a depiction of a nice {}",
    "a good photo of a {}",
    "a depiction of the nice {}",
    "a depiction of the small {}",
    "a depiction of the weird {}",
    "a depiction of the large {}",
    "a depiction of a cool {}",
    "a depiction of a small {}",
};

static const char *const style_templates[] = {
    "a painting in the style of {}",
    "a rendering in the style of {}",
    "a cropped painting in the style of {}",
    "the painting in the style of {}",
    "a clean painting in the style of {}",
    "a dirty painting in the style of {}",
    "a dark painting in the style of {}",
    "a picture in the style of {}",
    "a cool painting in the style of {}",
    "a close-up painting in the style of {}",
    "a bright painting in the style of {}",
    "a cropped painting in the style of {}",
    "a good painting in the style of {}",
    "a close-up painting in the style of {}",
    "a rendition in the style of {}",
    "a nice painting in the style of {}",
    "a small painting in the style of {}",
    "a weird painting in the style of {}",
    "a large painting in the style of {}",
};

const char *const *ow_train_templates(const char *name, size_t *count) {
    if (!name || strcmp(name, "object") == 0) {
        *count = sizeof object_templates / sizeof object_templates[0];
        return object_templates;
    }
    if (strcmp(name, "style") == 0) {
        *count = sizeof style_templates / sizeof style_templates[0];
        return style_templates;
    }
    *count = 0;
    return NULL;
}

void ow_train_template_list_free(char **list, size_t count) {
    for (size_t i = 0; list && i < count; i++) free(list[i]);
    free(list);
}

/* A copy of line[0..n) with "[name]" written as "{}"; NULL when out of memory. */
static char *normalised(const char *line, size_t n) {
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        if (n - i >= 6 && memcmp(line + i, "[name]", 6) == 0) {
            *o++ = '{';
            *o++ = '}';
            i += 6;
        } else {
            *o++ = line[i++];
        }
    }
    *o = '\0';
    return out;
}

ow_status ow_train_template_list(const char *spec, char ***out, size_t *count, ow_error *err) {
    *out = NULL;
    *count = 0;
    size_t n_builtin;
    const char *const *builtin = ow_train_templates(spec, &n_builtin);
    char **list = NULL;
    size_t n = 0;
    if (builtin) {
        if (!(list = calloc(n_builtin, sizeof *list))) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
        for (; n < n_builtin; n++)
            if (!(list[n] = strdup(builtin[n]))) {
                ow_train_template_list_free(list, n);
                return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
            }
        *out = list;
        *count = n;
        return OW_OK;
    }
    const size_t len = strlen(spec);
    if (!strchr(spec, '\n') && !strstr(spec, "{}") && !strstr(spec, "[name]"))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "templates '%.64s': use \"object\", \"style\" or caption lines with [name]", spec);
    if (len > OW_TEMPLATES_MAX_TEXT || !ow_utf8_valid(spec, len))
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "the templates are not \"object\", \"style\" or lines of UTF-8 text (at most %d bytes)",
                            OW_TEMPLATES_MAX_TEXT);
    if (!(list = calloc(OW_TEMPLATES_MAX_LINES, sizeof *list)))
        return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    ow_status s = OW_OK;
    int line_no = 0;
    for (const char *line = spec; *line && s == OW_OK;) {
        const char *end = strchr(line, '\n');
        size_t k = end ? (size_t)(end - line) : strlen(line);
        line_no++;
        const char *next = end ? end + 1 : line + k;
        while (k && (line[k - 1] == '\r' || line[k - 1] == ' ' || line[k - 1] == '\t')) k--;
        while (k && (*line == ' ' || *line == '\t')) { line++; k--; }
        if (k) {
            char *t = normalised(line, k);
            if (!t) s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
            else if (strstr(t, "[filewords]"))
                s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                 "template line %d uses [filewords]: per-image captions are not supported; write the "
                                 "caption with [name] for the concept", line_no);
            else if (!strstr(t, "{}"))
                s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                 "template line %d has no [name] (or {}) where the concept's token goes", line_no);
            else if (strlen(t) > OW_TEMPLATE_MAX_LINE)
                s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "template line %d is longer than %d bytes", line_no,
                                 OW_TEMPLATE_MAX_LINE);
            else if (n == OW_TEMPLATES_MAX_LINES)
                s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "more than %d template lines", OW_TEMPLATES_MAX_LINES);
            if (s == OW_OK) list[n++] = t;
            else free(t);
        }
        line = next;
    }
    if (s == OW_OK && n == 0)
        s = ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                         "the templates are neither \"object\" nor \"style\" nor caption lines with [name]");
    if (s != OW_OK) {
        ow_train_template_list_free(list, n);
        return s;
    }
    *out = list;
    *count = n;
    return OW_OK;
}

int ow_train_caption(const char *tmpl, const char *placeholder, char *out, size_t cap) {
    size_t used = 0;
    const size_t plen = strlen(placeholder);
    for (const char *c = tmpl; *c;) {
        const int hole = c[0] == '{' && c[1] == '}';
        const size_t k = hole ? plen : 1;
        if (used + k + 1 > cap) return -1;
        memcpy(out + used, hole ? placeholder : c, k);
        used += k;
        c += hole ? 2 : 1;
    }
    out[used] = '\0';
    return 0;
}
