/* ampgate-sim: simulators for demos, tests and benchmarks. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("ampgate-sim %s\n", AG_VERSION);
		return 0;
	}
	fprintf(stderr, "Usage: ampgate-sim --version\n");
	return 2;
}
