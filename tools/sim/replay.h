/* What-if replay (`ampgate-sim replay`): charging sessions replayed through the daemon's own
 * solver and policies on a site configuration, in simulated time, to answer "what if we add ten
 * chargers / lower the grid limit / switch to the deadline policy".
 *
 * The engine (replay.c) is pure: inputs in, figures out, no clock other than the solver timing
 * it reports. Reading inputs (replay-input.c), writing reports (replay-report.c) and the day
 * generator (replay-gen.c) are separate. Times are epoch milliseconds. */
#ifndef AG_SIM_REPLAY_H
#define AG_SIM_REPLAY_H

#include "edge/core/config.h"
#include "edge/site/solver.h"
#include "tools/sim/pv-profile.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define REPLAY_ID_LEN 40
/* A session counts as served when it got at least this share of its request (a battery's last
 * 0.1 % is never taken: see tools/sim/ev.c). */
#define REPLAY_SERVED_SHARE 0.995
/* The load curve (site load vs limit) is sampled this often. */
#define REPLAY_CURVE_MS 60000

struct replay_session {
	char charger[REPLAY_ID_LEN];    /* charger id; "" = any free charger */
	int64_t arrival_ms, departure_ms;
	double request_wh;              /* energy the driver wants */
	double ev_max_a;                /* on-board charger limit per phase; 0 = the charger's max */
	int ev_phases;                  /* 1 or 3; 0 = the charger's phases */
	double battery_wh;              /* 0 = the request takes the battery from 20 % to 90 % */
	double arrival_soc;             /* 0..1; < 0 = the request ends at 90 % (or starts at 0) */
	int line;                       /* in the input, for messages */
};

struct ev;
/* The EV a session brings to a charger of charger_max_a and charger_phases (tools/sim/ev.h): what
 * the replay charges and the optimum bounds by its taper. */
void replay_session_ev(const struct replay_session *s, double charger_max_a, int charger_phases, struct ev *ev);

/* Building (non-EV) load through a node from at_ms on, until the node's next row. */
struct replay_load {
	int64_t at_ms;
	char node[REPLAY_ID_LEN];       /* "grid" or a circuit id */
	double a[3];                    /* per site phase */
	bool stale;                     /* grid only: the meter has no reading from at_ms on */
	int line;
};

/* The what-if battery (--battery-kwh, --battery-kw): dispatched every step by the daemon's own
 * energy_decide (edge/site/energy.c) on the parameters energy_params_from_config derives from
 * cfg's `battery` group (mode, peak_kw, reserve_pct, recharge, recharge_kw), as the daemon would
 * with this battery behind the grid meter. It follows each decision one step later (the
 * daemon's setpoint reaches the battery within a control period), and its discharge counts as
 * headroom for the EVs only once it flows, as in the daemon. */
#define REPLAY_BATTERY_EFFICIENCY 0.95  /* each way: 90.25 % round trip */
struct replay_battery {
	double capacity_wh;
	double power_w;                 /* rated charge and discharge power */
	double soc_start_pct;
};

struct replay_input {
	const struct ag_config *cfg;
	const struct replay_session *sessions;  /* any order */
	size_t n_sessions;
	const struct replay_load *loads;        /* sorted by at_ms */
	size_t n_loads;
	const struct price_slot *prices;        /* per kWh, sorted; may be NULL */
	size_t n_prices;
	const char *policy;             /* NULL = the configuration's site.policy; or "edf", "llf" */
	int64_t step_ms;                /* 0 = site.control_period_ms */
	bool any_charger;               /* ignore charger ids: each session takes any free charger */
	/* Feed each EV's draw back as the daemon learns it from meter values (EV-limited cap,
	 * probes); false = the solver sees every EV at the charger's maximum. The command line sets
	 * it unless --no-ev-feedback. */
	bool ev_feedback;
	/* Tell the policies each session's own maximum current (its max_a or max_kw), as a 2.0.1 EV's
	 * NotifyEVChargingNeeds tells the daemon (evMaxCurrent); false = learnt from its draw. */
	bool ev_max_told;
	/* Imperfect knowledge: the policy is told each departure shifted by up to +-departure_noise_s
	 * and each request off by up to +-energy_noise_pct % (uniform, from noise_seed); sessions
	 * still leave and are scored on the truth. */
	double departure_noise_s, energy_noise_pct;
	uint64_t noise_seed;
	/* What-if storage and PV (NULL = none): the battery's settings come from cfg->battery. The PV
	 * profile's seconds count from 00:00 UTC of the replay's first day; PV lowers the grid
	 * node's non-EV load, as an inverter behind the grid meter does. */
	const struct replay_battery *battery;
	const struct pv_profile *pv;
};

