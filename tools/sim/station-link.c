/* A station's WebSocket link on libwebsockets: connect with the OCPP subprotocol and HTTP
 * Basic auth, reassemble frames, answer the CSMS, send the station's own calls one at a time,
 * and reconnect with jittered exponential backoff when the link drops.
 *
 * The decision to know: one lws_write per WRITEABLE callback, responses before calls, so a
 * CSMS call is never stuck behind the station's own traffic and lws never has to buffer more
 * than one frame per connection. */
#include "tools/sim/station.h"
#include "tools/sim/station-private.h"
#include "tools/sim/fleet.h"
#include "tools/sim/ocpp-dialect.h"
#include "tools/sim/ocpp-msg.h"
#include "edge/daemon.h"
#include "edge/core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define RX_MAX (256 * 1024)
/* A connection attempt not up by then is given up and tried again after the backoff (below). */
#define CONNECT_TIMEOUT_MS 15000

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void station_connect(struct station *st, struct lws_context *ctx, struct lws_vhost *vh)
{
	const struct fleet_opts *o = fleet_opts(st->fleet);
	struct lws_client_connect_info ci;
	char path[600], host[300];

	snprintf(path, sizeof(path), "%s/%s", strcmp(o->url.path, "/") ? o->url.path : "", st->id);
	snprintf(host, sizeof(host), "%s:%d", o->url.host, o->url.port);
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.vhost = vh;
	ci.address = o->url.host;
	ci.port = o->url.port;
	ci.path = path;
	ci.host = host;
	ci.origin = host;
	ci.ssl_connection = o->url.tls ? LCCSCF_USE_SSL : 0;
	ci.protocol = st->dialect->subprotocol;
	ci.local_protocol_name = "ocpp-sim";
	ci.opaque_user_data = st;
	ci.pwsi = &st->wsi;
	st->link = LINK_CONNECTING;
	st->connect_deadline_ms = now_ms() + CONNECT_TIMEOUT_MS;
	if (!lws_client_connect_via_info(&ci) && st->link == LINK_CONNECTING) {
		st->wsi = NULL;
		st->link = LINK_DOWN;
		st->reconnect_at_ms = now_ms() + BACKOFF_FIRST_MS;
	}
}

void station_close(struct station *st)
{
	if (st->wsi && st->link != LINK_DOWN) {
		st->want_close = true;
		lws_callback_on_writable(st->wsi);
	}
}

void link_drop_frames(struct station *st)
{
	while (st->out_head) {
		struct out_frame *f = st->out_head;
		st->out_head = f->next;
		free(f);
	}
	st->out_tail = NULL;
}

static void push_frame(struct station *st, char *text)
{
	size_t len = text ? strlen(text) : 0;
	struct out_frame *f = text ? malloc(sizeof(*f) + LWS_PRE + len) : NULL;

	if (f) {
		f->next = NULL;
		f->len = len;
		memcpy(f->buf + LWS_PRE, text, len);
		if (st->out_tail)
			st->out_tail->next = f;
		else
			st->out_head = f;
		st->out_tail = f;
	}
	free(text);
}

/* The call in flight ended one way or another (payload NULL: no result). */
static void call_done(struct station *st, json_t *payload)
{
	struct intent in = st->pending;

	st->busy = false;
	st->dialect->on_result(st, &in, payload);
}

static void link_down(struct station *st, bool peer_closed)
{
	uint64_t now = now_ms();
	bool was_open = st->link == LINK_OPEN;

	if (st->link == LINK_DOWN || fleet_stopping(st->fleet)) {
		st->link = LINK_DOWN;
		return;
	}
	st->link = LINK_DOWN;
	st->wsi = NULL;
	if (st->busy) {
		stats_call_timeout(fleet_stats(st->fleet), st->pending_action);
		call_done(st, NULL);
	}
	link_drop_frames(st);
	st->rx_len = 0;
	station_link_lost(st);
	if (st->want_close) {      /* our own close: a reset reboots quickly */
		st->want_close = false;
		st->reconnect_at_ms = now + (uint64_t)rng_range(&st->rng, 500, 1500);
		return;
	}
	st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (st->backoff_ms > BACKOFF_MAX_MS)
		st->backoff_ms = BACKOFF_MAX_MS;
	st->reconnect_at_ms = now + (uint64_t)(st->backoff_ms * rng_range(&st->rng, 0.5, 1.5));
	st->reconnects++;
	log_msg(was_open ? LL_INFO : LL_DEBUG, "%s: link %s; reconnecting in %llu ms", st->id,
		peer_closed ? "closed" : "failed", (unsigned long long)(st->reconnect_at_ms - now));
}

