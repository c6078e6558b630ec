/* /api/v1/pending: the stations that are not in the configuration, for a site manager to accept
 * or reject (pending.c keeps them and the decisions). GET for any session; POST
 * /api/v1/pending/<id>/accept and /reject for a manager, with the CSRF token web.c checked. */
#include "edge/ocpp/pending.h"
#include "edge/ocpp/proxy.h"
#include "edge/view/state.h"
#include "edge/web/web-private.h"

#include <errno.h>
#include <string.h>

#define PENDING "/api/v1/pending"

int web_pending_get(struct web *w, struct web_req *r)
{
	if (strcmp(r->uri, PENDING) != 0)
		return web_error(r, 404, "there is no API %s", r->uri);
	return web_reply_json(r, 200, pending_json(w->d->proxy, r->session->role == ROLE_MANAGER));
}

int web_pending_post(struct web *w, struct web_req *r)
{
	const char *s = r->uri + strlen(PENDING "/"), *slash = strchr(s, '/');
	char id[64], who[80];
	size_t n = slash ? (size_t)(slash - s) : 0;
	bool accept = slash && strcmp(slash, "/accept") == 0, reject = slash && strcmp(slash, "/reject") == 0;

	if (!n || n >= sizeof(id) || (!accept && !reject))
		return web_error(r, 404, "there is no API %s: use " PENDING "/<station id>/accept or /reject", r->uri);
	memcpy(id, s, n);
	id[n] = '\0';
	if (r->session->role != ROLE_MANAGER)
		return web_error(r, 403, "%s is a viewer: only a manager may accept or reject a station", r->session->user);
	if (!w->d->proxy)
		return web_error(r, 503, "the OCPP proxy is not running");
	snprintf(who, sizeof(who), "web:%s", r->session->user);
	int rc = accept ? pending_accept(w->d->proxy, id, who) : pending_reject(w->d->proxy, id, who);
	if (rc == -ENOENT)
		return web_error(r, 404, "no station %s waits for acceptance (it may have been decided already)", id);
	if (rc < 0)
		return web_error(r, 500, "station %s not %s: the decision could not be stored (%s); nothing changed", id,
				 accept ? "accepted" : "rejected", strerror(-rc));
	struct charger *ch = accept ? proxy_find(w->d->proxy, id) : NULL;
	return web_reply_json(r, 200, ch ? state_charger(w->d, ch) : json_pack("{s:s, s:s}", "id", id, "decision",
									      "rejected"));
}
