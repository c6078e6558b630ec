/* The site manager's web page and REST API: a libwebsockets vhost on web.listen, on the daemon's
 * own loop. This file owns the vhost, routes every request and serves the page's files from
 * web.assets; web-auth.c, web-api.c, web-live.c and web-metrics.c do the rest.
 *
 * Design decision: no lws mounts. Every request reaches one callback that decides first who is
 * asking (session cookie, loopback, bearer token) and only then what to serve, so no path can be
 * reached around the login by a mount nobody thought about. Without a session only the login
 * page, its script and style, and the login endpoint answer; pages redirect to the login, the
 * rest gets 401. */
#include "edge/web/web.h"
#include "edge/core/log.h"
#include "edge/core/lws-loop.h"
#include "edge/core/net-addr.h"
#include "edge/web/web-private.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct web web;

struct web *web_state(void)
{
	return &web;
}

/* Headers every answer carries: the page runs only its own scripts, is never framed, and the
 * browser never guesses a type. */
static const char *const security_headers[][2] = {
	{ "content-security-policy:",
	  "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" },
	{ "x-content-type-options:", "nosniff" },
	{ "x-frame-options:", "DENY" },
	{ "referrer-policy:", "same-origin" },
};

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

static int add_security_headers(struct lws *wsi, unsigned char **p, unsigned char *end)
{
	for (size_t i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]); i++)
		if (add_header(wsi, security_headers[i][0], security_headers[i][1], p, end))
			return -1;
	return 0;
}

/* Write a whole answer (headers, then the body) without ending the transaction. 0 or -1. */
static int write_answer(struct lws *wsi, int status, const char *type, const char *body, size_t len,
			const char *set_cookie, const char *location)
{
	unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;

	if (lws_add_http_common_headers(wsi, (unsigned int)status, type, len, &p, end) ||
	    add_security_headers(wsi, &p, end) || add_header(wsi, "cache-control:", "no-store", &p, end) ||
	    (set_cookie && *set_cookie && add_header(wsi, "set-cookie:", set_cookie, &p, end)) ||
	    (location && add_header(wsi, "location:", location, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (!len)
		return 0;
	/* lws keeps what the socket does not take now and sends it before the transaction ends. */
	unsigned char *buf = malloc(LWS_PRE + len);
	if (!buf)
		return -1;
	memcpy(buf + LWS_PRE, body, len);
	int n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
	free(buf);
	return n < (int)len ? -1 : 0;
}

static int finish(struct lws *wsi, int rc)
{
	if (rc < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int web_reply(struct web_req *r, int status, const char *type, const char *body, size_t len)
{
	int rc = write_answer(r->wsi, status, type, body, len, r->set_cookie, NULL);

	r->set_cookie[0] = '\0';
	return finish(r->wsi, rc);
}

int web_reply_json(struct web_req *r, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
	int rc;

	json_decref(j);
	if (!text)
		return web_error(r, 500, "the edge is out of memory; try again");
	rc = web_reply(r, status, "application/json", text, strlen(text));
	free(text);
	return rc;
}

int web_error(struct web_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *j = json_pack("{s:s}", "error", msg);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	int rc = text ? web_reply(r, status, "application/json", text, strlen(text)) : -1;
	free(text);
	return rc;
}

void web_reply_later(struct web_req *r, int status, char *body)
{
	free(r->reply);
	r->status = status;
	r->reply = body;
	r->reply_len = body ? strlen(body) : 0;
	lws_callback_on_writable(r->wsi);
}

bool web_peer_is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 || strncmp(peer, "::ffff:127.", 11) == 0;
}

/* ---- static files ---- */

static const char *mime_type(const char *path)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },   { ".svg", "image/svg+xml" },
		{ ".png", "image/png" },                 { ".ico", "image/x-icon" },
		{ ".json", "application/json" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i][0]) == 0)
			return types[i][1];
	return NULL;
}

/* What may be fetched before logging in: the login page and what it needs. */
static bool public_file(const char *uri)
{
	static const char *const open_files[] = { "/login.html", "/login.js", "/style.css", "/favicon.svg" };

	for (size_t i = 0; i < sizeof(open_files) / sizeof(open_files[0]); i++)
		if (strcmp(uri, open_files[i]) == 0)
			return true;
	return false;
}

