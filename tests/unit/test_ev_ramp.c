/* An EV's draw while it ramps to a new limit and after (edge/site/ev-ramp.c): a ramp from the
 * charger's report to its new limit, the pin at what the estimate implied when the ramp ends, a
 * meter value ending the pin, and the pin's error handed to another EV that ramped with it. A
 * single-phase car on a three-phase charger (counted on charger phase 0 alone), 10 s meter
 * interval: a pin lasts until 5 + 10 + 1 s after the limit changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/site/ev-ramp.c"

/* The charger may hold lo..hi A since `changed`; its meter value taken at `at` says `draw_a` on
 * phase 0 and nothing on the others. */
static struct ev_ramp_reading reading(double lo_a, double hi_a, uint64_t changed, double draw_a, uint64_t at)
{
	return (struct ev_ramp_reading){ .known = true, .lo_a = lo_a, .hi_a = hi_a, .changed_ms = changed,
					 .report_ms = at, .draw_a = { draw_a }, .counted = { true },
					 .meter_interval_s = 10 };
}

/* Reported 10 A at 1 s; raised to 28 A, accepted at 2 s. */
static struct ev_ramp_reading raised(void)
{
	return reading(28, 28, 2000, 10, 1000);
}

/* The raise, then at 7.5 s with the estimate's 20 A (the caller sets implied_a while it ramps). */
static void pinned_at_20(struct ev_ramp *e)
{
	struct ev_ramp_reading r = raised();

	ev_ramp_update(e, &r, 2500);
	e->implied_a[0] = 20;
	ev_ramp_update(e, &r, 7500);
}

/* Half a second after the raise the EV may draw anything from 10 to 28 A on the phase it is
 * counted on; the others stay at their report. */
static void test_ramp_starts_from_the_report(void **state)
{
	struct ev_ramp e = { 0 }, late = { 0 };
	struct ev_ramp_reading r = raised();
	(void)state;

	ev_ramp_update(&e, &r, 2500);
	assert_true(e.ramping);
	assert_false(e.pinned);
	assert_int_equal(e.changed_ms, 2000);
	assert_float_equal(e.from_a[0], 10, 1e-9);
	assert_float_equal(e.draw_est_a[0], 10, 1e-9);
	assert_float_equal(e.draw_lo_a[0], 10, 1e-9);
	assert_float_equal(e.draw_hi_a[0], 28, 1e-9);
	assert_float_equal(e.implied_a[0], 10, 1e-9);  /* where the caller's estimate starts it */
	assert_float_equal(e.pin_hi_a[0], 28, 1e-9);
	assert_float_equal(e.draw_hi_a[1], 0, 1e-9);    /* not counted there: no ramp */
	/* the same limit first seen after its ramp (7.5 s): the report, no ramp */
	ev_ramp_update(&late, &r, 7500);
	assert_false(late.ramping || late.pinned);
	assert_float_equal(late.draw_hi_a[0], 10, 1e-9);
}

/* At 7.5 s the ramp is over and no meter value came: the draw is pinned at what the estimate
 * implied, its range at the ramp's end kept for repin. */
static void test_ramp_ends_in_a_pin(void **state)
{
	struct ev_ramp e = { 0 };
	struct ev_ramp_reading r = raised();
	(void)state;

	pinned_at_20(&e);
	assert_true(e.pinned);
	assert_false(e.ramping);
	assert_float_equal(e.draw_est_a[0], 20, 1e-9);
	assert_float_equal(e.draw_lo_a[0], 20, 1e-9);
	assert_float_equal(e.draw_hi_a[0], 20, 1e-9);
	assert_float_equal(e.pin_lo_a[0], 10, 1e-9);
	assert_float_equal(e.pin_hi_a[0], 28, 1e-9);
	/* still no meter value at 18 s (2 + 16): the pin ends, back to the report */
	ev_ramp_update(&e, &r, 18000);
	assert_false(e.pinned || e.ramping);
	assert_false(e.unpinned);                       /* no report ended it: nothing to hand on */
	assert_float_equal(e.draw_est_a[0], 10, 1e-9);
}

