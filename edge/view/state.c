/* Site state as JSON; see state.h. Numbers keep their units in their names (`_a`, `_w`, `_wh`,
 * `_pct`, `_s`) because they reach people and other programs unchanged; a quantity that is not
 * known is null, never 0. */
#include "edge/view/state.h"
#include "edge/core/clock.h"
#include "edge/ocpp/charger.h"
#include "edge/ocpp/charger-needs.h"
#include "edge/daemon.h"
#include "edge/devices/devices.h"
#include "edge/site/energy.h"
#include "edge/health/health.h"
#include "edge/health/health-private.h"
#include "edge/site/profiles.h"
#include "edge/ocpp/proxy.h"
#include "edge/ocpp/replay.h"
#include "edge/site/site.h"

#include <math.h>
#include <string.h>

static json_t *number(double v)
{
	return isfinite(v) ? json_real(round(v * 100) / 100) : json_null();
}

static json_t *phases(const double v[AG_PHASES])
{
	return json_pack("[o, o, o]", number(v[0]), number(v[1]), number(v[2]));
}

#define DRAWING_A 1.0           /* a charger reporting less on every phase is not charging */
#define METER_FRESH_MS 120000   /* an older meter sample says nothing about now */

/* Drawing current now, by its own meter: a session that is open but paused, or a vehicle that
 * is full, does not count as charging. */
static bool drawing(const struct charger *ch, uint64_t now)
{
	const struct meter_sample *m = &ch->meter;

	bool session = charger_active_tx(ch) > 0;

	for (int i = 0; !session && i < ch->n_connectors; i++)
		session = strcmp(ch->connectors[i].status, "Charging") == 0;
	/* the last sample of a session that ended may still read 16 A */
	if (!session || !charger_online(ch) || !m->at_ms || now - m->at_ms > METER_FRESH_MS)
		return false;
	for (int p = 0; p < AG_PHASES; p++)
		if (isfinite(m->current_a[p]) && m->current_a[p] >= DRAWING_A)
			return true;
	return isfinite(m->power_w) && m->power_w >= DRAWING_A * 230;
}

/* "over_limit" when the grid meter reads above the limit in force on some phase (the measured
 * state, not the allocation), else "fallback" or "normal". */
static const char *site_state(const struct site_status *st, json_t *over)
{
	for (int p = 0; st->grid_measured && p < AG_PHASES; p++)
		if (st->limit_a[p] > 0 && isfinite(st->grid_a[p]) && st->grid_a[p] > st->limit_a[p])
			json_array_append_new(over, json_sprintf("L%d", p + 1));
	return json_array_size(over) ? "over_limit" : st->fallback ? "fallback" : "normal";
}

static json_t *uplink(struct ag_daemon *d)
{
	size_t up = 0;

	for (size_t i = 0; d->proxy && i < d->proxy->n_chargers; i++) {
		const struct charger *ch = d->proxy->chargers[i];
		up += charger_online(ch) && ch->up_state == UP_OPEN;
	}
	/* outbox: messages kept for the CSMS (storage.outbox_max_rows), MeterValues thinned out */
	return json_pack("{s:b, s:s, s:I, s:{s:I, s:i, s:I}}", "configured", d->cfg->upstream.url != NULL,
			 "partition_mode", d->cfg->upstream.partition, "connected", (json_int_t)up, "outbox", "messages",
			 (json_int_t)(d->proxy ? replay_outbox_rows(d->proxy) : 0), "max", d->cfg->storage.outbox_max_rows,
			 "dropped", (json_int_t)(d->proxy ? replay_outbox_dropped(d->proxy) : 0));
}

