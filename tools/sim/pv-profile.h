/* A PV profile file, shared by `ampgate-sim modbus --pv-profile` (the simulated inverter) and
 * `ampgate-sim replay --pv` (the what-if): one "SECONDS WATTS" pair per line, seconds ascending,
 * '#' comments; linear between points, the first value before the start and the last after the
 * end. What the seconds count from is the caller's: the modbus simulator's start, the replay's
 * first midnight. */
#ifndef AG_SIM_PV_PROFILE_H
#define AG_SIM_PV_PROFILE_H

#include <stddef.h>
#include <stdio.h>

struct pv_profile {
	double *t_s, *w;
	size_t n;
};

/* Read `path` into `p` (zeroed first; free with pv_profile_fini). 0, -EINVAL after printing
 * "who: path:line: ..." on errs (also for a file without a point), or -ENOMEM. */
int pv_profile_read(const char *path, const char *who, struct pv_profile *p, FILE *errs);
/* PV power in W at t_s; 0 for an empty profile. */
double pv_profile_at(const struct pv_profile *p, double t_s);
void pv_profile_fini(struct pv_profile *p);

#endif
