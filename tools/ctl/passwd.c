/* `ampgatectl passwd [--charger]`: read a password (from the terminal without echo, or the
 * first line of standard input) and print its hash for web.users[].password_hash or
 * chargers[].password_hash. People's passwords get the slow cost; --charger the cheap one meant
 * for the 16-40 random characters a charger sends on every reconnect. */
#include "edge/core/passwd.h"
#include "tools/ctl/ctl.h"

#include <stdbool.h>

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int ctl_read_password(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;

	if (tty) {
		fputs(prompt, stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *got = fgets(buf, (int)size, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!got)
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

int ctl_passwd_main(int argc, char **argv)
{
	char password[257], hash[PASSWD_HASH_MAX + 1];
	bool charger = argc > 1 && strcmp(argv[1], "--charger") == 0;

	if (argc > 2 || (argc == 2 && !charger)) {
		fprintf(stderr, "usage: ampgatectl passwd [--charger] < password\n"
				"  prints the hash for web.users[].password_hash (or, with --charger, chargers[].password_hash)\n");
		return 2;
	}
	if (ctl_read_password("Password: ", password, sizeof(password)) < 0 || !password[0]) {
		fprintf(stderr, "ampgatectl passwd: no password given\n");
		return 1;
	}
	if (!charger && strlen(password) < 8) {
		fprintf(stderr, "ampgatectl passwd: use at least 8 characters for a person's password\n");
		return 1;
	}
	int rc = passwd_hash(password, charger ? PASSWD_ITER_CHARGER : PASSWD_ITER_WEB, hash, sizeof(hash));
	memset(password, 0, sizeof(password));
	if (rc < 0) {
		fprintf(stderr, "ampgatectl passwd: cannot hash the password\n");
		return 1;
	}
	puts(hash);
	return 0;
}
