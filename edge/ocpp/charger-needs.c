/* Departure and energy need of a charger's session; see charger-needs.h.
 *
 * Key design decision: an energy need is stored as asked for, together with what the session had
 * delivered at that moment, and what is still needed is computed when asked (asked for minus
 * delivered since). So it follows the meter values without anyone updating it, and a need that
 * was met reads 0, not a stale number. Departures are kept on the wall clock (that is what people
 * and EVs give) and turned into the solver's monotonic clock only at solve time. */
#include "edge/ocpp/charger-needs.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/ocpp-frame.h"
#include "edge/ocpp/proxy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* What the charger's running session(s) have delivered so far. */
static double session_wh(const struct charger *ch)
{
	double wh = 0;

	for (int i = 0; i < CHARGER_TX; i++)
		if (ch->tx[i].active && ch->tx[i].energy_wh > 0)
			wh += ch->tx[i].energy_wh;
	return wh;
}

/* Whether anything was given (a manager gives no currents, so this serves both sources). */
static bool given(const struct needs *n)
{
	return n->departure_wall_ms || n->energy_wh >= 0 || n->max_a > 0 || n->min_a > 0;
}

static void clear(struct needs *n)
{
	n->departure_wall_ms = 0;
	n->energy_wh = -1;
	n->delivered_wh = 0;
	n->max_a = 0;
	n->min_a = 0;
}

int needs_parse(const json_t *body, struct needs *out, char *err, size_t size)
{
	const json_t *dep = json_object_get(body, "departure"), *kwh = json_object_get(body, "energy_kwh");

	clear(out);
	if (json_is_string(dep)) {
		if (ocpp_time_parse(json_string_value(dep), &out->departure_wall_ms) < 0) {
			snprintf(err, size, "departure \"%s\" is not a time: send RFC 3339, e.g. 2026-11-22T17:30:00+01:00, "
				 "or null", json_string_value(dep));
			return -EINVAL;
		}
		if (out->departure_wall_ms <= wall_ms()) {
			snprintf(err, size, "departure %s is in the past: send when the vehicle leaves, or null",
				 json_string_value(dep));
			return -EINVAL;
		}
	} else if (dep && !json_is_null(dep)) {
		snprintf(err, size, "departure must be an RFC 3339 time such as 2026-11-22T17:30:00+01:00, or null");
		return -EINVAL;
	}
	if (json_is_number(kwh) && json_number_value(kwh) > 0 && json_number_value(kwh) <= NEEDS_MAX_KWH) {
		out->energy_wh = json_number_value(kwh) * 1000;
	} else if (kwh && !json_is_null(kwh)) {
		snprintf(err, size, "energy_kwh must be the energy the vehicle still needs in kWh, above 0 and at most "
			 "%.0f, or null", NEEDS_MAX_KWH);
		return -EINVAL;
	}
	return 0;
}

void needs_from_ev(struct charger *ch, const json_t *payload)
{
	const json_t *cn = json_object_get(payload, "chargingNeeds");
	const json_t *ac = json_object_get(cn, "acChargingParameters"), *dc = json_object_get(cn, "dcChargingParameters");
	const json_t *amount = json_object_get(ac ? ac : dc, "energyAmount"), *max = json_object_get(ac, "evMaxCurrent");
	const json_t *min = json_object_get(ac, "evMinCurrent");
	const char *dep = json_string_value(json_object_get(cn, "departureTime"));

	clear(&ch->ev_needs);
	if (dep && ocpp_time_parse(dep, &ch->ev_needs.departure_wall_ms) < 0)
		ch->ev_needs.departure_wall_ms = 0;
	if (json_is_number(amount) && json_number_value(amount) > 0)
		ch->ev_needs.energy_wh = json_number_value(amount);
	/* AC only: a DC EV's currents are its battery's, not one phase's at the charger */
	if (json_is_number(max) && json_number_value(max) > 0)
		ch->ev_needs.max_a = json_number_value(max);
	if (json_is_number(min) && json_number_value(min) > 0)
		ch->ev_needs.min_a = fmin(json_number_value(min), ch->ev_needs.max_a > 0 ? ch->ev_needs.max_a : INFINITY);
	ch->ev_needs.delivered_wh = session_wh(ch);
	ch->needs_evse = (int)json_integer_value(json_object_get(payload, "evseId"));
}

/* The manager's values of `ch` to the database (none: the row goes). A charger without a proxy
 * (a unit test's) keeps them in memory only. */
