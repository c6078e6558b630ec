/* WebSocket link buffers; see ws-link.h.
 *
 * A frame is written the moment it is sent when the link is idle (nothing queued here, nothing
 * buffered in libwebsockets): waiting for WRITEABLE instead costs a trip round the loop, and on
 * libwebsockets 4.1's libuv backend asking for POLLOUT and dropping it again re-registers the
 * socket with epoll each time (uv_poll_start; 4 epoll_ctl per frame under strace), so a frame
 * queued while the loop works through a burst of reads waited for the whole burst (1-10 ms, at
 * times tens of ms, with 1,000 chargers). A socket that does not take a whole frame is left to
 * lws, which buffers the rest and flushes it before the next WRITEABLE; only then does the queue
 * below come into play, one lws_write per WRITEABLE, spurious WRITEABLEs tolerated, LWS_PRE
 * headroom kept in every queued frame. */
#include "edge/ocpp/ws-link.h"

#include "edge/core/clock.h"
#include "edge/core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Frames up to this size are copied (for the LWS_PRE headroom, and because a client link masks
 * the payload in place) to the stack to be written; larger ones to a short-lived heap buffer. */
#define WS_STACK_FRAME 4096

/* ---- the masking key of every frame an uplink sends ----
 * A client masks each frame with 4 random bytes (RFC 6455 5.3), and libwebsockets 4.1 reads them
 * with one read(2) of /dev/urandom per frame (lib/plat/unix/unix-misc.c: lws_get_random is
 * read(context->fd_random); no context option gives it a buffered generator): with 1,000
 * uplinks, one system call of the ~5 per forwarded frame. The executable defines the function
 * instead, and the dynamic linker binds libwebsockets' calls to it (they go through its PLT): the
 * same kernel generator (getrandom(2), no weaker source), drawn RANDOM_CHUNK bytes at a time.
 * Bytes handed out are wiped from the buffer; a thread of its own buffer (lws calls it on the
 * loop thread only, but nothing else must share a buffer). */
#define RANDOM_CHUNK 4096

size_t lws_get_random(struct lws_context *context, void *buf, size_t len);

