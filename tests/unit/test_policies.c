/* Policy scenarios: the same solver, different answers to "who first and how much", each with
 * the limit and binding constraint worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "edge/site/solver.h"
#include "policies/policy.h"

#define NOW 1000000
#define HOUR_MS (3600 * 1000)
#define MIN_MS (60 * 1000)

/* A car on a 3-phase charger that has shown its three phases (solver.h ev_phases_seen). */
static struct solver_charger ev(double max_a, int priority)
{
	return (struct solver_charger){ .id = "cp", .node = 0, .phases = 3, .rotation = { 0, 1, 2 },
					.min_a = 6, .max_a = max_a, .link = SOLVER_ONLINE, .ev = true,
					.priority = priority, .ev_phases_seen = 7 };
}

struct scene {
	struct solver_node grid;
	struct solver_charger ch[4];
	struct solver_result out[4];
	struct solver_input in;
};

/* A grid of `limit_a` per phase (margin 2 A) and n chargers under `policy`. */
static void scene_init(struct scene *sc, double limit_a, size_t n, const char *policy)
{
	memset(sc, 0, sizeof(*sc));
	sc->grid = (struct solver_node){ .id = "grid", .parent = -1, .limit_a = { limit_a, limit_a, limit_a } };
	sc->in = (struct solver_input){ .nodes = &sc->grid, .n_nodes = 1, .chargers = sc->ch,
					.n_chargers = n, .voltage_v = 230, .margin_a = 2, .fallback_a = 6,
					.policy = policy_find(policy) };
	assert_non_null(sc->in.policy);
}

static void solve(struct scene *sc, int64_t now_ms)
{
	struct solver *s = solver_new(1, sc->in.n_chargers);

	assert_non_null(s);
	assert_int_equal(solver_run(s, &sc->in, NULL, now_ms, sc->out), 0);
	solver_free(s);
}

static void expect(const struct solver_result *r, double limit_a, const char *binding)
{
	if (fabs(r->limit_a - limit_a) > 1e-3 || strcmp(r->binding, binding))
		fail_msg("got %.4f A \"%s\", want %.4f A \"%s\"", r->limit_a, r->binding, limit_a, binding);
}

static void test_lookup(void **state)
{
	static const char *const names[] = { "fair", "priority", "deadline", "cost", "plan" };
	size_t i;

	(void)state;
	for (i = 0; policy_at(i) && i < 5; i++)
		assert_string_equal(policy_at(i)->name, names[i]);
	assert_int_equal(i, 5);
	assert_null(policy_at(5));
	for (i = 0; i < 5; i++)
		assert_ptr_equal(policy_find(names[i]), policy_at(i));
	assert_null(policy_find("cheapest"));
	assert_null(policy_find(NULL));
}

/* Two priority-1 EVs and one priority-2 EV, as a table: policy, grid limit, each charger's max and
 * priority, and what each must get. */
static void test_priority(void **state)
{
	static const struct {
		const char *policy;
		double grid_a;
		struct { double max_a; int prio; double limit_a; const char *binding; } c[3];
	} cases[] = {
		/* 48 A: class 1 takes its max (16 A each); class 2 gets the other 16 A. */
		{ "priority", 50, { { 16, 1, 16, "charger max" }, { 16, 1, 16, "charger max" },
				    { 32, 2, 16, "grid L1" } } },
		/* 28 A: class 2 keeps its 6 A minimum, class 1 shares the other 22 A. */
		{ "priority", 30, { { 16, 1, 11, "grid L1" }, { 16, 1, 11, "grid L1" },
				    { 32, 2, 6, "grid L1" } } },
		/* 12 A: two minimums fit; the priority-2 EV pauses, whatever its index. */
		{ "priority", 14, { { 32, 2, 0, "paused: rotation" }, { 16, 1, 6, "grid L1" },
				    { 16, 1, 6, "grid L1" } } },
		/* `fair` ignores priorities: 28 A in three equal shares. */
		{ "fair", 30, { { 16, 1, 28.0 / 3, "grid L1" }, { 16, 1, 28.0 / 3, "grid L1" },
				{ 32, 2, 28.0 / 3, "grid L1" } } },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct scene sc;

		scene_init(&sc, cases[k].grid_a, 3, cases[k].policy);
		for (int i = 0; i < 3; i++)
			sc.ch[i] = ev(cases[k].c[i].max_a, cases[k].c[i].prio);
		solve(&sc, NOW);
		for (int i = 0; i < 3; i++)
			expect(&sc.out[i], cases[k].c[i].limit_a, cases[k].c[i].binding);
	}
}

