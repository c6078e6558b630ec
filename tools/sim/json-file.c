/* Files the simulators rewrite while others read them (draw, live reports); see sim.h. */
#include "tools/sim/sim.h"

#include <errno.h>
#include <stdio.h>

int sim_json_write_atomic(const char *path, const json_t *j, size_t flags)
{
	char tmp[4096];
	FILE *fp;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fp = fopen(tmp, "w");
	if (!fp)
		return -1;
	if (json_dumpf(j, fp, flags) < 0) {
		fclose(fp);
		errno = EIO;
		return -1;
	}
	if (fclose(fp) != 0 || rename(tmp, path) < 0)
		return -1;
	return 0;
}
