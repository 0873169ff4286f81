/* fuzz_tensor_set.c: libFuzzer harness for ow_tensor_set_open (format detection,
 * safetensors header, torch zip through libzip, legacy stream): any input must
 * give OW_OK or an error status with a message, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/pickle.h"
#include "formats/tensor_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/ow-fuzz-%d.bin", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ow_error err = {0};
    ow_tensor_set *set = NULL;
    if (ow_tensor_set_open(&set, path, &err) == OW_OK) {
        /* Touch every byte of every entry so ASan sees bad pointers. */
        unsigned sum = 0;
        for (size_t i = 0; i < ow_tensor_set_count(set); i++) {
            const ow_tensor_entry *e = ow_tensor_set_entry(set, i);
            for (size_t k = 0; k < e->nbytes; k++) sum += e->data[k];
            if (ow_tensor_set_find(set, e->name) == NULL) abort();
        }
        (void)sum;
        (void)ow_tensor_set_pickle_root(set);
        ow_tensor_set_free(set);
    } else if (!err.message[0]) {
        abort(); /* every failure explains itself */
    }
    unlink(path);
    return 0;
}
