/* The REST API under /api/v1, for a logged-in session (web.c has checked the cookie and, for
 * changes, the CSRF token). Reads are the JSON of state.c, the same the page, MQTT and /metrics
 * show; changes go through the site controller (site.h), which audits them. A viewer may read
 * everything and change nothing. */
#include "edge/ocpp/charger-needs.h"
#include "edge/health/health.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"
#include "edge/site/site.h"
#include "edge/view/state.h"
#include "edge/web/web-private.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHARGERS "/api/v1/chargers/"

/* The events' severities, least urgent first: ?severity= keeps this one and the more urgent. */
static const char *const severities[] = { "info", "notice", "warning", "error" };

/* GET /api/v1/events: newest first, `limit` (1..1000) a page, older than event `before`; filtered
 * by `from_ms`..`to_ms` (wall clock, to exclusive), the least `severity` and a charger (`subject`)
 * in SQL, so a date range reaches back past the newest thousand routine rows. */
static int events(struct web *w, struct web_req *r)
{
	char arg[64], subject[64] = "";
	const char *v;
	long long limit = 100, before = 0, from = 0, to = 0;
	int sev = 0;
	sqlite3_stmt *q;

	if ((v = lws_get_urlarg_by_name(r->wsi, "limit=", arg, sizeof(arg))))
		limit = strtoll(v, NULL, 10);
	if ((v = lws_get_urlarg_by_name(r->wsi, "before=", arg, sizeof(arg))))
		before = strtoll(v, NULL, 10);
	if ((v = lws_get_urlarg_by_name(r->wsi, "from_ms=", arg, sizeof(arg))))
		from = strtoll(v, NULL, 10);
	if ((v = lws_get_urlarg_by_name(r->wsi, "to_ms=", arg, sizeof(arg))))
		to = strtoll(v, NULL, 10);
	if ((v = lws_get_urlarg_by_name(r->wsi, "subject=", arg, sizeof(arg))))
		snprintf(subject, sizeof(subject), "%s", v);
	if ((v = lws_get_urlarg_by_name(r->wsi, "severity=", arg, sizeof(arg)))) {
		while (sev < 4 && strcmp(severities[sev], v) != 0)
			sev++;
		if (sev == 4)
			return web_error(r, 400, "severity must be info, notice, warning or error, not \"%s\"", v);
	}
	if (limit < 1 || limit > 1000)
		limit = 100;
	if (sqlite3_prepare_v2(store_db(w->d->store),
			       "SELECT id, time_ms, severity, kind, subject, message FROM events"
			       " WHERE (?1 <= 0 OR id < ?1) AND time_ms >= ?3 AND (?4 <= 0 OR time_ms < ?4)"
			       " AND (?5 = '' OR subject = ?5)"
			       " AND CASE severity WHEN 'error' THEN 3 WHEN 'warning' THEN 2 WHEN 'notice' THEN 1 ELSE 0 END >= ?6"
			       " ORDER BY id DESC LIMIT ?2",
			       -1, &q, NULL) != SQLITE_OK)
		return web_error(r, 500, "cannot read the events from the database: %s", sqlite3_errmsg(store_db(w->d->store)));
	sqlite3_bind_int64(q, 1, before);
	sqlite3_bind_int64(q, 2, limit);
	sqlite3_bind_int64(q, 3, from);
	sqlite3_bind_int64(q, 4, to);
	sqlite3_bind_text(q, 5, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, sev);
	json_t *a = json_array();
	while (a && sqlite3_step(q) == SQLITE_ROW) {
		const char *subj = (const char *)sqlite3_column_text(q, 4);
		json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:s, s:s?, s:s}", "id",
						   (json_int_t)sqlite3_column_int64(q, 0), "time_ms",
						   (json_int_t)sqlite3_column_int64(q, 1), "severity",
						   (const char *)sqlite3_column_text(q, 2), "kind",
						   (const char *)sqlite3_column_text(q, 3), "subject", subj, "message",
						   (const char *)sqlite3_column_text(q, 5)));
	}
	sqlite3_finalize(q);
	return web_reply_json(r, 200, a);
}

/* The charger id in "/api/v1/chargers/<id>[/<rest>]" into `id`; `rest` points after it. */
static bool charger_path(const char *uri, char *id, size_t size, const char **rest)
{
	if (strncmp(uri, CHARGERS, strlen(CHARGERS)) != 0)
		return false;
	const char *s = uri + strlen(CHARGERS), *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (!n || n >= size)
		return false;
	memcpy(id, s, n);
	id[n] = '\0';
	*rest = s + n;
	return true;
}

/* /api/v1/history[?span=hour|day|week]: the hour when not said. */
static int history(struct web *w, struct web_req *r)
{
	char arg[32];
	const char *span = lws_get_urlarg_by_name(r->wsi, "span=", arg, sizeof(arg));

	if (!span || !*span)
		span = "hour";
	if (strcmp(span, "hour") && strcmp(span, "day") && strcmp(span, "week"))
		return web_error(r, 400, "span must be hour, day or week, not \"%s\"", span);
	return web_reply_json(r, 200, web_history_json(w, span));
}

