/* The allocation solver: given the site's tree of limits, what the meters say and every
 * charger's state, compute a current limit for every charger and name the constraint that bound
 * it.
 *
 * Pure computation: no I/O, no clock reads (`now_ms` is passed in), no globals. The only state
 * that survives a solve is the caller-owned rotation array (who waits since when), which goes in
 * and comes out explicitly. Scratch memory lives in a `struct solver` the caller creates once
 * for the largest site it will solve, so a solve never allocates.
 *
 * The allocation is weighted max-min fair (progressive filling) over per-phase current limits
 * and kW limits at every node of the tree, with min-current admission: a charger gets 0 or at
 * least its min_a. The policy (policies/policy.h) gives every charger a class (strictly filled
 * in order), a weight within its class and an admission rank. */
#ifndef AG_SOLVER_H
#define AG_SOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOLVER_PHASES 3
#define SOLVER_BINDING_LEN 40           /* binding strings, NUL included; node ids are cut */
#define SOLVER_PHASE_IDLE_A 1.0         /* an EV-limited phase drawing less is not in use */

struct policy_ops;

/* One limit node: the grid connection (index 0) or a circuit/feeder/fuse below it. Nodes are
 * given parents first: nodes[0].parent == -1 and 0 <= nodes[i].parent < i. */
struct solver_node {
	const char *id;                 /* "grid", "feeder-a": named in binding strings */
	int parent;
	double limit_a[SOLVER_PHASES];  /* per site phase L1..L3; 0 = not limited here */
	double limit_kw;                /* 0 = no kW limit */
	/* Measured non-EV load flowing through this node (chargers' draw excluded), per phase.
	 * A node without a meter may give 0: the solver uses max(own, sum of its children). */
	double non_ev_a[SOLVER_PHASES];
};

enum solver_link {
	SOLVER_ONLINE,                  /* talking and controllable: allocated */
	SOLVER_SILENT,                  /* socket open, heartbeats missed: fixed load at fallback */
	SOLVER_OFFLINE,                 /* socket closed: fixed load at fallback */
	SOLVER_UNCONTROLLED,            /* cannot be limited: fixed load at max_a */
};

