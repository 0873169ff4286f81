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
        if (json && s == OW_ERR_NOT_FOUND) cli_fail("'%s' is not an embedding; --json applies to embeddings only", file);
        return 0;
    }
    *handled = 1;
    if (s != OW_OK) return cli_fail("%s", err.message);
    char *text = NULL;
    s = ow_embedding_describe(emb, file, json, &text, &err);
    ow_embedding_free(emb);
    if (s != OW_OK) return cli_fail("%s", err.message);
    if (json) cli_print_json(stdout, text); /* names, tokens: from the file */
    else cli_print_lines(stdout, text);
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
        char shown[2048];
        printf("wrote %s:", cli_display(out, shown, sizeof shown));
        for (size_t i = 0; i < ow_embedding_count(emb); i++) {
            const float *rows;
            int n = ow_embedding_vectors(emb, i, &rows, NULL);
            printf(" %s (%d vector%s)", cli_display(ow_embedding_token(emb, i), shown, sizeof shown), n,
                   n == 1 ? "" : "s");
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

/* The inputs of a merge as the command line gave them, and which of their tokens
 * a --rename has already renamed (renamed[i][k]: token k of input i). */
typedef struct merge_inputs {
    int n;
    const char **labels;
    ow_embedding **embeddings;
    unsigned char **renamed;
} merge_inputs;

/* Length of the FILE part of spec ("FILE:OLD=NEW") when FILE names input i, else 0.
 * FILE is #N (the Nth input, from 1), the path as given, or its file name. */
static size_t rename_file_length(const char *spec, const merge_inputs *in, int i) {
    if (spec[0] == '#') {
        char *end;
        long position = strtol(spec + 1, &end, 10);
        if (end != spec + 1 && *end == ':') return position == i + 1 ? (size_t)(end - spec) : 0;
    }
    const char *names[2] = {in->labels[i], base_name(in->labels[i])};
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(names[k]);
        if (len && strncmp(spec, names[k], len) == 0 && spec[len] == ':') return len;
    }
    return 0;
}

/* The token OLD stands for in input i, not renamed yet: the token of that name, or
 * for "*" the input's only token (A1111 files keep their one vector under '*'); -1 if none. */
static int rename_target(const merge_inputs *in, int i, const char *old) {
    const ow_embedding *emb = in->embeddings[i];
    size_t count = ow_embedding_count(emb);
    for (size_t k = 0; k < count; k++)
        if (!in->renamed[i][k] && strcmp(ow_embedding_token(emb, k), old) == 0) return (int)k;
    if (strcmp(old, "*") == 0 && count == 1 && !in->renamed[i][0]) return 0;
    return -1;
}

/* The tokens of input i, quoted, for a message. */
static void list_tokens(const ow_embedding *emb, char *out, size_t cap) {
    size_t used = 0, count = ow_embedding_count(emb);
    out[0] = 0;
    for (size_t k = 0; k < count && used + 8 < cap; k++)
        used += (size_t)snprintf(out + used, cap - used, "%s'%s'", k ? ", " : "", ow_embedding_token(emb, k));
    if (!count) snprintf(out, cap, "none");
}

/* Applies one --rename FILE:OLD=NEW to the first input FILE names whose OLD is not renamed
 * yet, so `merge a.pt a.pt --rename a.pt:*=b` renames the first a.pt and a second such
 * --rename the second one. Returns 0, or the exit status after reporting why not. */
