/* ampgate-sim: simulators for demos, tests and benchmarks. */
#include "tools/sim/fleet.h"

#include <stdio.h>
#include <string.h>

static int chargers(int argc, char **argv)
{
	struct fleet_opts o;
	int rc = fleet_parse_args(argc, argv, &o);

	return rc == 0 ? fleet_run(&o) : rc == 1 ? 0 : rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("ampgate-sim %s\n", AG_VERSION);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "chargers") == 0)
		return chargers(argc - 1, argv + 1);
	fprintf(stderr, "Usage: ampgate-sim --version\n"
			"       ampgate-sim chargers --url ws://HOST:PORT/PATH --count N [options] (--help)\n");
	return 2;
}
