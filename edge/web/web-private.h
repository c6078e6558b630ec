/* Shared between the web modules: web.c (vhost, routing, static files, replies), web-auth.c
 * (users, sessions, lockout, CSRF), web-api.c (REST), web-live.c (WebSocket push and history)
 * and web-metrics.c (/metrics). Not for other modules.
 *
 * The module's state is one file-static struct in web.c, not a heap object: libwebsockets may
 * still call back for connections that close while the context is being destroyed, after
 * web_stop, so the memory those callbacks reach must outlive the module. `d` is NULL once the
 * module has stopped; every callback checks it. */
#ifndef AG_WEB_PRIVATE_H
#define AG_WEB_PRIVATE_H

#include "edge/daemon.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define WEB_SESSIONS 64
#define WEB_SESSION_IDLE_S 3600         /* an hour without a request or an open live view */
#define WEB_SESSION_MAX_S (24 * 3600)   /* then log in again, however busy */
#define WEB_FAIL_LIMIT 5                /* wrong passwords before a lock */
#define WEB_FAIL_WINDOW_S 900           /* ... counted within this window */
#define WEB_LOCK_S 300                  /* how long a user or a source stays locked */
#define WEB_FAIL_SLOTS 128              /* source addresses; users have one counter each */
#define WEB_USERS_MAX 100               /* web.users holds at most this many (config-keys.c) */
#define WEB_VERIFY_MAX 2                /* password checks running at once (each ~0.3 s of a core) */
#define WEB_BODY_MAX 4096
#define WEB_HISTORY 3600                /* one sample a second: the last hour */

enum web_role { ROLE_NONE, ROLE_VIEWER, ROLE_MANAGER };

struct web_session {
	bool used;
	char id[33];                    /* 128 random bits, hex */
	char csrf[33];                  /* sent back in X-CSRF-Token on every change */
	char user[49];
	enum web_role role;
	uint64_t created_ms, seen_ms;
};

struct web_fail {
	char key[64];                   /* a configured user's name, or a source address */
	int count;
	uint64_t first_ms, locked_until_ms;
};

struct web_sample {
	int64_t t_ms;                   /* wall clock, for the chart's time axis */
	float grid_a[AG_PHASES], ev_a[AG_PHASES], alloc_a[AG_PHASES], limit_a;
};

/* The minute being gathered for site_history (web-history.c): sums and counts of the averaged
 * fields (a value that is not known is not counted), and the limit nodes that bound. */
enum web_minute_field {
	WM_GRID_A = 0, WM_GRID_KW = 3, WM_EV_A = 4, WM_EV_KW = 7, WM_ALLOC_A = 8, WM_ALLOC_KW = 11, WM_LIMIT_A = 12,
	WM_FIELDS = 13
};
#define WEB_BOUND_NODES 16
struct web_minute {
	int64_t minute_ms;              /* wall clock, the minute's start */
	int samples;
	double sum[WM_FIELDS];
	int count[WM_FIELDS];
	char node[WEB_BOUND_NODES][40]; /* "grid", "feeder-a"; "" = free slot */
	int node_samples[WEB_BOUND_NODES];
	/* The minute's last sample, so that a later one in the same second replaces it (the live
	 * ring keeps one sample a second, newest wins; the minutes must count the same samples). */
	int64_t last_s;
	double last[WM_FIELDS];
	char last_bound[WEB_BOUND_NODES];
	uint64_t pruned_ms;
	struct sqlite3_stmt *insert_row, *insert_bound, *prune_rows, *prune_bound;
};

/* One open live view (the lws per-session data of the "ampgate-live" protocol). */
struct web_live {
	struct lws *wsi;
	struct web_live *next;
	struct web_session *session;
	char sid[33];                   /* the session is checked again on every push */
	char *msg;                      /* the latest state not yet sent (LWS_PRE headroom) */
	size_t msg_len;
};

struct web {
	struct ag_daemon *d;            /* NULL when stopped */
	struct lws_vhost *vh;
	bool tls;
	struct web_session sessions[WEB_SESSIONS];
	struct web_fail fails[WEB_FAIL_SLOTS];         /* by source address */
	struct web_fail user_fails[WEB_USERS_MAX];     /* by configured user: never evicted by traffic */
	int verifying;
	/* live push */
	struct web_live *live;          /* the open live views */
	uv_timer_t push_timer;
	bool push_timer_open;
	uint64_t pushed_ms;
	uint64_t pushes;
	struct web_sample history[WEB_HISTORY];
	size_t hist_head, hist_len;
	int64_t hist_last_s;
	struct web_minute minute;       /* the day and week history (web-history.c) */
};

