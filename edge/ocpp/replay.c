/* Queue and ordered replay; see replay.h.
 *
 * The decision a reader must know: the outbox rows are stored as the charger sent them, byte for
 * byte (2.0.1 events that happened with the uplink down marked offline=true), and the 1.6
 * transaction id is rewritten only on their way out. The id mapping is the one piece of state a
 * rewrite needs, and it is committed together with the deletion of the
 * StartTransaction that produced it, so whatever moment the process dies at, a restart sends
 * either the StartTransaction again (its answer never recorded) or the later messages with the
 * CSMS's id — never a second StartTransaction for a transaction the CSMS already numbered.
 *
 * Heartbeats are not queued (the edge answered them with its own clock; the CSMS learns the link
 * is alive from the replay itself). StatusNotifications are collapsed to the latest per connector
 * that has not been sent yet: they report a state, and the CSMS needs the state now, not every
 * step of a storm of them. Everything else, transaction messages above all, is kept. */
#include "edge/ocpp/replay.h"
#include "edge/ocpp/charger-model.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/outbox.h"
#include "edge/ocpp/proxy.h"
#include "edge/ocpp/tx-ids.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_BASE_MS 500

/* Per charger. */
struct replay_ch {
	int depth;                      /* queued, not yet acknowledged */
	int parked;
	int64_t done_seq;               /* rows up to here are settled in this run: never sent again */
	int64_t inflight_seq;           /* 0: nothing in flight */
	char inflight_id[OCPP_ID_MAX + 1];
	char inflight_action[OCPP_ACTION_MAX + 1];
	json_t *inflight_payload;       /* as sent (after rewriting) */
	int64_t inflight_provisional;   /* the 1.6 provisional id the row created or carried */
	int64_t inflight_queued_ms;
	int inflight_attempts;
	uint64_t sent_ms, retry_ms;
	bool inflight_warned;           /* the CSMS was reported slow to answer it */
	int thinned;                    /* MeterValues just dropped to make room, for the audit */
	int64_t thinned_from_ms, thinned_to_ms;
	bool awaiting_commit;           /* the last acknowledgement is not committed yet */
	struct tx_ids ids;              /* provisional 1.6 transaction ids (tx-ids.h) */
	unsigned replayed;              /* this run, for the summary */
	uint64_t run_started_ms;
};

/* An acknowledgement waiting for the group commit. */
struct ack {
	struct charger *ch;
	int64_t seq;
	int64_t map_provisional, map_csms_id;   /* != 0: record the CSMS's id */
	int64_t unmap_provisional;              /* != 0: the transaction ended at the CSMS */
};

struct replay {
	struct proxy *p;
	struct outbox *ob;
	struct ack *acks;
	size_t n_acks, cap_acks;
	uv_timer_t commit;
	uint64_t dropped;               /* MeterValues thinned out since start (storage.outbox_max_rows) */
	uint64_t refused;               /* messages refused because the outbox was full */
	unsigned refused_unreported;    /* since the last audit of it */
	uint64_t full_noted_ms;         /* last audit of a refusal or of a row kept over the bound */
};

static struct replay_ch *state_of(const struct charger *ch)
{
	return ch->rp;
}

static struct replay_ch *state_new(struct charger *ch)
{
	if (!ch->rp)
		ch->rp = calloc(1, sizeof(*ch->rp));
	return ch->rp;
}

static void inflight_clear(struct replay_ch *rp)
{
	json_decref(rp->inflight_payload);
	rp->inflight_payload = NULL;
	rp->inflight_seq = 0;
	rp->inflight_id[0] = 0;
}

/* "14:02:11" of a wall-clock ms, for messages a site manager reads. */
static const char *clock_text(int64_t wall_ms, char *buf, size_t size)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%H:%M:%S", &tm);
	return buf;
}

static bool is16(const struct charger *ch)
{
	return ch->version == OCPP16;
}

/* ---- storing ---- */

static int make_room(struct proxy *p, const struct charger *ch, const struct ocpp_frame *f);

