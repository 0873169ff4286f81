/* device.c: which backend a device name asks for ("auto", "cpu", "cuda", "cuda:N"),
 * and the failover to the CPU that "auto" promises. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/error.h"

/* "cuda" -> 0, "cuda:N" -> N; -1 when name is not a CUDA device name. */
static int cuda_index(const char *name) {
    if (strcmp(name, "cuda") == 0) return 0;
    if (strncmp(name, "cuda:", 5) != 0 || !name[5]) return -1;
    char *end = NULL;
    long n = strtol(name + 5, &end, 10);
    return *end || n < 0 || n > 1024 || name[5] == '-' || name[5] == '+' ? -1 : (int)n;
}

ow_status ow_backend_create_for_device(ow_backend **out, const char *device, int threads, ow_log_fn log,
                                       void *log_user, ow_error *err) {
    *out = NULL;
    const char *name = device && device[0] ? device : "auto";
    if (strcmp(name, "cpu") == 0) return ow_cpu_backend_create(out, threads, err);
    int index = cuda_index(name);
    if (index >= 0) {
        ow_status s = ow_cuda_backend_create(out, index, err);
        if (s != OW_OK) ow_error_prefix(err, "device %s", name);
        return s;
    }
    if (strcmp(name, "auto") != 0)
        return ow_error_set(err, OW_ERR_INVALID_ARGUMENT, "device '%s': use auto, cpu, cuda or cuda:N", name);
    char why[200] = "";
    if (ow_cuda_device_count(why, sizeof why) > 0) {
        ow_error cuda_err = {0};
        if (ow_cuda_backend_create(out, 0, &cuda_err) == OW_OK) return OW_OK;
        if (log) {
            char line[sizeof cuda_err.message + 80];
            snprintf(line, sizeof line, "CUDA device 0 cannot be used (%s): running on the CPU", cuda_err.message);
            log(log_user, 1, line);
        }
    }
    return ow_cpu_backend_create(out, threads, err);
}