/* Three EVs under `deadline` on a grid of grid_a: 0 without a deadline, 1 leaving in 8 h and 2
 * in 2 h (max_a2 at most), both needing 10 kWh. Solved at NOW. */
static void three_deadlines(struct scene *sc, double grid_a, double max_a2)
{
	scene_init(sc, grid_a, 3, "deadline");
	sc->ch[0] = ev(32, 1), sc->ch[1] = ev(32, 1), sc->ch[2] = ev(max_a2, 1);
	sc->ch[1].departure_ms = NOW + 8 * HOUR_MS, sc->ch[1].energy_need_wh = 10000;
	sc->ch[2].departure_ms = NOW + 2 * HOUR_MS, sc->ch[2].energy_need_wh = 10000;
	solve(sc, NOW);
}

/* 32 A three-phase = 22.08 kW. An EV needing 23 kWh within the hour has no laxity left. */
static void test_deadline(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 50, 2, "deadline");
	sc.ch[0] = ev(32, 1), sc.ch[1] = ev(32, 1);
	sc.ch[1].departure_ms = NOW + HOUR_MS;
	sc.ch[1].energy_need_wh = 23000;
	assert_true(policy_laxity_ms(&sc.in, &sc.ch[1], NOW) < 0);
	assert_int_equal(policy_need_ms(&sc.in, &sc.ch[1]), (int64_t)(23000.0 / 22080 * 3.6e6 + 0.5));
	solve(&sc, NOW);
	expect(&sc.out[1], 32, "charger max");          /* urgent class first */
	expect(&sc.out[0], 16, "grid L1");              /* 48 - 32 */
	/* With slack it is still first: least laxity first fills it to its cap before an EV
	 * without a deadline gets more (the old rule shared 24/24 as soon as it had slack). */
	sc.ch[1].energy_need_wh = 5000;
	solve(&sc, NOW);
	expect(&sc.out[1], 32, "charger max");
	expect(&sc.out[0], 16, "grid L1");
	/* EVs without a departure or need share fairly what is left (14 A: 7 A each, not 14 and 0). */
	scene_init(&sc, 16, 2, "deadline");
	sc.ch[0] = ev(32, 1), sc.ch[1] = ev(32, 1);
	solve(&sc, NOW);
	expect(&sc.out[0], 7, "grid L1");
	expect(&sc.out[1], 7, "grid L1");
	/* 12 A for three: the least laxity takes all 12 A; the others wait rather than split it
	 * into two 6 A minimums (the old rule gave 6 A to each of the two with a deadline). */
	three_deadlines(&sc, 14, 32);
	expect(&sc.out[0], 0, "paused: rotation");
	expect(&sc.out[1], 0, "paused: rotation");
	expect(&sc.out[2], 12, "grid L1");
	/* 20 A: 12 A is not the whole: the second in laxity order gets the 8 A left (>= 6 A). */
	three_deadlines(&sc, 22, 12);
	expect(&sc.out[2], 12, "charger max");
	expect(&sc.out[1], 8, "grid L1");
	expect(&sc.out[0], 0, "paused: rotation");
}

/* Two 32 A EVs under `deadline` on a 40 A grid (38 A after the margin): ch[0] leaves in an hour
 * needing wh0, ch[1] in 8 h needing wh1. */