static int apply_rename(merge_inputs *in, const char *spec) {
    int named = -1; /* the first input FILE names, for the message */
    for (int i = 0; i < in->n; i++) {
        size_t file_len = rename_file_length(spec, in, i);
        if (!file_len) continue;
        const char *pair = spec + file_len + 1, *eq = strchr(pair, '=');
        if (!eq || eq == pair || !eq[1])
            return cli_fail("--rename '%s': write FILE:OLD=NEW (OLD the token to rename, NEW its new name)", spec), 2;
        if (named < 0) named = i;
        char *old = strndup(pair, (size_t)(eq - pair));
        if (!old) return cli_fail("out of memory");
        int k = rename_target(in, i, old);
        free(old);
        if (k < 0) continue;
        char *token = strdup(ow_embedding_token(in->embeddings[i], (size_t)k)); /* freed by the rename */
        if (!token) return cli_fail("out of memory");
        ow_error err = {0};
        int rc = 0;
        if (ow_embedding_rename(in->embeddings[i], token, eq + 1, &err) != OW_OK)
            rc = cli_fail("--rename '%s' in #%d %s: %s", spec, i + 1, in->labels[i], err.message);
        else
            in->renamed[i][k] = 1;
        free(token);
        return rc;
    }
    if (named < 0) {
        char inputs[1024];
        size_t used = 0;
        for (int i = 0; i < in->n && used + 8 < sizeof inputs; i++)
            used += (size_t)snprintf(inputs + used, sizeof inputs - used, "%s#%d %s", i ? ", " : "", i + 1,
                                     in->labels[i]);
        return cli_fail("--rename '%s': no input file matches; FILE in FILE:OLD=NEW is an input as given, its file "
                        "name, or #N for the Nth (inputs: %s)", spec, inputs), 2;
    }
    const char *pair = spec + rename_file_length(spec, in, named) + 1;
    char have[1536];
    size_t used = 0;
    for (int i = named; i < in->n && used + 16 < sizeof have; i++) {
        if (!rename_file_length(spec, in, i)) continue;
        char tokens[1024];
        list_tokens(in->embeddings[i], tokens, sizeof tokens);
        used += (size_t)snprintf(have + used, sizeof have - used, "%s#%d %s has %s", used ? "; " : "", i + 1,
                                 in->labels[i], tokens);
    }
    int old_is_star = pair[0] == '*' && pair[1] == '=';
    return cli_fail("--rename '%s': no token '%.*s' is left to rename in the inputs it names (%s)%s", spec,
                    (int)(strchr(pair, '=') - pair), pair, have,
                    old_is_star ? "; '*' stands for an input's only token" : ""), 2;
}

/* Whether the inputs with tokens share one text encoder (else ow_embedding_merge says which differ). */
static int widths_agree(const merge_inputs *in) {
    const ow_embedding *first = NULL;
    for (int i = 0; i < in->n; i++) {
        const ow_embedding *emb = in->embeddings[i];
        if (!ow_embedding_count(emb)) continue;
        if (!first) first = emb;
        else if (ow_embedding_dim(emb) != ow_embedding_dim(first) ||
                 ow_embedding_is_sdxl(emb) != ow_embedding_is_sdxl(first))
            return 0;
    }
    return 1;
}

