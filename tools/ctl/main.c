/* ampgatectl: the site manager's and installer's command line. Talks to the daemon's store and,
 * as the daemon grows, its REST API. */
#include "edge/log.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	log_init(LL_WARN);
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("ampgatectl %s\n", AG_VERSION);
		return 0;
	}
	fprintf(stderr, "Usage: ampgatectl --version\n");
	return 2;
}
