/* The `plan` policy: the planner's targets on cases worked out by hand, and the real-time solver
 * following them. 230 V, three-phase 32 A cars: 22.08 kW, so 22.08 kWh is one hour at the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "edge/site/site-model.h"
#include "edge/site/solver.h"
#include "policies/plan-hedge.h"
#include "policies/plan.h"
#include "policies/plan-lp.h"
#include "policies/policy.h"

#define NOW 1000000
#define HOUR_MS (3600 * 1000)
#define KWH_AT_32A 22080.0

struct scene {
	struct solver_node grid;
	struct solver_charger ch[4];
	struct solver_result out[4];
	double target_a[4];
	struct solver_input in;
};

static const struct plan_params params = { .period_ms = 60000, .default_dwell_ms = 8 * HOUR_MS };

/* A grid of limit_a per phase, margin margin_a, n three-phase 32 A EVs (need and departure unset). */
static void scene_init(struct scene *sc, double limit_a, double margin_a, size_t n)
{
	memset(sc, 0, sizeof(*sc));
	sc->grid = (struct solver_node){ .id = "grid", .parent = -1, .limit_a = { limit_a, limit_a, limit_a } };
	for (size_t i = 0; i < n; i++)
		sc->ch[i] = (struct solver_charger){ .id = "cp", .phases = 3, .rotation = { 0, 1, 2 }, .min_a = 6,
						     .max_a = 32, .link = SOLVER_ONLINE, .ev = true };
	sc->in = (struct solver_input){ .nodes = &sc->grid, .n_nodes = 1, .chargers = sc->ch, .n_chargers = n,
					.voltage_v = 230, .margin_a = margin_a, .fallback_a = 6,
					.policy = policy_find("plan") };
	assert_non_null(sc->in.policy);
}

static void plan(struct scene *sc)
{
	struct plan_stats st;
	size_t evs = 0;

	for (size_t i = 0; i < sc->in.n_chargers; i++)
		evs += sc->ch[i].ev && sc->ch[i].link == SOLVER_ONLINE;
	assert_int_equal(plan_compute(&sc->in, NOW, &params, sc->target_a, &st), 0);
	assert_int_equal(st.evs, evs);
	sc->in.plan_a = sc->target_a;
}

static void solve(struct scene *sc)
{
	struct solver *s = solver_new(1, sc->in.n_chargers);

	assert_non_null(s);
	assert_int_equal(solver_run(s, &sc->in, NULL, NOW, sc->out), 0);
	solver_free(s);
}

#define assert_near(x, want) do { \
	double x_ = (x), w_ = (want); \
	if (fabs(x_ - w_) > 1e-3) \
		fail_msg("%s is %.4f, want %.4f", #x, x_, w_); \
} while (0)

/* 48 A, margin 0. A leaves in 1 h wanting 22.08 kWh: only 32 A all the hour makes it. B leaves in
 * 2 h wanting 22.08 kWh: 16 A the first hour, then 32 A for 30 min. So the first period is A 32 A,
 * B 16 A; `fair` would give 24 A each and A would leave 5.52 kWh short. The solver follows. */
static void test_deadline_first(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 48, 0, 2);
	sc.ch[0].departure_ms = NOW + HOUR_MS;
	sc.ch[0].energy_need_wh = KWH_AT_32A;
	sc.ch[1].departure_ms = NOW + 2 * HOUR_MS;
	sc.ch[1].energy_need_wh = KWH_AT_32A;
	plan(&sc);
	assert_near(sc.target_a[0], 32);
	assert_near(sc.target_a[1], 16);
	solve(&sc);
	assert_near(sc.out[0].limit_a, 32);
	assert_near(sc.out[1].limit_a, 16);
	/* No plan (none yet, or too old): the policy shares as `fair` does. */
	sc.in.plan_a = NULL;
	solve(&sc);
	assert_near(sc.out[0].limit_a, 24);
	assert_near(sc.out[1].limit_a, 24);
}

/* Equals share: two identical EVs on 40 A less a 2 A margin and 6 A of building load: 32 A for
 * two, 16 A each (a simplex vertex would give one of them 32 A and the other nothing). */
