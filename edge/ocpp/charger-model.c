/* What the frames say about a charger; see charger-model.h. Tolerant by design: the payloads are
 * the CSMS's to validate, so a field that is missing or of the wrong type is simply not learnt. */
#include "edge/ocpp/charger-model.h"
#include "edge/ocpp/charger-needs.h"
#include "edge/ocpp/meter-scan.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void copy_str(char *out, size_t size, const json_t *v)
{
	const char *s = json_string_value(v);

	if (s)
		snprintf(out, size, "%s", s);
}

static double number(const json_t *v)
{
	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_string(v))
		return strtod(json_string_value(v), NULL); /* 1.6 sends values as strings */
	return 0;
}

/* One sample into the charger's meter (and its transaction's energy and peak power); true for a
 * phase current (the caller stamps meter.current_at_ms). */
static bool apply_sample(struct charger *ch, const struct meter_value *m, struct transaction *tx)
{
	switch (m->what) {
	case METER_ENERGY:
		ch->meter.energy_wh = m->kilo ? m->value * 1000 : m->value;
		if (tx)
			tx->energy_wh = ch->meter.energy_wh - tx->start_wh;
		break;
	case METER_CURRENT:
		if (m->phase < 0)
			break;
		ch->meter.current_a[m->phase] = m->value;
		return true;
	case METER_VOLTAGE:
		if (m->phase >= 0)
			ch->meter.voltage_v[m->phase] = m->value;
		break;
	case METER_POWER:
		if (m->phase >= 0)
			break; /* the total only */
		ch->meter.power_w = m->kilo ? m->value * 1000 : m->value;
		if (tx && ch->meter.power_w > tx->peak_w)
			tx->peak_w = ch->meter.power_w;
		break;
	case METER_SOC:
		ch->meter.soc_pct = m->value;
		break;
	case METER_OTHER:
		break;
	}
	return false;
}

/* A meter value came in now (with phase currents: `current`). */
static void stamp_meter(struct charger *ch, bool current)
{
	ch->meter.at_ms = now_ms();
	if (current)
		ch->meter.current_at_ms = ch->meter.at_ms;
}

/* meterValue arrays of MeterValues, StopTransaction (transactionData) and TransactionEvent. */
static void read_meter_values(struct charger *ch, const json_t *meter_values, struct transaction *tx)
{
	size_t i, j;
	json_t *mv, *sv;
	bool current = false;

	json_array_foreach(meter_values, i, mv)
	{
		json_array_foreach(json_object_get(mv, "sampledValue"), j, sv)
		{
			struct meter_value m;
			meter_value_of(sv, &m);
			current |= apply_sample(ch, &m, tx);
		}
	}
	stamp_meter(ch, current);
}

static struct transaction *tx_of(struct charger *ch, const json_t *id)
{
	char buf[40];

	if (json_is_integer(id))
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(id));
	else if (json_is_string(id))
		snprintf(buf, sizeof(buf), "%s", json_string_value(id));
	else
		return NULL;
	return charger_tx(ch, buf, false);
}

/* A connector's state outlives a restart of ampgated (a fault must not be forgotten). In the
 * store's grouped commit, not a transaction of its own: a reconnect storm is 1,000 chargers each
 * saying its statuses, and an fsync per row (two, with the audit batch committed first) kept the
 * loop busy for seconds. The answer that acknowledges the status leaves after the commit (the
 * loop's, or the edge's own before it answers; see charger_model_call's store_mark). */
static void store_connector(struct proxy *p, struct charger *ch, const struct connector *c)
{
	sqlite3_stmt *q = p->put_connector;

	if (!q || store_batch(p->d->store) < 0)
		return;
	sqlite3_reset(q);
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, c->id);
	sqlite3_bind_text(q, 3, c->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, c->error_code, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, c->vendor_error, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, c->problem);
	sqlite3_bind_int64(q, 7, wall_ms());
	if (sqlite3_step(q) != SQLITE_DONE)
		log_msg(LL_ERROR, "database: cannot record connector %d of charger %s: %s", c->id, ch->id,
			sqlite3_errmsg(sqlite3_db_handle(q)));
	sqlite3_reset(q);
}

