/* ampgate-sim: simulators for demos, tests and benchmarks. One subcommand per simulator. */
#include "tools/sim/sim.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "modbus", sim_modbus_main, "serve simulated SunSpec and SDM630 devices over Modbus TCP" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: ampgate-sim COMMAND [options]   (ampgate-sim COMMAND --help)\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "  --version\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("ampgate-sim %s\n", AG_VERSION);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
