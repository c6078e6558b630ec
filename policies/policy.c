/* The policy table and what several policies share (energy need, laxity).
 *
 * Key design decision: policies are reached only through this const table of accessors, so
 * adding one is one file plus one line here, and no policy object is an extern variable. */
#include "policies/policy.h"
#include "policies/policy-private.h"

#include <math.h>
#include <stdint.h>
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

static int64_t need_ms(const struct solver_charger *c, double power_w)
{
	if (!(c->energy_need_wh > 0) || !(power_w > 0))
		return 0;
	return (int64_t)(c->energy_need_wh / power_w * 3.6e6 + 0.5);
}

/* At its cap on its phases. */
static double ev_power_w(const struct solver_input *in, const struct solver_charger *c)
{
	return solver_cap_a(in, c) * in->voltage_v * solver_mask_width(solver_phase_mask(c));
}

int64_t policy_need_ms(const struct solver_input *in, const struct solver_charger *c)
{
	return need_ms(c, ev_power_w(in, c));
}

int64_t policy_laxity_at_ms(const struct solver_charger *c, double power_w, int64_t now_ms)
{
	if (c->departure_ms <= 0 || !(c->energy_need_wh > 0))
		return INT64_MAX;
	return c->departure_ms - now_ms - need_ms(c, power_w);
}

/* The time its need takes at the cap is the time left minus the laxity. */
double policy_share_at_departure(const struct solver_charger *c, int64_t lax_ms, int64_t now_ms)
{
	double left_ms = fmax((double)(c->departure_ms - now_ms), 0), need_ms = left_ms - (double)lax_ms;

	return (c->energy_done_wh + c->energy_need_wh * fmin(left_ms / need_ms, 1.0)) /
	       (c->energy_done_wh + c->energy_need_wh);
}

int64_t policy_laxity_ms(const struct solver_input *in, const struct solver_charger *c, int64_t now_ms)
{
	return policy_laxity_at_ms(c, ev_power_w(in, c), now_ms);
}

/* A single-phase car on a 3-phase charger loads one phase of three: on bench_replay's 3-phase demo
 * depot days with every maximum told, skipping the show for such EVs cost `plan` up to 0.3 points
 * of the request. */
bool policy_showing_max(const struct solver_input *in, const struct solver_charger *c, int64_t now_ms)
{
	bool known = c->ev_max_told && (c->phases == 1 || c->ev_phases_seen);

	return c->plugged_ms > 0 && now_ms - c->plugged_ms < in->show_max_ms && !c->ev_limited && !known &&
	       !c->ev_max_shown;
}

int policy_by_laxity(const struct solver_input *in, int64_t now_ms, size_t i, struct policy_decision *d)
{
	int64_t lax = policy_laxity_ms(in, &in->chargers[i], now_ms);

	d->cls = lax <= 0 ? 0 : 1;
	d->rank = (double)lax;
	return lax == INT64_MAX ? 0 : 1;
}

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