static int get(struct web *w, struct web_req *r)
{
	struct ag_daemon *d = w->d;
	const char *u = r->uri, *rest;
	char id[64];

	if (strcmp(u, "/api/v1/session") == 0)
		return web_reply_json(r, 200, web_session_json(r->session));
	if (strcmp(u, "/api/v1/site") == 0)
		return web_reply_json(r, 200, state_site(d));
	if (strcmp(u, "/api/v1/chargers") == 0)
		return web_reply_json(r, 200, state_chargers(d));
	if (strcmp(u, "/api/v1/devices") == 0)
		return web_reply_json(r, 200, state_devices(d));
	if (strcmp(u, "/api/v1/events") == 0)
		return events(w, r);
	if (strcmp(u, "/api/v1/history") == 0)
		return history(w, r);
	if (strncmp(u, "/api/v1/pending", 15) == 0)
		return web_pending_get(w, r);
	if (strcmp(u, "/api/v1/sessions") == 0 || strcmp(u, "/api/v1/energy") == 0)
		return web_sessions_get(w, r);
	if (charger_path(u, id, sizeof(id), &rest) && (!*rest || strcmp(rest, "/health") == 0)) {
		struct charger *ch = d->proxy ? proxy_find(d->proxy, id) : NULL;
		if (!ch)
			return web_error(r, 404, "there is no charger %s on this site", id);
		return web_reply_json(r, 200, *rest ? health_json(d, ch) : state_charger(d, ch));
	}
	if (charger_path(u, id, sizeof(id), &rest) && strcmp(rest, "/timeline") == 0)
		return web_timeline_get(w, r, id);
	if (strcmp(u, "/api/v1/site/limit") == 0 ||
	    (charger_path(u, id, sizeof(id), &rest) && (strcmp(rest, "/priority") == 0 || strcmp(rest, "/needs") == 0)))
		return web_error(r, 405, "%s takes changes (POST); read the site or the charger instead", u);
	return web_error(r, 404, "there is no API %s", u);
}

static int set_priority(struct web *w, struct web_req *r, const char *id, json_t *body, const char *who)
{
	json_t *v = json_object_get(body, "priority");
	int prio;

	if (json_is_null(v))
		prio = -1; /* back to the configured priority */
	else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 9)
		prio = (int)json_integer_value(v);
	else
		return web_error(r, 400, "priority must be a whole number from 0 to 9 (higher charges first), or null for "
					 "the configured one");
	int rc = site_set_priority(w->d, id, prio, who);
	if (rc == -ENOENT)
		return web_error(r, 404, "there is no charger %s on this site", id);
	if (rc < 0)
		return web_error(r, 400, "priority not changed: %s", strerror(-rc));
	return web_reply_json(r, 200, state_charger(w->d, proxy_find(w->d->proxy, id)));
}

/* {"departure": RFC 3339 | null, "energy_kwh": kWh | null} for the session in progress. */
static int set_needs(struct web *w, struct web_req *r, const char *id, json_t *body, const char *who)
{
	struct needs n;
	char err[200];

	if (needs_parse(body, &n, err, sizeof(err)) < 0)
		return web_error(r, 400, "%s", err);
	int rc = site_set_needs(w->d, id, &n, who);
	if (rc == -ENOENT)
		return web_error(r, 404, "there is no charger %s on this site", id);
	if (rc == -ESRCH)
		return web_error(r, 409, "charger %s has no charging session: departure and energy need are set for the "
					 "session in progress, once the vehicle has started charging", id);
	if (rc < 0)
		return web_error(r, 400, "needs not changed: %s", strerror(-rc));
	return web_reply_json(r, 200, state_charger(w->d, proxy_find(w->d->proxy, id)));
}

static int set_limit(struct web *w, struct web_req *r, json_t *body, const char *who)
{
	json_t *lim = json_object_get(body, "limit_a"), *dur = json_object_get(body, "duration_s");
	double limit_a = json_is_null(lim) || !lim ? 0 : json_is_number(lim) ? json_number_value(lim) : NAN;
	json_int_t duration_s = json_is_integer(dur) ? json_integer_value(dur) : 0;

	char why[200];

	if (!isfinite(limit_a) || limit_a < 0 || (limit_a > 0 && (duration_s < 1 || duration_s > 86400)))
		return web_error(r, 400, "send limit_a (amps per phase, more than 0; 0 or null clears the temporary "
					 "limit) and duration_s (1 to 86400 seconds)");
	if (limit_a > 0 && config_override_check(w->d->cfg, limit_a, why, sizeof(why)) < 0)
		return web_error(r, 400, "site limit not changed: %s", why);
	int rc = site_override_limit(w->d, limit_a, (int)duration_s, who);
	if (rc < 0)
		return web_error(r, rc == -ENODEV ? 503 : 400, "site limit not changed: %s",
				 rc == -ENODEV ? "the site controller is not running" : strerror(-rc));
	return web_reply_json(r, 200, state_site(w->d));
}

static int post(struct web *w, struct web_req *r)
{
	const char *u = r->uri, *rest;
	char id[64], who[80];
	bool on_charger = charger_path(u, id, sizeof(id), &rest);
	bool priority = on_charger && strcmp(rest, "/priority") == 0;
	bool needs = on_charger && strcmp(rest, "/needs") == 0;
	bool limit = strcmp(u, "/api/v1/site/limit") == 0;

	if (strncmp(u, "/api/v1/pending/", 16) == 0)
		return web_pending_post(w, r);
	if (!priority && !needs && !limit)
		return web_error(r, 404, "there is no API %s that takes changes", u);
	if (r->session->role != ROLE_MANAGER)
		return web_error(r, 403, "%s is a viewer: only a manager may change priorities, departures and energy "
					 "needs, or the site limit", r->session->user);
	json_t *body = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	if (!json_is_object(body)) {
		json_decref(body);
		return web_error(r, 400, "send a JSON object");
	}
	snprintf(who, sizeof(who), "web:%s", r->session->user);
	int rc = priority ? set_priority(w, r, id, body, who) : needs ? set_needs(w, r, id, body, who) :
		 set_limit(w, r, body, who);
	json_decref(body);
	return rc;
}

int web_api(struct web *w, struct web_req *r)
{
	return r->post ? post(w, r) : get(w, r);
}
