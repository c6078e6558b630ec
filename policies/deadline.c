/* `deadline`: least laxity first. Laxity is the time to departure minus the time the energy need
 * takes at the EV's cap (policy_laxity_ms). EVs are taken in laxity order and each gets all it
 * can take, up to its cap, before the next gets anything (the sorted greedy,
 * policy_fill_in_order); an EV for which less than its minimum is left waits ("paused: rotation")
 * and the next one is tried. EVs without a departure or a need come last: those whose minimum
 * still fits after all the others share what is left fairly, the rest wait. The earlier rule (a
 * class only for EVs with no laxity left, fair sharing for the rest) delivered less than a sorted
 * greedy, because an EV that could still finish was held at a fair share until it could not.
 *
 * Key design decision: the policy computes the allocation and the solver reproduces it. The
 * solver admits every minimum first when they all fit, which would spread 6 A over every EV
 * before the least-laxity one got its cap; so the policy holds those the allocation leaves out,
 * puts those at their cap in the first class (they all fit at once) and those part way after
 * them: one class each in laxity order (each gets what is left, which is what the greedy gave
 * it), or, once the rebalance below has moved current, one class weighted by their current
 * (solver.c fills a class by weighted max-min from the minimums up, and each EV's current is the
 * most that fits once the others have theirs, so each stops at its own; one weighted class for
 * all made the solve at 1,000 chargers a quarter slower). The solver enforces every limit by the
 * same code as for every policy.
 *
 * Two departures from the textbook for phases (bench_replay, generated days on the demo
 * depot, whose chargers are 3-phase with rotated wiring; the textbook is the replay's `llf`):
 * - An EV that has just plugged in is first given its minimum, ahead of the laxity order, until
 *   it has shown the phases it draws on (PHASES_SHOWN_WITHIN_MS). Until then a car on a 3-phase
 *   charger counts on all three (solver.h ev_phases_seen): held at once because others had less
 *   laxity, a single-phase car never showed its phase, and once one phase was full every such car
 *   waited for room on all three while the other two had it. On a workplace day (80 % single-phase
 *   staff cars) the textbook delivers 87.1 % of the request at 0.70 of the grid's limits where
 *   99.8 % was possible, and 60.5 % at 0.45 where fair sharing delivered 73.8 %. The price: an EV
 *   with laxity to spare is paused again once it has shown its phases, one start and one stop more
 *   per session.
 * - Once known, single-phase cars filled to their cap held a phase that 3-phase EVs with more
 *   laxity needed, and those waited while the other two phases stood idle: policy_rebalance_phases
 *   then moves that phase's current, down to the narrow cars' minimum, to the EV that charges on
 *   all three with it (three times the power per amp). A generated depot day on chargers wired
 *   alike (every single-phase car on L1; replay.test.js) lost 3.3 points with the first change
 *   alone (78.3 -> 75.1 % of the request) and gains 2.2 with both (80.5 %).
 * With both: workplace days at 1.00/0.70/0.45 of the limits 99.8/99.8/72.2 % (textbook
 * 99.8/87.1/60.5), depot days 83.9/62.3/39.7 % (textbook 82.3/59.5/37.7). Urgency gives way to
 * power there: a single-phase car with little laxity may be cut to its minimum for a 3-phase EV
 * with more, since every amp moved charges three phases instead of one.
 *
 * And one for what the site must learn: a new EV is given its cap first, until a meter value shows
 * what it takes or for at most site.plan_show_max_s (policy_showing_max; after it has shown its
 * phases at its minimum, above). Its laxity is worked out at its cap, the charger's until the EV
 * draws less: a car that takes 16 A of a 32 A charger, ranked as if it took 32, was started only
 * when it had laxity left for 32 A, and then learnt to be late. bench_replay, points from the
 * optimum on the aggregate depot days at 1.00/0.70/0.45 of the grid 0.35/0.93/0.69 -> 0.03/0.58/
 * 0.75, workplace 0.70/0.45 0.51/1.28 -> 0.21/1.17; the 3-phase demo depot days, where each show
 * puts a new EV ahead of cars that cannot finish, 3.12/2.69/1.92 -> 3.15/3.04/2.47.
 *
 * And one for the chargers: an EV that charges keeps its place until a waiting one has clearly
 * less laxity (DEADLINE_KEEP_MS), where the textbook swaps cars of equal laxity every second.
 * And one for the drivers: of EVs that cannot finish, the one that would leave with the least of
 * what it asked for charges first (DEADLINE_KEEP_SHARE), where the textbook serves the most
 * negative laxity and leaves a short stay behind overnight buses with nothing. */
