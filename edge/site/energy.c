/* Site energy; see energy.h.
 *
 * Design decisions:
 * - The battery is dispatched with signed 124 limits ({-P, P}: discharge P; {P, -P}: charge P;
 *   {0, 0}: hold), and every write carries battery.revert_s, renewed at a third of it: an edge
 *   that dies leaves the battery on its own control within revert_s.
 * - Writes only when the target moves by WRITE_STEP_W or the renewal is due, at most once per
 *   half control period: a meter reading every few hundred ms must not become a Modbus write.
 * - SoC stops the discharge RESERVE_PAD_PCT above reserve_pct, so the SoC integrated between two
 *   polls never lands below it.
 * - PV surplus reaches chargers as a cap on the solver's max_a (pv_caps), not as a new solver
 *   input: the solver stays as it is, and a surplus charger is simply a charger whose maximum is
 *   what the sun gives.
 * - The ratchet (site.ratchet or mode = plan) moves the battery's peak target to min(peak_kw,
 *   the month's peak) and holds the EVs too: the grid node gets a kW limit at the month's peak
 *   for the solve (ratchet_cap), so the solver and every policy see it as one more limit. It
 *   gives way only to known needs: when the EVs' departures and energy needs, earliest
 *   departure first, need more than the room under the peak, the limit rises to what they need
 *   and the site manager is told once what that costs (the month's peak from A to B kW).
 * - Off-peak windows are a list in battery.off_peak, not a tariff file: the edge has no tariff
 *   configuration of its own (the `cost` policy's prices come from the CSMS or a replay file). */
#include "edge/site/energy.h"
#include "edge/daemon.h"
#include "edge/devices/devices.h"
#include "edge/core/log.h"
#include "edge/site/site-model.h"
#include "edge/site/solver.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITE_STEP_W 300.0      /* smaller target changes wait for the renewal */
#define DEADBAND_W 200.0        /* a target this small is a hold */
#define RESERVE_PAD_PCT 0.5
#define EXPORT_BIAS_W 500.0     /* under an export limit, PV recharge aims at this much import */
#define IGNORED_AFTER_MS 3000   /* a setpoint not followed this long: the battery ignores it */
#define LEAD_BAND 0.03          /* the site within this share of its limit is at it (allocation steps) */
#define RATCHET_HYST 0.9        /* a lifted ratchet holds again once the needs fit in 90 % of the room */
#define SEEN_N 16               /* battery readings kept for energy_hidden (two control periods' worth) */
#define SETTLE_MS 2000          /* the longest a new target waits for the battery to follow the last */

struct pv_state {
	char id[49];
	bool on;                        /* a `surplus` charger may charge */
	uint64_t pending_ms;            /* the surplus has disagreed with `on` since; 0 = agrees */
};

struct energy {
	struct energy_status st;
	struct pv_state *pv;
	size_t n_pv;
	double written_w;               /* NAN: nothing written yet (or the battery's own control) */
	uint64_t written_ms;
	struct { uint64_t at_ms; double w; } seen[SEEN_N];   /* the battery's readings of the hold
							      * window, oldest first */
	size_t n_seen;
	double building_w;              /* highest building load of the hold window */
	uint64_t building_until_ms;
	uint64_t settled_ms;            /* the battery's reading first matched the last target; 0 = not yet */
	uint64_t off_target_since_ms;   /* measured power far from the target since; 0 = following */
	bool warned_ignored, warned_reserve, warned_stale;
	bool ratchet_urgent;            /* the EVs' needs lifted the ratchet (said once per lift) */
	/* the demand-charge ratchet */
	char month[8];                  /* "2026-12", local time */
	double month_peak_w;            /* highest window average this month; 0 = none yet */
	int64_t window;                 /* index of the demand window being summed (wall ms / window) */
	double window_wh;               /* import in it so far */
	uint64_t window_ms;             /* time of it covered by readings */
	uint64_t last_ms;               /* monotonic ms of the last turn with a grid reading */
	/* energy_turn's decision, for energy_commit after the solve */
	bool pending;
	struct energy_params p;
	struct energy_input in;
	double measured_w;
};

