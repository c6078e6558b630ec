/* `cost`: shift energy to cheap periods of a price schedule while still meeting departures.
 *
 * Key design decision: the rule is local and re-evaluated every solve: an EV with a departure and
 * an energy need is deferred ("paused: price") only while the strictly cheaper time still ahead
 * before its departure is at least COST_SAFETY times what it needs at its cap; otherwise it
 * charges now, least laxity first (as `deadline`). EVs without a departure charge now: shifting
 * them could miss a departure nobody told us. Equal prices never defer. */
#include "policies/policy-private.h"

#define COST_SAFETY 1.25

/* Time in [now_ms, until_ms) priced strictly below the price at now_ms; -1 if no slot covers now. */
static int64_t cheaper_ms(const struct price_slot *ps, size_t n, int64_t now_ms, int64_t until_ms)
{
	size_t cur = n;
	int64_t total = 0;

	for (size_t i = 0; i < n && ps[i].start_ms <= now_ms; i++)
		cur = i;
	if (cur == n)
		return -1;
	for (size_t i = cur + 1; i < n && ps[i].start_ms < until_ms; i++) {
		int64_t end = i + 1 < n && ps[i + 1].start_ms < until_ms ? ps[i + 1].start_ms : until_ms;

		if (ps[i].price < ps[cur].price && end > ps[i].start_ms)
			total += end - ps[i].start_ms;
	}
	return total;
}

static int cost_decide(const struct solver_input *in, int64_t now_ms, struct policy_decision *out)
{
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];
		int64_t cheap;

		if (!c->ev || !policy_by_laxity(in, now_ms, i, &out[i]) || out[i].cls == 0 || !in->prices)
			continue;
		cheap = cheaper_ms(in->prices, in->n_prices, now_ms, c->departure_ms);
		out[i].defer = cheap >= 0 && (double)cheap >= COST_SAFETY * (double)policy_need_ms(in, c);
	}
	return 0;
}

const struct policy_ops *policy_cost_ops(void)
{
	static const struct policy_ops ops = { .name = "cost", .decide = cost_decide };

	return &ops;
}
