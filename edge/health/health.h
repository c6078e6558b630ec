/* Charger health: what state each charger is in (available, charging, occupied, faulted,
 * unavailable, silent, offline), how long it spent in each (persisted, so a day's figures
 * survive restarts), and remote healing before a truck rolls (docs/ARCHITECTURE.md, "Remote
 * healing"):
 *
 *   faulted with no transaction for health.faulted_reset_s
 *     -> TriggerMessage StatusNotification (confirm)
 *     -> soft reset, again after health.reset_backoff_s while still faulted, up to
 *        health.max_soft_resets
 *     -> one hard reset
 *     -> stop, and tell the site manager to send a technician.
 *   silent (socket open, nothing heard) -> TriggerMessage Heartbeat; no answer within
 *     ocpp.call_timeout_s -> close the socket so the charger reconnects.
 *
 * The edge's calls go through proxy_edge_call, so the CSMS never sees them. A daemon module
 * started after "site"; loop thread only. */
#ifndef AG_HEALTH_H
#define AG_HEALTH_H

#include "edge/ocpp/charger.h"

#include <jansson.h>
#include <stddef.h>

struct ag_daemon;

/* Ordered as the report prints them; the names are stored in SQLite and shown in JSON. */
enum health_state {
	HS_AVAILABLE,   /* connected, talking, free for a vehicle */
	HS_CHARGING,    /* delivering energy (1.6 Charging; 2.0.1 a running transaction) */
	HS_OCCUPIED,    /* a vehicle is plugged in or a session holds it, not charging */
	HS_FAULTED,     /* a connector Faulted, an errorCode other than NoError, or a 2.0.1 Problem */
	HS_UNAVAILABLE, /* taken out of service (the station, or every connector, Unavailable) */
	HS_SILENT,      /* socket open, nothing heard for the silence threshold */
	HS_OFFLINE,     /* socket closed */
	HS_N
};

const char *health_state_name(enum health_state s);
/* -1 for a name that is none of the above. */
int health_state_parse(const char *name);
/* Usable for a driver: available, charging, occupied. */
static inline int health_state_usable(enum health_state s)
{
	return s == HS_AVAILABLE || s == HS_CHARGING || s == HS_OCCUPIED;
}

/* The state of a charger from what the proxy knows of it, given how it talks. For a faulted
 * charger `detail` receives "connector 1: GroundFailure (vendor E42)"; else it is emptied. */
enum health_state health_classify(const struct charger *ch, enum charger_link link, char *detail, size_t size);

int health_start(struct ag_daemon *d);
/* No reload: every health key is read from the daemon's configuration where it is used. */
void health_stop(struct ag_daemon *d);

/* The state a charger is in now (HS_OFFLINE for one health does not follow). */
enum health_state health_of(const struct ag_daemon *d, const struct charger *ch);
/* A charger is about to be freed (PROXY_REMOVED: a pending station rejected or replaced): drop
 * its entry, so health never reads it again and its entries stay in step with the proxy's list. */
void health_forget(struct ag_daemon *d, const struct charger *ch);

/* GET /api/v1/chargers/<id>/health: {"state", "detail", "since_ms" (wall clock), "healing":
 * {"faulted", "soft_resets", "hard_reset", "technician_alert", "silent_socket_closed"},
 * "last_24h" and "last_30d": the figures of health-report.h up to now, "steps": the last 30
 * days' healing steps, newest first, at most 20 (health_steps_json)}. New reference. */
json_t *health_json(struct ag_daemon *d, const struct charger *ch);

#endif