json_t *state_site(struct ag_daemon *d)
{
	const struct site_status *st = site_status(d);
	static const struct site_status none;
	size_t n = d->proxy ? d->proxy->n_chargers : 0, online = 0, busy = 0, sessions = 0;
	json_t *override = json_null(), *over = json_array();
	uint64_t now = now_ms();

	if (!st)
		st = &none;
	for (size_t i = 0; i < n; i++) {
		online += charger_online(d->proxy->chargers[i]);
		busy += drawing(d->proxy->chargers[i], now);
		sessions += charger_online(d->proxy->chargers[i]) && charger_active_tx(d->proxy->chargers[i]) > 0;
	}
	if (st->override_a > 0) {
		override = json_pack("{s:o, s:I, s:s}", "limit_a", number(st->override_a), "remaining_s",
				     (json_int_t)(st->override_until_ms > now ? (st->override_until_ms - now + 999) / 1000 : 0),
				     "by", st->override_by);
	}
	const char *state = site_state(st, over);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?, s:o, s:{s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o},"
			 " s:{s:I, s:I, s:I, s:I}, s:I, s:o}",
			 "name", d->cfg->site.name, "policy", d->cfg->site.policy,
			 "mode", st->fallback ? "fallback" : "normal", "state", state, "over_limit_phases", over,
			 "fallback_why", st->fallback ? st->fallback_why : NULL,
			 "uplink", uplink(d),
			 "grid", "limit_a", phases(st->limit_a), "current_a", phases(st->grid_a),
			 "measured", st->grid_measured, "ev_a", phases(st->ev_a), "allocated_a", phases(st->allocated_a),
			 "limit_kw", number(d->cfg->site.grid.limit_kw), "configured_limit_a",
			 phases(d->cfg->site.grid.limit_a), "override", override,
			 "chargers", "configured", (json_int_t)n, "online", (json_int_t)online, "charging", (json_int_t)busy,
			 "sessions", (json_int_t)sessions,
			 "solves", (json_int_t)st->solves, "energy", energy_json(d));
}

static json_t *connectors(const struct charger *ch)
{
	json_t *a = json_array();

	for (int i = 0; a && i < ch->n_connectors; i++)
		json_array_append_new(a, json_pack("{s:i, s:s, s:s}", "id", ch->connectors[i].id,
						   "status", ch->connectors[i].status,
						   "error_code", ch->connectors[i].error_code));
	return a;
}

static json_t *transactions(const struct charger *ch)
{
	json_t *a = json_array();

	for (int i = 0; a && i < CHARGER_TX; i++) {
		const struct transaction *t = &ch->tx[i];
		if (!t->active)
			continue;
		json_array_append_new(a, json_pack("{s:s, s:i, s:s, s:o}", "id", t->id, "connector", t->connector,
						   "id_token", t->id_token,
						   "energy_wh", number(t->energy_wh)));
	}
	return a;
}

static json_t *meter(const struct charger *ch)
{
	const struct meter_sample *m = &ch->meter;

	if (!m->at_ms)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "current_a", phases(m->current_a),
			 "voltage_v", phases(m->voltage_v), "power_w", number(m->power_w),
			 "energy_wh", number(m->energy_wh), "soc_pct", m->soc_pct >= 0 ? number(m->soc_pct) : json_null(),
			 "age_s", (json_int_t)((now_ms() - m->at_ms) / 1000));
}

/* The session's departure, energy still needed and who said so (the manager's values win), and
 * the EV's own minimum and maximum current when it gave them; for an EV that gave no departure,
 * when `plan` counts on it leaving (its charger's usual stay) and from how many sessions. */
static json_t *needs(const struct ag_daemon *d, const struct charger *ch)
{
	struct needs_now n;
	char when[40], planned[40];
	size_t sessions = 0;
	int64_t leave_in_ms = site_planned_leave_in_ms(d, ch, &sessions);

	needs_now(ch, &n);
	if (n.departure_wall_ms)
		ocpp_time_format(n.departure_wall_ms, when, sizeof(when));
	if (leave_in_ms > 0)
		ocpp_time_format(wall_ms() + leave_in_ms, planned, sizeof(planned));
	return json_pack("{s:s?, s:o, s:s?, s:o, s:o, s:s?, s:o}", "departure", n.departure_wall_ms ? when : NULL,
			 "energy_need_kwh", n.need_wh >= 0 ? number(n.need_wh / 1000) : json_null(), "needs_from", n.from,
			 "ev_min_a", n.ev_min_a > 0 ? number(n.ev_min_a) : json_null(),
			 "ev_max_a", n.ev_max_a > 0 ? number(n.ev_max_a) : json_null(),
			 "planned_departure", leave_in_ms > 0 ? planned : NULL,
			 "planned_from_sessions", leave_in_ms > 0 ? json_integer((json_int_t)sessions) : json_null());
}

/* The last fault code: the connector's errorCode while faulted, else the code of its last faulted
 * stretch in the health history (so the page can say what went wrong yesterday). */