/* Pinned at 20 A, a meter value taken at 8 s says 16 A: the pin ends, the report counts, and the
 * 4 A the pin counted too much are for the caller to hand on, for this update only. */
static void test_report_ends_the_pin(void **state)
{
	struct ev_ramp e = { 0 };
	struct ev_ramp_reading r = reading(28, 28, 2000, 16, 8000);
	(void)state;

	pinned_at_20(&e);
	ev_ramp_update(&e, &r, 8200);
	assert_false(e.pinned || e.ramping);
	assert_true(e.unpinned);
	assert_int_equal(e.unpinned_ms, 2000);
	assert_float_equal(e.unpinned_a[0], 4, 1e-9);
	assert_float_equal(e.unpinned_a[1], 0, 1e-9);
	assert_float_equal(e.draw_est_a[0], 16, 1e-9);
	assert_float_equal(e.draw_hi_a[0], 16, 1e-9);
	assert_int_equal(e.changed_ms, 0);
	ev_ramp_update(&e, &r, 8400);
	assert_false(e.unpinned);
}

/* An EV that reported 32 A and was lowered to 10 A at 2 s draws at most 10 A once it had time to
 * follow: its pin timing out goes back to the 32 A report only as far as the limit. */
static void test_old_report_counts_at_most_the_limit(void **state)
{
	struct ev_ramp e = { 0 };
	struct ev_ramp_reading r = reading(10, 10, 2000, 32, 1000);
	(void)state;

	ev_ramp_update(&e, &r, 2500);
	assert_float_equal(e.draw_lo_a[0], 10, 1e-9);
	assert_float_equal(e.draw_hi_a[0], 32, 1e-9);
	e.implied_a[0] = 12;
	ev_ramp_update(&e, &r, 7500);
	assert_true(e.pinned);
	ev_ramp_update(&e, &r, 18000);
	assert_false(e.pinned);
	assert_float_equal(e.draw_est_a[0], 10, 1e-9);  /* not 32 */
}

/* A's pin (its limit changed at 2 s) ended 4 A above its report. B, pinned at 14 A in 10..16 A,
 * ramped with it (changed at 3 s): it takes 2 A, up to its most, and 2 A are left for others. C's
 * ramp began at 8 s, 6 s after A's: the rise was never split with it. D is not pinned. */
static void test_pin_error_handed_on(void **state)
{
	struct ev_ramp a = { .unpinned = true, .unpinned_ms = 2000, .unpinned_a = { 4 } };
	struct ev_ramp b = { .pinned = true, .changed_ms = 3000, .implied_a = { 14 }, .draw_est_a = { 14 },
			     .pin_lo_a = { 10 }, .pin_hi_a = { 16 } };
	struct ev_ramp c = b, d = b;
	(void)state;

	c.changed_ms = 8000;
	d.pinned = false;
	assert_true(ev_ramp_shares_pin(&b, &a));
	assert_false(ev_ramp_shares_pin(&c, &a));
	assert_false(ev_ramp_shares_pin(&d, &a));
	assert_float_equal(ev_ramp_take_error(&b, 0, a.unpinned_a[0]), 2, 1e-9);
	assert_float_equal(b.implied_a[0], 16, 1e-9);
	assert_float_equal(b.draw_est_a[0], 16, 1e-9);
	assert_float_equal(b.draw_lo_a[0], 16, 1e-9);
	assert_float_equal(b.draw_hi_a[0], 16, 1e-9);
	/* an error below: down to its least, 10 A: 6 A of -10 taken, -4 left */
	assert_float_equal(ev_ramp_take_error(&b, 0, -10), -4, 1e-9);
	assert_float_equal(b.draw_est_a[0], 10, 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ramp_starts_from_the_report),
		cmocka_unit_test(test_ramp_ends_in_a_pin),
		cmocka_unit_test(test_report_ends_the_pin),
		cmocka_unit_test(test_old_report_counts_at_most_the_limit),
		cmocka_unit_test(test_pin_error_handed_on),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