static void test_equals_share(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 40, 2, 2);
	for (int p = 0; p < 3; p++)
		sc.grid.non_ev_a[p] = 6;
	for (int i = 0; i < 2; i++) {
		sc.ch[i].departure_ms = NOW + 4 * HOUR_MS;
		sc.ch[i].energy_need_wh = 3 * KWH_AT_32A;
	}
	plan(&sc);
	assert_near(sc.target_a[0], 16);
	assert_near(sc.target_a[1], 16);
	solve(&sc);
	assert_near(sc.out[0].limit_a, 16);
	assert_near(sc.out[1].limit_a, 16);
}

/* An EV without a departure is planned with the default dwell (8 h) and without a need as wanting
 * all it can: on 48 A it gets what the EV leaving in 1 h with 22.08 kWh leaves, 16 A. An EV
 * that the plan holds back waits ("paused: rotation") rather than taking its 6 A minimum from
 * the others. */
static void test_no_departure_and_hold(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 48, 0, 3);
	sc.ch[0].departure_ms = NOW + HOUR_MS;
	sc.ch[0].energy_need_wh = KWH_AT_32A;
	sc.ch[1].energy_need_wh = 2 * KWH_AT_32A;               /* no departure */
	sc.ch[2].departure_ms = NOW + 10 * HOUR_MS;             /* no need: all it can */
	sc.ch[2].ev = false;
	sc.in.n_chargers = 2;
	plan(&sc);
	assert_near(sc.target_a[0], 32);
	assert_near(sc.target_a[1], 16);
	/* A third EV the plan has not seen yet (target 0) waits for the next plan. */
	sc.ch[2].ev = true;
	sc.in.n_chargers = 3;
	sc.target_a[2] = 0;
	solve(&sc);
	assert_near(sc.out[0].limit_a, 32);
	assert_near(sc.out[1].limit_a, 16);
	assert_near(sc.out[2].limit_a, 0);
	assert_int_equal(sc.out[2].bind, BIND_PAUSED_ROTATION);
}

/* A charger that is offline draws its fallback (6 A here) whatever is planned: on 30 A, margin
 * 0, the plan gives the online EV the other 24 A. */
static void test_offline_fallback_counted(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 30, 0, 2);
	sc.ch[0].departure_ms = NOW + HOUR_MS;
	sc.ch[0].energy_need_wh = KWH_AT_32A;
	sc.ch[1].link = SOLVER_OFFLINE;
	plan(&sc);
	assert_near(sc.target_a[0], 24);
	assert_near(sc.target_a[1], 0);
}

/* The present is spread: 36 A for three EVs leaving in 4 h that cannot all finish (3, 2 and 1 h
 * at the cap: 192 of 144 A h). Whoever charges now, the energy by the departures is the same, so
 * the first two minimums of each (12 A) are worth more: 12 A each, not 32 A for the least laxity
 * and the 4 A left for the next. */
static void test_present_spread(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 36, 0, 3);
	for (int i = 0; i < 3; i++) {
		sc.ch[i].departure_ms = NOW + 4 * HOUR_MS;
		sc.ch[i].energy_need_wh = (3 - i) * KWH_AT_32A;
	}
	plan(&sc);
	solve(&sc);
	for (int i = 0; i < 3; i++) {
		assert_near(sc.target_a[i], 12);
		assert_near(sc.out[i].limit_a, 12);
	}
}

/* An EV that takes less than it is offered (EV-limited: it draws 20 A, so the site caps it at
 * 20 A + the 2 A slack) is planned at its draw: on 48 A with two EVs that both want more than
 * they can get in their 4 h, A 20 A and B 28 A, and the solver offers just that. Planned at its
 * cap, A got 22 A it never drew and B 26 A. */
static void test_ev_limited_at_draw(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 48, 0, 2);
	sc.in.ev_slack_a = 2;
	for (int i = 0; i < 2; i++) {
		sc.ch[i].departure_ms = NOW + 4 * HOUR_MS;
		sc.ch[i].energy_need_wh = 4 * KWH_AT_32A;
		sc.ch[i].draw_fresh = true;
	}
	sc.ch[0].ev_limited = true;
	for (int p = 0; p < 3; p++)
		sc.ch[0].draw_a[p] = 20;
	plan(&sc);
	assert_near(sc.target_a[0], 20);
	assert_near(sc.target_a[1], 28);
	solve(&sc);
	assert_near(sc.out[0].limit_a, 20);
	assert_near(sc.out[1].limit_a, 28);
}

