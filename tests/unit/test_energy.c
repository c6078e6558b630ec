/* The battery's dispatch decision (edge/site/energy.c energy_decide): peak shaving above peak_kw,
 * leading the EVs above the connection limit, the reserve, zero export and recharge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "edge/site/energy.h"
#include "edge/site/solver.h"

static struct energy_params params(void)
{
	return (struct energy_params){ .peak_shave = true, .peak_w = 30000, .limit_w = 60000, .reserve_pct = 20,
				       .max_charge_w = 25000, .max_discharge_w = 25000, .recharge = RECHARGE_PV,
				       .recharge_w = 30000, .export_limit_w = -1 };
}

static void test_peak_shave(void **state)
{
	struct energy_params p = params();
	struct energy_decision d;
	(void)state;
	/* 27 kW building + 14 kW EVs = 41 kW: 11 kW above the 30 kW peak. */
	energy_decide(&p, &(struct energy_input){ .building_w = 27000, .ev_w = 14000, .ev_want_w = 14000, .soc_pct = 60 },
		      &d);
	assert_true(fabs(d.target_w - 11000) < 1e-6);
	/* More than it can give: its rating. */
	energy_decide(&p, &(struct energy_input){ .building_w = 50000, .ev_w = 10000, .ev_want_w = 10000, .soc_pct = 60 },
		      &d);
	assert_true(fabs(d.target_w - 25000) < 1e-6);
	/* Below peak: nothing (no PV surplus to recharge from). */
	energy_decide(&p, &(struct energy_input){ .building_w = 20000, .ev_w = 5000, .ev_want_w = 5000, .soc_pct = 60 }, &d);
	assert_true(d.target_w == 0);
	/* EVs that want 44 kW with 20 kW of building: 4 kW above the 60 kW connection limit, so the
	 * battery leads with them even though import (25 kW) is below peak. */
	p.peak_w = 60000;
	energy_decide(&p, &(struct energy_input){ .building_w = 20000, .ev_w = 5000, .ev_want_w = 44000, .soc_pct = 60 },
		      &d);
	assert_true(fabs(d.target_w - 4000) < 1e-6);
}

static void test_reserve_and_export(void **state)
{
	struct energy_params p = params();
	struct energy_decision d;
	(void)state;
	/* At reserve (with the pad): hold, and say why. */
	energy_decide(&p, &(struct energy_input){ .building_w = 40000, .soc_pct = 20.4 }, &d);
	assert_true(d.target_w == 0);
	assert_string_equal(d.why, "at reserve");
	energy_decide(&p, &(struct energy_input){ .building_w = 40000, .soc_pct = NAN }, &d);
	assert_true(d.target_w == 0);
	/* Zero export: a peak of 0 would discharge 10 kW into a 4 kW site; only 4 kW. */
	p.peak_w = 0;
	p.export_limit_w = 0;
	energy_decide(&p, &(struct energy_input){ .building_w = 4000, .building_now_w = 4000, .ev_want_w = 10000, .soc_pct = 60 },
		      &d);
	assert_true(fabs(d.target_w - 4000) < 1e-6);
}

static void test_recharge(void **state)
{
	struct energy_params p = params();
	struct energy_decision d;
	(void)state;
	/* PV surplus of 6 kW (building -8 kW, EVs 2 kW): charge 6 kW, on the latest estimate. */
	energy_decide(&p, &(struct energy_input){ .building_w = -7000, .building_now_w = -8000, .ev_w = 2000, .soc_pct = 50 },
		      &d);
	assert_true(fabs(d.target_w + 6000) < 1e-6);
	/* Under an export limit, 500 W more: a small import rather than a small export. */
	p.export_limit_w = 0;
	energy_decide(&p, &(struct energy_input){ .building_w = -7000, .building_now_w = -8000, .ev_w = 2000, .soc_pct = 50 },
		      &d);
	assert_true(fabs(d.target_w + 6500) < 1e-6);
	p.export_limit_w = -1;
	/* Full: hold. */
	energy_decide(&p, &(struct energy_input){ .building_w = -8000, .ev_w = 2000, .soc_pct = 100 }, &d);
	assert_true(d.target_w == 0);
	/* any: up to the import ceiling (30 kW) less what the site draws (18 kW). */
	p.recharge = RECHARGE_ANY;
	energy_decide(&p, &(struct energy_input){ .building_w = 12000, .ev_w = 6000, .soc_pct = 50 }, &d);
	assert_true(fabs(d.target_w + 12000) < 1e-6);
	p.recharge = RECHARGE_OFF;
	energy_decide(&p, &(struct energy_input){ .building_w = -8000, .soc_pct = 50 }, &d);
	assert_true(d.target_w == 0);
	/* mode off: the battery's own control (NAN: nothing written). */
	p.peak_shave = false;
	energy_decide(&p, &(struct energy_input){ .building_w = 90000, .soc_pct = 50 }, &d);
	assert_true(isnan(d.target_w));
}

/* A peak target below the connection's limit (30 of 60 kW): the EVs count only the discharge
 * beyond the 30 kW gap, the battery leads them only once the site is at the limit, and its
 * recharge leaves the EVs what they want first. Before: a congested site's EVs took the whole
 * discharge (import stayed at the limit), a feeder-bound site drained the battery at 25 kW import,
 * and recharging took room a ramping EV was about to use. */
