/* The charger-facing WebSocket server; see ocpp-server.h.
 *
 * Refusals happen in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, before the WebSocket exists, so a charger
 * with a wrong password gets a real HTTP/1.1 401 (with WWW-Authenticate) and one offering no OCPP
 * subprotocol a 400, instead of the silent hang-up libwebsockets gives by itself. An unknown
 * station gets the very same 401 as a wrong password, so station ids cannot be enumerated.
 *
 * The one exception is a password that must be checked against a hash not yet in the cache
 * (ocpp-auth.h): PBKDF2 takes too long for the loop, and lws cannot hold an upgrade's answer, so
 * the upgrade goes ahead with the connection's reads paused, and the charger joins the site only
 * once the thread pool said yes; a wrong one is closed with 1008 and refused with 401 at once on
 * its next attempt. When the site has hashed passwords, unknown stations and wrong plain
 * passwords take that same path on first sight, so none of them tells a station id apart. */
#include "edge/ocpp/ocpp-server.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/core/lws-loop.h"
#include "edge/core/net-addr.h"
#include "edge/ocpp/ocpp-auth.h"
#include "edge/ocpp/ocpp-upstream.h"
#include "edge/core/passwd.h"
#include "edge/ocpp/pending.h"
#include "edge/ocpp/proxy.h"

#include <openssl/crypto.h>
#include <string.h>

/* A connection let through the upgrade while its password is verified off the loop. */
struct upgrade {
	struct proxy *p;
	struct lws *wsi;                /* NULL once the connection is gone */
	bool established, done, ok;
	char id[49], peer[64], auth[320];
};

struct pss {
	struct charger *ch;
	struct upgrade *up;             /* credentials still being verified */
	int close_code;                 /* nonzero: close with it at the next WRITEABLE */
	const char *close_reason;       /* static text */
	int peer_code;                  /* the charger's own close frame, to pass on to the CSMS */
	char peer_reason[124];
};

const char *ocpp_station_id(const char *uri, const char *path)
{
	size_t pl = strlen(path);

	while (pl && path[pl - 1] == '/')
		pl--;
	if (strncmp(uri, path, pl) != 0 || uri[pl] != '/')
		return NULL;
	const char *id = uri + pl + 1;
	if (!*id || strlen(id) > 48 || strpbrk(id, "/?#% "))
		return NULL;
	return id;
}

static bool offers(const char *list, const char *name)
{
	char copy[256], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		if (strcmp(t, name) == 0)
			return true;
	return false;
}

/* The peer's address as people write it (no ::ffff: before an IPv4 address). */
static void peer_of(struct lws *wsi, char *peer, size_t size)
{
	lws_get_peer_simple(wsi, peer, size);
	if (strncmp(peer, "::ffff:", 7) == 0 && strchr(peer, '.'))
		memmove(peer, peer + 7, strlen(peer + 7) + 1);
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* Answer the upgrade with `status` and `why` and close. lws_add_http_header_status would say
 * HTTP/1.0 here (lws learns the request's version only for plain HTTP requests), which common
 * WebSocket clients report as "invalid HTTP response" instead of the status: write the status
 * line ourselves. */
static int refuse(struct lws *wsi, int status, const char *why)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	size_t n = strlen(why);

	p += snprintf((char *)p, (size_t)(end - p), "HTTP/1.1 %d %s\r\n", status, status_text(status));
	if ((status == 401 &&
	     lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE, (unsigned char *)"Basic realm=\"ocpp\"",
					  18, &p, end)) ||
	    ((status == 429 || status == 503) &&
	     lws_add_http_header_by_name(wsi, (unsigned char *)"Retry-After:", (unsigned char *)"5", 1, &p, end)) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (unsigned char *)"close", 5, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (unsigned char *)"text/plain", 10, &p, end) ||
	    lws_add_http_header_content_length(wsi, n, &p, end) || lws_finalize_http_header(wsi, &p, end))
		return -1;
	if ((size_t)(end - p) < n)
		return -1;
	memcpy(p, why, n);
	p += n;
	if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
		return -1;
	return 1;
}

static bool site_has_hashes(const struct ag_config *cfg)
{
	for (size_t i = 0; i < cfg->n_chargers; i++)
		if (cfg->chargers[i].password_hash)
			return true;
	return false;
}