void energy_decide(const struct energy_params *p, const struct energy_input *in, struct energy_decision *out)
{
	double site_w = in->building_w + in->ev_w;      /* import without the battery */

	out->target_w = 0;
	out->why = "idle";
	if (!p->peak_shave) {
		out->target_w = NAN;
		out->why = "battery's own control";
		return;
	}
	/* Discharge: what the site draws above peak_w, and what the EVs would take above the
	 * connection's limit (they get the battery's power only once it is measured, so the battery
	 * must lead). With peak_w below the limit the EVs count only the discharge beyond the gap
	 * between the two (energy_counted_w), so leading them takes the gap too, and only once the
	 * site is at the limit: below it, what the EVs "want" is held back by something the battery
	 * cannot relieve (a feeder, a car's own limit), and leading drained it for nothing. */
	double lead = in->building_w + in->ev_want_w - p->limit_w, gap = fmax(0, p->limit_w - p->peak_w);
	if (gap > 0 && lead > 0)
		lead = site_w >= p->limit_w * (1 - LEAD_BAND) ? lead + gap : 0;
	double need = fmax(site_w - p->peak_w, lead);
	if (p->export_limit_w >= 0)     /* never push the site into export */
		need = fmin(need, in->building_now_w + in->ev_w + p->export_limit_w);
	if (need > DEADBAND_W) {
		if (!(in->soc_pct > p->reserve_pct + RESERVE_PAD_PCT)) {
			out->why = "at reserve";
			return;
		}
		out->target_w = fmin(need, p->max_discharge_w);
		out->why = "peak shaving";
		return;
	}
	if (!(in->soc_pct < 99.5))
		return;
	double charge = 0;
	/* PV surplus is free: taken with recharge = pv, and with off-peak or plan outside their
	 * windows too (only grid energy waits for off-peak). */
	if (p->recharge == RECHARGE_PV || p->recharge == RECHARGE_OFF_PEAK) {
		/* PV surplus only, on the latest estimate (the held highest would leave part of it to
		 * export); under an export limit aim at a small import rather than a small export. */
		charge = -(in->building_now_w + in->ev_w) + (p->export_limit_w >= 0 ? EXPORT_BIAS_W : 0);
		out->why = "recharging from PV";
	}
	bool off_peak = in->off_peak && (p->recharge == RECHARGE_OFF_PEAK || (p->plan && p->recharge != RECHARGE_OFF));
	if (p->recharge == RECHARGE_ANY || off_peak) {
		/* up to the import ceiling, the EVs first: recharging into room an EV could still take
		 * (wanted but not yet drawn) lowered what the solver offered it; never above the
		 * connection's limit less margin nor the peak target (the ratchet) */
		charge = fmin(fmin(p->recharge_w, p->peak_w), p->limit_w) -
			 (in->building_w + fmax(in->ev_w, in->ev_want_w));
		out->why = off_peak ? "recharging off-peak" : "recharging";
	}
	charge = fmin(charge, p->max_charge_w);
	if (charge > DEADBAND_W)
		out->target_w = -charge;
	else
		out->why = "idle";
}

double energy_counted_w(const struct energy_params *p, double measured_w)
{
	return fmax(0, measured_w - (p->peak_shave ? fmax(0, p->limit_w - p->peak_w) : 0));
}

double energy_ev_raise_w(const struct solver_charger *chargers, const double *old_limit_a,
			 const struct solver_result *res, size_t n, double voltage_v)
{
	double w = 0;

	for (size_t i = 0; i < n; i++) {
		const struct solver_charger *c = &chargers[i];
		double drawn = 0;

		if (!c->ev || res[i].bind == BIND_EV_LIMITED || !(res[i].limit_a > 0))
			continue;
		for (int k = 0; k < c->phases && k < SOLVER_PHASES; k++)
			if (isfinite(c->draw_a[k]))
				drawn = fmax(drawn, c->draw_a[k]);
		double up = res[i].limit_a - fmax(drawn, isfinite(old_limit_a[i]) ? old_limit_a[i] : 0);
		if (up > 0)
			w += up * solver_mask_width(solver_phase_mask(c)) * voltage_v;
	}
	return w;
}

double energy_ev_want_w(const struct solver_charger *chargers, size_t n, double ev_slack_a, double voltage_v, double ev_w)
{
	struct solver_input slack = { .ev_slack_a = ev_slack_a };
	double w = 0;

	for (size_t i = 0; i < n; i++)
		if (chargers[i].ev && chargers[i].link == SOLVER_ONLINE)
			w += solver_cap_a(&slack, &chargers[i]) * solver_mask_width(solver_phase_mask(&chargers[i])) * voltage_v;
	return fmax(w, ev_w);
}

/* site.ratchet, or battery.mode = plan, which implies it. */
static bool ratchet_on(const struct ag_config *cfg)
{
	return cfg->site.ratchet || (cfg->battery.mode && strcmp(cfg->battery.mode, "plan") == 0);
}

static void month_of(int64_t wall, char out[8])
{
	time_t t = (time_t)(wall / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, 8, "%Y-%m", &tm);
}