static void test_peak_below_limit(void **state)
{
	struct energy_params p = params();
	struct energy_decision d;
	(void)state;
	assert_true(energy_counted_w(&p, 25000) == 0);
	assert_true(fabs(energy_counted_w(&p, 40000) - 10000) < 1e-6);
	p.peak_shave = false;
	assert_true(fabs(energy_counted_w(&p, 25000) - 25000) < 1e-6);
	p.peak_shave = true;
	/* 20 kW drawn, 70 kW wanted but held back by something else (import far below the limit):
	 * nothing to shave and nobody the battery could serve. */
	energy_decide(&p, &(struct energy_input){ .building_w = 0, .ev_w = 20000, .ev_want_w = 70000, .soc_pct = 60 }, &d);
	assert_true(d.target_w == 0);
	/* At the limit (60 kW) wanting 90: the gap (30) plus what they want beyond the limit (30),
	 * within its 50 kW rating: 50 kW, of which the EVs count 20. */
	p.max_discharge_w = 50000;
	energy_decide(&p, &(struct energy_input){ .building_w = 0, .ev_w = 60000, .ev_want_w = 90000, .soc_pct = 60 }, &d);
	assert_true(fabs(d.target_w - 50000) < 1e-6);
	assert_true(fabs(energy_counted_w(&p, d.target_w) - 20000) < 1e-6);
	/* Recharge any: 12 kW building, EVs drawing 6 but wanting 20: 32 > 30 kW ceiling, hold. */
	p.recharge = RECHARGE_ANY;
	energy_decide(&p, &(struct energy_input){ .building_w = 12000, .ev_w = 6000, .ev_want_w = 20000, .soc_pct = 50 },
		      &d);
	assert_true(d.target_w == 0);
}

/* What the EVs could take: an EV-limited car at its draw plus the slack on the phases it draws
 * on, others at the charger's maximum, offline chargers not at all. */
static void test_ev_want(void **state)
{
	struct solver_charger c[3] = {
		{ .ev = true, .link = SOLVER_ONLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32, .ev_limited = true,
		  .draw_a = { 10, 10, 10 } },
		{ .ev = true, .link = SOLVER_ONLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32 },
		{ .ev = true, .link = SOLVER_OFFLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32 },
	};
	(void)state;
	assert_true(fabs(energy_ev_want_w(c, 3, 2.0, 230, 0) - (12 * 3 + 32 * 3) * 230.0) < 1e-6);
	assert_true(fabs(energy_ev_want_w(c, 3, 2.0, 230, 40000) - 40000) < 1e-6);
}

/* What a solve is about to add to the EVs: a car that starts (no limit before, nothing drawn) at
 * its whole new limit on the phases it loads; a raised car from the higher of its old limit and
 * its draw; a limit that only catches up with the draw, an EV-limited car's slack, a charger
 * without an EV or paused: nothing. */
static void test_ev_raise(void **state)
{
	struct solver_charger c[6] = {
		{ .ev = true, .link = SOLVER_ONLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32 },
		{ .ev = true, .link = SOLVER_ONLINE, .phases = 1, .rotation = { 2 }, .max_a = 32 },
		{ .ev = true, .link = SOLVER_ONLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32, .draw_a = { 10, 10, 10 } },
		{ .ev = true, .link = SOLVER_ONLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32, .draw_a = { 20, 20, 20 } },
		{ .ev = true, .link = SOLVER_ONLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32, .ev_limited = true,
		  .draw_a = { 10, 10, 10 } },
		{ .ev = false, .link = SOLVER_ONLINE, .phases = 3, .rotation = { 0, 1, 2 }, .max_a = 32 },
	};
	double old_a[6] = { 0, 0, 16, 10, 10, 0 };
	struct solver_result res[6] = {
		{ .limit_a = 32, .bind = BIND_CHARGER_MAX },            /* starts: 32 A x 3 */
		{ .limit_a = 32, .bind = BIND_CHARGER_MAX },            /* starts, one phase: 32 A x 1 */
		{ .limit_a = 20, .bind = BIND_NODE },                   /* 16 -> 20 A, drawing 10: 4 A x 3 */
		{ .limit_a = 20, .bind = BIND_NODE },                   /* 10 -> 20 A, already drawing 20: 0 */
		{ .limit_a = 12, .bind = BIND_EV_LIMITED },             /* slack: 0 */
		{ .limit_a = 32, .bind = BIND_NONE },                   /* no EV: 0 */
	};
	(void)state;
	assert_true(fabs(energy_ev_raise_w(c, old_a, res, 6, 230) - (32 * 3 + 32 + 4 * 3) * 230.0) < 1e-6);
	res[0].limit_a = 0;                                     /* paused: 0 */
	old_a[1] = 32;                                          /* already had it */
	assert_true(fabs(energy_ev_raise_w(c, old_a, res, 6, 230) - 4 * 3 * 230.0) < 1e-6);
	/* ... and the dispatch for it: 22 kW more on a site at its 30 kW peak is a 22 kW discharge. */
	struct energy_params p = params();
	struct energy_input in = { .building_w = 10000, .building_now_w = 10000, .ev_w = 20000, .soc_pct = 80 };
	struct energy_decision d;
	energy_decide(&p, &in, &d);
	assert_true(d.target_w == 0);
	in.ev_w += 32 * 3 * 230.0;
	in.ev_want_w = in.ev_w;
	energy_decide(&p, &in, &d);
	assert_true(fabs(d.target_w - 32 * 3 * 230.0) < 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peak_shave),
		cmocka_unit_test(test_reserve_and_export),
		cmocka_unit_test(test_recharge),
		cmocka_unit_test(test_peak_below_limit),
		cmocka_unit_test(test_ev_want),
		cmocka_unit_test(test_ev_raise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
