/* The CSMS-facing WebSocket clients; see ocpp-upstream.h. One client vhost carries them all; the
 * charger a connection belongs to travels as the wsi's opaque user data, cleared when the edge
 * drops a link so that late callbacks of a dying connection touch nothing. */
#include "edge/ocpp-upstream.h"
#include "edge/daemon.h"
#include "edge/log.h"
#include "edge/passwd.h"
#include "edge/proxy.h"

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

/* lws reports TLS failures as "connect SSL err 1: error:00000001:lib(0)::reason(1)"; say what
 * the installer should check instead. */
static const char *connect_error(const struct proxy *p, const char *in)
{
	if (!in)
		return "connection failed";
	if (strstr(in, "SSL") || strstr(in, "certificate"))
		return p->d->cfg->upstream.tls.ca ? "TLS handshake failed: is the CSMS certificate signed by upstream.tls.ca, "
						    "and for this host name?"
						  : "TLS handshake failed: is the CSMS certificate trusted by the system CAs? "
						    "(upstream.tls.ca names another CA file)";
	return in;
}

static int cb_upstream(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct charger *ch = lws_get_opaque_user_data(wsi);
	struct proxy *p = lws_vhost_user(lws_get_vhost(wsi));
	(void)user;

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
		ch->up.wsi = wsi;
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
		}
		return 0;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ch ? ws_link_writeable(&ch->up) : -1;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (ch) {
			lws_set_opaque_user_data(wsi, NULL);
			ch->up_connecting = NULL;
			ch->up.wsi = NULL;
			ws_link_reset(&ch->up);
			proxy_upstream_closed(p, ch, reason == LWS_CALLBACK_CLIENT_CLOSED ? "closed" : connect_error(p, in));
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "ocpp-upstream", cb_upstream, 0, 4096, 0, NULL, 0 },
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
	ci.pwsi = &ch->up_connecting;   /* set before any callback; NULL again if it fails at once */
	if (p->upstream_tls) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		if (!p->d->cfg->upstream.verify_tls)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					     LCCSCF_ALLOW_EXPIRED;
	}
	ch->up_state = UP_CONNECTING;
	ch->up_attempts++;
	if (!lws_client_connect_via_info(&ci)) {
		ocpp_upstream_backoff(p, ch, now_ms());
		return -ECONNREFUSED;
	}
	return 0;
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
