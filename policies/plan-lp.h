/* The charging linear programme shared by the `plan` policy (policies/plan.c) and the replay's
 * offline optimum (tools/sim/replay-optimum.c): how much energy each EV can receive within its
 * window under every node-phase and kW limit of the site, with time cut into intervals.
 *
 * One variable per EV and interval: its average current per phase (A) over the part of the
 * interval it is plugged in. Rows: each EV's need (kWh) and, per interval, every limited
 * node-phase (A) and node kW limit (W) on the EV's path, with the margin and the non-EV load
 * taken off as the solver does (edge/site/solver.c); for a job with a taper, per interval, the most
 * its taper lets it take from what it has received (the plan_lp_job's taper_* fields). Continuous
 * rates: the minimum current and the control step are left out. */
#ifndef AG_PLAN_LP_H
#define AG_PLAN_LP_H

#include "edge/site/solver.h"

#include <stddef.h>
#include <stdint.h>

/* What the first share_a of a job's current in the first interval is worth above the rest. */
#define PLAN_LP_SHARE 0.1
/* What a job's first floor_wh are worth above the rest. */
#define PLAN_LP_FLOOR 0.03
/* What a job's energy beyond its need, up to tail_wh, is worth against the need's. */
#define PLAN_LP_TAIL 0.5

struct plan_lp_job {
	int node;                       /* index of the node its charger hangs on */
	unsigned mask;                  /* site phases it loads (bit p = phase p) */
	double max_a;                   /* per phase */
	int64_t from_ms, until_ms;      /* when it may charge */
	double need_wh;                 /* energy it wants */
	/* Its energy's worth in the objective relative to others' (0 counts as 1): the planner
	 * makes the least-laxity EV's slightly dearer, so among schedules delivering the same it
	 * serves now those with the least room later, as least laxity first does. */
	double worth;
	/* In the first interval, its current up to share_a (A) is worth PLAN_LP_SHARE more: a concave
	 * reward that spreads the present among EVs rather than handing it to few (0 = none). */
	double share_a;
	/* Its energy up to floor_wh is worth PLAN_LP_FLOOR more, wherever it is delivered: a concave
	 * reward on each EV's total, so no EV is left with nothing where a little for each costs
	 * the others about as much as it gives (0 = none). */
	double floor_wh;
	/* Its taper near full (0 = none): its current may not exceed max_a * (taper_zero_wh - E) /
	 * (taper_zero_wh - taper_from_wh) once it has received E Wh in the programme, a line from
	 * max_a at taper_from_wh to 0 at taper_zero_wh (the replay's EVs taper so; the daemon does
	 * not know an EV's state of charge, so the planner leaves it 0). */
	double taper_from_wh, taper_zero_wh;
	/* It may take up to tail_wh beyond need_wh, worth PLAN_LP_TAIL of its need's energy (0 = none):
	 * a driver's estimate may be short (see PLAN_TAIL_SHARE). */
	double tail_wh;
};

/* How fast a job on its taper line closes on taper_zero_wh, per hour: its power at max_a over the
 * line's span (dE/dt = rate x (taper_zero_wh - E)). The programme's rows and the replay's
 * optimum, which fits the line to the replay's steps, use the same. */
double plan_lp_taper_per_h(double voltage_v, const struct plan_lp_job *jb);

/* Effective non-EV load per node x 3 phases (A) from t_ms on: what the solver subtracts from
 * every limit. Called once per interval, in time order. */
typedef void (*plan_lp_load_fn)(void *arg, int64_t t_ms, double *nv);

struct plan_lp_result {
	double delivered_wh;            /* the energy the LP's schedule delivers */
	size_t intervals, variables, rows;
};

/* Solve on the site of `in` (nodes, voltage, margin, grid_extra_w; its chargers are not read)
 * for jobs[n] over the intervals cuts[0..n_cuts) (sorted). `early` in [0, 1): 0 maximises the
 * energy alone; above 0 an interval's energy is worth 1 at cuts[0] down to 1 - early at the last
 * cut, so of two schedules delivering the same energy the earlier wins (and at most a share
 * `early` of the energy is traded for earliness). first_a (n entries, may be NULL) gets each
 * job's current in the first interval. Returns 0, -ENOMEM, or -EIO when GLPK fails. */
int plan_lp_solve(const struct solver_input *in, const struct plan_lp_job *jobs, size_t n, const int64_t *cuts,
		  size_t n_cuts, plan_lp_load_fn load, void *arg, double early, double *first_a,
		  struct plan_lp_result *out);

#endif
