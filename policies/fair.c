/* `fair`: every EV the same share (equal weights, one class, admission by rotation only).
 *
 * Key design decision: nothing to decide: the solver's defaults are the fair policy, so this
 * file exists to give the name a table entry and to keep "fair" explicit in the config. */
#include "policies/policy-private.h"

static int fair_decide(const struct solver_input *in, int64_t now_ms, struct policy_decision *out)
{
	(void)in;
	(void)now_ms;
	(void)out;
	return 0;
}

const struct policy_ops *policy_fair_ops(void)
{
	static const struct policy_ops ops = { .name = "fair", .decide = fair_decide };

	return &ops;
}
