/* `deadline`: least laxity first, then fair. Laxity is the time to departure minus the time the
 * energy need takes at the EV's cap (policy_laxity_ms).
 *
 * Key design decision: an EV with no laxity left is put in a strict class of its own (it gets all
 * it can first); every other EV shares fairly and laxity only orders admission under scarcity.
 * EVs without departure or need rank after all that have one. */
#include "policies/policy-private.h"

static int deadline_decide(const struct solver_input *in, int64_t now_ms, struct policy_decision *out)
{
	for (size_t i = 0; i < in->n_chargers; i++)
		policy_by_laxity(in, now_ms, i, &out[i]);
	return 0;
}

const struct policy_ops *policy_deadline_ops(void)
{
	static const struct policy_ops ops = { .name = "deadline", .decide = deadline_decide };

	return &ops;
}