static void no_load(void *arg, int64_t t_ms, double *nv)
{
	(void)arg;
	(void)t_ms;
	nv[0] = nv[1] = nv[2] = 0;
}

/* Two three-phase 32 A jobs plugged in for the hour from NOW on a grid of 32 A, and their plan. */
struct hour {
	struct scene sc;
	struct plan_lp_job jobs[2];
	struct plan_lp_result r;
	double first[2];                /* each job's current */
};

static void hour_init(struct hour *h, double need0_wh, double need1_wh)
{
	scene_init(&h->sc, 32, 0, 2);
	for (int i = 0; i < 2; i++)
		h->jobs[i] = (struct plan_lp_job){ .node = 0, .mask = 7, .max_a = 32, .from_ms = NOW,
						   .until_ms = NOW + HOUR_MS, .need_wh = i ? need1_wh : need0_wh };
}

static void solve_hour(struct hour *h)
{
	int64_t cuts[2] = { NOW, NOW + HOUR_MS };

	assert_int_equal(plan_lp_solve(&h->sc.in, h->jobs, 2, cuts, 2, no_load, NULL, 0, h->first, &h->r), 0);
}

/* The floor: one hour, 32 A for two EVs. A needs 22.08 kWh (the whole hour at 32 A), B 44.16 kWh;
 * A's energy is worth 1, B's 0.99. Without a floor A takes all 32 A and B nothing. With B's
 * first 20 % (8.832 kWh = 12.8 A for the hour) worth 0.03 more, B's floor (1.02) beats A's energy
 * beyond its own floor (1.0): B 12.8 A, A 19.2 A (A's floor, 4.416 kWh = 6.4 A, is met). */
static void test_floor_each_ev(void **state)
{
	struct hour h;

	(void)state;
	hour_init(&h, KWH_AT_32A, 2 * KWH_AT_32A);
	h.jobs[1].worth = 0.99;
	solve_hour(&h);
	assert_near(h.first[0], 32);
	assert_near(h.first[1], 0);
	for (int i = 0; i < 2; i++)
		h.jobs[i].floor_wh = PLAN_FLOOR_SHARE * h.jobs[i].need_wh;
	solve_hour(&h);
	assert_near(h.first[0], 19.2);
	assert_near(h.first[1], 12.8);
	assert_near(h.r.delivered_wh, KWH_AT_32A);
}

/* The tail: one hour, 32 A for two EVs, each asking 8.832 kWh (12.8 A for the hour), A with a tail
 * of 2.208 kWh (3.2 A), B without. The needs take 25.6 A; A's tail is worth half, so it takes what
 * the needs leave, 3.2 A of the 6.4: A 16 A, B 12.8 A, 11.04 + 8.832 kWh planned. On 28 A the
 * needs come first (the tail's 0.5 loses to B's 1): A 15.2 A, B 12.8 A (A 2.4 A of tail). The
 * tail is worth half of its own job's worth: against a B worth 0.25, A's tail (0.5) comes first,
 * A 16 A and B 12 A. */
static void test_tail_takes_what_needs_leave(void **state)
{
	struct hour h;

	(void)state;
	hour_init(&h, 0.4 * KWH_AT_32A, 0.4 * KWH_AT_32A);
	h.jobs[0].tail_wh = 0.1 * KWH_AT_32A;
	solve_hour(&h);
	assert_near(h.first[0], 16);
	assert_near(h.first[1], 12.8);
	assert_near(h.r.delivered_wh, 0.9 * KWH_AT_32A);
	h.sc.grid.limit_a[0] = h.sc.grid.limit_a[1] = h.sc.grid.limit_a[2] = 28;
	solve_hour(&h);
	assert_near(h.first[0], 15.2);
	assert_near(h.first[1], 12.8);
	h.jobs[1].worth = 0.25;
	solve_hour(&h);
	assert_near(h.first[0], 16);
	assert_near(h.first[1], 12);
}

/* A phase that binds: 32 A per phase, a 3-phase EV that cannot finish either (200 kWh in 8 h: it
 * needs 9) and a single-phase car on L1 leaving in an hour. Every L1 amp charges three times the
 * power in the 3-phase EV, so the energy-best plan gives the car nothing: with 30 kWh asked it would leave
 * with 24.5 % at most. With 40 kWh, 18.4 % at most: below PLAN_RESCUE_SHARE, it is rescued and
 * takes L1 (the 3-phase EV waits); under the plan from before, all but the 3-phase EV's minimum
 * (the solver admits every minimum that fits first). */
