/* test_device.c: the device choice (ow_backend_create_for_device): "cpu" is the CPU
 * backend; "auto" is CUDA device 0 where one starts and the CPU elsewhere, silently on
 * a machine without CUDA; "cuda" / "cuda:N" insist, and without a usable device fail
 * with the reason (never a crash); malformed names are refused by name. Runs in every
 * build: with the CUDA backend compiled in (and no GPU, as in CI) and without it. */
#include <string.h>

#include "backend/backend.h"
#include "check.h"

static int logged;
static void count_log(void *user, int level, const char *message) {
    (void)user;
    (void)level;
    printf("     log: %s\n", message);
    logged++;
}

int main(void) {
    ow_error err = {0};
    char why[200] = "";
    const int devices = ow_cuda_device_count(why, sizeof why);
    printf("     CUDA devices: %d%s%s\n", devices, devices ? "" : ": ", devices ? "" : why);
    CHECK(devices > 0 || why[0], "no device comes with a reason");

    ow_backend *b = NULL;
    CHECK(ow_backend_create_for_device(&b, "cpu", 1, count_log, NULL, &err) == OW_OK && b && strcmp(b->name, "cpu") == 0,
          "cpu: the CPU backend (%s)", err.message);
    CHECK(b && b->status && b->status(b, &err) == OW_OK, "the CPU backend's status is OK");
    if (b) b->destroy(b);

    const char *autos[2] = {"auto", NULL};
    for (int i = 0; i < 2; i++) {
        b = NULL;
        logged = 0;
        ow_status s = ow_backend_create_for_device(&b, autos[i], 1, count_log, NULL, &err);
        CHECK(s == OW_OK && b, "%s: a backend (%s)", autos[i] ? autos[i] : "NULL", err.message);
        if (devices == 0)
            CHECK(b && strcmp(b->name, "cpu") == 0 && logged == 0, "%s without a CUDA device: the CPU, nothing logged",
                  autos[i] ? autos[i] : "NULL");
        printf("ok   device %s -> %s\n", autos[i] ? autos[i] : "NULL", b ? b->name : "none");
        if (b) b->destroy(b);
    }

    const char *cudas[3] = {"cuda", "cuda:0", "cuda:7"};
    for (int i = 0; i < 3; i++) {
        b = NULL;
        ow_status s = ow_backend_create_for_device(&b, cudas[i], 1, count_log, NULL, &err);
        if (devices == 0 || (i == 2 && devices <= 7)) {
            CHECK(s != OW_OK && !b && strstr(err.message, cudas[i]) && strlen(err.message) > strlen(cudas[i]) + 10,
                  "%s without that device: an error naming it and why (%s)", cudas[i], err.message);
            printf("ok   %s refused: %s\n", cudas[i], err.message);
        } else {
            CHECK(s == OW_OK && b && strcmp(b->name, "cuda") == 0, "%s: the CUDA backend (%s)", cudas[i], err.message);
        }
        if (b) b->destroy(b);
    }

    const char *bad[] = {"gpu", "cuda:", "cuda:-1", "cuda:1x", "cuda:+1", "CPU", " cpu"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = NULL;
        ow_status s = ow_backend_create_for_device(&b, bad[i], 1, NULL, NULL, &err);
        CHECK(s == OW_ERR_INVALID_ARGUMENT && !b && strstr(err.message, "use auto, cpu, cuda or cuda:N"),
              "device '%s' is refused with the names to use (%s)", bad[i], err.message);
        if (b) b->destroy(b);
    }
    printf("ok   malformed device names refused: %s\n", err.message);
    CHECK_DONE();
}
