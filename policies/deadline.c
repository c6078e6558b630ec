/* `deadline`: least laxity first, the textbook way. Laxity is the time to departure minus the
 * time the energy need takes at the EV's cap (policy_laxity_ms). EVs are taken in laxity order
 * and each gets all it can take, up to its cap, before the next gets anything; an EV for which
 * less than its minimum is left waits ("paused: rotation") and the next one is tried.
 *
 * Key design decision: the solver fills classes strictly in order but admits every minimum
 * first when they all fit, which would spread 6 A over every EV before the least-laxity one got
 * its cap. So the policy runs the sorted greedy itself (policy_fill_in_order) to find who gets
 * nothing this solve and holds those; the rest are classed so that the solver's strict class
 * order reproduces the greedy (see below), and the solver enforces every limit by the same code
 * as for every policy. EVs without a departure or a need come last: those whose minimum still
 * fits after all the others share what is left fairly, the rest wait. The earlier rule (a class only for EVs
 * with no laxity left, fair sharing for the rest) delivered less than a sorted greedy, because
 * an EV that could still finish was held at a fair share until it could not. */
#include "policies/policy-private.h"

#include <errno.h>
#include <stdlib.h>

static int by_rank(const void *a, const void *b, void *arg)
{
	const struct policy_decision *d = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (d[x].rank != d[y].rank)
		return d[x].rank < d[y].rank ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int deadline_decide(const struct solver_input *in, int64_t now_ms, struct policy_decision *out)
{
	size_t *order = malloc((in->n_chargers + 1) * sizeof(*order)), n = 0, n_full;
	double *a = calloc(in->n_chargers + 1, sizeof(*a));
	int rc = 0;

	if (!order || !a) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];
		int64_t lax = policy_laxity_ms(in, c, now_ms);

		if (!c->ev || c->link != SOLVER_ONLINE)
			continue;
		order[n++] = i;
		out[i].rank = lax == INT64_MAX ? 1e300 : (double)lax;
	}
	qsort_r(order, n, sizeof(*order), by_rank, out);
	for (n_full = 0; n_full < n && out[order[n_full]].rank < 1e300; n_full++)
		;
	if ((rc = policy_fill_in_order(in, order, n, n_full, a)) < 0)
		goto out;
	/* Those the greedy fills to their cap all fit at once: one class, filled first. Those it
	 * fills part way follow one class each, in laxity order: each then gets what is left, which
	 * is what the greedy gave it (an EV after it at its cap shares none of its binding limits).
	 * So the solver's class loop runs 1 + (EVs part way) times, not once per EV. */
	for (size_t q = 0, cls = 1; q < n; q++) {
		size_t i = order[q];

		out[i].hold = !(a[i] > 0);
		if (q >= n_full)        /* no departure or need: share what is left, last */
			out[i].cls = (int)in->n_chargers + 1;
		else
			out[i].cls = out[i].hold || a[i] >= solver_cap_a(in, &in->chargers[i]) - 1e-9 ? 0 : (int)cls++;
	}
out:
	free(order);
	free(a);
	return rc;
}

const struct policy_ops *policy_deadline_ops(void)
{
	static const struct policy_ops ops = { .name = "deadline", .decide = deadline_decide };

	return &ops;
}