static void hour_and_day(struct scene *sc, double wh0, double wh1)
{
	scene_init(sc, 40, 2, "deadline");
	sc->ch[0] = ev(32, 1), sc->ch[1] = ev(32, 1);
	sc->ch[0].departure_ms = NOW + HOUR_MS, sc->ch[0].energy_need_wh = wh0;
	sc->ch[1].departure_ms = NOW + 8 * HOUR_MS, sc->ch[1].energy_need_wh = wh1;
}

/* A new EV is given its cap ahead of the laxity order until it shows what it takes
 * (solver_input.show_max_ms, policy_showing_max): ranked by a laxity worked out at its charger's
 * 32 A, a car that takes 16 A showed it only when its turn came, too late. Grid 40 A (38 after
 * the margin): ch[0] leaves in an hour needing 23 kWh (late already), ch[1] plugged in 30 s ago
 * with 8 h to go. */
static void test_deadline_shows_max(void **state)
{
	struct scene sc;

	(void)state;
	hour_and_day(&sc, 23000, 10000);
	sc.ch[1].plugged_ms = NOW - 30 * 1000;
	sc.in.show_max_ms = 2 * MIN_MS;
	solve(&sc, NOW);
	expect(&sc.out[1], 32, "charger max");
	expect(&sc.out[0], 6, "grid L1");               /* 38 - 32 */
	/* Once a meter value showed it drawing its 32 A, or capped it lower, least laxity first again. */
	sc.ch[1].ev_max_shown = true;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 6, "grid L1");
	sc.ch[1].ev_max_shown = false;
	sc.ch[1].ev_limited = true, sc.ch[1].ev_cap_a = 16.3, sc.ch[1].ev_cap_slack_a = 0.3;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 6, "grid L1");
	/* And after show_max_ms whatever it showed; or at once if it told its maximum. */
	sc.ch[1].ev_limited = false, sc.ch[1].ev_cap_a = sc.ch[1].ev_cap_slack_a = 0;
	solve(&sc, sc.ch[1].plugged_ms + sc.in.show_max_ms);
	expect(&sc.out[0], 32, "charger max");
	sc.ch[1].ev_max_told = true;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 6, "grid L1");
	/* Nor an EV without a departure or a need: it has no laxity to get right, and shares what the
	 * others leave. */
	sc.ch[1].ev_max_told = false;
	sc.ch[1].departure_ms = 0;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 6, "grid L1");
}

/* An EV tapering under the charger's minimum, capped close above its draw (5.3 A of 6), is given
 * the minimum, as the solver counts it: the sorted greedy took its cap for its share, found it
 * under the minimum and gave it 0, and it left with its last kWh not charged. */
static void test_deadline_cap_under_minimum(void **state)
{
	struct scene sc;

	(void)state;
	hour_and_day(&sc, 300, 40000);
	sc.ch[0].ev_limited = true, sc.ch[0].ev_cap_a = 5.3, sc.ch[0].ev_cap_slack_a = 0.3;
	solve(&sc, NOW);
	expect(&sc.out[0], 6, "EV-limited");
	expect(&sc.out[1], 32, "charger max");
}

/* An EV that least laxity first holds stays held however long it has waited: rotation does
 * not override it (that cost energy below the llf reference on replays); its shrinking laxity
 * is what brings it forward. */
static void test_deadline_hold_beats_rotation(void **state)
{
	struct scene sc;
	struct solver_rotation rot[3] = { 0 };
	struct solver *s = solver_new(1, 3);

	(void)state;
	assert_non_null(s);
	three_deadlines(&sc, 14, 32);
	sc.in.max_wait_ms = 15 * MIN_MS;
	sc.in.min_run_ms = 5 * MIN_MS;
	rot[1].waiting_since_ms = NOW - 60 * MIN_MS;
	assert_int_equal(solver_run(s, &sc.in, rot, NOW, sc.out), 0);
	expect(&sc.out[2], 12, "grid L1");
	expect(&sc.out[1], 0, "paused: rotation");
	solver_free(s);
}