/* The charger's call `f` is already with the CSMS on the open uplink (the edge answers because
 * the CSMS is slow): sending it again there would have the CSMS process it twice. */
static bool on_live_uplink(const struct charger *ch, const struct ocpp_frame *f)
{
	const struct call *fc = &ch->from_charger;

	return fc->active && fc->up_sent_ms && ch->up_state == UP_OPEN && ch->up.wsi && strcmp(fc->id, f->id) == 0;
}

/* Its row becomes the one in flight, as if replayed when it was sent: the CSMS's late answer
 * settles it (and names a 1.6 provisional transaction); it goes out again only on a new uplink. */
static void inflight_live(struct replay_ch *rp, const struct ocpp_frame *f, int64_t seq, int64_t provisional,
			  uint64_t sent_ms)
{
	inflight_clear(rp);
	rp->inflight_seq = seq;
	snprintf(rp->inflight_id, sizeof(rp->inflight_id), "%s", f->id);
	snprintf(rp->inflight_action, sizeof(rp->inflight_action), "%s", f->action);
	rp->inflight_payload = json_incref(f->payload);
	rp->inflight_provisional = provisional;
	rp->inflight_queued_ms = wall_ms();
	rp->inflight_attempts = 0;
	rp->inflight_warned = false;
	rp->sent_ms = sent_ms;
	if (!rp->run_started_ms)
		rp->run_started_ms = now_ms();
}

int replay_queue(struct proxy *p, struct charger *ch, const struct ocpp_frame *f, const json_t *result)
{
	struct replay *r = p->replay;
	struct replay_ch *rp;
	char key[48], *key_p = NULL, *text;
	int64_t provisional = 0;
	int removed, rc;

	if (!r || !p->upstream_host[0] || ch->pending || strcmp(f->action, "Heartbeat") == 0)
		return 0;
	if (!(rp = state_new(ch)))
		return -ENOMEM;
	if (strcmp(f->action, "StatusNotification") == 0) {
		const json_t *pl = f->payload;
		if (is16(ch))
			snprintf(key, sizeof(key), "status:%lld",
				 (long long)json_integer_value(json_object_get(pl, "connectorId")));
		else
			snprintf(key, sizeof(key), "status:%lld/%lld",
				 (long long)json_integer_value(json_object_get(pl, "evseId")),
				 (long long)json_integer_value(json_object_get(pl, "connectorId")));
		key_p = key;
	}
	if (is16(ch) && strcmp(f->action, "StartTransaction") == 0)
		provisional = json_integer_value(json_object_get(result, "transactionId"));
	if ((rc = make_room(p, ch, f)) < 0)
		return rc;
	/* The frame as the charger sent it, byte for byte (replay splices in only what it rewrites).
	 * A 2.0.1 TransactionEvent that happened with the uplink down is marked offline now; one
	 * merely queued behind a slow CSMS's answer did not happen offline and keeps its flag. */
	text = f->text ? strndup(f->text, f->len) : ocpp_call_text(f->id, f->action, f->payload);
	if (text && !is16(ch) && strcmp(f->action, "TransactionEvent") == 0 && ch->up_state != UP_OPEN) {
		char *offline = ocpp_call_set(text, strlen(text), NULL, "offline", "true");
		free(text);
		text = offline;
	}
	if (!text)
		return -ENOMEM;
	int64_t after = rp->inflight_seq > rp->done_seq ? rp->inflight_seq : rp->done_seq, seq = 0;
	rc = outbox_put(r->ob, ch->id, f->id, f->action, text, key_p, after, provisional, &removed, &seq);
	free(text);
	if (rc < 0) {
		store_event(p->d->store, LL_ERROR, "outbox", ch->id,
			    "cannot store %s while the CSMS is unreachable (disk full or database damaged?); the "
			    "charger gets an error and will send it again",
			    f->action);
		return rc;
	}
	if (rp->depth == 0 && rp->parked == 0)
		store_event(p->d->store, LL_NOTICE, "outbox", ch->id,
			    "the CSMS is not answering: the edge answers the charger and keeps what it acknowledges "
			    "(first: %s) for the CSMS",
			    f->action);
	rp->depth += 1 - removed;
	if (provisional)
		tx_ids_set(&rp->ids, provisional, 0);
	if (on_live_uplink(ch, f))
		inflight_live(rp, f, seq, provisional, ch->from_charger.up_sent_ms);
	replay_pump(p, ch);
	return 0;
}

