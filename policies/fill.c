/* The sorted greedy the `deadline` policy and the replay's `llf` and `edf` references allocate
 * with (policy_fill_in_order), and `deadline`'s phase rebalance after it (policy_rebalance_phases);
 * see policy.h.
 *
 * Key design decision: the headroom is worked out as edge/site/solver.c works it out (limit -
 * margin - non-EV load, the battery's extra at the grid node), per node-phase and kW row, so an
 * allocation made here is one the solver can reproduce and never one it must cut. Each charger's
 * phases and cap are worked out once per decision (struct policy_fill), not in every loop: at
 * 1,000 chargers solver_phase_mask and solver_cap_a, called five or six times per charger, were
 * 13 % of `deadline`'s solve. */
#include "policies/policy.h"
#include "policies/policy-private.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { FILL_KW = 3, FILL_K = 4 };       /* headroom per node: L1..L3 in A, kW in W */
#define PHASE_MOVE_MIN_A 0.5            /* smaller moves are not worth a profile (the profiles' dead band) */

int policy_fill_init(struct policy_fill *f, const struct solver_input *in)
{
	*f = (struct policy_fill){ .in = in, .mask = malloc(in->n_chargers + 1),
				   .cap_a = calloc(in->n_chargers + 1, sizeof(double)) };
	if (!f->mask || !f->cap_a)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];

		f->mask[i] = (unsigned char)solver_load_mask(c);
		/* at least the minimum, as solver.c counts it: a charger offers 0 or at least its
		 * minimum, and an EV tapering under it, capped close above its draw (5.3 A of a 6 A
		 * minimum), was given 0 and left with its last kWh not charged */
		if (c->ev && c->link == SOLVER_ONLINE)
			f->cap_a[i] = fmax(solver_cap_a(in, c), c->min_a);
	}
	return 0;
}

void policy_fill_fini(struct policy_fill *f)
{
	free(f->mask);
	free(f->cap_a);
}

int64_t policy_fill_laxity_ms(const struct policy_fill *f, size_t i, int64_t now_ms)
{
	double power_w = f->cap_a[i] * f->in->voltage_v * solver_mask_width(f->mask[i]);

	return policy_laxity_at_ms(&f->in->chargers[i], power_w, now_ms);
}

/* Headroom of every node as edge/site/solver.c set_headroom computes it. */
static void fill_headroom(const struct solver_input *in, double *head, double *nv)
{
	double v = in->voltage_v;

	policy_effective_load(in->nodes, in->n_nodes, nv);
	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct solver_node *nd = &in->nodes[i];
		double extra_w = i == 0 ? fmax(0, in->grid_extra_w) : 0, *h = &head[i * FILL_K];
		const double *n3 = &nv[i * 3];

		for (int p = 0; p < 3; p++)
			h[p] = nd->limit_a[p] > 0 ? nd->limit_a[p] - in->margin_a - n3[p] + extra_w / (3 * v) : HUGE_VAL;
		h[FILL_KW] = nd->limit_kw > 0 ? nd->limit_kw * 1000.0 + extra_w - v * (n3[0] + n3[1] + n3[2] + 3 * in->margin_a)
					      : HUGE_VAL;
	}
}

static void take(const struct solver_input *in, double *head, int node, unsigned mask, double a)
{
	int w = solver_mask_width(mask);

	for (int k = node; k >= 0; k = in->nodes[k].parent) {
		for (int p = 0; p < 3; p++)
			head[(size_t)k * FILL_K + p] -= mask & (1u << p) ? a : 0;
		head[(size_t)k * FILL_K + FILL_KW] -= a * in->voltage_v * w;
	}
}

/* The most of `a` that fits on charger i's path under the headroom left. Compared, not fmin (a
 * libm call, 3 % of the deadline solve): `a` is never NaN (a cap or a minimum) and a NaN
 * headroom leaves it as fmin does. */
static double fits(const struct policy_fill *f, const double *head, size_t i, double a)
{
	const struct solver_input *in = f->in;
	unsigned mask = f->mask[i];
	double per_a_w = in->voltage_v * solver_mask_width(mask);

	for (int k = in->chargers[i].node; k >= 0; k = in->nodes[k].parent) {
		const double *h = &head[(size_t)k * FILL_K];
		double kw_a = h[FILL_KW] / per_a_w;

		for (int p = 0; p < 3; p++)
			if ((mask & (1u << p)) && h[p] < a)
				a = h[p];
		a = kw_a < a ? kw_a : a;
	}
	return a;
}