static void established(struct proxy *p, struct lws *wsi, struct pss *pss, const char *id, const char *peer,
			const char *auth);

/* The connection's verification is over and the WebSocket is up: let it in, or close it. */
static void upgrade_finish(struct upgrade *up)
{
	struct pss *pss = lws_wsi_user(up->wsi);

	pss->up = NULL;
	if (up->ok)
		established(up->p, up->wsi, pss, up->id, up->peer, up->auth);
	lws_rx_flow_control(up->wsi, 1); /* also for the peer's answer to our close */
	if (!pss->ch) {
		if (!up->ok && ocpp_auth_refused(up->peer, now_ms()))
			log_msg(LL_WARN, "charger %s (%s) refused: wrong user or password (check the charger's AuthorizationKey "
					 "against the configuration)", up->id, up->peer);
		pss->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
		pss->close_reason = "authorization failed";
		lws_callback_on_writable(up->wsi);
	}
	OPENSSL_cleanse(up, sizeof(*up));
	free(up);
}

static void upgrade_verified(void *arg, bool ok)
{
	struct upgrade *up = arg;

	up->done = true;
	up->ok = ok;
	if (!up->wsi) {
		OPENSSL_cleanse(up, sizeof(*up));
		free(up);
	} else if (up->established) {
		upgrade_finish(up);
	}
}

/* The connection ended before ESTABLISHED: its verification may still be running. */
static void upgrade_orphan(struct lws *wsi)
{
	struct upgrade *up = lws_get_opaque_user_data(wsi);

	if (!up)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	up->wsi = NULL;
	if (up->done) {
		OPENSSL_cleanse(up, sizeof(*up));
		free(up);
	}
}

/* Start verifying `pass` off the loop; the upgrade goes ahead. 0 allow, 1 refused (answered). */
static int defer_upgrade(struct proxy *p, struct lws *wsi, const struct cfg_charger *c, const char *id,
			 const char *peer, const char *auth, const char *pass)
{
	struct upgrade *up = calloc(1, sizeof(*up));

	if (!up)
		return refuse(wsi, 503, "the edge is out of memory; try again in a moment\n");
	up->p = p;
	up->wsi = wsi;
	snprintf(up->id, sizeof(up->id), "%s", id);
	snprintf(up->peer, sizeof(up->peer), "%s", peer);
	snprintf(up->auth, sizeof(up->auth), "%s", auth);
	if (ocpp_auth_verify(&p->d->loop, c, id, pass, upgrade_verified, up) < 0) {
		free(up);
		if (ocpp_auth_refused(peer, now_ms()))
			log_msg(LL_NOTICE, "charger %s (%s) asked to come back: %d passwords are being checked already",
				id, peer, OCPP_AUTH_VERIFY_MAX);
		return refuse(wsi, 503, "the edge is checking other chargers' passwords; try again in a moment\n");
	}
	lws_set_opaque_user_data(wsi, up);
	return 0;
}

/* An address refused too often is answered at once, with nothing logged and nothing checked; a
 * charger with good credentials from it still gets in (a NAT before several chargers, one of
 * them misconfigured, must not lock the others out). 1 when answered. */
static int held_back(struct lws *wsi, const char *peer, uint64_t now)
{
	if (!ocpp_auth_throttled(peer, now))
		return 0;
	return refuse(wsi, 429, "too many refused connections from this address; wait and try again\n");
}

