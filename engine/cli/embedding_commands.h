/* embedding_commands.h: `oneword inspect` (embedding files), `convert`, `merge`,
 * and generate's --embedding / --embedding-dir (embedding_commands.c). */
#ifndef OW_CLI_EMBEDDING_COMMANDS_H
#define OW_CLI_EMBEDDING_COMMANDS_H

#include "oneword.h"

/* `inspect FILE [--json]` when FILE is an embedding: sets *handled and returns
 * the exit code; *handled = 0 means "not an embedding", for the model inspector. */
int embedding_inspect(int argc, char **argv, int *handled);
int embedding_convert_main(int argc, char **argv);
int embedding_merge_main(int argc, char **argv);
/* Adds every --embedding-dir, then every --embedding; prints why and returns 1 on failure. */
int embedding_load_into_model(ow_model *model, const char *const *files, int n_files, const char *const *dirs,
                              int n_dirs);

#endif
