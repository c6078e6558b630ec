/* The OCPP proxy: chargers in (ocpp-server.c), the CSMS out (ocpp-upstream.c), and between them
 * the routing rules of DESIGN.md — everything forwarded byte for byte while the uplink is up, at
 * most one CALL outstanding per direction, the edge's own calls queued behind the CSMS's and
 * their results consumed, the edge answering for the CSMS when there is none.
 *
 * Runs on the loop thread. A daemon module (proxy_start/stop/reload). */
#ifndef AG_PROXY_H
#define AG_PROXY_H

#include "edge/charger.h"

#include <jansson.h>
#include <uv.h>

struct ag_daemon;
struct replay;

struct proxy {
	struct ag_daemon *d;
	struct charger **chargers;
	size_t n_chargers, cap_chargers;
	struct lws_vhost *server;
	struct lws_vhost *client;
	uv_timer_t tick;
	char upstream_host[256];
	char upstream_path[512];
	int upstream_port;
	bool upstream_tls;
	uint64_t frames_in, frames_out, rejected;
	struct replay *replay;          /* the outbox and its replay (replay.c) */
};

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

/* Frames arriving from either side (whole messages, not NUL-terminated necessarily). */
void proxy_from_charger(struct proxy *p, struct charger *ch, const char *text, size_t len);
void proxy_from_csms(struct proxy *p, struct charger *ch, const char *text, size_t len);

/* Link events. */
void proxy_charger_connected(struct proxy *p, struct charger *ch);
void proxy_charger_closed(struct proxy *p, struct charger *ch);
void proxy_upstream_opened(struct proxy *p, struct charger *ch);
void proxy_upstream_closed(struct proxy *p, struct charger *ch, const char *why);

/* The edge's own CALL to a charger, queued behind the CSMS's. Takes `payload`. 0 or -errno. */
int proxy_edge_call(struct proxy *p, struct charger *ch, const char *action, json_t *payload, edge_call_cb cb);

/* Answer a CALL from the charger as the CSMS would (no CSMS configured or reachable). */
void proxy_answer_locally(struct proxy *p, struct charger *ch, const struct ocpp_frame *f);

#endif
