/* The site controller's view of a charger (edge/site/site.c): which phases its EV loads. A
 * single-phase car on a three-phase charger draws on one phase; the solver may count it there
 * alone only when the reading is fresh and the currents explain the charger's reported power,
 * because a charger that reports L1 alone would otherwise hide a three-phase car's other two
 * phases (and overload an unmetered feeder). And when an EV counts as taking less than offered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/site/site.c"
#include "edge/site/site-ev.c"

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
	r->c.draw_fresh = draw_fresh(&r->v, r->ch, &r->c, now);
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
	/* A reading taken within EV_SETTLE_MS of a raise (or a cut): the EV may still be following. */
	r.ch->prof.raised_ms = t - 1000;
	assert_false(phases_trusted(&r, 16, 0, 0, 3680, t, t + 1000));
	r.ch->prof.raised_ms = 0;
	r.ch->prof.lowered_ms = t - 1000;
	assert_false(phases_trusted(&r, 16, 0, 0, 3680, t, t + 1000));
	r.ch->prof.lowered_ms = 0;
	/* A metered phase read above its limit lately: every EV on all its phases for 10 min. */
	r.v.phases_trusted_ms = t + 1000 + SITE_PHASES_DISTRUST_S * 1000;
	assert_false(phases_trusted(&r, 16, 0, 0, 3680, t, t + 1000));
	assert_true(phases_trusted(&r, 16, 0, 0, 3680, t + SITE_PHASES_DISTRUST_S * 1000, t + 1000 + SITE_PHASES_DISTRUST_S * 1000));
	r.v.phases_trusted_ms = 0;
	/* A three-phase car, all reported: trusted, and it loads all three. */
	assert_true(phases_trusted(&r, 16, 16, 16, 11040, t, t + 1000));
	assert_int_equal(solver_phase_mask(&r.c), 7u);
	charger_free(r.ch);
}

/* A 29 A car on a 32 A charger, on a settled reading: 3 A below the limit sent is more than the
 * 2 A slack, so it is capped at 31 A (before, only a draw 4 A below counted, and the 3 A sat
 * unused). 30.5 A is within the slack of 32: not capped. */
static void test_small_onboard_charger_capped(void **state)
{
	struct rig r;
	uint64_t t = 1000000;

	(void)state;
	rig_init(&r);
	r.ch->prof.sent_limit_a = 32;
	r.ch->prof.profile_renew_ms = UINT64_MAX;
	r.ch->meter.at_ms = t;
	r.ch->meter.current_a[0] = 30.5;
	assert_false(ev_limited(&r.v, &r.ev, r.ch, &r.c, t + 1000));
	r.ch->meter.current_a[0] = 29;
	assert_true(ev_limited(&r.v, &r.ev, r.ch, &r.c, t + 1000));
	assert_true(fabs(r.ev.cap.cap_a - 31) < 1e-9);
	charger_free(r.ch);
}

/* The EV records are the site's, at each charger's index: when the proxy removes a charger and
 * closes the gap, the records of the chargers after it move with them (a cap is not lost, nor
 * given to another charger). */
static void test_records_follow_removal(void **state)
{
	struct rig r;
	struct proxy p = { 0 };
	struct charger *ch[3] = { charger_new("A", NULL), charger_new("B", NULL), charger_new("C", NULL) };

	(void)state;
	rig_init(&r);
	assert_int_equal(uv_loop_init(&r.d.loop), 0);
	uv_idle_init(&r.d.loop, &r.s.soon);
	assert_int_equal(ev_records(&r.s, 4), 0);
	for (size_t i = 0; i < 3; i++) {
		ch[i]->index = i;
		r.s.ev[i] = (struct site_ev){ .ch = ch[i], .cap = { .cap_a = 10.0 + (double)i } };
	}
	/* The proxy removes B: C moves to index 1. */
	ch[2]->index = 1;
	site_on_proxy(&r.s, &p, ch[1], PROXY_REMOVED, 0);
	assert_ptr_equal(r.s.ev[0].ch, ch[0]);
	assert_true(r.s.ev[0].cap.cap_a == 10);
	assert_ptr_equal(r.s.ev[1].ch, ch[2]);
	assert_true(r.s.ev[1].cap.cap_a == 12);
	assert_null(r.s.ev[2].ch);
	uv_close((uv_handle_t *)&r.s.soon, NULL);
	uv_run(&r.d.loop, UV_RUN_DEFAULT);
	uv_loop_close(&r.d.loop);
	free(r.s.ev);
	for (size_t i = 0; i < 3; i++)
		charger_free(ch[i]);
	charger_free(r.ch);
}

