/* OCPP proxy routing; see proxy.h.
 *
 * The one rule that shapes this file: each direction of a link has at most one CALL in flight.
 * Charger -> CSMS: the charger's own CALL (`from_charger`), answered by the CSMS or, when there is
 * none, by the edge. CSMS/edge -> charger: `to_charger`, with the CSMS's calls queued ahead of the
 * edge's; a result is matched to the one call in flight, so an edge id can never be mistaken for
 * a CSMS id and edge results are never forwarded. */
#include "edge/ocpp/proxy.h"
#include "edge/ocpp/auth-cache.h"
#include "edge/ocpp/charger-model.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/core/net-addr.h"
#include "edge/ocpp/ocpp-server.h"
#include "edge/ocpp/ocpp-auth.h"
#include "edge/ocpp/ocpp-upstream.h"
#include "edge/ocpp/pending.h"
#include "edge/ocpp/replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Each charger's periodic turn comes every TICK_MS, spread over TICK_SLICES calls of the timer:
 * a call walks a fifth of the chargers, so at ten thousand of them no call holds the loop (and
 * every frame waiting on it) for the time a walk of all of them takes. */
#define TICK_MS 250
#define TICK_SLICES 5

static const char *version_name(enum ocpp_version v)
{
	return v == OCPP16 ? "OCPP 1.6" : "OCPP 2.0.1";
}

int proxy_subscribe(struct proxy *p, proxy_cb cb, void *arg)
{
	for (size_t i = 0; i < PROXY_SUBSCRIBERS; i++)
		if (!p->subs[i].cb) {
			p->subs[i].cb = cb;
			p->subs[i].arg = arg;
			return 0;
		}
	return -ENOSPC;
}

void proxy_unsubscribe(struct proxy *p, proxy_cb cb, void *arg)
{
	for (size_t i = 0; i < PROXY_SUBSCRIBERS; i++)
		if (p->subs[i].cb == cb && p->subs[i].arg == arg)
			p->subs[i].cb = NULL;
}

void proxy_emit(struct proxy *p, struct charger *ch, enum proxy_event ev)
{
	uint64_t now = now_ms();

	for (size_t i = 0; i < PROXY_SUBSCRIBERS; i++)
		if (p->subs[i].cb)
			p->subs[i].cb(p->subs[i].arg, p, ch, ev, now);
}

struct charger *proxy_find(struct proxy *p, const char *id)
{
	return charger_index_find(&p->by_id, id);
}

static void hold_answer(struct proxy *p, struct charger *ch)
{
	if (ch->down.held)
		return;
	if (p->n_held == p->cap_held) {
		size_t cap = p->cap_held ? p->cap_held * 2 : 64;
		struct charger **grown = realloc(p->held, cap * sizeof(*grown));
		if (!grown) {
			store_commit(p->d->store); /* no room to wait: commit now instead */
			return;
		}
		p->held = grown;
		p->cap_held = cap;
	}
	ws_link_hold(&ch->down);
	p->held[p->n_held++] = ch;
}

void proxy_store_committed(struct proxy *p, bool ok)
{
	for (size_t i = 0; i < p->n_held; i++) {
		struct charger *ch = p->held[i];
		if (ok)
			ws_link_release(&ch->down);
		else if (ch->down.held)
			ws_link_close(&ch->down, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "the edge cannot store; send it again");
	}
	p->n_held = 0;
}

void proxy_touch(struct proxy *p, struct charger *ch)
{
	if (ch->touched)
		return;
	if (p->n_touched == p->cap_touched) {
		size_t cap = p->cap_touched ? p->cap_touched * 2 : 64;
		struct charger **grown = realloc(p->touched, cap * sizeof(*grown));
		if (!grown)
			return; /* the observer's periodic scan sees it */
		p->touched = grown;
		p->cap_touched = cap;
	}
	ch->touched = true;
	p->touched[p->n_touched++] = ch;
}

struct charger *proxy_add(struct proxy *p, const char *id, const struct cfg_charger *cfg)
{
	struct charger *ch;

