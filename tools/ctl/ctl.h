/* ampgatectl subcommands. Each takes the arguments after its name (argv[0] is the name) and
 * returns the process exit code. */
#ifndef AG_TOOLS_CTL_H
#define AG_TOOLS_CTL_H

int ctl_devices_main(int argc, char **argv);
int ctl_passwd_main(int argc, char **argv);
int ctl_report_main(int argc, char **argv);
int ctl_status_main(int argc, char **argv);   /* status.c: over the REST API */
int ctl_chargers_main(int argc, char **argv);

#include <stddef.h>

/* passwd.c: a line from standard input, without echo (and after `prompt`) on a terminal. 0 or -1. */
int ctl_read_password(const char *prompt, char *buf, size_t size);

#endif
