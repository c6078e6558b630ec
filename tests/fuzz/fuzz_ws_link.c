/* WebSocket message reassembly (ws-link.c): fragments as libwebsockets hands them to the
 * RECEIVE callback, in any order of first/final flags and sizes, against the link's size limit.
 * A model of the expected message is kept beside the link: a whole message must be exactly the
 * concatenation of its fragments, NUL-terminated; -1 exactly when it exceeds rx_max. Every whole
 * message is then queued with ws_link_send and written by ws_link_writeable, which must write
 * the same bytes, in order.
 *
 * Input: rx_max selector, then fragments: flags (1 first, 2 final, 4 more payload pending in
 * this frame, 8 a 16-bit length follows), length, bytes. The libwebsockets calls ws-link.c makes
 * are stubbed below; the wsi is a dummy. */
#include "tests/fuzz/fuzz.h"
#include "edge/ocpp/ws-link.h"

#include <stdio.h>

static struct {
	unsigned flags;
	const unsigned char *expect;    /* what lws_write must be given */
	size_t expect_len;
	int writes;
} lws_fake;
static int fake_wsi;

int lws_is_first_fragment(struct lws *wsi)
{
	(void)wsi;
	return lws_fake.flags & 1;
}

int lws_is_final_fragment(struct lws *wsi)
{
	(void)wsi;
	return (lws_fake.flags & 2) != 0;
}

size_t lws_remaining_packet_payload(struct lws *wsi)
{
	(void)wsi;
	return lws_fake.flags & 4 ? 10 : 0;
}

FUZZ_LWS_QUEUE_ONLY

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol protocol)
{
	(void)wsi;
	if (protocol != LWS_WRITE_TEXT || len != lws_fake.expect_len || memcmp(buf, lws_fake.expect, len) != 0) {
		fprintf(stderr, "lws_write got other bytes than were queued\n");
		abort();
	}
	lws_fake.writes++;
	return (int)len;
}

void lws_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf, size_t len)
{
	(void)wsi;
	(void)status;
	(void)buf;
	(void)len;
}

FUZZ_DEFAULT_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct ws_link l;
	size_t rx_max = (size_t)16 << (fuzz_u8(&in) % 13);     /* 16 B .. 64 KiB */
	unsigned char *want = malloc(size + 1);
	size_t want_len = 0;

	if (!want)
		abort();
	ws_link_init(&l, rx_max);
	l.wsi = (struct lws *)&fake_wsi;
	while (in.left) {
		lws_fake.flags = fuzz_u8(&in);
		size_t len = lws_fake.flags & 8 ? fuzz_u16(&in) : fuzz_u8(&in);
		if (len > in.left)
			len = in.left;
		if (lws_fake.flags & 1)
			want_len = 0;
		memcpy(want + want_len, in.p, len);
		want_len += len;
		int r = ws_link_rx(&l, l.wsi, in.p, len);
		in.p += len;
		in.left -= len;
		if (r < 0) {
			fuzz_check(want_len > rx_max, "a message within rx_max is refused");
			ws_link_reset(&l);      /* the connection closes with 1009; the next one starts clean */
			l.wsi = (struct lws *)&fake_wsi;
			want_len = 0;
			continue;
		}
		fuzz_check(want_len <= rx_max, "a message beyond rx_max is taken");
		if (r == 0)
			continue;
		fuzz_check((lws_fake.flags & 6) == 2, "whole only at a final fragment with nothing pending");
		fuzz_check(l.rx_len == want_len && memcmp(l.rx, want, want_len) == 0 && l.rx[l.rx_len] == 0,
		      "the message is its fragments, NUL-terminated");
		lws_fake.expect = want;
		lws_fake.expect_len = want_len;
		lws_fake.writes = 0;
		fuzz_check(ws_link_send(&l, l.rx, l.rx_len) == 0 && l.queued == 1, "a message queues");
		fuzz_check(ws_link_writeable(&l) == 0 && lws_fake.writes == 1 && l.queued == 0, "a queued message is written");
		fuzz_check(ws_link_writeable(&l) == 0 && lws_fake.writes == 1, "a spurious WRITEABLE writes nothing");
		ws_link_rx_done(&l);
		want_len = 0;
	}
	ws_link_reset(&l);
	free(want);
	return 0;
}