size_t lws_get_random(struct lws_context *context, void *buf, size_t len)
{
	static __thread unsigned char pool[RANDOM_CHUNK];
	static __thread size_t left;
	unsigned char *out = buf;
	size_t done = 0;

	(void)context;
	if (len > RANDOM_CHUNK / 4) { /* large requests (keys): straight from the kernel */
		while (done < len) {
			ssize_t n = getrandom(out + done, len - done, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done;
			done += (size_t)n;
		}
		return done;
	}
	while (done < len) {
		if (!left) {
			ssize_t n = getrandom(pool, sizeof(pool), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done; /* lws treats a short read as a failure, as with /dev/urandom */
			left = (size_t)n;
			if (left < sizeof(pool)) /* keep the unused bytes at the end */
				memmove(pool + sizeof(pool) - left, pool, left);
		}
		size_t take = len - done < left ? len - done : left;
		unsigned char *from = pool + sizeof(pool) - left;
		memcpy(out + done, from, take);
		memset(from, 0, take);
		left -= take;
		done += take;
	}
	return done;
}

struct ws_msg {
	struct ws_msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE + len */
};

void ws_link_init(struct ws_link *l, size_t rx_max)
{
	memset(l, 0, sizeof(*l));
	l->rx_max = rx_max;
}

void ws_link_reset(struct ws_link *l)
{
	size_t rx_max = l->rx_max;
	char who[sizeof(l->who)];

	memcpy(who, l->who, sizeof(who));
	while (l->head) {
		struct ws_msg *m = l->head;
		l->head = m->next;
		free(m);
	}
	free(l->rx);
	ws_link_init(l, rx_max);
	memcpy(l->who, who, sizeof(who));
}

/* Write one frame now. Only when the link is idle: a frame never overtakes one queued. */
static int write_now(struct ws_link *l, const char *text, size_t len)
{
	unsigned char stack[LWS_PRE + WS_STACK_FRAME], *buf = stack;
	int n;

	if (len > WS_STACK_FRAME && !(buf = malloc(LWS_PRE + len)))
		return -ENOMEM;
	memcpy(buf + LWS_PRE, text, len);
	n = lws_write(l->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
	if (buf != stack)
		free(buf);
	if (n < (int)len) {
		/* Outside a callback of this wsi we cannot return -1 to close it: close at the next
		 * WRITEABLE, or lws closes it on the socket error. Part of a frame may be out. */
		ws_link_close(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "write failed");
		return -EIO;
	}
	return 0;
}

/* A ping carries the time it was sent: lws hands a pong to the callback only when it has a payload. */
static int write_ping(struct ws_link *l)
{
	unsigned char buf[LWS_PRE + 8];

	memcpy(buf + LWS_PRE, &l->pinged_ms, 8);
	return lws_write(l->wsi, buf + LWS_PRE, 8, LWS_WRITE_PING) < 8 ? -1 : 0;
}

int ws_link_send(struct ws_link *l, const char *text, size_t len)
{
	struct ws_msg *m;

	if (!l->wsi)
		return -ENOTCONN;
	if (!l->held && !l->head && !l->close_code && !lws_partial_buffered(l->wsi))
		return write_now(l, text, len);
	if (l->close_code)
		return -ENOTCONN;
	if (l->queued + 1 > WS_LINK_MAX_FRAMES || l->queued_bytes + len > WS_LINK_MAX_BYTES) {
		log_msg(LL_WARN, "%s does not read what is sent to it: %zu frames (%zu KB) wait; closing its connection "
				 "(a stuck or overloaded peer; it may reconnect)", l->who[0] ? l->who : "a peer", l->queued,
			l->queued_bytes / 1024);
		l->close_code = -1;
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	if (l->tail)
		l->tail->next = m;
	else
		l->head = m;
	l->tail = m;
	l->queued++;
	l->queued_bytes += len;
	if (!l->held)
		lws_callback_on_writable(l->wsi);
	return 0;
}

void ws_link_hold(struct ws_link *l)
{
	l->held = true;
}

void ws_link_release(struct ws_link *l)
{
	if (!l->held)
		return;
	l->held = false;
	if (l->wsi && l->head)
		lws_callback_on_writable(l->wsi);
}

int ws_link_writeable(struct ws_link *l)
{
	struct ws_msg *m = l->head;

	if (l->close_code < 0)
		return 0; /* close frame sent: nothing more goes out */
	if (l->close_code) {
		int code = l->close_code;
		l->close_code = -1;
		return ws_close_frame(l->wsi, code, l->close_reason);
	}
	if (l->ping_due) {
		l->ping_due = false;
		if (write_ping(l) < 0)
			return -1;
		if (m && !l->held)
			lws_callback_on_writable(l->wsi);
		return 0;
	}
	if (!m || l->held)
		return 0;
	if (lws_write(l->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
		return -1;
	l->head = m->next;
	if (!l->head)
		l->tail = NULL;
	l->queued--;
	l->queued_bytes -= m->len;
	free(m);
	if (l->head)
		lws_callback_on_writable(l->wsi);
	return 0;
}

static bool stopping;   /* ws_link_stopping */

void ws_link_stopping(void)
{
	stopping = true;
}

int ws_close_frame(struct lws *wsi, int code, const char *reason)
{
	unsigned char buf[LWS_PRE + 125];
	size_t n = strlen(reason);

	if (n > 123)
		n = 123;
	buf[LWS_PRE] = (unsigned char)(code >> 8);
	buf[LWS_PRE + 1] = (unsigned char)code;
	memcpy(buf + LWS_PRE + 2, reason, n);
	lws_write(wsi, buf + LWS_PRE, n + 2, (enum lws_write_protocol)4); /* LWS_WRITE_CLOSE, private in 4.1 */
	/* The peer answers with its own close frame, on which lws closes; this is in case not. */
	if (!stopping)
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 3);
	return 0;
}

/* Both 0 turns lws's own checks off (with no policy at all it pings every 300 s, hangs up at 310). */
static const uint32_t no_backoff_ms[] = { 1000 }; /* unused; lws must not find it empty */
const lws_retry_bo_t ws_no_idle_policy = {
	.retry_ms_table = no_backoff_ms,
	.retry_ms_table_count = 1,
};

void ws_link_opened(struct ws_link *l, struct lws *wsi, uint64_t now_ms)
{
	l->wsi = wsi;
	l->heard_ms = l->pinged_ms = now_ms;
	l->ping_due = l->ping_hangup = l->rx_paused = false;
}

bool ws_link_rx_throttle(struct ws_link *l, size_t backlog)
{
	if (!l->wsi)
		return false;
	if (!l->rx_paused && backlog > WS_LINK_HIGH_BYTES) {
		lws_rx_flow_control(l->wsi, 0);
		l->rx_paused = true;
		return true;
	}
	if (l->rx_paused && backlog < WS_LINK_LOW_BYTES) {
		lws_rx_flow_control(l->wsi, 1);
		l->rx_paused = false;
	}
	return false;
}

void ws_link_pong(struct ws_link *l, uint64_t now_ms)
{
	l->heard_ms = now_ms;
}

void ws_link_ping_tick(struct ws_link *l, uint64_t now_ms, int interval_s)
{
	if (!l->wsi || !interval_s || l->close_code || l->ping_hangup)
		return;
	if (now_ms - l->heard_ms >= (uint64_t)ws_ping_hangup_s(interval_s) * 1000) {
		/* A half-open link (power, network, a stuck peer): a close frame in case it still
		 * reads, and the socket ended now rather than after waiting for its answer. */
		l->ping_hangup = true;
		l->close_code = -1;
		if (!lws_partial_buffered(l->wsi))
			ws_close_frame(l->wsi, LWS_CLOSE_STATUS_GOINGAWAY, "no answer to pings");
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	if (now_ms - l->heard_ms < (uint64_t)interval_s * 1000 || now_ms - l->pinged_ms < (uint64_t)interval_s * 1000)
		return;
	l->pinged_ms = now_ms;
	if (l->held || l->head || lws_partial_buffered(l->wsi)) {
		l->ping_due = true; /* after what is being written; ws_link_writeable sends it first */
		lws_callback_on_writable(l->wsi);
	} else if (write_ping(l) < 0) {
		ws_link_close(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "write failed");
	}
}

int ws_close_payload(const void *in, size_t len, char *reason, size_t size)
{
	const unsigned char *b = in;

	if (len < 2) {
		reason[0] = 0;
		return 0;
	}
	snprintf(reason, size, "%.*s", (int)(len - 2 < size - 1 ? len - 2 : size - 1), (const char *)b + 2);
	for (char *c = reason; *c; c++) /* it goes into log lines */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return b[0] << 8 | b[1];
}

void ws_link_close(struct ws_link *l, int code, const char *reason)
{
	if (!l->wsi || l->close_code)
		return;
	l->close_code = code;
	strncpy(l->close_reason, reason, sizeof(l->close_reason) - 1);
	lws_callback_on_writable(l->wsi);
}

int ws_link_rx(struct ws_link *l, struct lws *wsi, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		l->rx_len = 0;
		l->rx_overflow = false;
	}
	if (l->rx_overflow || l->rx_len + len > l->rx_max) {
		l->rx_overflow = true;
		return -1;
	}
	if (l->rx_len + len + 1 > l->rx_cap) {
		size_t cap = l->rx_cap ? l->rx_cap : 1024;
		while (cap < l->rx_len + len + 1)
			cap *= 2;
		char *grown = realloc(l->rx, cap);
		if (!grown)
			return -1;
		l->rx = grown;
		l->rx_cap = cap;
	}
	memcpy(l->rx + l->rx_len, in, len);
	l->rx_len += len;
	l->rx[l->rx_len] = 0;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	l->heard_ms = now_ms(); /* the peer is there: no ping needed (ws_link_ping_tick) */
	return 1;
}

void ws_link_rx_done(struct ws_link *l)
{
	l->rx_len = 0;
	/* Give back a buffer an unusually large frame grew, so 1,000 chargers stay small. */
	if (l->rx_cap > 16384) {
		free(l->rx);
		l->rx = NULL;
		l->rx_cap = 0;
	}
}
