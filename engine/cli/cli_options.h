/* cli_options.h: numeric option parsing (a refused value is reported with its range
 * through cli_fail; the functions return -1 then) and mkdir -p. */
#ifndef OW_CLI_OPTIONS_H
#define OW_CLI_OPTIONS_H

#include <stdint.h>

#include "oneword.h"

/* A whole number in [min, max]. */
int cli_parse_int(const char *text, const char *option, long min, long max, int *out);
/* --precision fp32|bf16|auto; 0, or -1 after printing why. */
int cli_parse_precision(const char *text, ow_precision *out);
/* On stderr, for a model not in fp32: its precision and the kernels of its products. */
void cli_report_precision(const ow_model *model);
/* A finite number in [min, max]. */
int cli_parse_float(const char *text, const char *option, float min, float max, float *out);
/* A seed: digits only, 0 .. 2^64 - 1. */
int cli_parse_seed(const char *text, uint64_t *out);
/* Creates path and its missing parents; 0 when it is a folder afterwards (errno set otherwise). */
int cli_make_dir(const char *path);

#endif
