/* The replay's yardsticks: the offline optimum (GLPK LP) on cases worked out by hand (the EV's
 * taper among them), the
 * textbook edf/llf references, `deadline` never below `llf` on the replays of the tests, and
 * noise that changes what the policy is told but never the truth it is scored on.
 * The site, the solver and the policies are the daemon's; the replay modules are included to
 * keep the test to one binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/sim/ev.c"
#include "tools/sim/ocpp-msg.c"
#include "tools/sim/replay-gen.c"
#include "tools/sim/replay-input.c"
#include "tools/sim/replay-report.c"
#include "tools/sim/replay-ref.c"
#include "tools/sim/replay-optimum.c"
#include "tools/sim/pv-profile.c"
#include "tools/sim/replay.c"

#define REPLAY_FIXTURE_DIR "/tmp/ampgate-optimum-XXXXXX"
#include "tests/unit/replay-fixture.h"

/* A site at 230 V, margin 0: the grid at grid_a per phase (and kw_limit kW if > 0), then the
 * chargers' lines as given ({ id; phases; rotation; max_a; } without the password). */
static struct ag_config *site(double grid_a, double kw_limit, const char *const *chargers, int n)
{
	char text[4096], *p = text, kw[64] = "";
	struct ag_config *cfg;

	if (kw_limit > 0)
		snprintf(kw, sizeof(kw), " limit_kw = %.2f;", kw_limit);
	p += sprintf(p, "site = { name = \"hand\"; voltage_v = 230.0; control_period_ms = 1000; margin_a = 0.0;\n"
			"  policy = \"fair\"; fallback_a = 6.0; grid = { limit_a = [%.1f, %.1f, %.1f];%s }; };\n"
			"chargers = (\n", grid_a, grid_a, grid_a, kw);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "  { %s min_a = 6.0; password = \"password-cp-%04d\"; }%s\n", chargers[i], i,
			     i + 1 < n ? "," : "");
	sprintf(p, ");\n");
	cfg = config_load(write_file("site.conf", text), stderr);
	assert_non_null(cfg);
	return cfg;
}

static const char *const three[] = {
	"id = \"CP1\"; phases = 3; max_a = 32.0;",
	"id = \"CP2\"; phases = 3; max_a = 32.0;",
};

/* Runs `policy` on `in`, then the optimum with that run's charger assignment. */
static double optimum_wh(const struct replay_input *in, struct replay_optimum *opt)
{
	struct replay_input x = *in;
	struct replay_result r;

	x.policy = "fair";
	assert_int_equal(replay_run(&x, &r, stderr), 0);
	assert_int_equal(replay_optimum(in, &r, opt, stderr), 0);
	replay_result_fini(&r);
	return opt->delivered_wh;
}

#define HEADER "charger,arrival,departure,energy_kwh,max_a,phases,battery_kwh,arrival_soc_pct\n"

/* 48 A grid, two 32 A three-phase cars (22.08 kW at their cap), batteries far from full:
 *   A 00:00-01:00 wants 22.08 kWh: only at 32 A all hour.
 *   B 00:00-02:00 wants 22.08 kWh.
 * Best: A 32 A for the hour, B the other 16 A (11.04 kWh), then B alone at 32 A for 30 min
 * (11.04 kWh): both full, 44.16 kWh. `fair` gives 24 A each in the first hour (A 16.56 kWh) and
 * B finishes: 38.64 kWh. llf (A has no laxity) and edf (A leaves first) find the optimum; plan
 * (A at 32 A, B at 16 A from the first plan on) does but for the cost of learning: each new EV
 * charges at its cap for its first site.plan_show_max_s (2 min), so A gets 24 A for those
 * minutes and leaves 184 Wh short (8 A of 32 for 2 of its 60 minutes: 22.08 kWh / 4 / 30). */
static void test_two_cars_by_hand(void **state)
{
	struct ag_config *cfg = site(48, 0, three, 2);
	struct replay_input in = { .cfg = cfg };
	struct replay_optimum opt;
	struct replay_result r;
	static const char *const policies[] = { "fair", "llf", "edf", "deadline", "plan" };
	static const double want[] = { 38640, 44160, 44160, 44160, 44160 - 184 };
	(void)state;

	load_sessions(&in, HEADER "CP1,00:00,01:00,22.08,32,3,200,10\n"
				  "CP2,00:00,02:00,22.08,32,3,200,10\n");
	assert_float_equal(optimum_wh(&in, &opt), 44160, 0.01);
	assert_float_equal(opt.requested_wh, 44160, 1e-6);
	assert_int_equal(opt.intervals, 2);             /* 00:00-01:00, 01:00-02:00 */
	assert_int_equal(opt.variables, 3);             /* A, B in the first; B in the second */
	for (size_t k = 0; k < 5; k++) {
		in.policy = policies[k];
		assert_int_equal(replay_run(&in, &r, stderr), 0);
		assert_true(!strcmp(policies[k], "plan") ? r.plans > 0 : r.plans == 0);    /* plan planned inline */
		if (fabs(r.delivered_wh - want[k]) > 30)        /* a few 1 s steps */
			fail_msg("%s delivers %.1f Wh, want %.1f", policies[k], r.delivered_wh, want[k]);
		assert_true(r.delivered_wh <= opt.delivered_wh + 0.01);
		assert_int_equal(r.violations, 0);
		replay_result_fini(&r);
	}
	free((void *)in.sessions);
	config_free(cfg);
}