/* ---- acknowledgements: group commit ---- */

static void commit_acks(struct replay *r, bool pump)
{
	size_t n = r->n_acks;
	int rc;

	if (!n)
		return;
	rc = outbox_begin(r->ob);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ack *a = &r->acks[i];
		rc = outbox_done(r->ob, a->seq);
		if (rc == 0 && a->map_provisional)
			rc = outbox_map(r->ob, a->ch->id, a->map_provisional, a->map_csms_id);
		if (rc == 0 && a->unmap_provisional)
			rc = outbox_unmap(r->ob, a->ch->id, a->unmap_provisional);
	}
	rc = rc == 0 ? outbox_commit(r->ob) : (outbox_commit(r->ob), rc);
	if (rc < 0)
		log_msg(LL_ERROR, "outbox: cannot record %zu acknowledgements of the CSMS; those messages will be "
				  "sent again after a restart",
			n);
	r->n_acks = 0;
	/* Pump only after the list is empty: a pump may settle (park) rows itself. */
	for (size_t i = 0; i < n; i++) {
		struct replay_ch *rp = state_of(r->acks[i].ch);
		if (rp)
			rp->awaiting_commit = false;
	}
	for (size_t i = 0; pump && i < n; i++)
		replay_pump(r->p, r->acks[i].ch);
}

static void on_commit(uv_timer_t *t)
{
	commit_acks(t->data, true);
}

