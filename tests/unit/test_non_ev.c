/* The non-EV load at a metered node while EVs ramp (edge/site/non-ev.c): held while the reading
 * allows it, moved as far as the reading proves, the part above the target counted once, and the
 * reading alone above the limit. A 100 A connection, 2 A margin: target 98 A. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/site/non-ev.c"

/* A reading of `meter_a` with the chargers reporting `ev_a` and able to draw lo..hi now. */
static double est(struct non_ev_hold *h, double meter_a, double ev_a, double lo_a, double hi_a)
{
	struct non_ev_reading r = { .meter_a = meter_a, .ev_a = ev_a, .ev_lo_a = lo_a, .ev_hi_a = hi_a,
				    .target_a = 98, .limit_a = 100 };

	return non_ev_estimate(h, &r);
}

static void test_steady_is_the_difference(void **state)
{
	struct non_ev_hold h = { 0 };
	(void)state;

	assert_float_equal(est(&h, 97.5, 17.5, 17.5, 17.5), 80, 1e-9);
	assert_true(h.valid);
	assert_float_equal(est(&h, 10, 17.5, 17.5, 17.5), 0, 1e-9);     /* PV export: never below 0 */
}

/* An EV raised from 17.5 to 32 A draws it before its charger says so: the building's 80 A holds
 * (it was counted 94.5 A, and the EV lowered back to 17.5 A). */
static void test_ramp_up_holds(void **state)
{
	struct non_ev_hold h = { 0 };
	(void)state;

	est(&h, 97.5, 17.5, 17.5, 17.5);
	assert_float_equal(est(&h, 97.9, 17.5, 17.5, 32), 80, 1e-9);   /* not 80.4 */
	/* its meter value says 32 A: the ramp is over, the difference counts again */
	assert_float_equal(est(&h, 97.9, 32, 32, 32), 65.9, 1e-9);
}

/* A building load that rises during the ramp shows as soon as the EVs cannot explain it. */
static void test_rise_beyond_the_ramp_counts(void **state)
{
	struct non_ev_hold h = { 0 };
	(void)state;

	est(&h, 60, 20, 20, 20);                                        /* building 40 A */
	assert_float_equal(est(&h, 70, 20, 20, 30), 40, 1e-9);         /* the EV's 10 A, maybe */
	assert_float_equal(est(&h, 80, 20, 20, 30), 50, 1e-9);         /* 10 A more than it can */
	assert_float_equal(est(&h, 70, 20, 20, 30), 50, 1e-9);         /* and it holds */
	/* the reading falls below what the EV's least draw allows: the building fell */
	assert_float_equal(est(&h, 55, 20, 20, 30), 35, 1e-9);
}

/* Above the target the excess is non-EV load at once, counted once while it stays (the EVs take a
 * second to follow); above the limit the reading alone decides. */
static void test_over_target_once_and_over_limit(void **state)
{
	struct non_ev_hold h = { 0 };
	(void)state;

	est(&h, 97.5, 17.5, 17.5, 17.5);                                /* 80 */
	assert_float_equal(est(&h, 99.0, 17.5, 17.5, 32), 81, 1e-9);   /* 1 A above 98 */
	assert_float_equal(est(&h, 99.0, 17.5, 17.5, 32), 81, 1e-9);   /* not 82 */
	assert_float_equal(est(&h, 99.5, 17.5, 17.5, 32), 81.5, 1e-9); /* it grew by 0.5 */
	assert_float_equal(est(&h, 99.2, 17.5, 17.5, 32), 81.5, 1e-9); /* less above: kept */
	assert_float_equal(est(&h, 101, 17.5, 17.5, 32), 83.5, 1e-9);  /* above 100 A: 101 - 17.5 */
}

/* A lower limit: the EV may still draw what it reported; the estimate holds rather than taking
 * the EV's old draw off a reading that no longer has it. */
static void test_ramp_down_holds(void **state)
{
	struct non_ev_hold h = { 0 };
	(void)state;

	est(&h, 92, 32, 32, 32);                                        /* 60 */
	assert_float_equal(est(&h, 76, 32, 16, 32), 60, 1e-9);         /* was 44 */
	h.valid = false;                                                /* a stale meter in between */
	assert_float_equal(est(&h, 76, 32, 16, 32), 44, 1e-9);
}

/* A battery behind the grid meter: its discharge is load the reading hides. Easing off from 13.8
 * to 9.7 kW between two of its readings (20 and 14 A), it may hide anything between: the
 * building's 80 A holds (it was counted at the higher, and the EV lowered by 6 A for two control
 * periods). PV export stays at 0, the discharge on top. */
static void test_hidden_battery(void **state)
{
	struct non_ev_hold h = { 0 };
	struct non_ev_reading r = { .meter_a = 80, .ev_a = 14, .ev_lo_a = 14, .ev_hi_a = 14,
				    .hidden_lo_a = 14, .hidden_hi_a = 14, .target_a = 98, .limit_a = 100 };
	(void)state;

	assert_float_equal(non_ev_estimate(&h, &r), 80, 1e-9);             /* 80 - 14 + 14 */
	r.meter_a = 77;         /* read while it delivered 17 A */
	r.hidden_hi_a = 20;
	assert_float_equal(non_ev_estimate(&h, &r), 80, 1e-9);             /* not 83 */
	r = (struct non_ev_reading){ .meter_a = 5, .ev_a = 25, .ev_lo_a = 25, .ev_hi_a = 25, .hidden_lo_a = 10,
				     .hidden_hi_a = 10, .target_a = 98, .limit_a = 100 };
	assert_float_equal(non_ev_estimate(&h, &r), 10, 1e-9);             /* max(0, 5 - 25) + 10 */
}

/* Where the ramping EV sits, for its draw pinned at the ramp's end: the building's 80 A held on a
 * 97.9 A reading says the EV raised from 17.5 to 32 A draws 17.9 A; all of it on 112 A. */
static void test_implied_draw(void **state)
{
	struct non_ev_hold h = { 0 };
	(void)state;

	est(&h, 97.5, 17.5, 17.5, 17.5);
	est(&h, 97.9, 17.5, 17.5, 32);
	assert_float_equal(non_ev_implied_a(&h, 17.5, 17.5, 32), 17.9, 1e-9);
	struct non_ev_reading r = { .meter_a = 112, .ev_a = 17.5, .ev_lo_a = 17.5, .ev_hi_a = 32, .target_a = 118,
				    .limit_a = 120 };
	assert_float_equal(non_ev_estimate(&h, &r), 80, 1e-9);
	assert_float_equal(non_ev_implied_a(&h, 17.5, 17.5, 32), 32, 1e-9);
	/* a lower limit the EV already follows: 32 A reported, 16 A now, the building's 60 A held */
	est(&h, 92, 32, 32, 32);
	est(&h, 76, 32, 16, 32);
	assert_float_equal(non_ev_implied_a(&h, 32, 16, 32), 16, 1e-9);
	/* nothing ramps: the report */
	est(&h, 76, 16, 16, 16);
	assert_float_equal(non_ev_implied_a(&h, 16, 16, 16), 16, 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_is_the_difference),
		cmocka_unit_test(test_ramp_up_holds),
		cmocka_unit_test(test_rise_beyond_the_ramp_counts),
		cmocka_unit_test(test_over_target_once_and_over_limit),
		cmocka_unit_test(test_ramp_down_holds),
		cmocka_unit_test(test_hidden_battery),
		cmocka_unit_test(test_implied_draw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
