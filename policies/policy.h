/* Allocation policies: who is served first and with what share when the site cannot give every
 * EV all it wants.
 *
 * A policy is a `const struct policy_ops` whose `decide` is a pure function of the solver's
 * input and now_ms: no I/O, no clock, no globals. It does not allocate current itself; it tells
 * the solver, per charger, a class (classes are filled strictly in order: class 0 gets all it
 * can before class 1 gets more than its minimum), a weight within the class (weighted max-min
 * fair share), an admission rank (who keeps its minimum first when not everyone can) and
 * whether to defer charging now (the `cost` policy). */
#ifndef AG_POLICY_H
#define AG_POLICY_H

#include "edge/site/solver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct policy_decision {
	int cls;                        /* >= 0; 0 is filled first */
	double weight;                  /* > 0; share within the class */
	double rank;                    /* admission order within the class; lower first */
	bool defer;                     /* do not charge now: "paused: price" */
	bool hold;                      /* others go first this solve: "paused: rotation" */
};

struct policy_ops {
	const char *name;
	/* Decide for every charger of `in` (out has in->n_chargers entries, preset by the caller to
	 * {cls 0, weight 1, rank 0, no defer}; entries of chargers without an EV are ignored).
	 * Returns 0 or -EINVAL. */
	int (*decide)(const struct solver_input *in, int64_t now_ms, struct policy_decision *out);
};

/* The policy called `name` ("fair", "priority", "deadline", "cost", "plan"), or NULL. */
const struct policy_ops *policy_find(const char *name);
/* Iterate over all policies (for `--keys` and config validation): NULL past the end. */
const struct policy_ops *policy_at(size_t i);

/* Time an EV needs at its cap (EV-limited phases and draw applied) to take its energy need, in
 * ms; 0 when the need is unknown. */
int64_t policy_need_ms(const struct solver_input *in, const struct solver_charger *c);
/* Slack before the EV must charge at its cap without pause to meet its departure, in ms (may be
 * negative); INT64_MAX when departure or need is unknown. */
int64_t policy_laxity_ms(const struct solver_input *in, const struct solver_charger *c, int64_t now_ms);

/* Non-EV load per node as the solver assumes it: the larger of its own reading and the sum of
 * its children's (a node without a meter reads 0); nv has n x 3 entries. */
void policy_effective_load(const struct solver_node *nodes, size_t n, double *nv);

/* What a charger that is not online draws whatever is decided: its fallback (or the site's), or
 * its max when it cannot be controlled. */
double policy_fixed_a(const struct solver_input *in, const struct solver_charger *c);

/* What the sorted greedy and the phase rebalance read of every charger of `in`, worked out once per
 * decision: the phases its current counts on (solver_load_mask, which for an online charger is
 * solver_phase_mask) and, for an online EV, its cap (solver_cap_a). */
struct policy_fill {
	const struct solver_input *in;  /* kept by pointer while f is used */
	unsigned char *mask;            /* per charger */
	double *cap_a;                  /* per charger: online EVs only, 0 for the others */
};

/* Fills f for `in`. Returns 0 or -ENOMEM; policy_fill_fini(f) after either. */
int policy_fill_init(struct policy_fill *f, const struct solver_input *in);
void policy_fill_fini(struct policy_fill *f);
/* policy_laxity_ms of charger i (an online EV), the same figure from f's cap and phases. */
int64_t policy_fill_laxity_ms(const struct policy_fill *f, size_t i, int64_t now_ms);

/* The textbook sorted greedy, on f's input `in`: chargers `order[0..n)` (indices into
 * in->chargers, online EVs only) each in turn get as much as fits up to their cap along every
 * node-phase and kW limit on their path (limit - margin - non-EV load, as the solver computes
 * headroom), or 0 when that is below their minimum; the first n_first and those from order[n_full] on get only their minimum when it fits
 * (`deadline`'s EVs still to show their phases, first; who can be admitted at all after the
 * others, last); then a probed EV (solver.h ev_probe) filled to its cap gets what is left on its
 * path up to its max_a, as the solver gives it. out_a has in->n_chargers entries (others are left
 * alone). Returns 0 or -ENOMEM. */
int policy_fill_in_order(const struct policy_fill *f, const size_t *order, size_t n, size_t n_first, size_t n_full,
			 double *out_a);

/* After policy_fill_in_order, in `order`: an EV on more phases than others, short of its cap
 * because they hold a phase it shares with them while its other phases have room, takes that
 * phase from them, down to their minimum, the EV with the most laxity first: each amp then charges
 * on all its phases, not on one. out_a is updated; returns how
 * many EVs gained, or -ENOMEM. */
int policy_rebalance_phases(const struct policy_fill *f, const size_t *order, size_t n, double *out_a);

#endif
