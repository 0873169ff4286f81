/* library.c: the Embedding Library on disk (see library.h): index.json read and
 * checked against embeddings/, rebuilt from the files when it is corrupt or disagrees,
 * and import / export / rename / delete (to trash/) / merge through the engine's
 * embedding API. Order of writes: the embedding file first, then index.json, then
 * the old file goes; a crash between leaves at worst an extra file that the next
 * open adds back, never a lost embedding. */
#include "library.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file.h"

#define INDEX_MAX_BYTES (64 << 20)
#define LIBRARY_FORMAT "oneword-library"

/* ---- small helpers ---- */

/* Copies text (NULL: "") into out, cut to cap - 1 bytes. */
static void copy_text(char *out, size_t cap, const char *text) {
    size_t n = text ? strlen(text) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(out, text, n);
    out[n] = '\0';
}

static void now_iso(char *out, size_t cap, time_t t) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void report(library *lib, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(library *lib, const char *fmt, ...) {
    size_t used = strlen(lib->report);
    if (used + 4 >= sizeof lib->report) return;
    if (used) used += (size_t)snprintf(lib->report + used, sizeof lib->report - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lib->report + used, sizeof lib->report - used, fmt, ap);
    va_end(ap);
}

static int is_embedding_file_name(const char *name) {
    if (name[0] == '.' || strstr(name, ".tmp-")) return 0;
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return strcmp(dot, ".safetensors") == 0 || strcmp(dot, ".pt") == 0 || strcmp(dot, ".bin") == 0 ||
           strcmp(dot, ".json") == 0 || strcmp(dot, ".png") == 0;
}

/* A token as users may type it: 1..127 bytes, no white space or control characters. */
static ow_status check_token(const char *token, ow_error *err) {
    size_t n = strlen(token);
    if (n == 0) return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the token is empty");
    if (n >= LIBRARY_TOKEN_MAX)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the token is %zu bytes long; at most %d are accepted", n,
                            LIBRARY_TOKEN_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] <= ' ' || token[i] == 0x7f)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "the token '%s' holds white space or a control character; prompts could not use it",
                                token);
    return OW_OK;
}

/* A file stem from a token or a user's name: letters, digits, '.', '_', '-'. */
static void sanitize_name(const char *text, char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < cap && n < 100; p++) {
        unsigned char c = (unsigned char)*p;
        char keep = (isalnum(c) || c == '_' || c == '-' || c == '.') ? (char)c : '-';
        if (keep == '-' && (n == 0 || out[n - 1] == '-')) continue;
        if (keep == '.' && n == 0) continue;
        out[n++] = keep;
    }
    while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '.')) n--;
    out[n] = '\0';
    if (n == 0) copy_text(out, cap, "embedding");
}

void library_name_from(const char *text, char *out, size_t cap) {
    sanitize_name(text, out, cap);
}

static int name_taken(const library *lib, const char *name, size_t skip) {
    for (size_t i = 0; i < lib->count; i++)
        if (i != skip && strcmp(lib->entries[i].name, name) == 0) return 1;
    char path[PLUGIN_PATH_MAX + 200];
    snprintf(path, sizeof path, "%s/%s.safetensors", lib->profile.embeddings, name);
    return access(path, F_OK) == 0;
}

/* base, or base-2, base-3, ... : a name no other entry or file has. */
static void unique_name(const library *lib, const char *base, char *out, size_t cap, size_t skip) {
    copy_text(out, cap, base);
    for (int k = 2; name_taken(lib, out, skip) && k < 100000; k++) snprintf(out, cap, "%.100s-%d", base, k);
}

static void entry_path(const library *lib, const library_entry *e, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", lib->profile.embeddings, e->file);
}

void library_thumbnail_path(const library *lib, const char *entry_name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s.png", lib->profile.thumbnails, entry_name);
}

/* The thumbnail kept beside a file in the trash: its path with the extension .png. */
static void trash_thumbnail_path(const char *trash_path, char *out, size_t cap) {
    snprintf(out, cap, "%s", trash_path);
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
    size_t used = strlen(out);
    if (used + 5 <= cap) memcpy(out + used, ".png", 5);
}

/* A thumbnail is decoration: moving one that is not there, or cannot move, is no error. */
static void move_thumbnail(const char *from, const char *to) {
    if (strcmp(from, to) != 0 && access(from, F_OK) == 0) rename(from, to);
}

