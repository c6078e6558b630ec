/* WebSocket link buffers; see ws-link.h. One lws_write per WRITEABLE callback (the rule of
 * libwebsockets), spurious WRITEABLEs tolerated, LWS_PRE headroom kept in every queued frame. */
#include "edge/ws-link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

	while (l->head) {
		struct ws_msg *m = l->head;
		l->head = m->next;
		free(m);
	}
	free(l->rx);
	ws_link_init(l, rx_max);
}

int ws_link_send(struct ws_link *l, const char *text, size_t len)
{
	struct ws_msg *m;

	if (!l->wsi)
		return -ENOTCONN;
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
	lws_callback_on_writable(l->wsi);
	return 0;
}

int ws_link_writeable(struct ws_link *l)
{
	struct ws_msg *m = l->head;

	if (l->close_code) {
		lws_close_reason(l->wsi, (enum lws_close_status)l->close_code, (unsigned char *)l->close_reason,
				 strlen(l->close_reason));
		return -1;
	}
	if (!m)
		return 0;
	if (lws_write(l->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
		return -1;
	l->head = m->next;
	if (!l->head)
		l->tail = NULL;
	l->queued--;
	free(m);
	if (l->head)
		lws_callback_on_writable(l->wsi);
	return 0;
}

void ws_link_close(struct ws_link *l, int code, const char *reason)
{
	if (!l->wsi)
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
	return lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
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
