/* ampgate-sim subcommands. Each takes the arguments after its name (argv[0] is the name) and
 * returns the process exit code. */
#ifndef AG_TOOLS_SIM_H
#define AG_TOOLS_SIM_H

#include <jansson.h>
#include <stddef.h>

int sim_modbus_main(int argc, char **argv);
int sim_csms_main(int argc, char **argv);

/* Write `j` to `path` through `path`.tmp and a rename, so a reader polling the file never sees
 * half of it. `flags` as for json_dumpf. 0, or -1 with errno set. */
int sim_json_write_atomic(const char *path, const json_t *j, size_t flags);

#endif
