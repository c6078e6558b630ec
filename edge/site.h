/* The site controller: every control period, and at once when asked (site_solve_soon), turn the
 * configuration's tree of limits and what the proxy knows of every charger into solver input,
 * run the solver, and hand each charger its limit and the constraint that bound it. A daemon
 * module. */
#ifndef AG_SITE_H
#define AG_SITE_H

struct ag_daemon;
struct ag_config;

int site_start(struct ag_daemon *d);
void site_stop(struct ag_daemon *d);
int site_reload(struct ag_daemon *d, const struct ag_config *new_cfg);

#endif