/* What happened to one session. */
struct replay_outcome {
	int charger;                    /* index in cfg->chargers; -1 = turned away (no free charger) */
	double delivered_wh;
	double cost;
	int64_t done_ms;                /* request met (or battery full) at; 0 = never */
};

/* One node of the tree: its limits and the highest load seen on it. */
struct replay_node {
	char id[REPLAY_ID_LEN];
	double limit_a[3], limit_kw;    /* 0 = not limited */
	double peak_a[3], peak_kw;
	int64_t peak_at_ms[3], peak_kw_at_ms;
	long violation_steps[4];        /* steps above the limit: L1, L2, L3, kW */
	int64_t first_violation_ms;     /* 0 = none */
};

struct replay_result {
	char policy[16];
	int64_t start_ms, end_ms, step_ms;
	size_t n_sessions;
	struct replay_outcome *outcome; /* n_sessions, same order as the input */
	size_t n_nodes;
	struct replay_node *node;       /* [0] is the grid */
	double requested_wh, delivered_wh, cost;
	size_t served, turned_away;
	long violations;                /* node-phase steps above a limit, over all nodes */
	int64_t fallback_ms;            /* simulated time at fallback currents (grid meter stale) */
	/* EVs started from 0 A (drawing from one step to the next): the first of each session and
	 * one after every hold (each a profile and, on most chargers, a contactor closing: `deadline`
	 * once started cars every second). */
	uint64_t starts;
	uint64_t solves;
	double solver_s, solver_max_us; /* wall time inside solver_run */
	double wall_s;                  /* wall time of the whole replay */
	uint64_t plans;                 /* `plan` policy: plans computed, their wall time */
	double plan_s, plan_max_ms;
	size_t n_curve;                 /* grid load: highest phase in A, sampled every REPLAY_CURVE_MS */
	float *curve_a;
	/* The grid connection's import (battery and PV included; > 0 import): the highest step, the
	 * highest mean over a demand window (REPLAY_DEMAND_MS, clock-aligned as utilities bill it;
	 * windows seen for at least half their length), energy both ways and its cost. */
	double grid_peak_kw, demand_peak_kw;
	int64_t grid_peak_at_ms, demand_peak_at_ms;
	double import_wh, export_wh, grid_cost;
	/* PV produced, what the battery discharged to the site and took from it (AC), and its SoC. */
	double pv_wh, battery_out_wh, battery_in_wh;
	double soc_start_pct, soc_end_pct, soc_min_pct;
};
#define REPLAY_DEMAND_MS 900000         /* 15 min */

/* Replay `in` into `out` (zeroed first; free with replay_result_fini). Returns 0, -EINVAL with a
 * message on `errs` (a session on an unknown charger, a load row for an unknown node, an unknown
 * policy), or -ENOMEM. */
int replay_run(const struct replay_input *in, struct replay_result *out, FILE *errs);
void replay_result_fini(struct replay_result *r);
/* Starts from 0 A per session replayed (0 without sessions). */
double replay_starts_per_session(const struct replay_result *r);

/* Inputs (replay-input.c). Each returns 0 or -EINVAL after printing `file:line: column: message`
 * lines on `errs`; arrays are the caller's to free. Sessions come from a CSV file or from the
 * daemon's SQLite database (its `transactions` table: what was delivered stands in for what
 * was requested, and the stop time for the departure). */
int replay_read_sessions(const char *path, const struct ag_config *cfg, struct replay_session **out,
			 size_t *n, FILE *errs);
int replay_read_loads(const char *path, const struct ag_config *cfg, struct replay_load **out, size_t *n,
		      FILE *errs);
int replay_read_prices(const char *path, struct price_slot **out, size_t *n, FILE *errs);
/* "2024-05-01T18:00:00Z" (any RFC 3339 offset), "HH:MM[:SS]" (hours may pass 24) from
 * REPLAY_DAY0_MS, or epoch milliseconds. 0 or -EINVAL. */
#define REPLAY_DAY0_MS 1714521600000LL  /* 2024-05-01T00:00:00Z */
int replay_time_parse(const char *s, int64_t *ms);

/* Reports (replay-report.c). */
void replay_print(FILE *out, const struct replay_input *in, const struct replay_result *r);
/* Several policies side by side, and what the best one gains over the first. */
void replay_print_comparison(FILE *out, const struct replay_result *r, size_t n);
/* The offline optimum of the replayed sessions (replay-optimum.c): the most energy any allocation
 * could deliver under every node-phase and kW limit (less the margin and the non-EV load), each
 * session's window, request and maximum rate, with continuous rates and perfect knowledge: an
 * upper bound for every policy. */
