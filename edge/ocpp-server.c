/* The charger-facing WebSocket server; see ocpp-server.h.
 *
 * Every refusal happens in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, before the WebSocket exists, so a
 * charger with a wrong password gets a real 401 (with WWW-Authenticate) and one offering no OCPP
 * subprotocol a 400, instead of the silent hang-up libwebsockets gives by itself. */
#include "edge/ocpp-server.h"
#include "edge/daemon.h"
#include "edge/log.h"
#include "edge/net-addr.h"
#include "edge/passwd.h"
#include "edge/proxy.h"

#include <openssl/crypto.h>
#include <string.h>

struct pss {
	struct charger *ch;
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

static int refuse(struct lws *wsi, int status, const char *why)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	size_t n = strlen(why);

	if (lws_add_http_header_status(wsi, (unsigned int)status, &p, end) ||
	    (status == 401 &&
	     lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE, (unsigned char *)"Basic realm=\"ocpp\"",
					  18, &p, end)) ||
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

static bool password_ok(const struct cfg_charger *c, const char *given)
{
	if (c->password_hash)
		return passwd_verify(given, c->password_hash);
	if (!c->password || strlen(given) != strlen(c->password))
		return false;
	return CRYPTO_memcmp(given, c->password, strlen(given)) == 0;
}

/* Decide whether this upgrade may become an OCPP connection. 0 allow, 1 refused (answered). */
static int confirm_upgrade(struct proxy *p, struct lws *wsi)
{
	const struct ag_config *cfg = p->d->cfg;
	char uri[256] = "", protos[256] = "", auth[320] = "", peer[64] = "";
	const char *id;

	lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	lws_hdr_copy(wsi, protos, sizeof(protos), WSI_TOKEN_PROTOCOL);
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (!(id = ocpp_station_id(uri, cfg->ocpp.path))) {
		log_msg(LL_WARN, "OCPP connection from %s refused: URL %s is not %s/<station id>", peer, uri,
			cfg->ocpp.path);
		return refuse(wsi, 404, "expected <ocpp.path>/<station id>\n");
	}
	if (!offers(protos, "ocpp1.6") && !offers(protos, "ocpp2.0.1")) {
		log_msg(LL_WARN, "charger %s (%s) refused: it offers subprotocol \"%s\", the edge speaks ocpp1.6 and ocpp2.0.1",
			id, peer, protos);
		return refuse(wsi, 400, "subprotocol ocpp1.6 or ocpp2.0.1 required\n");
	}
	const struct cfg_charger *c = config_charger(cfg, id);
	if (!c && !cfg->ocpp.allow_unknown) {
		log_msg(LL_WARN, "charger %s (%s) refused: unknown station id (add it to chargers in the configuration, or "
				 "set ocpp.allow_unknown to hold unknown stations as pending)",
			id, peer);
		return refuse(wsi, 401, "unknown station\n");
	}
	if (cfg->ocpp.security_profile == 3) {
		union lws_tls_cert_info_results ci;
		if (lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_COMMON_NAME, &ci, sizeof(ci.ns.name)) ||
		    strcmp(ci.ns.name, id) != 0) {
			log_msg(LL_WARN, "charger %s (%s) refused: its client certificate is for \"%s\"", id, peer,
				lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_COMMON_NAME, &ci, sizeof(ci.ns.name)) ? "(none)"
														   : ci.ns.name);
			return refuse(wsi, 403, "certificate does not match the station id\n");
		}
	}
	if (c && (cfg->ocpp.security_profile == 1 || cfg->ocpp.security_profile == 2)) {
		char user[64], pass[128];
		if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
		    basic_auth_decode(auth, user, sizeof(user), pass, sizeof(pass)) < 0 || strcmp(user, id) != 0 ||
		    !password_ok(c, pass)) {
			log_msg(LL_WARN, "charger %s (%s) refused: %s", id, peer,
				auth[0] ? "wrong user or password (check the charger's AuthorizationKey against the configuration)"
					: "no Basic credentials sent");
			return refuse(wsi, 401, "authorization required\n");
		}
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
	if (reason == LWS_CALLBACK_HTTP) {
		if (lws_return_http_status(wsi, 426, "This port speaks OCPP over WebSocket."))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void established(struct proxy *p, struct lws *wsi, struct pss *pss)
{
	char uri[256] = "";
	const char *id;
	struct charger *ch;

	lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	id = ocpp_station_id(uri, p->d->cfg->ocpp.path);
	ch = id ? proxy_find(p, id) : NULL;
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
	ch->version = lws_get_protocol(wsi)->id == 16 ? OCPP16 : OCPP201;
	ch->down.wsi = wsi;
	if (lws_hdr_copy(wsi, ch->auth_header, sizeof(ch->auth_header), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
		ch->auth_header[0] = 0;
	proxy_charger_connected(p, ch);
}

static int cb_ocpp(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct proxy *p = lws_vhost_user(lws_get_vhost(wsi));

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		established(p, wsi, pss);
		return pss->ch ? 0 : -1;
	case LWS_CALLBACK_RECEIVE: {
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
		}
		return 0;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss && pss->ch ? ws_link_writeable(&pss->ch->down) : -1;
	case LWS_CALLBACK_CLOSED:
		if (pss && pss->ch && pss->ch->down.wsi == wsi)
			proxy_charger_closed(p, pss->ch);
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

int ocpp_server_start(struct proxy *p)
{
	const struct cfg_ocpp *o = &p->d->cfg->ocpp;
	struct lws_context_creation_info info;
	struct host_port hp;

	if (host_port_parse(o->listen, &hp) < 0)
		return -EINVAL;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "ocpp";
	info.iface = hp.host[0] && strcmp(hp.host, "0.0.0.0") != 0 ? hp.host : NULL;
	info.port = hp.port;
	info.protocols = protocols;
	info.user = p;
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
		log_msg(LL_ERROR, "OCPP: cannot listen on %s (in use, or TLS files unreadable?)", o->listen);
		return -EADDRINUSE;
	}
	log_msg(LL_INFO, "OCPP: chargers connect to ws%s://%s%s/<station id> (security profile %d)",
		o->security_profile >= 2 ? "s" : "", o->listen, o->path, o->security_profile);
	return 0;
}
