/* learn_masks.c: pairing training images with the mask files of a --masks folder by
 * file name stem (the name without its last extension, compared exactly). A stem
 * with two mask files is refused rather than one of them picked (kohya takes the
 * first its glob returns). */
#include "learn_masks.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_messages.h"
#include "training_image.h"

#define MASKS_MAX 100000

/* The stem of path's last component, into out (cap bytes). */
static void stem_of(const char *path, char *out, size_t cap) {
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    snprintf(out, cap, "%s", name);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int learn_masks_find(const char *dir, char *const *images, int n, char **mask_paths, int *unused,
                     char **unused_example) {
    char shown[512], shown2[512];
    *unused = 0;
    *unused_example = NULL;
    for (int i = 0; i < n; i++) mask_paths[i] = NULL;
    struct stat st;
    if (stat(dir, &st) != 0) return cli_fail("--masks '%s': %s", cli_display(dir, shown, sizeof shown), strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_fail("--masks '%s' is not a folder (give the folder of mask images)", cli_display(dir, shown, sizeof shown));
    DIR *d = opendir(dir);
    if (!d) return cli_fail("--masks '%s': %s", cli_display(dir, shown, sizeof shown), strerror(errno));
    /* The folder's image files, sorted so that messages do not depend on readdir's order. */
    char **names = NULL;
    size_t count = 0, room = 0;
    int status = 0;
    struct dirent *e;
    while (status == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !training_image_name(e->d_name)) continue;
        if (count == MASKS_MAX) { status = cli_fail("--masks: more than %d files", MASKS_MAX); break; }
        if (count == room) {
            room = room ? room * 2 : 64;
            char **grown = realloc(names, room * sizeof *names);
            if (!grown) { status = cli_fail("out of memory"); break; }
            names = grown;
        }
        if (!(names[count] = strdup(e->d_name))) { status = cli_fail("out of memory"); break; }
        count++;
    }
    closedir(d);
    if (status == 0 && count) qsort(names, count, sizeof *names, compare_strings);
    char *used = status == 0 ? calloc(count ? count : 1, 1) : NULL;
    if (status == 0 && !used) status = cli_fail("out of memory");
    for (int i = 0; i < n && status == 0; i++) {
        char stem[1024], other[1024];
        stem_of(images[i], stem, sizeof stem);
        size_t found = count;
        for (size_t k = 0; k < count && status == 0; k++) {
            stem_of(names[k], other, sizeof other);
            if (strcmp(stem, other) != 0) continue;
            if (found != count)
                status = cli_fail("--masks: two masks for training image '%s': '%s' and '%s' (keep one)",
                                  cli_display(images[i], shown, sizeof shown), names[found],
                                  cli_display(names[k], shown2, sizeof shown2));
            found = k;
        }
        if (status != 0) break;
        if (found == count) {
            status = cli_fail("--masks '%s' has no mask for training image '%s' (a mask is the image file of the same "
                              "name, e.g. '%s.png': white where the image is learned from, black where not)",
                              cli_display(dir, shown, sizeof shown), cli_display(images[i], shown2, sizeof shown2), stem);
            break;
        }
        used[found] = 1;
        const size_t len = strlen(dir) + strlen(names[found]) + 2;
        if (!(mask_paths[i] = malloc(len))) { status = cli_fail("out of memory"); break; }
        snprintf(mask_paths[i], len, "%s/%s", dir, names[found]);
    }
    for (size_t k = 0; status == 0 && k < count; k++)
        if (!used[k] && (*unused)++ == 0) *unused_example = strdup(names[k]);
    if (status != 0)
        for (int i = 0; i < n; i++) {
            free(mask_paths[i]);
            mask_paths[i] = NULL;
        }
    for (size_t k = 0; k < count; k++) free(names[k]);
    free(names);
    free(used);
    return status;
}
