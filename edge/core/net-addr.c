/* Address parsing for configuration values; see net-addr.h. Strict on purpose: a typo in an
 * address is caught by `ampgated --check`, not discovered at 3 a.m. as a silent meter. */
#include "edge/core/net-addr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

/* Split "host:port" / "[v6]:port" at `s`, up to `end`; port may be absent when `def_port` > 0. */
static int split_host_port(const char *s, size_t len, char *host, size_t host_size, int *port, int def_port)
{
	char buf[300];
	const char *colon;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || (size_t)(close - buf - 1) >= host_size)
			return -EINVAL;
		memcpy(host, buf + 1, (size_t)(close - buf - 1));
		host[close - buf - 1] = 0;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1])
			return -EINVAL;
	} else {
		colon = strrchr(buf, ':');
		size_t hl = colon ? (size_t)(colon - buf) : strlen(buf);
		if (hl >= host_size || memchr(buf, ':', hl))
			return -EINVAL;
		memcpy(host, buf, hl);
		host[hl] = 0;
	}
	if (!colon) {
		*port = def_port;
		return def_port > 0 ? 0 : -EINVAL;
	}
	return parse_port(colon + 1, port);
}

int host_port_parse(const char *s, struct host_port *out)
{
	return split_host_port(s, strlen(s), out->host, sizeof(out->host), &out->port, 0);
}

int ws_url_parse(const char *s, struct ws_url *out)
{
	const char *rest, *slash;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "ws://", 5) == 0)
		rest = s + 5;
	else if (strncmp(s, "wss://", 6) == 0) {
		rest = s + 6;
		out->tls = true;
	} else
		return -EINVAL;
	slash = strchr(rest, '/');
	size_t hl = slash ? (size_t)(slash - rest) : strlen(rest);
	if (hl == 0 || split_host_port(rest, hl, out->host, sizeof(out->host), &out->port, out->tls ? 443 : 80) < 0 ||
	    !out->host[0])
		return -EINVAL;
	snprintf(out->path, sizeof(out->path), "%s", slash ? slash : "/");
	size_t pl = strlen(out->path);
	while (pl > 1 && out->path[pl - 1] == '/')
		out->path[--pl] = 0;
	if (strpbrk(out->path, "?# "))
		return -EINVAL;
	return 0;
}

static int parse_rtu_option(struct modbus_addr *out, const char *name, const char *value)
{
	char *end;
	long v = strtol(value, &end, 10);

	if (strcmp(name, "parity") == 0) {
		if (strlen(value) != 1 || !strchr("NEO", value[0]))
			return -EINVAL;
		out->parity = value[0];
		return 0;
	}
	if (*end || !*value)
		return -EINVAL;
	if (strcmp(name, "baud") == 0 && v >= 300 && v <= 921600)
		out->baud = (int)v;
	else if (strcmp(name, "data") == 0 && v >= 5 && v <= 8)
		out->data_bits = (int)v;
	else if (strcmp(name, "stop") == 0 && (v == 1 || v == 2))
		out->stop_bits = (int)v;
	else
		return -EINVAL;
	return 0;
}

int modbus_addr_parse(const char *s, struct modbus_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(s, "tcp://", 6) == 0) {
		const char *rest = s + 6;
		if (strchr(rest, '/') || split_host_port(rest, strlen(rest), out->host, sizeof(out->host), &out->port, 502) < 0 ||
		    !out->host[0])
			return -EINVAL;
		return 0;
	}
	if (strncmp(s, "rtu://", 6) != 0 || s[6] != '/')
		return -EINVAL;
	out->rtu = true;
	out->baud = 9600;
	out->parity = 'N';
	out->data_bits = 8;
	out->stop_bits = 1;
	const char *q = strchr(s + 6, '?');
	size_t dl = q ? (size_t)(q - (s + 6)) : strlen(s + 6);
	if (dl < 2 || dl >= sizeof(out->device))
		return -EINVAL;
	memcpy(out->device, s + 6, dl);
	out->device[dl] = 0;
	if (!q)
		return 0;
	char opts[256];
	if ((size_t)snprintf(opts, sizeof(opts), "%s", q + 1) >= sizeof(opts))
		return -EINVAL; /* a cut-off option list would drop (and so accept) what follows */
	char *save = NULL;
	for (char *kv = strtok_r(opts, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return -EINVAL;
		*eq = 0;
		if (parse_rtu_option(out, kv, eq + 1) < 0)
			return -EINVAL;
	}
	return 0;
}