static void load_peak(struct ag_daemon *d, struct energy *e)
{
	sqlite3 *db = d->store ? store_db(d->store) : NULL;
	sqlite3_stmt *q;

	e->month_peak_w = 0;
	if (!db || sqlite3_prepare_v2(db, "SELECT peak_w FROM demand_peaks WHERE month = ?", -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, e->month, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		e->month_peak_w = sqlite3_column_double(q, 0);
	sqlite3_finalize(q);
}

static void save_peak(struct ag_daemon *d, struct energy *e, int64_t at)
{
	sqlite3 *db = d->store ? store_db(d->store) : NULL;
	sqlite3_stmt *q;

	if (!db || sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO demand_peaks (month, peak_w, at_ms) VALUES (?, ?, ?)",
				      -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, e->month, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 2, e->month_peak_w);
	sqlite3_bind_int64(q, 3, at);
	if (sqlite3_step(q) != SQLITE_DONE)
		log_msg(LL_WARN, "energy: cannot record the demand peak: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
}

/* Sum the grid import over the utility's demand windows (wall-clock aligned); at a window's end
 * its average may raise the month's peak, kept in the database across restarts. */
static void demand(struct ag_daemon *d, struct energy *e, double grid_w, uint64_t now)
{
	int64_t wall = wall_ms();
	int64_t len_ms = (int64_t)d->cfg->site.demand_window_s * 1000;
	int64_t window = wall / len_ms;
	char month[8];

	if (e->last_ms && now > e->last_ms && now - e->last_ms < (uint64_t)len_ms) {
		e->window_wh += fmax(0, grid_w) * (double)(now - e->last_ms) / 3600000.0;
		e->window_ms += now - e->last_ms;
	}
	e->last_ms = now;
	e->st.demand_w = e->window_ms ? e->window_wh * 3600000.0 / (double)e->window_ms : NAN;
	if (window == e->window)
		return;
	month_of(wall, month);
	if (strcmp(month, e->month) != 0) {
		snprintf(e->month, sizeof(e->month), "%s", month);
		load_peak(d, e);
	}
	/* A window seen for at least half its length counts (a restart mid-window). */
	if (e->window && e->window_ms * 2 >= (uint64_t)len_ms && e->st.demand_w > e->month_peak_w) {
		bool held = e->st.ratchet && e->month_peak_w > 0 && !e->ratchet_urgent;
		e->month_peak_w = e->st.demand_w;
		save_peak(d, e, wall);
		store_event(d->store, held ? LL_WARN : LL_NOTICE, "energy.demand", "grid",
			    "this month's demand peak is now %.1f kW (%d s average)%s", e->month_peak_w / 1000,
			    d->cfg->site.demand_window_s,
			    held ? ": the battery and the EVs could not hold the site below the previous one" : "");
	}
	e->window = window;
	e->window_wh = 0;
	e->window_ms = 0;
	e->st.month_peak_w = e->month_peak_w;
}

int energy_start(struct ag_daemon *d)
{
	struct energy *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->written_w = NAN;
	e->st.soc_pct = e->st.battery_w = e->st.target_w = e->st.pv_w = e->st.building_w = NAN;
	e->st.grid_w = e->st.ev_w = NAN;
	e->st.peak_w = e->st.surplus_w = NAN;
	snprintf(e->st.why, sizeof(e->st.why), "not decided yet");
	e->st.demand_w = NAN;
	month_of(wall_ms(), e->month);
	load_peak(d, e);
	e->st.month_peak_w = e->month_peak_w;
	if (e->month_peak_w > 0)
		log_msg(LL_INFO, "energy: this month's demand peak so far: %.1f kW%s", e->month_peak_w / 1000,
			ratchet_on(d->cfg) ? " (the battery and the EVs hold the site below it)" : "");
	d->energy = e;
	return 0;
}

void energy_stop(struct ag_daemon *d)
{
	if (d->energy)
		free(d->energy->pv);
	free(d->energy);
	d->energy = NULL;
}

const struct energy_status *energy_status(const struct ag_daemon *d)
{
	return d->energy ? &d->energy->st : NULL;
}

static json_t *watts(double v)
{
	return isfinite(v) ? json_real(round(v)) : json_null();
}

json_t *energy_json(const struct ag_daemon *d)
{
	const struct energy_status *st = energy_status(d);
	json_t *bat = json_null();

	if (!st)
		return json_null();
	if (st->configured)
		bat = json_pack("{s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:s}", "device", d->cfg->battery.device, "mode",
				st->mode, "answering", st->battery_ok, "soc_pct",
				isfinite(st->soc_pct) ? json_real(round(st->soc_pct * 10) / 10) : json_null(), "power_w",
				watts(st->battery_w), "setpoint_w", watts(st->target_w), "counted_w", watts(st->counted_w),
				"peak_w", watts(st->peak_w), "why", st->why);
	if (st->configured)
		json_object_set_new(bat, "off_peak", json_boolean(st->off_peak));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:b, s:b, s:o, s:i}}", "battery", bat, "pv_w",
			 watts(st->pv_w), "building_w", watts(st->building_w), "grid_w", watts(st->grid_w), "ev_w",
			 watts(st->ev_w), "pv_surplus_w", watts(st->surplus_w), "demand", "window_avg_w", watts(st->demand_w),
			 "month_peak_w", watts(st->month_peak_w > 0 ? st->month_peak_w : NAN), "ratchet", st->ratchet,
			 "holding", st->holding, "ev_cap_w", watts(st->ev_cap_w), "window_s", d->cfg->site.demand_window_s);
}