static int ack_add(struct replay *r, const struct ack *a)
{
	if (r->n_acks == r->cap_acks) {
		size_t cap = r->cap_acks ? r->cap_acks * 2 : 64;
		struct ack *grown = realloc(r->acks, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		r->acks = grown;
		r->cap_acks = cap;
	}
	r->acks[r->n_acks++] = *a;
	if (!uv_is_active((uv_handle_t *)&r->commit))
		uv_timer_start(&r->commit, on_commit, 0, 0);
	return 0;
}

/* ---- the bound: storage.outbox_max_rows ---- */

static bool transaction_message(const char *action)
{
	return strcmp(action, "StartTransaction") == 0 || strcmp(action, "StopTransaction") == 0 ||
	       strcmp(action, "TransactionEvent") == 0;
}

static void on_thinned(void *ctx, const char *charger, int64_t queued_ms)
{
	struct charger *ch = proxy_find(ctx, charger);
	struct replay_ch *rp = ch ? state_of(ch) : NULL;

	if (!rp)
		return;
	rp->depth--;
	if (!rp->thinned++ || queued_ms < rp->thinned_from_ms)
		rp->thinned_from_ms = queued_ms;
	if (queued_ms > rp->thinned_to_ms)
		rp->thinned_to_ms = queued_ms;
}

/* A refusal, or a transaction message kept over the bound: audited at most once a minute (a
 * charger retrying into a full outbox would otherwise fill the log too), with the refusals since. */
static void note_full(struct proxy *p, const struct charger *ch, const char *action, bool kept)
{
	struct replay *r = p->replay;

	if (!kept)
		r->refused_unreported++;
	if (r->full_noted_ms && now_ms() - r->full_noted_ms < 60000)
		return;
	store_event(p->d->store, LL_WARN, "outbox", ch->id,
		    "the outbox for the CSMS is full (%lld messages, storage.outbox_max_rows = %d) with no MeterValues "
		    "left to thin: %s %s; %u message%s refused since the last note",
		    (long long)outbox_rows(r->ob), p->d->cfg->storage.outbox_max_rows, action,
		    kept ? "kept beyond the bound (transaction messages are never dropped)"
			 : "refused (the charger gets an error and sends it again later)",
		    r->refused_unreported, r->refused_unreported == 1 ? "" : "s");
	r->full_noted_ms = now_ms();
	r->refused_unreported = 0;
}

/* Room for one more row. Superseded StatusNotifications never pile up (outbox_put replaces a
 * connector's unsent one), so MeterValues are thinned first, in batches of 1 % (each charger's
 * drops audited); then what is not a transaction message is refused (-ENOSPC: the charger gets
 * an error and sends it again later); transaction messages are always stored. */
static int make_room(struct proxy *p, const struct charger *ch, const struct ocpp_frame *f)
{
	struct replay *r = p->replay;
	int64_t max = p->d->cfg->storage.outbox_max_rows;
	char from[16], to[16];
	int n;

	if (outbox_rows(r->ob) < max)
		return 0;
	commit_acks(r, false);  /* delivered rows go first; none is then half acknowledged */
	if (outbox_rows(r->ob) < max)
		return 0;
	n = outbox_thin(r->ob, (int)(max / 100) + 1, on_thinned, p);
	for (size_t i = 0; n > 0 && i < p->n_chargers; i++) {
		struct replay_ch *rp = state_of(p->chargers[i]);
		if (!rp || !rp->thinned)
			continue;
		store_event(p->d->store, LL_WARN, "outbox", p->chargers[i]->id,
			    "the outbox for the CSMS is full (storage.outbox_max_rows = %lld): %d MeterValues of this "
			    "charger queued between %s and %s dropped to make room (the readings closest together; "
			    "transaction messages are never dropped)",
			    (long long)max, rp->thinned, clock_text(rp->thinned_from_ms, from, sizeof(from)),
			    clock_text(rp->thinned_to_ms, to, sizeof(to)));
		rp->thinned = 0;
		rp->thinned_from_ms = rp->thinned_to_ms = 0;
	}
	if (n > 0)
		r->dropped += (uint64_t)n;
	if (outbox_rows(r->ob) < max)
		return 0;
	if (transaction_message(f->action)) {
		note_full(p, ch, f->action, true);
		return 0;
	}
	r->refused++;
	note_full(p, ch, f->action, false);
	return -ENOSPC;
}

int64_t replay_outbox_rows(const struct proxy *p)
{
	return p->replay ? outbox_rows(p->replay->ob) : 0;
}

uint64_t replay_outbox_dropped(const struct proxy *p)
{
	return p->replay ? p->replay->dropped : 0;
}

/* ---- sending ---- */

static void settle_parked(struct proxy *p, struct charger *ch, struct replay_ch *rp, int64_t seq, const char *action,
			  int64_t queued_ms, const char *why)
{
	char at[16];

	if (outbox_refused(p->replay->ob, seq, true, why) < 0)
		return;
	rp->done_seq = seq;
	rp->depth--;
	rp->parked++;
	store_event(p->d->store, LL_WARN, "outbox", ch->id,
		    "%s queued at %s while the CSMS was unreachable was not delivered: %s; it is kept in the outbox "
		    "(parked) for a technician and the replay goes on",
		    action, clock_text(queued_ms, at, sizeof(at)), why);
}

/* The frame to send for `row` (malloc'd; its parsed payload, a new reference, in *payload), or
 * NULL with *why when the row cannot go. Every byte is the charger's but the one field rewritten. */
static char *outgoing(const struct charger *ch, struct replay_ch *rp, const struct outbox_row *row, json_t **payload,
		      const char **why)
{
	json_t *pl = NULL;
	char *frame = NULL, *text = NULL;
	struct ocpp_frame f;

	/* Rows of earlier versions hold the payload only: give them their envelope (and, as then,
	 * a TransactionEvent its offline flag). */
	if (row->payload[0] != '[') {
		if ((pl = json_loads(row->payload, 0, NULL))) {
			if (!is16(ch) && strcmp(row->action, "TransactionEvent") == 0)
				json_object_set_new(pl, "offline", json_true());
			frame = ocpp_call_text(row->msg_id, row->action, pl);
		}
		json_decref(pl);
	} else {
		frame = strdup(row->payload);
	}
	if (!frame || ocpp_frame_parse(frame, strlen(frame), &f) != REJECT_NONE || f.type != OCPP_CALL) {
		*why = "its stored copy is unreadable";
		if (frame)
			ocpp_frame_fini(&f);
		free(frame);
		return NULL;
	}
	rp->inflight_provisional = row->provisional;
	if (is16(ch)) {
		int64_t prov;
		if (tx_ids_up(&rp->ids, frame, strlen(frame), row->action, f.payload, &prov, &text) < 0) {
			*why = "the StartTransaction of its session (started offline) was not accepted by the CSMS, "
			       "so the CSMS has no transaction id for it";
			ocpp_frame_fini(&f);
			free(frame);
			return NULL;
		}
		if (prov)
			rp->inflight_provisional = prov;
	}
	ocpp_frame_fini(&f);
	if (text) {
		free(frame);
		frame = text;
	}
	if (ocpp_frame_parse(frame, strlen(frame), &f) != REJECT_NONE) {
		*why = "its stored copy is unreadable";
		ocpp_frame_fini(&f);
		free(frame);
		return NULL;
	}
	*payload = json_incref(f.payload);
	ocpp_frame_fini(&f);
	return frame;
}

void replay_pump(struct proxy *p, struct charger *ch)
{
	struct replay *r = p->replay;
	struct replay_ch *rp = state_of(ch);
	struct outbox_row row;

	if (!r || !rp || rp->depth <= 0 || rp->inflight_seq || rp->awaiting_commit)
		return;
	if (!charger_online(ch) || ch->up_state != UP_OPEN || !ch->up.wsi)
		return;
	if (ch->from_charger.active && ch->from_charger.text)
		return; /* a live call is with the CSMS: one CALL at a time */
	if (now_ms() < rp->retry_ms)
		return;
	for (;;) {
		const char *why = NULL;
		int rc = outbox_head(r->ob, ch->id, rp->done_seq, &row);
		if (rc <= 0) {
			if (rc == 0)
				rp->depth = 0;
			return;
		}
		json_t *pl = NULL;
		char *text = outgoing(ch, rp, &row, &pl, &why);
		if (!text) {
			settle_parked(p, ch, rp, row.seq, row.action, row.queued_ms, why);
			outbox_row_fini(&row);
			continue;
		}
		if (ws_link_send(&ch->up, text, strlen(text)) < 0) {
			free(text);
			json_decref(pl);
			outbox_row_fini(&row);
			return;
		}
		free(text);
		p->frames_out++;
		if (!rp->run_started_ms)
			rp->run_started_ms = now_ms();
		rp->inflight_seq = row.seq;
		snprintf(rp->inflight_id, sizeof(rp->inflight_id), "%s", row.msg_id);
		snprintf(rp->inflight_action, sizeof(rp->inflight_action), "%s", row.action);
		rp->inflight_payload = pl;
		rp->inflight_queued_ms = row.queued_ms;
		rp->inflight_attempts = row.attempts;
		rp->inflight_warned = false;
		rp->sent_ms = now_ms();
		outbox_row_fini(&row);
		return;
	}
}

void replay_link_down(struct charger *ch)
{
	struct replay_ch *rp = state_of(ch);

	if (rp)
		inflight_clear(rp);
}

void replay_tick(struct proxy *p, struct charger *ch, uint64_t now)
{
	struct replay_ch *rp = state_of(ch);
	int timeout_s = p->d->cfg->upstream.call_timeout_s;
	uint64_t timeout = (uint64_t)timeout_s * 1000;

	if (!rp)
		return;
	/* A message on an open uplink is never sent twice on it (the CSMS would process it twice):
	 * a slow CSMS is waited for; one that seems to have lost it gets a new uplink, on which the
	 * message goes again with its original id. */
	if (rp->inflight_seq && !rp->inflight_warned && now - rp->sent_ms > timeout) {
		rp->inflight_warned = true;
		store_event(p->d->store, LL_WARN, "outbox", ch->id,
			    "the CSMS has not answered %s for %d s; the edge keeps waiting for its answer (later "
			    "messages of this charger are queued) and reconnects the uplink after %d s",
			    rp->inflight_action, timeout_s, 4 * timeout_s);
	}
	if (rp->inflight_seq && now - rp->sent_ms > 4 * timeout && ch->up.wsi) {
		store_event(p->d->store, LL_WARN, "outbox", ch->id,
			    "the CSMS has not answered %s for %d s; reconnecting the uplink to send it again", rp->inflight_action,
			    4 * timeout_s);
		ws_link_close(&ch->up, LWS_CLOSE_STATUS_GOINGAWAY, "no answer");
		return;
	}
	replay_pump(p, ch);
}

/* ---- results ---- */

static void on_stop_result(struct charger *ch, const char *action, const json_t *request, const json_t *result,
			   const char *error)
{
	const char *status = json_string_value(json_object_get(result, "status"));
	(void)request;

	if (!status || strcmp(status, "Accepted") != 0)
		store_event(ch->proxy->d->store, LL_WARN, "outbox", ch->id,
			    "the charger did not accept %s (%s); the session goes on — stop it at the charger", action,
			    status ? status : error);
}

/* The CSMS refused the id token of a session started offline: what a depot operator expects is
 * what the charger itself would have done had it been online (StopTransactionOnInvalidId, true
 * on most chargers): stop the session, unless upstream.replay_rejected = "keep". */
static void token_rejected(struct proxy *p, struct charger *ch, const char *tx_id, const char *token,
			   const char *status, int64_t provisional)
{
	struct transaction *tx = charger_tx(ch, tx_id, false);
	bool stop = strcmp(p->d->cfg->upstream.replay_rejected, "stop") == 0;

	if (!tx) {
		store_event(p->d->store, LL_WARN, "outbox", ch->id,
			    "the CSMS refused id token %s (%s) of session %s, started while the CSMS was unreachable; "
			    "the session had already ended",
			    token, status, tx_id);
		return;
	}
	store_event(p->d->store, LL_WARN, "outbox", ch->id,
		    "the CSMS refused id token %s (%s) of session %s on connector %d, started while the CSMS was "
		    "unreachable (%.1f kWh so far); %s",
		    token, status, tx_id, tx->connector, tx->energy_wh / 1000.0,
		    stop ? "asking the charger to stop it (upstream.replay_rejected = stop)"
			 : "it keeps charging (upstream.replay_rejected = keep)");
	if (!stop)
		return;
	json_t *req = is16(ch) ? json_pack("{s:I}", "transactionId", (json_int_t)provisional)
			       : json_pack("{s:s}", "transactionId", tx_id);
	proxy_edge_call(p, ch, is16(ch) ? "RemoteStopTransaction" : "RequestStopTransaction", req, on_stop_result);
}

static void replay_refused(struct proxy *p, struct charger *ch, struct replay_ch *rp, const struct ocpp_frame *f)
{
	int max = p->d->cfg->upstream.replay_attempts;
	int attempts = rp->inflight_attempts + 1;
	char why[160], at[16];

	snprintf(why, sizeof(why), "the CSMS answered %s%s (tried %d time%s)", f->error_code,
		 f->error_code[0] ? "" : "an error", attempts, attempts == 1 ? "" : "s");
	if (attempts >= max) {
		int64_t seq = rp->inflight_seq;
		char action[OCPP_ACTION_MAX + 1];
		snprintf(action, sizeof(action), "%s", rp->inflight_action);
		int64_t queued = rp->inflight_queued_ms;
		inflight_clear(rp);
		settle_parked(p, ch, rp, seq, action, queued, why);
	} else {
		outbox_refused(p->replay->ob, rp->inflight_seq, false, why);
		log_msg(LL_WARN, "charger %s: the CSMS refused the replayed %s queued at %s (%s); trying again", ch->id,
			rp->inflight_action, clock_text(rp->inflight_queued_ms, at, sizeof(at)), f->error_code);
		rp->retry_ms = now_ms() + ((uint64_t)RETRY_BASE_MS << (attempts < 8 ? attempts - 1 : 7));
		inflight_clear(rp);
	}
	replay_pump(p, ch);
}

static void replay_delivered(struct proxy *p, struct charger *ch, struct replay_ch *rp, const json_t *res)
{
	struct ack a = { .ch = ch, .seq = rp->inflight_seq };
	const json_t *pl = rp->inflight_payload;
	const char *action = rp->inflight_action;
	bool now = false;

	if (is16(ch) && strcmp(action, "StartTransaction") == 0 && rp->inflight_provisional) {
		const json_t *id = json_object_get(res, "transactionId");
		const char *status = json_string_value(json_object_get(json_object_get(res, "idTagInfo"), "status"));
		char prov[24];
		snprintf(prov, sizeof(prov), "%lld", (long long)rp->inflight_provisional);
		if (json_is_integer(id)) {
			a.map_provisional = rp->inflight_provisional;
			a.map_csms_id = json_integer_value(id);
			tx_ids_set(&rp->ids, a.map_provisional, a.map_csms_id);
			store_event(p->d->store, LL_INFO, "transaction", ch->id,
				    "session %s, started while the CSMS was unreachable or slow to answer, is transaction %lld at the CSMS",
				    prov, (long long)a.map_csms_id);
		}
		now = true; /* the mapping is committed the moment its answer arrives */
		if (status && strcmp(status, "Accepted") != 0)
			token_rejected(p, ch, prov, json_string_value(json_object_get(pl, "idTag")), status,
				       rp->inflight_provisional);
	} else if (is16(ch) && strcmp(action, "StopTransaction") == 0 && rp->inflight_provisional) {
		a.unmap_provisional = rp->inflight_provisional;
		tx_ids_del(&rp->ids, rp->inflight_provisional);
	} else if (!is16(ch) && strcmp(action, "TransactionEvent") == 0 && json_object_get(pl, "idToken")) {
		const char *status = json_string_value(json_object_get(json_object_get(res, "idTokenInfo"), "status"));
		if (status && strcmp(status, "Accepted") != 0)
			token_rejected(p, ch,
				       json_string_value(json_object_get(json_object_get(pl, "transactionInfo"), "transactionId")),
				       json_string_value(json_object_get(json_object_get(pl, "idToken"), "idToken")), status, 0);
	}
	rp->done_seq = rp->inflight_seq;
	rp->depth--;
	rp->replayed++;
	rp->awaiting_commit = true;
	inflight_clear(rp);
	if (ack_add(p->replay, &a) < 0 || now)
		commit_acks(p->replay, true);
	if (rp->depth == 0) {
		store_event(p->d->store, LL_NOTICE, "outbox", ch->id,
			    "replay finished: %u message%s delivered to the CSMS in %.1f s%s", rp->replayed,
			    rp->replayed == 1 ? "" : "s", (double)(now_ms() - rp->run_started_ms) / 1000.0,
			    rp->parked ? "; some are parked in the outbox, see the warnings above" : "");
		rp->replayed = 0;
		rp->run_started_ms = 0;
	}
}

bool replay_from_csms(struct proxy *p, struct charger *ch, const struct ocpp_frame *f)
{
	struct replay_ch *rp = state_of(ch);

	if (!rp || !rp->inflight_seq || strcmp(rp->inflight_id, f->id) != 0)
		return false;
	if (f->type == OCPP_ERROR)
		replay_refused(p, ch, rp, f);
	else
		replay_delivered(p, ch, rp, f->payload);
	return true;
}

/* ---- live traffic of transactions started offline ---- */

bool replay_backlog(const struct charger *ch)
{
	const struct replay_ch *rp = state_of(ch);

	return rp && (rp->depth > 0 || rp->inflight_seq);
}

int replay_depth(const struct charger *ch, int *parked)
{
	const struct replay_ch *rp = state_of(ch);

	if (parked)
		*parked = rp ? rp->parked : 0;
	return rp ? rp->depth : 0;
}

char *replay_rewrite_up(const struct charger *ch, const struct ocpp_frame *f)
{
	const struct replay_ch *rp = state_of(ch);
	int64_t prov;
	char *out;

	if (!rp || !rp->ids.n || !is16(ch) || !f->text)
		return NULL;
	tx_ids_up(&rp->ids, f->text, f->len, f->action, f->payload, &prov, &out);
	return out;
}

char *replay_rewrite_down(const struct charger *ch, const struct ocpp_frame *f)
{
	const struct replay_ch *rp = state_of(ch);

	return rp && is16(ch) ? tx_ids_down(&rp->ids, f) : NULL;
}

void replay_live_result(struct proxy *p, struct charger *ch, const struct call *c, const struct ocpp_frame *f)
{
	struct replay_ch *rp = state_of(ch);
	int64_t prov;

	if (!rp || !rp->ids.n || !is16(ch) || f->type != OCPP_RESULT || strcmp(c->action, "StopTransaction") != 0 ||
	    !(prov = tx_ids_provisional_in(c->payload)))
		return;
	tx_ids_del(&rp->ids, prov);
	outbox_unmap(p->replay->ob, ch->id, prov);
}

/* ---- start and stop ---- */

static void load_map(void *ctx, const char *charger, int64_t provisional, int64_t csms_id)
{
	struct proxy *p = ctx;
	struct charger *ch = proxy_find(p, charger);
	struct replay_ch *rp = ch ? state_new(ch) : NULL;

	if (rp)
		tx_ids_set(&rp->ids, provisional, csms_id);
}

int replay_start(struct proxy *p)
{
	struct replay *r = calloc(1, sizeof(*r));
	int total = 0, chargers = 0;

	if (!r)
		return -ENOMEM;
	r->p = p;
	r->ob = outbox_open(p->d->store);
	if (!r->ob) {
		free(r);
		return -EIO;
	}
	uv_timer_init(&p->d->loop, &r->commit);
	r->commit.data = r;
	p->replay = r;
	for (size_t i = 0; i < p->n_chargers; i++) {
		struct charger *ch = p->chargers[i];
		int parked = 0, n = outbox_depth(r->ob, ch->id, &parked);
		if (n <= 0 && parked <= 0)
			continue;
		struct replay_ch *rp = state_new(ch);
		if (!rp)
			return -ENOMEM;
		rp->depth = n > 0 ? n : 0;
		rp->parked = parked;
		total += rp->depth;
		chargers += rp->depth > 0;
	}
	if (outbox_each_map(r->ob, load_map, p) < 0)
		return -EIO;
	if (total)
		store_event(p->d->store, LL_NOTICE, "outbox", NULL,
			    "%d message%s for the CSMS kept from before the restart (%d charger%s); each charger's are "
			    "replayed when it and its uplink are back",
			    total, total == 1 ? "" : "s", chargers, chargers == 1 ? "" : "s");
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct replay *r = h->data;

	free(r->acks);
	free(r);
}

void replay_stop(struct proxy *p)
{
	struct replay *r = p->replay;

	if (!r)
		return;
	commit_acks(r, false);
	for (size_t i = 0; i < p->n_chargers; i++) {
		struct replay_ch *rp = p->chargers[i]->rp;
		if (!rp)
			continue;
		inflight_clear(rp);
		tx_ids_free(&rp->ids);
		free(rp);
		p->chargers[i]->rp = NULL;
	}
	outbox_close(r->ob);
	r->ob = NULL;
	p->replay = NULL;
	uv_timer_stop(&r->commit);
	uv_close((uv_handle_t *)&r->commit, on_closed);
}