/* Decide whether this upgrade may become an OCPP connection. 0 allow, 1 refused (answered). */
static int confirm_upgrade(struct proxy *p, struct lws *wsi)
{
	const struct ag_config *cfg = p->d->cfg;
	char uri[256] = "", protos[256] = "", auth[320] = "", peer[64] = "";
	uint64_t now = now_ms();
	const char *id;

	lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	lws_hdr_copy(wsi, protos, sizeof(protos), WSI_TOKEN_PROTOCOL);
	peer_of(wsi, peer, sizeof(peer));
	ocpp_auth_summary(now);
	if (!(id = ocpp_station_id(uri, cfg->ocpp.path))) {
		if (held_back(wsi, peer, now))
			return 1;
		if (ocpp_auth_refused(peer, now))
			log_msg(LL_WARN, "OCPP connection from %s refused: URL %s is not %s/<station id>", peer, uri,
				cfg->ocpp.path);
		return refuse(wsi, 404, "expected <ocpp.path>/<station id>\n");
	}
	if (!offers(protos, "ocpp1.6") && !offers(protos, "ocpp2.0.1")) {
		if (held_back(wsi, peer, now))
			return 1;
		if (ocpp_auth_refused(peer, now))
			log_msg(LL_WARN, "charger %s (%s) refused: it offers subprotocol \"%s\", the edge speaks ocpp1.6 and "
					 "ocpp2.0.1", id, peer, protos);
		return refuse(wsi, 400, "subprotocol ocpp1.6 or ocpp2.0.1 required\n");
	}
	const struct cfg_charger *c = config_charger(cfg, id);
	bool basic = cfg->ocpp.security_profile == 1 || cfg->ocpp.security_profile == 2;
	const char *why;
	int status = 0;
	if (!c && held_back(wsi, peer, now)) /* before pending_admit, which logs */
		return 1;
	if (!c && (status = pending_admit(p, id, peer, &why)) != 0 && !(status == 401 && basic)) {
		ocpp_auth_refused(peer, now);
		return refuse(wsi, status, why);
	}
	if (cfg->ocpp.security_profile == 3) {
		union lws_tls_cert_info_results ci;
		if (lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_COMMON_NAME, &ci, sizeof(ci.ns.name)) ||
		    strcmp(ci.ns.name, id) != 0) {
			if (held_back(wsi, peer, now))
				return 1;
			if (ocpp_auth_refused(peer, now))
				log_msg(LL_WARN, "charger %s (%s) refused: its client certificate is for \"%s\"", id, peer,
					lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_COMMON_NAME, &ci, sizeof(ci.ns.name))
						? "(none)" : ci.ns.name);
			return refuse(wsi, 403, "certificate does not match the station id\n");
		}
	}
	if (basic && (c || status == 401)) {
		/* An unknown station (status 401, logged by pending_admit) is answered exactly as a
		 * wrong password is: same status, same text, same path. */
		char user[64], pass[128];
		bool sent = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) > 0;
		enum ocpp_cred cred = CRED_BAD;
		if (sent && basic_auth_decode(auth, user, sizeof(user), pass, sizeof(pass)) == 0 && strcmp(user, id) == 0)
			cred = ocpp_auth_check(c, id, pass, site_has_hashes(cfg), now);
		int r = cred == CRED_OK ? 0 : held_back(wsi, peer, now) ? 1
					  : cred == CRED_UNKNOWN ? defer_upgrade(p, wsi, c, id, peer, auth, pass) : -1;
		OPENSSL_cleanse(pass, sizeof(pass));
		if (r >= 0)
			return r;
		if (ocpp_auth_refused(peer, now) && c)
			log_msg(LL_WARN, "charger %s (%s) refused: %s", id, peer,
				sent ? "wrong user or password (check the charger's AuthorizationKey against the configuration)"
				     : "no Basic credentials sent");
		return refuse(wsi, 401, "authorization required\n");
	}
	return 0;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE) {
		struct proxy *p = lws_vhost_user(lws_get_vhost(wsi));
		if (strcmp((const char *)in, "websocket") != 0)
			return refuse(wsi, 400, "WebSocket only\n");
		return confirm_upgrade(p, wsi);
	}
	if (reason == LWS_CALLBACK_WSI_DESTROY)
		upgrade_orphan(wsi);
	if (reason == LWS_CALLBACK_HTTP) {
		if (lws_return_http_status(wsi, 426, "This port speaks OCPP over WebSocket."))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* The WebSocket is up and its credentials good: the charger joins the site. `auth` is the
 * Authorization header it sent ("" for none). */
static void established(struct proxy *p, struct lws *wsi, struct pss *pss, const char *id, const char *peer,
			const char *auth)
{
	struct charger *ch = id ? proxy_find(p, id) : NULL;

	if (!ch && id && p->d->cfg->ocpp.allow_unknown)
		ch = proxy_add_pending(p, id);
	if (!ch)
		return;
	if (ch->down.wsi) {
		struct lws *old = ch->down.wsi;
		struct pss *old_pss = lws_wsi_user(old);
		log_msg(LL_NOTICE, "charger %s: new connection replaces the open one", ch->id);
		if (old_pss)
			old_pss->ch = NULL;
		proxy_charger_closed(p, ch);
		lws_set_timeout(old, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	}
	pss->ch = ch;
	pending_seen(ch, peer);
	ch->version = lws_get_protocol(wsi)->id == 16 ? OCPP16 : OCPP201;
	ws_link_opened(&ch->down, wsi, now_ms());
	snprintf(ch->down.who, sizeof(ch->down.who), "charger %s", ch->id);
	snprintf(ch->auth_header, sizeof(ch->auth_header), "%s", auth);
	proxy_charger_connected(p, ch);
}

/* ESTABLISHED: join the site now, or once the credentials are verified. -1 to close. */
static int on_established(struct proxy *p, struct lws *wsi, struct pss *pss)
{
	struct upgrade *up = lws_get_opaque_user_data(wsi);
	char uri[256] = "", peer[64] = "", auth[256] = "";

	if (up) {
		lws_set_opaque_user_data(wsi, NULL);
		pss->up = up;
		up->established = true;
		if (up->done)
			upgrade_finish(up);
		else
			lws_rx_flow_control(wsi, 0); /* its frames wait in the socket until then */
		return 0;
	}
	lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	peer_of(wsi, peer, sizeof(peer));
	if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
		auth[0] = 0;
	established(p, wsi, pss, ocpp_station_id(uri, p->d->cfg->ocpp.path), peer, auth);
	return pss->ch ? 0 : -1;
}

static int cb_ocpp(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct proxy *p = lws_vhost_user(lws_get_vhost(wsi));

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(p, wsi, pss);
	case LWS_CALLBACK_RECEIVE: {
		if (pss && pss->up)
			return 0; /* read before the pause took hold; a charger waits for its answer anyway */
		if (!pss || !pss->ch)
			return -1;
		struct charger *ch = pss->ch;
		int r = ws_link_rx(&ch->down, wsi, in, len);
		if (r < 0) {
			log_msg(LL_WARN, "charger %s: frame larger than ocpp.max_frame_bytes (%zu); closing", ch->id,
				ch->down.rx_max);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"frame too large", 15);
			return -1;
		}
		if (r == 1) {
			proxy_from_charger(p, ch, ch->down.rx, ch->down.rx_len);
			ws_link_rx_done(&ch->down);
			/* The CSMS reads slower than the charger sends: let TCP slow the charger. */
			if (pss->ch && ws_link_rx_throttle(&ch->down, ch->up.queued_bytes))
				log_msg(LL_DEBUG, "charger %s: the CSMS reads slowly; the edge stops reading from the charger", ch->id);
		}
		return 0;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (pss && pss->close_code > 0) {
			int code = pss->close_code;
			pss->close_code = -1;
			return ws_close_frame(wsi, code, pss->close_reason ? pss->close_reason : "");
		}
		if (pss && pss->close_code < 0)
			return 0;
		if (pss && pss->up)
			return 0;
		return pss && pss->ch ? ws_link_writeable(&pss->ch->down) : -1;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (pss && (pss->close_code < 0 || (pss->ch && pss->ch->down.close_code < 0)))
			return 1; /* the answer to our close frame: do not send another */
		if (pss)
			pss->peer_code = ws_close_payload(in, len, pss->peer_reason, sizeof(pss->peer_reason));
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (pss && pss->ch && pss->ch->down.wsi == wsi)
			ws_link_pong(&pss->ch->down, now_ms());
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (pss && pss->ch && pss->ch->down.wsi == wsi && pss->ch->down.ping_hangup)
			log_msg(LL_WARN, "charger %s: no answer to WebSocket pings for %d s (a half-open link: "
					 "power, network or the charger's software); connection closed", pss->ch->id,
				ws_ping_hangup_s(p->d->cfg->ocpp.ping_interval_s));
		if (pss && pss->up) {
			pss->up->wsi = NULL;
			pss->up = NULL;
		}
		if (pss && pss->ch && pss->ch->down.wsi == wsi) {
			/* The CSMS sees the charger go as the edge saw it: its own code and reason, or
			 * 1001 when its socket just ended (1006 cannot be sent). */
			bool sent = pss->peer_code >= 1000 && pss->peer_code != 1005 && pss->peer_code != 1006;
			ocpp_upstream_close(p, pss->ch, sent ? pss->peer_code : LWS_CLOSE_STATUS_GOINGAWAY,
					    sent ? pss->peer_reason : "charger connection lost");
			proxy_charger_closed(p, pss->ch);
		}
		if (pss)
			pss->ch = NULL;
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "http", cb_http, 0, 0, 0, NULL, 0 },
	{ "ocpp1.6", cb_ocpp, sizeof(struct pss), 4096, 16, NULL, 0 },
	{ "ocpp2.0.1", cb_ocpp, sizeof(struct pss), 4096, 201, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

void ocpp_server_flow(struct proxy *p, struct charger *ch)
{
	(void)p;
	if (ch->down.rx_paused)
		ws_link_rx_throttle(&ch->down, ch->up.queued_bytes);
}

void ocpp_server_close(struct proxy *p, struct charger *ch, int code, const char *reason)
{
	(void)p;
	if (!ch->down.wsi)
		return;
	struct pss *pss = lws_wsi_user(ch->down.wsi);
	if (!pss || pss->close_code || ch->down.close_code)
		return;
	if (!lws_partial_buffered(ch->down.wsi)) {
		/* Now, as ws-link writes an idle link's frames: at shutdown no WRITEABLE comes. */
		pss->close_code = -1;
		ws_close_frame(ch->down.wsi, code, reason);
		return;
	}
	pss->close_code = code;
	pss->close_reason = reason;
	lws_callback_on_writable(ch->down.wsi);
}

void ocpp_server_stop(struct proxy *p)
{
	lws_loop_listener_close(p->listener);
	p->listener = NULL;
}

int ocpp_server_start(struct proxy *p)
{
	const struct cfg_ocpp *o = &p->d->cfg->ocpp;
	struct lws_context_creation_info info;
	struct host_port hp;

	if (host_port_parse(o->listen, &hp) < 0)
		return -EINVAL;
	int was, charger_fds, limit = lws_loop_raise_fd_limit(&was, &charger_fds);
	if (limit < 0)
		log_msg(LL_WARN, "OCPP: cannot read or raise the open-file limit (%s)", strerror(-limit));
	else
		log_msg(limit < 4096 ? LL_WARN : LL_INFO,
			"OCPP: open-file limit %d (was %d): room for about %d chargers with uplinks, the last quarter kept "
			"from web clients%s", limit, was, charger_fds / 2,
			limit < 4096 ? "; raise LimitNOFILE in the systemd unit (or ulimit -n) for a large site" : "");
	memset(&info, 0, sizeof(info));
	info.vhost_name = "ocpp";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* our listener (lws-loop.h): no spin on EMFILE */
	info.protocols = protocols;
	info.user = p;
	info.retry_and_idle_policy = &ws_no_idle_policy; /* pings: proxy.c's tick (ws-link.h) */
	if (o->security_profile >= 2) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = o->tls.cert;
		info.ssl_private_key_filepath = o->tls.key;
		if (o->security_profile == 3) {
			info.ssl_ca_filepath = o->tls.ca;
			info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
		}
	}
	p->server = lws_create_vhost(p->d->lws, &info);
	if (!p->server) {
		log_msg(LL_ERROR, "OCPP: cannot serve on %s (TLS files unreadable?)", o->listen);
		return -EINVAL;
	}
	int rc = lws_loop_listen(&p->d->loop, p->server, hp.host, hp.port, "chargers", &p->listener);
	if (rc < 0) {
		log_msg(LL_ERROR, "OCPP: cannot listen on %s: %s", o->listen, strerror(-rc));
		return rc;
	}
	log_msg(LL_INFO, "OCPP: chargers connect to ws%s://%s%s/<station id> (security profile %d)",
		o->security_profile >= 2 ? "s" : "", o->listen, o->path, o->security_profile);
	return 0;
}
