/* Solver scenarios: a site, what the meters say, and the limit and binding constraint every
 * charger must get. Numbers are worked out by hand in the comments so a failure can be checked
 * against arithmetic, not against the code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "edge/site/site-model.h"
#include "edge/site/solver.h"
#include "policies/policy.h"

#define NOW 1000000
#define EPS 1e-6

static const unsigned char ROT_123[3] = { 0, 1, 2 };

static struct solver_charger ev3(int node, double max_a)
{
	return (struct solver_charger){ .id = "cp", .node = node, .phases = 3,
					.rotation = { 0, 1, 2 }, .min_a = 6, .max_a = max_a,
					.link = SOLVER_ONLINE, .ev = true, .priority = 1 };
}

static struct solver_charger ev1(int node, int site_phase, double max_a)
{
	struct solver_charger c = ev3(node, max_a);

	c.phases = 1;
	c.rotation[0] = (unsigned char)site_phase;
	return c;
}

static struct solver_input site(const struct solver_node *nodes, size_t n_nodes,
				const struct solver_charger *ch, size_t n)
{
	return (struct solver_input){ .nodes = nodes, .n_nodes = n_nodes, .chargers = ch,
				      .n_chargers = n, .voltage_v = 230, .margin_a = 2,
				      .fallback_a = 6, .ev_slack_a = 1 };
}

static void expect(const struct solver_result *r, double limit_a, const char *binding)
{
	if (fabs(r->limit_a - limit_a) > 1e-3 || strcmp(r->binding, binding))
		fail_msg("got %.4f A \"%s\", want %.4f A \"%s\"", r->limit_a, r->binding, limit_a, binding);
}

static int run(const struct solver_input *in, struct solver_rotation *rot, int64_t now_ms,
	       struct solver_result *out)
{
	struct solver *s = solver_new(in->n_nodes, in->n_chargers);
	int rc;

	assert_non_null(s);
	rc = solver_run(s, in, rot, now_ms, out);
	solver_free(s);
	return rc;
}

/* Forty 32 A three-phase chargers behind 250 A (margin 2 A), 24 with an EV; the building's load
 * steps from 20 A to 100 A to 150 A per phase. */
static void test_forty_chargers_load_step(void **state)
{
	struct solver_node grid = { .id = "grid", .parent = -1, .limit_a = { 250, 250, 250 } };
	struct solver_charger ch[40];
	struct solver_result out[40];
	struct solver_input in = site(&grid, 1, ch, 40);
	int paused = 0, running = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		ch[i] = ev3(0, 32);
		ch[i].ev = i < 24;
	}
	/* 250 - 2 - 20 = 228 A per phase for 24 EVs: 9.5 A each. */
	grid.non_ev_a[0] = grid.non_ev_a[1] = grid.non_ev_a[2] = 20;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	for (int i = 0; i < 24; i++)
		expect(&out[i], 9.5, "grid L1");
	for (int i = 24; i < 40; i++)
		expect(&out[i], 0, "no EV");
	/* 250 - 2 - 100 = 148 A: 6.1667 A each, still everyone above 6 A. */
	grid.non_ev_a[0] = grid.non_ev_a[1] = grid.non_ev_a[2] = 100;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	for (int i = 0; i < 24; i++)
		expect(&out[i], 148.0 / 24, "grid L1");
	/* 250 - 2 - 150 = 98 A: room for 16 minimums (96 A); 8 pause, 16 share 98 A. */
	grid.non_ev_a[0] = grid.non_ev_a[1] = grid.non_ev_a[2] = 150;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	for (int i = 0; i < 24; i++) {
		if (out[i].limit_a == 0) {
			expect(&out[i], 0, "paused: rotation");
			paused++;
		} else {
			expect(&out[i], 98.0 / 16, "grid L1");
			running++;
		}
	}
	assert_int_equal(paused, 8);
	assert_int_equal(running, 16);
}

/* A single-phase car on a three-phase charger: it draws 16 A on L1 only. It is capped at its draw
 * plus 1 A of slack and loads only L1, so the other charger gets what L1 leaves. */
