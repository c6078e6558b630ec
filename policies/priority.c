/* `priority`: classes from the charger's configured priority (1 first), fair within a class.
 *
 * Key design decision: classes are strict (class 1 is filled to its limits before class 2 gets
 * more than its minimum), not large weights, so a bus on priority 1 never loses current to a
 * visitor car on priority 3; rotation still keeps any waiting EV from starving. */
#include "policies/policy-private.h"

static int priority_decide(const struct solver_input *in, int64_t now_ms, struct policy_decision *out)
{
	(void)now_ms;
	for (size_t i = 0; i < in->n_chargers; i++)
		out[i].cls = in->chargers[i].priority > 1 ? in->chargers[i].priority - 1 : 0;
	return 0;
}

const struct policy_ops *policy_priority_ops(void)
{
	static const struct policy_ops ops = { .name = "priority", .decide = priority_decide };

	return &ops;
}
