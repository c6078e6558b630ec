/* The `plan` policy's planner (model predictive control): from what the site knows now (every EV's
 * departure and energy need, its cap, the non-EV load at its last reading), the charging
 * schedule until the last known departure that delivers the most energy by each departure,
 * earlier rather than later; its first period's currents become targets for the real-time
 * solver (solver_input.plan_a), which the `plan` policy turns into classes and weights.
 *
 * plan_compute is pure computation on a copy of the solver input (no I/O, no clock, no globals),
 * so the daemon runs it on the libuv thread pool (edge/site/site-plan.c) and the replay inline. The
 * real-time solver keeps enforcing every limit each tick: a plan that is late or fails is never
 * unsafe, the last one holds (then the policy shares as `fair`). */
#ifndef AG_PLAN_H
#define AG_PLAN_H

#include "edge/site/solver.h"

#include <stddef.h>
#include <stdint.h>

/* Intervals in the horizon: the first planning period, then boundaries at departures (quantiles
 * when there are more). At most PLAN_MAX_INTERVALS, and at most PLAN_LP_CELLS / EVs (at least
 * PLAN_MIN_INTERVALS) so a large site's LP stays small: the simplex time grows faster than its
 * size (1,000 EVs: 12 intervals took 316 ms, 4 take about 50). An EV's window ends at the last
 * boundary before its departure, so coarse intervals never count on time after a departure. */
#define PLAN_MAX_INTERVALS 12
#define PLAN_MIN_INTERVALS 4
#define PLAN_LP_CELLS 4000
/* Energy delivered at the horizon is worth this much less than now: earlier wins among equal
 * schedules, and at most this share of the energy is traded for it. Drivers' departures are
 * guesses: charging early is what keeps a plan good when they leave before they said (at 0.002 a
 * workplace day told departures +-1 h off lost 3.5 points against the exact run, at 0.02 none). */
#define PLAN_EARLY 0.02

/* An EV's energy is worth this much less when its laxity spans the horizon than when it has
 * none: least laxity first among schedules that deliver the same. */
#define PLAN_URGENT 0.05

/* An EV the last plan served is worth this much more: of schedules that deliver the same, the one
 * that keeps charging whom it charged wins, rather than a simplex vertex that switches chargers
 * on and off every period. */
#define PLAN_KEEP 0.005

/* The first period's current up to this many minimums per EV is worth more (plan-lp.h share_a). */
#define PLAN_SHARE_MINS 2.0

/* The first this share of each EV's need is worth more (plan-lp.h floor_wh). */
#define PLAN_FLOOR_SHARE 0.2

/* An EV with a need may take this share more, worth PLAN_LP_TAIL of the need's energy (plan-lp.h
 * tail_wh): what drivers ask for is an estimate, and energy past it is not worthless. Room that
 * every need leaves then goes to EVs as a margin, not to none. Measured (bench_replay): see plan.c. */
#define PLAN_TAIL_SHARE 0.25

/* An EV that would leave with less than this share of what it asked for, even charging at its cap
 * from now on (policy_share_at_departure), is rescued: its energy is worth PLAN_RESCUE_WORTH in
 * the plan, and the policy fills it to its cap before any planned EV gets more than its minimum
 * (also under a plan made before it was rescued). More than 3: on a phase that binds, an amp of a
 * single-phase car then beats an amp of a 3-phase EV, which charges three times the power; the
 * energy-best plan leaves such cars with nothing (see plan.c). */
#define PLAN_RESCUE_SHARE 0.2
#define PLAN_RESCUE_WORTH 4.0

/* An EV that received what its driver asked for and still charges wanted more: at each plan it
 * is planned to need PLAN_OVERRUN_SHARE of what it received since the need was told, by its
 * departure, at the urgency that gives (not as an EV that wants all it can, the least urgent):
 * drivers' estimates are off by some 20 %. Below PLAN_NEED_MET_WH of need left, the need counts
 * as met. */
#define PLAN_OVERRUN_SHARE 0.25
#define PLAN_NEED_MET_WH 100.0

/* Each EV is planned to finish PLAN_HEDGE_MS before its departure, or 1/PLAN_HEDGE_DIV of the time
 * left when that is less. The real-time solver lands an EV planned to the minute a little short
 * (the last amps fall below the 6 A minimum or into the taper, the plan is a period old), and a
 * driver may leave early; planned to the minute, the generated workplace day under one 105 kW
 * limit left dozens of EVs 0.2-0.5 kWh short. Only while the horizon keeps every departure as a
 * cut (EVs x PLAN_MAX_INTERVALS <= PLAN_LP_CELLS): a thinned one ends windows early already. */
#define PLAN_HEDGE_MS (30 * 60 * 1000LL)
#define PLAN_HEDGE_DIV 8
/* The learned hedge (plan_params early_ms) takes at most this share of an EV's time left: a
 * 30-minute visit told 90 minutes is planned to finish in 30, not at once. */
#define PLAN_HEDGE_MAX_SHARE (2.0 / 3.0)

struct plan_params {
	int64_t period_ms;              /* site.plan_period_s: the first interval */
	int64_t default_dwell_ms;       /* site.default_dwell_s: departure of an EV that gave none */
	int64_t early_ms;               /* drivers leave this much before the departure they give
					 * (plan-hedge.h): each EV is planned to finish that early,
					 * within PLAN_HEDGE_MAX_SHARE of its time left */
};

struct plan_stats {
	size_t evs, intervals, variables, rows;
	double planned_wh;              /* what the schedule delivers until the horizon */
};

/* What a plan depends on besides the load and the clock: which EVs are online, their departures
 * and what their drivers asked for (the energy still to come plus the energy done: it changes
 * when a driver changes the request, or to 0 when it is met). Both the daemon's planner
 * (edge/site/site-plan.c) and the replay plan again at once when it changes. */
uint64_t plan_signature(const struct solver_input *in);

/* The targets for every charger of `in` at now_ms into target_a[in->n_chargers] (A per phase;
 * on entry the last plan's, or zeros: EVs it served are kept on among equal schedules;
 * 0 for chargers without an EV, offline ones, and EVs the plan holds back this period). An EV
 * without an energy need is planned as wanting all it can take until its departure. stats may be
 * NULL. Returns 0, -ENOMEM, or -EIO when the linear programme does not solve. */
int plan_compute(const struct solver_input *in, int64_t now_ms, const struct plan_params *p, double *target_a,
		 struct plan_stats *stats);

#endif