static void tx_ended(struct proxy *p, struct charger *ch, struct transaction *tx, const char *reason);
static void ev_needs_gone(struct proxy *p, struct charger *ch, int evse, const char *tx_id);
static void stopped_late(struct proxy *p, struct charger *ch, const json_t *pl);

/* Does a transaction recorded on `tx_connector` run on the connector of status id `id`? 1.6:
 * the same connectorId; 2.0.1: the status id is evseId*100+connectorId, the transaction's its
 * EVSE (0 when the charger did not say). */
static bool on_connector(const struct charger *ch, int tx_connector, int id)
{
	if (ch->version == OCPP16)
		return tx_connector == id;
	return tx_connector == id / 100 || tx_connector == 0;
}

/* The charger says the sessions on a connector are over although it never stopped them (it
 * restarted, or the connector is Available): close the edge's records with `reason`, so the
 * page, the reports and the replay agree. `all`: also those that resumed, and the records older
 * than the ones held in memory. */
static void close_sessions(struct proxy *p, struct charger *ch, int id, bool all, const char *reason)
{
	int n = 0, left = 0;

	for (int i = 0; i < CHARGER_TX; i++) {
		struct transaction *tx = &ch->tx[i];
		if (!tx->active || !on_connector(ch, tx->connector, id))
			continue;
		if (all || tx->unconfirmed) {
			tx_ended(p, ch, tx, reason);
			n++;
		} else {
			left++;
		}
	}
	/* The older records, in the grouped commit like the connector row (see store_connector):
	 * every Available of a storm comes here. */
	sqlite3_stmt *q = p->close_sessions[ch->version == OCPP16 ? 0 : 1];
	if (left || !q || store_batch(p->d->store) < 0)
		return;
	sqlite3_reset(q);
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, id);
	sqlite3_bind_int64(q, 3, wall_ms());
	sqlite3_bind_text(q, 4, reason, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_DONE)
		n += sqlite3_changes(sqlite3_db_handle(q));
	sqlite3_reset(q);
	if (n)
		store_event(p->d->store, LL_NOTICE, "transaction", ch->id,
			    "connector %d: %d open session record%s closed: %s", id, n, n == 1 ? "" : "s", reason);
}

/* A StatusNotification decides what became of the sessions open on its connector: Available
 * means none runs; after a reboot, anything but charging means the session did not resume. */
static void sessions_by_status(struct proxy *p, struct charger *ch, int id, const char *status)
{
	static const char *const running[] = { "Charging", "SuspendedEV", "SuspendedEVSE", "Occupied", NULL };

	if (ch->version == OCPP16 && id == 0)
		return; /* the whole charge point, not a connector */
	if (strcmp(status, "Available") == 0) {
		close_sessions(p, ch, id, true, "connector Available with no transaction");
		/* an EV that gave its needs and left before a transaction began (or beside another) */
		ev_needs_gone(p, ch, id / 100, NULL);
		return;
	}
	for (const char *const *r = running; *r; r++)
		if (strcmp(status, *r) == 0) {
			for (int i = 0; i < CHARGER_TX; i++)
				if (ch->tx[i].active && on_connector(ch, ch->tx[i].connector, id))
					ch->tx[i].unconfirmed = false; /* it resumed */
			return;
		}
	close_sessions(p, ch, id, false, "charger restarted and did not resume the session");
}

static void status_notification(struct proxy *p, struct charger *ch, const json_t *pl)
{
	int id;
	const char *status, *error = NULL;

	if (ch->version == OCPP16) {
		id = (int)json_integer_value(json_object_get(pl, "connectorId"));
		status = json_string_value(json_object_get(pl, "status"));
		error = json_string_value(json_object_get(pl, "errorCode"));
	} else {
		json_int_t evse = json_integer_value(json_object_get(pl, "evseId"));
		json_int_t conn = json_integer_value(json_object_get(pl, "connectorId"));
		if (evse < 0 || evse > 9999 || conn < 0 || conn > 99)
			return; /* not an id evseId*100+connectorId can hold (and no overflow) */
		id = (int)(evse * 100 + conn);
		status = json_string_value(json_object_get(pl, "connectorStatus"));
	}
	struct connector *c = charger_connector(ch, id);
	if (!c || !status)
		return;
	if (strcmp(c->status, status) != 0)
		store_event(p->d->store, strcmp(status, "Faulted") == 0 ? LL_WARN : LL_INFO, "status", ch->id,
			    "connector %d: %s -> %s%s%s", id, c->status[0] ? c->status : "(unknown)", status,
			    error && strcmp(error, "NoError") != 0 ? ", error " : "",
			    error && strcmp(error, "NoError") != 0 ? error : "");
	snprintf(c->status, sizeof(c->status), "%s", status);
	snprintf(c->error_code, sizeof(c->error_code), "%s", error ? error : "");
	if (strcmp(status, "Faulted") != 0)
		c->problem = false; /* a 2.0.1 station that says it is usable again has no Problem left */
	if (ch->version == OCPP16 || !c->problem)
		c->vendor_error[0] = 0;
	if (ch->version == OCPP16)
		copy_str(c->vendor_error, sizeof(c->vendor_error), json_object_get(pl, "vendorErrorCode"));
	store_connector(p, ch, c);
	sessions_by_status(p, ch, id, status);
}

