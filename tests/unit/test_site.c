/* The site controller's view of a charger (edge/site/site.c): which phases its EV loads. A
 * single-phase car on a three-phase charger draws on one phase; the solver may count it there
 * alone only when the reading is fresh and the currents explain the charger's reported power,
 * because a charger that reports L1 alone would otherwise hide a three-phase car's other two
 * phases (and overload an unmetered feeder). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/site/site.c"

#include "tests/unit/site-rig.h"

static void rig_init(struct rig *r)
{
	site_rig_init(r);
	r->c.rotation[0] = 1, r->c.rotation[1] = 2, r->c.rotation[2] = 0;   /* wired L2-L3-L1 */
}

/* The charger reports `l1`, `l2`, `l3` A and `power_w` W at `at`; the site's verdict at `now`. */
static bool phases_trusted(struct rig *r, double l1, double l2, double l3, double power_w, uint64_t at, uint64_t now)
{
	r->ch->meter.current_a[0] = l1;
	r->ch->meter.current_a[1] = l2;
	r->ch->meter.current_a[2] = l3;
	r->ch->meter.power_w = power_w;
	r->ch->meter.at_ms = at;
	r->c.draw_fresh = draw_fresh(&r->s, r->ch, &r->c, now);
	memcpy(r->c.draw_a, r->ch->meter.current_a, sizeof(r->c.draw_a));
	return r->c.draw_fresh;
}

static void test_single_phase_car_loads_one_phase(void **state)
{
	struct rig r;
	uint64_t t = 1000000;

	(void)state;
	rig_init(&r);
	/* 16 A on charger phase 1 (site L2), 3.7 kW: the currents explain the power. */
	assert_true(phases_trusted(&r, 16, 0, 0, 3680, t, t + 1000));
	assert_int_equal(solver_phase_mask(&r.c), 1u << 1);
	/* The same reading 31 s later (three 10 s intervals) is stale: all three phases again. */
	assert_false(phases_trusted(&r, 16, 0, 0, 3680, t, t + 31000));
	assert_int_equal(solver_phase_mask(&r.c), 7u);
	/* L1 alone reported but 11 kW drawn: a three-phase car whose other phases go unreported. */
	assert_false(phases_trusted(&r, 16, 0, 0, 11040, t, t + 1000));
	assert_int_equal(solver_phase_mask(&r.c), 7u);
	/* No power reported: nothing to check the currents against. */
	assert_false(phases_trusted(&r, 16, 0, 0, 0, t, t + 1000));
	/* A three-phase car, all reported: trusted, and it loads all three. */
	assert_true(phases_trusted(&r, 16, 16, 16, 11040, t, t + 1000));
	assert_int_equal(solver_phase_mask(&r.c), 7u);
	charger_free(r.ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_phase_car_loads_one_phase),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