/* Phases and building load: two single-phase 32 A chargers, one on L1 and one on L2, a 20 A
 * grid, 5 A of building load on L1 from 00:00. Each car wants more than an hour can give.
 * L1 leaves 15 A, L2 20 A: (15 + 20) x 230 V x 1 h = 8.05 kWh. */
static void test_phases_and_load_by_hand(void **state)
{
	static const char *const single[] = {
		"id = \"CP1\"; phases = 1; rotation = \"L1\"; max_a = 32.0;",
		"id = \"CP2\"; phases = 1; rotation = \"L2\"; max_a = 32.0;",
	};
	struct ag_config *cfg = site(20, 0, single, 2);
	struct replay_input in = { .cfg = cfg };
	struct replay_load *loads;
	struct replay_optimum opt;
	(void)state;

	load_sessions(&in, HEADER "CP1,00:00,01:00,20,32,1,200,10\n"
				  "CP2,00:00,01:00,20,32,1,200,10\n");
	assert_int_equal(replay_read_loads(write_file("l.csv", "time,node,l1_a,l2_a,l3_a\n00:00,grid,5,0,0\n"), cfg,
					   &loads, &in.n_loads, stderr), 0);
	in.loads = loads;
	assert_float_equal(optimum_wh(&in, &opt), 8050, 0.01);
	/* Without the load, 20 + 20 A: 9.2 kWh. */
	in.n_loads = 0;
	assert_float_equal(optimum_wh(&in, &opt), 9200, 0.01);
	free(loads);
	free((void *)in.sessions);
	config_free(cfg);
}

/* A kW limit below the phase limits: 11.04 kW for one 32 A three-phase car (22.08 kW) for an
 * hour: 11.04 kWh. A car turned away (its charger taken) counts in the request, not the optimum. */
static void test_kw_limit_and_turned_away_by_hand(void **state)
{
	struct ag_config *cfg = site(63, 11.04, three, 1);
	struct replay_input in = { .cfg = cfg };
	struct replay_optimum opt;
	(void)state;

	load_sessions(&in, HEADER ",00:00,01:00,30,32,3,200,10\n"
				  ",00:30,01:00,5,32,3,200,10\n");   /* any free charger: there is one */
	assert_float_equal(optimum_wh(&in, &opt), 11040, 0.01);
	assert_float_equal(opt.requested_wh, 35000, 1e-6);
	assert_int_equal(opt.sessions, 1);
	free((void *)in.sessions);
	config_free(cfg);
}

/* The taper: two single-phase 32 A cars (7.36 kW) on their own phases, the grid far away, each
 * with a 20 kWh battery at 80 % wanting 3.99 kWh (all it has room for), for an hour: A from 00:00,
 * B from 00:30. From 80 % the replay's EVs (tools/sim/ev.c) take 32 A x (1 - 0.95 x (soc - 0.8) /
 * 0.2), which reaches 0 at soc 0.8 + 0.2 / 0.95, Z = 20 kWh x 0.2 / 0.95 = 4.2105 kWh from the
 * start: dE/dt = 7.36 kW x (Z - E) / Z, so in the hour E = Z (1 - exp(-7.36 / Z)) = 3.4775 kWh
 * each, not the 3.99 kWh the request and the rate alone allow. The replay charging each at its cap
 * takes the same (less the first steps before its first limit). Each car's second interval's
 * row counts its first's energy (A: 00:00-00:30, then 00:30-01:00), with no column of its own. */
static void test_taper_by_hand(void **state)
{
	static const char *const single[] = {
		"id = \"CP1\"; phases = 1; rotation = \"L1\"; max_a = 32.0;",
		"id = \"CP2\"; phases = 1; rotation = \"L2\"; max_a = 32.0;",
	};
	struct ag_config *cfg = site(63, 0, single, 2);
	struct replay_input in = { .cfg = cfg, .policy = "fair" };
	struct replay_optimum opt;
	struct replay_result r;
	double z = 20000 * 0.2 / 0.95, each = z * (1 - exp(-7360 / z));
	(void)state;

	load_sessions(&in, HEADER "CP1,00:00,01:00,3.99,32,1,20,80\n"
				  "CP2,00:30,01:30,3.99,32,1,20,80\n");
	assert_float_equal(optimum_wh(&in, &opt), 2 * each, 1.0);
	assert_int_equal(opt.intervals, 3);
	assert_int_equal(opt.variables, 4);     /* A and B twice each */
	assert_int_equal(opt.rows, 2 + 4 + 4);  /* needs; L1, L2 per interval used; each taper row */
	assert_int_equal(replay_run(&in, &r, stderr), 0);
	if (r.delivered_wh > opt.delivered_wh + 1e-6 || r.delivered_wh < opt.delivered_wh - 30)
		fail_msg("the replay delivers %.1f Wh, the optimum %.1f", r.delivered_wh, opt.delivered_wh);
	replay_result_fini(&r);
	free((void *)in.sessions);
	config_free(cfg);
}