static ow_status grow(library *lib, ow_error *err) {
    if (lib->count < lib->cap) return OW_OK;
    size_t cap = lib->cap ? lib->cap * 2 : 16;
    library_entry *grown = realloc(lib->entries, cap * sizeof *grown);
    if (!grown) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory for the library");
    lib->entries = grown;
    lib->cap = cap;
    return OW_OK;
}

/* Fills the token-derived fields of e from an embedding. */
static ow_status entry_from_embedding(library_entry *e, const ow_embedding *emb, ow_error *err) {
    size_t n = ow_embedding_count(emb);
    if (n == 0) return ow_error_set(err, OW_ERR_FORMAT, "it holds no token");
    if (n > LIBRARY_ENTRY_TOKENS)
        return ow_error_set(err, OW_ERR_UNSUPPORTED, "it holds %zu tokens; a library entry takes at most %d", n,
                            LIBRARY_ENTRY_TOKENS);
    for (size_t i = 0; i < n; i++) {
        ow_status s = check_token(ow_embedding_token(emb, i), err);
        if (s != OW_OK) return s;
        copy_text(e->tokens[i], sizeof e->tokens[i], ow_embedding_token(emb, i));
        e->vectors[i] = ow_embedding_vectors(emb, i, NULL, NULL);
    }
    e->n_tokens = (int)n;
    e->dim = ow_embedding_dim(emb);
    copy_text(e->family, sizeof e->family, ow_embedding_model_family(emb));
    e->steps = ow_embedding_step(emb);
    const char *model = ow_embedding_checkpoint_name(emb) ? ow_embedding_checkpoint_name(emb)
                                                          : ow_embedding_checkpoint(emb);
    if (model && !e->model[0]) copy_text(e->model, sizeof e->model, model);
    return OW_OK;
}

/* The first token of a that b also holds, or NULL. */
static const char *token_clash(const library_entry *a, const library_entry *b) {
    for (int i = 0; i < a->n_tokens; i++)
        for (int j = 0; j < b->n_tokens; j++)
            if (strcmp(a->tokens[i], b->tokens[j]) == 0) return a->tokens[i];
    return NULL;
}

static ptrdiff_t find_index(const library *lib, const char *token) {
    for (size_t i = 0; i < lib->count; i++)
        for (int t = 0; t < lib->entries[i].n_tokens; t++)
            if (strcmp(lib->entries[i].tokens[t], token) == 0) return (ptrdiff_t)i;
    return -1;
}

const library_entry *library_find(const library *lib, const char *token) {
    ptrdiff_t i = find_index(lib, token);
    return i < 0 ? NULL : &lib->entries[i];
}

static ow_status not_in_library(const library *lib, const char *token, ow_error *err) {
    char known[600] = "";
    size_t used = 0;
    for (size_t i = 0; i < lib->count && used + 140 < sizeof known; i++)
        for (int t = 0; t < lib->entries[i].n_tokens && used + 140 < sizeof known; t++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
                                     lib->entries[i].tokens[t]);
    return ow_error_set(err, OW_ERR_NOT_FOUND, "no library entry holds the token '%s' (the library holds: %s)", token,
                        used ? known : "nothing yet");
}

/* ---- index.json ---- */

static json_object *entry_to_json(const library_entry *e) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(e->name));
    json_object_object_add(o, "file", json_object_new_string(e->file));
    json_object *tokens = json_object_new_array();
    for (int i = 0; i < e->n_tokens; i++) {
        json_object *t = json_object_new_object();
        json_object_object_add(t, "token", json_object_new_string(e->tokens[i]));
        json_object_object_add(t, "vectors", json_object_new_int(e->vectors[i]));
        json_object_array_add(tokens, t);
    }
    json_object_object_add(o, "tokens", tokens);
    json_object_object_add(o, "dim", json_object_new_int(e->dim));
    json_object_object_add(o, "model", json_object_new_string(e->model));
    json_object_object_add(o, "steps", json_object_new_int64(e->steps));
    json_object_object_add(o, "created", json_object_new_string(e->created));
    json_object_object_add(o, "source", json_object_new_string(e->source));
    json_object_object_add(o, "notes", json_object_new_string(e->notes));
    return o;
}