struct solver_charger {
	const char *id;
	int node;                       /* index of the circuit it hangs on */
	int phases;                     /* 1 or 3 */
	/* Charger phase i -> site phase rotation[i] (0..2). A single-phase charger on L2 has
	 * rotation[0] == 1; a 3-phase charger wired L2-L3-L1 has {1, 2, 0}. */
	unsigned char rotation[SOLVER_PHASES];
	double min_a;                   /* 0 or at least this; 6 A for most AC chargers */
	double max_a;                   /* min(hardware, cable, CSMS profile) */
	double fallback_a;              /* safe current when not controlled; 0 = site fallback */
	double draw_a[SOLVER_PHASES];   /* measured, indexed by charger phase */
	enum solver_link link;
	bool ev;                        /* an EV is plugged in and may charge */
	bool max_from_ev;               /* max_a is the EV's own maximum, below the charger's
					 * (site_model_ev_limits) */
	bool ev_max_told;               /* the EV told its maximum (at or above the charger's too):
					 * nothing left to learn of it (solver_input.show_max_ms) */
	bool ev_max_shown;              /* a settled meter value showed it drawing max_a: nothing left
					 * to learn of it either (edge/site/ev-cap.h max_shown) */
	/* The EV takes less than offered (end of charge, on-board charger limit, single-phase car):
	 * the measured draw (plus the site's ev_slack_a) caps it, and only phases drawing at least
	 * SOLVER_PHASE_IDLE_A count. The caller clears it now and then to probe upwards. */
	bool ev_limited;
	double ev_cap_a;                /* > 0: the cap the caller holds for an EV-limited charger
					 * (instead of draw + slack, which moves with every reading) */
	double ev_cap_slack_a;          /* > 0: how far ev_cap_a sits above the EV's draw (less than
					 * ev_slack_a once the draw is steady: edge/site/ev-cap.h) */
	/* With ev_limited: the caller probes whether the EV takes more than its cap. It shares as
	 * any EV-limited EV (policies see no difference), then is offered what every other EV left
	 * of the headroom on its path, up to max_a: a probe never takes current from an EV that can
	 * use it. */
	bool ev_probe;
	/* draw_a is a fresh reading the caller trusts phase by phase: an EV drawing on fewer phases
	 * than the charger has (a single-phase car on a 3-phase charger) then loads only the phases
	 * drawing at least SOLVER_PHASE_IDLE_A, EV-limited or not. An EV drawing nothing loads them
	 * all (it may start on any), unless it has shown its phases (ev_phases_seen). */
	bool draw_fresh;
	/* The last solve gave this EV current (it was plugged in then): policies/deadline.c keeps
	 * its place. From the site's own decision, not a meter value: some chargers send none while
	 * their EV waits, or one every 15 minutes. */
	bool running;
	/* The site phases this EV has drawn on since it plugged in (a mask, bit p = site phase p;
	 * 0 = none seen yet), kept by the caller (solver_phases_learn). A car's
	 * on-board charger does not change its phases within a session: a single-phase car paused at
	 * 0 A loads, when it starts again, the one phase it drew on, so it is counted there and not
	 * on all three. */
	unsigned ev_phases_seen;
	int64_t plugged_ms;             /* when the EV plugged in, on the solve's clock (0 = not known) */
	bool reports_current;           /* its meter values carry current per phase: an EV shows there
					 * the phases it draws on */
	int priority;                   /* class for the `priority` policy: 1 first, then 2, ... */
	int64_t departure_ms;           /* 0 = unknown */
	double energy_need_wh;          /* 0 = unknown */
	double energy_done_wh;          /* delivered since the need was told: with energy_need_wh,
					 * what was asked for (policy_share_at_departure: `deadline`
					 * and `plan` serve first the EV left with the least of it) */
};

/* A price from start_ms until the next slot's start (the last one lasts). Sorted by start_ms. */
struct price_slot {
	int64_t start_ms;
	double price;
};

struct solver_input {
	const struct solver_node *nodes;
	size_t n_nodes;
	const struct solver_charger *chargers;
	size_t n_chargers;
	double voltage_v;               /* phase to neutral */
	double margin_a;                /* kept free below every current limit (x3 phases for kW) */
	double fallback_a;              /* site default for chargers with fallback_a == 0 */
	double ev_slack_a;              /* offered above an EV-limited draw */
	/* Power a battery or a curtailed PV inverter can add at the connection point on request,
	 * balanced over the three phases: raises the grid node's headroom. */
	double grid_extra_w;
	bool meter_stale;               /* grid meter stale: every charger at its fallback */
	const struct policy_ops *policy;        /* NULL = fair */
	const struct price_slot *prices;        /* for the `cost` policy; may be NULL */
	size_t n_prices;
	int64_t max_wait_ms;            /* rotation: an EV waiting this long is admitted first; 0 = off */
	int64_t min_run_ms;             /* rotation: an admitted EV keeps its slot this long */
	/* `plan` policy (site.plan_show_max_s): an EV that plugged in less than this ago and has not
	 * shown what it takes (its maximum, by telling it or drawing less than offered, and on a
	 * 3-phase charger its phases) gets its cap first, so the site learns it; 0 = off. Planned at
	 * a share, a 16 A car on a 32 A charger draws all it is offered and the plan counts on 32 A
	 * for it to the end (policies/plan.c). */
	int64_t show_max_ms;
	/* The `plan` policy's targets per charger (A per phase, policies/plan.h), NULL = no plan yet
	 * (or too old): that policy then shares as `fair` does. */
	const double *plan_a;
};

