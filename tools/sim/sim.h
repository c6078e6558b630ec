/* ampgate-sim subcommands. Each takes the arguments after its name (argv[0] is the name) and
 * returns the process exit code. */
#ifndef AG_TOOLS_SIM_H
#define AG_TOOLS_SIM_H

int sim_modbus_main(int argc, char **argv);

#endif
