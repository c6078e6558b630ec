/* The non-EV load at a metered node while EVs ramp: what the site controller subtracts from a
 * meter's reading when the chargers' own meter values lag their draw.
 *
 * A node's non-EV load is its meter's reading less what the chargers below it report. After a
 * charger's limit changes, its EV ramps within a second or two, and the grid meter (read every
 * 250 ms) sees the step long before the charger's next meter value (every ocpp.meter_interval_s,
 * 10 s by default) says it. Counted as non-EV load meanwhile, the step lowered the EV straight
 * back: an EV raised from 17 to 32 A was lowered to 19 A at the next solve, raised again after
 * the raise hold, and so on, a SetChargingProfile every few seconds.
 *
 * So while a charger's EV ramps (EV_SETTLE_MS after its limit changed, the time IEC 61851 gives an
 * EV to follow), its draw is only known to lie between what it last reported and the limits it
 * may hold, and the node's estimate holds its last value as long as the reading allows it: it
 * moves only as far as the reading proves the non-EV load moved whatever those EVs draw. A
 * reading above the node's limit less margin always counts: the part above is non-EV load at
 * once, and above the limit itself the estimate is the pessimistic one it always was. When the
 * ramp is over and the charger has not said what it draws yet, its draw is pinned at what the
 * estimate implied at the ramp's end (non_ev_implied_a), so from then on every rise of the
 * reading is non-EV load again. The price: a building step during a ramp, as far as the ramping
 * EVs could explain it, is taken for theirs until their chargers' next meter values (one meter
 * interval and a second at most); a reading above the limit less margin still counts at once.
 * Pure. */
#ifndef AG_NON_EV_H
#define AG_NON_EV_H

#include <stdbool.h>
#include <stdint.h>

/* One node-phase's estimate, kept by the caller from solve to solve; all zero = none yet. */
struct non_ev_hold {
	double a;
	double over_a;                  /* how far the reading was above the target last time */
	double toward;                  /* where the ramping chargers sit in their ranges: 1 at their
					 * most, -1 at their least, 0 at what they reported */
	bool valid;
};

/* What one node-phase reads and what the chargers below it draw, A. */
struct non_ev_reading {
	double meter_a;                 /* the meter's reading */
	double ev_a;                    /* the chargers' reported draw */
	double ev_lo_a, ev_hi_a;        /* the least and most they may draw now (both ev_a when none
					 * ramps) */
	double hidden_lo_a, hidden_hi_a;        /* load the reading hides (a battery's discharge
						 * behind the grid meter), the least and most it may be */
	double target_a;                /* the limit less margin; 0: no limit here */
	double limit_a;                 /* the limit; 0: none */
};

/* The non-EV load to allocate with, h updated: the reading less what the chargers draw (never
 * below 0: PV export never raises the import allowed) plus what the reading hides. */
double non_ev_estimate(struct non_ev_hold *h, const struct non_ev_reading *r);

/* What one ramping charger phase draws as h's last estimate implies it, A: between what it
 * reported and the least (lo_a) or most (hi_a) it may draw. */
double non_ev_implied_a(const struct non_ev_hold *h, double reported_a, double lo_a, double hi_a);

#endif
