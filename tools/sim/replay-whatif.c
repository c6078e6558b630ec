/* The storage what-if (`ampgate-sim replay --battery-kwh E --battery-kw P [--pv FILE]`): the
 * same day replayed without and with a battery and PV, side by side: grid peak (15-min mean and
 * instantaneous), import, energy from PV, battery throughput, EV energy, cost, violations.
 *
 * Key design decision: the battery is the daemon's. The site's configuration is copied with a
 * `battery` group for it (mode peak-shave, max_charge_kw = max_discharge_kw = P, the rest of
 * the group as configured), and replay.c dispatches it with energy_decide on the parameters
 * energy_params_from_config derives, so the what-if answers for the dispatch ampgated runs.
 * What the daemon cannot know is the peak target worth configuring: without one (--peak-kw or
 * battery.peak_kw) the what-if finds the lowest the battery holds on this day by bisection, and
 * says so, so "what would a 200 kWh battery have saved" is one command. */
#include "tools/sim/replay.h"
#include "tools/sim/ocpp-msg.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define SEARCH_STEPS 12
#define HELD_TOLERANCE_KW 0.5   /* a demand peak this close to the target holds it */

void replay_whatif_init(struct replay_whatif *w, const struct ag_config *cfg)
{
	w->cfg = *cfg;          /* shallow: the strings stay cfg's */
	if (!cfg->battery.mode || strcmp(cfg->battery.mode, "peak-shave") != 0) {
		/* no battery configured: a depot battery recharges from the grid below the target */
		w->cfg.battery.recharge = (char *)"any";
		w->cfg.battery.recharge_kw = 0;
		w->cfg.battery.peak_kw = 0;
	}
	w->cfg.battery.mode = (char *)"peak-shave";
	if (w->recharge)
		w->cfg.battery.recharge = (char *)w->recharge;
	w->cfg.battery.max_charge_kw = w->cfg.battery.max_discharge_kw = w->battery.power_w / 1000.0;
	if (w->peak_kw > 0)
		w->cfg.battery.peak_kw = w->peak_kw;
	w->peak_auto = w->has_battery && !(w->cfg.battery.peak_kw > 0);
}

static int run_at(struct replay_whatif *w, struct replay_input *in, double peak_kw, struct replay_result *out, FILE *errs)
{
	struct replay_input x = *in;

	w->cfg.battery.peak_kw = peak_kw;
	x.cfg = &w->cfg;
	x.battery = w->has_battery ? &w->battery : NULL;
	x.pv = w->has_pv ? &w->pv : NULL;
	return replay_run(&x, out, errs);
}

/* The target holds when the demand peak stays at it, no less EV energy is delivered than
 * without the battery and no limit is exceeded. */
static bool held(const struct replay_result *base, const struct replay_result *r, double peak_kw)
{
	return r->demand_peak_kw <= peak_kw + HELD_TOLERANCE_KW && r->delivered_wh >= base->delivered_wh - 1.0 &&
	       r->violations == 0;
}

int replay_whatif_run(struct replay_whatif *w, struct replay_input *in, const struct replay_result *base,
		      struct replay_result *out, FILE *errs)
{
	int rc;

	if (!w->peak_auto) {
		w->peak_used_kw = w->cfg.battery.peak_kw;       /* 0 = the connection's limit less margin */
		return run_at(w, in, w->peak_used_kw, out, errs);
	}
	/* Bisection between the baseline's demand peak less P (the most P can shave) and the
	 * baseline's demand peak (nothing shaved, which always holds). */
	double hi = base->demand_peak_kw, lo = fmax(0, hi - w->battery.power_w / 1000.0);
	struct replay_result r;

	if ((rc = run_at(w, in, lo, &r, errs)) < 0)
		return rc;
	if (!held(base, &r, lo)) {
		replay_result_fini(&r);
		for (int i = 0; i < SEARCH_STEPS; i++) {
			double mid = (lo + hi) / 2;

			if ((rc = run_at(w, in, mid, &r, errs)) < 0)
				return rc;
			if (held(base, &r, mid))
				hi = mid;
			else
				lo = mid;
			replay_result_fini(&r);
		}
		lo = hi;
		if ((rc = run_at(w, in, lo, &r, errs)) < 0)
			return rc;
	}
	w->peak_used_kw = lo;
	*out = r;
	return 0;
}

static void whatif_row(FILE *out, const char *what, double base, double with, const char *unit)
{
	fprintf(out, "  %-26s %10.1f %10.1f %+10.1f  %s\n", what, base, with, with - base, unit);
}

