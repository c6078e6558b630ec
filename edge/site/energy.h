/* Site energy: the battery's dispatch (peak shaving, recharge), how much of its power the site
 * controller may count as headroom for the EVs, and PV surplus for chargers with `pv` set. A
 * daemon module.
 *
 * Two halves: energy_decide() is pure (what the battery should do, from one snapshot of the
 * site), energy_turn() is the loop glue the site controller calls once per solve, before the
 * solver runs: it reads the battery, decides, writes the setpoint through devices_set when it
 * changed or before the battery's revert timer (battery.revert_s) runs out, and returns the
 * battery power the solver may count. energy_commit(), after the solve, raises that target by
 * what the solve just added to the EVs, so the battery leads an EV's start instead of following
 * the grid meter a turn later.
 *
 * The headroom rule: the battery's discharge counts for the EVs only as its measured power
 * confirms it, never as commanded. The grid meter already sees a discharge as lower import, so
 * the site controller adds the battery's discharge back to the grid node's non-EV load
 * (energy_hidden: what the grid's reading hides, or the last one read while the battery does
 * not answer) and gives the confirmed part back as the solver's grid_extra_w. A battery that trips, ignores its setpoint or stops answering thus lowers the
 * chargers at the first solve that sees it, before the grid meter shows the step. */
#ifndef AG_ENERGY_H
#define AG_ENERGY_H

#include "edge/core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ag_daemon;
struct solver_charger;
struct solver_result;

enum energy_recharge { RECHARGE_PV, RECHARGE_ANY, RECHARGE_OFF_PEAK, RECHARGE_OFF };

struct energy_params {
	bool peak_shave;                /* battery.mode = peak-shave or plan */
	bool plan;                      /* battery.mode = plan: pre-charge from the grid off-peak too */
	double peak_w;                  /* import above which the battery discharges */
	double limit_w;                 /* the connection's import limit less margin */
	double reserve_pct;
	double max_charge_w;            /* the lower of the configuration's and the battery's */
	double max_discharge_w;
	enum energy_recharge recharge;
	double recharge_w;              /* import ceiling while recharging from the grid (also held
					 * below limit_w and peak_w, so below the ratchet) */
	double export_limit_w;          /* < 0: no limit */
};

/* One snapshot of the site, in W (import and discharge positive). */
struct energy_input {
	/* Non-EV, non-battery load, PV included (negative: PV surplus): the highest of the last two
	 * control periods (the grid meter and the battery are read at different moments, so a
	 * single estimate swings as the battery ramps), and the latest one (for the export cap). */
	double building_w;
	double building_now_w;
	double ev_w;                    /* the EVs' measured draw */
	double ev_want_w;               /* what the EVs with a session could take at their maximum */
	double soc_pct;
	bool off_peak;                  /* now is in battery.off_peak's windows */
};

struct energy_decision {
	double target_w;                /* > 0 discharge, < 0 charge, 0 hold */
	const char *why;                /* "peak shaving", "at reserve", "recharging from PV", ... */
};

/* What the battery should do now. Pure. */
void energy_decide(const struct energy_params *p, const struct energy_input *in, struct energy_decision *out);
/* The discharge the EVs may count as headroom (the solver's grid_extra_w) when the battery
 * delivers measured_w: with peak shaving below the connection's limit, only what goes beyond
 * holding the import at peak_w (measured_w less limit_w - peak_w); otherwise all of it. Counting
 * all of it let the EVs grow into the discharge, so a congested site's import stayed at the
 * limit whatever peak_kw said. Pure. */
double energy_counted_w(const struct energy_params *p, double measured_w);
/* What the EVs with a session could take (energy_input.ev_want_w): each online charger with an
 * EV at its cap (an EV-limited car at the cap held for it, else its draw plus ev_slack_a, on
 * the phases it draws on, as the solver caps it: solver_cap_a), at least ev_w. Counting EV-limited cars at the charger's maximum had the
 * battery discharging for power nobody could take. Pure. */
double energy_ev_want_w(const struct solver_charger *chargers, size_t n, double ev_slack_a, double voltage_v, double ev_w);
/* What the EVs are about to draw beyond what they draw now, W, once a solve has given them
 * res[]: for each charger with an EV whose new limit is not EV-bound, the part of the limit above
 * both its previous limit (old_limit_a[i]; 0 for a charger that had none) and its measured draw,
 * on the phases it loads. The battery is dispatched for it in the loop turn that raises the EVs
 * (energy_commit), not one control period later when the grid meter shows it: a car that starts
 * at 32 A on three phases is a 22 kW step, and that step went straight to the grid. A limit
 * that only catches up with the draw, or an EV-limited car's slack, adds nothing. Pure. */