static void params(const struct ag_config *cfg, const struct device_reading *r, double limit_w, double month_peak_w,
		   struct energy_params *p)
{
	const struct cfg_battery *b = &cfg->battery;
	double chg = isfinite(r->max_charge_w) ? r->max_charge_w : INFINITY;
	double dis = isfinite(r->max_discharge_w) ? r->max_discharge_w : INFINITY;

	p->plan = b->mode && strcmp(b->mode, "plan") == 0;
	p->peak_shave = p->plan || (b->mode && strcmp(b->mode, "peak-shave") == 0);
	p->limit_w = limit_w;
	p->peak_w = b->peak_kw > 0 ? b->peak_kw * 1000 : limit_w;
	if ((cfg->site.ratchet || p->plan) && month_peak_w > 0)
		p->peak_w = fmin(p->peak_w, month_peak_w);     /* above it the demand charge rises */
	p->reserve_pct = b->reserve_pct;
	p->max_charge_w = fmax(0, b->max_charge_kw > 0 ? fmin(b->max_charge_kw * 1000, chg) : chg);
	p->max_discharge_w = fmax(0, b->max_discharge_kw > 0 ? fmin(b->max_discharge_kw * 1000, dis) : dis);
	if (!isfinite(p->max_charge_w))
		p->max_charge_w = 0;            /* unknown rating and none configured: do not guess */
	if (!isfinite(p->max_discharge_w))
		p->max_discharge_w = 0;
	p->recharge = !b->recharge || strcmp(b->recharge, "pv") == 0 ? RECHARGE_PV :
		      strcmp(b->recharge, "any") == 0 ? RECHARGE_ANY :
		      strcmp(b->recharge, "off-peak") == 0 ? RECHARGE_OFF_PEAK : RECHARGE_OFF;
	p->recharge_w = b->recharge_kw > 0 ? b->recharge_kw * 1000 : p->peak_w;
	p->export_limit_w = cfg->site.grid.export_limit_kw >= 0 ? cfg->site.grid.export_limit_kw * 1000 : -1;
}

static double pv_power(struct ag_daemon *d, uint64_t now)
{
	double sum = NAN;

	for (size_t i = 0; i < d->cfg->n_devices; i++) {
		const struct cfg_device *c = &d->cfg->devices[i];
		const struct device_reading *r = devices_latest(d->devices, c->id);
		if (strcmp(c->role, "pv") != 0 || !r || devices_stale(d->devices, c->id, now) || !isfinite(r->power_w))
			continue;
		sum = (isnan(sum) ? 0 : sum) + r->power_w;
	}
	return sum;
}

/* Send the target when it moved or the battery's revert timer needs renewing. While the battery
 * is still ramping towards the last target (for at most SETTLE_MS), a new target waits: the grid
 * meter and the battery are read at different moments, and mid-ramp the difference between
 * them looks like a load change that is not there (the setpoint swung 7 -> 2 -> 7 kW without
 * this). Lower discharge for the reserve is not delayed by more than SETTLE_MS either. */
static void command(struct ag_daemon *d, struct energy *e, double target_w, double measured_w, uint64_t now, bool lead)
{
	const struct cfg_battery *b = &d->cfg->battery;
	uint64_t renew_ms = (uint64_t)b->revert_s * 1000 / 3;
	uint64_t min_gap_ms = (uint64_t)d->cfg->site.control_period_ms / 2;
	bool moved = isnan(e->written_w) || fabs(target_w - e->written_w) >= WRITE_STEP_W ||
		     (target_w == 0) != (e->written_w == 0);

	bool ramping = !isnan(e->written_w) && now < e->written_ms + SETTLE_MS &&
		       fabs(measured_w - e->written_w) > fmax(500, 0.1 * fabs(e->written_w));
	if (!(moved && (lead || (!ramping && now >= e->written_ms + min_gap_ms))) && now < e->written_ms + renew_ms)
		return;
	struct device_setpoint sp = { .max_charge_w = -target_w, .max_discharge_w = target_w, .revert_s = b->revert_s };
	int rc = devices_set(d->devices, b->device, &sp);
	if (rc < 0) {
		if (!isnan(e->written_w) || e->written_ms == 0)
			log_msg(LL_WARN, "battery %s cannot be commanded (%s): peak shaving is off; check its driver",
				b->device, strerror(-rc));
		e->written_w = NAN;
		e->written_ms = now;
		return;
	}
	if (moved && fabs(target_w - (isnan(e->written_w) ? 0 : e->written_w)) >= 1000)
		log_msg(LL_INFO, "battery %s: %s %.1f kW (%s)", b->device,
			target_w > 0 ? "discharge" : target_w < 0 ? "charge" : "hold at", fabs(target_w) / 1000,
			e->st.why);
	if (!(target_w == e->written_w))
		e->settled_ms = 0;
	e->written_w = target_w;
	e->written_ms = now;
}