void replay_print_whatif(FILE *out, const struct replay_whatif *w, const struct replay_input *in,
			 const struct replay_result *b, const struct replay_result *r)
{
	const struct cfg_battery *cb = &w->cfg.battery;

	fprintf(out, "\nWhat if (policy %s):", r->policy);
	if (w->has_battery)
		fprintf(out, " a %.0f kWh / %.0f kW battery (SoC %.0f %% at the start, reserve %.0f %%, %.0f %% efficient each "
			     "way, recharge %s)", w->battery.capacity_wh / 1000.0, w->battery.power_w / 1000.0,
			w->battery.soc_start_pct, cb->reserve_pct, REPLAY_BATTERY_EFFICIENCY * 100.0, cb->recharge);
	if (w->has_pv)
		fprintf(out, "%s PV from %s", w->has_battery ? " and" : "", w->pv_path);
	fprintf(out, "\n");
	if (w->has_battery)
		fprintf(out, "  peak target %.1f kW: %s\n", w->peak_used_kw,
			w->peak_auto ? "the lowest this battery holds on this day (set battery.peak_kw to it)"
				     : w->peak_used_kw > 0 ? "as asked" : "the connection's limit less margin (battery.peak_kw = 0)");
	fprintf(out, "  %-26s %10s %10s %10s\n", "", "without", "with", "change");
	whatif_row(out, "grid peak, 15-min mean", b->demand_peak_kw, r->demand_peak_kw, "kW");
	whatif_row(out, "grid peak, instantaneous", b->grid_peak_kw, r->grid_peak_kw, "kW");
	whatif_row(out, "grid import", b->import_wh / 1000.0, r->import_wh / 1000.0, "kWh");
	whatif_row(out, "grid export", b->export_wh / 1000.0, r->export_wh / 1000.0, "kWh");
	if (w->has_pv)
		whatif_row(out, "PV produced", 0, r->pv_wh / 1000.0, "kWh");
	if (w->has_battery) {
		whatif_row(out, "battery discharged", 0, r->battery_out_wh / 1000.0, "kWh");
		whatif_row(out, "battery charged", 0, r->battery_in_wh / 1000.0, "kWh");
		fprintf(out, "  %-26s %10s %10.1f %10s  %% (lowest %.1f %%)\n", "battery SoC at the end", "-",
			r->soc_end_pct, "", r->soc_min_pct);
	}
	whatif_row(out, "EV energy delivered", b->delivered_wh / 1000.0, r->delivered_wh / 1000.0, "kWh");
	if (in->n_prices)
		whatif_row(out, "grid energy cost", b->grid_cost, r->grid_cost, "(tariff)");
	fprintf(out, "  %-26s %10ld %10ld %+10ld  node-phase steps (must be 0)\n", "limit violations", b->violations,
		r->violations, r->violations - b->violations);
}

static json_t *side(const struct replay_result *r)
{
	return json_pack("{s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I}", "demand_peak_kw", r->demand_peak_kw,
			 "grid_peak_kw", r->grid_peak_kw, "grid_peak_at_ms", (json_int_t)r->grid_peak_at_ms, "import_kwh",
			 r->import_wh / 1000.0, "export_kwh", r->export_wh / 1000.0, "pv_kwh", r->pv_wh / 1000.0,
			 "battery_discharged_kwh", r->battery_out_wh / 1000.0, "battery_charged_kwh",
			 r->battery_in_wh / 1000.0, "ev_delivered_kwh", r->delivered_wh / 1000.0, "grid_cost", r->grid_cost,
			 "violations", (json_int_t)r->violations);
}

json_t *replay_json_whatif(const struct replay_whatif *w, const struct replay_result *b, const struct replay_result *r)
{
	json_t *o = json_pack("{s:o, s:o}", "without", side(b), "with", side(r));

	if (w->has_battery) {
		json_object_set_new(o, "battery", json_pack("{s:f, s:f, s:f, s:f, s:f, s:s, s:f, s:b, s:f, s:f}", "capacity_kwh",
							    w->battery.capacity_wh / 1000.0, "power_kw",
							    w->battery.power_w / 1000.0, "soc_start_pct",
							    w->battery.soc_start_pct, "reserve_pct", w->cfg.battery.reserve_pct,
							    "efficiency", REPLAY_BATTERY_EFFICIENCY, "recharge",
							    w->cfg.battery.recharge, "peak_target_kw", w->peak_used_kw,
							    "peak_target_auto", w->peak_auto, "soc_end_pct", r->soc_end_pct,
							    "soc_min_pct", r->soc_min_pct));
	}
	if (w->has_pv)
		json_object_set_new(o, "pv_profile", json_string(w->pv_path));
	json_object_set_new(o, "demand_peak_saved_kw", json_real(b->demand_peak_kw - r->demand_peak_kw));
	json_object_set_new(o, "grid_peak_saved_kw", json_real(b->grid_peak_kw - r->grid_peak_kw));
	return o;
}