/* The headroom, less what chargers not online draw whatever is decided (their fallback or max)
 * and, with out_a, what the online EVs were given. */
static void headroom_left(const struct policy_fill *f, const double *out_a, double *head, double *nv)
{
	const struct solver_input *in = f->in;

	fill_headroom(in, head, nv);
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];
		double a = c->link != SOLVER_ONLINE ? policy_fixed_a(in, c) : c->ev && out_a ? out_a[i] : 0;

		if (a > 0)
			take(in, head, c->node, f->mask[i], a);
	}
}

int policy_fill_in_order(const struct policy_fill *f, const size_t *order, size_t n, size_t n_first, size_t n_full,
			 double *out_a)
{
	const struct solver_input *in = f->in;
	double *head = malloc((in->n_nodes * (FILL_K + 3) + 1) * sizeof(double));

	if (!head)
		return -ENOMEM;
	headroom_left(f, NULL, head, head + in->n_nodes * FILL_K);
	for (size_t q = 0; q < n; q++) {
		const struct solver_charger *c = &in->chargers[order[q]];
		double a = fits(f, head, order[q], q >= n_first && q < n_full ? f->cap_a[order[q]] : c->min_a);

		out_a[order[q]] = a >= c->min_a && a > 0 ? a : 0;       /* 0 or at least the minimum */
		if (out_a[order[q]] > 0)
			take(in, head, c->node, f->mask[order[q]], a);
	}
	/* A probed EV (solver.h ev_probe) is then offered what is left on its path, as the solver does. */
	for (size_t q = n_first; q < n_full && q < n; q++) {
		const struct solver_charger *c = &in->chargers[order[q]];
		double a;

		if (!c->ev_probe || !c->ev_limited || !(out_a[order[q]] > 0) || !(c->max_a > out_a[order[q]]))
			continue;
		if ((a = fits(f, head, order[q], c->max_a - out_a[order[q]])) > 0) {
			out_a[order[q]] += a;
			take(in, head, c->node, f->mask[order[q]], a);
		}
	}
	free(head);
	return 0;
}

/* ---- policy_rebalance_phases ---- */

/* One call's view of the EVs of `order`: what EVs on one or two phases hold above their minimum
 * per node, width and phase (above), and per node and phase those EVs most laxity first (the
 * reverse of `order`): list x = k * 3 + p is ev[start[x] .. start[x + 1]), cursor[x] past the
 * single-phase ones already cut to their minimum (a 2-phase EV at its minimum may still gain, and
 * be cut again). The lists are made at the first move (rebalance_lists): most solves move
 * nothing (none at all in bench_solver's deadline row). */
struct rebalance {
	const struct solver_input *in;
	const unsigned char *mask;      /* per charger: the fill's */
	const size_t *order;
	size_t n;
	double *head, *above;           /* per node: FILL_K; 2 x 3 */
	size_t *ev, *start, *cursor;    /* NULL until the first move */
};

/* Charger i's current moves from a to b: what it holds above its minimum follows (above[]). */
static void note_above(struct rebalance *r, size_t i, double a, double b)
{
	const struct solver_charger *c = &r->in->chargers[i];
	int w = solver_mask_width(r->mask[i]);
	double d = (b - c->min_a > 0 ? b - c->min_a : 0.0) - (a - c->min_a > 0 ? a - c->min_a : 0.0);  /* not fmax */

	if (w < 1 || w > 2 || d == 0)
		return;
	for (int k = c->node; k >= 0; k = r->in->nodes[k].parent)
		for (int p = 0; p < 3; p++)
			r->above[((size_t)k * 2 + (size_t)(w - 1)) * 3 + (size_t)p] += r->mask[i] & (1u << p) ? d : 0;
}

