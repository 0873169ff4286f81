/* randn_exhaustive.c: checks the Box-Muller kernel against a torch dump that
 * covers every possible uniform in both inputs (2^24 values of u1 and of u2),
 * written by `python tests/ref/make_sampling_golden.py --exhaustive FILE`.
 * Not a registered test (the 128 MiB dump is not committed). Usage:
 *     randn_exhaustive FILE [scalar]
 * "scalar" checks OW_RANDN_TORCH_SCALAR against a dump made with
 * ATEN_CPU_CAPABILITY=default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/torch_rng.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [scalar]\n", argv[0]);
        return 2;
    }
    ow_randn_kernel kernel = argc > 2 && strcmp(argv[2], "scalar") == 0 ? OW_RANDN_TORCH_SCALAR : OW_RANDN_TORCH_AVX2;
    const size_t total = (size_t)1 << 24, n = 2 * total;
    float *want = malloc(n * sizeof *want);
    FILE *f = fopen(argv[1], "rb");
    if (!want || !f || fread(want, sizeof *want, n, f) != n) {
        fprintf(stderr, "cannot read %zu floats from %s\n", n, argv[1]);
        return 2;
    }
    fclose(f);
    size_t differ = 0;
    for (size_t block = 0; block < total / 8; block++) {
        float data[16];
        for (int j = 0; j < 8; j++) {
            data[j] = (float)(block * 8 + (size_t)j) * (1.0f / 16777216.0f);
            data[j + 8] = data[j];
        }
        ow_torch_normal_fill_16(data, kernel);
        for (int j = 0; j < 16; j++) {
            if (memcmp(&data[j], &want[block * 16 + (size_t)j], sizeof(float)) != 0) {
                if (differ < 5)
                    fprintf(stderr, "block %zu lane %d: got %.9g want %.9g\n", block, j, (double)data[j],
                            (double)want[block * 16 + (size_t)j]);
                differ++;
            }
        }
    }
    printf("%s kernel: %zu of %zu values differ (every u1 and every u2 in [0, 1) on the 2^-24 grid)\n",
           kernel == OW_RANDN_TORCH_SCALAR ? "scalar" : "avx2", differ, n);
    free(want);
    return differ ? 1 : 0;
}
