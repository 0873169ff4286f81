/* embedding_commands.c: the `oneword` sub-commands for embedding files —
 * inspect (when the file is an embedding), convert, merge — and the loading of
 * --embedding / --embedding-dir for generate. Thin over the engine's
 * ow_embedding_* API; messages go to stderr, results to stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedding_commands.h"
#include "cli_messages.h"
#include "oneword.h"

static int parse_layout(const char *text, ow_embedding_layout *out) {
    if (strcmp(text, "a1111") == 0) *out = OW_EMBEDDING_LAYOUT_A1111;
    else if (strcmp(text, "diffusers") == 0) *out = OW_EMBEDDING_LAYOUT_DIFFUSERS;
    else if (strcmp(text, "auto") == 0) *out = OW_EMBEDDING_LAYOUT_AUTO;
    else return cli_fail("--layout must be a1111, diffusers or auto, got '%s'", text), -1;
    return 0;
}

/* ---- inspect ---- */

int embedding_inspect(int argc, char **argv, int *handled) {
    *handled = 0;
    const char *file = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (argv[i][0] == '-' || file) return 0; /* not ours: the model inspector reports it */
        else file = argv[i];
    }
    if (!file) return 0;
    ow_error err = {0};
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_load(&emb, file, &err);
    if (s == OW_ERR_NOT_FOUND || s == OW_ERR_IO) {
        /* Not an embedding (a checkpoint or a folder): the model inspector takes it. */
        if (json && s == OW_ERR_NOT_FOUND)
            fprintf(stderr, "oneword: '%s' is not an embedding; --json applies to embeddings only\n", file);
        return 0;
    }
    *handled = 1;
    if (s != OW_OK) return cli_fail("%s", err.message);
    char *text = NULL;
    s = ow_embedding_describe(emb, file, json, &text, &err);
    ow_embedding_free(emb);
    if (s != OW_OK) return cli_fail("%s", err.message);
    fputs(text, stdout);
    free(text);
    return 0;
}

/* ---- convert ---- */

