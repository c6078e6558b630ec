/* The OCPP proxy: chargers in (ocpp-server.c), the CSMS out (ocpp-upstream.c), and between them
 * the routing rules of docs/ARCHITECTURE.md ("OCPP rules") — everything forwarded byte for
 * byte while the uplink is up, at most one CALL outstanding per direction, the edge's own calls
 * queued behind the CSMS's and their results consumed, the edge answering for the CSMS when
 * there is none.
 *
 * The OCPP core includes nothing of the layers above it: they hear of chargers through
 * proxy_subscribe and have it send through proxy_edge_call (docs/ARCHITECTURE.md, "Layers").
 * Runs on the loop thread. A daemon module (proxy_start/stop/reload_apply). */
#ifndef AG_PROXY_H
#define AG_PROXY_H

#include "edge/ocpp/charger.h"
#include "edge/ocpp/charger-index.h"

#include <jansson.h>
#include <uv.h>

struct ag_daemon;
struct replay;

/* What happens to a charger, told to the features above the OCPP core (profiles, charger setup,
 * health, the site), so the core calls none of them. Subscribers are called in the order they
 * subscribed. */
enum proxy_event {
	PROXY_CONNECTED,        /* its socket is open (a pending station's first one too) */
	PROXY_BOOTED,           /* its boot was accepted, or it resumed without booting */
	PROXY_CLOSED,           /* its socket closed: what was set up on this connection is void */
	PROXY_REMOVED,          /* about to be freed (proxy_del): drop every pointer to it */
	PROXY_TICK,             /* the core's periodic tick (TICK_MS), for an online charger */
	PROXY_NEEDS_CHANGED,    /* its EV's departure or energy need changed or ended */
	PROXY_ACCEPTED,         /* a pending station was accepted by a site manager */
	PROXY_LIMITS_CLEARED,   /* the CSMS cleared charging profiles, maybe the edge's own too */
};
typedef void (*proxy_cb)(void *arg, struct proxy *p, struct charger *ch, enum proxy_event ev, uint64_t now);
#define PROXY_SUBSCRIBERS 8

struct proxy {
	struct ag_daemon *d;
	struct charger **chargers;
	size_t n_chargers, cap_chargers;
	struct charger_index by_id;     /* the same chargers, by station id (proxy_find) */
	struct lws_vhost *server;
	struct lws_loop_listener *listener; /* the OCPP port (ocpp-server.c) */
	struct lws_vhost *client;
	uv_timer_t tick;
	size_t tick_slice;              /* which part of `chargers` the next tick walks (proxy.c) */
	char upstream_host[256];
	char upstream_path[512];
	int upstream_port;
	bool upstream_tls;
	uint64_t frames_in, frames_out, rejected;
	struct replay *replay;          /* the outbox and its replay (replay.c) */
	/* charger-model.c's statements for the rows a StatusNotification writes, prepared once at
	 * charger_model_load: the connector row, and closing sessions (1.6, 2.0.1). */
	struct sqlite3_stmt *put_connector, *close_sessions[2];
	/* Chargers a frame, a connection or a call changed since the observer (health) last
	 * drained this: it looks at those instead of every charger after every loop turn. */
	struct charger **touched;
	size_t n_touched, cap_touched;
	/* Chargers whose link holds an answer until the store's batch is committed (the CSMS's
	 * answer to a call whose rows are not on disk yet): released by proxy_store_committed. */
	struct charger **held;
	size_t n_held, cap_held;
	struct { proxy_cb cb; void *arg; } subs[PROXY_SUBSCRIBERS];
};

/* Be told of every charger event (0, -ENOSPC). Unsubscribe before `arg` goes. */
int proxy_subscribe(struct proxy *p, proxy_cb cb, void *arg);
void proxy_unsubscribe(struct proxy *p, proxy_cb cb, void *arg);
/* Tell the subscribers (the core's own files: charger-model.c, pending.c). */
void proxy_emit(struct proxy *p, struct charger *ch, enum proxy_event ev);

int proxy_start(struct ag_daemon *d);
void proxy_stop(struct ag_daemon *d);
/* Reload, once every module accepted `new_cfg`: the chargers point into it from now on. */
void proxy_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg);

struct charger *proxy_find(struct proxy *p, const char *id);
/* A station's entry (`cfg` NULL: pending); NULL on ENOMEM. */
struct charger *proxy_add(struct proxy *p, const char *id, const struct cfg_charger *cfg);
/* Forget a station the edge holds no state for elsewhere (a pending one): its socket is
 * killed and `ch` freed. */
void proxy_del(struct proxy *p, struct charger *ch);
/* A pending (unknown, allow_unknown) station's entry, created on first sight. */
struct charger *proxy_add_pending(struct proxy *p, const char *id);

/* The daemon committed the store's batch (`ok`) before the loop waits: the answers held for it
 * go out; if the commit failed, their chargers' connections are closed instead (each will send
 * its call again). */
void proxy_store_committed(struct proxy *p, bool ok);

/* Mark `ch` changed (see struct proxy's touched). */
void proxy_touch(struct proxy *p, struct charger *ch);

/* Frames arriving from either side (whole messages, not NUL-terminated necessarily). */
void proxy_from_charger(struct proxy *p, struct charger *ch, const char *text, size_t len);
void proxy_from_csms(struct proxy *p, struct charger *ch, const char *text, size_t len);

/* Link events. */
void proxy_charger_connected(struct proxy *p, struct charger *ch);
void proxy_charger_closed(struct proxy *p, struct charger *ch);
void proxy_upstream_opened(struct proxy *p, struct charger *ch);
void proxy_upstream_closed(struct proxy *p, struct charger *ch, const char *why);

/* The edge's own CALL to a charger, queued behind the CSMS's. Takes `payload`. 0 or -errno.
 * The one way the layers above have the core send something (profiles, setup, healing). */
int proxy_edge_call(struct proxy *p, struct charger *ch, const char *action, json_t *payload, edge_call_cb cb);
/* The same with the payload already written as JSON text (a frequent call filled in from a
 * template, no document built); its callback gets a NULL request. */
int proxy_edge_call_text(struct proxy *p, struct charger *ch, const char *action, const char *payload_json,
			 edge_call_cb cb);

/* The answer to the charger's CALL (the edge's own, or the CSMS's passed on), after what it
 * acknowledges is on disk: written now when the store holds nothing uncommitted, else queued for
 * the link's next WRITEABLE, which comes after the loop's commit (edge/core/store.h). */
void proxy_answer_charger(struct proxy *p, struct charger *ch, const char *text, size_t len);

/* Answer a CALL from the charger as the CSMS would (no CSMS configured or reachable). */
void proxy_answer_locally(struct proxy *p, struct charger *ch, const struct ocpp_frame *f);

#endif
