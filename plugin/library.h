/* library.h: the Embedding Library in the user's profile: one embedding file per entry
 * in embeddings/<name>.safetensors (A1111 layout for one token, diffusers for several:
 * what other tools read) and index.json (json-c) with the metadata. The files are the
 * truth: opening the library checks index.json against them, and a corrupt or
 * hand-edited index is reported (library->report) and rebuilt from the files, the
 * unreadable one kept as index.json.corrupt-TIME. Deleted entries move to trash/.
 * Every write is atomic. Entries are found by any of their tokens (what users type in
 * prompts); a token is in at most one entry. No GIMP calls here. */
#ifndef OW_PLUGIN_LIBRARY_H
#define OW_PLUGIN_LIBRARY_H

#include <stddef.h>
#include <stdint.h>

#include "oneword.h"
#include "profile.h"

#define LIBRARY_TOKEN_MAX 128     /* bytes of a token, with its NUL */
#define LIBRARY_ENTRY_TOKENS 64   /* tokens in one entry (a merge) */
#define LIBRARY_TEXT_MAX 1024

typedef struct library_entry {
    char name[LIBRARY_TOKEN_MAX];                          /* file stem: embeddings/<name>.safetensors */
    char file[LIBRARY_TOKEN_MAX + 16];                     /* file name inside embeddings/ */
    int n_tokens;
    char tokens[LIBRARY_ENTRY_TOKENS][LIBRARY_TOKEN_MAX];  /* as typed in prompts */
    int vectors[LIBRARY_ENTRY_TOKENS];                     /* vectors per token */
    int dim;                                               /* vector width (768 for SD 1.x) */
    char family[64];                                       /* the text encoder the width points to (engine's words) */
    char model[LIBRARY_TEXT_MAX];                          /* the model it was made for, "" if unknown */
    int64_t steps;                                         /* training steps, -1 if unknown */
    char created[32];                                      /* ISO 8601, UTC */
    char source[LIBRARY_TEXT_MAX];                         /* where it came from (imported file, learn run) */
    char notes[LIBRARY_TEXT_MAX];
} library_entry;

typedef struct library {
    plugin_profile profile;
    library_entry *entries;
    size_t count, cap;
    char report[2048]; /* what opening repaired ("" if nothing): shown to the user */
} library;

/* Opens the library of profile (a copy is kept): reads index.json, checks it against
 * the files, rebuilds and rewrites it when needed (saying so in report). */
ow_status library_open(library *lib, const plugin_profile *profile, ow_error *err);
void library_close(library *lib);

/* The entry holding token, or NULL. */
const library_entry *library_find(const library *lib, const char *token);

/* Imports an embedding file (any format the engine reads) as a new entry; its tokens
 * must not be in the library yet. name: the entry's name ("" or NULL: from its first
 * token). *entry_index (may be NULL) gets the new entry's index. */
ow_status library_import(library *lib, const char *path, const char *name, const char *source, size_t *entry_index,
                         ow_error *err);

/* Writes the entry holding token to path (format from the extension, as
 * ow_embedding_save: .pt, .bin, .safetensors, .json). */
ow_status library_export(const library *lib, const char *token, const char *path, ow_embedding_layout layout,
                         ow_error *err);

/* The layouts export offers by name: "auto" (from the extension), "a1111", "diffusers";
 * 0 for another name. */
int library_layout_from_name(const char *name, ow_embedding_layout *layout);

/* What export writes, as the Embedding Library window offers it: a file extension
 * and a layout (library_export_formats[0..library_export_format_count-1]). */
typedef struct library_export_format {
    const char *label;     /* "A1111 .pt (string_to_param)", ... */
    const char *extension; /* ".pt" */
    ow_embedding_layout layout;
} library_export_format;
extern const library_export_format library_export_formats[];
extern const size_t library_export_format_count;

/* Renames a token inside its entry's file; a one-token entry takes the new name too. */
ow_status library_rename(library *lib, const char *token, const char *new_token, ow_error *err);

/* Moves the entry holding token to trash/; trash_path (cap bytes, may be NULL) gets
 * where it went. */
ow_status library_delete(library *lib, const char *token, char *trash_path, size_t cap, ow_error *err);

/* Undoes library_delete: entry (a copy taken before the delete) comes back from
 * trash_path with its metadata, under its old name unless another file took it. Its
 * tokens must still be free. *entry_index (may be NULL) gets its index. */
ow_status library_undelete(library *lib, const library_entry *entry, const char *trash_path, size_t *entry_index,
                           ow_error *err);

/* An entry moved to trash/, as library_undelete takes it back. */
typedef struct library_trashed {
    library_entry entry; /* a copy from before the move */
    char trash[PLUGIN_PATH_MAX + 400];
} library_trashed;

/* One new entry named name holding every token of the entries that hold tokens[0..n-1]
 * (as the reference's merge_embeddings.py); those entries move to trash/, so a token
 * stays in one entry. Widths must match. *entry_index (may be NULL) gets the new entry;
 * moved (may be NULL; room for LIBRARY_ENTRY_TOKENS) gets the inputs as they went to
 * the trash and *n_moved their count, so that deleting the merge and undeleting them
 * undoes it. */
ow_status library_merge(library *lib, const char *const *tokens, size_t n, const char *name, size_t *entry_index,
                        library_trashed *moved, size_t *n_moved, ow_error *err);

/* Loads every entry into the model (ow_model_add_embedding_data). Entries that do not
 * fit it (another text encoder width) are skipped and named in skipped (cap bytes,
 * "token (why); ..."); the call fails only when the engine cannot take a fitting one. */
ow_status library_add_to_model(const library *lib, ow_model *model, char *skipped, size_t cap, ow_error *err);

/* thumbnails/<entry name>.png: the picture the Library window shows for an entry (Learn
 * writes it from the first training layer; imported entries have none). It follows its
 * entry through rename, delete (to the trash, beside the file), undelete and merge (the
 * first input's). */
void library_thumbnail_path(const library *lib, const char *entry_name, char *out, size_t cap);

/* A file stem from a token or a name (letters, digits, '.', '_', '-'; "embedding" when
 * nothing is left): the name an entry or a Learn run gets. */
void library_name_from(const char *text, char *out, size_t cap);

/* The library as JSON text (what index.json holds); the caller frees it with free(). */
char *library_to_json(const library *lib);

#endif
