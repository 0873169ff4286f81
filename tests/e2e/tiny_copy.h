/* tiny_copy.h: a copy of a tiny diffusers folder for an e2e test that changes one of its
 * parts: every other part is linked into a temporary folder, the changed one is an
 * empty folder for the test to write into, and all of it is removed afterwards.
 * Header-only, like tests/check.h. */
#ifndef OW_TESTS_TINY_COPY_H
#define OW_TESTS_TINY_COPY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const tiny_copy_parts[] = {"unet", "vae", "text_encoder", "scheduler", "model_index.json", NULL};

/* dir: a mkdtemp template, filled in. 1 when the links and the changed part's folder are made. */
static int tiny_copy_make(const char *model, char *dir, const char *changed) {
    if (!mkdtemp(dir)) return 0;
    char from[8192], to[8192];
    for (const char *const *part = tiny_copy_parts; *part; part++) {
        snprintf(to, sizeof to, "%s/%s", dir, *part);
        snprintf(from, sizeof from, "%s/%s", model, *part);
        if (strcmp(*part, changed) == 0 ? mkdir(to, 0700) != 0 : symlink(from, to) != 0) return 0;
    }
    return 1;
}

/* Removes dir: the links, the files written into the changed part (NULL-terminated), the rest. */
static void tiny_copy_remove(const char *dir, const char *changed, const char *const *written) {
    char path[8192];
    for (; *written; written++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, changed, *written);
        remove(path);
    }
    for (const char *const *part = tiny_copy_parts; *part; part++) {
        snprintf(path, sizeof path, "%s/%s", dir, *part);
        remove(path);
    }
    rmdir(dir);
}

#endif
