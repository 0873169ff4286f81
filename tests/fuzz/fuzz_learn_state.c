/* fuzz_learn_state.c: libFuzzer harness for ow_learn_state_load (a training run's
 * state.safetensors, read back by `oneword learn --resume`): any input gives a state
 * whose fields are in range, or an error with a message; never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "oneword.h"
#include "train/learn_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/ow-fuzz-state-%d.safetensors", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ow_learn_state *s = NULL;
    ow_error err = {0};
    if (ow_learn_state_load(&s, path, &err) == OW_OK) {
        if (s->vectors < 1 || s->vectors > 16 || s->H < 1 || s->batch < 1 || s->step < 0 || !s->placeholder ||
            s->center_crop < 0 || s->center_crop > 1)
            abort();
        float sum = 0.0f;
        for (int i = 0; i < s->vectors * s->H; i++) sum += s->rows[i] + s->m1[i] + s->m2[i];
        (void)sum;
        ow_learn_state_free(s);
    } else if (!err.message[0]) {
        abort();
    }
    unlink(path);
    return 0;
}