static void test_single_phase_car(void **state)
{
	struct solver_node nodes[] = {
		{ .id = "grid", .parent = -1, .limit_a = { 250, 250, 250 } },
		{ .id = "feeder-a", .parent = 0, .limit_a = { 40, 40, 40 } },
	};
	struct solver_charger ch[2] = { ev3(1, 32), ev3(1, 32) };
	struct solver_result out[2];
	struct solver_input in = site(nodes, 2, ch, 2);

	(void)state;
	ch[0].ev_limited = true;
	ch[0].draw_a[0] = 16;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 17, "EV-limited");
	expect(&out[1], 38 - 17, "feeder-a L1");
	assert_int_equal(solver_phase_mask(&ch[0]), 1);
}

/* The phases a car shows are kept for its session (solver_phases_learn): a single-phase car on a
 * 3-phase charger wired L2-L3-L1 draws 16 A on L2; paused at 0 A afterwards it still counts on L2
 * alone, so with L1 and L3 taken by others it can start again. Unplugging clears it. */
static void test_phases_seen_kept(void **state)
{
	struct solver_charger c = ev3(0, 32);

	(void)state;
	c.rotation[0] = 1, c.rotation[1] = 2, c.rotation[2] = 0;
	assert_int_equal(solver_phases_learn(0, &c), 0);
	c.draw_a[0] = 16;
	c.draw_fresh = false;                   /* not a reading the site trusts phase by phase */
	assert_int_equal(solver_phases_learn(0, &c), 0);
	c.draw_fresh = true;
	c.ev_phases_seen = solver_phases_learn(0, &c);
	assert_int_equal(c.ev_phases_seen, 1u << 1);
	c.draw_a[0] = 0;                        /* paused: a reading of 0 A says nothing */
	c.ev_phases_seen = solver_phases_learn(c.ev_phases_seen, &c);
	assert_int_equal(c.ev_phases_seen, 1u << 1);
	assert_int_equal(solver_phase_mask(&c), 1u << 1);
	c.ev_phases_seen = 0;
	assert_int_equal(solver_phase_mask(&c), 7);
	c.ev = false;
	assert_int_equal(solver_phases_learn(1u << 1, &c), 0);
}

/* An EV's own maximum (2.0.1 evMaxCurrent, site_model_ev_limits) caps its charger, never below the
 * charger's minimum nor above its maximum, and says so. Grid 40 A (38 after the margin), two
 * 32 A chargers: untold 19 A each; A's EV takes at most 10 A: A 10 A "EV max", B 28 A. A 4 A
 * EV on a 6 A minimum is offered 6 A; a 40 A one on a 32 A charger changes nothing. */
static void test_ev_max(void **state)
{
	struct solver_node grid = { .id = "grid", .parent = -1, .limit_a = { 40, 40, 40 } };
	struct solver_charger ch[2] = { ev3(0, 32), ev3(0, 32) };
	struct solver_result out[2];
	struct solver_input in = site(&grid, 1, ch, 2);

	(void)state;
	in.policy = policy_find("fair");
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 19, "grid L1");
	site_model_ev_limits(&ch[0], 0, 10);
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 10, "EV max");
	expect(&out[1], 28, "grid L1");
	ch[0] = ev3(0, 32);
	site_model_ev_limits(&ch[0], 0, 4);
	assert_true(ch[0].max_a == 6 && ch[0].max_from_ev);
	ch[0] = ev3(0, 32);
	site_model_ev_limits(&ch[0], 0, 40);
	assert_true(ch[0].max_a == 32 && !ch[0].max_from_ev);
	site_model_ev_limits(&ch[0], 0, 0);
	assert_true(ch[0].max_a == 32 && !ch[0].max_from_ev);
}

/* A probe of an EV-limited car (ev_probe) is offered only what the others leave. Feeder 40 A per
 * phase (38 A after the margin); car A drew 8 A and holds a 9 A cap (ev_cap_a); car B takes
 * anything up to its charger's 24 A. A shares at its cap and B gets its 24 A; the 5 A left go to
 * the probe: A 14 A, bound by the feeder. With B on a 40 A charger nothing is left: B 29 A, A 9 A,
 * as without a probe. A probe used to be A with ev_limited off, its full share: 19 A each, so B
 * lost 10 A for the probe. */