double energy_ev_raise_w(const struct solver_charger *chargers, const double *old_limit_a,
			 const struct solver_result *res, size_t n, double voltage_v);
/* The parameters energy_turn decides with, from the configuration's `battery` group and the
 * battery's rated charge and discharge power in W (NAN: unknown; the configuration's kW then,
 * else 0): the same derivation for the daemon and for `ampgate-sim replay --battery-kw`. */
void energy_params_from_config(const struct ag_config *cfg, double rated_charge_w, double rated_discharge_w,
			       double limit_w, double month_peak_w, struct energy_params *p);

/* What energy_turn saw and did, for REST, MQTT and /metrics. */
struct energy_status {
	bool configured;                /* battery.device is set */
	bool battery_ok;                /* its reading is fresh */
	const char *mode;               /* battery.mode */
	double soc_pct;                 /* NAN: unknown */
	double battery_w;               /* measured, > 0 discharging; NAN: unknown */
	double target_w;                /* asked; NAN: the battery's own control */
	double counted_w;               /* discharge counted as EV headroom this solve */
	double pv_w;                    /* sum of the PV inverters' production; NAN: none configured */
	double building_w;              /* non-EV, non-battery load; NAN before the first turn */
	double grid_w;                  /* the grid meter's import (< 0: export) this turn; NAN: not fresh */
	double ev_w;                    /* the EVs' measured draw this turn */
	double surplus_w;               /* PV export available to chargers with `pv` set */
	double demand_w;                /* grid import averaged over the demand window so far */
	double month_peak_w;            /* the month's highest window average (0: none yet) */
	double peak_w;
	bool ratchet;                   /* site.ratchet or battery.mode = plan: the EVs are held too */
	bool holding;                   /* the EVs are held below the month's peak now */
	double ev_cap_w;                /* the grid import the EVs are allocated under; NAN: none */
	bool off_peak;                  /* now is in battery.off_peak's windows */
	char why[64];
};

int energy_start(struct ag_daemon *d);
void energy_stop(struct ag_daemon *d);
const struct energy_status *energy_status(const struct ag_daemon *d);
/* The status for REST and MQTT (the site's "energy" object): battery (null without one), PV,
 * building load, grid import (< 0: export), EV draw and PV surplus, in W and %. A new reference. */
struct json_t;
struct json_t *energy_json(const struct ag_daemon *d);

/* What the grid meter's latest reading hides of the battery's discharge, W (0 and 0 without a
 * battery or a fresh grid reading): the least and the most it may be, from the battery's readings
 * around the grid's (the last one taken before it and every one since: the two are read at
 * different moments); while the battery does not answer, the highest of the last two control
 * periods for both (it may stop at any moment). Once per solve, before energy_turn: the site
 * controller counts it as load at the grid node (site.c estimate_non_ev). It was the highest
 * discharge of the last two control periods whatever the grid's reading time: a battery that
 * eased off from 13.8 to 9.7 kW was counted hiding 13.8 kW for 2 s while the EVs got only the
 * 9.7 kW it delivered, and an EV on the battery was lowered from 32 to 19 A and raised again. */
void energy_hidden(struct ag_daemon *d, uint64_t now, double *least_w, double *most_w);

/* Once per solve, after the site controller estimated the grid node's load: `ev_w` is the
 * chargers' draw at the grid, `chargers` the solver's view of them (what the EVs could take;
 * chargers with `pv` set get their max_a capped to the PV surplus here), `limit_w` the
 * connection's import limit less margin. Returns the battery discharge the solver may count
 * (its grid_extra_w); 0 without a battery.
 *
 * The demand-charge ratchet (site.ratchet or battery.mode = plan, once the month has a peak):
 * *grid_cap_kw is the kW limit the grid node gets for this solve (0: none), so that the EVs keep
 * the import below the month's peak, unless the EVs' known departures and energy needs cannot
 * be met under it: then it is raised to what they need, said once as a `ratchet` event. */
double energy_turn(struct ag_daemon *d, double ev_w, struct solver_charger *chargers, size_t n_chargers,
		   double limit_w, uint64_t now, double *grid_cap_kw);
/* After the solve, with what it adds to the EVs (energy_ev_raise_w, W): when that asks more of
 * the battery than energy_turn decided on the snapshot before the solve, the larger target is
 * written now, without waiting for the next turn or the battery's ramp to settle. Only a raise
 * leads: a lower target waits for the measurements as before. */
void energy_commit(struct ag_daemon *d, double raise_w, uint64_t now);

#endif
