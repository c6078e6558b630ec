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
	double bat_limit_charge_w, bat_limit_discharge_w;       /* setpoints (NAN: none) */
	double extra_a[3];              /* chargers' draw, added to the grid meter */
	struct sim_values v;
};

/* Defaults: 40 A base load, 20 kW PV, 50 kWh / 25 kW battery at 60 %, a day of 20 minutes. */
void sim_model_init(struct sim_model *m, uint32_t seed, uint64_t now_ms);
/* Advance to now_ms (integrates energies and SoC) and return the values. */
const struct sim_values *sim_model_step(struct sim_model *m, uint64_t now_ms);

#endif
