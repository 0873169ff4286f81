/* learn_command.h: `oneword learn`, textual inversion from the command line. */
#ifndef OW_CLI_LEARN_COMMAND_H
#define OW_CLI_LEARN_COMMAND_H

int learn_main(int argc, char **argv);

#endif
