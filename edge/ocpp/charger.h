/* A charging station as the edge knows it: its two WebSocket links (to the charger, to the
 * CSMS), the calls in flight in each direction, and the state read from the frames that pass
 * (boot data, connectors, transactions, meter values, the CSMS's limits, the edge's own limit).
 *
 * One struct per station id, created from the configuration at start (or when an unknown
 * station is let in as pending) and kept across reconnects, so the model outlives a socket. */
#ifndef AG_CHARGER_H
#define AG_CHARGER_H

#include "edge/core/config.h"
#include "edge/ocpp/ocpp-frame.h"
#include "edge/ocpp/ws-link.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CHARGER_CONNECTORS 8
#define CHARGER_TX 4

enum up_state { UP_NONE, UP_WAIT, UP_CONNECTING, UP_OPEN };
enum call_origin { ORIGIN_CHARGER, ORIGIN_CSMS, ORIGIN_EDGE };

struct charger;
/* Result of an edge call: `result` is the CALLRESULT payload, or NULL on CALLERROR/timeout (then
 * `error` names it). */
typedef void (*edge_call_cb)(struct charger *ch, const char *action, const json_t *request,
			     const json_t *result, const char *error);

struct call {
	bool active;
	enum call_origin origin;
	char id[OCPP_ID_MAX + 1];
	char action[OCPP_ACTION_MAX + 1];
	json_t *payload;        /* the request, owned */
	char *text;             /* the original frame (forwarded byte for byte), owned */
	uint64_t sent_ms;       /* 0: not sent yet */
	uint64_t up_sent_ms;    /* a charger's call: when it went out on the open uplink (0: held) */
	edge_call_cb cb;        /* ORIGIN_EDGE */
	struct call *next;      /* in the wait queue */
};

struct connector {
	int id;                 /* 1.6 connectorId / 2.0.1 evseId*100+connectorId */
	char status[24];
	char error_code[40];
	char vendor_error[52];  /* 1.6 vendorErrorCode, 2.0.1 NotifyEvent techCode */
	bool problem;           /* 2.0.1: NotifyEvent says the Problem variable is true */
};

struct transaction {
	bool active;
	char id[40];            /* 1.6 integer as text, 2.0.1 transactionId */
	int connector;
	char id_token[40];
	double start_wh;
	double energy_wh;
	double peak_w;          /* highest Power.Active.Import reported during the session */
	bool unconfirmed;       /* open before the charger booted again: ends unless it resumes */
};

struct meter_sample {
	double current_a[3];
	double voltage_v[3];
	double power_w;
	double energy_wh;
	double soc_pct;         /* < 0: unknown */
	uint64_t at_ms;         /* 0: never */
	uint64_t current_at_ms; /* when a Current.Import per phase last came in; 0: never */
};

/* An EV's departure time and energy need for the session in progress, as one source gave it
 * (charger-needs.c). */
struct needs {
	int64_t departure_wall_ms;      /* epoch ms; 0 = not given */
	double energy_wh;               /* what was asked for; < 0 = not given */
	double delivered_wh;            /* what the session had delivered when it was given */
	double max_a;                   /* the EV's own maximum current per phase (2.0.1 evMaxCurrent,
					 * AC only); 0 = not given (a manager does not set it) */
	double min_a;                   /* and its minimum (evMinCurrent); 0 = not given */
};

/* The edge's own charging profiles on one charger (profiles.c): what was sent, what the charger
 * accepted, when to renew. profiles.c alone writes and resets it (on PROXY_CLOSED and
 * PROXY_LIMITS_CLEARED); the site reads it to judge an EV's draw against what it was given. */
struct edge_profiles {
	double sent_limit_a;            /* what the charger last accepted; < 0 = nothing yet */
	double pending_limit_a;         /* what the profile in flight carries */
	int sent_stack;                 /* stack level of the dynamic profile the charger accepted */
	int pending_stack;              /* stack level of the profile in flight */
	uint64_t sent_changed_ms;       /* when the charger accepted a new sent_limit_a (not a renewal)
					 * or its base profile */
	uint64_t raised_ms;             /* when the last increase went out (profiles.c rate-limits them) */
	double before_raise_a;          /* the limit the charger held before that increase */
	uint64_t lowered_ms;            /* when the last decrease went out */
	uint64_t decrease_since_ms;     /* since when a target below what it accepted waits; 0 = none */
	uint64_t raise_hold_ms;         /* the wait between increases now in force; 0 = the shortest */
	bool profile_in_flight;
	int in_flight_id;               /* its chargingProfileId: PROFILE_ID_BASE or _DYNAMIC */
	uint64_t profile_renew_ms;      /* when to renew the dynamic profile */
	bool base_installed;
	bool not_controllable;          /* refused three profiles in a row: assumed at its maximum */
	int profile_failures;
};

struct proxy;
struct replay_ch;

