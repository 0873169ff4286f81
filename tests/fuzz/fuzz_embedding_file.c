/* fuzz_embedding_file.c: libFuzzer harness for ow_embedding_load on whole files:
 * layout detection over the torch object tree / safetensors entries, PNG by its
 * magic, our .json (an input that starts with '{' or '[' is written as .json, so
 * the JSON reader is reached from the .json seeds), token and vector extraction,
 * then every writer on what was read. Any input must load with sane tokens (valid
 * UTF-8, no control characters) or fail with a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/text.h"
#include "oneword.h"

/* .json for JSON text, .pt otherwise (tensor files and PNGs are told apart by content). */
static const char *extension_for(const uint8_t *data, size_t size) {
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) i++;
    return i < size && (data[i] == '{' || data[i] == '[') ? "json" : "pt";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int pid;
    if (!pid) pid = (int)getpid();
    char path[64], out[64];
    snprintf(path, sizeof path, "/tmp/ow-fuzz-emb-%d.%s", pid, extension_for(data, size));
    snprintf(out, sizeof out, "/tmp/ow-fuzz-emb-%d-out.json", pid);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ow_error err = {0};
    ow_embedding *emb = NULL;
    if (ow_embedding_load(&emb, path, &err) == OW_OK) {
        for (size_t i = 0; i < ow_embedding_count(emb); i++) {
            const float *rows, *rows_g;
            int n = ow_embedding_vectors(emb, i, &rows, &rows_g);
            const char *token = ow_embedding_token(emb, i);
            if (n < 1 || !rows || !token) abort();
            if (!ow_utf8_valid(token, strlen(token)) || ow_text_needs_escape(token, strlen(token))) abort();
        }
        char *text = NULL;
        if (ow_embedding_describe(emb, path, 1, &text, &err) == OW_OK) free(text);
        (void)ow_embedding_save(emb, out, OW_EMBEDDING_LAYOUT_AUTO, &err); /* may refuse non-finite values */
        unlink(out);
        ow_embedding_free(emb);
    } else if (!err.message[0]) {
        abort();
    }
    unlink(path);
    return 0;
}
