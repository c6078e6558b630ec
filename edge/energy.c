/* Site energy; see energy.h.
 *
 * Design decisions:
 * - The battery is dispatched with signed 124 limits ({-P, P}: discharge P; {P, -P}: charge P;
 *   {0, 0}: hold), and every write carries battery.revert_s, renewed at a third of it: an edge
 *   that dies leaves the battery on its own control within revert_s.
 * - Writes only when the target moves by WRITE_STEP_W or the renewal is due, at most once per
 *   half control period: a meter reading every few hundred ms must not become a Modbus write.
 * - SoC stops the discharge RESERVE_PAD_PCT above reserve_pct, so the SoC integrated between two
 *   polls never lands below it. */
#include "edge/energy.h"
#include "edge/daemon.h"
#include "edge/devices.h"
#include "edge/log.h"
#include "edge/solver.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_STEP_W 300.0      /* smaller target changes wait for the renewal */
#define DEADBAND_W 200.0        /* a target this small is a hold */
#define RESERVE_PAD_PCT 0.5
#define IGNORED_AFTER_MS 3000   /* a setpoint not followed this long: the battery ignores it */

struct energy {
	struct energy_status st;
	double written_w;               /* NAN: nothing written yet (or the battery's own control) */
	uint64_t written_ms;
	double hold_w;                  /* highest discharge of the hold window */
	uint64_t hold_until_ms;
	double building_w;              /* highest building load of the hold window */
	uint64_t building_until_ms;
	uint64_t off_target_since_ms;   /* measured power far from the target since; 0 = following */
	bool warned_ignored, warned_reserve, warned_stale;
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
	 * must lead). */
	double need = fmax(site_w - p->peak_w, in->building_w + in->ev_want_w - p->limit_w);
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
	if (p->recharge == RECHARGE_PV) {
		charge = -site_w;                                       /* PV surplus only */
		out->why = "recharging from PV";
	} else if (p->recharge == RECHARGE_ANY) {
		charge = fmin(p->recharge_w, p->peak_w) - site_w;       /* up to the import ceiling */
		out->why = "recharging";
	}
	charge = fmin(charge, p->max_charge_w);
	if (charge > DEADBAND_W)
		out->target_w = -charge;
	else
		out->why = "idle";
}

int energy_start(struct ag_daemon *d)
{
	struct energy *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->written_w = NAN;
	e->st.soc_pct = e->st.battery_w = e->st.target_w = e->st.pv_w = e->st.building_w = NAN;
	d->energy = e;
	return 0;
}

void energy_stop(struct ag_daemon *d)
{
	free(d->energy);
	d->energy = NULL;
}

const struct energy_status *energy_status(const struct ag_daemon *d)
{
	return d->energy ? &d->energy->st : NULL;
}

static void params(const struct ag_config *cfg, const struct device_reading *r, double limit_w,
		   struct energy_params *p)
{
	const struct cfg_battery *b = &cfg->battery;
	double chg = isfinite(r->max_charge_w) ? r->max_charge_w : INFINITY;
	double dis = isfinite(r->max_discharge_w) ? r->max_discharge_w : INFINITY;