struct charger {
	char id[49];
	struct proxy *proxy;            /* the owner, for callbacks that get only the charger */
	size_t index;                   /* in proxy->chargers */
	bool touched;                   /* in proxy->touched */
	char *spare_text;               /* the last answered call's text buffer, for the next */
	size_t spare_cap;               /* its size (or of from_charger.text's, when held_spare) */
	bool held_spare;                /* from_charger.text is that buffer */
	const struct cfg_charger *cfg;  /* NULL for an unknown station let in as pending */
	bool pending;
	enum ocpp_version version;
	struct ws_link down;            /* to the charger */
	struct ws_link up;              /* to the CSMS */
	enum up_state up_state;
	struct lws *up_connecting;      /* the uplink before ESTABLISHED: its opaque data is this charger */
	uint64_t up_retry_ms;
	int up_attempts;
	char auth_header[256];          /* what the charger sent (credentials = "forward") */

	struct call from_charger;       /* the charger's CALL until its result comes back */
	struct call to_charger;         /* the CSMS's or the edge's CALL until the charger answers */
	struct call *wait_head;         /* calls waiting for to_charger to be free */
	struct call *wait_tail;
	uint32_t next_edge_id;
	struct replay_ch *rp;           /* outbox and replay state (replay.c); NULL when never queued */
	uint64_t store_mark;            /* the store batch holding its last call's rows (store_mark) */

	/* What was read from the frames. */
	char vendor[64], model[64], firmware[64], serial[64];
	bool booted;                    /* BootNotification accepted, or the charger resumed without one */
	uint64_t boot_seen_ms;          /* when it last sent a BootNotification (this connection if >= connected_ms) */
	int heartbeat_s;
	uint64_t connected_ms, last_rx_ms;
	uint64_t rx_frames;             /* frames heard from it, ever: orders two in the same ms */
	struct connector connectors[CHARGER_CONNECTORS];
	int n_connectors;
	struct transaction tx[CHARGER_TX];
	struct meter_sample meter;

	/* Limits. */
	double csms_limit_a;            /* the station-wide limit of the CSMS's latest max profile; 0 = none */
	int csms_max_stack;             /* highest stack level the CSMS used; -1 = none */
	double limit_a;                 /* the edge's allocation (the solver's output) */
	char binding[48];               /* what bound limit_a */
	struct edge_profiles prof;      /* profiles.c alone (charger_new: nothing installed) */
	int priority_override;          /* a site manager's priority until restart; -1 = none */

	/* A station not in the configuration (pending.c). */
	char peer[64];                  /* the address it connected from */
	int64_t first_seen_ms;          /* wall clock of its first connection; 0 = configured */
	struct cfg_charger accepted_cfg;/* its default wiring once a manager accepted it */
	/* Departure and energy need of the session in progress: what the EV said (2.0.1
	 * NotifyEVChargingNeeds) and what a site manager set; the manager's values win. Per charger,
	 * not per EVSE (most chargers have one); both end with the session. */
	struct needs ev_needs;
	struct needs mgr_needs;
	int needs_evse;                 /* the EVSE the EV's needs came for; 0 = unknown */
};

struct charger *charger_new(const char *id, const struct cfg_charger *cfg);
void charger_free(struct charger *ch);
/* Forget the calls in flight and the links' buffers (the charger's socket closed). */
void charger_reset_calls(struct charger *ch);
void call_clear(struct call *c);

bool charger_online(const struct charger *ch);
/* The charger's safe current: its own fallback_a, else site.fallback_a. */
double charger_fallback_a(const struct charger *ch, const struct ag_config *cfg);
/* May the edge send the charger its profiles and settings? Once its boot was accepted, or when
 * it reconnected without booting (it was accepted before: after an ampgated restart, chargers
 * only reconnect): at its first other CALL, or CHARGER_BOOT_WAIT_MS after connecting with no
 * BootNotification. Never while a BootNotification it sent waits for Accepted. */
#define CHARGER_BOOT_WAIT_MS 5000
bool charger_ready(const struct charger *ch, uint64_t now_ms);

/* How the charger talks (docs/ARCHITECTURE.md, "Charger links"): offline (socket closed), silent
 * (socket open, nothing heard for `silent_after_s`, or for twice its heartbeat interval when that
 * is 0), else online. */
enum charger_link { LINK_OFFLINE, LINK_SILENT, LINK_ONLINE };
enum charger_link charger_link(const struct charger *ch, uint64_t now_ms, int silent_after_s);
/* How long nothing may be heard before the charger counts as silent, in ms. */
uint64_t charger_quiet_ms(const struct charger *ch, int silent_after_s);
const char *charger_link_name(enum charger_link l);
/* The connector/EVSE entry for `id`, created on first sight (NULL when the table is full). */
struct connector *charger_connector(struct charger *ch, int id);
/* The running transaction with `id`, or a free slot for a new one when `create`. */
struct transaction *charger_tx(struct charger *ch, const char *id, bool create);
int charger_active_tx(const struct charger *ch);
/* The priority in force (0..9, higher first): a site manager's override (site_set_priority), else
 * the configured one. */
int charger_priority(const struct charger *ch);

#endif
