/* The battery's dispatch decision (edge/site/energy.c energy_decide): peak shaving above peak_kw,
 * leading the EVs above the connection limit, the reserve, zero export and recharge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "edge/site/energy.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peak_shave),
		cmocka_unit_test(test_reserve_and_export),
		cmocka_unit_test(test_recharge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