char *library_to_json(const library *lib) {
    json_object *root = json_object_new_object();
    json_object_object_add(root, "format", json_object_new_string(LIBRARY_FORMAT));
    json_object_object_add(root, "version", json_object_new_int(1));
    json_object *list = json_object_new_array();
    for (size_t i = 0; i < lib->count; i++) json_object_array_add(list, entry_to_json(&lib->entries[i]));
    json_object_object_add(root, "embeddings", list);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = text ? strdup(text) : NULL;
    json_object_put(root);
    return copy;
}

static ow_status save_index(const library *lib, ow_error *err) {
    char *text = library_to_json(lib);
    if (!text) return ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory writing %s", lib->profile.index);
    ow_status s = ow_atomic_write(lib->profile.index, text, strlen(text), err);
    free(text);
    return s;
}

static const char *get_string(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

/* What index.json says about the entries (only metadata the files cannot tell is
 * used: name, created, source, notes, model). Returns the parsed array or NULL with
 * why filled in. */
static json_object *parse_index(const char *text, char *why, size_t cap) {
    json_tokener *tok = json_tokener_new();
    if (!tok) { copy_text(why, cap, "out of memory"); return NULL; }
    json_object *root = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        snprintf(why, cap, "not JSON: %s", json_tokener_error_desc(jerr));
        return NULL;
    }
    json_object *list;
    const char *format = json_object_is_type(root, json_type_object) ? get_string(root, "format") : NULL;
    if (!format || strcmp(format, LIBRARY_FORMAT) != 0 || !json_object_object_get_ex(root, "embeddings", &list) ||
        !json_object_is_type(list, json_type_array)) {
        json_object_put(root);
        copy_text(why, cap, "not a oneword library (no \"format\": \"" LIBRARY_FORMAT "\" with an \"embeddings\" list)");
        return NULL;
    }
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        const char *file = json_object_is_type(e, json_type_object) ? get_string(e, "file") : NULL;
        if (!file || strchr(file, '/') || file[0] == '.' || !get_string(e, "name")) {
            json_object_put(root);
            snprintf(why, cap, "entry %zu has no valid \"name\" and \"file\"", i + 1);
            return NULL;
        }
    }
    json_object_get(list);
    json_object_put(root);
    return list;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The embedding file names in embeddings/, sorted. */
static ow_status scan_files(const library *lib, char ***names_out, size_t *n_out, ow_error *err) {
    *names_out = NULL;
    *n_out = 0;
    DIR *dir = opendir(lib->profile.embeddings);
    if (!dir) return ow_error_set(err, OW_ERR_IO, "cannot read %s: %s", lib->profile.embeddings, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *d;
    while ((d = readdir(dir))) {
        if (!is_embedding_file_name(d->d_name) || strlen(d->d_name) >= LIBRARY_TOKEN_MAX + 16) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *grown);
            if (!grown) break;
            names = grown;
        }
        if (!(names[n] = strdup(d->d_name))) break;
        n++;
    }
    closedir(dir);
    if (n > 1) qsort(names, n, sizeof *names, compare_names);
    *names_out = names;
    *n_out = n;
    return OW_OK;
}

/* Builds an entry from the file embeddings/<file>, with index metadata when known. */
static ow_status entry_from_file(library *lib, const char *file, json_object *meta, library_entry *e, ow_error *err) {
    memset(e, 0, sizeof *e);
    copy_text(e->file, sizeof e->file, file);
    char path[PLUGIN_PATH_MAX + 200];
    entry_path(lib, e, path, sizeof path);
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_load(&emb, path, err);
    if (s != OW_OK) return s;
    if (meta) {
        copy_text(e->model, sizeof e->model, get_string(meta, "model"));
        copy_text(e->created, sizeof e->created, get_string(meta, "created"));
        copy_text(e->source, sizeof e->source, get_string(meta, "source"));
        copy_text(e->notes, sizeof e->notes, get_string(meta, "notes"));
    }
    s = entry_from_embedding(e, emb, err);
    ow_embedding_free(emb);
    if (s != OW_OK) return s;
    /* The name is the file stem (a hand-edited name in the index does not move files). */
    copy_text(e->name, sizeof e->name, file);
    char *dot = strrchr(e->name, '.');
    if (dot) *dot = '\0';
    if (!e->created[0]) {
        struct stat st;
        now_iso(e->created, sizeof e->created, stat(path, &st) == 0 ? st.st_mtime : time(NULL));
    }
    return OW_OK;
}