/* An EV that charges keeps its place until a waiting one's laxity is DEADLINE_KEEP_MS (5 min)
 * below its own: least laxity first swapped two cars of equal laxity every second (a held car's
 * laxity falls, a charging one's stands), 300 starts per session on a replayed depot day. Grid
 * 36 A (34 after the margin): room for one 32 A car. Each needs an hour at 32 A (22.08 kW). */
static void test_deadline_keeps_running(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 36, 2, "deadline");
	sc.ch[0] = ev(32, 1), sc.ch[1] = ev(32, 1);
	sc.ch[0].departure_ms = NOW + 3 * HOUR_MS, sc.ch[0].energy_need_wh = 22080;
	sc.ch[1].departure_ms = NOW + 3 * HOUR_MS - 3 * MIN_MS, sc.ch[1].energy_need_wh = 22080;
	solve(&sc, NOW);                /* neither given current before: least laxity first */
	expect(&sc.out[1], 32, "charger max");
	expect(&sc.out[0], 0, "paused: rotation");
	sc.ch[0].running = true;        /* the last solve gave ch[0] its current */
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
	/* 6 minutes less laxity: the waiting car takes over */
	sc.ch[1].departure_ms = NOW + 3 * HOUR_MS - 6 * MIN_MS;
	solve(&sc, NOW);
	expect(&sc.out[1], 32, "charger max");
	expect(&sc.out[0], 0, "paused: rotation");
	/* and so with no laxity left: a car that cannot finish keeps charging as well */
	sc.ch[0].departure_ms = NOW + HOUR_MS / 2, sc.ch[1].departure_ms = NOW + HOUR_MS / 2 - 3 * MIN_MS;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
}

/* Of two cars that cannot finish, with room for one (32 A on three phases: 22.08 kW), the one
 * that would leave with the smaller share of what it asked for charges: a bus that stays 8 h and
 * needs 250 kWh (11.3 h: 70.7 % of it if it charges from now on) and a car leaving in 30 minutes
 * that needs 20 kWh (55.2 %). Least laxity first charged the bus (3.3 h short against the car's
 * 24 minutes) and the car left with nothing. What was delivered since the need was told counts
 * as the driver's: with 15 kWh of 35 already in, the car would leave with 74.4 %. */
static void test_deadline_least_share_first(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 36, 2, "deadline");
	sc.ch[0] = ev(32, 1), sc.ch[1] = ev(32, 1);
	sc.ch[0].departure_ms = NOW + 8 * HOUR_MS, sc.ch[0].energy_need_wh = 250000;
	sc.ch[1].departure_ms = NOW + 30 * MIN_MS, sc.ch[1].energy_need_wh = 20000;
	solve(&sc, NOW);
	expect(&sc.out[1], 32, "charger max");
	expect(&sc.out[0], 0, "paused: rotation");
	sc.ch[1].energy_done_wh = 15000;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
	/* The bus charges; the car's share falls while it waits. Five minutes on, 69.1 % against the
	 * bus's 69.9 %: the bus keeps its place (DEADLINE_KEEP_SHARE); twelve, 61.8 %: the car's turn. */
	sc.ch[0].running = true;
	solve(&sc, NOW + 5 * MIN_MS);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
	solve(&sc, NOW + 12 * MIN_MS);
	expect(&sc.out[1], 32, "charger max");
	expect(&sc.out[0], 0, "paused: rotation");
}

/* Grid 40 A per phase (38 after the margin) under `deadline`: L1 taken by ch[0], a car on a
 * single-phase charger leaving in an hour; ch[1] a car on a 3-phase charger wired L2-L3-L1,
 * leaving in 4 h, that has shown L2. */