	if (p->n_chargers == p->cap_chargers) {
		size_t cap = p->cap_chargers ? p->cap_chargers * 2 : 16;
		struct charger **grown = realloc(p->chargers, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		p->chargers = grown;
		p->cap_chargers = cap;
	}
	ch = charger_new(id, cfg);
	if (!ch)
		return NULL;
	if (charger_index_put(&p->by_id, ch) < 0) {
		charger_free(ch);
		return NULL;
	}
	size_t rx_max = (size_t)p->d->cfg->ocpp.max_frame_bytes;
	ws_link_init(&ch->down, rx_max);
	ws_link_init(&ch->up, rx_max);
	ch->proxy = p;
	ch->limit_a = charger_fallback_a(ch, p->d->cfg); /* until the site's first solve */
	ch->index = p->n_chargers;
	p->chargers[p->n_chargers++] = ch;
	return ch;
}

struct charger *proxy_add_pending(struct proxy *p, const char *id)
{
	struct charger *ch = proxy_add(p, id, NULL);

	if (ch)
		store_event(p->d->store, LL_WARN, "charger", id,
			    "unknown station connected; held as pending until a site manager accepts it");
	return ch;
}

void proxy_del(struct proxy *p, struct charger *ch)
{
	if (ch->down.wsi) {
		struct lws *wsi = ch->down.wsi;
		void **pss = lws_wsi_user(wsi);
		proxy_charger_closed(p, ch);
		if (pss)
			*pss = NULL;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	for (size_t i = 0; i < p->n_chargers; i++)
		if (p->chargers[i] == ch) {
			memmove(&p->chargers[i], &p->chargers[i + 1], (p->n_chargers - i - 1) * sizeof(*p->chargers));
			p->n_chargers--;
			for (; i < p->n_chargers; i++)
				p->chargers[i]->index = i;
			break;
		}
	for (size_t i = 0; ch->touched && i < p->n_touched; i++)
		if (p->touched[i] == ch) {
			p->touched[i] = p->touched[--p->n_touched];
			ch->touched = false;
		}
	for (size_t i = 0; i < p->n_held; i++)
		if (p->held[i] == ch)
			p->held[i--] = p->held[--p->n_held];
	charger_index_drop(&p->by_id, ch);
	proxy_emit(p, ch, PROXY_REMOVED);
	charger_free(ch);
}

static void send_down(struct proxy *p, struct charger *ch, const char *text, size_t len)
{
	if (ws_link_send(&ch->down, text, len) == 0)
		p->frames_out++;
}

void proxy_answer_charger(struct proxy *p, struct charger *ch, const char *text, size_t len)
{
	/* What the call and its answer wrote (a connector row, a session's start, "booted") is on
	 * disk before the charger has the answer: while it is still in the store's batch, the answer
	 * waits on the link for the loop's commit, and so does whatever follows it. */
	if (store_pending(p->d->store, ch->store_mark))
		hold_answer(p, ch);
	send_down(p, ch, text, len);
}

static void send_up(struct proxy *p, struct charger *ch, const char *text, size_t len)
{
	if (ws_link_send(&ch->up, text, len) == 0)
		p->frames_out++;
}

/* The charger's call goes to the CSMS, once: from now on only the CSMS's answer or a lost
 * uplink ends it there (replay.c). */
static void send_held(struct proxy *p, struct charger *ch)
{
	struct call *fc = &ch->from_charger;

	if (ws_link_send(&ch->up, fc->text, strlen(fc->text)) == 0) {
		p->frames_out++;
		fc->up_sent_ms = now_ms();
	}
}

/* Send the next waiting call to the charger if none is in flight. */
static void pump(struct proxy *p, struct charger *ch)
{
	struct call *c = ch->wait_head;

	if (ch->to_charger.active || !c || !charger_online(ch))
		return;
	ch->wait_head = c->next;
	if (!ch->wait_head)
		ch->wait_tail = NULL;
	if (!c->text)
		c->text = ocpp_call_text(c->id, c->action, c->payload);
	ch->to_charger = *c;
	ch->to_charger.next = NULL;
	ch->to_charger.sent_ms = now_ms();
	proxy_touch(p, ch);
	free(c);
	if (ch->to_charger.text)
		send_down(p, ch, ch->to_charger.text, strlen(ch->to_charger.text));
}

/* Queue a call for the charger: the CSMS's go after the CSMS's already waiting, ahead of the
 * edge's own. Takes ownership of `c`. */
static void enqueue(struct proxy *p, struct charger *ch, struct call *c)
{
	c->active = true;
	c->next = NULL;
	if (c->origin == ORIGIN_CSMS) {
		struct call **at = &ch->wait_head;
		while (*at && (*at)->origin == ORIGIN_CSMS)
			at = &(*at)->next;
		c->next = *at;
		*at = c;
		if (!c->next)
			ch->wait_tail = c;
	} else {
		if (ch->wait_tail)
			ch->wait_tail->next = c;
		else
			ch->wait_head = c;
		ch->wait_tail = c;
	}
	pump(p, ch);
}

static struct call *edge_call_new(struct charger *ch, const char *action, edge_call_cb cb)
{
	struct call *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->origin = ORIGIN_EDGE;
	snprintf(c->id, sizeof(c->id), "ampgate-%08x", ++ch->next_edge_id);
	snprintf(c->action, sizeof(c->action), "%s", action);
	c->cb = cb;
	return c;
}

int proxy_edge_call(struct proxy *p, struct charger *ch, const char *action, json_t *payload, edge_call_cb cb)
{
	struct call *c = edge_call_new(ch, action, cb);

	if (!c) {
		json_decref(payload);
		return -ENOMEM;
	}
	c->payload = payload;
	enqueue(p, ch, c);
	return 0;
}

int proxy_edge_call_text(struct proxy *p, struct charger *ch, const char *action, const char *payload_json,
			 edge_call_cb cb)
{
	struct call *c = edge_call_new(ch, action, cb);

	if (!c || !(c->text = ocpp_call_text_json(c->id, c->action, payload_json))) {
		free(c);
		return -ENOMEM;
	}
	enqueue(p, ch, c);
	return 0;
}

static void reject_frame(struct proxy *p, struct charger *ch, const struct ocpp_frame *f, enum ocpp_reject why,
			 bool from_csms)
{
	static const char *const what[] = { [REJECT_NOT_JSON] = "not JSON",
					    [REJECT_NOT_RPC] = "not an OCPP-J message (array with a message id)",
					    [REJECT_BAD_TYPE] = "unknown message type",
					    [REJECT_FORMAT] = "malformed CALL/CALLRESULT/CALLERROR",
					    [REJECT_TOO_DEEP] = "nested too deeply" };
	p->rejected++;
	log_msg(LL_DEBUG, "charger %s: %s frame refused: %s", ch->id, from_csms ? "CSMS" : "charger", what[why]);
	if (f->type == OCPP_RESULT || f->type == OCPP_ERROR)
		return; /* results are never answered */
	char *err = ocpp_error_text(f->id, ocpp_reject_code(why, ch->version), what[why]);
	if (!err)
		return;
	if (from_csms)
		send_up(p, ch, err, strlen(err));
	else
		send_down(p, ch, err, strlen(err));
	free(err);
}

/* A copy of a charger's call for holding, in the buffer of the last answered one: a frame of a
 * kilobyte or more allocated and freed per call made glibc consolidate every small chunk the
 * frame's parse had freed (malloc_consolidate was the top symbol at 1,000 chargers). */
static char *held_copy(struct charger *ch, const char *text, size_t len)
{
	char *buf = ch->spare_text;

	if (!buf || ch->spare_cap < len + 1) {
		free(buf);
		ch->spare_cap = len + 1 < 2048 ? 2048 : len + 1;
		buf = malloc(ch->spare_cap);
	}
	ch->spare_text = NULL;
	ch->held_spare = buf != NULL;
	if (!buf)
		return NULL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return buf;
}

/* The answered call's text goes back to be reused (only a copy of our size class; a rewritten
 * text is freed with the call). */
static void keep_spare(struct charger *ch, struct call *c)
{
	if (!c->text || ch->spare_text || !ch->held_spare)
		return;
	ch->spare_text = c->text;
	c->text = NULL;
	ch->held_spare = false;
}

static void charger_call(struct proxy *p, struct charger *ch, struct ocpp_frame *f, const char *text, size_t len)
{
	if (ch->from_charger.active)
		log_msg(LL_DEBUG, "charger %s: sent %s before %s was answered", ch->id, f->action, ch->from_charger.action);
	call_clear(&ch->from_charger);
	ch->from_charger.active = true;
	ch->from_charger.origin = ORIGIN_CHARGER;
	snprintf(ch->from_charger.id, sizeof(ch->from_charger.id), "%s", f->id);
	snprintf(ch->from_charger.action, sizeof(ch->from_charger.action), "%s", f->action);
	ch->from_charger.payload = json_incref(f->payload);
	ch->from_charger.sent_ms = now_ms();
	charger_model_call(p, ch, f);
	/* Known down (waiting to reconnect), or a backlog to deliver first: the edge answers, and
	 * what it acknowledges is queued behind the backlog (replay.c). */
	if (ch->pending || ch->up_state == UP_NONE || ch->up_state == UP_WAIT || replay_backlog(ch)) {
		proxy_answer_locally(p, ch, f);
		return;
	}
	/* A 1.6 transaction started offline goes on under the CSMS's id. */
	char *rewritten = replay_rewrite_up(ch, f);
	ch->held_spare = false;
	ch->from_charger.text = rewritten ? rewritten : held_copy(ch, text, len);
	if (ch->up_state == UP_OPEN && ch->from_charger.text)
		send_held(p, ch);
	/* Otherwise held until the uplink opens, or answered by the edge when it does not in time. */
}

void proxy_from_charger(struct proxy *p, struct charger *ch, const char *text, size_t len)
{
	struct ocpp_frame f;
	enum ocpp_reject why;

	p->frames_in++;
	ch->rx_frames++;
	ch->last_rx_ms = now_ms();
	proxy_touch(p, ch);
	why = ocpp_frame_parse(text, len, &f);
	if (why != REJECT_NONE) {
		reject_frame(p, ch, &f, why, false);
		ocpp_frame_fini(&f);
		return;
	}
	if (f.type == OCPP_CALL) {
		charger_call(p, ch, &f, text, len);
	} else if (ch->to_charger.active && strcmp(ch->to_charger.id, f.id) == 0) {
		struct call *c = &ch->to_charger;
		charger_model_result(p, ch, c, &f);
		auth_seen_result(p, ch, c, &f);
		if (c->origin == ORIGIN_EDGE) {
			if (c->cb)
				c->cb(ch, c->action, c->payload, f.type == OCPP_RESULT ? f.payload : NULL, f.error_code);
		} else if (ch->up_state == UP_OPEN) {
			send_up(p, ch, text, len);
		}
		call_clear(c);
		pump(p, ch);
	} else {
		log_msg(LL_DEBUG, "charger %s: answer to unknown message id %s dropped", ch->id, f.id);
	}
	ocpp_frame_fini(&f);
}

void proxy_from_csms(struct proxy *p, struct charger *ch, const char *text, size_t len)
{
	struct ocpp_frame f;
	enum ocpp_reject why;

	p->frames_in++;
	why = ocpp_frame_parse(text, len, &f);
	if (why != REJECT_NONE) {
		reject_frame(p, ch, &f, why, true);
		ocpp_frame_fini(&f);
		return;
	}
	if (f.type == OCPP_CALL) {
		struct call *c = calloc(1, sizeof(*c));
		if (c) {
			c->origin = ORIGIN_CSMS;
			snprintf(c->id, sizeof(c->id), "%s", f.id);
			snprintf(c->action, sizeof(c->action), "%s", f.action);
			c->payload = json_incref(f.payload);
			c->text = replay_rewrite_down(ch, &f);
			if (!c->text)
				c->text = strndup(text, len);
			charger_model_csms_call(p, ch, &f);
			enqueue(p, ch, c);
		}
	} else if (replay_from_csms(p, ch, &f)) {
		/* the answer to a replayed message: the charger had its answer from the edge */
	} else if (ch->from_charger.active && strcmp(ch->from_charger.id, f.id) == 0) {
		/* Durable first: what the CSMS's answer makes true is stored before the charger sees it. */
		charger_model_result(p, ch, &ch->from_charger, &f);
		auth_seen_result(p, ch, &ch->from_charger, &f);
		replay_live_result(p, ch, &ch->from_charger, &f);
		proxy_answer_charger(p, ch, text, len);
		keep_spare(ch, &ch->from_charger);
		call_clear(&ch->from_charger);
		replay_pump(p, ch);
	} else {
		log_msg(LL_DEBUG, "charger %s: CSMS answer to unknown message id %s dropped", ch->id, f.id);
	}
	ocpp_frame_fini(&f);
}

void proxy_charger_connected(struct proxy *p, struct charger *ch)
{
	ch->connected_ms = ch->last_rx_ms = now_ms();
	ch->up_attempts = 0;
	proxy_touch(p, ch);
	store_event(p->d->store, LL_INFO, "charger", ch->id, "connected (%s)", version_name(ch->version));
	if (p->upstream_host[0] && !ch->pending)
		ocpp_upstream_connect(p, ch);
	else
		ch->up_state = UP_NONE;
	proxy_emit(p, ch, PROXY_CONNECTED);
}

void proxy_charger_closed(struct proxy *p, struct charger *ch)
{
	ocpp_upstream_drop(p, ch);
	replay_link_down(ch);
	charger_reset_calls(ch);
	ws_link_reset(&ch->down);
	ch->down.wsi = NULL;
	proxy_touch(p, ch);
	ch->booted = false;
	proxy_emit(p, ch, PROXY_CLOSED);
	store_event(p->d->store, LL_INFO, "charger", ch->id, "disconnected");
}

void proxy_upstream_opened(struct proxy *p, struct charger *ch)
{
	ch->up_state = UP_OPEN;
	ch->up_attempts = 0;
	log_msg(LL_INFO, "charger %s: uplink to the CSMS open", ch->id);
	auth_uplink_back(p, ch);
	/* A held call goes first unless a backlog must (then the edge answers it at its timeout). */
	if (ch->from_charger.active && ch->from_charger.text && !replay_backlog(ch))
		send_held(p, ch);
	replay_pump(p, ch);
}

/* The charger's call held for (or sent to) the CSMS gets the edge's answer instead. */
static void answer_held(struct proxy *p, struct charger *ch)
{
	struct call *fc = &ch->from_charger;
	struct ocpp_frame f = { .type = OCPP_CALL, .payload = fc->payload, .text = fc->text, .len = strlen(fc->text) };

	snprintf(f.id, sizeof(f.id), "%s", fc->id);
	snprintf(f.action, sizeof(f.action), "%s", fc->action);
	proxy_answer_locally(p, ch, &f);
}

void proxy_upstream_closed(struct proxy *p, struct charger *ch, const char *why)
{
	bool was_open = ch->up_state == UP_OPEN;

	if (!charger_online(ch) || ch->up_state == UP_NONE)
		return;
	replay_link_down(ch);
	ocpp_upstream_backoff(p, ch, now_ms());
	/* No CSMS to answer a call held or in flight: the edge does, now (it is queued, and sent
	 * again on the next uplink if the CSMS did get it: at least once, never lost). */
	ch->from_charger.up_sent_ms = 0;
	if (ch->from_charger.active && ch->from_charger.text)
		answer_held(p, ch);
	log_msg(was_open ? LL_WARN : LL_INFO, "charger %s: uplink to the CSMS %s (%s); retrying in %.1f s", ch->id,
		was_open ? "lost" : "not reachable", why, (double)(ch->up_retry_ms - now_ms()) / 1000.0);
	if (strcmp(p->d->cfg->upstream.partition, "strict") == 0) {
		/* OCPP 2.0.1 Part 4 §6.3: close the charger's socket so it queues by itself. */
		ws_link_close(&ch->down, LWS_CLOSE_STATUS_GOINGAWAY, "uplink lost");
	}
}

/* Pings, calls nobody answered in time, reconnects that are due, profiles to renew: for the
 * chargers of this slice (a charger removed meanwhile shifts the rest, so one may wait a round). */
static void on_tick(uv_timer_t *t)
{
	struct proxy *p = t->data;
	const struct ag_config *cfg = p->d->cfg;
	uint64_t now = now_ms();
	uint64_t charger_timeout = (uint64_t)cfg->ocpp.call_timeout_s * 1000;
	uint64_t csms_timeout = (uint64_t)cfg->upstream.call_timeout_s * 1000;
	uint64_t answer_after = (uint64_t)cfg->upstream.answer_after_s * 1000;
	size_t slice = p->tick_slice, end = (slice + 1) * p->n_chargers / TICK_SLICES;

	p->tick_slice = (slice + 1) % TICK_SLICES;
	ocpp_auth_summary(now);
	for (size_t i = slice * p->n_chargers / TICK_SLICES; i < end && i < p->n_chargers; i++) {
		struct charger *ch = p->chargers[i];
		ws_link_ping_tick(&ch->down, now, cfg->ocpp.ping_interval_s);
		ws_link_ping_tick(&ch->up, now, cfg->upstream.ping_interval_s);
		if (!charger_online(ch))
			continue;
		ocpp_upstream_tick(p, ch, now);
		struct call *fc = &ch->from_charger;
		/* Held (uplink connecting, or a backlog ahead of it): answered soon. With the CSMS:
		 * answered in time for the charger's own timeout, counted from when the charger
		 * sent it; the call stays with the CSMS and its late answer is taken (replay.c). */
		uint64_t wait = fc->up_sent_ms ? answer_after : csms_timeout / 6 + 1000;
		if (wait > answer_after)
			wait = answer_after;
		if (fc->active && fc->text && now - fc->sent_ms > wait) {
			if (fc->up_sent_ms)
				log_msg(LL_NOTICE, "charger %s: the CSMS has not answered %s within %d s (upstream.answer_after_s); "
						   "the edge answers the charger and still takes the CSMS's answer",
					ch->id, fc->action, cfg->upstream.answer_after_s);
			else
				log_msg(LL_NOTICE, "charger %s: no answer from the CSMS to %s; the edge answers", ch->id, fc->action);
			answer_held(p, ch);
		}
		struct call *tc = &ch->to_charger;
		if (tc->active && now - tc->sent_ms > charger_timeout) {
			log_msg(LL_WARN, "charger %s: no answer to %s within %d s", ch->id, tc->action, cfg->ocpp.call_timeout_s);
			if (tc->origin == ORIGIN_EDGE && tc->cb)
				tc->cb(ch, tc->action, tc->payload, NULL, "timeout");
			call_clear(tc);
			pump(p, ch);
		}
		replay_tick(p, ch, now);
		proxy_emit(p, ch, PROXY_TICK);
	}
}

int proxy_start(struct ag_daemon *d)
{
	struct proxy *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->d = d;
	d->proxy = p;
	/* The handle first: proxy_stop closes it whether or not the rest started. */
	uv_timer_init(&d->loop, &p->tick);
	p->tick.data = p;
	for (size_t i = 0; i < d->cfg->n_chargers; i++)
		if (!proxy_add(p, d->cfg->chargers[i].id, &d->cfg->chargers[i]))
			return -ENOMEM;
	if ((rc = pending_load(p)) < 0)
		return rc;
	if (d->cfg->upstream.url) {
		struct ws_url u;
		if (ws_url_parse(d->cfg->upstream.url, &u) < 0)
			return -EINVAL;
		snprintf(p->upstream_host, sizeof(p->upstream_host), "%s", u.host);
		snprintf(p->upstream_path, sizeof(p->upstream_path), "%s", u.path);
		p->upstream_port = u.port;
		p->upstream_tls = u.tls;
	} else {
		log_msg(LL_NOTICE, "upstream.url is not set: the edge answers chargers itself (no CSMS)");
	}
	/* The outbox and the open transactions of the previous run, before any charger is let in. */
	if ((rc = replay_start(p)) < 0 || (rc = charger_model_load(p)) < 0)
		return rc;
	if ((rc = ocpp_server_start(p)) < 0 || (rc = ocpp_upstream_start(p)) < 0)
		return rc;
	uv_timer_start(&p->tick, on_tick, TICK_MS / TICK_SLICES, TICK_MS / TICK_SLICES);
	return 0;
}

void proxy_stop(struct ag_daemon *d)
{
	struct proxy *p = d->proxy;

	if (!p)
		return;
	uv_timer_stop(&p->tick);
	uv_close((uv_handle_t *)&p->tick, NULL);
	ocpp_server_stop(p);
	replay_stop(p);
	charger_model_unload(p);
	/* The sockets close after this (with the lws context); detach them from the chargers first. */
	ws_link_stopping();
	for (size_t i = 0; i < p->n_chargers; i++) {
		struct charger *ch = p->chargers[i];
		ocpp_server_close(p, ch, LWS_CLOSE_STATUS_GOINGAWAY, "edge shutting down");
		ocpp_upstream_close(p, ch, LWS_CLOSE_STATUS_GOINGAWAY, "edge shutting down");
		if (ch->down.wsi) {
			void **pss = lws_wsi_user(ch->down.wsi);
			if (pss)
				*pss = NULL;
		}
		if (ch->up.wsi)
			lws_set_opaque_user_data(ch->up.wsi, NULL);
		if (ch->up_connecting)
			lws_set_opaque_user_data(ch->up_connecting, NULL);
		charger_free(ch);
	}
	charger_index_free(&p->by_id);
	free(p->chargers);
	free(p->touched);
	p->touched = NULL;
	p->n_touched = 0;
	free(p->held);
	p->held = NULL;
	p->n_held = 0;
	/* The timer handle lives in p until its close callback has run: free p after the loop. */
	d->proxy_closing = p;
	d->proxy = NULL;
}

void proxy_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	const struct ag_config *old = d->cfg;

	if (strcmp(old->ocpp.listen, new_cfg->ocpp.listen) != 0 || strcmp(old->ocpp.path, new_cfg->ocpp.path) != 0 ||
	    old->ocpp.security_profile != new_cfg->ocpp.security_profile ||
	    (old->upstream.url == NULL) != (new_cfg->upstream.url == NULL) ||
	    (old->upstream.url && strcmp(old->upstream.url, new_cfg->upstream.url) != 0))
		log_msg(LL_WARN, "config: ocpp listen/path/security or upstream.url changed; restart ampgated to apply");
	if (old->n_chargers != new_cfg->n_chargers)
		log_msg(LL_WARN, "config: the list of chargers changed; restart ampgated to apply");
	/* Chargers keep pointers into the old configuration: point them at the new one. */
	if (d->proxy)
		for (size_t i = 0; i < d->proxy->n_chargers; i++) {
			struct charger *ch = d->proxy->chargers[i];
			if (ch->cfg == &ch->accepted_cfg && !config_charger(new_cfg, ch->id))
				ch->cfg = pending_default_cfg(ch, new_cfg);
			else if (ch->cfg)
				ch->cfg = config_charger(new_cfg, ch->id);
			if (!ch->cfg && !ch->pending)
				ch->pending = true;
		}
}