/* The tokens an index entry lists, as one string, to compare with the file's. */
static void listed_tokens(json_object *meta, char *out, size_t cap) {
    out[0] = '\0';
    json_object *tokens;
    if (!json_object_object_get_ex(meta, "tokens", &tokens) || !json_object_is_type(tokens, json_type_array)) return;
    size_t used = 0;
    for (size_t i = 0; i < json_object_array_length(tokens) && used < cap; i++) {
        const char *t = get_string(json_object_array_get_idx(tokens, i), "token");
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", t ? t : "?");
    }
}

static void entry_tokens(const library_entry *e, char *out, size_t cap) {
    out[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < e->n_tokens && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", e->tokens[i]);
}

/* Adds the entry for file unless it cannot be read or clashes; says why in the report. */
static ow_status add_scanned(library *lib, const char *file, json_object *meta, ow_error *err) {
    ow_status s = grow(lib, err);
    if (s != OW_OK) return s;
    library_entry *e = &lib->entries[lib->count];
    ow_error file_err = {0};
    if (entry_from_file(lib, file, meta, e, &file_err) != OW_OK) {
        report(lib, "embeddings/%s cannot be read (%s); it is left in place, outside the library", file,
               file_err.message);
        return OW_OK;
    }
    for (size_t i = 0; i < lib->count; i++) {
        const char *clash = token_clash(e, &lib->entries[i]);
        if (clash) {
            report(lib, "embeddings/%s holds the token '%s' that embeddings/%s holds too; it is left outside the "
                        "library until one is renamed", file, clash, lib->entries[i].file);
            return OW_OK;
        }
    }
    if (meta) {
        char listed[1024], actual[1024];
        listed_tokens(meta, listed, sizeof listed);
        entry_tokens(e, actual, sizeof actual);
        if (strcmp(listed, actual) != 0)
            report(lib, "index.json listed the tokens '%s' for embeddings/%s, the file holds '%s'", listed, file, actual);
    } else {
        report(lib, "embeddings/%s was not in index.json: added", file);
    }
    lib->count++;
    return OW_OK;
}

ow_status library_open(library *lib, const plugin_profile *profile, ow_error *err) {
    memset(lib, 0, sizeof *lib);
    lib->profile = *profile;
    char *text = NULL;
    size_t text_len = 0;
    const int had_index = access(profile->index, F_OK) == 0 || errno != ENOENT;
    ow_status s = had_index ? ow_file_read_all(profile->index, "index.json", INDEX_MAX_BYTES, &text, &text_len, err) : OW_OK;
    if (s != OW_OK) return s;
    json_object *listed = NULL;
    if (had_index) {
        char why[512];
        listed = parse_index(text, why, sizeof why);
        if (!listed) {
            char kept[PLUGIN_PATH_MAX + 64], stamp[32];
            now_iso(stamp, sizeof stamp, time(NULL));
            snprintf(kept, sizeof kept, "%s.corrupt-%s", profile->index, stamp);
            if (rename(profile->index, kept) != 0) {
                free(text);
                return ow_error_set(err, OW_ERR_IO, "%s is corrupt (%s) and cannot be moved aside: %s", profile->index,
                                    why, strerror(errno));
            }
            report(lib, "index.json was corrupt (%s): kept as %s and rebuilt from the files in embeddings/", why, kept);
        }
    }
    free(text);

    char **files = NULL;
    size_t n_files = 0;
    s = scan_files(lib, &files, &n_files, err);
    if (s != OW_OK) { json_object_put(listed); return s; }
    char *claimed = calloc(n_files ? n_files : 1, 1);
    if (!claimed) s = ow_error_set(err, OW_ERR_OUT_OF_MEMORY, "out of memory");
    /* First the entries in the index's order, then files it does not list. */
    size_t n_listed = listed ? json_object_array_length(listed) : 0;
    for (size_t i = 0; s == OW_OK && i < n_listed; i++) {
        json_object *meta = json_object_array_get_idx(listed, i);
        const char *file = get_string(meta, "file");
        size_t f = 0;
        while (f < n_files && (claimed[f] || strcmp(files[f], file) != 0)) f++;
        if (f == n_files) {
            report(lib, "index.json listed embeddings/%s, which is gone: entry dropped", file);
            continue;
        }
        claimed[f] = 1;
        s = add_scanned(lib, file, meta, err);
    }
    if (!had_index && n_files > 0) report(lib, "index.json was missing: rebuilt from the files in embeddings/");
    for (size_t f = 0; s == OW_OK && f < n_files; f++)
        if (!claimed[f]) s = add_scanned(lib, files[f], NULL, err);
    for (size_t f = 0; f < n_files; f++) free(files[f]);
    free(files);
    free(claimed);
    json_object_put(listed);
    if (s == OW_OK && (lib->report[0] || !had_index)) s = save_index(lib, err);
    if (s != OW_OK) library_close(lib);
    return s;
}

void library_close(library *lib) {
    free(lib->entries);
    lib->entries = NULL;
    lib->count = lib->cap = 0;
}

/* ---- operations ---- */

static ow_status load_entry(const library *lib, const library_entry *e, ow_embedding **out, ow_error *err) {
    char path[PLUGIN_PATH_MAX + 200];
    entry_path(lib, e, path, sizeof path);
    return ow_embedding_load(out, path, err);
}

ow_status library_import(library *lib, const char *path, const char *name, const char *source, size_t *entry_index,
                         ow_error *err) {
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_load(&emb, path, err);
    if (s != OW_OK) return s;
    library_entry e;
    memset(&e, 0, sizeof e);
    if ((s = entry_from_embedding(&e, emb, err)) != OW_OK) {
        ow_embedding_free(emb);
        return ow_error_set(err, s, "cannot import %s: %s", path, err->message);
    }
    for (size_t i = 0; i < lib->count; i++) {
        const char *clash = token_clash(&e, &lib->entries[i]);
        if (clash) {
            ow_embedding_free(emb);
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "cannot import %s: the library already holds the token '%s' (entry '%s'); rename or "
                                "delete that one first", path, clash, lib->entries[i].name);
        }
    }
    char base[LIBRARY_TOKEN_MAX];
    sanitize_name(name && *name ? name : e.tokens[0], base, sizeof base);
    unique_name(lib, base, e.name, sizeof e.name, (size_t)-1);
    snprintf(e.file, sizeof e.file, "%s.safetensors", e.name);
    now_iso(e.created, sizeof e.created, time(NULL));
    char absolute[PATH_MAX];
    copy_text(e.source, sizeof e.source, source ? source : realpath(path, absolute) ? absolute : path);
    char target[PLUGIN_PATH_MAX + 200];
    entry_path(lib, &e, target, sizeof target);
    s = ow_embedding_save(emb, target, OW_EMBEDDING_LAYOUT_AUTO, err);
    ow_embedding_free(emb);
    if (s != OW_OK) return s;
    if ((s = grow(lib, err)) != OW_OK) { unlink(target); return s; }
    lib->entries[lib->count++] = e;
    if ((s = save_index(lib, err)) != OW_OK) {
        lib->count--;
        unlink(target);
        return s;
    }
    if (entry_index) *entry_index = lib->count - 1;
    return OW_OK;
}

