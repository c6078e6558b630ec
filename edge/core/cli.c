/* Subcommand dispatch for ampgatectl and ampgate-sim.
 *
 * Design decision: a tool is a table of commands, each a function taking the remaining argv, so
 * adding a command is one row and the usage text cannot drift from what exists. */
#include "edge/core/cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out, const char *tool, const struct cli_command *cmds, size_t n)
{
	fprintf(out, "Usage: %s COMMAND [options]   (%s COMMAND --help)\n", tool, tool);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(out, "  --version\n");
}

int cli_dispatch(const char *tool, const struct cli_command *cmds, size_t n, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", tool, AG_VERSION);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout, tool, cmds, n);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < n; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	usage(stderr, tool, cmds, n);
	return 2;
}
