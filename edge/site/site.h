/* The site controller: every control period, and at once when asked (site_solve_soon), turn the
 * configuration's tree of limits, the meters' readings and what the proxy knows of every charger
 * into solver input, run the solver, and hand each charger its limit and the constraint that
 * bound it. A daemon module.
 *
 * It also holds what a site manager may change at run time (a temporary site limit, a charger's
 * priority, a session's departure and energy need) and tells subscribers (web page, MQTT) after
 * every solve. */
#ifndef AG_SITE_H
#define AG_SITE_H

#include "edge/core/config.h"

#include <stdbool.h>
#include <stdint.h>

struct ag_daemon;
struct charger;

int site_start(struct ag_daemon *d);
void site_stop(struct ag_daemon *d);
/* Reload in two steps: check builds the new limit tree aside (-errno refuses the file, the
 * running tree untouched); apply, once every module accepted, puts it in force. */
int site_reload_check(struct ag_daemon *d, const struct ag_config *new_cfg);
void site_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg);

/* Solve at the next turn of the loop instead of waiting for the period (a meter step, a plug-in,
 * a command). */
void site_solve_soon(struct ag_daemon *d);

/* What the last solve saw and decided, per site phase L1..L3. */
struct site_status {
	uint64_t solves;
	uint64_t solved_ms;             /* monotonic ms of the last solve; 0 = none yet */
	bool fallback;                  /* every charger held at its fallback current */
	char fallback_why[96];          /* "grid meter \"grid\" stale", ... */
	bool grid_measured;             /* grid_a comes from the meter (else from the chargers) */
	double grid_a[AG_PHASES];       /* current at the connection point */
	double ev_a[AG_PHASES];         /* the chargers' measured draw */
	double allocated_a[AG_PHASES];  /* the sum of the limits handed out (fallbacks included) */
	double limit_a[AG_PHASES];      /* the grid limit in force (override applied), before margin */
	double override_a;              /* 0 = none */
	uint64_t override_until_ms;
	char override_by[64];
};
const struct site_status *site_status(const struct ag_daemon *d);

/* Under `plan`, when the EV at charger ch gave no departure and the EVs at its charger usually
 * stayed a known time (site-learn.h): when it is planned to leave, in ms from now (> 0), and from
 * how many sessions' stays (*sessions). 0 otherwise: another policy, a departure given, no stay
 * learnt, or past it (the plan then counts on site.default_dwell_s from now). */
int64_t site_planned_leave_in_ms(const struct ag_daemon *d, const struct charger *ch, size_t *sessions);

/* A temporary grid limit per phase below the configured one (MQTT command, web page): for
 * `duration_s` seconds, then the configuration's limit again. limit_a <= 0 clears it. `who` is
 * audited ("web:manager", "mqtt"). 0, -EINVAL (not a finite, positive value or a duration out
 * of 1..86400 s), -ENODEV (site not running). */
int site_override_limit(struct ag_daemon *d, double limit_a, int duration_s, const char *who);

/* A charger's priority (0..9, higher first) until the daemon restarts or the configuration is
 * reloaded; -1 restores the configured one. 0, -ENOENT (no such charger), -EINVAL. */
int site_set_priority(struct ag_daemon *d, const char *charger_id, int priority, const char *who);

/* A site manager's departure and energy need (charger-needs.h needs_parse) for the charger's
 * session in progress; they win over the EV's and end with the session. 0, -ENOENT (no such
 * charger), -ESRCH (no transaction running on it). */
struct needs;
int site_set_needs(struct ag_daemon *d, const char *charger_id, const struct needs *n, const char *who);

/* Called on the loop thread after every solve. At most SITE_SUBSCRIBERS. 0 or -ENOSPC. */
#define SITE_SUBSCRIBERS 8
typedef void (*site_cb)(void *arg, struct ag_daemon *d);
int site_subscribe(struct ag_daemon *d, site_cb cb, void *arg);
void site_unsubscribe(struct ag_daemon *d, site_cb cb, void *arg);

#endif