static void test_probe_takes_only_what_is_left(void **state)
{
	struct solver_node nodes[] = {
		{ .id = "grid", .parent = -1, .limit_a = { 250, 250, 250 } },
		{ .id = "feeder-a", .parent = 0, .limit_a = { 40, 40, 40 } },
	};
	struct solver_charger ch[2] = { ev3(1, 32), ev3(1, 24) };
	struct solver_result out[2];
	struct solver_input in = site(nodes, 2, ch, 2);

	(void)state;
	ch[0].ev_limited = true;
	ch[0].ev_cap_a = 9;
	ch[0].draw_a[0] = ch[0].draw_a[1] = ch[0].draw_a[2] = 8;
	ch[0].ev_probe = true;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 14, "feeder-a L1");
	expect(&out[1], 24, "charger max");
	ch[1].max_a = 40;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 9, "EV-limited");
	expect(&out[1], 29, "feeder-a L1");
	/* A probe reaching its charger's maximum says so. */
	ch[1].max_a = 6;
	ch[0].max_a = 20;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 20, "charger max");
	expect(&out[1], 6, "charger max");
}

/* A single-phase car that takes all it is offered (so never EV-limited) on a three-phase charger
 * wired L2-L3-L1: it draws on L2 only. Feeder 40 A per phase (38 A after the margin); a
 * three-phase EV and two single-phase chargers on L3 and L1 share it. Counted on all three
 * phases (a stale reading; before the fix, every reading), L1 and L3 carry three chargers each:
 * 38 / 3 = 12.667 A for everyone. With the fresh reading the car loads L2 alone, and every
 * phase carries two chargers: 19 A each. */
static void test_single_phase_car_full_draw(void **state)
{
	struct solver_node nodes[] = {
		{ .id = "grid", .parent = -1, .limit_a = { 250, 250, 250 } },
		{ .id = "feeder-a", .parent = 0, .limit_a = { 40, 40, 40 } },
	};
	struct solver_charger ch[4] = { ev3(1, 32), ev3(1, 32), ev1(1, 2, 32), ev1(1, 0, 32) };
	struct solver_result out[4];
	struct solver_input in = site(nodes, 2, ch, 4);

	(void)state;
	ch[0].rotation[0] = 1, ch[0].rotation[1] = 2, ch[0].rotation[2] = 0;
	ch[0].draw_a[0] = 9.5;          /* charger phase 1 = site L2, at the full offer */
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	for (int i = 0; i < 4; i++)
		expect(&out[i], 38.0 / 3, i == 2 ? "feeder-a L3" : "feeder-a L1");
	ch[0].draw_fresh = true;
	assert_int_equal(solver_phase_mask(&ch[0]), 2);
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 19, "feeder-a L2");
	expect(&out[1], 19, "feeder-a L1");
	expect(&out[2], 19, "feeder-a L3");
	expect(&out[3], 19, "feeder-a L1");
	/* Drawing nothing, it may start on any phase: all three again. */
	ch[0].draw_a[0] = 0;
	assert_int_equal(solver_phase_mask(&ch[0]), 7);
}

/* A feeder loaded 10 A on L1 by the building; two single-phase chargers on L1, one on L2, one on
 * L3 and a three-phase charger wired L2-L3-L1. L1 has 32 - 2 - 10 = 20 A for three chargers
 * (6.667 A each); L2 and L3 have 30 A each, of which the three-phase charger takes 6.667. */
static void test_unbalanced_feeder(void **state)
{
	struct solver_node nodes[] = {
		{ .id = "grid", .parent = -1, .limit_a = { 100, 100, 100 } },
		{ .id = "feeder-b", .parent = 0, .limit_a = { 32, 32, 32 }, .non_ev_a = { 10, 0, 0 } },
	};
	struct solver_charger ch[5] = { ev1(1, 0, 32), ev1(1, 0, 32), ev1(1, 1, 32), ev1(1, 2, 32),
					ev3(1, 32) };
	struct solver_result out[5];
	struct solver_input in = site(nodes, 2, ch, 5);

	(void)state;
	memcpy(ch[4].rotation, (unsigned char[3]){ 1, 2, 0 }, 3);
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 20.0 / 3, "feeder-b L1");
	expect(&out[1], 20.0 / 3, "feeder-b L1");
	expect(&out[2], 30 - 20.0 / 3, "feeder-b L2");
	expect(&out[3], 30 - 20.0 / 3, "feeder-b L3");
	expect(&out[4], 20.0 / 3, "feeder-b L1");
	/* The grid sees 10 A + 20 A on L1: far from its 98 A. */
}

