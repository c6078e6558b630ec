/* ampgate-sim: simulators for demos, tests and benchmarks. One subcommand per simulator. */
#include "edge/cli.h"
#include "tools/sim/sim.h"

static const struct cli_command commands[] = {
	{ "modbus", sim_modbus_main, "serve simulated SunSpec and SDM630 devices over Modbus TCP" },
};

int main(int argc, char **argv)
{
	return cli_dispatch("ampgate-sim", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