ow_status library_export(const library *lib, const char *token, const char *path, ow_embedding_layout layout,
                         ow_error *err) {
    const library_entry *e = library_find(lib, token);
    if (!e) return not_in_library(lib, token, err);
    ow_embedding *emb = NULL;
    ow_status s = load_entry(lib, e, &emb, err);
    if (s != OW_OK) return s;
    s = ow_embedding_save(emb, path, layout, err);
    ow_embedding_free(emb);
    return s;
}

int library_layout_from_name(const char *name, ow_embedding_layout *layout) {
    if (strcmp(name, "auto") == 0) *layout = OW_EMBEDDING_LAYOUT_AUTO;
    else if (strcmp(name, "a1111") == 0) *layout = OW_EMBEDDING_LAYOUT_A1111;
    else if (strcmp(name, "diffusers") == 0) *layout = OW_EMBEDDING_LAYOUT_DIFFUSERS;
    else return 0;
    return 1;
}

const library_export_format library_export_formats[] = {
    {"A1111 .pt (string_to_param: A1111, the reference scripts)", ".pt", OW_EMBEDDING_LAYOUT_A1111},
    {"A1111 .safetensors (emb_params)", ".safetensors", OW_EMBEDDING_LAYOUT_A1111},
    {"diffusers .safetensors ({token: vectors})", ".safetensors", OW_EMBEDDING_LAYOUT_DIFFUSERS},
    {"diffusers learned_embeds .bin", ".bin", OW_EMBEDDING_LAYOUT_DIFFUSERS},
    {"oneword .json (the numbers as text)", ".json", OW_EMBEDDING_LAYOUT_AUTO},
};
const size_t library_export_format_count = sizeof library_export_formats / sizeof library_export_formats[0];