#include "edge/site/skey.h"
#include "policies/policy-private.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* How long after plugging in an EV is started at its minimum to show its phases: a profile, the
 * EV's ramp (EV_SETTLE_MS) and a meter value (ocpp.meter_interval_s, 10 s by default) fit in it.
 * A car that does not draw when offered (waiting for its own timer, or full) is not started for
 * this again: it then counts on all its charger's phases, as before it plugged in. */
#define PHASES_SHOWN_WITHIN_MS (2 * 60 * 1000)

/* An EV on a charger of more than one phase that reports its current per phase, recently plugged
 * in, whose phases no settled meter value has shown yet (solver.h ev_phases_seen). One that draws
 * already stays here until one has (within the 2 minutes): back in the laxity order it would be
 * counted on all three phases again, held, and started again (6, 0, 6, 0 A every few seconds on
 * a test charger). */
static bool to_show_phases(const struct solver_charger *c, int64_t now_ms)
{
	return c->phases > 1 && c->reports_current && !c->ev_phases_seen && c->plugged_ms > 0 &&
	       now_ms - c->plugged_ms < PHASES_SHOWN_WITHIN_MS;
}

/* An EV that charges keeps its place in the laxity order until a waiting one's laxity is this
 * much below its own. A charging car's laxity stands while a held one's falls, so cars of about
 * equal laxity changed places every second: bench_replay's demo depot day (300 sessions) started
 * cars from 0 A 94,183 times, 314 per session, each a profile and on most chargers a contactor
 * closing (the replay's textbook `llf` still does: 346 per session; on the daemon two cars of
 * equal laxity took turns every 2 s, deadline-phases.test.js). With 5 minutes, 4.4 per
 * session and the same energy (3.77 points from the optimum before and after); 15 minutes cost
 * up to 0.23 points on aggregate days (below the `llf` reference on two). "Charges" is the last
 * solve's decision (solver_charger.running), not a meter value: a charger that sends none while
 * its car waits, or one every 15 minutes, would have kept a stale draw. */
#define DEADLINE_KEEP_MS (5 * 60 * 1000)

/* Of EVs that cannot finish by their departure, the one that will have the least of what it
 * asked for charges first: its share at its departure if it charged at its cap from now on
 * (policy_share_at_departure). Ranked by laxity, as the textbook does, the most negative (a bus
 * that needs 14 hours and stays 8) charged first, so a short stay that could no longer finish waited
 * behind every overnight bus and left with nothing; and ranked by departure, an overnight car
 * with laxity to spare waited until it had none, then behind every bus leaving earlier, and left
 * with 7 %. bench_replay's shortest-served session under deadline, on the 12 generated days:
 * 0-0.6 % on 7 of them (fair sharing's: 4.3-20.9 %); now 9.2-31.9 %, above fair's on every
 * day, each day's energy as before or better (demo depot 0.45: 2.96 -> 2.61 points below the
 * optimum), starts per EV 1.4-5.5 (were 1.4-8.3).
 * The share of a charging EV stands while a waiting one's falls: it keeps its place until a
 * waiting one's share is DEADLINE_KEEP_SHARE below its own, as DEADLINE_KEEP_MS above. */
#define DEADLINE_KEEP_SHARE 0.05

/* An EV's place in the order (lower first): those showing their phases at their minimum, then
 * those with a departure and a need showing what they take at their cap (policy_showing_max, the
 * earliest plugged in first; without them there is no laxity to get right),
 * then those that cannot finish by their share at departure, then the others by laxity, then those
 * without a departure or a need. A charging EV is held at its place by DEADLINE_KEEP_MS and
 * DEADLINE_KEEP_SHARE. */