/* 2.0.1 reports problems as the Problem variable of a Connector, EVSE or ChargingStation
 * component (OCPP 2.0.1 Part 2 Appendix, "Problem"); the techCode is the vendor's code. */
static void notify_event(struct proxy *p, struct charger *ch, const json_t *pl)
{
	size_t i;
	json_t *ev;

	json_array_foreach(json_object_get(pl, "eventData"), i, ev)
	{
		const json_t *comp = json_object_get(ev, "component");
		const char *var = json_string_value(json_object_get(json_object_get(ev, "variable"), "name"));
		const char *value = json_string_value(json_object_get(ev, "actualValue"));
		const json_t *evse = json_object_get(comp, "evse");
		if (!var || strcmp(var, "Problem") != 0 || !value)
			continue;
		struct connector *c = charger_connector(ch, (int)(json_integer_value(json_object_get(evse, "id")) * 100 +
							       json_integer_value(json_object_get(evse, "connectorId"))));
		if (!c)
			continue;
		c->problem = strcmp(value, "true") == 0 && !json_is_true(json_object_get(ev, "cleared"));
		c->vendor_error[0] = 0;
		if (c->problem)
			copy_str(c->vendor_error, sizeof(c->vendor_error), json_object_get(ev, "techCode"));
		store_connector(p, ch, c);
	}
}

/* A transaction ended: with no other running on the charger, its departure and energy need end
 * too (they were for that session). */
static void store_tx(struct proxy *p, struct charger *ch, const struct transaction *tx, const char *end_reason);

static void tx_ended(struct proxy *p, struct charger *ch, struct transaction *tx, const char *reason)
{
	store_tx(p, ch, tx, reason);
	tx->active = false;
	if (!charger_active_tx(ch) && needs_end(ch)) {
		store_event(p->d->store, LL_INFO, "charger.needs", ch->id,
			    "departure and energy need cleared: transaction %s ended", tx->id);
		proxy_emit(p, ch, PROXY_NEEDS_CHANGED);
	} else {
		ev_needs_gone(p, ch, tx->connector, tx->id);
	}
}

/* The EV on 2.0.1 EVSE `evse` went (its transaction `tx_id` ended; NULL: its connector said
 * Available) while the station's needs stay: forget what it said. */
static void ev_needs_gone(struct proxy *p, struct charger *ch, int evse, const char *tx_id)
{
	if (ch->version != OCPP201 || !needs_ev_left(ch, evse))
		return;
	store_event(p->d->store, LL_INFO, "charger.needs", ch->id, "what the EV on EVSE %d asked for cleared: %s%s%s",
		    evse, tx_id ? "transaction " : "it left", tx_id ? tx_id : "", tx_id ? " ended" : "");
	proxy_emit(p, ch, PROXY_NEEDS_CHANGED);
}

/* NotifyEVChargingNeeds (2.0.1): the EV's departure and energy need, for the deadline policies. */
static void ev_charging_needs(struct proxy *p, struct charger *ch, const json_t *pl)
{
	char what[96];

	needs_from_ev(ch, pl);
	needs_describe(&ch->ev_needs, what, sizeof(what));
	store_event(p->d->store, LL_INFO, "charger.needs", ch->id, "EV on EVSE %d asks for %s%s", ch->needs_evse, what,
		    ch->mgr_needs.departure_wall_ms || ch->mgr_needs.energy_wh >= 0 ?
		    " (a site manager's values still win)" : "");
	proxy_emit(p, ch, PROXY_NEEDS_CHANGED);
}

