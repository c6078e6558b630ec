/* The CSMS-facing WebSocket clients; see ocpp-upstream.h. One client vhost carries them all; the
 * charger a connection belongs to travels as the wsi's opaque user data, cleared when the edge
 * drops a link so that late callbacks of a dying connection touch nothing. */
#include "edge/ocpp/ocpp-upstream.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/ocpp-server.h"
#include "edge/core/passwd.h"
#include "edge/ocpp/proxy.h"

#include <stdlib.h>
#include <string.h>

static const char *proto_name(enum ocpp_version v)
{
	return v == OCPP16 ? "ocpp1.6" : "ocpp2.0.1";
}

/* The Authorization header for `ch` upstream, or "" for none. */
static void upstream_auth(const struct proxy *p, const struct charger *ch, char *out, size_t size)
{
	const struct cfg_upstream *u = &p->d->cfg->upstream;

	out[0] = 0;
	if (u->security_profile != 1 && u->security_profile != 2)
		return;
	if (strcmp(u->credentials, "forward") == 0) {
		snprintf(out, size, "%s", ch->auth_header);
		return;
	}
	const char *pass = u->password ? u->password : ch->cfg ? ch->cfg->password : NULL;
	if (pass)
		basic_auth_encode(ch->id, pass, out, size);
}

/* The URL the charger's uplink goes to, for log lines. */
static void uplink_url(const struct proxy *p, const struct charger *ch, char *out, size_t size)
{
	snprintf(out, size, "ws%s://%s:%d%s/%s", p->upstream_tls ? "s" : "", p->upstream_host, p->upstream_port,
		 strcmp(p->upstream_path, "/") == 0 ? "" : p->upstream_path, ch->id);
}

/* lws reports failures as "connect SSL err 1: error:00000001:lib(0)::reason(1)" or "HS: ws
 * upgrade response not 101"; say what failed, where, and what the installer should check. */
static void connect_error(const struct proxy *p, const struct charger *ch, struct lws *wsi, const char *in,
			  char *out, size_t size)
{
	char url[900];
	unsigned int status = wsi ? lws_http_client_http_response(wsi) : 0;

	uplink_url(p, ch, url, sizeof(url));
	if (in && strncmp(in, "no answer", 9) == 0)
		snprintf(out, size, "%s: %s: is upstream.url the CSMS's OCPP endpoint, and does nothing between "
			 "holds the connection?", url, in);
	else if (in && (strstr(in, "SSL") || strstr(in, "certificate")))
		snprintf(out, size, "%s: TLS handshake failed: %s", url,
			 p->d->cfg->upstream.tls.ca ? "is the CSMS certificate signed by upstream.tls.ca, and for this host name?"
						    : "is the CSMS certificate trusted by the system CAs? (upstream.tls.ca "
						      "names another CA file)");
	else if (status && status != 101)
		snprintf(out, size, "%s: the CSMS answered HTTP %u instead of switching to WebSocket: %s", url, status,
			 status == 401 || status == 403 ? "does the CSMS know this station and its password?"
			 : status == 404 ? "is upstream.url's path right?"
					 : "is the CSMS up, and is upstream.url its OCPP endpoint?");
	else if (in && (strstr(in, "refused") || strstr(in, "connect failed") || strstr(in, "timed out")))
		snprintf(out, size, "%s: %s: is the CSMS up, and are upstream.url's host and port right?", url, in);
	else if (in && (strstr(in, "HS:") || strstr(in, "hs") || strstr(in, "parse") || strstr(in, "header")))
		snprintf(out, size, "%s: the CSMS answered the upgrade with something that is not a WebSocket upgrade "
			 "(%s): is upstream.url an OCPP WebSocket endpoint?", url, in);
	else
		snprintf(out, size, "%s: %s: the connection ended during the WebSocket upgrade; is upstream.url an OCPP "
			 "WebSocket endpoint?", url, in && *in ? in : "closed");
	log_one_line(out);
}

/* The uplink that was being opened failed: forget its wsi and retry with the backoff. */
static void connect_failed(struct proxy *p, struct charger *ch, struct lws *wsi, const char *in)
{
	char why[2048];

	connect_error(p, ch, wsi, in, why, sizeof(why));
	if (wsi)
		lws_set_opaque_user_data(wsi, NULL);
	ch->up_connecting = NULL;
	ch->up.wsi = NULL;
	ws_link_reset(&ch->up);
	proxy_upstream_closed(p, ch, why);
}

/* Per uplink: how to close it once the charger let go of it, and the CSMS's own close frame. */
struct up_pss {
	int close_code;                 /* nonzero: send this close frame at the next WRITEABLE */
	char close_reason[124];
	int peer_code;
	char peer_reason[124];
};

/* What waits for the charger: frames on its link and the CSMS's calls queued behind the one in
 * flight (counted up to just past the high mark). */
static size_t down_backlog(const struct charger *ch)
{
	size_t bytes = ch->down.queued_bytes;

	for (const struct call *c = ch->wait_head; c && bytes <= WS_LINK_HIGH_BYTES; c = c->next)
		bytes += c->text ? strlen(c->text) : 256;
	return bytes;
}