static json_t *last_fault_code(struct ag_daemon *d, const struct charger *ch)
{
	sqlite3_stmt *q;
	json_t *code = NULL;

	for (int i = 0; i < ch->n_connectors; i++)
		if (ch->connectors[i].error_code[0] && strcmp(ch->connectors[i].error_code, "NoError") != 0)
			return json_string(ch->connectors[i].error_code);
	if (!d->health || sqlite3_prepare_v2(d->health->db,
					     "SELECT coalesce(code, 'Faulted') FROM health_states WHERE charger_id = ?1"
					     " AND state = 'faulted' ORDER BY start_ms DESC LIMIT 1", -1, &q, NULL) != SQLITE_OK)
		return json_null();
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		code = json_string((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return code ? code : json_null();
}

/* Health at a glance for the chargers table: since when (epoch ms), what, and whether the edge
 * gave up healing it and asked for a technician. */
static json_t *health_brief(struct ag_daemon *d, const struct charger *ch)
{
	const struct hc *hc = d->health ? health_entry(d->health, ch) : NULL;
	bool known = hc && hc->state != HS_N;

	return json_pack("{s:o, s:s?, s:o, s:b}", "health_since_ms",
			 known ? json_integer((json_int_t)health_wall_ms(d->health, hc->since_ms)) : json_null(),
			 "health_detail", known && hc->detail[0] ? hc->detail : NULL, "fault_code", last_fault_code(d, ch),
			 "technician_alert", known && hc->alerted);
}

json_t *state_charger(struct ag_daemon *d, const struct charger *ch)
{
	const struct cfg_charger *c = ch->cfg;
	enum charger_link link = charger_link(ch, now_ms(), d->cfg->health.silent_after_s);
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:o, s:o, s:{s:s, s:s, s:s, s:s}, s:o, s:o, s:o,"
			 " s:{s:o, s:s, s:o, s:o, s:o, s:o, s:b}, s:i}",
			 "id", ch->id, "link", charger_link_name(link), "health", health_state_name(health_of(d, ch)),
			 "pending", ch->pending,
			 "protocol", ch->version == OCPP201 ? "ocpp2.0.1" : ch->version == OCPP16 ? "ocpp1.6" : "",
			 "circuit", c ? c->circuit : "grid", "phases", c ? c->phases : 3,
			 "min_a", number(c ? c->min_a : 0), "max_a", number(c ? c->max_a : 0),
			 "boot", "vendor", ch->vendor, "model", ch->model, "firmware", ch->firmware, "serial", ch->serial,
			 "connectors", connectors(ch), "transactions", transactions(ch), "meter", meter(ch),
			 "limit", "limit_a", number(ch->limit_a), "binding", ch->binding,
			 "sent_a", ch->prof.sent_limit_a >= 0 ? number(ch->prof.sent_limit_a) : json_null(),
			 "csms_limit_a", ch->csms_limit_a > 0 ? number(ch->csms_limit_a) : json_null(),
			 "fallback_a", number(d->proxy ? profiles_fallback_a(d->proxy, ch) : 0),
			 "upstream", json_string(ch->up_state == UP_OPEN ? "connected" : d->cfg->upstream.url ? "down" : "none"),
			 "controllable", !ch->prof.not_controllable,
			 "priority", charger_priority(ch));

	if (o) {
		json_object_update_new(o, needs(d, ch));
		json_object_update_new(o, health_brief(d, ch));
	}
	return o;
}

json_t *state_chargers(struct ag_daemon *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a && d->proxy && i < d->proxy->n_chargers; i++)
		json_array_append_new(a, state_charger(d, d->proxy->chargers[i]));
	return a;
}

static json_t *reading(const struct device_reading *r)
{
	json_t *o = json_object();

	for (size_t i = 0; o && reading_field_at(i); i++) {
		const struct reading_field *f = reading_field_at(i);
		double v = *(const double *)((const char *)r + f->offset);
		if (isfinite(v))
			json_object_set_new(o, f->name, number(v));
	}
	return o;
}

json_t *state_devices(struct ag_daemon *d)
{
	json_t *a = json_array();
	uint64_t now = now_ms();

	for (size_t i = 0; a && d->devices && i < devices_count(d->devices); i++) {
		const char *id = devices_id(d->devices, i);
		const struct cfg_device *c = config_device(d->cfg, id);
		const struct device_reading *r = devices_latest(d->devices, id);
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b, s:s, s:o, s:o}", "id", id,
						   "role", c ? c->role : "", "driver", c ? c->driver : "",
						   "stale", devices_stale(d->devices, id, now),
						   "found", devices_describe(d->devices, id),
						   "age_s", r && r->at_ms ? json_integer((json_int_t)((now - r->at_ms) / 1000)) : json_null(),
						   "reading", r && r->at_ms ? reading(r) : json_null()));
	}
	return a;
}