/* A generated day on `conf` (depot or workplace) through fair, deadline, llf and edf: no run
 * exceeds a limit or the optimum, and deadline delivers at least what llf does. */
static void check_day(const char *conf, enum replay_day kind, size_t n, uint64_t seed, double grid_scale)
{
	struct ag_config *cfg = config_load(conf, stderr);
	struct replay_input in = { 0 };
	struct replay_optimum opt;
	struct replay_result r[4];
	static const char *const policies[] = { "fair", "deadline", "llf", "edf" };
	const char *path = write_file("day.csv", "");
	struct replay_session *s;
	FILE *f;

	assert_non_null(cfg);
	for (int p = 0; p < 3; p++)
		cfg->site.grid.limit_a[p] *= grid_scale;
	cfg->site.grid.limit_kw *= grid_scale;
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(replay_generate_day(cfg, kind, n, seed, f), 0);
	fclose(f);
	in.cfg = cfg;
	in.ev_feedback = true;
	assert_int_equal(replay_read_sessions(path, cfg, &s, &in.n_sessions, stderr), 0);
	in.sessions = s;
	for (size_t k = 0; k < 4; k++) {
		in.policy = policies[k];
		assert_int_equal(replay_run(&in, &r[k], stderr), 0);
		assert_int_equal(r[k].violations, 0);
	}
	assert_int_equal(replay_optimum(&in, &r[0], &opt, stderr), 0);
	for (size_t k = 0; k < 4; k++)
		if (r[k].delivered_wh > opt.delivered_wh + 1.0)
			fail_msg("%s: %s delivers %.1f kWh, above the optimum %.1f", conf, policies[k], r[k].delivered_wh / 1e3,
				 opt.delivered_wh / 1e3);
	if (r[1].delivered_wh < r[2].delivered_wh - 1e-6)
		fail_msg("%s x%.2f seed %llu: deadline %.3f kWh < llf %.3f kWh", conf, grid_scale, (unsigned long long)seed,
			 r[1].delivered_wh / 1e3, r[2].delivered_wh / 1e3);
	for (size_t k = 0; k < 4; k++)
		replay_result_fini(&r[k]);
	free((void *)in.sessions);
	config_free(cfg);
}

static void test_deadline_never_below_llf(void **state)
{
	(void)state;
	check_day("../../etc/demo.conf", REPLAY_DAY_DEPOT, 200, 1, 1.0);
	check_day("../../etc/demo.conf", REPLAY_DAY_DEPOT, 200, 2, 0.5);
	check_day("../../etc/demo.conf", REPLAY_DAY_WORKPLACE, 150, 3, 0.3);
}

/* Noise changes what the policy is told, not when cars leave or what they asked: same
 * request, same chargers, every session within its truth, 0 violations; and 0 noise is the
 * exact run. */
static void test_noise_keeps_the_truth(void **state)
{
	struct ag_config *cfg = site(40, 0, three, 2);
	struct replay_input in = { .cfg = cfg, .policy = "deadline" };
	struct replay_result exact, noisy, again;
	(void)state;

	/* Two cars with the same laxity on 40 A (27.6 kW): 60 kWh wanted, 55.2 kWh possible. */
	load_sessions(&in, HEADER "CP1,00:00,02:00,30,32,3,200,10\n"
				  "CP2,00:00,02:00,30,32,3,200,10\n");
	assert_int_equal(replay_run(&in, &exact, stderr), 0);
	in.noise_seed = 7;
	assert_int_equal(replay_run(&in, &again, stderr), 0);
	assert_float_equal(again.delivered_wh, exact.delivered_wh, 1e-9);      /* no noise asked */
	in.departure_noise_s = 3600;
	in.energy_noise_pct = 20;
	assert_int_equal(replay_run(&in, &noisy, stderr), 0);
	assert_float_equal(noisy.requested_wh, exact.requested_wh, 1e-9);
	for (size_t i = 0; i < in.n_sessions; i++) {
		assert_int_equal(noisy.outcome[i].charger, exact.outcome[i].charger);
		assert_true(noisy.outcome[i].delivered_wh <= in.sessions[i].request_wh + 1e-6);
	}
	assert_int_equal(noisy.violations, 0);
	/* The story told differs (one is told it may leave later or needs less): the split differs. */
	assert_true(fabs(noisy.outcome[0].delivered_wh - exact.outcome[0].delivered_wh) > 1.0);
	replay_result_fini(&exact);
	replay_result_fini(&noisy);
	replay_result_fini(&again);
	free((void *)in.sessions);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_cars_by_hand),
		cmocka_unit_test(test_phases_and_load_by_hand),
		cmocka_unit_test(test_kw_limit_and_turned_away_by_hand),
		cmocka_unit_test(test_taper_by_hand),
		cmocka_unit_test(test_deadline_never_below_llf),
		cmocka_unit_test(test_noise_keeps_the_truth),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