static void test_rescue_single_phase_car(void **state)
{
	struct scene sc;
	double before[2];

	(void)state;
	scene_init(&sc, 32, 0, 2);
	sc.ch[0].departure_ms = NOW + 8 * HOUR_MS, sc.ch[0].energy_need_wh = 200000;
	sc.ch[1].phases = 1;
	sc.ch[1].departure_ms = NOW + HOUR_MS, sc.ch[1].energy_need_wh = 30000;
	plan(&sc);
	assert_near(sc.target_a[0], 32);
	assert_near(sc.target_a[1], 0);
	memcpy(before, sc.target_a, sizeof(before));
	sc.ch[1].energy_need_wh = 40000;
	plan(&sc);
	assert_near(sc.target_a[0], 0);
	assert_near(sc.target_a[1], 32);
	solve(&sc);
	assert_near(sc.out[0].limit_a, 0);
	assert_near(sc.out[1].limit_a, 32);
	sc.in.plan_a = before;          /* the plan from before, late: the EV it serves keeps its minimum */
	solve(&sc);
	assert_near(sc.out[0].limit_a, 6);
	assert_near(sc.out[1].limit_a, 26);
}

/* An EV that plugged in under show_max_ms (2 min) ago and has not shown its maximum (neither told
 * it nor drawn less than offered) gets its cap first, whatever the plan: on 48 A, planned at 32
 * and 16 A, the new EV B takes 32 A and A the 16 A left. Once it has plugged in longer, once it
 * is EV-limited, or once it told its maximum and showed its phases, the plan's 32/16 A hold. */
static void test_new_ev_shows_max(void **state)
{
	struct scene sc;
	double planned[2] = { 32, 16 };

	(void)state;
	scene_init(&sc, 48, 0, 2);
	sc.in.show_max_ms = 2 * 60 * 1000;
	sc.in.plan_a = planned;
	sc.ch[0].plugged_ms = NOW - HOUR_MS;
	sc.ch[1].plugged_ms = NOW - 30 * 1000;
	solve(&sc);
	assert_near(sc.out[0].limit_a, 16);
	assert_near(sc.out[1].limit_a, 32);
	sc.ch[1].plugged_ms = NOW - sc.in.show_max_ms;
	solve(&sc);
	assert_near(sc.out[0].limit_a, 32);
	assert_near(sc.out[1].limit_a, 16);
	sc.ch[1].plugged_ms = NOW - 30 * 1000;
	sc.ch[1].ev_limited = true;
	sc.ch[1].ev_cap_a = 17;
	solve(&sc);
	assert_near(sc.out[0].limit_a, 32);
	assert_near(sc.out[1].limit_a, 16);
	sc.ch[1].ev_limited = false;    /* told its maximum (even the charger's 32 A): still its phases */
	sc.ch[1].ev_cap_a = 0;
	site_model_ev_limits(&sc.ch[1], 0, 32);
	solve(&sc);
	assert_near(sc.out[0].limit_a, 16);
	assert_near(sc.out[1].limit_a, 32);
	sc.ch[1].ev_phases_seen = 7;    /* and shown them: nothing left to learn */
	solve(&sc);
	assert_near(sc.out[0].limit_a, 32);
	assert_near(sc.out[1].limit_a, 16);
}

/* An EV that received what its driver asked for (20 kWh) and still charges is planned to take a
 * quarter more by its departure in an hour, at the urgency that gives: on 32 A beside an EV that
 * gave no need (all it can, the least urgent), it gets the 8 A above both EVs' spread share (12 A
 * each). Counted as wanting all it can too, the two were equals at 16 A each. */
static void test_overrun_planned(void **state)
{
	struct scene sc;

	(void)state;
	scene_init(&sc, 32, 0, 2);
	for (int i = 0; i < 2; i++)
		sc.ch[i].departure_ms = NOW + HOUR_MS;
	sc.ch[0].energy_done_wh = 20000;
	plan(&sc);
	assert_near(sc.target_a[0], 20);
	assert_near(sc.target_a[1], 12);
}

/* The plan counts on an EV only until a little before its departure: one leaving in 1 h that
 * wants 2 h at 32 A is planned to 7.5 min before (1/8 of the hour, less than 30 min): 32 A for
 * 52.5 min, 19.32 kWh. In 16 h, 30 min before: 15.5 h. */