ow_status library_rename(library *lib, const char *token, const char *new_token, ow_error *err) {
    ptrdiff_t i = find_index(lib, token);
    if (i < 0) return not_in_library(lib, token, err);
    ow_status s = check_token(new_token, err);
    if (s != OW_OK) return s;
    if (strcmp(token, new_token) == 0) return OW_OK;
    const library_entry *holder = library_find(lib, new_token);
    if (holder)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "the library already holds the token '%s' (entry '%s')",
                            new_token, holder->name);
    library_entry *e = &lib->entries[i];
    ow_embedding *emb = NULL;
    if ((s = load_entry(lib, e, &emb, err)) != OW_OK) return s;
    if ((s = ow_embedding_rename(emb, token, new_token, err)) != OW_OK) { ow_embedding_free(emb); return s; }
    library_entry renamed = *e;
    for (int t = 0; t < renamed.n_tokens; t++)
        if (strcmp(renamed.tokens[t], token) == 0) copy_text(renamed.tokens[t], sizeof renamed.tokens[t], new_token);
    if (renamed.n_tokens == 1) { /* the entry is named after its token */
        char base[LIBRARY_TOKEN_MAX];
        sanitize_name(new_token, base, sizeof base);
        if (strcmp(base, e->name) != 0) unique_name(lib, base, renamed.name, sizeof renamed.name, (size_t)i);
        snprintf(renamed.file, sizeof renamed.file, "%s.safetensors", renamed.name);
    }
    char old_path[PLUGIN_PATH_MAX + 200], new_path[PLUGIN_PATH_MAX + 200];
    entry_path(lib, e, old_path, sizeof old_path);
    entry_path(lib, &renamed, new_path, sizeof new_path);
    s = ow_embedding_save(emb, new_path, OW_EMBEDDING_LAYOUT_AUTO, err);
    ow_embedding_free(emb);
    if (s != OW_OK) return s;
    library_entry before = *e;
    *e = renamed;
    if ((s = save_index(lib, err)) != OW_OK) {
        *e = before;
        if (strcmp(old_path, new_path) != 0) unlink(new_path);
        return s;
    }
    if (strcmp(old_path, new_path) != 0) unlink(old_path);
    if (strcmp(before.name, renamed.name) != 0) {
        char from[PLUGIN_PATH_MAX + 200], to[PLUGIN_PATH_MAX + 200];
        library_thumbnail_path(lib, before.name, from, sizeof from);
        library_thumbnail_path(lib, renamed.name, to, sizeof to);
        move_thumbnail(from, to);
    }
    return OW_OK;
}

/* Moves the file of entry i to trash/<name>-<time>[-k].<ext>. */
static ow_status move_to_trash(const library *lib, size_t i, char *trash_path, size_t cap, ow_error *err) {
    const library_entry *e = &lib->entries[i];
    char from[PLUGIN_PATH_MAX + 200], to[PLUGIN_PATH_MAX + 400], stamp[32];
    entry_path(lib, e, from, sizeof from);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const char *ext = strrchr(e->file, '.');
    snprintf(to, sizeof to, "%s/%s-%s%s", lib->profile.trash, e->name, stamp, ext ? ext : "");
    for (int k = 2; access(to, F_OK) == 0 && k < 10000; k++)
        snprintf(to, sizeof to, "%s/%s-%s-%d%s", lib->profile.trash, e->name, stamp, k, ext ? ext : "");
    if (rename(from, to) != 0)
        return ow_error_set(err, OW_ERR_IO, "cannot move %s to the trash: %s", from, strerror(errno));
    if (trash_path) copy_text(trash_path, cap, to);
    char thumb[PLUGIN_PATH_MAX + 200], trashed_thumb[PLUGIN_PATH_MAX + 400];
    library_thumbnail_path(lib, e->name, thumb, sizeof thumb);
    trash_thumbnail_path(to, trashed_thumb, sizeof trashed_thumb);
    move_thumbnail(thumb, trashed_thumb);
    return OW_OK;
}

static void remove_entry(library *lib, size_t i) {
    memmove(&lib->entries[i], &lib->entries[i + 1], (lib->count - i - 1) * sizeof *lib->entries);
    lib->count--;
}

