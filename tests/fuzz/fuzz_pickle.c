/* fuzz_pickle.c: libFuzzer harness for the restricted pickle machine alone
 * (ow_pickle_run on raw bytes, then a bounded walk of the tree it built). */
#include <stdint.h>
#include <stdlib.h>

#include "formats/pickle.h"

static size_t visit(const ow_pickle_value *v, int depth) {
    if (!v || depth > 8) return 1;
    size_t n = 1, len = 0;
    (void)ow_pickle_string(v, &len);
    (void)ow_pickle_float(v);
    if (ow_pickle_kind_of(v) == OW_PICKLE_DICT) {
        for (size_t i = 0; i < ow_pickle_len(v) && i < 16; i++)
            n += visit(ow_pickle_dict_key(v, i), depth + 1) + visit(ow_pickle_dict_value(v, i), depth + 1);
    } else {
        for (size_t i = 0; i < ow_pickle_len(v) && i < 16; i++) n += visit(ow_pickle_item(v, i), depth + 1);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ow_pickle *p = ow_pickle_new();
    const ow_pickle_value *root = NULL;
    size_t used = 0;
    ow_error err = {0};
    if (ow_pickle_run(p, data, size, &root, &used, &err) == OW_OK) {
        if (used > size) abort();
        visit(root, 0);
    } else if (!err.message[0]) {
        abort();
    }
    ow_pickle_free(p);
    return 0;
}
