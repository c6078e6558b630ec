/* ampgatectl: the site manager's and installer's command line. Talks to the daemon's store and,
 * as the daemon grows, its REST API. One subcommand per task. */
#include "edge/core/cli.h"
#include "edge/core/log.h"
#include "tools/ctl/ctl.h"

static const struct cli_command commands[] = {
	{ "chargers", ctl_chargers_main, "every charger as the page shows it: link, health, limit and why, draw (REST)" },
	{ "devices", ctl_devices_main, "probe every configured Modbus device once and show what it reads" },
	{ "passwd", ctl_passwd_main, "hash a password for web.users (or, with --charger, for chargers)" },
	{ "report", ctl_report_main, "availability and utilisation per charger over a period (table, --json, --csv)" },
	{ "status", ctl_status_main, "the site as the page shows it: state, grid per phase, chargers, uplink (REST)" },
};

int main(int argc, char **argv)
{
	log_init(LL_WARN);
	return cli_dispatch("ampgatectl", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