ow_status library_delete(library *lib, const char *token, char *trash_path, size_t cap, ow_error *err) {
    ptrdiff_t i = find_index(lib, token);
    if (i < 0) return not_in_library(lib, token, err);
    ow_status s = move_to_trash(lib, (size_t)i, trash_path, cap, err);
    if (s != OW_OK) return s;
    remove_entry(lib, (size_t)i);
    return save_index(lib, err);
}

ow_status library_undelete(library *lib, const library_entry *entry, const char *trash_path, size_t *entry_index,
                           ow_error *err) {
    for (size_t i = 0; i < lib->count; i++) {
        const char *clash = token_clash(entry, &lib->entries[i]);
        if (clash)
            return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                                "cannot restore '%s': the library now holds its token '%s' (entry '%s')", entry->name,
                                clash, lib->entries[i].name);
    }
    library_entry e = *entry;
    unique_name(lib, entry->name, e.name, sizeof e.name, (size_t)-1);
    const char *ext = strrchr(entry->file, '.');
    snprintf(e.file, sizeof e.file, "%s%s", e.name, ext ? ext : "");
    char target[PLUGIN_PATH_MAX + 200];
    entry_path(lib, &e, target, sizeof target);
    if (access(target, F_OK) == 0)
        return ow_error_set(err, OW_ERR_IO, "cannot restore '%s': %s exists", entry->name, target);
    if (rename(trash_path, target) != 0)
        return ow_error_set(err, OW_ERR_IO, "cannot move %s back to %s: %s", trash_path, target, strerror(errno));
    ow_status s = grow(lib, err);
    if (s == OW_OK) {
        lib->entries[lib->count++] = e;
        if ((s = save_index(lib, err)) != OW_OK) lib->count--;
    }
    if (s != OW_OK) {
        rename(target, trash_path);
        return s;
    }
    if (entry_index) *entry_index = lib->count - 1;
    char thumb[PLUGIN_PATH_MAX + 200], trashed_thumb[PLUGIN_PATH_MAX + 400];
    trash_thumbnail_path(trash_path, trashed_thumb, sizeof trashed_thumb);
    library_thumbnail_path(lib, e.name, thumb, sizeof thumb);
    move_thumbnail(trashed_thumb, thumb);
    return OW_OK;
}

/* Copies the first input's thumbnail (now in the trash) as the merged entry's. */
static void copy_thumbnail(const char *trash_path, const library *lib, const char *name) {
    char from[PLUGIN_PATH_MAX + 400], to[PLUGIN_PATH_MAX + 200];
    trash_thumbnail_path(trash_path, from, sizeof from);
    library_thumbnail_path(lib, name, to, sizeof to);
    char *data = NULL;
    size_t size = 0;
    ow_error ignored = {0};
    if (access(from, F_OK) == 0 && ow_file_read_all(from, "thumbnail", 1 << 24, &data, &size, &ignored) == OW_OK)
        ow_atomic_write(to, data, size, &ignored);
    free(data);
}