static void transaction_event(struct proxy *p, struct charger *ch, const json_t *pl)
{
	const char *type = json_string_value(json_object_get(pl, "eventType"));
	const char *id = json_string_value(json_object_get(json_object_get(pl, "transactionInfo"), "transactionId"));
	struct transaction *tx;

	if (!type || !id)
		return;
	tx = charger_tx(ch, id, strcmp(type, "Started") == 0);
	if (!tx)
		return;
	if (strcmp(type, "Started") == 0) {
		tx->connector = (int)json_integer_value(json_object_get(json_object_get(pl, "evse"), "id"));
		copy_str(tx->id_token, sizeof(tx->id_token), json_object_get(json_object_get(pl, "idToken"), "idToken"));
		read_meter_values(ch, json_object_get(pl, "meterValue"), NULL);
		tx->start_wh = ch->meter.energy_wh;
		charger_model_store_tx(p, ch, tx, false);
		return;
	}
	read_meter_values(ch, json_object_get(pl, "meterValue"), tx);
	tx->unconfirmed = false;
	if (strcmp(type, "Ended") == 0)
		tx_ended(p, ch, tx, "stopped");
}

/* A MeterValues call: the scanner's reading when the frame parser left the tree out. */
static void meter_values(struct charger *ch, const struct ocpp_frame *f)
{
	const struct meter_reading *r = &f->meter;
	struct transaction *tx;

	if (!f->meter_scanned) {
		json_t *pl = ocpp_frame_payload(f);
		if ((tx = tx_of(ch, json_object_get(pl, "transactionId"))))
			tx->unconfirmed = false; /* it resumed */
		read_meter_values(ch, json_object_get(pl, "meterValue"), tx);
		json_decref(pl);
		return;
	}
	if ((tx = r->has_tx ? charger_tx(ch, r->tx_id, false) : NULL))
		tx->unconfirmed = false;
	bool current = false;
	for (size_t i = 0; i < r->n; i++)
		current |= apply_sample(ch, &r->s[i], tx);
	stamp_meter(ch, current);
}

void charger_model_call(struct proxy *p, struct charger *ch, const struct ocpp_frame *f)
{
	const json_t *pl = f->payload;

	if (strcmp(f->action, "BootNotification") == 0) {
		ch->boot_seen_ms = now_ms();
		/* A reboot ends what ran: its sessions stay open only if it resumes them. */
		for (int i = 0; i < CHARGER_TX; i++)
			ch->tx[i].unconfirmed = ch->tx[i].active;
	} else if (!ch->booted && !ch->pending && ch->boot_seen_ms < ch->connected_ms) {
		ch->booted = true;
		store_event(p->d->store, LL_INFO, "charger", ch->id,
			    "reconnected without a BootNotification (%s first): accepted as booted before; "
			    "its limit and meter settings are sent now", f->action);
		proxy_emit(p, ch, PROXY_BOOTED);
	}
	if (strcmp(f->action, "BootNotification") == 0) {
		const json_t *cs = ch->version == OCPP16 ? pl : json_object_get(pl, "chargingStation");
		copy_str(ch->vendor, sizeof(ch->vendor), json_object_get(cs, ch->version == OCPP16 ? "chargePointVendor" : "vendorName"));
		copy_str(ch->model, sizeof(ch->model), json_object_get(cs, ch->version == OCPP16 ? "chargePointModel" : "model"));
		copy_str(ch->firmware, sizeof(ch->firmware), json_object_get(cs, "firmwareVersion"));
		copy_str(ch->serial, sizeof(ch->serial),
			 json_object_get(cs, ch->version == OCPP16 ? "chargePointSerialNumber" : "serialNumber"));
	} else if (strcmp(f->action, "StatusNotification") == 0) {
		status_notification(p, ch, pl);
	} else if (strcmp(f->action, "MeterValues") == 0) {
		meter_values(ch, f);
	} else if (strcmp(f->action, "StopTransaction") == 0) {
		struct transaction *tx = tx_of(ch, json_object_get(pl, "transactionId"));
		if (tx) {
			tx->energy_wh = number(json_object_get(pl, "meterStop")) - tx->start_wh;
			tx_ended(p, ch, tx, "stopped");
		} else {
			stopped_late(p, ch, pl);
		}
	} else if (strcmp(f->action, "TransactionEvent") == 0) {
		transaction_event(p, ch, pl);
	} else if (strcmp(f->action, "NotifyEVChargingNeeds") == 0 && ch->version == OCPP201) {
		ev_charging_needs(p, ch, pl);
	} else if (strcmp(f->action, "NotifyEvent") == 0) {
		notify_event(p, ch, pl);
	}
	ch->store_mark = store_mark(p->d->store);
}

