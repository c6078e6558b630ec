/* One WebSocket connection's buffers, shared by the charger side (server) and the upstream side
 * (client): frames written at once when the link is idle, else an ordered send queue written one
 * frame per WRITEABLE callback, reassembly of fragmented messages with a size limit, and a close
 * requested from outside a callback. libwebsockets itself puts no bound on a message's size;
 * this does. */
#ifndef AG_WS_LINK_H
#define AG_WS_LINK_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct ws_msg;

/* What may wait on one link for a peer that reads slowly. Above WS_LINK_HIGH_BYTES the owner
 * stops reading the other side (lws_rx_flow_control) and resumes below WS_LINK_LOW_BYTES; past
 * WS_LINK_MAX_BYTES or WS_LINK_MAX_FRAMES the peer is taken as stuck and its connection closed. */
#define WS_LINK_HIGH_BYTES (256 * 1024)
#define WS_LINK_LOW_BYTES (64 * 1024)
#define WS_LINK_MAX_BYTES (4 * 1024 * 1024)
#define WS_LINK_MAX_FRAMES 1024

struct ws_link {
	struct lws *wsi;                /* NULL when not connected */
	struct ws_msg *head, *tail;
	size_t queued;                  /* frames waiting */
	size_t queued_bytes;            /* their payload bytes */
	char who[80];                   /* for log lines: "charger CP1", "the CSMS (uplink of CP1)" */
	char *rx;
	size_t rx_len, rx_cap, rx_max;
	bool rx_overflow;
	int close_code;                 /* > 0: close at the next WRITEABLE; -1: close frame sent */
	bool held;                      /* ws_link_hold: frames wait in the queue until released */
	char close_reason[64];
	/* Pings (ws_link_ping_tick). */
	uint64_t heard_ms;              /* the peer's last message or pong, or when the link opened */
	uint64_t pinged_ms;             /* our last ping */
	bool ping_due;                  /* a ping waits for WRITEABLE (the link was busy) */
	bool ping_hangup;               /* closed by ws_link_ping_tick: no pong in time */
	bool rx_paused;                 /* not read: the other side's queue is long (ws_link_rx_throttle) */
};

void ws_link_init(struct ws_link *l, size_t rx_max);
/* Drop queued frames and buffers; the link can be reused for the next connection. */
void ws_link_reset(struct ws_link *l);

/* Send `text` (not kept): written now when nothing is waiting on the link, else a copy is queued
 * for WRITEABLE. Safe from any callback or uv handler on the loop thread. 0, or -ENOTCONN,
 * -ENOMEM, -EIO (the socket failed; the link is being closed), or -ENOBUFS (past
 * WS_LINK_MAX_BYTES/FRAMES: the peer does not read; logged, and its connection is closed). */
int ws_link_send(struct ws_link *l, const char *text, size_t len);
/* Hold every frame sent from now on in the queue, in order, until ws_link_release (the owner's
 * answer must not leave before what it confirms is on disk). A close still goes out. */
void ws_link_hold(struct ws_link *l);
void ws_link_release(struct ws_link *l);
/* From the WRITEABLE callback: write one frame (or the close). Returns -1 to close the wsi. */
int ws_link_writeable(struct ws_link *l);
/* From a WRITEABLE callback: send a close frame with `code` and `reason` and let the peer's
 * answer (or a 3 s timeout) end the connection. Returns 0, for the callback to return.
 * (Returning -1 from WRITEABLE after lws_close_reason does not work in lws 4.1: lws then marks
 * the socket unusable and drops it without the frame, so peers saw 1006.) */
int ws_close_frame(struct lws *wsi, int code, const char *reason);
/* The daemon is stopping: close frames from now on wait for no answer. The stop guard
 * (daemon.c) ends the loop within 1.5 s and the context's end closes every socket; and lws 4.1
 * keeps its timeouts in one sorted list that each new one walks to its end, so a 3 s timeout per
 * socket made a stop O(n^2): 45 s at 9,500 chargers (19,000 sockets), 133 ms at 1,000. */
void ws_link_stopping(void);
/* Flow control between a charger's two links: `l` is not read while `backlog` (what waits to
 * be written on the other side) is past WS_LINK_HIGH_BYTES, so TCP slows its peer, and is read
 * again below WS_LINK_LOW_BYTES. The flag lives on the link, so the tick's check of every
 * charger does not touch the connection. True when it has just stopped reading. */
bool ws_link_rx_throttle(struct ws_link *l, size_t backlog);
/* ---- WebSocket pings, kept here rather than by libwebsockets ----
 * lws 4.1's idle policy (retry_and_idle_policy) re-inserts a connection's timer into one sorted
 * list per thread at every ping and pong: a walk of every connection each time, 48 % of the
 * daemon's CPU with 9,500 stations (perf, lws_dll2_add_sorted). Its pings are empty, so the pong
 * never reaches the callback either. Instead the owner's periodic tick calls ws_link_ping_tick
 * for each link (a few comparisons), and lws is given ws_no_idle_policy to keep its own off. */
extern const lws_retry_bo_t ws_no_idle_policy;
/* The link is open (ESTABLISHED): its ping clock starts now. */
void ws_link_opened(struct ws_link *l, struct lws *wsi, uint64_t now_ms);
/* From RECEIVE_PONG. */
void ws_link_pong(struct ws_link *l, uint64_t now_ms);
/* Ping a link that has been quiet for `interval_s` (0: never); close one from which nothing,
 * not even a pong, was heard for ws_ping_hangup_s (l->ping_hangup set, a close frame offered,
 * the socket ended at once: the owner's CLOSED callback says why). A whole message counts as
 * heard like a pong: a peer that talks is there, and pinging it anyway cost as many writes as
 * the frames themselves at 9,500 stations sending every 10 s (and a charger on a mobile
 * contract pays for each). Safe from a uv timer on the loop thread. */
void ws_link_ping_tick(struct ws_link *l, uint64_t now_ms, int interval_s);
/* The seconds after it was last heard at which a link is dropped: the interval plus min(interval, 10 s). */
static inline int ws_ping_hangup_s(int interval_s)
{
	return interval_s ? interval_s + (interval_s < 10 ? interval_s : 10) : 0;
}
/* A peer's close frame payload (WS_PEER_INITIATED_CLOSE): its code (0 when none) and its reason
 * into `reason` (control characters made '?'). */
int ws_close_payload(const void *in, size_t len, char *reason, size_t size);
/* Close with `code` and `reason` at the next WRITEABLE (safe from outside a callback). */
void ws_link_close(struct ws_link *l, int code, const char *reason);

/* From the RECEIVE callback: append a fragment. Returns 1 when a whole message is in l->rx
 * (NUL-terminated, l->rx_len bytes), 0 when more is to come, -1 when the message exceeds rx_max
 * (close with 1009). Call ws_link_rx_done after handling a whole message. */
int ws_link_rx(struct ws_link *l, struct lws *wsi, const void *in, size_t len);
void ws_link_rx_done(struct ws_link *l);

#endif
