/* The simulated site behind the `sim` driver and `ampgate-sim modbus`: a depot base load that
 * moves through the day, PV on a day curve, and a battery whose SoC integrates its power.
 * Deterministic for a given seed and clock, so tests can reason about it. */
#ifndef AG_SIM_H
#define AG_SIM_H

#include <stdint.h>

struct sim_values {
	double grid_current_a[3], voltage_v[3], grid_power_w, frequency_hz, import_wh, export_wh;
	double pv_power_w, pv_current_a[3], pv_energy_wh;
	double bat_soc_pct, bat_power_w, bat_max_charge_w, bat_max_discharge_w, bat_capacity_wh;
};

struct sim_model {
	uint64_t start_ms, last_ms;
	uint64_t day_ms;                /* one simulated day lasts this long (compressed time) */
	uint32_t rng;
	double base_a;                  /* mean base load per phase */
	double pv_peak_w;
	double bat_capacity_wh, bat_max_w;
	/* Setpoints (NAN: none), signed as in SunSpec 124: a negative charge limit makes the battery
	 * discharge at least that much, a negative discharge limit makes it charge. */
	double bat_limit_charge_w, bat_limit_discharge_w;
	uint64_t bat_revert_at_ms;      /* the setpoints lapse at this time (0: never) */
	double bat_ramp_w_per_s;        /* how fast the battery's power follows a new target */
	int bat_tripped;                /* tripped: no power, setpoints ignored (still answers) */
	double fixed_base_a;            /* a constant base load per phase instead of the day profile (NAN: profile) */
	double fixed_pv_w;              /* PV power instead of the day curve (NAN: curve) */
	double extra_a[3];              /* chargers' draw, added to the grid meter */
	struct sim_values v;
};

/* Defaults: 40 A base load, 20 kW PV, 50 kWh / 25 kW battery at 60 %, a day of 20 minutes. */
void sim_model_init(struct sim_model *m, uint32_t seed, uint64_t now_ms);
/* Take a setpoint that lapses revert_s seconds after now_ms (0: never). */
void sim_model_set_battery(struct sim_model *m, double charge_w, double discharge_w, int revert_s, uint64_t now_ms);
/* Advance to now_ms (integrates energies and SoC) and return the values. */
const struct sim_values *sim_model_step(struct sim_model *m, uint64_t now_ms);

#endif