/* Only plain names below web.assets: no "..", no hidden files, no odd characters. */
static bool safe_path(const char *uri)
{
	if (uri[0] != '/' || strstr(uri, "..") || strstr(uri, "/.") || strstr(uri, "//"))
		return false;
	return strspn(uri, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") == strlen(uri);
}

static int serve_file(struct web_req *r, const char *uri)
{
	unsigned char hdr[1024], *p = hdr, *end = hdr + sizeof(hdr);
	char path[1024];
	const char *type = mime_type(uri);

	if (!safe_path(uri) || !type)
		return web_error(r, 404, "there is no page %s", uri);
	if ((size_t)snprintf(path, sizeof(path), "%s%s", web.d->cfg->web.assets, uri) >= sizeof(path))
		return web_error(r, 404, "there is no page %s", uri);
	if (add_security_headers(r->wsi, &p, end) || add_header(r->wsi, "cache-control:", "no-cache", &p, end))
		return -1;
	int n = lws_serve_http_file(r->wsi, path, type, (const char *)hdr, (int)(p - hdr));
	if (n < 0 || (n > 0 && lws_http_transaction_completed(r->wsi)))
		return -1;
	return 0;
}

/* ---- routing ---- */

static bool is_api(const char *uri)
{
	return strncmp(uri, "/api/", 5) == 0;
}

/* /metrics: with a session, or with the bearer token of web.metrics_token; without a token
 * configured, also to a scraper on the edge itself (loopback), never to the network. */
static int metrics(struct web_req *r)
{
	const char *token = web.d->cfg->web.metrics_token;
	char auth[320] = "";
	bool ok = r->session || (!token && web_peer_is_loopback(r->peer));

	if (!ok && token && lws_hdr_copy(r->wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    strncmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == strlen(token))
		ok = CRYPTO_memcmp(auth + 7, token, strlen(token)) == 0;
	if (!ok)
		return web_error(r, 401, token ? "metrics need the bearer token of web.metrics_token (or a login)"
					       : "metrics are served to the edge itself; set web.metrics_token to scrape "
						 "from another host");
	size_t len = 0;
	char *text = web_metrics(&web, &len);
	if (!text)
		return web_error(r, 500, "the edge is out of memory; try again");
	int rc = web_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
	return rc;
}

static int route_get(struct web_req *r)
{
	const char *uri = r->uri;

	if (strcmp(uri, "/metrics") == 0)
		return metrics(r);
	if (is_api(uri)) {
		if (!r->session)
			return web_error(r, 401, "log in first");
		return web_api(&web, r);
	}
	if (strcmp(uri, "/") == 0)
		uri = "/index.html";
	if (!r->session && !public_file(uri)) {
		const char *type = mime_type(uri);
		if (type && strncmp(type, "text/html", 9) == 0) {
			int rc = write_answer(r->wsi, 302, "text/plain", NULL, 0, NULL, "/login.html");
			return finish(r->wsi, rc);
		}
		return web_error(r, 401, "log in first");
	}
	return serve_file(r, uri);
}

static int route_post(struct web_req *r)
{
	if (r->body_too_large)
		return web_error(r, 413, "request too large (at most %d bytes)", WEB_BODY_MAX);
	if (strcmp(r->uri, "/api/v1/login") == 0)
		return web_login(&web, r);
	if (!is_api(r->uri))
		return web_error(r, 405, "only the API takes changes");
	if (!r->session)
		return web_error(r, 401, "log in first");
	if (r->csrf_refused)
		return web_error(r, 403, "%s", r->csrf_refused);
	if (strcmp(r->uri, "/api/v1/logout") == 0)
		return web_logout(&web, r);
	return web_api(&web, r);
}

static void req_reset(struct web_req *r, struct lws *wsi)
{
	web_auth_forget(&web, r); /* a password check still running answers nobody */
	free(r->body);
	free(r->reply);
	r->body = r->reply = NULL;
	r->body_len = r->reply_len = 0;
	r->body_too_large = false;
	r->status = 0;
	r->set_cookie[0] = '\0';
	r->wsi = wsi;
}

/* Framing headers that two HTTP parsers could read two ways (a proxy in front and lws behind):
 * one Content-Length of plain digits, a Transfer-Encoding of exactly "chunked" and never both.
 * lws itself reads "+31" as 31 and takes the first of two lengths. NULL when fine, else why. */
static const char *framing_refused(struct lws *wsi)
{
	char v[32];
	int cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	int te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING);

	if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0 ||
	    lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, 1) > 0)
		return "a header that frames the body (Content-Length, Transfer-Encoding) is sent twice";
	if (cl && te)
		return "send the body with Content-Length or Transfer-Encoding, not both";
	if (cl && (cl > 10 || lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_CONTENT_LENGTH) != cl ||
		   strspn(v, "0123456789") != (size_t)cl))
		return "Content-Length must be a number of bytes in plain digits";
	if (te && (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_TRANSFER_ENCODING) != te || strcasecmp(v, "chunked") != 0))
		return "the only Transfer-Encoding taken is \"chunked\"";
	return NULL;
}