/* One HTTP request (the lws per-session data of the "http" protocol). */
struct web_req {
	struct lws *wsi;
	char uri[256];
	char peer[64];
	bool post;
	bool body_too_large;
	char *body;
	size_t body_len;
	struct web_session *session;    /* resolved from the cookie; NULL = none */
	bool origin_ok;                 /* no Origin, or our own */
	const char *csrf_refused;       /* POST with a session: why it may not change anything */
	struct login_job *job;          /* a password check in flight for this request */
	/* a reply waiting for HTTP_WRITEABLE (login answers come from the thread pool) */
	int status;
	char *reply;
	size_t reply_len;
	char set_cookie[200];
};

struct web *web_state(void);

/* ---- web.c: replies. Call from a callback of req->wsi. They return what the callback
 * returns (0 keep going, -1 close). `body` may be NULL for an empty body. */
int web_reply(struct web_req *r, int status, const char *type, const char *body, size_t len);
/* JSON (takes the reference of `j`; NULL -> 500). */
int web_reply_json(struct web_req *r, int status, json_t *j);
/* {"error": message} — words a site manager understands. */
int web_error(struct web_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Keep `status`, `body` (taken) and req->set_cookie for LWS_CALLBACK_HTTP_WRITEABLE. */
void web_reply_later(struct web_req *r, int status, char *body);
/* "127.0.0.1", "::1": requests from the box itself. */
bool web_peer_is_loopback(const char *peer);

/* ---- web-auth.c */
/* The value of cookie `name` (matched whole) in a Cookie header into `out`: 0, -ENOENT, -ENOSPC. */
int web_cookie_value(const char *header, const char *name, char *out, size_t size);
/* The session named by the request's cookie, refreshed; NULL if none or expired. */
struct web_session *web_session_find(struct web *w, struct lws *wsi);
/* For changes: the session's CSRF token in X-CSRF-Token and, when the browser names one, an
 * Origin equal to our own. NULL when fine, else the reason for a 403. */
const char *web_csrf_refused(struct web *w, struct web_req *r);
/* Origin header absent or equal to the origin the request was sent to. */
bool web_origin_ok(struct web *w, struct lws *wsi);
int web_login(struct web *w, struct web_req *r);        /* POST /api/v1/login */
int web_logout(struct web *w, struct web_req *r);       /* POST /api/v1/logout */
json_t *web_session_json(const struct web_session *s);
void web_auth_forget(struct web *w, struct web_req *r); /* the request closed */
void web_auth_clear(struct web *w);                     /* stop: drop sessions and counters */
void web_auth_reload(struct web *w, const struct ag_config *cfg); /* drop counters of removed users */
const char *web_role_name(enum web_role role);

/* ---- web-api.c: /api/v1/... with a session. */
int web_api(struct web *w, struct web_req *r);

/* ---- web-pending.c: /api/v1/pending (GET) and /api/v1/pending/<id>/accept|reject (POST). */
int web_pending_get(struct web *w, struct web_req *r);
int web_pending_post(struct web *w, struct web_req *r);

/* ---- web-sessions.c: /api/v1/sessions[?from=&to=&charger=&format=csv] and /api/v1/energy. */
int web_sessions_get(struct web *w, struct web_req *r);
/* /api/v1/chargers/<id>/timeline?days=1..90: the charger's health states as stretches of time. */
int web_timeline_get(struct web *w, struct web_req *r, const char *charger_id);

/* ---- web-live.c */
int web_live_start(struct web *w);
void web_live_stop(struct web *w);
int web_live_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/* ---- web-history.c: the site's history by the minute in the store. */
struct site_status;
int web_history_start(struct web *w);
void web_history_stop(struct web *w);   /* writes the part-minute */
/* One live sample (about a second apart) into the minute being gathered. */
void web_history_sample(struct web *w, int64_t t_ms, const struct site_status *st);
/* /api/v1/history?span=hour|day|week: samples (the hour from memory, day and week from the
 * store in 5 and 30 minute buckets) and how often each limit bound. NULL for another span or
 * when the database cannot be read. */
json_t *web_history_json(struct web *w, const char *span);

/* ---- web-metrics.c: the text of /metrics (malloc'd, *len set), NULL on ENOMEM. */
char *web_metrics(struct web *w, size_t *len);

#endif
