/* Remote healing; see health.h for the ladder.
 *
 * Design decision: 2.0.1 has no soft and hard reset, only when to reset. The soft step is
 * Reset OnIdle: the ladder only runs with no transaction, and OnIdle makes the station wait
 * rather than cut a session that starts between our check and its reboot. The hard step is
 * Reset Immediate: a station whose firmware believes something is still running would defer an
 * OnIdle reset for ever, and the last step must not be deferrable.
 *
 * Every step is an edge call (proxy_edge_call): it waits behind the CSMS's calls, its result
 * comes back here and never reaches the CSMS. A step is never taken while the charger has a
 * transaction, while the CSMS has a call outstanding or queued to it, while it is not talking,
 * nor beyond health.max_resets_per_day resets in the last 24 h (counted in the database, so a
 * restart does not reset the count). */
#include "edge/health/health-private.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"

#include <stdio.h>
#include <string.h>

#define CONFIRM_MS 5000 /* after the trigger's answer, wait at most this for the fresh status */
#define SILENT_CLOSE_TIMEOUT_S 5 /* a polite close that a half-open socket never completes */

static int64_t add_action(struct health *h, const struct charger *ch, const char *action, const char *detail)
{
	sqlite3_bind_int64(h->insert_action, 1, health_wall_ms(h, now_ms()));
	sqlite3_bind_text(h->insert_action, 2, ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(h->insert_action, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(h->insert_action, 4, detail, -1, SQLITE_STATIC);
	if (health_step(h, h->insert_action, "record a healing step") < 0)
		return 0;
	return sqlite3_last_insert_rowid(h->db);
}

static void set_action(struct health *h, sqlite3_stmt *q, int64_t id, const char *text, int value)
{
	if (!id)
		return;
	sqlite3_bind_int64(q, 1, id);
	if (text)
		sqlite3_bind_text(q, 2, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int(q, 2, value);
	health_step(h, q, "update a healing step");
}

static int resets_last_day(struct health *h, const struct charger *ch, uint64_t now)
{
	int n = 0;

	sqlite3_bind_text(h->count_resets, 1, ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(h->count_resets, 2, health_wall_ms(h, now) - HEALTH_DAY_MS);
	if (sqlite3_step(h->count_resets) == SQLITE_ROW)
		n = sqlite3_column_int(h->count_resets, 0);
	sqlite3_reset(h->count_resets);
	sqlite3_clear_bindings(h->count_resets);
	return n;
}

/* What the charger answered, in words for the audit log and the actions table. */
static const char *answer_of(const json_t *result, const char *error)
{
	const char *status = json_string_value(json_object_get(result, "status"));

	if (result)
		return status ? status : "answered";
	return error && strcmp(error, "timeout") == 0 ? "no answer" : error && error[0] ? error : "error";
}

static bool csms_outstanding(const struct charger *ch, const char **reset_id)
{
	bool any = false;

	*reset_id = NULL;
	if (ch->to_charger.active && ch->to_charger.origin == ORIGIN_CSMS) {
		any = true;
		if (strcmp(ch->to_charger.action, "Reset") == 0)
			*reset_id = ch->to_charger.id;
	}
	for (const struct call *c = ch->wait_head; c; c = c->next)
		if (c->origin == ORIGIN_CSMS) {
			any = true;
			if (strcmp(c->action, "Reset") == 0)
				*reset_id = c->id;
		}
	return any;
}

static void ladder_clear(struct hc *hc)
{
	hc->fault_since_ms = 0;
	hc->confirmed = hc->awaiting_status = false;
	hc->soft_done = 0;
	hc->hard_done = hc->alerted = false;
	hc->next_ms = 0;
	hc->last_reset = 0;
	hc->last_reset_what[0] = 0;
}

static void fault_words(const struct charger *ch, char *out, size_t size)
{
	const struct connector *f = health_fault(ch);
	char codes[120] = "";

	if (f)
		health_fault_codes(f, codes, sizeof(codes));
	snprintf(out, size, "%s", codes[0] ? codes : "no error code given");
}

static struct hc *entry_of(struct charger *ch)
{
	struct ag_daemon *d = ch->proxy ? ch->proxy->d : NULL;

	return d ? health_entry(d->health, ch) : NULL;
}

static void on_trigger(struct charger *ch, const char *action, const json_t *req, const json_t *result,
		       const char *error)
{
	struct hc *hc = entry_of(ch);
	(void)action;
	(void)req;

	if (!hc || !hc->busy)
		return;
	hc->busy = false;
	hc->confirmed = hc->awaiting_status = true;
	hc->confirm_rx_frames = ch->rx_frames; /* a status sent right after the answer may share its ms */
	hc->next_ms = now_ms() + CONFIRM_MS;
	log_msg(LL_INFO, "charger %s: status request answered (%s)", ch->id, answer_of(result, error));
}

static void on_reset(struct charger *ch, const char *action, const json_t *req, const json_t *result,
		     const char *error)
{
	struct hc *hc = entry_of(ch);
	struct health *h = ch->proxy->d->health;
	const char *answer = answer_of(result, error);
	(void)action;
	(void)req;

	if (!hc)
		return;
	hc->busy = false;
	set_action(h, h->set_answer, hc->last_reset, answer, 0);
	if (strcmp(answer, "Accepted") == 0 || strcmp(answer, "Scheduled") == 0)
		log_msg(LL_INFO, "charger %s: %s %s", ch->id, hc->last_reset_what, answer);
	else
		store_event(h->d->store, LL_WARN, "health", ch->id, "charger %s did not accept %s (%s)", ch->id,
			    hc->last_reset_what, answer);
}

static void send_trigger(struct health *h, struct hc *hc, uint64_t now)
{
	struct charger *ch = hc->ch;
	const struct connector *f = health_fault(ch);
	char where[40], codes[120];
	json_t *pl;

	health_connector_name(ch, f->id, where, sizeof(where));
	fault_words(ch, codes, sizeof(codes));
	if (ch->version == OCPP16)
		pl = json_pack("{s:s, s:i}", "requestedMessage", "StatusNotification", "connectorId", f->id);
	else if (f->id >= 100)
		pl = json_pack("{s:s, s:{s:i, s:i}}", "requestedMessage", "StatusNotification", "evse", "id", f->id / 100,
			       "connectorId", f->id % 100);
	else
		pl = json_pack("{s:s}", "requestedMessage", "StatusNotification");
	if (!pl || proxy_edge_call(h->d->proxy, ch, "TriggerMessage", pl, on_trigger) < 0)
		return;
	hc->busy = true;
	hc->busy_conn_ms = ch->connected_ms;
	store_event(h->d->store, LL_WARN, "health", ch->id,
		    "charger %s: %s Faulted (%s) for %.0f s with no session; asking it to confirm before a remote reset",
		    ch->id, where, codes, (double)(now - hc->fault_since_ms) / 1000.0);
}

static void send_reset(struct health *h, struct hc *hc, uint64_t now)
{
	const struct ag_config *cfg = h->d->cfg;
	struct charger *ch = hc->ch;
	bool hard = hc->soft_done >= cfg->health.max_soft_resets;
	const char *type = ch->version == OCPP16 ? (hard ? "Hard" : "Soft") : (hard ? "Immediate" : "OnIdle");
	char codes[120];
	json_t *pl = json_pack("{s:s}", "type", type);

	if (!pl || proxy_edge_call(h->d->proxy, ch, "Reset", pl, on_reset) < 0)
		return;
	fault_words(ch, codes, sizeof(codes));
	set_action(h, h->set_healed, hc->last_reset, NULL, 0); /* the previous step did not heal it */
	hc->busy = true;
	hc->busy_conn_ms = ch->connected_ms;
	hc->next_ms = now + (uint64_t)cfg->health.reset_backoff_s * 1000;
	if (hard) {
		hc->hard_done = true;
		snprintf(hc->last_reset_what, sizeof(hc->last_reset_what), "the hard reset");
	} else {
		hc->soft_done++;
		snprintf(hc->last_reset_what, sizeof(hc->last_reset_what), "soft reset %d", hc->soft_done);
	}
	hc->last_reset = add_action(h, ch, hard ? "hard reset" : "soft reset", codes);
	if (hard)
		store_event(h->d->store, LL_WARN, "health", ch->id,
			    "charger %s is still Faulted (%s) after %d soft reset%s: hard reset (OCPP Reset %s)", ch->id,
			    codes, hc->soft_done, hc->soft_done == 1 ? "" : "s", type);
	else
		store_event(h->d->store, LL_WARN, "health", ch->id,
			    "charger %s is Faulted (%s) with no session: soft reset %d of %d (OCPP Reset %s)", ch->id, codes,
			    hc->soft_done, cfg->health.max_soft_resets, type);
}

static void alert(struct health *h, struct hc *hc, int resets_today)
{
	struct charger *ch = hc->ch;
	char codes[120], tried[96];

	fault_words(ch, codes, sizeof(codes));
	set_action(h, h->set_healed, hc->last_reset, NULL, 0);
	hc->alerted = true;
	if (hc->soft_done && hc->hard_done)
		snprintf(tried, sizeof(tried), "%d soft reset%s and a hard reset", hc->soft_done, hc->soft_done == 1 ? "" : "s");
	else if (hc->hard_done)
		snprintf(tried, sizeof(tried), "a hard reset");
	else
		snprintf(tried, sizeof(tried), "%d soft reset%s", hc->soft_done, hc->soft_done == 1 ? "" : "s");
	add_action(h, ch, "technician", codes);
	if (resets_today >= 0 && (hc->soft_done || hc->hard_done))
		store_event(h->d->store, LL_ERROR, "health", ch->id,
			    "charger %s is still Faulted (%s) after %s; it had %d remote resets in the last 24 h, the most "
			    "health.max_resets_per_day allows: send a technician",
			    ch->id, codes, tried, resets_today);
	else if (resets_today >= 0)
		store_event(h->d->store, LL_ERROR, "health", ch->id,
			    "charger %s is Faulted (%s); it had %d remote resets in the last 24 h, the most "
			    "health.max_resets_per_day allows: send a technician",
			    ch->id, codes, resets_today);
	else
		store_event(h->d->store, LL_ERROR, "health", ch->id, "charger %s is still Faulted (%s) after %s: send a technician",
			    ch->id, codes, tried);
}

static void recovered(struct health *h, struct hc *hc)
{
	struct charger *ch = hc->ch;
	const char *now_state = health_state_name(hc->state);

	if (hc->alerted)
		store_event(h->d->store, LL_NOTICE, "health", ch->id, "charger %s recovered (%s) after the technician alert",
			    ch->id, now_state);
	else if (hc->last_reset) {
		set_action(h, h->set_healed, hc->last_reset, NULL, 1);
		store_event(h->d->store, LL_NOTICE, "health", ch->id,
			    "charger %s recovered (%s) after %s: healed remotely, no technician needed", ch->id, now_state,
			    hc->last_reset_what);
	} else if (hc->confirmed) {
		log_msg(LL_INFO, "charger %s: recovered (%s) before any reset", ch->id, now_state);
	}
	ladder_clear(hc);
}

static void ladder(struct health *h, struct hc *hc, enum charger_link link, uint64_t now)
{
	const struct cfg_health *cfg = &h->d->cfg->health;
	struct charger *ch = hc->ch;
	const char *csms_reset;
	bool csms_busy = csms_outstanding(ch, &csms_reset);

	if (csms_reset && strcmp(csms_reset, hc->csms_reset) != 0) {
		/* A Reset from the CSMS passes through (the proxy forwards it) and starts the ladder
		 * again: the CSMS acted, and its reset is not the edge's to count. */
		snprintf(hc->csms_reset, sizeof(hc->csms_reset), "%s", csms_reset);
		if (hc->in_fault)
			store_event(h->d->store, LL_NOTICE, "health", ch->id,
				    "the CSMS is resetting charger %s; the edge's healing ladder starts again", ch->id);
		ladder_clear(hc);
	}
	if (hc->busy && (link == LINK_OFFLINE || ch->connected_ms != hc->busy_conn_ms))
		hc->busy = false; /* the call died with the connection */
	if (!hc->faulted) { /* worked out by visit when anything changed: not every connector every 40 ms */
		if (hc->in_fault)
			recovered(h, hc);
		hc->in_fault = false;
		return;
	}
	hc->in_fault = true;
	if (ch->connected_ms != hc->ladder_conn_ms) {
		/* A new connection (it rebooted, or the link dropped): the statuses the edge holds may
		 * be stale, so the wait and the confirmation start again; what was tried stays. */
		hc->ladder_conn_ms = ch->connected_ms;
		hc->fault_since_ms = 0;
		hc->confirmed = hc->awaiting_status = false;
	}
	if (charger_active_tx(ch) > 0) {
		hc->fault_since_ms = 0; /* never during a transaction; the wait starts again after it */
		return;
	}
	if (!hc->fault_since_ms)
		hc->fault_since_ms = now;
	if (hc->awaiting_status && ch->rx_frames > hc->confirm_rx_frames) {
		hc->awaiting_status = false; /* the charger spoke since: its status is fresh */
		hc->next_ms = now;
	}
	if (!cfg->heal || hc->alerted || hc->busy || link != LINK_ONLINE || csms_busy)
		return;
	if (now < hc->fault_since_ms + (uint64_t)cfg->faulted_reset_s * 1000 || now < hc->next_ms)
		return;
	if (!hc->confirmed) {
		send_trigger(h, hc, now);
		return;
	}
	/* Waited CONFIRM_MS for a status that did not come: stop waiting, or the next frame (the
	 * reset's own answer) would end the wait and with it the backoff after that reset. */
	hc->awaiting_status = false;
	if (hc->soft_done < cfg->max_soft_resets || !hc->hard_done) {
		int today = resets_last_day(h, ch, now);
		if (today >= cfg->max_resets_per_day)
			alert(h, hc, today);
		else
			send_reset(h, hc, now);
		return;
	}
	alert(h, hc, -1);
}

static void on_probe(struct charger *ch, const char *action, const json_t *req, const json_t *result,
		     const char *error)
{
	struct hc *hc = entry_of(ch);
	struct health *h;
	(void)action;
	(void)req;

	if (!hc || !hc->probing)
		return;
	h = ch->proxy->d->health;
	hc->probing = false;
	if (result || !error || strcmp(error, "timeout") != 0) {
		log_msg(LL_NOTICE, "charger %s: answered the edge's heartbeat request (%s); it is talking again", ch->id,
			answer_of(result, error));
		return;
	}
	if (!charger_online(ch) || ch->connected_ms != hc->probe_conn_ms)
		return;
	hc->closed_silent = true;
	hc->closed_conn_ms = ch->connected_ms;
	hc->disconnect = add_action(h, ch, "disconnect", "silent");
	store_event(h->d->store, LL_WARN, "health", ch->id,
		    "charger %s stopped answering (nothing heard for %.0f s, no answer to a heartbeat request within %d s): "
		    "the edge closes its socket so it reconnects",
		    ch->id, (double)(now_ms() - ch->last_rx_ms) / 1000.0, h->d->cfg->ocpp.call_timeout_s);
	ws_link_close(&ch->down, LWS_CLOSE_STATUS_GOINGAWAY, "silent");
	/* A half-open socket never completes the close handshake: drop it after a while anyway. */
	lws_set_timeout(ch->down.wsi, PENDING_TIMEOUT_USER_OK, SILENT_CLOSE_TIMEOUT_S);
}

static void silence(struct health *h, struct hc *hc, enum charger_link link)
{
	struct charger *ch = hc->ch;
	char words[80];

	if (hc->probing && (link == LINK_OFFLINE || ch->connected_ms != hc->probe_conn_ms))
		hc->probing = false;
	if (hc->closed_silent && ch->connected_ms != hc->closed_conn_ms && link == LINK_ONLINE &&
	    ch->last_rx_ms > ch->connected_ms) {
		hc->closed_silent = false;
		set_action(h, h->set_healed, hc->disconnect, NULL, 1);
		store_event(h->d->store, LL_NOTICE, "health", ch->id,
			    "charger %s reconnected and is talking again after the edge closed its silent socket", ch->id);
	}
	if (link != LINK_SILENT || !h->d->cfg->health.heal || hc->probing)
		return;
	if (hc->closed_silent && ch->connected_ms == hc->closed_conn_ms)
		return; /* closing it already */
	json_t *pl = json_pack("{s:s}", "requestedMessage", "Heartbeat");
	if (!pl || proxy_edge_call(h->d->proxy, ch, "TriggerMessage", pl, on_probe) < 0)
		return;
	hc->probing = true;
	hc->probe_conn_ms = ch->connected_ms;
	snprintf(words, sizeof(words), "%.0f s", (double)(now_ms() - ch->last_rx_ms) / 1000.0);
	store_event(h->d->store, LL_WARN, "health", ch->id,
		    "charger %s is silent: socket open but nothing heard for %s; asking it for a heartbeat", ch->id, words);
}

json_t *health_heal_json(const struct hc *hc)
{
	return json_pack("{s:b, s:i, s:b, s:b, s:b}", "faulted", hc->in_fault, "soft_resets", hc->soft_done, "hard_reset",
			 hc->hard_done, "technician_alert", hc->alerted, "silent_socket_closed", hc->closed_silent);
}

void health_heal(struct health *h, struct hc *hc, enum charger_link link, uint64_t now)
{
	silence(h, hc, link);
	ladder(h, hc, link, now);
}
