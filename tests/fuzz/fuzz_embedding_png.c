/* fuzz_embedding_png.c: libFuzzer harness for A1111 PNG embeddings read from
 * memory: the PNG chunk walk (lengths, CRCs, tEXt/zTXt/iTXt, bounded inflate),
 * base64, the JSON parse and the string_to_param conversion. Any input must give
 * OW_OK with sane tokens or an error with a message; never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "embeddings/embedding_png.h"
#include "embeddings/embedding_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ow_error err = {0};
    ow_embedding *emb = NULL;
    if (ow_embedding_create(&emb, &err) != OW_OK) return 0;
    ow_status s = ow_emb_read_png(emb, data, size, "fuzz", &err);
    if (s == OW_OK) {
        float sum = 0;
        for (size_t i = 0; i < emb->count; i++) {
            const ow_emb_token *t = &emb->tokens[i];
            if (t->n < 1 || t->n > OW_EMB_MAX_VECTORS || emb->dim < 1 || emb->dim > OW_EMB_MAX_DIM) abort();
            for (size_t k = 0; k < (size_t)t->n * (size_t)emb->dim; k++) sum += t->rows[k];
        }
        (void)sum;
    } else if (!err.message[0]) {
        abort(); /* every failure explains itself */
    }
    ow_embedding_free(emb);
    /* The chunk reader and base64 alone. */
    char *text = NULL;
    size_t text_len = 0;
    if (ow_png_find_text(data, size, "parameters", &text, &text_len, &err) == OW_OK) {
        unsigned char *raw = NULL;
        size_t raw_len = 0;
        if (ow_base64_decode(text, text_len, &raw, &raw_len, &err) == OW_OK && raw_len > text_len) abort();
        free(raw);
    }
    free(text);
    return 0;
}
