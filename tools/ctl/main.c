/* ampgatectl: the site manager's and installer's command line. Talks to the daemon's store and,
 * as the daemon grows, its REST API. One subcommand per task. */
#include "edge/log.h"
#include "tools/ctl/ctl.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "devices", ctl_devices_main, "probe every configured Modbus device once and show what it reads" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: ampgatectl COMMAND [options]   (ampgatectl COMMAND --help)\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "  --version\n");
}

int main(int argc, char **argv)
{
	log_init(LL_WARN);
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("ampgatectl %s\n", AG_VERSION);
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