static void l1_taken(struct scene *sc)
{
	scene_init(sc, 40, 2, "deadline");
	sc->ch[0] = ev(38, 1), sc->ch[1] = ev(32, 1);
	sc->ch[0].phases = 1;
	sc->ch[0].departure_ms = NOW + HOUR_MS, sc->ch[0].energy_need_wh = 7360;
	sc->ch[1].rotation[0] = 1, sc->ch[1].rotation[1] = 2, sc->ch[1].rotation[2] = 0;
	sc->ch[1].ev_phases_seen = 1u << 1;
	sc->ch[1].departure_ms = NOW + 4 * HOUR_MS, sc->ch[1].energy_need_wh = 7360;
}

/* A single-phase car on a 3-phase charger that has shown L2 and is held counts on L2 alone under
 * `deadline`, so it starts while L1 is full (32 A on L2, not 0); one that has not shown them
 * counts on all three. */
static void test_deadline_phases_seen(void **state)
{
	struct scene sc;

	(void)state;
	l1_taken(&sc);
	assert_int_equal(solver_phase_mask(&sc.ch[1]), 1u << 1);
	solve(&sc, NOW);
	expect(&sc.out[0], 38, "charger max");
	expect(&sc.out[1], 32, "charger max");
	/* A car that has not shown its phases counts on all three: L1 has no room. */
	sc.ch[1].ev_phases_seen = 0;
	assert_int_equal(solver_phase_mask(&sc.ch[1]), 7);
	solve(&sc, NOW);
	expect(&sc.out[0], 38, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
}

/* An EV that has just plugged in gets its minimum before the laxity order until it has shown its
 * phases, so a single-phase car is not held on all three phases for good once one is full; after
 * PHASES_SHOWN_WITHIN_MS (2 min) without showing them it is not started for this again. */
static void test_deadline_shows_phases(void **state)
{
	struct scene sc;

	(void)state;
	l1_taken(&sc);
	sc.ch[1].ev_phases_seen = 0;
	sc.ch[1].plugged_ms = NOW - 30 * 1000;
	sc.ch[1].reports_current = true;
	solve(&sc, NOW);
	expect(&sc.out[1], 6, "grid L1");
	expect(&sc.out[0], 32, "grid L1");
	/* It drew on L2 (and was paused again): counted there, it has L2 to itself. */
	sc.ch[1].ev_phases_seen = 1u << 1;
	solve(&sc, NOW + 20 * 1000);
	expect(&sc.out[0], 38, "charger max");
	expect(&sc.out[1], 32, "charger max");
	/* One that never drew within 2 minutes of plugging in counts on all three again: L1 is full. */
	sc.ch[1].ev_phases_seen = 0;
	solve(&sc, NOW + 60 * 1000);
	expect(&sc.out[1], 6, "grid L1");
	solve(&sc, sc.ch[1].plugged_ms + 2 * MIN_MS);
	expect(&sc.out[0], 38, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
	/* Nor a car on a charger whose meter values carry no current per phase: it cannot show them. */
	sc.ch[1].plugged_ms = NOW;
	sc.ch[1].reports_current = false;
	solve(&sc, NOW);
	expect(&sc.out[1], 0, "paused: rotation");
	sc.ch[1].reports_current = true;
	/* A car that draws before a settled meter value has shown its phases keeps its minimum:
	 * counted on all three it would be held, and started again at the next solve. */
	sc.ch[1].draw_a[0] = 6;
	solve(&sc, NOW);
	expect(&sc.out[1], 6, "grid L1");
}

/* A phase that single-phase cars fill goes to a 3-phase EV that needs it, down to their minimum:
 * every amp then charges on three phases. Grid 40 A per phase (38 after the margin); ch[0] and
 * ch[2] on single-phase chargers on L1 leave in 1 and 2 h, ch[1] a 3-phase car in 8 h. The
 * textbook gives ch[0] 32 A, ch[2] the 6 A left of L1 and ch[1] nothing (38 A on one phase);
 * now ch[1] takes L1's 26 A above the others' minimums, ch[0] (less laxity) giving them:
 * 6 + 6 A on L1 and 26 A on three phases, 90 A in all. */
static void test_deadline_phase_to_wider(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 40, 3, "deadline");
	sc.ch[0] = ev(32, 1), sc.ch[1] = ev(32, 1), sc.ch[2] = ev(32, 1);
	sc.ch[0].phases = sc.ch[2].phases = 1;
	sc.ch[0].departure_ms = NOW + HOUR_MS, sc.ch[0].energy_need_wh = 7360;
	sc.ch[2].departure_ms = NOW + 2 * HOUR_MS, sc.ch[2].energy_need_wh = 14720;
	sc.ch[1].departure_ms = NOW + 8 * HOUR_MS, sc.ch[1].energy_need_wh = 22080;
	solve(&sc, NOW);
	expect(&sc.out[0], 6, "grid L1");
	expect(&sc.out[1], 26, "grid L1");
	expect(&sc.out[2], 6, "grid L1");
	/* Not for a car that has not shown its phases (it may be a single-phase car): textbook. */
	sc.ch[1].ev_phases_seen = 0;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
	expect(&sc.out[2], 6, "grid L1");
	/* Nor when the 3-phase car's other phases are full: L2 and L3 taken by others. */
	sc.ch[1].ev_phases_seen = 7;
	sc.grid.non_ev_a[1] = sc.grid.non_ev_a[2] = 38;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	expect(&sc.out[1], 0, "paused: rotation");
}

/* The rebalance with a 2-phase car between (found by a helper's fuzzing: the 2-phase car, at its
 * minimum while it gained, was skipped when the 3-phase EV took L3 from it, and L3 was promised
 * 64 A of its 38). Grid 60/60/40 A (margin 2); ch[0] single-phase on L3 leaves in 1 h, ch[1] a
 * car seen on L1 and L3 in 4 h, ch[2] a 3-phase car in 8 h. The greedy gives 32/6/0 A; ch[1] then
 * takes L3 from ch[0] (32 A), and ch[2] from ch[1]: 6/6/26 A, L3 at 38. */
static void test_deadline_rebalance_two_phase_car(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 60, 3, "deadline");
	sc.grid.limit_a[2] = 40;
	sc.ch[0] = ev(32, 1), sc.ch[1] = ev(32, 1), sc.ch[2] = ev(32, 1);
	sc.ch[0].phases = 1, sc.ch[0].rotation[0] = 2;
	sc.ch[1].ev_phases_seen = 1u << 0 | 1u << 2;
	sc.ch[0].departure_ms = NOW + HOUR_MS, sc.ch[0].energy_need_wh = 7360;
	sc.ch[1].departure_ms = NOW + 4 * HOUR_MS, sc.ch[1].energy_need_wh = 14720;
	sc.ch[2].departure_ms = NOW + 8 * HOUR_MS, sc.ch[2].energy_need_wh = 22080;
	solve(&sc, NOW);
	expect(&sc.out[0], 6, "grid L3");
	expect(&sc.out[1], 6, "grid L3");
	expect(&sc.out[2], 26, "grid L3");
}