/* lws 4.1 frees some client connections without a callback after a storm of refused connects:
 * after an ampgated restart with 4,000 stations, 3,006 sat "connecting" for minutes on a wsi
 * that was gone (touching it crashed). A real charger gives up on a connect after a while too;
 * so does the station, without touching the wsi, whose late callbacks, if it lives, are ignored
 * (station_lws_cb). The daemon's uplinks have their own guard (upstream.connect_timeout_s). */
void link_check_connect(struct station *st, uint64_t now)
{
	if (st->link != LINK_CONNECTING || now < st->connect_deadline_ms)
		return;
	log_msg(LL_DEBUG, "%s: not connected within %d s; trying again", st->id, CONNECT_TIMEOUT_MS / 1000);
	st->wsi = NULL;
	link_down(st, false);
}

void link_check_timeout(struct station *st, uint64_t now)
{
	if (st->busy && now >= st->pending_deadline_ms) {
		log_msg(LL_DEBUG, "%s: %s timed out", st->id, st->pending_action);
		stats_call_timeout(fleet_stats(st->fleet), st->pending_action);
		call_done(st, NULL);
	}
}

bool link_has_work(const struct station *st, uint64_t now)
{
	return st->want_close || st->out_head || (!st->busy && st->q_len) ||
	       (st->role_malformed && st->booted && now >= st->next_junk_ms);
}

static void handle_call(struct station *st, const struct ocpp_frame *f)
{
	const char *err = "NotImplemented";
	json_t *res;

	stats_csms_call(fleet_stats(st->fleet), f->action);
	res = st->dialect->on_call(st, f->action, f->payload, &err);
	if (res)
		push_frame(st, ocpp_result_text(f->id, res));
	else
		push_frame(st, ocpp_error_text(f->id, err, ""));
	json_decref(res);
}

static void handle_message(struct station *st, const char *buf, size_t len)
{
	struct ocpp_frame f;

	if (st->silenced)
		return;
	if (ocpp_frame_parse(buf, len, &f) != REJECT_NONE) {
		log_msg(LL_DEBUG, "%s: unparseable frame from the CSMS: %.*s", st->id, (int)(len > 80 ? 80 : len), buf);
		return;
	}
	if (f.type == OCPP_CALL) {
		handle_call(st, &f);
	} else if (st->busy && !strcmp(f.id, st->pending_id)) {
		struct stats *s = fleet_stats(st->fleet);
		if (f.type == OCPP_RESULT) {
			stats_call_ok(s, st->pending_action, mono_us() - st->pending_sent_us);
			if (st->pending_tx_key[0])
				fleet_tx_acked(st->fleet, st->id, st->pending_tx_key);
			call_done(st, f.payload);
		} else {
			log_msg(LL_INFO, "%s: %s answered with %s", st->id, st->pending_action, f.error_code);
			stats_call_error(s, st->pending_action);
			call_done(st, NULL);
		}
	}
	ocpp_frame_fini(&f);
}

static int write_text(struct lws *wsi, unsigned char *payload, size_t len)
{
	return lws_write(wsi, payload, len, LWS_WRITE_TEXT) < (int)len ? -1 : 0;
}

/* --malformed: a frame a conformant station would never send. */
static int write_junk(struct station *st, struct lws *wsi)
{
	unsigned char buf[LWS_PRE + 128];
	char *p = (char *)buf + LWS_PRE;
	int n;

	switch (rng_next(&st->rng) % 4) {
	case 0:
		n = snprintf(p, 128, "not json{");
		break;
	case 1:
		n = snprintf(p, 128, "[2,\"junk-%u\"]", st->next_msg_id++);
		break;
	case 2:
		n = snprintf(p, 128, "[2,\"junk-%u\",\"Heartbeat\",{\"bogus\":true}]", st->next_msg_id++);
		break;
	default:
		n = snprintf(p, 128, "[2,\"junk-%u\",\"NoSuchAction\",{}]", st->next_msg_id++);
		break;
	}
	st->next_junk_ms = now_ms() + (uint64_t)rng_range(&st->rng, 5000, 15000);
	return write_text(wsi, buf + LWS_PRE, (size_t)n);
}