/* Rotation state per charger (same index as the chargers), kept by the caller between solves. */
struct solver_rotation {
	int64_t waiting_since_ms;       /* paused for lack of capacity since; 0 = not waiting */
	int64_t running_since_ms;       /* admitted since; 0 = not running */
};

enum solver_bind {
	BIND_NONE,                      /* "no EV" */
	BIND_NODE,                      /* "<node> L<p>" or "<node> kW" (phase == -1) */
	BIND_CHARGER_MAX,               /* "charger max" */
	BIND_EV_LIMITED,                /* "EV-limited" */
	BIND_PAUSED_ROTATION,           /* "paused: rotation": it fits alone, others go first */
	BIND_PAUSED_NODE,               /* "paused: <node> L<p>": its minimum does not fit at all */
	BIND_PAUSED_PRICE,              /* "paused: price": the cost policy defers it */
	BIND_FALLBACK_STALE,            /* "fallback: meter stale" */
	BIND_FALLBACK_SILENT,           /* "fallback: silent" */
	BIND_FALLBACK_OFFLINE,          /* "fallback: offline" */
	BIND_UNCONTROLLED,              /* "not controllable" (counted at max_a) */
	BIND_EV_MAX,                    /* "EV max": the EV's own maximum (max_from_ev) */
};

struct solver_result {
	double limit_a;                 /* per phase; 0 = paused */
	enum solver_bind bind;
	int node;                       /* for BIND_NODE / BIND_PAUSED_NODE, else -1 */
	int phase;                      /* site phase 0..2, or -1 for the kW limit */
	char binding[SOLVER_BINDING_LEN];
};

struct solver;

/* Scratch for sites of up to max_nodes nodes and max_chargers chargers. NULL with errno. */
struct solver *solver_new(size_t max_nodes, size_t max_chargers);
void solver_free(struct solver *s);

/* Solve `in` at time now_ms into out[n_chargers]. `rot` (n_chargers entries, may be NULL for no
 * rotation) is read and updated. Returns 0, -EINVAL for an inconsistent input (bad parent, node
 * index, phases, rotation, voltage, policy weight) or -E2BIG if the site exceeds the scratch. */
int solver_run(struct solver *s, const struct solver_input *in, struct solver_rotation *rot,
	       int64_t now_ms, struct solver_result *out);

/* Site phases the charger loads (bit p = phase p) and its current cap, as the solver sees them
 * (EV-limited draw applied). For policies and tests. */
unsigned solver_phase_mask(const struct solver_charger *c);
/* The phases the solver counts charger c's current on: solver_phase_mask for an online charger;
 * all its phases for one that is not (its fallback or max, whatever its EV showed). */
unsigned solver_load_mask(const struct solver_charger *c);
double solver_cap_a(const struct solver_input *in, const struct solver_charger *c);
/* How many phases a mask of these holds: not __builtin_popcount, a libgcc call without -mpopcnt
 * (per charger, in the solver's and the policies' loops). */
static inline int solver_mask_width(unsigned mask)
{
	return (int)(mask & 1u) + (int)(mask >> 1 & 1u) + (int)(mask >> 2 & 1u);
}
/* How far an EV-limited charger's cap sits above its EV's draw. */
double solver_cap_slack_a(const struct solver_input *in, const struct solver_charger *c);

/* The site phases the EV on charger c has drawn on in its session (ev_phases_seen), from `seen`,
 * what was known before this solve: cleared when no EV is plugged in, and grown by the phases
 * drawing at least SOLVER_PHASE_IDLE_A in a fresh reading (draw_fresh) in which the car clearly
 * charges (a phase at SOLVER_PHASES_SEEN_A or more). Grown, never narrowed: a reading can miss a
 * phase for a moment, and counting a car on one phase too many only costs others some current.
 * The caller keeps the result per charger (the daemon's site controller, the replay). */
#define SOLVER_PHASES_SEEN_A 4.0
unsigned solver_phases_learn(unsigned seen, const struct solver_charger *c);

#endif