static void save_manager(const struct charger *ch)
{
	const struct needs *m = &ch->mgr_needs;
	bool any = m->departure_wall_ms || m->energy_wh >= 0;
	sqlite3 *db;
	sqlite3_stmt *q;

	if (!ch->proxy)
		return;
	db = store_db(ch->proxy->d->store);
	if (sqlite3_prepare_v2(db, any ? "INSERT OR REPLACE INTO charger_needs (charger_id, departure_ms, energy_wh, "
					 "delivered_wh) VALUES (?1, ?2, ?3, ?4)"
				       : "DELETE FROM charger_needs WHERE charger_id = ?1",
			       -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	if (any) {
		sqlite3_bind_int64(q, 2, m->departure_wall_ms);
		sqlite3_bind_double(q, 3, m->energy_wh);
		sqlite3_bind_double(q, 4, m->delivered_wh);
	}
	if (sqlite3_step(q) != SQLITE_DONE)
		log_msg(LL_ERROR, "database: cannot keep the departure and energy need of charger %s: %s", ch->id,
			sqlite3_errmsg(db));
	sqlite3_finalize(q);
}

void needs_set_manager(struct charger *ch, const struct needs *n)
{
	ch->mgr_needs = *n;
	ch->mgr_needs.delivered_wh = session_wh(ch);
	save_manager(ch);
}

int needs_load(struct proxy *p)
{
	sqlite3 *db = store_db(p->d->store);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT charger_id, departure_ms, energy_wh, delivered_wh FROM charger_needs", -1, &q,
			       NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct charger *ch = proxy_find(p, (const char *)sqlite3_column_text(q, 0));
		char what[96];
		/* The session they were for has ended (or the charger is gone): nothing to restore. */
		if (!ch || !charger_active_tx(ch))
			continue;
		ch->mgr_needs.departure_wall_ms = sqlite3_column_int64(q, 1);
		ch->mgr_needs.energy_wh = sqlite3_column_double(q, 2);
		ch->mgr_needs.delivered_wh = sqlite3_column_double(q, 3);
		needs_describe(&ch->mgr_needs, what, sizeof(what));
		log_msg(LL_INFO, "charger %s: %s, set by a site manager, still in force after the restart", ch->id, what);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		log_msg(LL_ERROR, "database: cannot read the departure and energy needs: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	/* Rows of sessions that ended while ampgated was down. */
	for (size_t i = 0; i < p->n_chargers; i++)
		if (!charger_active_tx(p->chargers[i]))
			save_manager(p->chargers[i]);
	return 0;
}

bool needs_end(struct charger *ch)
{
	bool known = given(&ch->ev_needs) || given(&ch->mgr_needs);

	clear(&ch->ev_needs);
	clear(&ch->mgr_needs);
	ch->needs_evse = 0;
	if (known)
		save_manager(ch);
	return known;
}

bool needs_ev_left(struct charger *ch, int evse)
{
	if (!given(&ch->ev_needs) || ch->needs_evse != evse)
		return false;
	clear(&ch->ev_needs);
	ch->needs_evse = 0;
	return true;
}

/* Whether a transaction runs on an EVSE other than the one the EV's needs came from (one whose
 * EVSE the charger did not say, 0, counts as that one). */
static bool other_evse_charging(const struct charger *ch)
{
	for (int i = 0; i < CHARGER_TX; i++)
		if (ch->tx[i].active && ch->tx[i].connector && ch->tx[i].connector != ch->needs_evse)
			return true;
	return false;
}

void needs_now(const struct charger *ch, struct needs_now *out)
{
	const struct needs *m = &ch->mgr_needs, *ev = &ch->ev_needs;
	const struct needs *e = m->energy_wh >= 0 ? m : ev->energy_wh >= 0 ? ev : NULL;
	bool shared = other_evse_charging(ch);

	out->departure_wall_ms = m->departure_wall_ms ? m->departure_wall_ms : ev->departure_wall_ms;
	out->done_wh = e ? fmax(0, session_wh(ch) - e->delivered_wh) : 0;
	out->need_wh = e ? fmax(0, e->energy_wh - out->done_wh) : -1;
	out->from = given(m) ? "manager" : given(ev) ? "ev" : NULL;
	/* The edge's profiles are station-wide (evseId 0): one EV's currents bind the station only
	 * while no other EVSE charges, else they would starve or stall the other EV. */
	out->ev_max_a = shared ? 0 : ev->max_a;
	out->ev_min_a = shared ? 0 : ev->min_a;
}

int64_t needs_departure_mono_ms(const struct needs_now *n, uint64_t now_ms)
{
	int64_t left_ms;

	if (!n->departure_wall_ms)
		return 0;
	left_ms = n->departure_wall_ms - wall_ms();
	return (int64_t)now_ms + (left_ms > 0 ? left_ms : 0);
}

void needs_describe(const struct needs *n, char *buf, size_t size)
{
	char when[40] = "no departure", kwh[40] = "no energy need";

	if (n->departure_wall_ms) {
		memcpy(when, "departure ", 10);
		ocpp_time_format(n->departure_wall_ms, when + 10, sizeof(when) - 10);
	}
	if (n->energy_wh >= 0)
		snprintf(kwh, sizeof(kwh), "%.1f kWh", n->energy_wh / 1000);
	snprintf(buf, size, "%s, %s", when, kwh);
	if (n->min_a > 0 && strlen(buf) < size)
		snprintf(buf + strlen(buf), size - strlen(buf), ", at least %.0f A", n->min_a);
	if (n->max_a > 0 && strlen(buf) < size)
		snprintf(buf + strlen(buf), size - strlen(buf), ", at most %.0f A per phase", n->max_a);
}