/* A new request: who asks and what for. The headers are read here, while they exist. */
static int on_request(struct web_req *r, struct lws *wsi)
{
	req_reset(r, wsi);
	r->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	if (lws_hdr_copy(wsi, r->uri, sizeof(r->uri), r->post ? WSI_TOKEN_POST_URI : WSI_TOKEN_GET_URI) <= 0) {
		r->uri[0] = '\0';
		return web_error(r, 405, "only GET and POST are served here");
	}
	lws_get_peer_simple(wsi, r->peer, sizeof(r->peer));
	if (strncmp(r->peer, "::ffff:", 7) == 0 && strchr(r->peer, '.')) /* IPv4 on a v6 socket */
		memmove(r->peer, r->peer + 7, strlen(r->peer + 7) + 1);
	const char *bad_framing = framing_refused(wsi);
	if (bad_framing) {
		/* The body's end is unknown, so the connection cannot carry another request. */
		web_error(r, 400, "%s", bad_framing);
		return -1;
	}
	r->session = web_session_find(&web, wsi);
	r->origin_ok = web_origin_ok(&web, wsi);
	r->csrf_refused = r->post && r->session ? web_csrf_refused(&web, r) : NULL;
	if (r->post && !lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) &&
	    !lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING))
		return route_post(r); /* no body is coming */
	if (r->post)
		return 0; /* the answer comes with the body */
	return route_get(r);
}

static int on_body(struct web_req *r, const void *in, size_t len)
{
	if (!len) /* lws may pass in == NULL with it (an empty body): nothing to copy */
		return 0;
	if (r->body_too_large || r->body_len + len > WEB_BODY_MAX) {
		r->body_too_large = true;
		return 0;
	}
	char *b = realloc(r->body, r->body_len + len + 1);
	if (!b)
		return -1;
	memcpy(b + r->body_len, in, len);
	r->body = b;
	r->body_len += len;
	b[r->body_len] = '\0';
	return 0;
}

/* A reply kept by web_reply_later. */
static int on_writeable(struct web_req *r)
{
	if (!r->status)
		return 0;
	int status = r->status;
	char *body = r->reply;

	r->status = 0;
	r->reply = NULL;
	int rc = web_reply(r, status, "application/json", body, body ? strlen(body) : 0);
	free(body);
	return rc;
}