	p->peak_shave = b->mode && strcmp(b->mode, "peak-shave") == 0;
	p->limit_w = limit_w;
	p->peak_w = b->peak_kw > 0 ? b->peak_kw * 1000 : limit_w;
	p->reserve_pct = b->reserve_pct;
	p->max_charge_w = fmax(0, b->max_charge_kw > 0 ? fmin(b->max_charge_kw * 1000, chg) : chg);
	p->max_discharge_w = fmax(0, b->max_discharge_kw > 0 ? fmin(b->max_discharge_kw * 1000, dis) : dis);
	if (!isfinite(p->max_charge_w))
		p->max_charge_w = 0;            /* unknown rating and none configured: do not guess */
	if (!isfinite(p->max_discharge_w))
		p->max_discharge_w = 0;
	p->recharge = !b->recharge || strcmp(b->recharge, "pv") == 0 ? RECHARGE_PV :
		      strcmp(b->recharge, "any") == 0 ? RECHARGE_ANY : RECHARGE_OFF;
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

/* Send the target when it moved or the battery's revert timer needs renewing. */
static void command(struct ag_daemon *d, struct energy *e, double target_w, uint64_t now)
{
	const struct cfg_battery *b = &d->cfg->battery;
	uint64_t renew_ms = (uint64_t)b->revert_s * 1000 / 3;
	uint64_t min_gap_ms = (uint64_t)d->cfg->site.control_period_ms / 2;
	bool moved = isnan(e->written_w) || fabs(target_w - e->written_w) >= WRITE_STEP_W ||
		     (target_w == 0) != (e->written_w == 0);

	if (!(moved && now >= e->written_ms + min_gap_ms) && now < e->written_ms + renew_ms)
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
static double grid_import(struct ag_daemon *d, uint64_t now)
{
	const char *m = d->cfg->site.grid.meter;
	const struct device_reading *r = m && d->devices ? devices_latest(d->devices, m) : NULL;

	if (!r || devices_stale(d->devices, m, now))
		return NAN;
	if (isfinite(r->power_w))
		return r->power_w;
	double w = 0;
	for (int p = 0; p < 3; p++)
		w += isfinite(r->current_a[p]) ? r->current_a[p] * d->cfg->site.voltage_v : 0;
	return w;
}

double energy_turn(struct ag_daemon *d, double ev_w, const struct solver_charger *chargers, size_t n_chargers,
		   double limit_w, uint64_t now, double *hidden_a)
{
	struct energy *e = d->energy;
	double voltage_v = d->cfg->site.voltage_v;
	double grid_w = grid_import(d, now);
	const struct cfg_battery *b = &d->cfg->battery;
	const struct device_reading *r = b->device && d->devices ? devices_latest(d->devices, b->device) : NULL;

	*hidden_a = 0;
	if (!e)
		return 0;
	e->st.configured = r != NULL;
	e->st.mode = b->mode ? b->mode : "off";
	e->st.pv_w = d->devices ? pv_power(d, now) : NAN;
	if (!r)
		return 0;
	bool ok = r->at_ms && r->quality != RQ_FAILED && !devices_stale(d->devices, b->device, now) &&
		  isfinite(r->power_w);
	double last_w = isfinite(r->power_w) ? r->power_w : 0;
	double measured_w = ok ? r->power_w : 0;
	e->st.battery_ok = ok;
	e->st.battery_w = ok ? r->power_w : NAN;
	e->st.soc_pct = ok ? r->soc_pct : NAN;
	if (!ok && !e->warned_stale && e->written_w > 0)
		log_msg(LL_WARN, "battery %s does not answer: its discharge no longer counts for the EVs; chargers lowered",
			b->device);
	e->warned_stale = !ok;

	/* What the grid meter hides: the highest discharge of the last two control periods, or the
	 * last one read while the battery is silent (it may stop at any moment). */
	uint64_t hold_ms = 2 * (uint64_t)d->cfg->site.control_period_ms;
	if (now >= e->hold_until_ms)
		e->hold_w = 0;
	if (fmax(0, last_w) >= e->hold_w) {
		e->hold_w = fmax(0, last_w);
		e->hold_until_ms = now + hold_ms;
	}
	double hidden_w = ok ? e->hold_w : fmax(e->hold_w, fmax(0, last_w));
	*hidden_a = hidden_w / (3 * voltage_v);
	e->st.counted_w = fmax(0, measured_w);
	watch_follow(d, e, measured_w, now);

	struct energy_params p;
	params(d->cfg, r, limit_w, &p);
	e->st.peak_w = p.peak_w;
	if (!isfinite(grid_w)) {
		snprintf(e->st.why, sizeof(e->st.why), "grid meter not fresh");
		e->st.building_w = NAN;
		return e->st.counted_w;         /* no command: the battery keeps its last, then reverts */
	}
	struct energy_input in = { .building_now_w = grid_w - ev_w + last_w, .ev_w = ev_w, .soc_pct = ok ? r->soc_pct : NAN };
	if (now >= e->building_until_ms || in.building_now_w >= e->building_w) {
		e->building_w = in.building_now_w;
		e->building_until_ms = now + hold_ms;
	}
	in.building_w = e->building_w;
	for (size_t i = 0; i < n_chargers; i++)
		if (chargers[i].ev && chargers[i].link == SOLVER_ONLINE)
			in.ev_want_w += chargers[i].max_a * chargers[i].phases * voltage_v;
	in.ev_want_w = fmax(in.ev_want_w, ev_w);
	e->st.building_w = in.building_now_w;
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
	if (ok && !isnan(dec.target_w))
		command(d, e, dec.target_w, now);
	return e->st.counted_w;
}
