/* An EV's draw while it ramps to a new limit and after; see ev-ramp.h.
 *
 * Key design decision: when the ramp is over and no meter value has said what the EV draws, its
 * draw is pinned at what the estimate implied, not taken back to its last report, so from then on
 * every rise of the meter's reading is non-EV load again; and the next ramp starts from the best
 * known draw (a newer report, else what the last solve counted), so a pin's correction is not
 * undone by a report older than it. */
#include "edge/site/ev-ramp.h"

#include <math.h>
#include <string.h>

/* How long after a limit change a ramp or pin lasts without a meter value taken after it: the
 * EV's ramp, then one meter interval (at least 5 s) and a second. */
static uint64_t pin_max_ms(int meter_interval_s)
{
	return EV_SETTLE_MS + 1000 * (uint64_t)((meter_interval_s > 5 ? meter_interval_s : 5) + 1);
}

void ev_ramp_update(struct ev_ramp *e, const struct ev_ramp_reading *r, uint64_t now)
{
	uint64_t changed_ms = r->changed_ms, report_ms = r->report_ms;
	bool unsettled = r->known && report_ms < changed_ms + EV_SETTLE_MS && now < changed_ms + pin_max_ms(r->meter_interval_s);
	bool new_report = report_ms != e->report_ms, carried = e->ramping || e->pinned;

	e->unpinned = false;
	if (!unsettled || changed_ms < e->changed_ms) {
		/* settled, or a change that was refused or timed out (back to an older one) */
		e->unpinned = e->pinned && new_report;
		e->unpinned_ms = e->changed_ms;
		for (int k = 0; k < SOLVER_PHASES; k++)
			e->unpinned_a[k] = e->unpinned ? e->implied_a[k] - r->draw_a[k] : 0;
		e->ramping = e->pinned = false;
		e->changed_ms = unsettled ? changed_ms : 0;
	} else if (changed_ms != e->changed_ms) {
		/* a new limit: its ramp starts from the best known draw: a report newer than the last
		 * solve, else what that solve counted (a pin, a ramp's implied draw, a capped report) */
		for (int k = 0; k < SOLVER_PHASES; k++)
			e->from_a[k] = new_report ? r->draw_a[k] : carried ? e->implied_a[k] : e->draw_est_a[k];
		e->changed_ms = changed_ms;
		e->ramping = now < changed_ms + EV_SETTLE_MS;   /* else first seen after it: the report */
		e->pinned = false;
	} else {
		if (new_report)                 /* a meter value taken mid-ramp: from it on */
			memcpy(e->from_a, r->draw_a, sizeof(e->from_a));
		e->pinned = (e->ramping || e->pinned) && now >= changed_ms + EV_SETTLE_MS;
		e->ramping = now < changed_ms + EV_SETTLE_MS;
	}
	e->report_ms = report_ms;
	/* A report older than the EV's time to follow its limit says no more than the limit: after a
	 * decrease (refused raise, or a pin that timed out) the EV draws at most that, and counting
	 * the older, higher report hid the difference from the meter's load. */
	bool capped = r->known && !e->ramping && !e->pinned && now >= changed_ms + EV_SETTLE_MS &&
		      report_ms < changed_ms + EV_SETTLE_MS;
	for (int k = 0; k < SOLVER_PHASES; k++) {
		double a = e->pinned ? e->implied_a[k] : e->ramping ? e->from_a[k] : r->draw_a[k];
		if (capped)
			a = fmin(a, r->hi_a);
		e->draw_est_a[k] = a;
		e->draw_lo_a[k] = e->ramping && r->counted[k] ? fmin(a, r->lo_a) : a;
		e->draw_hi_a[k] = e->ramping && r->counted[k] ? fmax(a, r->hi_a) : a;
		if (!e->pinned)
			e->implied_a[k] = a;    /* the caller moves it while the EV ramps */
		if (e->ramping) {
			e->pin_lo_a[k] = e->draw_lo_a[k];
			e->pin_hi_a[k] = e->draw_hi_a[k];
		}
	}
}

/* A meter value ended a charger's pin: what the pin counted above (or below) the EV's real draw
 * was drawn by the others still pinned at the same meter and phase whose ramps ran with its own
 * (the estimate split the rise among all that ramped then). Moved onto them, within what each
 * may draw, so the node's EV draw stays as the meter showed it: left where it was, the site
 * counted the first EV's error as EV draw, building load it did not see. Not onto an EV whose
 * ramp did not overlap: the rise was never split with it. */
bool ev_ramp_shares_pin(const struct ev_ramp *e, const struct ev_ramp *ended)
{
	uint64_t a = ended->unpinned_ms, b = e->changed_ms;

	return e->pinned && (a > b ? a - b : b - a) < EV_SETTLE_MS;
}

double ev_ramp_take_error(struct ev_ramp *e, int k, double error_a)
{
	double to = fmin(e->pin_hi_a[k], fmax(e->pin_lo_a[k], e->implied_a[k] + error_a));

	error_a -= to - e->implied_a[k];
	e->implied_a[k] = e->draw_est_a[k] = e->draw_lo_a[k] = e->draw_hi_a[k] = to;
	return error_a;
}