/* A discharge that was asked and is not measured: log once, for the site manager. */
static void watch_follow(struct ag_daemon *d, struct energy *e, double measured_w, uint64_t now)
{
	bool off = !isnan(e->written_w) && e->written_w > 1000 && measured_w < 0.5 * e->written_w;

	if (!off) {
		e->off_target_since_ms = 0;
		e->warned_ignored = false;
		return;
	}
	if (!e->off_target_since_ms)
		e->off_target_since_ms = now;
	if (!e->warned_ignored && now >= e->off_target_since_ms + IGNORED_AFTER_MS) {
		e->warned_ignored = true;
		store_event(d->store, LL_WARN, "battery.ignored", d->cfg->battery.device,
			    "battery asked to discharge %.1f kW but delivers %.1f kW (tripped or ignoring its setpoint?); "
			    "the EVs count only what it delivers", e->written_w / 1000, measured_w / 1000);
	}
}

/* The grid meter's import in W (its power, else its currents at the nominal voltage); NAN when
 * it is not fresh. */
static double grid_import(struct ag_daemon *d, uint64_t now, uint64_t *at_ms)
{
	const char *m = d->cfg->site.grid.meter;
	const struct device_reading *r = m && d->devices ? devices_latest(d->devices, m) : NULL;

	if (!r || devices_stale(d->devices, m, now))
		return NAN;
	*at_ms = r->at_ms;
	if (isfinite(r->power_w))
		return r->power_w;
	double w = 0;
	for (int p = 0; p < 3; p++)
		w += isfinite(r->current_a[p]) ? r->current_a[p] * d->cfg->site.voltage_v : 0;
	return w;
}

static struct pv_state *pv_state(struct energy *e, const char *id)
{
	for (size_t i = 0; i < e->n_pv; i++)
		if (strcmp(e->pv[i].id, id) == 0)
			return &e->pv[i];
	struct pv_state *n = realloc(e->pv, (e->n_pv + 1) * sizeof(*n));
	if (!n)
		return NULL;
	e->pv = n;
	memset(&n[e->n_pv], 0, sizeof(*n));
	snprintf(n[e->n_pv].id, sizeof(n[e->n_pv].id), "%s", id);
	return &n[e->n_pv++];
}

/* The charger's configuration when its `pv` is on, else NULL. Most sites have no PV charger:
 * then no charger is looked up by id in each solve. */
static const struct cfg_charger *pv_charger(const struct ag_config *cfg, const char *id)
{
	if (cfg->charger_by_id && !cfg->n_pv_chargers)
		return NULL;
	const struct cfg_charger *cc = config_charger(cfg, id);
	return cc && config_charger_pv(cc) ? cc : NULL;
}

/* PV surplus for the chargers with `pv` set: what the site exports without them (PV beyond the
 * building and the other EVs; the battery's discharge is not surplus), handed out in charger
 * order as a cap on max_a. A `surplus` charger starts when the surplus has covered its minimum
 * for site.pv_hysteresis_s and pauses when it has not for as long; in between it keeps at least
 * its minimum (from the grid, for the hysteresis' time), so a cloud does not toggle it. */
