/* ampgate-sim: simulators for demos, tests and benchmarks. One subcommand per simulator. */
#include "edge/core/cli.h"
#include "tools/sim/fleet.h"
#include "tools/sim/replay.h"
#include "tools/sim/sim.h"

static int chargers(int argc, char **argv)
{
	struct fleet_opts o;
	int rc = fleet_parse_args(argc, argv, &o);

	return rc == 0 ? fleet_run(&o) : rc == 1 ? 0 : rc;
}

static const struct cli_command commands[] = {
	{ "modbus", sim_modbus_main, "serve simulated SunSpec and SDM630 devices over Modbus TCP" },
	{ "chargers", chargers, "run a fleet of simulated OCPP 1.6J/2.0.1 charging stations" },
	{ "replay", replay_main, "what-if replay of charging sessions through the solver, in simulated time" },
	{ "csms", sim_csms_main, "a loopback CSMS answering every station's calls (tests, benchmarks)" },
};

int main(int argc, char **argv)
{
	return cli_dispatch("ampgate-sim", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