static void test_finish_early(void **state)
{
	struct scene sc;
	struct plan_stats st;

	(void)state;
	scene_init(&sc, 48, 0, 1);
	sc.ch[0].departure_ms = NOW + HOUR_MS;
	sc.ch[0].energy_need_wh = 2 * KWH_AT_32A;
	assert_int_equal(plan_compute(&sc.in, NOW, &params, sc.target_a, &st), 0);
	assert_near(sc.target_a[0], 32);
	assert_near(st.planned_wh, KWH_AT_32A * 52.5 / 60);
	sc.ch[0].departure_ms = NOW + 16 * HOUR_MS;
	sc.ch[0].energy_need_wh = 20 * KWH_AT_32A;
	assert_int_equal(plan_compute(&sc.in, NOW, &params, sc.target_a, &st), 0);
	assert_near(st.planned_wh, KWH_AT_32A * 15.5);
}

/* How early drivers left: 0 before any session; the 0.9 quantile of the last ones, those that
 * left late counting 0; the oldest forgotten after PLAN_HEDGE_SAMPLES. */
static void test_hedge_learned(void **state)
{
	struct plan_hedge h = { 0 };

	(void)state;
	assert_int_equal(plan_hedge_early_ms(&h), 0);
	for (int i = 0; i < 5; i++)
		plan_hedge_note(&h, NOW, NOW + i * 60000);              /* left when they said, or later */
	for (int i = 1; i <= 5; i++)
		plan_hedge_note(&h, NOW + i * 600000, NOW);             /* 10 .. 50 min early */
	/* sorted 0 0 0 0 0 10 20 30 40 50: the 0.9 quantile of 10 is the 9th (round(0.9 x 9) = 8) */
	assert_int_equal(plan_hedge_early_ms(&h), 40 * 60000);
	for (int i = 0; i < PLAN_HEDGE_SAMPLES; i++)
		plan_hedge_note(&h, NOW + 5 * 60000, NOW);
	assert_int_equal(h.n, PLAN_HEDGE_SAMPLES);
	assert_int_equal(plan_hedge_early_ms(&h), 5 * 60000);
}

/* The learned hedge moves each EV's planned finish: one car wanting more than it can get, told
 * 4 h. Fixed hedge only: 30 min early, 3.5 h planned. Drivers leave up to 1 h early: 3 h. Told
 * 1 h with a learned 3.5 h: at most 2/3 of the hour (PLAN_HEDGE_MAX_SHARE), 20 min planned. */
static void test_finish_learned_early(void **state)
{
	struct scene sc;
	struct plan_stats st;
	struct plan_params p = params;

	(void)state;
	scene_init(&sc, 48, 0, 1);
	sc.ch[0].departure_ms = NOW + 4 * HOUR_MS;
	sc.ch[0].energy_need_wh = 20 * KWH_AT_32A;
	assert_int_equal(plan_compute(&sc.in, NOW, &p, sc.target_a, &st), 0);
	assert_near(st.planned_wh, KWH_AT_32A * 3.5);
	p.early_ms = HOUR_MS;
	assert_int_equal(plan_compute(&sc.in, NOW, &p, sc.target_a, &st), 0);
	assert_near(st.planned_wh, KWH_AT_32A * 3.0);
	p.early_ms = 7 * HOUR_MS / 2;
	sc.ch[0].departure_ms = NOW + HOUR_MS;
	assert_int_equal(plan_compute(&sc.in, NOW, &p, sc.target_a, &st), 0);
	assert_near(st.planned_wh, KWH_AT_32A / 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_first),
		cmocka_unit_test(test_equals_share),
		cmocka_unit_test(test_no_departure_and_hold),
		cmocka_unit_test(test_offline_fallback_counted),
		cmocka_unit_test(test_present_spread),
		cmocka_unit_test(test_ev_limited_at_draw),
		cmocka_unit_test(test_floor_each_ev),
		cmocka_unit_test(test_tail_takes_what_needs_leave),
		cmocka_unit_test(test_rescue_single_phase_car),
		cmocka_unit_test(test_new_ev_shows_max),
		cmocka_unit_test(test_overrun_planned),
		cmocka_unit_test(test_finish_early),
		cmocka_unit_test(test_hedge_learned),
		cmocka_unit_test(test_finish_learned_early),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