static int write_call(struct station *st, struct lws *wsi)
{
	const struct fleet_opts *o = fleet_opts(st->fleet);
	struct intent in;
	const char *action = NULL;
	json_t *payload = NULL;
	char *text;
	int rc;

	while (!payload && station_dequeue(st, &in))
		payload = st->dialect->build(st, &in, &action);
	if (!payload)
		return 0;
	if (!action) {
		log_msg(LL_ERROR, "%s: cannot build message kind %d", st->id, in.kind);
		return 0;
	}
	snprintf(st->pending_id, sizeof(st->pending_id), "%u", st->next_msg_id++);
	if (!ocpp_tx_key(action, payload, st->pending_tx_key, sizeof(st->pending_tx_key)))
		st->pending_tx_key[0] = '\0';
	text = ocpp_call_text(st->pending_id, action, payload);
	json_decref(payload);
	if (!text)
		return -1;
	size_t len = strlen(text);
	unsigned char *buf = malloc(LWS_PRE + len);
	if (!buf) {
		free(text);
		return -1;
	}
	memcpy(buf + LWS_PRE, text, len);
	free(text);
	st->busy = true;
	st->pending = in;
	st->pending_action = action;
	st->pending_sent_us = mono_us();
	st->pending_deadline_ms = now_ms() + 1000ULL * (uint64_t)o->call_timeout_s;
	stats_call_sent(fleet_stats(st->fleet), action);
	rc = write_text(wsi, buf + LWS_PRE, len);
	free(buf);
	return rc;
}

static int on_writeable(struct station *st, struct lws *wsi)
{
	uint64_t now = now_ms();
	int rc = 0;

	if (st->want_close) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)"reset", 5);
		return -1;
	}
	if (st->silenced)
		return 0;
	if (st->out_head) {
		struct out_frame *f = st->out_head;
		st->out_head = f->next;
		if (!st->out_head)
			st->out_tail = NULL;
		rc = write_text(wsi, f->buf + LWS_PRE, f->len);
		free(f);
	} else if (st->role_malformed && st->booted && now >= st->next_junk_ms) {
		rc = write_junk(st, wsi);
	} else if (!st->busy) {
		rc = write_call(st, wsi);
	}
	if (rc == 0 && link_has_work(st, now))
		lws_callback_on_writable(wsi);
	return rc;
}

static int on_receive(struct station *st, struct lws *wsi, const void *in, size_t len)
{
	if (st->rx_len + len + 1 > st->rx_cap) {
		size_t cap = st->rx_cap ? st->rx_cap : 4096;
		while (cap < st->rx_len + len + 1)
			cap *= 2;
		if (cap > RX_MAX)
			return -1;
		char *p = realloc(st->rx, cap);
		if (!p)
			return -1;
		st->rx = p;
		st->rx_cap = cap;
	}
	memcpy(st->rx + st->rx_len, in, len);
	st->rx_len += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	handle_message(st, st->rx, st->rx_len);
	st->rx_len = 0;
	if (link_has_work(st, now_ms()))
		lws_callback_on_writable(wsi);
	return 0;
}

static int add_basic_auth(struct station *st, struct lws *wsi, void *in, size_t len)
{
	unsigned char **p = (unsigned char **)in, *end = *p + len;
	char plain[160], b64[240], value[260];
	int n;

	if (!st->password[0])
		return 0;
	n = snprintf(plain, sizeof(plain), "%s:%s", st->id, st->password);
	if (lws_b64_encode_string(plain, n, b64, sizeof(b64)) < 0)
		return -1;
	n = snprintf(value, sizeof(value), "Basic %s", b64);
	return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)value, n, p, end)
		       ? -1 : 0;
}

static int station_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct station *st = lws_get_opaque_user_data(wsi);

	(void)user;
	if (!st || wsi != st->wsi)      /* not the station's current connection: one it gave up on */
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_basic_auth(st, wsi, in, len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		st->link = LINK_OPEN;
		st->want_close = false;
		st->busy = false;
		st->boot_retry_at_ms = 0;
		station_enqueue(st, IK_BOOT, 0);
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(st, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(st, wsi);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		log_msg(LL_DEBUG, "%s: connect failed: %s", st->id, in ? (const char *)in : "?");
		link_down(st, false);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		link_down(st, true);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "ocpp-sim", station_lws_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

const struct lws_protocols *station_lws_protocols(void)
{
	return protocols;
}