static void pv_caps(struct ag_daemon *d, struct energy *e, struct solver_charger *chargers, size_t n,
		    double building_w, uint64_t now)
{
	double v = d->cfg->site.voltage_v, other_w = 0;
	uint64_t hyst_ms = (uint64_t)d->cfg->site.pv_hysteresis_s * 1000;

	for (size_t i = 0; i < n; i++) {
		if (!pv_charger(d->cfg, chargers[i].id))
			for (int k = 0; k < chargers[i].phases; k++)
				other_w += chargers[i].draw_a[k] * v;
	}
	double left_w = -(building_w + other_w);
	e->st.surplus_w = fmax(0, left_w);
	for (size_t i = 0; i < n; i++) {
		struct solver_charger *c = &chargers[i];
		const struct cfg_charger *cc = pv_charger(d->cfg, c->id);
		if (!cc)
			continue;
		struct pv_state *ps = pv_state(e, c->id);
		double per_a = c->phases * v;
		double avail_a = fmax(0, left_w) / per_a;
		double cap_a;
		if (strcmp(cc->pv, "min+surplus") == 0) {
			cap_a = c->min_a + avail_a;
		} else {
			bool want = c->ev && avail_a >= c->min_a;
			if (ps && want != ps->on) {
				if (!ps->pending_ms)
					ps->pending_ms = now;
				if (!c->ev || now >= ps->pending_ms + hyst_ms) {
					ps->on = want;
					ps->pending_ms = 0;
					if (c->ev)
						log_msg(LL_INFO, "charger %s: PV surplus %s for %d s: %s (pv = surplus)", c->id,
							want ? "covers its minimum" : "below its minimum", d->cfg->site.pv_hysteresis_s,
							want ? "charging from PV" : "paused until the sun is back");
				}
			} else if (ps) {
				ps->pending_ms = 0;
			}
			cap_a = ps && ps->on ? fmax(avail_a, c->min_a) : 0;
		}
		if (!c->ev)
			continue;
		c->max_a = fmin(c->max_a, floor(cap_a * 10) / 10);
		left_w -= fmin(c->max_a, cap_a) * per_a;
	}
}

/* The building load (non-EV, non-battery, PV included) now: grid - EVs + battery, from readings
 * taken at different moments. Trusted only once the battery has settled on its last target and
 * the grid was read after that (or SETTLE_MS after the write, whatever it does); mid-ramp the
 * difference looks like a load change that is not there, so the last trusted value stands.
 * Also keeps the highest of the last two control periods (e->building_w). */
static double building_now(struct ag_daemon *d, struct energy *e, double grid_w, uint64_t grid_at_ms, double ev_w,
			   const struct device_reading *r, double measured_w, uint64_t now)
{
	uint64_t hold_ms = 2 * (uint64_t)d->cfg->site.control_period_ms;
	double w = grid_w - ev_w + (r && isfinite(r->power_w) ? r->power_w : 0);
	bool trusted = true;

	if (r && !isnan(e->written_w)) {
		bool near = fabs(measured_w - e->written_w) <= fmax(500, 0.1 * fabs(e->written_w));
		if (!near)
			e->settled_ms = 0;
		else if (!e->settled_ms)
			e->settled_ms = r->at_ms;
		trusted = now >= e->written_ms + SETTLE_MS || (e->settled_ms && grid_at_ms > e->settled_ms);
	}
	if (!trusted && isfinite(e->st.building_w))
		w = e->st.building_w;
	if (now >= e->building_until_ms || w >= e->building_w) {
		e->building_w = w;
		e->building_until_ms = now + hold_ms;
	}
	e->st.building_w = w;
	return w;
}

/* The power the EVs with a known departure and energy need must average from now on to be
 * ready, earliest departure first (each departure must see the energy of all due by then), and
 * the departure that sets it (*by_ms, monotonic). 0 with no such EV. */
static double needed_w(const struct solver_charger *c, size_t n, uint64_t now, int64_t *by_ms)
{
	double most_w = 0;

	*by_ms = 0;
	for (size_t i = 0; i < n; i++) {
		if (!c[i].ev || c[i].energy_need_wh <= 0 || c[i].departure_ms <= (int64_t)now)
			continue;
		double due_wh = 0;
		for (size_t j = 0; j < n; j++)
			if (c[j].ev && c[j].energy_need_wh > 0 && c[j].departure_ms > (int64_t)now &&
			    c[j].departure_ms <= c[i].departure_ms)
				due_wh += c[j].energy_need_wh;
		double w = due_wh * 3600000.0 / (double)(c[i].departure_ms - (int64_t)now);
		if (w > most_w) {
			most_w = w;
			*by_ms = c[i].departure_ms;
		}
	}
	return most_w;
}

/* The ratchet for the EVs: the grid node's kW limit for this solve (0: none). The solver keeps
 * the EVs at limit - non-EV load - margin + counted discharge, so a limit at the month's peak
 * keeps the import (building + EVs - battery) below it. When the known needs do not fit in that
 * room, the limit becomes what they need, and the site manager hears once what it costs. */
