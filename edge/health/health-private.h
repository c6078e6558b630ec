/* Internals shared by health.c (states, history) and health-heal.c (the ladder, the silence
 * probe). */
#ifndef AG_HEALTH_PRIVATE_H
#define AG_HEALTH_PRIVATE_H

#include "edge/daemon.h"
#include "edge/health/health.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define HEALTH_DAY_MS (86400LL * 1000)
#define HEALTH_STEPS_SHOWN 20 /* healing steps in GET .../health */

/* One charger as health follows it. */
struct hc {
	struct charger *ch;
	enum health_state state;        /* HS_N until first seen */
	uint64_t since_ms;              /* monotonic start of the current state */
	char detail[160];
	uint64_t seen_rx_frames, seen_conn_ms, seen_call_ms; /* what the last scan saw (change detection) */
	bool seen_online;
	const struct cfg_charger *seen_cfg;
	enum charger_link seen_link;    /* the liveness the state was last worked out with */
	bool faulted;                   /* health_fault, as of then (the ladder reads it every visit) */

	/* The ladder. */
	bool in_fault;                  /* a connector was faulted at the last scan */
	uint64_t ladder_conn_ms;        /* the connection the ladder last looked at */
	uint64_t fault_since_ms;        /* faulted with no transaction since (monotonic); 0 = not */
	bool confirmed;                 /* TriggerMessage StatusNotification answered */
	bool awaiting_status;           /* ... and its fresh status not heard yet */
	uint64_t confirm_rx_frames;     /* the charger's rx_frames when the trigger was answered */
	int soft_done;
	bool hard_done;
	bool alerted;                   /* technician alert raised: nothing more until it recovers */
	uint64_t next_ms;               /* no step before this (monotonic) */
	bool busy;                      /* a ladder call in flight ... */
	uint64_t busy_conn_ms;          /* ... on the connection that opened at this time */
	int64_t last_reset;             /* health_actions row of the last reset; 0 = none */
	char last_reset_what[48];       /* "soft reset 1", "the hard reset" */
	char csms_reset[40];            /* message id of the CSMS Reset last seen */

	/* Silence. */
	bool probing;                   /* TriggerMessage Heartbeat in flight */
	uint64_t probe_conn_ms;
	bool closed_silent;             /* the edge closed its socket for silence */
	uint64_t closed_conn_ms;        /* the connection it closed */
	int64_t disconnect;             /* health_actions row of that */
};

struct health {
	struct ag_daemon *d;
	sqlite3 *db;
	uv_timer_t tick;
	uv_check_t check;
	int open_handles;
	struct hc *hc;
	size_t n, cap;
	size_t tick_slice;              /* which fifth of hc the next tick looks at */
	int64_t wall0;                  /* wall-clock ms at mono0 */
	uint64_t mono0;
	uint64_t flushed_ms, pruned_ms;
	sqlite3_stmt *close_row, *insert_row, *flush, *close_all, *prune_rows, *prune_actions;
	sqlite3_stmt *insert_action, *set_answer, *set_healed, *count_resets;
};

int64_t health_wall_ms(const struct health *h, uint64_t mono_ms);
/* Step a prepared statement, then reset it and clear its bindings. 0 or -EIO (logged). */
int health_step(struct health *h, sqlite3_stmt *q, const char *what);
struct hc *health_entry(struct health *h, const struct charger *ch);

/* The first connector that is faulted (status Faulted, an error code, a 2.0.1 Problem). */
const struct connector *health_fault(const struct charger *ch);
/* What it is faulted with, for grouping: the OCPP errorCode, else the vendor's code, else
 * "Faulted". */
const char *health_fault_code(const struct connector *c);
/* "GroundFailure, vendor code E42" (empty when the charger gave no code). */
void health_fault_codes(const struct connector *c, char *out, size_t size);
/* "connector 1", "EVSE 1 connector 2", "the station". */
void health_connector_name(const struct charger *ch, int id, char *out, size_t size);

/* Where the ladder stands, for REST. New reference. */
json_t *health_heal_json(const struct hc *hc);
/* The ladder and the silence probe for one charger, after its state was classified. */
void health_heal(struct health *h, struct hc *hc, enum charger_link link, uint64_t now);

#endif
