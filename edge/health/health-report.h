/* Availability and utilisation figures from the health history in the store (migrations 5 and
 * 13: health_states read through the view health_stretches, health_actions; sessions from
 * transactions). Pure reads on an open connection, so the daemon (REST, metrics) and
 * `ampgatectl report` compute the same figures the same way. Times are wall-clock ms since the
 * epoch; a window is [from_ms, to_ms). */
#ifndef AG_HEALTH_REPORT_H
#define AG_HEALTH_REPORT_H

#include "edge/health/health.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_CODES 8

struct health_code {
	char code[40];                  /* OCPP errorCode, else the vendor's code, else "Faulted" */
	int n;
};

struct health_figures {
	char charger_id[49];
	int64_t ms[HS_N];               /* time in each state within the window */
	int64_t observed_ms;            /* their sum: time the edge was running and saw the charger */
	int faults;                     /* times it entered the faulted state within the window */
	struct health_code by_code[HEALTH_CODES]; /* faults by code, most first; the rest in "other" */
	int n_codes;
	int soft_resets, hard_resets;
	int healed;                     /* resets after which it recovered */
	int disconnects;                /* silent sockets the edge closed */
	int technician;                 /* "send a technician" alerts */
	int sessions;                   /* transactions started within the window */
	double energy_wh;               /* their energy */
};

/* The figures of one charger. 0, or -EIO (the reason is in sqlite3_errmsg(db)). */
int health_report_charger(sqlite3 *db, const char *charger_id, int64_t from_ms, int64_t to_ms,
			  struct health_figures *out);

/* Ids of the chargers with history in the window, sorted; `*ids` is one malloc'd block
 * (free(*ids)). 0 or -EIO / -ENOMEM. */
int health_report_ids(sqlite3 *db, int64_t from_ms, int64_t to_ms, char (**ids)[49], size_t *n);

/* Share of the observed time usable for a driver (available, charging, occupied), and with a
 * vehicle on it (charging, occupied), in %; -1 when nothing was observed. */
double health_availability_pct(const struct health_figures *f);
double health_utilisation_pct(const struct health_figures *f);

/* {"id", "observed_s", "availability_pct", "utilisation_pct" (null when nothing was observed),
 * "seconds": {state: s}, "faults", "faults_by_code": {code: n}, "soft_resets", "hard_resets",
 * "healed", "disconnects", "technician_alerts", "sessions", "energy_kwh"}: what `ampgatectl
 * report --json` prints per charger and REST serves. New reference. */
json_t *health_figures_json(const struct health_figures *f);

/* The stretches of one charger's states within the window, clipped to it, oldest first:
 * {"id", "from_ms", "to_ms", "columns": ["state", "start_ms", "end_ms", "code"], "stretches": [...]};
 * time the edge did not run is in no stretch. New reference; NULL on a database error. */
json_t *health_timeline_json(sqlite3 *db, const char *charger_id, int64_t from_ms, int64_t to_ms);

/* The healing steps of one charger within the window, newest first, at most `max`:
 * [{"time_ms", "action" ("soft reset", "hard reset", "disconnect", "technician"), "detail"
 * (fault codes; may be null), "answer" (the charger's answer to a reset; null before one or for
 * an alert), "healed" (true, false, or null while it is not known yet or for an alert)}].
 * What the per-charger page lists so a manager sees each step and whether it healed. New
 * reference; NULL on a database error. */
json_t *health_steps_json(sqlite3 *db, const char *charger_id, int64_t from_ms, int64_t to_ms, int max);

/* 0 when the database has the health tables, else -ENOENT. */
int health_report_check(sqlite3 *db);

#endif