/* Battery discharge raises headroom. Grid 100 A / 60 kW, building 60 A per phase, four
 * three-phase chargers. Per phase: 100 - 2 - 60 = 38 A (9.5 A each). In kW: 60000 - 230 * (180 +
 * 6) = 17220 W = 6.239 A per charger-phase: the kW limit binds. A battery offering 13.8 kW adds
 * 20 A per phase and 13.8 kW: 14.5 A by phase, 11.239 A by kW. */
static void test_battery_raises_headroom(void **state)
{
	struct solver_node grid = { .id = "grid", .parent = -1, .limit_a = { 100, 100, 100 },
				    .limit_kw = 60, .non_ev_a = { 60, 60, 60 } };
	struct solver_charger ch[4] = { ev3(0, 32), ev3(0, 32), ev3(0, 32), ev3(0, 32) };
	struct solver_result out[4];
	struct solver_input in = site(&grid, 1, ch, 4);

	(void)state;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 17220.0 / (230 * 3 * 4), "grid kW");
	in.grid_extra_w = 13800;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	for (int i = 0; i < 4; i++)
		expect(&out[i], 31020.0 / (230 * 3 * 4), "grid kW");
	grid.limit_kw = 0;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[3], 14.5, "grid L1");
}

/* A stale grid meter: every charger at its fallback, whatever the site looks like. */
static void test_stale_meter(void **state)
{
	struct solver_node grid = { .id = "grid", .parent = -1, .limit_a = { 250, 250, 250 } };
	struct solver_charger ch[3] = { ev3(0, 32), ev3(0, 32), ev1(0, 1, 16) };
	struct solver_result out[3];
	struct solver_input in = site(&grid, 1, ch, 3);

	(void)state;
	ch[1].fallback_a = 10;
	ch[2].ev = false;
	in.meter_stale = true;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 6, "fallback: meter stale");
	expect(&out[1], 10, "fallback: meter stale");
	expect(&out[2], 6, "fallback: meter stale");
}

/* A silent charger is counted at its fallback, an offline one too, an uncontrollable one at its
 * max. Grid 50 A: 48 A - 8 (silent) - 6 (offline) - 16 (uncontrolled) = 18 A for two EVs. */
static void test_silent_charger(void **state)
{
	struct solver_node grid = { .id = "grid", .parent = -1, .limit_a = { 50, 50, 50 } };
	struct solver_charger ch[5] = { ev3(0, 32), ev3(0, 32), ev3(0, 32), ev3(0, 32), ev3(0, 16) };
	struct solver_result out[5];
	struct solver_input in = site(&grid, 1, ch, 5);

	(void)state;
	ch[2].link = SOLVER_SILENT;
	ch[2].fallback_a = 8;
	ch[3].link = SOLVER_OFFLINE;
	ch[4].link = SOLVER_UNCONTROLLED;
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 9, "grid L1");
	expect(&out[1], 9, "grid L1");
	expect(&out[2], 8, "fallback: silent");
	expect(&out[3], 6, "fallback: offline");
	expect(&out[4], 16, "not controllable");
}

/* Ten EVs, room for four minimums. Solved every second for two hours: at every step four run at
 * 6 A, and no EV waits longer than max_wait_ms (plus one period). */