/* A CSMS limit on the whole station: fold it in as an upper bound of the edge's own. */
static void csms_profile(const struct ag_config *cfg, struct charger *ch, const json_t *pl)
{
	const json_t *prof = json_object_get(pl, ch->version == OCPP16 ? "csChargingProfiles" : "chargingProfile");
	const json_t *sched = json_object_get(prof, "chargingSchedule");
	const char *purpose = json_string_value(json_object_get(prof, "chargingProfilePurpose"));
	json_int_t stack = json_integer_value(json_object_get(prof, "stackLevel"));

	if (json_is_array(sched))
		sched = json_array_get(sched, 0);
	if (!purpose)
		return;
	if (stack > ch->csms_max_stack && stack < INT_MAX) /* the edge's own goes one above */
		ch->csms_max_stack = (int)stack;
	if (strcmp(purpose, "ChargePointMaxProfile") != 0 && strcmp(purpose, "ChargingStationMaxProfile") != 0)
		return; /* Tx profiles bound the charger below the edge's station limit by themselves */
	const char *unit = json_string_value(json_object_get(sched, "chargingRateUnit"));
	double limit = number(json_object_get(json_array_get(json_object_get(sched, "chargingSchedulePeriod"), 0), "limit"));
	if (unit && strcmp(unit, "W") == 0) {
		int phases = ch->cfg ? ch->cfg->phases : 3;
		limit = limit / (cfg->site.voltage_v * phases);
	}
	if (limit > 0)
		ch->csms_limit_a = limit;
}

void charger_model_csms_call(struct proxy *p, struct charger *ch, const struct ocpp_frame *f)
{
	if (strcmp(f->action, "SetChargingProfile") == 0)
		csms_profile(p->d->cfg, ch, f->payload);
}

void charger_model_result(struct proxy *p, struct charger *ch, const struct call *call, const struct ocpp_frame *f)
{
	const json_t *res = f->type == OCPP_RESULT ? f->payload : NULL;

	if (!res)
		return;
	if (strcmp(call->action, "BootNotification") == 0) {
		const char *status = json_string_value(json_object_get(res, "status"));
		json_int_t interval = json_integer_value(json_object_get(res, "interval"));
		if (interval > 0)
			ch->heartbeat_s = (int)interval;
		if (status && strcmp(status, "Accepted") == 0 && !ch->booted) {
			ch->booted = true;
			store_event(p->d->store, LL_INFO, "charger", ch->id, "booted: %s %s, firmware %s", ch->vendor,
				    ch->model, ch->firmware[0] ? ch->firmware : "?");
			ch->store_mark = store_mark(p->d->store); /* the accept waits for it (proxy.c) */
			proxy_emit(p, ch, PROXY_BOOTED);
		}
	} else if (strcmp(call->action, "StartTransaction") == 0) {
		json_int_t id = json_integer_value(json_object_get(res, "transactionId"));
		char buf[40];
		snprintf(buf, sizeof(buf), "%lld", (long long)id);
		struct transaction *tx = charger_tx(ch, buf, true);
		if (tx) {
			tx->connector = (int)json_integer_value(json_object_get(call->payload, "connectorId"));
			copy_str(tx->id_token, sizeof(tx->id_token), json_object_get(call->payload, "idTag"));
			tx->start_wh = number(json_object_get(call->payload, "meterStart"));
			charger_model_store_tx(p, ch, tx, false);
		}
	} else if (strcmp(call->action, "ClearChargingProfile") == 0 && call->origin == ORIGIN_CSMS) {
		/* The CSMS may have cleared the edge's profiles too (a Clear with no filter clears all):
		 * forget the CSMS's limit and put the edge's profiles back. */
		ch->csms_limit_a = 0;
		proxy_emit(p, ch, PROXY_LIMITS_CLEARED);
	}
}