static double ratchet_cap(struct ag_daemon *d, struct energy *e, const struct solver_charger *c, size_t n,
			  double building_w, double counted_w, uint64_t now)
{
	const struct ag_config *cfg = d->cfg;
	double margin_w = 3 * cfg->site.voltage_v * cfg->site.margin_a;
	int64_t by_ms;

	e->st.ratchet = ratchet_on(cfg);
	e->st.holding = false;
	e->st.ev_cap_w = NAN;
	if (!e->st.ratchet || !(e->month_peak_w > 0) || !isfinite(building_w)) {
		e->ratchet_urgent = false;
		return 0;
	}
	double need_w = needed_w(c, n, now, &by_ms);
	double room_w = e->month_peak_w - building_w - margin_w + counted_w;
	/* hysteresis: a need near the room (building load moving, a departure nearing) must not
	 * toggle the lift and repeat the event */
	if (need_w <= room_w * (e->ratchet_urgent ? RATCHET_HYST : 1.0)) {
		e->ratchet_urgent = false;
		e->st.holding = true;
		e->st.ev_cap_w = e->month_peak_w;
		return e->month_peak_w / 1000;
	}
	double cap_w = building_w + need_w + margin_w - counted_w;
	if (!e->ratchet_urgent) {
		time_t t = (time_t)((wall_ms() + (by_ms - (int64_t)now)) / 1000);
		struct tm tm;
		char hhmm[8];
		localtime_r(&t, &tm);
		strftime(hhmm, sizeof(hhmm), "%H:%M", &tm);
		store_event(d->store, LL_WARN, "ratchet", "grid",
			    "ratchet: the EVs need %.1f kW until %s to meet their departures and energy needs; the month's "
			    "peak rises from %.1f to %.1f kW (to avoid it: a later departure or a smaller energy need, "
			    "or accept the higher demand charge)",
			    need_w / 1000, hhmm, e->month_peak_w / 1000, (cap_w - margin_w) / 1000);
	}
	e->ratchet_urgent = true;
	e->st.ev_cap_w = cap_w - margin_w;
	return cap_w / 1000;
}

/* Whether the battery's reading r (NULL: none) is fresh and says its power. */
static bool battery_fresh(const struct ag_daemon *d, const struct device_reading *r, uint64_t now)
{
	return r && r->at_ms && r->quality != RQ_FAILED && !devices_stale(d->devices, d->cfg->battery.device, now) &&
	       isfinite(r->power_w);
}

void energy_hidden(struct ag_daemon *d, uint64_t now, double *least_w, double *most_w)
{
	struct energy *e = d->energy;
	const char *dev = d->cfg->battery.device;
	const struct device_reading *r = e && dev && d->devices ? devices_latest(d->devices, dev) : NULL;
	uint64_t grid_at_ms = 0, window_ms = 2 * (uint64_t)d->cfg->site.control_period_ms;
	size_t n, from = 0;

	*least_w = *most_w = 0;
	if (!r || !isfinite(grid_import(d, now, &grid_at_ms)))
		return;
	bool ok = battery_fresh(d, r, now);
	n = e->n_seen;
	if (r->at_ms && (!n || r->at_ms != e->seen[n - 1].at_ms) && isfinite(r->power_w)) {
		if (n == SEEN_N)
			memmove(e->seen, e->seen + 1, --n * sizeof(e->seen[0]));
		e->seen[n].at_ms = r->at_ms;
		e->seen[n++].w = fmax(0, r->power_w);
	}
	/* older than the window, but never the last one taken before the grid's reading */
	while (from + 1 < n && e->seen[from].at_ms + window_ms < now && e->seen[from + 1].at_ms <= grid_at_ms)
		from++;
	memmove(e->seen, e->seen + from, (n - from) * sizeof(e->seen[0]));
	e->n_seen = n -= from;
	if (!n)
		return;
	from = 0;
	for (size_t i = 0; ok && i < n; i++)
		if (e->seen[i].at_ms <= grid_at_ms)
			from = i;
	*least_w = ok ? INFINITY : 0;
	for (size_t i = from; i < n; i++) {
		*most_w = fmax(*most_w, e->seen[i].w);
		if (ok)
			*least_w = fmin(*least_w, e->seen[i].w);
	}
	if (!ok)
		*least_w = *most_w;
}

/* Whether now (local time) is in battery.off_peak's windows. */
static bool off_peak_now(const struct ag_config *cfg)
{
	time_t t = (time_t)(wall_ms() / 1000);
	struct tm tm;
	const char *bad;

	if (!cfg->battery.off_peak)
		return false;
	localtime_r(&t, &tm);
	return config_in_windows(cfg->battery.off_peak, tm.tm_hour * 60 + tm.tm_min, &bad) == 1;
}