/* Reports placeholders used by more than one input, with how to resolve them; 0 if none. */
static int report_clashes(const merge_inputs *in) {
    char list[2048];
    size_t used = 0, clashes = 0;
    int example_input = -1;
    const char *example_token = NULL;
    list[0] = 0;
    for (int j = 1; j < in->n; j++)
        for (size_t k = 0; k < ow_embedding_count(in->embeddings[j]); k++) {
            const char *token = ow_embedding_token(in->embeddings[j], k);
            int earlier = -1;
            for (int i = 0; i < j && earlier < 0; i++)
                for (size_t m = 0; m < ow_embedding_count(in->embeddings[i]) && earlier < 0; m++)
                    if (strcmp(ow_embedding_token(in->embeddings[i], m), token) == 0) earlier = i;
            if (earlier < 0) continue;
            if (clashes++ == 0) { example_input = j; example_token = token; }
            if (used + 64 < sizeof list)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s' (in #%d %s and #%d %s)",
                                         clashes > 1 ? ", " : "", token, earlier + 1, in->labels[earlier], j + 1,
                                         in->labels[j]);
        }
    if (!clashes) return 0;
    /* The example names the input by its path unless that path is given more than once. */
    int label_repeats = 0;
    for (int i = 0; i < in->n; i++)
        if (i != example_input && strcmp(in->labels[i], in->labels[example_input]) == 0) label_repeats = 1;
    char file[64];
    snprintf(file, sizeof file, "#%d", example_input + 1);
    return cli_fail("cannot merge: %zu placeholder%s used by more than one input: %s; rename %s in all inputs but one "
                    "with --rename FILE:OLD=NEW, e.g. --rename '%s:%s=NEW' (FILE: the input as given, its file "
                    "name, or #N for the Nth input)",
                    clashes, clashes > 1 ? "s are" : " is", list, clashes > 1 ? "each" : "it",
                    label_repeats ? file : in->labels[example_input], example_token);
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
                    "  puts the tokens of every file in one, as the reference repo's merge_embeddings.py;\n"
                    "  a placeholder used by two files is an error unless --rename gives one of them a new name.\n"
                    "  --rename FILE:OLD=NEW renames token OLD of one input to NEW. FILE is the input as\n"
                    "  given, its file name, or #N for the Nth input (#1 is the first). When FILE names\n"
                    "  several inputs (the same file given twice), each --rename takes the first of them\n"
                    "  whose OLD is not renamed yet. OLD may be * for an input's only token (A1111 files\n"
                    "  keep their one vector under '*').\n"
                    "  example: oneword merge cat.pt cat.pt --rename 'cat.pt:*=cat-2' -o two-cats.pt\n");
            free(renames);
            return c == 'h' ? 0 : 2;
        }
    }
    int n = argc - optind;
    if (!out) { free(renames); return cli_fail("merge needs -o OUT"), 2; }
    if (n < 1) { free(renames); return cli_fail("merge needs at least one input file"), 2; }
    merge_inputs in = {.n = n};
    in.embeddings = calloc((size_t)n, sizeof *in.embeddings);
    in.labels = calloc((size_t)n, sizeof *in.labels);
    in.renamed = calloc((size_t)n, sizeof *in.renamed);
    int rc = 0;
    ow_error err = {0};
    if (!in.embeddings || !in.labels || !in.renamed) rc = cli_fail("out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        in.labels[i] = argv[optind + i];
        if (ow_embedding_load(&in.embeddings[i], in.labels[i], &err) != OW_OK) rc = cli_fail("%s", err.message);
        else if (!(in.renamed[i] = calloc(ow_embedding_count(in.embeddings[i]) + 1, 1))) rc = cli_fail("out of memory");
    }
    for (int r = 0; r < n_renames && rc == 0; r++) rc = apply_rename(&in, renames[r]);
    if (rc == 0 && widths_agree(&in)) rc = report_clashes(&in); /* with how to resolve them */
    ow_embedding *merged = NULL;
    if (rc == 0 &&
        ow_embedding_merge(&merged, (const ow_embedding *const *)in.embeddings, in.labels, (size_t)n, &err) != OW_OK)
        rc = cli_fail("cannot merge: %s", err.message);
    if (rc == 0 && ow_embedding_save(merged, out, layout, &err) != OW_OK)
        rc = cli_fail("cannot write '%s': %s", out, err.message);
    if (rc == 0) {
        char shown[2048];
        printf("wrote %s: %zu tokens\n", cli_display(out, shown, sizeof shown), ow_embedding_count(merged));
        char *text = NULL;
        if (ow_embedding_describe(merged, NULL, 0, &text, &err) == OW_OK) {
            const char *tokens = strstr(text, "\n  ");
            if (tokens) cli_print_lines(stdout, tokens + 1);
        }
        free(text);
    }
    ow_embedding_free(merged);
    for (int i = 0; in.embeddings && i < n; i++) ow_embedding_free(in.embeddings[i]);
    for (int i = 0; in.renamed && i < n; i++) free(in.renamed[i]);
    free(in.embeddings);
    free(in.labels);
    free(in.renamed);
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
        char shown[2048];
        fprintf(stderr, "oneword: %zu embedding token(s) from '%s'\n", ow_model_embedding_count(model) - before,
                cli_display(dirs[i], shown, sizeof shown));
    }
    for (int i = 0; i < n_files; i++)
        if (ow_model_add_embedding(model, files[i], &err) != OW_OK) return cli_fail("--embedding '%s': %s", files[i], err.message);
    return 0;
}
