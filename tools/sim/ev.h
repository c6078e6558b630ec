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
/* The taper as a line in the energy E (Wh) the EV takes from its state now: its current per phase
 * is at most max_a * (zero_wh - E) / (zero_wh - from_wh), max_a at from_wh down to 0 at zero_wh
 * (max_a: the lower of its on-board limit and its charger's). Exact where the BMS tapers, above the
 * EV's current before (so max_a still binds there). *zero_wh 0: it does not taper. */
void ev_taper_line(const struct ev *ev, double max_a, double *from_wh, double *zero_wh);
/* True once the BMS stops accepting charge. */
bool ev_full(const struct ev *ev);

#endif