struct replay_optimum {
	double delivered_wh, requested_wh;
	size_t sessions, intervals, variables, rows;
	double solve_s;                 /* wall time of the LP */
};
/* `assign` is any replay of `in` (the charger each session plugged into is policy-independent).
 * Returns 0, -ENOMEM, or -EIO when the LP solver fails (message on errs). */
int replay_optimum(const struct replay_input *in, const struct replay_result *assign, struct replay_optimum *out,
		   FILE *errs);
/* The asked runs r[n] beside the references refs[n_refs] and the optimum (NULL = not computed),
 * each with its gap to the optimum in points of the request. */
void replay_print_yardsticks(FILE *out, const struct replay_result *r, size_t n, const struct replay_result *refs,
			     size_t n_refs, const struct replay_optimum *opt);
/* The same into a replay_json document: "references" [...] and "optimum" {...}. */
void replay_json_yardsticks(json_t *doc, const struct replay_result *r, size_t n, const struct replay_result *refs,
			    size_t n_refs, const struct replay_optimum *opt);
/* {"policy", "sessions", "energy", "nodes", "violations", "fallback_s", "solver", "cost", ...};
 * with n > 1 an object {"runs": [...], "comparison": {...}}. New reference. */
json_t *replay_json(const struct replay_input *in, const struct replay_result *r, size_t n);
/* Per-session outcome CSV; SVG of the grid load against its limit. 0 or -errno. */
int replay_write_sessions_csv(const char *path, const struct replay_input *in, const struct replay_result *r);
int replay_write_svg(const char *path, const struct replay_result *r, size_t n);

/* A realistic depot day of `n` sessions on the chargers of `cfg` (replay-gen.c), as CSV. */
int replay_generate(const struct ag_config *cfg, size_t n, uint64_t seed, FILE *out);
enum replay_day { REPLAY_DAY_DEPOT, REPLAY_DAY_WORKPLACE };
int replay_generate_day(const struct ag_config *cfg, enum replay_day day, size_t n, uint64_t seed, FILE *out);

/* Non-EV load per node as the solver assumes it: the larger of its own reading and the sum of
 * its children's (a node without a meter reads 0); nv has n x 3 entries. */
void replay_effective_load(const struct solver_node *nodes, size_t n, double *nv);

/* Reference allocations (replay-ref.c): "edf" and "llf", textbook sorted greedy to each EV's cap
 * with the minimum respected, run in place of the solver when the replay's policy names one. */
struct replay_ref;
bool replay_ref_known(const char *name);
struct replay_ref *replay_ref_new(const char *name, size_t n_ch);   /* NULL: unknown or ENOMEM */
void replay_ref_free(struct replay_ref *r);
const char *replay_ref_name(const struct replay_ref *r);
/* Limits for every charger of `in` into out[] (limit_a; 0 = paused). 0 or -E2BIG. */
int replay_ref_allocate(struct replay_ref *r, const struct solver_input *in, int64_t now_ms, struct solver_result *out);

/* The storage what-if (replay-whatif.c): the day without and with a battery and PV. Fill
 * battery/has_battery, pv/has_pv, peak_kw (0 = the configuration's battery.peak_kw, else the
 * lowest the battery holds) and recharge (NULL = the configuration's when it has a peak-shave
 * battery, else "any"), then replay_whatif_init; `cfg` must outlive `w`. */
struct replay_whatif {
	struct replay_battery battery;
	bool has_battery, has_pv;
	struct pv_profile pv;
	const char *pv_path, *recharge;
	double peak_kw;
	struct ag_config cfg;           /* the site with the what-if battery group */
	bool peak_auto;
	double peak_used_kw;            /* the target the `with` run used */
};
void replay_whatif_init(struct replay_whatif *w, const struct ag_config *cfg);
/* `in` without storage replayed as `base` (its policy), then with it into `out` (free with
 * replay_result_fini). 0 or replay_run's error. */
int replay_whatif_run(struct replay_whatif *w, struct replay_input *in, const struct replay_result *base,
		      struct replay_result *out, FILE *errs);
void replay_print_whatif(FILE *out, const struct replay_whatif *w, const struct replay_input *in,
			 const struct replay_result *base, const struct replay_result *with);
/* {"without": {...}, "with": {...}, "battery": {...}, "demand_peak_saved_kw", ...}. New reference. */
json_t *replay_json_whatif(const struct replay_whatif *w, const struct replay_result *base,
			   const struct replay_result *with);

/* `ampgate-sim replay` (replay-main.c). */
int replay_main(int argc, char **argv);

#endif
