/* no_cuda.c: what a build without the CUDA backend (no nvcc when it was configured)
 * answers when CUDA is asked for. */
#include <stdio.h>

#include "backend/backend.h"
#include "core/error.h"

#define WHY "this oneword was built without the CUDA backend (nvcc was not found when it was built)"

int ow_cuda_device_count(char *why, size_t cap) {
    if (why && cap) snprintf(why, cap, "%s", WHY);
    return 0;
}

ow_status ow_cuda_backend_create(ow_backend **out, int device, ow_error *err) {
    (void)device;
    if (out) *out = NULL;
    return ow_error_set(err, OW_ERR_UNSUPPORTED, "%s; use --device cpu or auto, or rebuild with the CUDA Toolkit installed",
                        WHY);
}