ow_status library_merge(library *lib, const char *const *tokens, size_t n, const char *name, size_t *entry_index,
                        library_trashed *moved, size_t *n_moved, ow_error *err) {
    if (n_moved) *n_moved = 0;
    size_t picked[LIBRARY_ENTRY_TOKENS];
    size_t n_picked = 0;
    for (size_t k = 0; k < n; k++) {
        ptrdiff_t i = find_index(lib, tokens[k]);
        if (i < 0) return not_in_library(lib, tokens[k], err);
        size_t j = 0;
        while (j < n_picked && picked[j] != (size_t)i) j++;
        if (j == n_picked) {
            if (n_picked == LIBRARY_ENTRY_TOKENS)
                return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "at most %d entries can be merged at once",
                                    LIBRARY_ENTRY_TOKENS);
            picked[n_picked++] = (size_t)i;
        }
    }
    if (n_picked < 2)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT,
                            "merge needs tokens of at least two library entries (they are all in '%s')",
                            n_picked ? lib->entries[picked[0]].name : "none");
    ow_embedding *inputs[LIBRARY_ENTRY_TOKENS] = {0};
    const char *labels[LIBRARY_ENTRY_TOKENS];
    ow_status s = OW_OK;
    for (size_t j = 0; j < n_picked && s == OW_OK; j++) {
        s = load_entry(lib, &lib->entries[picked[j]], &inputs[j], err);
        labels[j] = lib->entries[picked[j]].name;
    }
    ow_embedding *merged = NULL;
    if (s == OW_OK) s = ow_embedding_merge(&merged, (const ow_embedding *const *)inputs, labels, n_picked, err);
    library_entry e;
    memset(&e, 0, sizeof e);
    if (s == OW_OK) s = ow_embedding_set_info(merged, name && *name ? name : NULL, -1, err);
    if (s == OW_OK) s = entry_from_embedding(&e, merged, err);
    for (size_t j = 0; j < n_picked; j++) ow_embedding_free(inputs[j]);
    if (s != OW_OK) { ow_embedding_free(merged); return s; }

    /* The inputs go to the trash first, so the merged entry may take one's name. */
    char trashed[LIBRARY_ENTRY_TOKENS][PLUGIN_PATH_MAX + 400];
    size_t n_trashed = 0;
    for (size_t j = 0; j < n_picked && s == OW_OK; j++)
        if ((s = move_to_trash(lib, picked[j], trashed[j], sizeof trashed[j], err)) == OW_OK) n_trashed++;
    char target[PLUGIN_PATH_MAX + 200] = "";
    if (s == OW_OK) {
        char base[LIBRARY_TOKEN_MAX];
        sanitize_name(name && *name ? name : "merged", base, sizeof base);
        unique_name(lib, base, e.name, sizeof e.name, (size_t)-1);
        snprintf(e.file, sizeof e.file, "%s.safetensors", e.name);
        now_iso(e.created, sizeof e.created, time(NULL));
        size_t used = (size_t)snprintf(e.source, sizeof e.source, "merge of");
        for (size_t j = 0; j < n_picked && used < sizeof e.source; j++)
            used += (size_t)snprintf(e.source + used, sizeof e.source - used, " %s", lib->entries[picked[j]].name);
        entry_path(lib, &e, target, sizeof target);
        s = ow_embedding_save(merged, target, OW_EMBEDDING_LAYOUT_AUTO, err);
    }
    ow_embedding_free(merged);
    if (s != OW_OK) { /* put the inputs back */
        for (size_t j = 0; j < n_trashed; j++) {
            char back[PLUGIN_PATH_MAX + 200];
            entry_path(lib, &lib->entries[picked[j]], back, sizeof back);
            rename(trashed[j], back);
        }
        return s;
    }
    for (size_t j = 0; moved && j < n_picked; j++) {
        moved[j].entry = lib->entries[picked[j]];
        _Static_assert(sizeof moved[j].trash == sizeof trashed[j], "trash paths of one size");
        memcpy(moved[j].trash, trashed[j], sizeof moved[j].trash);
    }
    if (n_moved) *n_moved = n_picked;
    copy_thumbnail(trashed[0], lib, e.name);
    /* Remove the inputs from the list (highest index first), then add the merge. */
    for (size_t a = 0; a < n_picked; a++)
        for (size_t b = a + 1; b < n_picked; b++)
            if (picked[b] > picked[a]) { size_t t = picked[a]; picked[a] = picked[b]; picked[b] = t; }
    for (size_t j = 0; j < n_picked; j++) remove_entry(lib, picked[j]);
    if ((s = grow(lib, err)) != OW_OK) return s;
    lib->entries[lib->count++] = e;
    if (entry_index) *entry_index = lib->count - 1;
    return save_index(lib, err);
}

ow_status library_add_to_model(const library *lib, ow_model *model, char *skipped, size_t cap, ow_error *err) {
    if (skipped && cap) skipped[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < lib->count; i++) {
        ow_embedding *emb = NULL;
        ow_status s = load_entry(lib, &lib->entries[i], &emb, err);
        if (s != OW_OK) return s;
        char path[PLUGIN_PATH_MAX + 200];
        entry_path(lib, &lib->entries[i], path, sizeof path);
        ow_error add_err = {0};
        s = ow_model_add_embedding_data(model, emb, path, &add_err);
        ow_embedding_free(emb);
        if (s == OW_ERR_INVALID_ARGUMENT || s == OW_ERR_UNSUPPORTED) {
            for (int t = 0; t < lib->entries[i].n_tokens && skipped && used < cap; t++)
                used += (size_t)snprintf(skipped + used, cap - used, "%s%s (%s)", used ? "; " : "",
                                         lib->entries[i].tokens[t], add_err.message);
        } else if (s != OW_OK) {
            *err = add_err;
            return s;
        }
    }
    return OW_OK;
}