static int cb_upstream(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct charger *ch = lws_get_opaque_user_data(wsi);
	struct proxy *p = lws_vhost_user(lws_get_vhost(wsi));
	struct up_pss *ups = user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		char auth[320];
		unsigned char **pos = in, *end = *pos + len;
		if (!ch)
			return -1;
		upstream_auth(p, ch, auth, sizeof(auth));
		if (auth[0] && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)auth,
							    (int)strlen(auth), pos, end))
			return -1;
		return 0;
	}
	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH: {
		char chosen[32] = "";
		lws_hdr_copy(wsi, chosen, sizeof(chosen), WSI_TOKEN_PROTOCOL);
		if (!ch || strcmp(chosen, proto_name(ch->version)) != 0) {
			log_msg(LL_WARN, "charger %s: CSMS answered with subprotocol \"%s\", expected %s", ch ? ch->id : "?",
				chosen, ch ? proto_name(ch->version) : "?");
			return -1;
		}
		return 0;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!ch)
			return -1;
		ch->up_connecting = NULL;
		ws_link_opened(&ch->up, wsi, now_ms());
		snprintf(ch->up.who, sizeof(ch->up.who), "the CSMS (uplink of charger %s)", ch->id);
		proxy_upstream_opened(p, ch);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		if (!ch)
			return -1;
		int r = ws_link_rx(&ch->up, wsi, in, len);
		if (r < 0) {
			log_msg(LL_WARN, "charger %s: CSMS frame larger than ocpp.max_frame_bytes; closing the uplink", ch->id);
			return -1;
		}
		if (r == 1) {
			proxy_from_csms(p, ch, ch->up.rx, ch->up.rx_len);
			ws_link_rx_done(&ch->up);
			/* The charger reads slower than the CSMS sends: let TCP slow the CSMS. */
			if (ups && ws_link_rx_throttle(&ch->up, down_backlog(ch)))
				log_msg(LL_DEBUG, "charger %s reads slowly; the edge stops reading from the CSMS for it", ch->id);
		}
		return 0;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!ch && ups && ups->close_code > 0) {
			int code = ups->close_code;
			ups->close_code = -1;
			return ws_close_frame(wsi, code, ups->close_reason);
		}
		if (!ch && ups && ups->close_code < 0)
			return 0;
		return ch ? ws_link_writeable(&ch->up) : -1;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		if (ch && ch->up.wsi == wsi)
			ws_link_pong(&ch->up, now_ms());
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if ((ups && ups->close_code < 0) || (ch && ch->up.close_code < 0))
			return 1; /* the answer to our close frame: do not send another */
		if (ups)
			ups->peer_code = ws_close_payload(in, len, ups->peer_reason, sizeof(ups->peer_reason));
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (ch)
			connect_failed(p, ch, wsi, in);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		/* Whatever way lws ends a connection that is still ours, the uplink is gone. */
		if (!ch)
			return 0;
		if (ch->up.wsi != wsi) {
			connect_failed(p, ch, wsi, NULL);
			return 0;
		}
		lws_set_opaque_user_data(wsi, NULL);
		bool ping_hangup = ch->up.ping_hangup;
		ch->up.wsi = NULL;
		ws_link_reset(&ch->up);
		if (ups && ups->peer_code >= 1000 && ups->peer_code != 1005 && ups->peer_code != 1006 &&
		    strcmp(p->d->cfg->upstream.partition, "strict") == 0)
			ws_link_close(&ch->down, ups->peer_code, ups->peer_reason); /* the CSMS's words reach the charger */
		if (ups && ups->peer_code) {
			char why[200];
			snprintf(why, sizeof(why), "the CSMS closed it with %d%s%s", ups->peer_code,
				 ups->peer_reason[0] ? ": " : "", ups->peer_reason);
			proxy_upstream_closed(p, ch, why);
		} else if (ping_hangup) {
			char why[160];
			snprintf(why, sizeof(why), "no answer to WebSocket pings for %d s: a half-open link, or the CSMS is stuck",
				 ws_ping_hangup_s(p->d->cfg->upstream.ping_interval_s));
			proxy_upstream_closed(p, ch, why);
		} else {
			proxy_upstream_closed(p, ch, "closed");
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "ocpp-upstream", cb_upstream, sizeof(struct up_pss), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

int ocpp_upstream_start(struct proxy *p)
{
	const struct cfg_upstream *u = &p->d->cfg->upstream;
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.vhost_name = "upstream";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = p;
	/* libwebsockets 4.1 makes a client SSL_CTX only when the vhost itself asks for it. */
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = u->tls.ca;
	info.client_ssl_cert_filepath = u->tls.cert;
	info.client_ssl_private_key_filepath = u->tls.key;
	p->client = lws_create_vhost(p->d->lws, &info);
	if (!p->client) {
		log_msg(LL_ERROR, "upstream: cannot set up the client (TLS files under upstream.tls unreadable?)");
		return -EINVAL;
	}
	return 0;
}

int ocpp_upstream_connect(struct proxy *p, struct charger *ch)
{
	struct lws_client_connect_info ci;
	char path[600];

	if (!p->upstream_host[0])
		return -ENOTCONN;
	snprintf(path, sizeof(path), "%s/%s", strcmp(p->upstream_path, "/") == 0 ? "" : p->upstream_path, ch->id);
	memset(&ci, 0, sizeof(ci));
	ci.context = p->d->lws;
	ci.vhost = p->client;
	ci.address = p->upstream_host;
	ci.port = p->upstream_port;
	ci.path = path;
	ci.host = p->upstream_host;
	ci.origin = p->upstream_host;
	ci.protocol = proto_name(ch->version);
	ci.local_protocol_name = "ocpp-upstream";
	ci.opaque_user_data = ch;
	ci.pwsi = &ch->up_connecting;
	/* pings: proxy.c's tick (ws-link.h). A client connection takes its policy from here, never
	 * from its vhost (lws 4.1 core-net/connect.c): without one it gets lws's 300 s pings. */
	ci.retry_and_idle_policy = &ws_no_idle_policy;
	if (p->upstream_tls) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		if (!p->d->cfg->upstream.verify_tls)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					     LCCSCF_ALLOW_EXPIRED;
	}
	ch->up_state = UP_CONNECTING;
	ch->up_attempts++;
	ch->up_retry_ms = now_ms() + (uint64_t)p->d->cfg->upstream.connect_timeout_s * 1000; /* give up then */
	if (!lws_client_connect_via_info(&ci)) {
		if (ch->up_state == UP_CONNECTING) /* lws did not report it through the callback */
			connect_failed(p, ch, NULL, "cannot start a connection (does the host name resolve?)");
		return -ECONNREFUSED;
	}
	return 0;
}