static struct skey deadline_key(const struct policy_fill *f, size_t i, int64_t now_ms)
{
	const struct solver_charger *c = &f->in->chargers[i];
	int64_t lax = policy_fill_laxity_ms(f, i, now_ms), held;

	if (to_show_phases(c, now_ms))
		return (struct skey){ { -HUGE_VAL, 0, 0 }, (uint32_t)i };
	if (lax != INT64_MAX && policy_showing_max(f->in, c, now_ms))
		return (struct skey){ { -1, (double)c->plugged_ms, 0 }, (uint32_t)i };
	if (lax == INT64_MAX)
		return (struct skey){ { HUGE_VAL, 0, 0 }, (uint32_t)i };
	held = lax - (c->running ? DEADLINE_KEEP_MS : 0);
	if (held < 0) {
		double share = policy_share_at_departure(c, lax, now_ms) - (c->running ? DEADLINE_KEEP_SHARE : 0);

		return (struct skey){ { 0, share, 0 }, (uint32_t)i };
	}
	return (struct skey){ { 1, (double)held, 0 }, (uint32_t)i };
}

/* The EVs sort by deadline_key, then index: skey_sort (solver's key sort), as qsort_r by a
 * callback cost 12 % of the solve at 1,000 chargers. */
static int deadline_decide(const struct solver_input *in, int64_t now_ms, struct policy_decision *out)
{
	size_t *order = malloc((in->n_chargers + 1) * sizeof(*order)), n = 0, n_first, n_full;
	double *a = calloc(in->n_chargers + 1, sizeof(*a));
	struct skey *keys = malloc((2 * in->n_chargers + 1) * sizeof(*keys));
	struct policy_fill f;
	int rc = policy_fill_init(&f, in), moved = 0;

	if (!order || !a || !keys || rc < 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < in->n_chargers; i++)
		if (in->chargers[i].ev && in->chargers[i].link == SOLVER_ONLINE)
			keys[n++] = deadline_key(&f, i, now_ms);
	skey_sort(keys, keys + n, n);
	/* the solver admits minimums within a class by rank: in this order */
	for (size_t q = 0; q < n; q++) {
		order[q] = keys[q].idx;
		out[order[q]].rank = isinf(keys[q].k[0]) ? keys[q].k[0] : (double)q;
	}
	for (n_first = 0; n_first < n && keys[n_first].k[0] == -HUGE_VAL; n_first++)
		;
	for (n_full = n_first; n_full < n && keys[n_full].k[0] < HUGE_VAL; n_full++)
		;
	if ((rc = policy_fill_in_order(&f, order, n, n_first, n_full, a)) < 0 ||
	    (rc = moved = policy_rebalance_phases(&f, order + n_first, n_full - n_first, a)) < 0)
		goto out;
	rc = 0;
	/* EVs at their cap first (class 0). Those part way: as the greedy left them, one class each
	 * in laxity order, each then getting what is left, which is what the greedy gave it (the
	 * solver's arithmetic then is the greedy's, to the last bit: with weights, runs of the
	 * replay drifted from its `llf` by 1e-9 A that crossed the EV-cap thresholds); after a
	 * rebalance, one class weighted by their current (see the top). EVs given only their
	 * minimum (to show their phases; without a departure or a need) last, sharing what the
	 * others leave. */
	for (size_t q = 0, cls = 1; q < n; q++) {
		size_t i = order[q];

		out[i].hold = !(a[i] > 0);
		if (q < n_first || q >= n_full) {
			out[i].cls = (int)in->n_chargers + 1;
		} else if (out[i].hold || a[i] >= f.cap_a[i] - 1e-9) {
			out[i].cls = 0;
		} else {
			out[i].cls = moved ? 1 : (int)cls++;
			out[i].weight = moved ? a[i] : 1.0;
		}
	}
out:
	policy_fill_fini(&f);
	free(order);
	free(a);
	free(keys);
	return rc;
}

const struct policy_ops *policy_deadline_ops(void)
{
	static const struct policy_ops ops = { .name = "deadline", .decide = deadline_decide };

	return &ops;
}
