/* A small client of the daemon's REST API for ampgatectl: HTTP/1.1 over TCP, or over TLS
 * (OpenSSL, the peer's certificate checked against the system's CAs or --cafile), one request
 * per connection, a login that keeps the session cookie.
 *
 * Design decision: no HTTP library. The API answers with a Content-Length and the CLI makes
 * two or three requests, so a blocking socket and a few lines of parsing do it; libwebsockets'
 * client would need an event loop for that. */
#include "tools/ctl/rest.h"
#include "edge/core/net-addr.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_MAX (8 * 1024 * 1024)

static void fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

int rest_init(struct rest *r, const char *url, char *err, size_t size)
{
	struct ws_url u;
	char ws[600];

	memset(r, 0, sizeof(*r));
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
		snprintf(ws, sizeof(ws), "ws%s", url + 4); /* the same shape as ws:// and wss:// */
	else
		ws[0] = '\0';
	if (!ws[0] || ws_url_parse(ws, &u) < 0) {
		fail(err, size, "%s is not an http:// or https:// address of the edge's web page", url);
		return -EINVAL;
	}
	snprintf(r->host, sizeof(r->host), "%s", u.host);
	r->port = u.port;
	r->tls = u.tls;
	return 0;
}

static int dial(const struct rest *r, char *err, size_t size)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int fd = -1, rc;

	snprintf(port, sizeof(port), "%d", r->port);
	if ((rc = getaddrinfo(r->host, port, &hints, &res)) != 0) {
		fail(err, size, "cannot resolve %s: %s", r->host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fail(err, size, "cannot reach the edge at %s:%d (%s): is ampgated running and web.listen this address?",
		     r->host, r->port, strerror(errno));
	return fd < 0 ? -ECONNREFUSED : fd;
}

struct conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
}

static int conn_open(const struct rest *r, struct conn *c, char *err, size_t size)
{
	memset(c, 0, sizeof(*c));
	if ((c->fd = dial(r, err, size)) < 0)
		return c->fd;
	if (!r->tls)
		return 0;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx || !(c->ssl = SSL_new(c->ctx)))
		goto tls_failed;
	if (r->insecure) {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	} else {
		if ((r->cafile ? SSL_CTX_load_verify_locations(c->ctx, r->cafile, NULL)
			       : SSL_CTX_set_default_verify_paths(c->ctx)) != 1)
			goto tls_failed;
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
		SSL_set1_host(c->ssl, r->host);
	}
	SSL_set_tlsext_host_name(c->ssl, r->host);
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) == 1)
		return 0;
tls_failed:
	fail(err, size, "TLS with %s:%d failed: %s%s", r->host, r->port, ERR_reason_error_string(ERR_get_error()),
	     r->insecure ? "" : " (--cafile FILE for the edge's own CA, or --insecure)");
	conn_close(c);
	return -EPROTO;
}

static int conn_write(struct conn *c, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = c->ssl ? SSL_write(c->ssl, buf, (int)len) : write(c->fd, buf, len);
		if (n <= 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t conn_read(struct conn *c, char *buf, size_t len)
{
	return c->ssl ? SSL_read(c->ssl, buf, (int)len) : read(c->fd, buf, len);
}

/* Read until the body named by Content-Length is in (or the peer closes). The reply is
 * NUL-terminated; *body points into it. */
static int read_reply(struct conn *c, char **reply, char **body)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	long want = -1;

	while (buf) {
		if (len + 1 >= cap) {
			char *grown = cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		ssize_t n = conn_read(c, buf + len, cap - len - 1);
		if (n > 0)
			len += (size_t)n;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end && want < 0) {
			const char *cl = strcasestr(buf, "\r\ncontent-length:");
			want = cl && cl < end ? strtol(cl + 17, NULL, 10) : -2;
		}
		if (n <= 0 || (end && want >= 0 && len >= (size_t)(end + 4 - buf) + (size_t)want)) {
			if (!end)
				break;
			*reply = buf;
			*body = end + 4;
			return 0;
		}
	}
	free(buf);
	return -EIO;
}

json_t *rest_call(struct rest *r, const char *method, const char *path, const char *body, int *status, char *err,
		  size_t size)
{
	struct conn c;
	char *req = NULL, *reply = NULL, *text;
	json_t *j = NULL;

	*status = 0;
	if (conn_open(r, &c, err, size) < 0)
		return NULL;
	char cookie[sizeof(r->cookie) + 16] = "", length[80] = "";
	if (r->cookie[0])
		snprintf(cookie, sizeof(cookie), "Cookie: %s\r\n", r->cookie);
	if (body)
		snprintf(length, sizeof(length), "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
	int n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\nAccept: application/json\r\n%s%s\r\n%s",
			 method, path, r->host, r->port, cookie, length, body ? body : "");
	if (n < 0 || conn_write(&c, req, (size_t)n) < 0 || read_reply(&c, &reply, &text) < 0 ||
	    sscanf(reply, "HTTP/1.%*d %d", status) != 1) {
		fail(err, size, "the edge at %s:%d did not answer %s %s", r->host, r->port, method, path);
		goto out;
	}
	const char *set = strcasestr(reply, "\r\nset-cookie: ");
	if (set && set < text) {
		size_t len = strcspn(set + 14, ";\r\n");
		if (len < sizeof(r->cookie))
			snprintf(r->cookie, sizeof(r->cookie), "%.*s", (int)len, set + 14);
	}
	j = json_loads(text, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	if (!j)
		fail(err, size, "the edge answered %s %s with %d and no JSON", method, path, *status);
	else if (*status >= 400)
		fail(err, size, "%s", msg ? msg : "the edge refused the request");
out:
	free(req);
	free(reply);
	conn_close(&c);
	return j;
}

int rest_login(struct rest *r, const char *user, const char *password, char *err, size_t size)
{
	json_t *b = json_pack("{s:s, s:s}", "name", user, "password", password);
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	int status;

	json_decref(b);
	if (!body)
		return -ENOMEM;
	json_t *j = rest_call(r, "POST", "/api/v1/login", body, &status, err, size);
	free(body);
	json_decref(j);
	if (status != 200 || !r->cookie[0]) {
		if (status == 200)
			fail(err, size, "the edge did not hand out a session");
		return -EACCES;
	}
	return 0;
}