int embedding_convert_main(int argc, char **argv) {
    static const struct option options[] = {
        {"layout", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ow_embedding_layout layout = OW_EMBEDDING_LAYOUT_AUTO;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'l') { if (parse_layout(optarg, &layout)) return 2; }
        else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: oneword convert IN OUT [--layout a1111|diffusers]\n"
                    "  the format comes from OUT's extension: .pt (A1111 / reference layout), .bin (diffusers),\n"
                    "  .safetensors (A1111 emb_params, or diffusers with --layout diffusers), .json\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (argc - optind != 2) return cli_fail("convert needs IN and OUT (oneword convert IN OUT [--layout a1111|diffusers])"), 2;
    const char *in = argv[optind], *out = argv[optind + 1];
    ow_error err = {0};
    ow_embedding *emb = NULL;
    if (ow_embedding_load(&emb, in, &err) != OW_OK) return cli_fail("%s", err.message);
    ow_status s = ow_embedding_save(emb, out, layout, &err);
    if (s == OW_OK) {
        printf("wrote %s:", out);
        for (size_t i = 0; i < ow_embedding_count(emb); i++) {
            const float *rows;
            printf(" %s (%d vector%s)", ow_embedding_token(emb, i), ow_embedding_vectors(emb, i, &rows, NULL),
                   ow_embedding_vectors(emb, i, &rows, NULL) == 1 ? "" : "s");
        }
        printf("\n");
    }
    ow_embedding_free(emb);
    return s == OW_OK ? 0 : cli_fail("cannot write '%s': %s", out, err.message);
}

/* ---- merge ---- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int embedding_merge_main(int argc, char **argv) {
    static const struct option options[] = {{"output", required_argument, 0, 'o'},
                                            {"rename", required_argument, 0, 'r'},
                                            {"layout", required_argument, 0, 'l'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    const char *out = NULL;
    ow_embedding_layout layout = OW_EMBEDDING_LAYOUT_AUTO;
    const char **renames = calloc((size_t)argc, sizeof *renames);
    int n_renames = 0;
    if (!renames) return cli_fail("out of memory");
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'r') renames[n_renames++] = optarg;
        else if (c == 'l') { if (parse_layout(optarg, &layout)) { free(renames); return 2; } }
        else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: oneword merge A B ... -o OUT [--rename FILE:OLD=NEW]... [--layout a1111|diffusers]\n"
                    "  puts the tokens of every file in one; a placeholder used by two files is an error\n"
                    "  unless --rename gives one of them a new name\n");
            free(renames);
            return c == 'h' ? 0 : 2;
        }
    }
    int n = argc - optind;
    if (!out) { free(renames); return cli_fail("merge needs -o OUT"), 2; }
    if (n < 1) { free(renames); return cli_fail("merge needs at least one input file"), 2; }
    ow_embedding **inputs = calloc((size_t)n, sizeof *inputs);
    const char **labels = calloc((size_t)n, sizeof *labels);
    int rc = 0;
    ow_error err = {0};
    if (!inputs || !labels) rc = cli_fail("out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        labels[i] = argv[optind + i];
        if (ow_embedding_load(&inputs[i], labels[i], &err) != OW_OK) rc = cli_fail("%s", err.message);
    }
    /* --rename FILE:OLD=NEW: FILE is an input as given or its file name. */
    for (int r = 0; r < n_renames && rc == 0; r++) {
        const char *spec = renames[r];
        int matched = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            const char *names[2] = {labels[i], base_name(labels[i])};
            for (int k = 0; k < 2 && !matched; k++) {
                size_t len = strlen(names[k]);
                if (strncmp(spec, names[k], len) != 0 || spec[len] != ':') continue;
                const char *pair = spec + len + 1, *eq = strchr(pair, '=');
                if (!eq || eq == pair || !eq[1]) {
                    rc = cli_fail("--rename '%s': write FILE:OLD=NEW", spec);
                    break;
                }
                char *old = strndup(pair, (size_t)(eq - pair));
                if (!old) { rc = cli_fail("out of memory"); break; }
                if (ow_embedding_rename(inputs[i], old, eq + 1, &err) != OW_OK)
                    rc = cli_fail("--rename '%s' in '%s': %s", spec, labels[i], err.message);
                free(old);
                matched = 1;
            }
            if (matched) break;
        }
        if (!matched && rc == 0)
            rc = cli_fail("--rename '%s': no input file matches (write FILE:OLD=NEW with FILE as given on the command line)", spec);
    }
    ow_embedding *merged = NULL;
    if (rc == 0 && ow_embedding_merge(&merged, (const ow_embedding *const *)inputs, labels, (size_t)n, &err) != OW_OK)
        rc = cli_fail("cannot merge: %s", err.message);
    if (rc == 0 && ow_embedding_save(merged, out, layout, &err) != OW_OK)
        rc = cli_fail("cannot write '%s': %s", out, err.message);
    if (rc == 0) {
        printf("wrote %s: %zu tokens\n", out, ow_embedding_count(merged));
        char *text = NULL;
        if (ow_embedding_describe(merged, NULL, 0, &text, &err) == OW_OK) {
            const char *tokens = strstr(text, "\n  ");
            if (tokens) fputs(tokens + 1, stdout);
        }
        free(text);
    }
    ow_embedding_free(merged);
    for (int i = 0; inputs && i < n; i++) ow_embedding_free(inputs[i]);
    free(inputs);
    free(labels);
    free(renames);
    return rc;
}

/* ---- generate: --embedding / --embedding-dir ---- */

int embedding_load_into_model(ow_model *model, const char *const *files, int n_files, const char *const *dirs, int n_dirs) {
    ow_error err = {0};
    for (int i = 0; i < n_dirs; i++) {
        size_t before = ow_model_embedding_count(model);
        if (ow_model_add_embedding_dir(model, dirs[i], &err) != OW_OK)
            return cli_fail("--embedding-dir '%s': %s", dirs[i], err.message);
        fprintf(stderr, "oneword: %zu embedding token(s) from '%s'\n", ow_model_embedding_count(model) - before, dirs[i]);
    }
    for (int i = 0; i < n_files; i++)
        if (ow_model_add_embedding(model, files[i], &err) != OW_OK) return cli_fail("--embedding '%s': %s", files[i], err.message);
    return 0;
}