/* The live view's upgrade: refused with a real status before the WebSocket exists. */
static int confirm_upgrade(struct lws *wsi)
{
	char uri[64] = "", protos[128] = "";
	int status = 0;
	const char *why = NULL;

	lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	lws_hdr_copy(wsi, protos, sizeof(protos), WSI_TOKEN_PROTOCOL);
	if (strcmp(uri, "/api/v1/live") != 0)
		status = 404, why = "{\"error\":\"the live view is at /api/v1/live\"}";
	else if (!strstr(protos, "ampgate-live"))
		status = 400, why = "{\"error\":\"subprotocol ampgate-live required\"}";
	else if (!web_session_find(&web, wsi))
		status = 401, why = "{\"error\":\"log in first\"}";
	else if (!web_origin_ok(&web, wsi))
		status = 403, why = "{\"error\":\"the live view opens only from this edge's own page\"}";
	if (!status)
		return 0;
	return write_answer(wsi, status, "application/json", why, strlen(why), NULL, NULL) < 0 ? -1 : 1;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct web_req *r = user;

	if (!web.d) {
		if (reason == LWS_CALLBACK_HTTP || reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
			return -1;
		if ((reason == LWS_CALLBACK_CLOSED_HTTP || reason == LWS_CALLBACK_HTTP_DROP_PROTOCOL) && r)
			req_reset(r, wsi);
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: /* descriptors kept for chargers (lws-loop.h) */
		return lws_loop_fd_for_web((int)(lws_intptr_t)in) ? 0 : -1;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return strcmp((const char *)in, "websocket") == 0 ? confirm_upgrade(wsi) : -1;
	case LWS_CALLBACK_HTTP:
		return on_request(r, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(r, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return route_post(r);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_writeable(r);
	/* lws frees the request's storage when it binds the protocol again (the next request on a
	 * keep-alive connection) and tells only with DROP_PROTOCOL, not CLOSED_HTTP. */
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (r)
			req_reset(r, wsi);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ "http", cb_http, sizeof(struct web_req), 0, 0, NULL, 0 },
	{ "ampgate-live", web_live_cb, sizeof(struct web_live), 1024, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

int web_start(struct ag_daemon *d)
{
	const struct cfg_web *c = &d->cfg->web;
	struct lws_context_creation_info info;
	struct host_port hp;

	if (host_port_parse(c->listen, &hp) < 0)
		return -EINVAL;
	memset(&web, 0, sizeof(web));
	web.d = d;
	web.tls = c->tls.cert && c->tls.key;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "web";
	info.iface = hp.host[0] && strcmp(hp.host, "0.0.0.0") != 0 ? hp.host : NULL;
	info.port = hp.port;
	info.protocols = protocols;
	info.user = &web;
	if (web.tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = c->tls.cert;
		info.ssl_private_key_filepath = c->tls.key;
		info.alpn = "http/1.1"; /* replies are written the HTTP/1 way */
	}
	if (web_live_start(&web) < 0)
		return -ENOMEM;
	web.vh = lws_create_vhost(d->lws, &info);
	if (!web.vh) {
		/* The site keeps being load-managed without its page: not a reason to stop. */
		store_event(d->store, LL_ERROR, "web", NULL,
			    "web page and API cannot listen on %s (address in use, or TLS files unreadable?); "
			    "the site runs on without them; fix web.listen / web.tls and restart",
			    c->listen);
		return 0;
	}
	if (!c->n_users)
		log_msg(LL_WARN, "web: no users in web.users, so nobody can log in; add one with a hash from "
				 "`ampgatectl passwd`");
	log_msg(LL_INFO, "web: page and API on http%s://%s/", web.tls ? "s" : "", c->listen);
	return 0;
}

void web_stop(struct ag_daemon *d)
{
	(void)d;
	if (!web.d)
		return;
	web_live_stop(&web);
	web_auth_clear(&web);
	web.d = NULL; /* the vhost goes with the lws context; late callbacks see a stopped module */
}

void web_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	const struct cfg_web *old = &d->cfg->web, *c = &new_cfg->web;

	if (strcmp(old->listen, c->listen) != 0 || (old->tls.cert == NULL) != (c->tls.cert == NULL))
		log_msg(LL_WARN, "config: web.listen or web.tls changed; it takes effect at the next restart");
	web_auth_reload(&web, new_cfg);
	/* Logged-in people whose user is gone or whose role changed start again at the login. */
	for (size_t i = 0; i < WEB_SESSIONS; i++) {
		struct web_session *s = &web.sessions[i];
		bool keep = false;
		for (size_t u = 0; s->used && u < c->n_users; u++)
			keep |= strcmp(c->users[u].name, s->user) == 0 &&
				strcmp(c->users[u].role, web_role_name(s->role)) == 0;
		if (s->used && !keep) {
			log_msg(LL_NOTICE, "web: %s logged out: user removed or role changed in the configuration", s->user);
			OPENSSL_cleanse(s, sizeof(*s));
		}
	}
}