static void rotate(int64_t min_run_ms, int64_t max_wait_ms, int64_t *worst_wait_ms)
{
	struct solver_node grid = { .id = "grid", .parent = -1, .limit_a = { 26, 26, 26 } };
	struct solver_charger ch[10];
	struct solver_result out[10];
	struct solver_rotation rot[10] = { { 0, 0 } };
	struct solver_input in = site(&grid, 1, ch, 10);
	struct solver *s = solver_new(1, 10);
	int64_t since[10];

	assert_non_null(s);
	in.min_run_ms = min_run_ms;
	in.max_wait_ms = max_wait_ms;
	*worst_wait_ms = 0;
	for (int i = 0; i < 10; i++) {
		ch[i] = ev3(0, 32);
		since[i] = NOW;
	}
	for (int64_t now = NOW; now < NOW + 7200 * 1000; now += 1000) {
		int running = 0;

		assert_int_equal(solver_run(s, &in, rot, now, out), 0);
		for (int i = 0; i < 10; i++) {
			if (out[i].limit_a > 0) {
				expect(&out[i], 6, "grid L1");
				running++;
				since[i] = now;
			} else {
				expect(&out[i], 0, "paused: rotation");
				assert_true(rot[i].waiting_since_ms > 0);
			}
			if (now - since[i] > *worst_wait_ms)
				*worst_wait_ms = now - since[i];
		}
		assert_int_equal(running, 4);
	}
	solver_free(s);
}

static void test_rotation_bounded_wait(void **state)
{
	int64_t worst;

	(void)state;
	/* Round robin in 120 s slots: six waiting, four places: nobody waits more than 240 s. */
	rotate(120 * 1000, 600 * 1000, &worst);
	assert_true(worst <= 240 * 1000 + 1000);
	/* Slots longer than the allowed wait: the wait bound wins over the running slot. */
	rotate(300 * 1000, 400 * 1000, &worst);
	assert_true(worst <= 400 * 1000 + 1000);
	assert_true(worst >= 300 * 1000);
}

/* Nested circuits: a sub-distribution under a feeder; the deepest tight limit binds, and a
 * charger whose minimum cannot fit even alone is told which limit stops it. */
static void test_nested_and_no_room(void **state)
{
	struct solver_node nodes[] = {
		{ .id = "grid", .parent = -1, .limit_a = { 200, 200, 200 } },
		{ .id = "feeder-a", .parent = 0, .limit_a = { 80, 80, 80 } },
		{ .id = "sub-a1", .parent = 1, .limit_a = { 20, 20, 20 } },
		{ .id = "sub-a2", .parent = 1, .limit_a = { 0, 7, 0 } },
	};
	struct solver_charger ch[4] = { ev3(2, 32), ev3(2, 32), ev3(1, 32), ev1(3, 1, 32) };
	struct solver_result out[4];
	struct solver_input in = site(nodes, 4, ch, 4);

	(void)state;
	nodes[3].non_ev_a[1] = 1;       /* 7 - 2 - 1 = 4 A < 6 A */
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	expect(&out[0], 9, "sub-a1 L1");
	expect(&out[1], 9, "sub-a1 L1");
	expect(&out[2], 32, "charger max");
	expect(&out[3], 0, "paused: sub-a2 L2");
}

static void test_bad_input(void **state)
{
	struct solver_node nodes[2] = { { .id = "grid", .parent = -1 }, { .id = "x", .parent = 1 } };
	struct solver_charger ch[1] = { ev3(0, 32) };
	struct solver_result out[1];
	struct solver_input in = site(nodes, 2, ch, 1);
	struct solver *s = solver_new(1, 1);

	(void)state;
	assert_int_equal(run(&in, NULL, NOW, out), -EINVAL);    /* node 1 is its own parent */
	in.n_nodes = 1;
	ch[0].rotation[1] = 0;                                  /* not a permutation */
	assert_int_equal(run(&in, NULL, NOW, out), -EINVAL);
	memcpy(ch[0].rotation, ROT_123, 3);
	assert_int_equal(run(&in, NULL, NOW, out), 0);
	in.n_nodes = 2;
	nodes[1].parent = 0;
	assert_int_equal(solver_run(s, &in, NULL, NOW, out), -E2BIG);
	solver_free(s);
	solver_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forty_chargers_load_step),
		cmocka_unit_test(test_single_phase_car),
		cmocka_unit_test(test_phases_seen_kept),
		cmocka_unit_test(test_ev_max),
		cmocka_unit_test(test_probe_takes_only_what_is_left),
		cmocka_unit_test(test_unbalanced_feeder),
		cmocka_unit_test(test_battery_raises_headroom),
		cmocka_unit_test(test_single_phase_car_full_draw),
		cmocka_unit_test(test_stale_meter),
		cmocka_unit_test(test_silent_charger),
		cmocka_unit_test(test_rotation_bounded_wait),
		cmocka_unit_test(test_nested_and_no_room),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
