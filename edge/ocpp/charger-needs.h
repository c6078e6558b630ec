/* An EV's departure time and energy need for the session in progress: what the `deadline` and
 * `cost` policies work from. Two sources, kept apart in struct charger: the EV itself (OCPP 2.0.1
 * NotifyEVChargingNeeds, read as it passes) and a site manager (REST, MQTT), whose values win
 * field by field. Both end with the session. A manager's values are kept in the database too, so
 * they survive a restart of ampgated during the session. Loop thread only. */
#ifndef AG_CHARGER_NEEDS_H
#define AG_CHARGER_NEEDS_H

#include "edge/ocpp/charger.h"

#include <jansson.h>
#include <stdint.h>

/* Largest energy need a manager may set, in kWh (a 1 MWh truck battery is already large). */
#define NEEDS_MAX_KWH 1000.0

/* What is in force for a charger now. */
struct needs_now {
	int64_t departure_wall_ms;      /* epoch ms; 0 = unknown */
	double need_wh;                 /* still to charge (asked for minus delivered since, >= 0); < 0 = unknown */
	double done_wh;                 /* delivered since it was asked for (0 when need_wh is unknown) */
	const char *from;               /* "manager", "ev" or NULL (nothing known) */
	double ev_max_a;                /* the EV's maximum current per phase, while no other EVSE
					 * of the station charges; 0 = unknown */
	double ev_min_a;                /* its minimum, likewise */
};

/* A manager's {"departure": RFC 3339 | null, "energy_kwh": number | null} into `out` (a missing
 * key is null: that value is the EV's again, if it gave one). 0, or -EINVAL with `err` in the
 * site manager's words. */
int needs_parse(const json_t *body, struct needs *out, char *err, size_t size);

/* A NotifyEVChargingNeeds request from the charger: replaces what the EV said before. */
void needs_from_ev(struct charger *ch, const json_t *payload);
/* A manager's values (from needs_parse) for the session in progress. */
void needs_set_manager(struct charger *ch, const struct needs *n);
/* The session ended: forget both sources. True if anything was known. */
bool needs_end(struct charger *ch);
/* The EV on 2.0.1 EVSE `evse` left or its transaction ended (another EVSE may still charge, or it
 * gave its needs before a transaction began): forget what that EV said. True if anything was. */
bool needs_ev_left(struct charger *ch, int evse);

struct proxy;
/* At start, after the open transactions are loaded: a manager's values for the sessions still
 * open. 0 or -EIO. */
int needs_load(struct proxy *p);

void needs_now(const struct charger *ch, struct needs_now *out);
/* The departure on the monotonic clock of `now_ms` (the solver's), 0 when unknown; a departure
 * already past is `now_ms` itself (no time left), never 0. */
int64_t needs_departure_mono_ms(const struct needs_now *n, uint64_t now_ms);
/* "departure 2026-11-22T17:30:00.000Z, 30.0 kWh" (or "no departure", "no energy need") for the
 * audit log. */
void needs_describe(const struct needs *n, char *buf, size_t size);

#endif
