/* PV profile files; see pv-profile.h. One reader for both simulators, so a profile that drives
 * the Modbus inverter in a test replays unchanged in a what-if. */
#include "tools/sim/pv-profile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pv_profile_read(const char *path, const char *who, struct pv_profile *p, FILE *errs)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int no = 0;

	memset(p, 0, sizeof(*p));
	if (!f) {
		fprintf(errs, "%s: %s: %s\n", who, path, strerror(errno));
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		double t, w;
		no++;
		if (line[strspn(line, " \t")] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (sscanf(line, "%lf %lf", &t, &w) != 2 || !(t >= 0) || !(w >= 0) || (p->n && t <= p->t_s[p->n - 1])) {
			fprintf(errs, "%s: %s:%d: want \"SECONDS WATTS\", seconds ascending\n", who, path, no);
			fclose(f);
			pv_profile_fini(p);
			return -EINVAL;
		}
		double *nt = realloc(p->t_s, (p->n + 1) * sizeof(*nt));
		double *nw = nt ? realloc(p->w, (p->n + 1) * sizeof(*nw)) : NULL;
		if (nt)
			p->t_s = nt;
		if (!nw) {
			fclose(f);
			pv_profile_fini(p);
			return -ENOMEM;
		}
		p->w = nw;
		p->t_s[p->n] = t;
		p->w[p->n++] = w;
	}
	fclose(f);
	if (!p->n)
		fprintf(errs, "%s: %s: no \"SECONDS WATTS\" line\n", who, path);
	return p->n ? 0 : -EINVAL;
}

double pv_profile_at(const struct pv_profile *p, double t_s)
{
	size_t i = 0;

	if (!p->n)
		return 0;
	if (t_s <= p->t_s[0])
		return p->w[0];
	while (i + 1 < p->n && p->t_s[i + 1] < t_s)
		i++;
	if (i + 1 >= p->n)
		return p->w[p->n - 1];
	double f = (t_s - p->t_s[i]) / (p->t_s[i + 1] - p->t_s[i]);
	return p->w[i] + f * (p->w[i + 1] - p->w[i]);
}

void pv_profile_fini(struct pv_profile *p)
{
	free(p->t_s);
	free(p->w);
	memset(p, 0, sizeof(*p));
}
