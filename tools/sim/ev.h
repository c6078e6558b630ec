/* The electric vehicle behind a simulated station: battery, state of charge, on-board charger
 * (current limit and phases) and the taper a battery management system applies near full.
 * Pure model: no clock, no I/O; the station steps it with the time that passed. */
#ifndef AG_SIM_EV_H
#define AG_SIM_EV_H

#include "tools/sim/rng.h"

#include <stdbool.h>

/* IEC 61851-1: a pilot signal below 6 A means "do not charge". */
#define EV_MIN_CURRENT_A 6.0

struct ev {
	double capacity_wh;     /* usable battery energy */
	double soc;             /* state of charge 0..1 */
	double obc_limit_a;     /* on-board charger limit per phase */
	int phases;             /* 1 or 3 */
	double taper_soc;       /* above this the BMS lowers the current towards ~0 at full */
};

/* A random EV: 40..100 kWh, SoC 10..60 %, 16 or 32 A, mostly 3-phase. */
void ev_init_random(struct ev *ev, struct rng *r);
/* Per-phase current the EV draws when the station offers `offered_a` per phase (0 when the
 * offer is below 6 A or the battery is full). */
double ev_current_a(const struct ev *ev, double offered_a);
/* Charge for `dt_s` at `current_a` per phase and `voltage_v` phase-to-neutral; returns Wh taken. */
double ev_charge(struct ev *ev, double current_a, double voltage_v, double dt_s);
/* True once the BMS stops accepting charge. */
bool ev_full(const struct ev *ev);

#endif
