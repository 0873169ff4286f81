/* fuzz_embedding_file.c: libFuzzer harness for ow_embedding_load on whole files:
 * layout detection over the torch object tree / safetensors entries (and PNG by
 * its magic), token and vector extraction, then every writer on what was read.
 * Any input must load with sane tokens or fail with a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "oneword.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64], out[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/ow-fuzz-emb-%d.pt", (int)getpid());
        snprintf(out, sizeof out, "/tmp/ow-fuzz-emb-%d-out.json", (int)getpid());
    }
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
            if (n < 1 || !rows || !ow_embedding_token(emb, i)) abort();
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