/* A session's start (end_reason NULL) or end, durable before the answer that confirms it: in
 * the store's grouped commit (a storm is 1,000 sessions starting, an fsync each kept the loop
 * busy for a second), with ch->store_mark saying which batch, so that the answer waits on its
 * link for the loop's commit (proxy.c), or the edge commits before answering itself. */
static void store_tx(struct proxy *p, struct charger *ch, const struct transaction *tx, const char *end_reason)
{
	bool ended = end_reason != NULL;
	sqlite3 *db = store_batch_db(p->d->store);
	sqlite3_stmt *q;

	if (!db)
		return;
	struct needs_now need;
	const char *sql = ended ? "UPDATE transactions SET stop_ms = ?3, energy_wh = ?4, peak_w = ?8, need_left_wh = ?9, "
				  "departure_ms = ?10, stop_reason = ?11 WHERE charger_id = ?1 AND tx_id = ?2"
				: "INSERT OR REPLACE INTO transactions (charger_id, tx_id, connector, id_token, start_ms, "
				  "start_wh) VALUES (?1, ?2, ?5, ?6, ?3, ?7)";

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, tx->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, wall_ms());
	sqlite3_bind_double(q, 4, tx->energy_wh);
	if (!ended) {
		sqlite3_bind_int(q, 5, tx->connector);
		sqlite3_bind_text(q, 6, tx->id_token, -1, SQLITE_STATIC);
		sqlite3_bind_double(q, 7, tx->start_wh);
	} else {
		needs_now(ch, &need); /* the session's need, for "was it met by its departure" */
		if (tx->peak_w > 0)
			sqlite3_bind_double(q, 8, tx->peak_w);
		if (need.need_wh >= 0)
			sqlite3_bind_double(q, 9, need.need_wh);
		if (need.departure_wall_ms)
			sqlite3_bind_int64(q, 10, need.departure_wall_ms);
		sqlite3_bind_text(q, 11, end_reason, -1, SQLITE_STATIC);
	}
	if (sqlite3_step(q) != SQLITE_DONE)
		log_msg(LL_ERROR, "database: cannot record transaction %s of charger %s: %s", tx->id, ch->id, sqlite3_errmsg(db));
	sqlite3_finalize(q);
	bool stopped = !ended || strcmp(end_reason, "stopped") == 0;
	store_event(p->d->store, LL_INFO, "transaction", ch->id, "%s %s on connector %d%s%s", ended ? "ended" : "started",
		    tx->id, tx->connector, stopped ? "" : ": ", stopped ? "" : end_reason);
	ch->store_mark = store_mark(p->d->store);
	if (ended)
		log_msg(LL_INFO, "charger %s: transaction %s delivered %.2f kWh", ch->id, tx->id, tx->energy_wh / 1000.0);
}

void charger_model_store_tx(struct proxy *p, struct charger *ch, const struct transaction *tx, bool ended)
{
	store_tx(p, ch, tx, ended ? "stopped" : NULL);
}

/* A StopTransaction for a session the edge had closed already (the charger said Available, or
 * restarted, before its queued StopTransaction came): its energy and "stopped" still count. */
static void stopped_late(struct proxy *p, struct charger *ch, const json_t *pl)
{
	sqlite3 *db = store_db(p->d->store);
	sqlite3_stmt *q;
	const json_t *id = json_object_get(pl, "transactionId");

	if (!json_is_integer(id) || sqlite3_prepare_v2(db, "UPDATE transactions SET energy_wh = ?3 - coalesce(start_wh, 0), "
						     "stop_reason = 'stopped' WHERE charger_id = ?1 AND tx_id = ?2 "
						     "AND stop_ms IS NOT NULL AND stop_reason IS NOT 'stopped'",
						     -1, &q, NULL) != SQLITE_OK)
		return;
	char buf[40];
	snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(id));
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, buf, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(q, 3, number(json_object_get(pl, "meterStop")));
	sqlite3_step(q);
	sqlite3_finalize(q);
	store_commit(p->d->store);
}

