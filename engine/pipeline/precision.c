/* precision.c: the names of the precisions (fp32, bf16, auto), both ways. */
#include <string.h>

#include "oneword.h"

const char *ow_precision_name(ow_precision p) {
    switch (p) {
    case OW_PRECISION_FP32: return "fp32";
    case OW_PRECISION_BF16: return "bf16";
    case OW_PRECISION_AUTO: return "auto";
    }
    return "?";
}

int ow_precision_parse(const char *name, ow_precision *out) {
    static const ow_precision all[] = {OW_PRECISION_FP32, OW_PRECISION_BF16, OW_PRECISION_AUTO};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, ow_precision_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}
