/* test_library.c: the plug-in's profile storage without GIMP (plugin/profile.c,
 * plugin/library.c), so it runs on every machine and under
 * ASan/UBSan: config.json, import / clash / rename / merge / delete / export, the
 * index read back the same after a reopen, a corrupt and a hand-edited index rebuilt
 * and reported, no temporary files left behind, and the entries loaded into the
 * shapes model (a 768-wide one skipped and named). tests/gimp/run checks the same
 * through GIMP's PDB. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "check.h"
#include "library.h"
#include "oneword.h"
#include "profile.h"

static int exists(const char *dir, const char *name) {
    char path[PLUGIN_PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* Files in dir whose name contains part. */
static int count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

/* The atomic writes' temporaries in dir (".NAME.oneword-tmp-XXXXXX"), hidden ones too. */
static int count_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, "oneword-tmp-") != NULL;
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void remove_tree(const char *dir) {
    char command[PLUGIN_PATH_MAX + 32];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    char gimp_dir[] = "/tmp/oneword-test-library-XXXXXX";
    if (!mkdtemp(gimp_dir)) return 1;
    ow_error err = {0};
    plugin_profile profile;
    CHECK(plugin_profile_open(&profile, gimp_dir, &err) == OW_OK, "profile open: %s", err.message);
    CHECK(exists(profile.dir, "embeddings") && exists(profile.dir, "trash") && exists(profile.dir, "runs"),
          "embeddings/, trash/ and runs/ made under %s", profile.dir);
    printf("ok   profile folders under %s\n", profile.dir);

    /* config.json: no model, then one (absolute) with its settings, other keys kept, bad values and a
     * corrupt file refused */
    plugin_model_settings settings, got;
    CHECK(plugin_profile_model_settings(&profile, &got, &err) == OW_OK && got.model[0] == '\0' && got.threads == 0 &&
              got.precision == OW_PRECISION_FP32 && got.config[0] == '\0',
          "no config.json: no model, all cores, fp32 (got '%s')", got.model);
    write_text(profile.config, "{\"window\": {\"width\": 600}}");
    memset(&settings, 0, sizeof settings);
    snprintf(settings.model, sizeof settings.model, "%s", source_path("resources/shapes"));
    snprintf(settings.config, sizeof settings.config, "%s", source_path("README.md")); /* any file: made absolute */
    settings.threads = 2;
    settings.precision = OW_PRECISION_BF16;
    CHECK(plugin_profile_set_model_settings(&profile, &settings, &err) == OW_OK, "set model: %s", err.message);
    CHECK(plugin_profile_model_settings(&profile, &got, &err) == OW_OK && got.model[0] == '/' &&
              strstr(got.model, "resources/shapes") && strstr(got.config, "README.md") && got.config[0] == '/' &&
              got.threads == 2 && got.precision == OW_PRECISION_BF16,
          "settings read back: '%s' '%s' %d %d", got.model, got.config, got.threads, (int)got.precision);
    ow_model_options from_settings;
    plugin_model_options(&got, &from_settings);
    CHECK(from_settings.threads == 2 && from_settings.precision == OW_PRECISION_BF16 &&
              from_settings.config_path == got.config,
          "the engine options follow the settings");
    char *config_text = NULL;
    size_t config_len = 0;
    CHECK(ow_file_read_all(profile.config, "config.json", 1 << 20, &config_text, &config_len, &err) == OW_OK &&
              config_text && strstr(config_text, "\"width\":600"),
          "config.json keeps the other keys: %s", config_text ? config_text : "(none)");
    free(config_text);
    printf("ok   config.json: model '%s', threads 2, bf16, other keys kept\n", got.model);
    settings.config[0] = '\0';
    CHECK(plugin_profile_set_model_settings(&profile, &settings, &err) == OW_OK &&
              plugin_profile_model_settings(&profile, &got, &err) == OW_OK && got.config[0] == '\0',
          "an empty config removes the key");
    snprintf(settings.model, sizeof settings.model, "%s", "/nonexistent/model");
    CHECK(plugin_profile_set_model_settings(&profile, &settings, &err) == OW_ERR_NOT_FOUND,
          "a missing model is refused (status %d)", err.status);
    snprintf(settings.model, sizeof settings.model, "%s", source_path("resources/shapes"));
    snprintf(settings.config, sizeof settings.config, "%s", "/nonexistent/v1-inference.yaml");
    CHECK(plugin_profile_set_model_settings(&profile, &settings, &err) == OW_ERR_NOT_FOUND &&
              strstr(err.message, "v1-inference.yaml"),
          "a missing config is refused: %s", err.message);
    settings.config[0] = '\0';
    static const struct { const char *text, *needle; } bad[] = {
        {"{\"model\": 7}", "\"model\" must be a string"},
        {"{\"threads\": -1}", "\"threads\" must be an integer"},
        {"{\"threads\": \"two\"}", "\"threads\" must be an integer"},
        {"{\"precision\": \"fp16\"}", "\"precision\" must be"},
        {"{\"model\": ", "config.json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(profile.config, bad[i].text);
        CHECK(plugin_profile_model_settings(&profile, &got, &err) == OW_ERR_FORMAT && strstr(err.message, bad[i].needle) &&
                  strstr(err.message, "config.json") && got.model[0] == '\0',
              "config.json %s is an error naming it: '%s'", bad[i].text, err.message);
    }
    printf("ok   bad config.json: '%s'\n", err.message);
    CHECK(plugin_profile_set_model_settings(&profile, &settings, &err) == OW_ERR_FORMAT,
          "set-model does not overwrite a corrupt config.json (status %d)", err.status);
    write_text(profile.config, "{}");
    CHECK(plugin_profile_set_model_settings(&profile, &settings, &err) == OW_OK, "set model: %s", err.message);

    /* an empty library; import; a clash */
    library lib;
    CHECK(library_open(&lib, &profile, &err) == OW_OK && lib.count == 0, "empty library: %s", err.message);
    CHECK(exists(profile.dir, "index.json"), "index.json written for an empty library");
    size_t at = 99;
    CHECK(library_import(&lib, source_path("tests/gimp/fixtures/orange-circle.pt"), NULL, NULL, &at, &err) == OW_OK,
          "import orange-circle.pt: %s", err.message);
    CHECK(at == 0 && strcmp(lib.entries[0].name, "orange-circle") == 0 && lib.entries[0].n_tokens == 1 &&
              strcmp(lib.entries[0].tokens[0], "<orange-circle>") == 0 && lib.entries[0].dim == 64 &&
              lib.entries[0].steps == 30 && lib.entries[0].vectors[0] == 1,
          "entry: name '%s', token '%s', dim %d, steps %lld", lib.entries[0].name, lib.entries[0].tokens[0],
          lib.entries[0].dim, (long long)lib.entries[0].steps);
    CHECK(exists(profile.embeddings, "orange-circle.safetensors"), "embeddings/orange-circle.safetensors exists");
    printf("ok   import: entry '%s', token %s, %d x %d, %lld steps\n", lib.entries[0].name, lib.entries[0].tokens[0],
           lib.entries[0].vectors[0], lib.entries[0].dim, (long long)lib.entries[0].steps);
    CHECK(library_import(&lib, source_path("tests/gimp/fixtures/orange-circle.pt"), NULL, NULL, NULL, &err) ==
                  OW_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "already holds the token '<orange-circle>'") && lib.count == 1,
          "a second import clashes: '%s'", err.message);
    printf("ok   clash: '%s'\n", err.message);
    CHECK(library_import(&lib, source_path("tests/gimp/fixtures/purple-bg.safetensors"), "", NULL, NULL, &err) == OW_OK,
          "import purple-bg: %s", err.message);
    CHECK(library_import(&lib, source_path("tests/golden/embeddings/a1111_f32.pt"), "cat 768!", NULL, &at, &err) ==
              OW_OK,
          "import a1111_f32.pt: %s", err.message);
    CHECK(strcmp(lib.entries[at].name, "cat-768") == 0 && strcmp(lib.entries[at].model, "v1-5-pruned-emaonly") == 0 &&
              lib.entries[at].vectors[0] == 4 && lib.entries[at].dim == 768 &&
              strncmp(lib.entries[at].family, "SD 1.x", 6) == 0,
          "a1111_f32.pt: name '%s' (from 'cat 768!'), model '%s', %d x %d, family '%s'", lib.entries[at].name,
          lib.entries[at].model, lib.entries[at].vectors[0], lib.entries[at].dim, lib.entries[at].family);
    CHECK(library_import(&lib, source_path("tests/golden/embeddings/not_embedding.safetensors"), NULL, NULL, NULL,
                         &err) != OW_OK && lib.count == 3,
          "a file without an embedding is refused: '%s'", err.message);
    printf("ok   3 entries; a non-embedding refused: '%s'\n", err.message);

    /* rename: token, file and thumbnail */
    char thumb[PLUGIN_PATH_MAX + 64];
    library_thumbnail_path(&lib, "orange-circle", thumb, sizeof thumb);
    write_text(thumb, "thumbnail of orange-circle");
    CHECK(library_rename(&lib, "<orange-circle>", "<oc>", &err) == OW_OK, "rename: %s", err.message);
    CHECK(exists(profile.thumbnails, "oc.png") && !exists(profile.thumbnails, "orange-circle.png"),
          "the thumbnail follows the rename to thumbnails/oc.png");
    CHECK(library_find(&lib, "<oc>") && !library_find(&lib, "<orange-circle>") &&
              exists(profile.embeddings, "oc.safetensors") && !exists(profile.embeddings, "orange-circle.safetensors"),
          "renamed to <oc>: embeddings/oc.safetensors, the old file gone");
    ow_embedding *emb = NULL;
    char path[PLUGIN_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/oc.safetensors", profile.embeddings);
    CHECK(ow_embedding_load(&emb, path, &err) == OW_OK && ow_embedding_count(emb) == 1 &&
              strcmp(ow_embedding_token(emb, 0), "<oc>") == 0,
          "oc.safetensors holds <oc>: %s", err.message);
    ow_embedding_free(emb);
    CHECK(library_rename(&lib, "<oc>", "my-cat", &err) == OW_ERR_INVALID_ARGUMENT, "renaming onto my-cat clashes");
    CHECK(library_rename(&lib, "<oc>", "two words", &err) == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "white space"),
          "a token with a space is refused: '%s'", err.message);
    CHECK(library_rename(&lib, "<none>", "<x>", &err) == OW_ERR_NOT_FOUND && strstr(err.message, "<oc>, <purple-bg>, my-cat"),
          "an unknown token: '%s'", err.message);
    printf("ok   rename <orange-circle> -> <oc>; refusals: '%s'\n", err.message);

    /* reopen: the same library, nothing to report */
    char *before = library_to_json(&lib);
    library_close(&lib);
    CHECK(library_open(&lib, &profile, &err) == OW_OK && lib.report[0] == '\0', "reopen: %s / report '%s'",
          err.message, lib.report);
    char *after = library_to_json(&lib);
    CHECK(before && after && strcmp(before, after) == 0, "the reopened library is the same:\n%s\n%s", before, after);
    printf("ok   reopened: the same %zu entries, nothing repaired\n", lib.count);
    free(before);
    free(after);

    /* the model takes the 64-wide ones and names the 768-wide one */
    ow_model *m = NULL;
    ow_model_options options;
    ow_model_options_init(&options);
    options.threads = 1;
    CHECK(ow_model_open(&m, source_path("resources/shapes"), &options, &err) == OW_OK, "open shapes: %s", err.message);
    char skipped[2048];
    if (m) {
        CHECK(library_add_to_model(&lib, m, skipped, sizeof skipped, &err) == OW_OK, "add to model: %s", err.message);
        CHECK(ow_model_embedding_count(m) == 2 && strstr(skipped, "my-cat (") && strstr(skipped, "768-wide"),
              "2 tokens loaded, my-cat skipped: %zu, '%s'", ow_model_embedding_count(m), skipped);
        printf("ok   into the shapes model: %zu tokens; skipped: %.80s...\n", ow_model_embedding_count(m), skipped);
        ow_model_close(m);
    }

    /* export: the same vectors */
    snprintf(path, sizeof path, "%s/exported.json", gimp_dir);
    CHECK(library_export(&lib, "<purple-bg>", path, OW_EMBEDDING_LAYOUT_AUTO, &err) == OW_OK, "export: %s",
          err.message);
    ow_embedding *original = NULL, *exported = NULL;
    CHECK(ow_embedding_load(&original, source_path("tests/gimp/fixtures/purple-bg.safetensors"), &err) == OW_OK &&
              ow_embedding_load(&exported, path, &err) == OW_OK,
          "load both: %s", err.message);
    if (original && exported) {
        const float *a, *b;
        int na = ow_embedding_vectors(original, 0, &a, NULL), nb = ow_embedding_vectors(exported, 0, &b, NULL);
        CHECK(na == nb && strcmp(ow_embedding_token(exported, 0), "<purple-bg>") == 0, "exported token and rows");
        if (na == nb) check_close("exported vectors vs purple-bg.safetensors", b, a, (size_t)na * 64, 0.0);
    }
    ow_embedding_free(original);
    ow_embedding_free(exported);
    /* every format the Embedding Library window offers writes a file that reads back */
    for (size_t f = 0; f < library_export_format_count; f++) {
        const library_export_format *format = &library_export_formats[f];
        snprintf(path, sizeof path, "%s/format-%zu%s", gimp_dir, f, format->extension);
        ow_embedding *back = NULL;
        ow_status s = library_export(&lib, "<purple-bg>", path, format->layout, &err);
        if (s == OW_OK) s = ow_embedding_load(&back, path, &err);
        CHECK(s == OW_OK && ow_embedding_count(back) == 1 && strcmp(ow_embedding_token(back, 0), "<purple-bg>") == 0,
              "export as %s: %s", format->label, err.message);
        printf("%s export as %s: read back as %s\n", s == OW_OK ? "ok  " : "FAIL", format->label,
               back ? ow_embedding_format(back) : "nothing");
        ow_embedding_free(back);
    }
    ow_embedding_layout layout;
    CHECK(library_layout_from_name("diffusers", &layout) && layout == OW_EMBEDDING_LAYOUT_DIFFUSERS &&
              !library_layout_from_name("kohya", &layout),
          "layout names: diffusers known, kohya not");

    /* merge: one entry, inputs in the trash; a merge within one entry refused */
    const char *pair[] = {"<oc>", "<purple-bg>"};
    CHECK(library_merge(&lib, pair, 1, "pair", NULL, NULL, NULL, &err) == OW_ERR_INVALID_ARGUMENT,
          "one entry cannot be merged");
    library_trashed moved[LIBRARY_ENTRY_TOKENS];
    size_t n_moved = 0;
    CHECK(library_merge(&lib, pair, 2, "pair", &at, moved, &n_moved, &err) == OW_OK && n_moved == 2, "merge: %s",
          err.message);
    CHECK(lib.count == 2 && strcmp(lib.entries[at].name, "pair") == 0 && lib.entries[at].n_tokens == 2 &&
              exists(profile.embeddings, "pair.safetensors") && count_files(profile.trash, ".safetensors") == 2 &&
              !exists(profile.embeddings, "oc.safetensors"),
          "merged entry '%s' with %d tokens, %d files in trash", lib.entries[at].name, lib.entries[at].n_tokens,
          count_files(profile.trash, ".safetensors"));
    const char *mixed[] = {"<oc>", "my-cat"};
    CHECK(library_merge(&lib, mixed, 2, "mixed", NULL, NULL, NULL, &err) != OW_OK && lib.count == 2 &&
              exists(profile.embeddings, "pair.safetensors"),
          "64- and 768-wide entries are not merged, and nothing moves: '%s'", err.message);
    printf("ok   merge: entry 'pair' <oc> <purple-bg>; widths refused: '%s'\n", err.message);
    CHECK(exists(profile.thumbnails, "pair.png") && !exists(profile.thumbnails, "oc.png") &&
              count_files(profile.trash, ".png") == 1,
          "the merge takes the first input's thumbnail; the input's went to the trash with it");
    /* undo the merge as the window does: the merge to the trash, its inputs back */
    CHECK(library_delete(&lib, "<oc>", NULL, 0, &err) == OW_OK, "delete the merge: %s", err.message);
    for (size_t j = n_moved; j-- > 0;)
        CHECK(library_undelete(&lib, &moved[j].entry, moved[j].trash, NULL, &err) == OW_OK, "undelete %s: %s",
              moved[j].entry.name, err.message);
    const library_entry *oc = library_find(&lib, "<oc>"), *bg = library_find(&lib, "<purple-bg>");
    CHECK(lib.count == 3 && oc && bg && oc != bg && oc->n_tokens == 1 && bg->n_tokens == 1 &&
              exists(profile.embeddings, "oc.safetensors") && !exists(profile.embeddings, "pair.safetensors"),
          "merge undone: <oc> and <purple-bg> in their own entries again (%zu entries)", lib.count);
    CHECK(exists(profile.thumbnails, "oc.png") && !exists(profile.thumbnails, "pair.png"),
          "merge undone: thumbnails/oc.png back, the merge's in the trash");
    printf("ok   merge undone: %s and %s back\n", oc ? oc->file : "?", bg ? bg->file : "?");
    /* and merged again, for what follows */
    CHECK(library_merge(&lib, pair, 2, "pair", &at, NULL, NULL, &err) == OW_OK && lib.count == 2,
          "merge again: %s", err.message);

    /* delete: to the trash */
    char trash[PLUGIN_PATH_MAX + 400];
    const library_entry was = *library_find(&lib, "<purple-bg>");
    CHECK(library_delete(&lib, "<purple-bg>", trash, sizeof trash, &err) == OW_OK, "delete: %s", err.message);
    struct stat st;
    CHECK(stat(trash, &st) == 0 && lib.count == 1 && !exists(profile.embeddings, "pair.safetensors"),
          "deleted to %s", trash);
    CHECK(!exists(profile.thumbnails, "pair.png"), "delete takes the thumbnail to the trash");
    printf("ok   delete: %s\n", trash);
    /* undo: back under its name with its metadata; a second undo finds its tokens taken */
    CHECK(library_undelete(&lib, &was, trash, &at, &err) == OW_OK, "undelete: %s", err.message);
    CHECK(lib.count == 2 && strcmp(lib.entries[at].name, "pair") == 0 && lib.entries[at].n_tokens == 2 &&
              strcmp(lib.entries[at].created, was.created) == 0 && strcmp(lib.entries[at].source, was.source) == 0 &&
              exists(profile.embeddings, "pair.safetensors") && stat(trash, &st) != 0,
          "undeleted: entry '%s', created %s, source '%s'", lib.entries[at].name, lib.entries[at].created,
          lib.entries[at].source);
    char *thumb_text = NULL;
    size_t thumb_len = 0;
    library_thumbnail_path(&lib, "pair", thumb, sizeof thumb);
    CHECK(ow_file_read_all(thumb, "thumbnail", 1 << 20, &thumb_text, &thumb_len, &err) == OW_OK &&
              strcmp(thumb_text, "thumbnail of orange-circle") == 0,
          "undelete brings the thumbnail back: %s", thumb_text ? thumb_text : err.message);
    free(thumb_text);
    library_close(&lib);
    CHECK(library_open(&lib, &profile, &err) == OW_OK && lib.report[0] == '\0' && library_find(&lib, "<oc>"),
          "the restored entry reopens without repairs: '%s'", lib.report);
    CHECK(library_undelete(&lib, &was, trash, NULL, &err) == OW_ERR_INVALID_ARGUMENT && strstr(err.message, "now holds"),
          "restoring onto tokens in use is refused: '%s'", err.message);
    printf("ok   undelete: 'pair' back from the trash (source '%s'); twice: '%s'\n", was.source, err.message);
    CHECK(library_delete(&lib, "<purple-bg>", trash, sizeof trash, &err) == OW_OK, "delete again: %s", err.message);

    /* a corrupt index: kept aside, rebuilt from the files, reported */
    library_close(&lib);
    write_text(profile.index, "{\"format\": \"oneword-library\", \"embeddings\": [");
    CHECK(library_open(&lib, &profile, &err) == OW_OK, "open with a corrupt index: %s", err.message);
    CHECK(lib.count == 1 && library_find(&lib, "my-cat") && strstr(lib.report, "index.json was corrupt") &&
              count_files(profile.dir, "index.json.corrupt-") == 1,
          "rebuilt: %zu entries, report '%s'", lib.count, lib.report);
    printf("ok   corrupt index: '%s'\n", lib.report);
    library_close(&lib);
    /* a hand-edited one: a vanished file, a missing entry, wrong tokens */
    write_text(profile.index, "{\"format\":\"oneword-library\",\"embeddings\":[{\"name\":\"x\",\"file\":\"gone.pt\"},"
                              "{\"name\":\"cat-768\",\"file\":\"cat-768.safetensors\",\"tokens\":[{\"token\":\"dog\"}],"
                              "\"notes\":\"kept\"}]}");
    CHECK(library_open(&lib, &profile, &err) == OW_OK, "open with a hand-edited index: %s", err.message);
    CHECK(lib.count == 1 && strstr(lib.report, "gone.pt, which is gone") && strstr(lib.report, "listed the tokens 'dog'") &&
              strcmp(lib.entries[0].notes, "kept") == 0,
          "hand-edited index: %zu entries, notes '%s', report '%s'", lib.count, lib.entries[0].notes, lib.report);
    printf("ok   hand-edited index: '%s'\n", lib.report);
    library_close(&lib);
    CHECK(library_open(&lib, &profile, &err) == OW_OK && lib.report[0] == '\0', "once repaired, nothing to report: '%s'",
          lib.report);
    library_close(&lib);

    CHECK(count_temporaries(profile.dir) == 0 && count_temporaries(profile.embeddings) == 0,
          "no temporary files left behind");
    printf("ok   no temporary files left in %s\n", profile.dir);
    remove_tree(gimp_dir);
    CHECK_DONE();
}
