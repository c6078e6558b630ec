/* Subcommand dispatch for the command-line tools (ampgatectl, ampgate-sim): a table of
 * commands, `--version`, `--help` and usage, the same way in every tool. */
#ifndef AG_CLI_H
#define AG_CLI_H

#include <stddef.h>

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);     /* argv[0] is the command's name; returns the exit code */
	const char *help;
};

/* Run the command argv[1] of `tool` from the table; 0 for --version/--help, 2 for usage errors. */
int cli_dispatch(const char *tool, const struct cli_command *cmds, size_t n, int argc, char **argv);

#endif