/* The lists: counted (fill false), then filled. */
static void list_narrow(struct rebalance *r, bool fill)
{
	const size_t *order = r->order;

	for (size_t q = r->n; q-- > 0;) {
		const struct solver_charger *c = &r->in->chargers[order[q]];
		unsigned m = r->mask[order[q]];

		if (solver_mask_width(m) > 2)
			continue;
		for (int k = c->node; k >= 0; k = r->in->nodes[k].parent)
			for (size_t p = 0, x = (size_t)k * 3; p < 3; p++)
				if (m & (1u << p)) {
					if (fill)
						r->ev[r->cursor[x + p]++] = order[q];
					else
						r->start[x + p + 1]++;
				}
	}
}

/* Sets up r; returns 0, 1 when no EV of `order` could gain (one on more than one phase, that has
 * shown them and is short of its cap, while one on fewer holds more than its minimum), or
 * -ENOMEM. */
static int rebalance_init(struct rebalance *r, const struct policy_fill *f, const size_t *order, size_t n,
			  const double *out_a)
{
	const struct solver_input *in = f->in;
	size_t nn = in->n_nodes;
	bool wide = false, narrow = false;

	*r = (struct rebalance){ .in = in, .mask = f->mask, .order = order, .n = n };
	for (size_t q = 0; q < n; q++) {
		const struct solver_charger *c = &in->chargers[order[q]];
		int w = solver_mask_width(r->mask[order[q]]);

		wide |= w > 1 && c->ev_phases_seen && f->cap_a[order[q]] - out_a[order[q]] >= PHASE_MOVE_MIN_A;
		narrow |= w < 3 && out_a[order[q]] > c->min_a;
	}
	if (!wide || !narrow)
		return 1;
	if (!(r->head = malloc((nn * (FILL_K + 3 + 6) + 1) * sizeof(double))))
		return -ENOMEM;
	r->above = r->head + nn * (FILL_K + 3);
	headroom_left(f, out_a, r->head, r->head + nn * FILL_K);
	memset(r->above, 0, nn * 6 * sizeof(double));
	for (size_t q = 0; q < n; q++)
		note_above(r, order[q], 0, out_a[order[q]]);
	return 0;
}

/* Makes r's lists (they hold no current: the same whenever they are made); 0 or -ENOMEM. */
static int rebalance_lists(struct rebalance *r)
{
	size_t lists = r->in->n_nodes * 3;

	r->start = calloc(lists + 1, sizeof(size_t));
	r->cursor = calloc(lists + 1, sizeof(size_t));
	if (!r->start || !r->cursor)
		return -ENOMEM;
	list_narrow(r, false);
	for (size_t x = 0; x < lists; x++)
		r->start[x + 1] += r->start[x];
	if (!(r->ev = malloc((r->start[lists] + 1) * sizeof(size_t))))
		return -ENOMEM;
	memcpy(r->cursor, r->start, lists * sizeof(size_t));
	list_narrow(r, true);
	memcpy(r->cursor, r->start, lists * sizeof(size_t));
	return 0;
}

static void rebalance_fini(struct rebalance *r)
{
	free(r->head);
	free(r->ev);
	free(r->start);
	free(r->cursor);
}

/* gain_by_phase at node k: each gain[p] of at least `least` is cut to what the node leaves;
 * whether one still is. */
static bool gain_at(const struct rebalance *r, int k, unsigned mask, int w, double least, double *gain)
{
	const double *h = &r->head[(size_t)k * FILL_K], *ab = &r->above[(size_t)k * 6];
	double kw = h[FILL_KW] / r->in->voltage_v;
	bool any = false;

	for (int p = 0; p < 3; p++) {
		double g = h[p] + ab[p] + (w > 2 ? ab[3 + p] : 0);

		if (!(gain[p] >= least))
			continue;
		for (int q = 0; q < 3; q++)
			if (q != p && (mask & (1u << q)) && h[q] < g)
				g = h[q];
		if (kw < HUGE_VAL) {    /* w g - cut <= kw, cut = max(0, g - h[p]) */
			double lim = kw >= w * h[p] ? (kw - h[p]) / (w - 1) : kw / w;

			g = lim < g ? lim : g;
		}
		gain[p] = g < gain[p] ? g : gain[p];
		any |= gain[p] >= least;
	}
	return any;
}

