/* The non-EV load at a metered node while EVs ramp; see non-ev.h.
 *
 * Key design decision: the held estimate is clamped to what the reading allows, never trusted
 * beyond it. The non-EV load is at least the reading less the most the chargers may draw, and at
 * most the reading less the least they may draw; a building load that rises while an EV ramps
 * still shows as soon as it is larger than the EVs' possible part, and at the node's limit the
 * reading decides alone. */
#include "edge/site/non-ev.h"

#include <math.h>

double non_ev_estimate(struct non_ev_hold *h, const struct non_ev_reading *r)
{
	double reported = fmax(0, r->meter_a - r->ev_a) + r->hidden_hi_a;
	bool ramping = r->ev_hi_a > r->ev_lo_a || r->hidden_hi_a > r->hidden_lo_a;

	if (!ramping || !h->valid || (r->limit_a > 0 && r->meter_a > r->limit_a)) {
		*h = (struct non_ev_hold){ .a = reported, .valid = true };
		return reported;
	}
	double least = fmax(0, r->meter_a - r->ev_hi_a) + r->hidden_lo_a;
	double most = fmax(0, r->meter_a - r->ev_lo_a) + r->hidden_hi_a;
	/* What the reading is above the target is non-EV load now: added as it grows, once (the EVs
	 * take a second to follow a lower limit, and adding it at every reading until they did
	 * lowered them several times over). */
	double over = r->target_a > 0 ? fmax(0, r->meter_a - r->target_a) : 0;
	double a = h->a + fmax(0, over - h->over_a);
	h->over_a = over;
	h->a = fmin(fmax(a, least), most);
	return h->a;
}

bool non_ev_ramping(uint64_t changed_ms, uint64_t reading_ms, uint64_t settle_ms, uint64_t max_ms, uint64_t now)
{
	return changed_ms && reading_ms < changed_ms + settle_ms && now < changed_ms + max_ms;
}