/* The charger holds `limit_a`, accepted at `changed`; one solve's draw_range at `now`. */
static void ramp_solve(struct rig *r, double limit_a, uint64_t changed, uint64_t now)
{
	r->ch->prof.sent_limit_a = limit_a;
	r->ch->prof.sent_changed_ms = changed;
	draw_range(&r->v, r->ch, &r->ev, &r->c, now);
}

static void report(struct rig *r, double amps, uint64_t at)
{
	for (int k = 0; k < 3; k++)
		r->ch->meter.current_a[k] = r->c.draw_a[k] = amps;
	r->ch->meter.current_at_ms = r->ch->meter.at_ms = at;
}

/* The EV reported `from_a` at `changed` - 1000; its charger accepts `limit_a` at `changed`: half a
 * second later it ramps between the two; at `changed` + 5.5 s it is pinned at `implied_a` (as
 * estimate_non_ev would have set it). */
static void ramp_then_pin(struct rig *r, double from_a, double limit_a, uint64_t changed, double implied_a)
{
	report(r, from_a, changed - 1000);
	ramp_solve(r, limit_a, changed, changed + 500);
	assert_true(r->ev.ramp.ramping);
	assert_float_equal(r->ev.ramp.draw_lo_a[0], fmin(from_a, limit_a), 1e-9);
	assert_float_equal(r->ev.ramp.draw_hi_a[0], fmax(from_a, limit_a), 1e-9);
	assert_float_equal(r->ev.ramp.draw_est_a[0], from_a, 1e-9);
	for (int k = 0; k < 3; k++)
		r->ev.ramp.implied_a[k] = implied_a;
	ramp_solve(r, limit_a, changed, changed + 5500);
	assert_true(r->ev.ramp.pinned);
	assert_false(r->ev.ramp.ramping);
	assert_float_equal(r->ev.ramp.draw_est_a[0], implied_a, 1e-9);
	assert_float_equal(r->ev.ramp.draw_hi_a[0], implied_a, 1e-9);
}

/* A raise to `limit_a` goes out at `at` and waits for the charger's answer. */
static void raise_in_flight(struct rig *r, double limit_a, uint64_t at)
{
	r->ch->prof.profile_in_flight = true;
	r->ch->prof.in_flight_id = PROFILE_ID_DYNAMIC;
	r->ch->prof.pending_limit_a = limit_a;
	r->ch->prof.raised_ms = at;
}

/* An EV raised from 10 to 28 A ramps for EV_SETTLE_MS (10..28 A), is then pinned at what the
 * estimate implied (20 A here); lowered to 16 A while pinned, it ramps from the pin, not from
 * its 10 A report, for as long as the ramp lasts; a meter value after the ramp ends the pin and
 * says how far off it was (for repin). */
static void test_ramp_pin_and_report(void **state)
{
	struct rig r;
	(void)state;

	rig_init(&r);
	ramp_then_pin(&r, 10, 28, 2000, 20);
	ramp_solve(&r, 16, 8000, 8500);
	assert_true(r.ev.ramp.ramping);
	assert_float_equal(r.ev.ramp.draw_est_a[0], 20, 1e-9);
	ramp_solve(&r, 16, 8000, 9500);         /* still from the pin, a solve later */
	assert_float_equal(r.ev.ramp.draw_est_a[0], 20, 1e-9);
	assert_float_equal(r.ev.ramp.draw_lo_a[0], 16, 1e-9);
	assert_float_equal(r.ev.ramp.draw_hi_a[0], 20, 1e-9);
	for (int k = 0; k < 3; k++)
		r.ev.ramp.implied_a[k] = 17;
	ramp_solve(&r, 16, 8000, 13500);
	assert_true(r.ev.ramp.pinned);
	report(&r, 16, 14000);
	ramp_solve(&r, 16, 8000, 14000);
	assert_false(r.ev.ramp.pinned || r.ev.ramp.ramping);
	assert_true(r.ev.ramp.unpinned);
	assert_float_equal(r.ev.ramp.unpinned_a[0], 1, 1e-9);
	assert_float_equal(r.ev.ramp.draw_est_a[0], 16, 1e-9);
	charger_free(r.ch);
}

/* A raise in flight that the charger refuses: the ramp it started ends there. A charger that
 * never reported a current has no ramp at all. */