/* The most charger i (of width w) may gain with one phase p cut from narrower EVs, for each p
 * (gain[p]; 0 for a phase not its own), stopping as soon as none can gain `least` (at least
 * PHASE_MOVE_MIN_A; a gain only falls node by node, and one below `least` is not taken). On each
 * node of its path: its other phases, p's headroom plus what narrower EVs hold there above their
 * minimum, and the kW row, in which every amp cut from a single-phase EV frees one phase's worth.
 * A gain is the least over the nodes, in any order: the grid node goes first, where on a scarce
 * site most EVs find no room (bench_solver's deadline row: all 460 tried per solve). */
static void gain_by_phase(const struct rebalance *r, size_t i, int w, double want, double least, double *gain)
{
	const struct solver_input *in = r->in;
	unsigned mask = r->mask[i];

	for (int p = 0; p < 3; p++)
		gain[p] = mask & (1u << p) ? want : 0;
	if (!gain_at(r, 0, mask, w, least, gain))
		return;
	for (int k = in->chargers[i].node; k > 0; k = in->nodes[k].parent)
		if (!gain_at(r, k, mask, w, least, gain))
			return;
}

/* Charger i gains `a` on phase p (of its own): the narrower EVs on p are cut where its node and
 * each above it are short of it, the deepest first (a cut there also makes room above), most
 * laxity first. */
static void move_phase(struct rebalance *r, size_t i, int p, double a, double *out_a)
{
	const struct solver_input *in = r->in;
	int w = solver_mask_width(r->mask[i]);

	for (int k = in->chargers[i].node; k >= 0; k = in->nodes[k].parent) {
		size_t x = (size_t)k * 3 + (size_t)p, end = r->start[x + 1];
		double *h = &r->head[(size_t)k * FILL_K + p];

		for (size_t e = r->cursor[x]; e < end && a - *h > 1e-9; e++) {
			size_t j = r->ev[e];
			double t = fmin(a - *h, out_a[j] - in->chargers[j].min_a);

			if (solver_mask_width(r->mask[j]) >= w || !(t > 0))
				continue;
			note_above(r, j, out_a[j], out_a[j] - t);
			out_a[j] -= t;
			take(in, r->head, in->chargers[j].node, r->mask[j], -t);
		}
		/* past single-phase EVs at their minimum only: one on two phases may still gain */
		while (r->cursor[x] < end && solver_mask_width(r->mask[r->ev[r->cursor[x]]]) == 1 &&
		       !(out_a[r->ev[r->cursor[x]]] > in->chargers[r->ev[r->cursor[x]]].min_a))
			r->cursor[x]++;
	}
	note_above(r, i, out_a[i], out_a[i] + a);
	out_a[i] += a;
	take(in, r->head, in->chargers[i].node, r->mask[i], a);
}

int policy_rebalance_phases(const struct policy_fill *f, const size_t *order, size_t n, double *out_a)
{
	const struct solver_input *in = f->in;
	struct rebalance r;
	int rc = rebalance_init(&r, f, order, n, out_a), moved = 0;

	for (size_t q = 0; rc == 0 && q < n; q++) {
		size_t i = order[q];
		const struct solver_charger *c = &in->chargers[i];
		int w = solver_mask_width(r.mask[i]), best_p = -1;
		double want = f->cap_a[i] - out_a[i], best = 0, gain[3];
		/* an EV held at 0 gains its minimum or nothing */
		double least = !(out_a[i] > 0) && c->min_a > PHASE_MOVE_MIN_A ? c->min_a : PHASE_MOVE_MIN_A;

		/* only an EV that has shown its phases: one counted on all three until it draws may
		 * well be a single-phase car */
		if (w < 2 || !c->ev_phases_seen || want < PHASE_MOVE_MIN_A)
			continue;
		gain_by_phase(&r, i, w, want, least, gain);
		for (int p = 0; p < 3; p++)
			if (gain[p] > best)
				best = gain[p], best_p = p;
		if (best_p < 0 || best < least)
			continue;
		if (!r.ev && (rc = rebalance_lists(&r)) < 0)
			break;
		move_phase(&r, i, best_p, best, out_a);
		moved++;
	}
	rebalance_fini(&r);
	return rc < 0 ? rc : moved;
}

