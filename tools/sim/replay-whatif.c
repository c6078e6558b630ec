/* The storage what-if (`ampgate-sim replay --battery-kwh E --battery-kw P [--pv FILE]`): the
 * same day replayed without and with a battery and PV, side by side: grid peak (15-min mean and
 * instantaneous), import, energy from PV, battery throughput, EV energy, cost, violations.
 *
 * Key design decision: the battery is the daemon's. The site's configuration is copied with a
 * `battery` group for it (mode peak-shave, max_charge_kw = max_discharge_kw = P, the rest of
 * the group as configured), and replay.c dispatches it with energy_decide on the parameters
 * energy_params_from_config derives, so the what-if answers for the dispatch ampgated runs.
 * What the daemon cannot know is the peak target worth configuring: without one (--peak-kw or
 * battery.peak_kw) the what-if searches for the target that gives the lowest demand peak on this
 * day with no less EV energy, and says so, so "what would a 200 kWh battery have saved" is one
 * command. */
#include "tools/sim/replay.h"

#include <math.h>
#include <string.h>

#define SCAN_POINTS 6
#define REFINE_STEPS 4
#define TIE_KW 0.01             /* demand peaks this close are equal */

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

/* A run counts when it delivers no less EV energy than the day without storage and exceeds no
 * limit; of those, the lowest demand peak wins (ties: the higher target, which cycles the
 * battery less). */
struct search {
	struct replay_whatif *w;
	struct replay_input *in;
	const struct replay_result *base;
	FILE *errs;
	struct replay_result best;
	double best_kw;                 /* the target that gave `best`; NAN: none yet */
};

static int try_target(struct search *s, double peak_kw)
{
	struct replay_result r;
	int rc = run_at(s->w, s->in, peak_kw, &r, s->errs);

	if (rc < 0)
		return rc;
	bool ok = r.delivered_wh >= s->base->delivered_wh - 1.0 && r.violations == 0;
	bool better = isnan(s->best_kw) || r.demand_peak_kw < s->best.demand_peak_kw - TIE_KW ||
		      (r.demand_peak_kw <= s->best.demand_peak_kw + TIE_KW && peak_kw > s->best_kw);
	if (ok && better) {
		if (!isnan(s->best_kw))
			replay_result_fini(&s->best);
		s->best = r;
		s->best_kw = peak_kw;
	} else {
		replay_result_fini(&r);
	}
	return 0;
}

int replay_whatif_run(struct replay_whatif *w, struct replay_input *in, const struct replay_result *base,
		      struct replay_result *out, FILE *errs)
{
	struct search s = { .w = w, .in = in, .base = base, .errs = errs, .best_kw = NAN };
	int rc;

	if (!w->peak_auto) {
		w->peak_used_kw = w->cfg.battery.peak_kw;       /* 0 = the connection's limit less margin */
		return run_at(w, in, w->peak_used_kw, out, errs);
	}
	/* The demand peak against the target is a valley: too high shaves little, too low empties
	 * the battery before the peak is over. A scan between the baseline's demand peak less 2 P
	 * and the baseline's demand peak (nothing shaved, which always counts), then a refinement
	 * around the best. */
	double hi = base->demand_peak_kw, lo = fmax(0, hi - 2 * w->battery.power_w / 1000.0);
	double step = (hi - lo) / (SCAN_POINTS - 1);

	for (int i = 0; i < SCAN_POINTS; i++)
		if ((rc = try_target(&s, lo + step * i)) < 0)
			goto fail;
	for (int i = 0; i < REFINE_STEPS; i++) {
		double at = s.best_kw;

		step /= 2;
		if ((at - step >= lo && (rc = try_target(&s, at - step)) < 0) || (rc = try_target(&s, at + step)) < 0)
			goto fail;
	}
	if (isnan(s.best_kw)) {         /* even the baseline's own peak did not count: say it as it is */
		w->peak_used_kw = hi;
		return run_at(w, in, hi, out, errs);
	}
	w->peak_used_kw = s.best_kw;
	*out = s.best;
	return 0;
fail:
	if (!isnan(s.best_kw))
		replay_result_fini(&s.best);
	return rc;
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
			w->peak_auto ? "the one that gives the lowest demand peak on this day (set battery.peak_kw to it)"
				     : w->peak_used_kw > 0 ? "as asked" : "the connection's limit less margin (battery.peak_kw = 0)");
	fprintf(out, "  %-26s %10s %10s %10s\n", "", "without", "with", "change");
	whatif_row(out, "grid peak, 15-min mean", b->demand_peak_kw, r->demand_peak_kw, "kW");
	whatif_row(out, "grid peak, instantaneous", b->grid_peak_kw, r->grid_peak_kw, "kW");
	whatif_row(out, "grid import", b->import_wh / 1000.0, r->import_wh / 1000.0, "kWh");
	whatif_row(out, "grid export", b->export_wh / 1000.0, r->export_wh / 1000.0, "kWh");
	if (w->has_pv) {
		whatif_row(out, "PV produced", 0, r->pv_wh / 1000.0, "kWh");
		whatif_row(out, "PV used on site", 0, (r->pv_wh - r->export_wh) / 1000.0, "kWh (the rest exported)");
	}
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
	if (w->has_pv) {
		json_object_set_new(o, "pv_profile", json_string(w->pv_path));
		/* the battery never discharges into export (energy_decide), so what leaves is PV */
		json_object_set_new(o, "pv_used_kwh", json_real((r->pv_wh - r->export_wh) / 1000.0));
	}
	json_object_set_new(o, "demand_peak_saved_kw", json_real(b->demand_peak_kw - r->demand_peak_kw));
	json_object_set_new(o, "grid_peak_saved_kw", json_real(b->grid_peak_kw - r->grid_peak_kw));
	return o;
}
