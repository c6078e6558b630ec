/* An EV's draw while it ramps to a new limit and after: what the site controller counts a charger
 * as drawing, per charger phase, when the charger's meter values lag its EV (non-ev.h says why the
 * site needs it: a step the grid meter sees before the charger reports it was taken for building
 * load, and lowered the EV straight back).
 *
 * While its EV ramps to a new limit (EV_SETTLE_MS from when it went out or was accepted), a
 * charger may draw anything between the draw it ramps from (its report, or a pin newer than that)
 * and the limits it may hold, on the phases the solver counts the EV on; once the ramp is over and
 * no meter value taken after it came, its draw is pinned at what the node's estimate implied
 * (non_ev_implied_a, set by the caller in implied_a while it ramps), until one comes (the caller
 * then hands the pin's error to the others still pinned: ev_ramp_shares_pin, ev_ramp_take_error)
 * or one meter interval and a second have passed. A change that is refused or times out ends it.
 * Only for a charger that reports its current: one that never does is counted, draw and all, in
 * the meter's load as before, so a building load step is never hidden behind an EV that may as
 * well draw nothing.
 *
 * Pure: the site controller (edge/site/site.c) fills a reading from the charger object, its
 * profile state and the solve's clock reading, and keeps the record. */
#ifndef AG_EV_RAMP_H
#define AG_EV_RAMP_H

#include "edge/site/ev-cap.h"
#include "edge/site/solver.h"

#include <stdbool.h>
#include <stdint.h>

/* One charger's record, kept by the caller from solve to solve; all zero = no ramp, no pin. All
 * per charger phase, A. */
struct ev_ramp {
	/* the least and most it may draw now, and the draw the estimate counts (its report; once a
	 * ramp is over and no meter value says what it draws, implied_a, what the estimate implied at
	 * the ramp's end) */
	double draw_lo_a[SOLVER_PHASES], draw_hi_a[SOLVER_PHASES], draw_est_a[SOLVER_PHASES];
	double implied_a[SOLVER_PHASES];        /* the caller moves it while the EV ramps (non_ev_implied_a) */
	double from_a[SOLVER_PHASES];   /* the draw its ramp started from (a report, or a pin) */
	double pin_lo_a[SOLVER_PHASES], pin_hi_a[SOLVER_PHASES];       /* its range at the ramp's end */
	double unpinned_a[SOLVER_PHASES];       /* a pin a report just ended less that report */
	uint64_t unpinned_ms;           /* the limit change of that pin */
	uint64_t changed_ms;            /* the limit change of the ramp or pin */
	uint64_t report_ms;             /* the meter value it started from */
	bool ramping;                   /* its EV may still be ramping to a new limit */
	bool pinned;                    /* ramped, not reported since: draw_est_a is implied_a */
	bool unpinned;                  /* a meter value ended its pin in this update (unpinned_a) */
};

/* What the charger and its profile say at a solve. */
struct ev_ramp_reading {
	bool known;                     /* online, has reported a current, and the limits it may hold
					 * and when they changed are known (profiles_limits_now); false:
					 * no ramp, and only report_ms and draw_a are read */
	double lo_a, hi_a;              /* the least and most limit it may hold now */
	uint64_t changed_ms;            /* when those last changed (accepted, or a new one went out) */
	uint64_t report_ms;             /* when its last current reading was taken (0: never) */
	double draw_a[SOLVER_PHASES];   /* that reading */
	bool counted[SOLVER_PHASES];    /* the solver counts the EV's draw on this charger phase */
	int meter_interval_s;           /* ocpp.meter_interval_s: how long a pin waits for a report */
};

/* Update e from reading r at `now` (the solve's one clock reading): draw_lo_a, draw_hi_a and
 * draw_est_a say what the charger may draw in this solve; `unpinned` says a meter value ended
 * its pin (unpinned_a: what the pin counted above that value, to hand on). */
void ev_ramp_update(struct ev_ramp *e, const struct ev_ramp_reading *r, uint64_t now);

/* Whether e, at the same meter as `ended` (whose pin a report just ended), shares its pin's error:
 * e is pinned and its ramp began within EV_SETTLE_MS of the ended one's, so the estimate split the
 * rise between them. */
bool ev_ramp_shares_pin(const struct ev_ramp *e, const struct ev_ramp *ended);

/* Move error_a (A, signed: what an ended pin counted above the EV's real draw) onto e's pin on
 * charger phase k, within the range it had at its ramp's end; returns what is left to hand on. */
double ev_ramp_take_error(struct ev_ramp *e, int k, double error_a);

#endif
