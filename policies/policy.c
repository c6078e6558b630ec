/* The policy table and what several policies share (energy need, laxity).
 *
 * Key design decision: policies are reached only through this const table of accessors, so
 * adding one is one file plus one line here, and no policy object is an extern variable. */
#include "policies/policy.h"
#include "policies/policy-private.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct policy_ops *(*const table[])(void) = {
	policy_fair_ops,
	policy_priority_ops,
	policy_deadline_ops,
	policy_cost_ops,
	policy_plan_ops,
};

const struct policy_ops *policy_at(size_t i)
{
	return i < sizeof(table) / sizeof(table[0]) ? table[i]() : NULL;
}

const struct policy_ops *policy_find(const char *name)
{
	const struct policy_ops *p;

	for (size_t i = 0; name && (p = policy_at(i)); i++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

int64_t policy_need_ms(const struct solver_input *in, const struct solver_charger *c)
{
	double power_w = solver_cap_a(in, c) * in->voltage_v * __builtin_popcount(solver_phase_mask(c));

	if (!(c->energy_need_wh > 0) || !(power_w > 0))
		return 0;
	return (int64_t)(c->energy_need_wh / power_w * 3.6e6 + 0.5);
}

int64_t policy_laxity_ms(const struct solver_input *in, const struct solver_charger *c, int64_t now_ms)
{
	if (c->departure_ms <= 0 || !(c->energy_need_wh > 0))
		return INT64_MAX;
	return c->departure_ms - now_ms - policy_need_ms(in, c);
}

int policy_by_laxity(const struct solver_input *in, int64_t now_ms, size_t i, struct policy_decision *d)
{
	int64_t lax = policy_laxity_ms(in, &in->chargers[i], now_ms);

	d->cls = lax <= 0 ? 0 : 1;
	d->rank = (double)lax;
	return lax == INT64_MAX ? 0 : 1;
}

enum { FILL_KW = 3, FILL_K = 4 };       /* headroom per node: L1..L3 in A, kW in W */

void policy_effective_load(const struct solver_node *nodes, size_t n, double *nv)
{
	memset(nv, 0, n * 3 * sizeof(double));
	for (size_t i = n; i-- > 0;)
		for (int p = 0; p < 3; p++) {
			nv[i * 3 + p] = fmax(nodes[i].non_ev_a[p], nv[i * 3 + p]);
			if (i)
				nv[nodes[i].parent * 3 + p] += nv[i * 3 + p];
		}
}

double policy_fixed_a(const struct solver_input *in, const struct solver_charger *c)
{
	return c->link == SOLVER_UNCONTROLLED ? c->max_a : c->fallback_a > 0 ? c->fallback_a : in->fallback_a;
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
	for (int k = node; k >= 0; k = in->nodes[k].parent) {
		for (int p = 0; p < 3; p++)
			head[(size_t)k * FILL_K + p] -= mask & (1u << p) ? a : 0;
		head[(size_t)k * FILL_K + FILL_KW] -= a * in->voltage_v * __builtin_popcount(mask);
	}
}

/* The most of `a` that fits on c's path (phases in mask) under the headroom left. */
static double fits(const struct solver_input *in, const double *head, const struct solver_charger *c, unsigned mask,
		   double a)
{
	int nph = __builtin_popcount(mask);

	for (int k = c->node; k >= 0; k = in->nodes[k].parent) {
		const double *h = &head[(size_t)k * FILL_K];

		for (int p = 0; p < 3; p++)
			if (mask & (1u << p))
				a = fmin(a, h[p]);
		a = fmin(a, h[FILL_KW] / (in->voltage_v * nph));
	}
	return a;
}

int policy_fill_in_order(const struct solver_input *in, const size_t *order, size_t n, size_t n_full, double *out_a)
{
	double *head = malloc((in->n_nodes * (FILL_K + 3) + 1) * sizeof(double)), *nv;

	if (!head)
		return -ENOMEM;
	nv = head + in->n_nodes * FILL_K;
	fill_headroom(in, head, nv);
	/* Chargers not online draw their fallback (or max) whatever is decided: taken first. */
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];
		unsigned mask = solver_phase_mask(c);

		if (c->link != SOLVER_ONLINE)
			take(in, head, c->node, mask, policy_fixed_a(in, c));
	}
	for (size_t q = 0; q < n; q++) {
		const struct solver_charger *c = &in->chargers[order[q]];
		unsigned mask = solver_phase_mask(c);
		double a = fits(in, head, c, mask, q < n_full ? solver_cap_a(in, c) : c->min_a);

		out_a[order[q]] = a >= c->min_a && a > 0 ? a : 0;       /* 0 or at least the minimum */
		if (out_a[order[q]] > 0)
			take(in, head, c->node, mask, a);
	}
	/* A probed EV (solver.h ev_probe) is then offered what is left on its path, as the solver does. */
	for (size_t q = 0; q < n_full && q < n; q++) {
		const struct solver_charger *c = &in->chargers[order[q]];
		unsigned mask = solver_phase_mask(c);
		double a;

		if (!c->ev_probe || !c->ev_limited || !(out_a[order[q]] > 0) || !(c->max_a > out_a[order[q]]))
			continue;
		if ((a = fits(in, head, c, mask, c->max_a - out_a[order[q]])) > 0) {
			out_a[order[q]] += a;
			take(in, head, c->node, mask, a);
		}
	}
	free(head);
	return 0;
}
