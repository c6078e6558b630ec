/* ampgated: command line, configuration check, then the daemon. Fatal exits happen only here,
 * while validating the configuration at start-up. */
#include "edge/core/config.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/ocpp-frame.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ampgated [-c FILE] [--check] [-v] [--version] [--keys]\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"      --check        validate the configuration and exit (0 valid, 1 errors as file:line: key: message)\n"
		"  -v, --verbose      more log detail (debug)\n"
		"      --keys         list every configuration key with its range, default and help\n"
		"      --version      print the version and exit\n",
		AG_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },      { "version", no_argument, NULL, 'V' },
		{ "keys", no_argument, NULL, 'K' },         { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = AG_DEFAULT_CONFIG;
	int check_only = 0, verbose = 0, c;

	ocpp_frame_pool_init(); /* jansson's allocator: before anything allocates a JSON value */
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'C': check_only = 1; break;
		case 'v': verbose++; break;
		case 'V': printf("ampgated %s\n", AG_VERSION); return 0;
		case 'K': config_print_keys(stdout); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	log_init(verbose ? LL_DEBUG : LL_INFO);

	struct ag_config *cfg = config_load(path, stderr);
	if (!cfg) {
		fprintf(stderr, "%s: configuration is not valid; nothing was started\n", path);
		return 1;
	}
	if (check_only) {
		printf("%s: valid (site %s, %zu chargers, %zu devices, %zu circuits)\n", path, cfg->site.name,
		       cfg->n_chargers, cfg->n_devices, cfg->site.n_circuits);
		config_free(cfg);
		return 0;
	}
	log_hook_lws();

	struct ag_daemon d;
	memset(&d, 0, sizeof(d));
	if (daemon_start(&d, cfg) < 0)
		daemon_stop(&d, 1);
	return daemon_run(&d);
}
