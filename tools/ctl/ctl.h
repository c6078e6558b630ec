/* ampgatectl subcommands. Each takes the arguments after its name (argv[0] is the name) and
 * returns the process exit code. */
#ifndef AG_TOOLS_CTL_H
#define AG_TOOLS_CTL_H

int ctl_devices_main(int argc, char **argv);
int ctl_passwd_main(int argc, char **argv);
int ctl_report_main(int argc, char **argv);

#endif