/* A single-phase car (EV-limited at 16 A on L1) needs three times as long as the charger's
 * rating suggests. */
static void test_need_single_phase_car(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 50, 1, "deadline");
	sc.ch[0] = ev(32, 1);
	sc.ch[0].ev_limited = true;
	sc.ch[0].draw_a[0] = 16;
	sc.ch[0].energy_need_wh = 3680;         /* 16 A x 230 V = 3.68 kW: one hour */
	assert_int_equal(policy_need_ms(&sc.in, &sc.ch[0]), HOUR_MS);
	sc.ch[0].energy_need_wh = 0;
	assert_int_equal(policy_need_ms(&sc.in, &sc.ch[0]), 0);
	assert_true(policy_laxity_ms(&sc.in, &sc.ch[0], NOW) == INT64_MAX);
}

/* Prices: 0.30 until NOW + 1 h, 0.10 until NOW + 3 h, then 0.30. EV 0 leaves at NOW + 4 h
 * needing 11.04 kWh (half an hour at 22.08 kW); EV 1 has no departure; EV 2 leaves at NOW + 1.5 h
 * needing the same (only 0.5 h of cheap time before it leaves: not enough with the 1.25 safety). */
static void test_cost(void **state)
{
	static const struct price_slot prices[] = {
		{ NOW - HOUR_MS, 0.30 }, { NOW + HOUR_MS, 0.10 }, { NOW + 3 * HOUR_MS, 0.30 },
	};
	struct scene sc;
	double charged_wh = 0, expensive_wh = 0;

	(void)state;
	scene_init(&sc, 100, 3, "cost");
	sc.in.prices = prices;
	sc.in.n_prices = 3;
	sc.ch[0] = ev(32, 1), sc.ch[1] = ev(32, 1), sc.ch[2] = ev(32, 1);
	sc.ch[0].departure_ms = NOW + 4 * HOUR_MS, sc.ch[0].energy_need_wh = 11040;
	sc.ch[2].departure_ms = NOW + HOUR_MS + 30 * MIN_MS, sc.ch[2].energy_need_wh = 11040;
	solve(&sc, NOW);
	expect(&sc.out[0], 0, "paused: price");
	expect(&sc.out[1], 32, "charger max");
	expect(&sc.out[2], 32, "charger max");
	/* Run EV 0 alone minute by minute: it charges only in the cheap window and is full before
	 * it leaves. */
	sc.in.n_chargers = 1;
	for (int64_t now = NOW; now < sc.ch[0].departure_ms && sc.ch[0].energy_need_wh > 0; now += MIN_MS) {
		double wh;

		solve(&sc, now);
		wh = fmin(sc.out[0].limit_a * 230 * 3 / 60, sc.ch[0].energy_need_wh);
		sc.ch[0].energy_need_wh -= wh;
		charged_wh += wh;
		if (now < NOW + HOUR_MS || now >= NOW + 3 * HOUR_MS)
			expensive_wh += wh;
	}
	assert_true(fabs(charged_wh - 11040) < 1e-6);
	assert_true(expensive_wh == 0);
	/* Equal prices never defer. */
	sc.in.n_prices = 1;
	sc.ch[0].energy_need_wh = 11040;
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
}