void ocpp_upstream_tick(struct proxy *p, struct charger *ch, uint64_t now)
{
	if (ch->up.rx_paused)
		ws_link_rx_throttle(&ch->up, down_backlog(ch));
	ocpp_server_flow(p, ch);
	if (ch->up_state == UP_WAIT && now >= ch->up_retry_ms) {
		ocpp_upstream_connect(p, ch);
	} else if (ch->up_state == UP_CONNECTING && now >= ch->up_retry_ms) {
		/* lws's own timeouts do not cover every stage (a CSMS that accepts TCP and never
		 * answers the upgrade held an uplink forever); this one does. */
		char why[64];
		struct lws *wsi = ch->up_connecting;
		snprintf(why, sizeof(why), "no answer to the WebSocket upgrade within %d s",
			 p->d->cfg->upstream.connect_timeout_s);
		connect_failed(p, ch, wsi, why);
		if (wsi)
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
}

void ocpp_upstream_drop(struct proxy *p, struct charger *ch)
{
	(void)p;
	ch->up_state = UP_NONE;
	if (ch->up_connecting) {        /* not established yet: it must not open for this charger later */
		lws_set_opaque_user_data(ch->up_connecting, NULL);
		lws_set_timeout(ch->up_connecting, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
		ch->up_connecting = NULL;
	}
	if (ch->up.wsi) {
		struct lws *wsi = ch->up.wsi;
		lws_set_opaque_user_data(wsi, NULL);
		ch->up.wsi = NULL;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	}
	ws_link_reset(&ch->up);
}

void ocpp_upstream_close(struct proxy *p, struct charger *ch, int code, const char *reason)
{
	struct lws *wsi = ch->up.wsi;
	struct up_pss *ups = wsi ? lws_wsi_user(wsi) : NULL;

	if (!ups || ch->up_state != UP_OPEN) {
		ocpp_upstream_drop(p, ch);
		return;
	}
	/* Let go of the link now; its close frame goes out at its next WRITEABLE. */
	lws_set_opaque_user_data(wsi, NULL);
	ch->up.wsi = NULL;
	ch->up_state = UP_NONE;
	ws_link_reset(&ch->up);
	if (!lws_partial_buffered(wsi)) {
		/* Now, as ws-link writes an idle link's frames: at shutdown no WRITEABLE comes. */
		ups->close_code = -1;
		ws_close_frame(wsi, code, reason);
		return;
	}
	ups->close_code = code;
	snprintf(ups->close_reason, sizeof(ups->close_reason), "%s", reason);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 3); /* in case WRITEABLE never comes */
	lws_callback_on_writable(wsi);
}

void ocpp_upstream_backoff(struct proxy *p, struct charger *ch, uint64_t now)
{
	const struct cfg_upstream *u = &p->d->cfg->upstream;
	uint64_t delay = (uint64_t)u->reconnect_min_ms;

	for (int i = 1; i < ch->up_attempts && delay < (uint64_t)u->reconnect_max_ms; i++)
		delay *= 2;
	if (delay > (uint64_t)u->reconnect_max_ms)
		delay = (uint64_t)u->reconnect_max_ms;
	delay = delay * 3 / 4 + (uint64_t)(rand() % (int)(delay / 2 + 1));
	ch->up_state = UP_WAIT;
	ch->up_retry_ms = now + delay;
}
