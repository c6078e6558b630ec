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
	/* What the reading is above the target is non-EV load now: added as it grows, once (the EVs
	 * take a second to follow a lower limit, and adding it at every reading until they did
	 * lowered them several times over). */
	double over = r->target_a > 0 ? fmax(0, r->meter_a - r->target_a) : 0;

	if (!ramping || !h->valid || (r->limit_a > 0 && r->meter_a > r->limit_a)) {
		*h = (struct non_ev_hold){ .a = reported, .over_a = over, .valid = true };
		return reported;
	}
	double least = fmax(0, r->meter_a - r->ev_hi_a) + r->hidden_lo_a;
	double most = fmax(0, r->meter_a - r->ev_lo_a) + r->hidden_hi_a;
	double a = h->a + fmax(0, over - h->over_a);
	h->over_a = over;
	h->a = fmin(fmax(a, least), most);
	/* What the chargers draw as the estimate has it, with the least the reading may hide: the
	 * lower draw, so that a draw pinned from it counts the more non-EV load. */
	double ev = fmin(r->ev_hi_a, fmax(r->ev_lo_a, r->meter_a + r->hidden_lo_a - h->a));
	h->toward = ev > r->ev_a ? (ev - r->ev_a) / (r->ev_hi_a - r->ev_a) : ev < r->ev_a ? -(r->ev_a - ev) / (r->ev_a - r->ev_lo_a) : 0;
	return h->a;
}

double non_ev_implied_a(const struct non_ev_hold *h, double reported_a, double lo_a, double hi_a)
{
	return h->toward >= 0 ? reported_a + h->toward * (hi_a - reported_a) : reported_a + h->toward * (reported_a - lo_a);
}
