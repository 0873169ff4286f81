/* main.c: the `oneword` command: parses the sub-command and hands over to the
 * engine. Thin on purpose: every capability lives in the engine library. */
#include <stdio.h>
#include <string.h>

#include "oneword.h"

static void usage(FILE *to) {
    fprintf(to,
            "usage: oneword COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  version            print the version\n"
            "\n"
            "generate, inspect, learn, merge, convert and bench land as the engine grows.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("oneword %s\n", OW_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "oneword: unknown command '%s' (run 'oneword --help' for the list)\n", argv[1]);
    return 2;
}
