/* cli_options.c: parsing numeric options with their ranges, and creating output
 * folders, shared by the sub-commands. */
#include "cli_options.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_messages.h"

int cli_parse_int(const char *text, const char *option, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text || v < min || v > max) {
        cli_fail("%s must be a whole number from %ld to %ld, got '%s'", option, min, max, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_precision(const char *text, ow_precision *out) {
    if (ow_precision_parse(text, out) == 0) return 0;
    cli_fail("--precision must be fp32, bf16 or auto (bf16 where the processor has AMX or AVX512-BF16), got '%s'",
             text);
    return -1;
}

void cli_report_precision(const ow_model *model) {
    if (ow_model_precision(model) == OW_PRECISION_FP32) return;
    char kernels[512];
    ow_model_describe_kernels(model, kernels, sizeof kernels);
    fprintf(stderr, "oneword: precision %s; matrix products: %s\n", ow_precision_name(ow_model_precision(model)),
            kernels);
}

/* A finite number in [min, max] (NaN and infinities fail the comparison). */
int cli_parse_float(const char *text, const char *option, float min, float max, float *out) {
    char *end;
    errno = 0;
    float v = strtof(text, &end);
    if (errno || *end || end == text || !(v >= min && v <= max)) {
        cli_fail("%s must be a number from %g to %g, got '%s'", option, (double)min, (double)max, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* A whole number in [0, 2^64 - 1]: digits only (strtoull would accept " -1" as 2^64 - 1). */
int cli_parse_seed(const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
    if (!isdigit((unsigned char)text[0]) || errno || *end) {
        cli_fail("--seed must be a whole number from 0 to %" PRIu64 ", got '%s'", UINT64_MAX, text);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* mkdir -p: creates path and any missing parents; 0 when it is a folder afterwards. */
int cli_make_dir(const char *path) {
    char buffer[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buffer) { errno = ENAMETOOLONG; return -1; }
    memcpy(buffer, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buffer[i] != '/' && buffer[i] != '\0') continue;
        char saved = buffer[i];
        buffer[i] = '\0';
        if (mkdir(buffer, 0777) != 0 && errno != EEXIST) return -1;
        buffer[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
}