static void test_refused_raise_ends_ramp(void **state)
{
	struct rig r;
	(void)state;

	rig_init(&r);
	ramp_solve(&r, 28, 2000, 2500);
	assert_false(r.ev.ramp.ramping);             /* no current reported yet */
	report(&r, 10, 3000);
	raise_in_flight(&r, 32, 9000);
	ramp_solve(&r, 28, 2000, 9100);
	assert_true(r.ev.ramp.ramping);
	assert_float_equal(r.ev.ramp.draw_hi_a[0], 32, 1e-9);
	r.ch->prof.profile_in_flight = false;   /* refused */
	ramp_solve(&r, 28, 2000, 9300);
	assert_false(r.ev.ramp.ramping || r.ev.ramp.pinned);
	assert_float_equal(r.ev.ramp.draw_hi_a[0], 10, 1e-9);
	charger_free(r.ch);
}

/* Two EVs pinned at 14 A each on one meter (the rise split between them); A says it draws 0 A:
 * its 14 A go to B (within its 0..28 A), so the EVs still count the 28 A the meter showed. */
static void test_repin_hands_the_error_on(void **state)
{
	struct rig r;
	struct solver_node node = { .id = "grid", .parent = -1 };
	const char *meters[1] = { "grid" };
	struct solver_charger in[2];
	struct site_ev ev[2] = { 0 };
	(void)state;

	rig_init(&r);
	r.s.nodes = &node;
	r.s.n_nodes = 1;
	r.s.meters = meters;
	r.s.in = in;
	r.s.ev = ev;
	for (int i = 0; i < 2; i++) {
		in[i] = (struct solver_charger){ .phases = 3, .rotation = { 0, 1, 2 } };
		for (int k = 0; k < 3; k++) {
			ev[i].ramp.implied_a[k] = ev[i].ramp.draw_est_a[k] = 14;
			ev[i].ramp.pin_lo_a[k] = 0;
			ev[i].ramp.pin_hi_a[k] = 28;
		}
	}
	ev[1].ramp.pinned = true;
	ev[0].ramp.unpinned = true;
	for (int k = 0; k < 3; k++)
		ev[0].ramp.unpinned_a[k] = 14 - 0;
	repin(&r.s, 2, 0);
	assert_float_equal(ev[1].ramp.draw_est_a[0], 28, 1e-9);
	assert_float_equal(ev[1].ramp.implied_a[2], 28, 1e-9);
	/* not onto an EV whose ramp began 6 s after A's: the rise was never split with it */
	ev[1].ramp.implied_a[0] = ev[1].ramp.draw_est_a[0] = 14;
	ev[1].ramp.changed_ms = 8000;
	ev[0].ramp.unpinned_ms = 2000;
	repin(&r.s, 2, 0);
	assert_float_equal(ev[1].ramp.draw_est_a[0], 14, 1e-9);
	charger_free(r.ch);
}

/* An EV that reported 32 A and was lowered to 10 A draws at most 10 A once it had time to follow:
 * when its pin times out, or a raise from there is refused, its older 32 A report is not what
 * the meter's load is reckoned with. */
static void test_old_report_capped_by_lower_limit(void **state)
{
	struct rig r;
	(void)state;

	rig_init(&r);
	ramp_then_pin(&r, 32, 10, 1500, 10);
	ramp_solve(&r, 10, 1500, 18000);        /* 5 s + one meter interval + 1 s: the pin ends */
	assert_false(r.ev.ramp.pinned || r.ev.ramp.ramping);
	assert_float_equal(r.ev.ramp.draw_est_a[0], 10, 1e-9);
	/* a raise to 16 A from there, refused */
	raise_in_flight(&r, 16, 18500);
	ramp_solve(&r, 10, 1500, 18600);
	assert_true(r.ev.ramp.ramping);
	assert_float_equal(r.ev.ramp.draw_hi_a[0], 16, 1e-9);        /* from 10 A, not the 32 A report */
	r.ch->prof.profile_in_flight = false;
	ramp_solve(&r, 10, 1500, 18800);
	assert_false(r.ev.ramp.ramping || r.ev.ramp.pinned);
	assert_float_equal(r.ev.ramp.draw_est_a[0], 10, 1e-9);
	assert_float_equal(r.ev.ramp.draw_hi_a[0], 10, 1e-9);
	charger_free(r.ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_phase_car_loads_one_phase),
		cmocka_unit_test(test_small_onboard_charger_capped),
		cmocka_unit_test(test_records_follow_removal),
		cmocka_unit_test(test_ramp_pin_and_report),
		cmocka_unit_test(test_refused_raise_ends_ramp),
		cmocka_unit_test(test_repin_hands_the_error_on),
		cmocka_unit_test(test_old_report_capped_by_lower_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