/* The connectors' last known state, until the charger says otherwise: what the edge must not
 * forget across a restart is a fault (healing ladder, page, reports) and an EV that may be
 * drawing (the solver). Available and Unavailable are not restored: a connector with no status
 * counts as available, and the time from a reconnect to the charger's first StatusNotification
 * is not worth reporting as unavailable on the strength of an old row. */
static int load_connectors(struct proxy *p)
{
	sqlite3 *db = store_db(p->d->store);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT charger_id, connector, status, coalesce(error_code, ''), "
			       "coalesce(vendor_error, ''), problem FROM connectors WHERE status NOT IN ('Available', "
			       "'Unavailable') OR problem OR coalesce(error_code, 'NoError') NOT IN ('', 'NoError') "
			       "ORDER BY charger_id, connector",
			       -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct charger *ch = proxy_find(p, (const char *)sqlite3_column_text(q, 0));
		struct connector *c = ch ? charger_connector(ch, sqlite3_column_int(q, 1)) : NULL;
		if (!c)
			continue;
		snprintf(c->status, sizeof(c->status), "%s", (const char *)sqlite3_column_text(q, 2));
		snprintf(c->error_code, sizeof(c->error_code), "%s", (const char *)sqlite3_column_text(q, 3));
		snprintf(c->vendor_error, sizeof(c->vendor_error), "%s", (const char *)sqlite3_column_text(q, 4));
		c->problem = sqlite3_column_int(q, 5) != 0;
		if (strcmp(c->status, "Faulted") == 0 || c->problem) {
			log_msg(LL_WARN, "charger %s: connector %d was faulted (%s) before the restart; still counted faulted "
				"until it reports otherwise", ch->id, c->id, c->error_code[0] ? c->error_code :
				c->vendor_error[0] ? c->vendor_error : "no code");
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		log_msg(LL_ERROR, "database: cannot read connector states: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

void charger_model_unload(struct proxy *p)
{
	sqlite3_finalize(p->put_connector);
	sqlite3_finalize(p->close_sessions[0]);
	sqlite3_finalize(p->close_sessions[1]);
	p->put_connector = p->close_sessions[0] = p->close_sessions[1] = NULL;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **q)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL) == SQLITE_OK)
		return 0;
	log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(db));
	return -EIO;
}

int charger_model_load(struct proxy *p)
{
	sqlite3 *db = store_db(p->d->store);
	sqlite3_stmt *q;
	int n = 0, rc;

	if (prepare(db, "INSERT OR REPLACE INTO connectors (charger_id, connector, status, error_code, vendor_error, "
			"problem, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &p->put_connector) < 0 ||
	    prepare(db, "UPDATE transactions SET stop_ms = ?3, stop_reason = ?4 WHERE charger_id = ?1 AND stop_ms IS NULL "
			"AND connector = ?2", &p->close_sessions[0]) < 0 ||
	    prepare(db, "UPDATE transactions SET stop_ms = ?3, stop_reason = ?4 WHERE charger_id = ?1 AND stop_ms IS NULL "
			"AND connector IN (?2 / 100, 0)", &p->close_sessions[1]) < 0)
		return -EIO;

	/* Newest first, so that a charger's CHARGER_TX slots hold its latest sessions. */
	if (sqlite3_prepare_v2(db,
			       "SELECT charger_id, tx_id, connector, coalesce(id_token, ''), coalesce(start_wh, 0) "
			       "FROM transactions WHERE stop_ms IS NULL ORDER BY start_ms DESC",
			       -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct charger *ch = proxy_find(p, (const char *)sqlite3_column_text(q, 0));
		struct transaction *tx = ch ? charger_tx(ch, (const char *)sqlite3_column_text(q, 1), true) : NULL;
		if (!tx)
			continue;
		tx->connector = sqlite3_column_int(q, 2);
		snprintf(tx->id_token, sizeof(tx->id_token), "%s", (const char *)sqlite3_column_text(q, 3));
		tx->start_wh = sqlite3_column_double(q, 4);
		n++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		log_msg(LL_ERROR, "database: cannot read open transactions: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (n)
		log_msg(LL_INFO, "%d charging session%s still open from before the restart", n, n == 1 ? "" : "s");
	return load_connectors(p);
}