double energy_turn(struct ag_daemon *d, double ev_w, struct solver_charger *chargers, size_t n_chargers,
		   double limit_w, uint64_t now, double *grid_cap_kw)
{
	struct energy *e = d->energy;
	double voltage_v = d->cfg->site.voltage_v;
	uint64_t grid_at_ms = 0;
	double grid_w = grid_import(d, now, &grid_at_ms);
	const struct cfg_battery *b = &d->cfg->battery;
	const struct device_reading *r = b->device && d->devices ? devices_latest(d->devices, b->device) : NULL;

	*grid_cap_kw = 0;
	if (!e)
		return 0;
	bool ok = battery_fresh(d, r, now);
	double measured_w = ok ? r->power_w : 0;
	e->st.configured = r != NULL;
	e->st.mode = b->mode ? b->mode : "off";
	e->st.pv_w = d->devices ? pv_power(d, now) : NAN;
	e->st.grid_w = grid_w;
	e->st.ev_w = ev_w;
	double bnow = isfinite(grid_w) ? building_now(d, e, grid_w, grid_at_ms, ev_w, r, measured_w, now) : NAN;
	if (isfinite(grid_w))
		demand(d, e, grid_w, now);
	if (isfinite(bnow))
		pv_caps(d, e, chargers, n_chargers, bnow, now);
	e->st.off_peak = off_peak_now(d->cfg);
	if (!r) {
		*grid_cap_kw = ratchet_cap(d, e, chargers, n_chargers, bnow, 0, now);
		return 0;
	}
	e->st.battery_ok = ok;
	e->st.battery_w = ok ? r->power_w : NAN;
	e->st.soc_pct = ok ? r->soc_pct : NAN;
	if (!ok && !e->warned_stale && e->written_w > 0) /* an event: the manager must look at it */
		store_event(d->store, LL_WARN, "battery.fault", b->device,
			    "does not answer: its discharge no longer counts for the EVs; chargers lowered (check the "
			    "battery and its Modbus link)");
	e->warned_stale = !ok;

	watch_follow(d, e, measured_w, now);

	struct energy_params p;
	params(d->cfg, r, limit_w, e->month_peak_w, &p);
	e->st.counted_w = energy_counted_w(&p, measured_w);
	*grid_cap_kw = ratchet_cap(d, e, chargers, n_chargers, bnow, e->st.counted_w, now);
	if (*grid_cap_kw > 0 && *grid_cap_kw * 1000 < p.limit_w) {
		/* the EVs' limit is now the ratchet's: the battery leads them up to it, and all of its
		 * discharge counts for them */
		p.limit_w = *grid_cap_kw * 1000;
		e->st.counted_w = energy_counted_w(&p, measured_w);
	}
	e->st.peak_w = p.peak_w;
	if (!isfinite(bnow)) {
		snprintf(e->st.why, sizeof(e->st.why), "grid meter not fresh");
		return e->st.counted_w;         /* no command: the battery keeps its last, then reverts */
	}
	struct energy_input in = { .building_w = e->building_w, .building_now_w = bnow, .ev_w = ev_w,
				   .ev_want_w = energy_ev_want_w(chargers, n_chargers, SITE_EV_SLACK_A, voltage_v, ev_w),
				   .soc_pct = ok ? r->soc_pct : NAN, .off_peak = e->st.off_peak };
	struct energy_decision dec;
	energy_decide(&p, &in, &dec);
	snprintf(e->st.why, sizeof(e->st.why), "%s", ok ? dec.why : "battery not answering");
	if (ok && strcmp(dec.why, "at reserve") == 0 && !e->warned_reserve) {
		e->warned_reserve = true;
		store_event(d->store, LL_WARN, "battery.reserve", b->device,
			    "battery at its %.0f %% reserve: it stops discharging; grid import may exceed %.1f kW",
			    p.reserve_pct, p.peak_w / 1000);
	} else if (strcmp(dec.why, "at reserve") != 0) {
		e->warned_reserve = false;
	}
	e->st.target_w = dec.target_w;
	e->pending = ok && !isnan(dec.target_w);
	if (e->pending) {
		command(d, e, dec.target_w, measured_w, now, false);
		e->p = p;
		e->in = in;
		e->measured_w = measured_w;
	}
	return e->st.counted_w;
}

void energy_commit(struct ag_daemon *d, double raise_w, uint64_t now)
{
	struct energy *e = d->energy;
	struct energy_decision dec;

	if (!e || !e->pending)
		return;
	e->pending = false;
	if (!(raise_w > 0))
		return;
	struct energy_input in = e->in;
	in.ev_w += raise_w;
	in.ev_want_w = fmax(in.ev_want_w, in.ev_w);
	energy_decide(&e->p, &in, &dec);
	if (isnan(dec.target_w) || !(dec.target_w > e->st.target_w))
		return;
	snprintf(e->st.why, sizeof(e->st.why), "%s (EVs raised %.1f kW)", dec.why, raise_w / 1000);
	e->st.target_w = dec.target_w;
	command(d, e, dec.target_w, e->measured_w, now, true);
}

void energy_params_from_config(const struct ag_config *cfg, double rated_charge_w, double rated_discharge_w,
			       double limit_w, double month_peak_w, struct energy_params *p)
{
	struct device_reading r = { .max_charge_w = rated_charge_w, .max_discharge_w = rated_discharge_w };

	params(cfg, &r, limit_w, month_peak_w, p);
}