/* Not enough cheap time: an EV that would miss its departure by waiting charges at the expensive
 * price, and one without laxity goes first. */
static void test_cost_keeps_deadline(void **state)
{
	static const struct price_slot prices[] = { { 0, 0.50 }, { NOW + 10 * MIN_MS, 0.05 } };
	struct scene sc;

	(void)state;
	scene_init(&sc, 100, 1, "cost");
	sc.in.prices = prices;
	sc.in.n_prices = 2;
	sc.ch[0] = ev(32, 1);
	sc.ch[0].departure_ms = NOW + HOUR_MS;
	sc.ch[0].energy_need_wh = 22080 * 0.75;         /* 45 min of the 50 cheap: 1.25 x 45 > 50 */
	solve(&sc, NOW);
	expect(&sc.out[0], 32, "charger max");
	sc.ch[0].energy_need_wh = 22080 * 0.5;          /* 30 min: 1.25 x 30 <= 50, so wait */
	solve(&sc, NOW);
	expect(&sc.out[0], 0, "paused: price");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_deadline_hold_beats_rotation),
		cmocka_unit_test(test_deadline_keeps_running),
		cmocka_unit_test(test_deadline_least_share_first),
		cmocka_unit_test(test_deadline_shows_phases),
		cmocka_unit_test(test_deadline_shows_max),
		cmocka_unit_test(test_deadline_cap_under_minimum),
		cmocka_unit_test(test_deadline_phase_to_wider),
		cmocka_unit_test(test_deadline_rebalance_two_phase_car),
		cmocka_unit_test(test_deadline_phases_seen),
		cmocka_unit_test(test_need_single_phase_car),
		cmocka_unit_test(test_cost),
		cmocka_unit_test(test_cost_keeps_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
