/* What-if replay: energy accounting against a case worked out by hand, deadline against fair on a
 * congested case, fallback time with a stale meter, and input errors that name file:line.
 * The site, the solver and the policies are the daemon's (config_load, site-model, solver_run);
 * the replay's own modules are included to keep the test to one binary. */
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
#include "tools/sim/replay-input.c"
#include "tools/sim/replay-report.c"
#include "tools/sim/replay-ref.c"
#include "tools/sim/replay-optimum.c"
#include "tools/sim/pv-profile.c"
#include "tools/sim/replay.c"

#define H(x) (REPLAY_DAY0_MS + (int64_t)((x) * 3600000.0))

#define REPLAY_FIXTURE_DIR "/tmp/ampgate-replay-XXXXXX"
#include "tests/unit/replay-fixture.h"

/* A site of `n` 3-phase 32 A chargers (min 6 A) on the grid, `grid_a` per phase, margin 0. */
static struct ag_config *site(double grid_a, int n, const char *policy)
{
	char text[2048], *p = text;
	struct ag_config *cfg;

	p += sprintf(p, "site = { name = \"hand\"; voltage_v = 230.0; control_period_ms = 1000; margin_a = 0.0;\n"
			"  policy = \"%s\"; fallback_a = 6.0; grid = { limit_a = [%.1f, %.1f, %.1f]; }; };\n"
			"chargers = (\n", policy, grid_a, grid_a, grid_a);
	for (int i = 1; i <= n; i++)
		p += sprintf(p, "  { id = \"CP%d\"; phases = 3; min_a = 6.0; max_a = 32.0; password = \"password-cp-%04d\"; }%s\n",
			     i, i, i < n ? "," : "");
	sprintf(p, ");\n");
	cfg = config_load(write_file("site.conf", text), stderr);
	assert_non_null(cfg);
	return cfg;
}

#define assert_wh(got, want) do { if (fabs((got) - (want)) > 0.01) fail_msg("%s = %.4f Wh, want %.4f Wh", #got, (double)(got), (double)(want)); } while (0)

/* Three sessions on a 48 A grid (margin 0, 230 V, fair, 1 s steps), every battery far from its
 * taper (it starts at 80 %; these stay below 30 %), so the arithmetic is current x 230 V x phases x time:
 *
 *   S1 CP1 00:00-04:00 wants 22.08 kWh, EV 32 A 3-phase
 *   S2 CP2 00:00-00:30 wants 50 kWh,    EV 32 A 3-phase
 *   S3 CP3 01:00-02:00 wants 5.52 kWh,  EV 16 A 1-phase (on L1)
 *
 * 00:00-00:30  S1 and S2 share 48 A: 24 A each, 24 x 230 x 3 = 16 560 W; 0.5 h -> 8 280 Wh each.
 *              Grid 48 A on every phase: at the limit, not above it.
 * 00:30        S2 leaves with 8 280 of 50 000 Wh (41 720 Wh short).
 * 00:30-01:00  S1 alone at the charger's 32 A: 22 080 W x 0.5 h = 11 040 Wh (total 19 320).
 * 01:00        S3 arrives; the solver sees two 3-phase chargers: 24 A each. S1 draws 24 A
 *              (16 560 W) and needs 2 760 Wh more: 2 760 / 16 560 h = 600 s, done at 01:10.
 *              S3's EV takes 16 A of its 24 on L1 only: 16 x 230 = 3 680 W (grid L1 40 A).
 * 01:10-02:00  S3 alone, offered 32 A, still takes 16 A: 3 680 W all hour -> 3 680 of 5 520 Wh.
 * Delivered 22 080 + 8 280 + 3 680 = 34 040 Wh of 77 600; served: S1 only.
 * Tariff 0.40 until 01:00, then 0.20: (8.28 + 8.28 + 11.04) x 0.40 + (2.76 + 3.68) x 0.20
 *   = 11.040 + 1.288 = 12.328.
 * Solves: one per second while an EV still charges, 00:00 to 02:00: 7 200. */
static void test_hand_computed(void **state)
{
	struct ag_config *cfg = site(48, 3, "fair");
	struct replay_input in = { .cfg = cfg };
	struct price_slot prices[] = { { H(0), 0.40 }, { H(1), 0.20 } };
	struct replay_result r;
	(void)state;

	load_sessions(&in, "charger,arrival,departure,energy_kwh,max_a,phases,battery_kwh,arrival_soc_pct\n"
			   "CP1,00:00,04:00,22.08,32,3,200,10\n"
			   "CP2,00:00,00:30,50,32,3,200,10\n"
			   "CP3,01:00,02:00,5.52,16,1,100,20\n");
	in.prices = prices;
	in.n_prices = 2;
	assert_int_equal(replay_run(&in, &r, stderr), 0);
	assert_wh(r.requested_wh, 77600);
	assert_wh(r.outcome[0].delivered_wh, 22080);
	assert_wh(r.outcome[1].delivered_wh, 8280);
	assert_wh(r.outcome[2].delivered_wh, 3680);
	assert_wh(r.delivered_wh, 34040);
	assert_true(r.outcome[0].done_ms == H(1) + 600000);    /* 01:10 */
	assert_true(r.outcome[1].done_ms == 0 && r.outcome[2].done_ms == 0);
	assert_int_equal(r.served, 1);
	assert_int_equal(r.turned_away, 0);
	assert_int_equal(r.violations, 0);
	assert_true(r.fallback_ms == 0);
	assert_int_equal(r.solves, 7200);
	for (int p = 0; p < 3; p++)
		assert_float_equal(r.node[0].peak_a[p], 48.0, 1e-6);
	assert_float_equal(r.cost, 12.328, 1e-6);
	assert_true(r.start_ms == H(0) && r.end_ms == H(4));
	replay_result_fini(&r);
	free((void *)in.sessions);
	config_free(cfg);
}

/* Congested: a 40 A grid, two 32 A cars from 00:00. A leaves at 01:00 wanting 18 kWh; B stays
 * until 08:00 wanting 40 kWh.
 * fair: 20 A each (13 800 W): A gets 13.8 kWh in its hour, 4.2 kWh short; B then has 32 A and
 *   finishes its 40 kWh long before 08:00. Delivered 53.8 kWh.
 * deadline: A's laxity (time left - need at its 22 080 W cap) reaches 0 after
 *   60 - t = (18 - 0.23 t) x 60 / 22.08, t = 29.6 min; from then A is served first at 32 A and
 *   just makes it: 18 kWh. B still finishes. Delivered 58 kWh: 4.2 kWh more than fair. */
static void test_deadline_beats_fair(void **state)
{
	struct ag_config *cfg = site(40, 2, "fair");
	struct replay_input in = { .cfg = cfg };
	struct replay_result r[2];
	char text[4096] = "";
	FILE *out = fmemopen(text, sizeof(text) - 1, "w");
	json_t *j, *cmp;
	(void)state;

	load_sessions(&in, "charger,arrival,departure,energy_kwh,max_a,phases,battery_kwh,arrival_soc_pct\n"
			   "CP1,00:00,01:00,18,32,3,200,10\n"
			   "CP2,00:00,08:00,40,32,3,200,10\n");
	in.policy = "fair";
	assert_int_equal(replay_run(&in, &r[0], stderr), 0);
	in.policy = "deadline";
	assert_int_equal(replay_run(&in, &r[1], stderr), 0);
	assert_wh(r[0].outcome[0].delivered_wh, 13800);
	assert_wh(r[0].outcome[1].delivered_wh, 40000);
	assert_true(fabs(r[1].outcome[0].delivered_wh - 18000) < 30);  /* within a few 1 s steps */
	assert_wh(r[1].outcome[1].delivered_wh, 40000);
	assert_true(r[1].delivered_wh >= r[0].delivered_wh);
	assert_int_equal(r[0].violations + r[1].violations, 0);

	/* The report says by how much, in the table and in the JSON. */
	replay_print_comparison(out, r, 2);
	fclose(out);
	assert_non_null(strstr(text, "deadline delivers 4.2 kWh more of the requested energy than fair"));
	j = replay_json(&in, r, 2);
	cmp = json_object_get(j, "comparison");
	assert_string_equal(json_string_value(json_object_get(cmp, "best")), "deadline");
	assert_true(fabs(json_real_value(json_object_get(cmp, "gain_kwh")) - 4.2) < 0.03);
	assert_int_equal(json_integer_value(json_object_get(cmp, "served_gain")), 1);
	json_decref(j);
	replay_result_fini(&r[0]);
	replay_result_fini(&r[1]);
	free((void *)in.sessions);
	config_free(cfg);
}

/* EV-limited cars are probed as the daemon probes them (edge/site/ev-cap.c). A 50 A grid, four
 * 3-phase chargers, meter values every second, for an hour: three cars whose on-board chargers
 * take 6 A, one that takes 32 A. The three are capped at 8 A (draw + the 2 A slack) on the first
 * meter value, and at 6.1 A (6 A + EV_TIGHT_SLACK_A: the replay's meter reads them steady) at a
 * profile renewal once they drew 6 A for a minute; the fourth gets the other 26 A, then 31.7 A:
 * 21 873 Wh for the hour, less 3 933 Wh for each hour it had 26 (the first 61-121 s: 67-132 Wh),
 * 3 Wh for the first second (12.5 A each until a meter value), and its share of the probes: every
 * 5 minutes each capped car's cap is raised by 1 A until a settled reading (5-10 s: a charger that
 * rounds 6.1 A down to 6 could hide a car that wants more), the fourth losing 1 A, at most 63 Wh
 * over the hour's 33 probes. They end with the tight cap at once. With a whole amp's slack
 * (7 A, probes offered only what the others leave) it got 19 937-19 976 Wh; with 0.3 A and probes
 * at 2 A above the draw, 21 329; full-share probes, one of the site at a time (each 5 s at 17 A
 * each, the fourth losing 9 A), left it 17 653 Wh;
 * the replay's own probes before that (every capped car for 30 s of each 5 minutes, at once
 * when their stagger met) 16 974 Wh. */
static void test_probe_costs_nothing(void **state)
{
	struct ag_config *cfg = site(50, 4, "fair");
	struct replay_input in = { .cfg = cfg, .ev_feedback = true };
	struct replay_result r;
	(void)state;

	cfg->ocpp.meter_interval_s = 1;
	load_sessions(&in, "charger,arrival,departure,energy_kwh,max_a,phases,battery_kwh,arrival_soc_pct\n"
			   "CP1,00:00,01:00,50,6,3,200,10\n"
			   "CP2,00:00,01:00,50,6,3,200,10\n"
			   "CP3,00:00,01:00,50,6,3,200,10\n"
			   "CP4,00:00,01:00,100,32,3,200,10\n");
	assert_int_equal(replay_run(&in, &r, stderr), 0);
	for (int i = 0; i < 3; i++)     /* the capped cars draw their 6 A all along */
		assert_true(fabs(r.outcome[i].delivered_wh - 4140) < 1);
	if (r.outcome[3].delivered_wh < 21873 - 132 - 3 - 63 || r.outcome[3].delivered_wh > 21873 - 67 - 3 + 1)
		fail_msg("CP4 got %.0f Wh, want 21675-21804", r.outcome[3].delivered_wh);
	assert_int_equal(r.violations, 0);
	replay_result_fini(&r);
	free((void *)in.sessions);
	config_free(cfg);
}

/* A stale grid meter puts every charger at its 6 A fallback: one car, 10 A of building load,
 * 48 A grid. 00:00-00:10 32 A (22 080 W) -> 3 680 Wh; 00:10-00:20 stale, 6 A (4 140 W) -> 690 Wh;
 * 00:20-00:30 32 A again -> 3 680 Wh. 8 050 Wh; 600 s under fallback; peak L1 10 + 32 = 42 A. */
static void test_stale_meter(void **state)
{
	struct ag_config *cfg = site(48, 1, "fair");
	struct replay_input in = { .cfg = cfg };
	struct replay_load *loads;
	struct replay_result r;
	(void)state;

	load_sessions(&in, "charger,arrival,departure,energy_kwh,battery_kwh,arrival_soc_pct\n"
			   "CP1,00:00,00:30,50,200,10\n");
	assert_int_equal(replay_read_loads(write_file("load.csv", "time,l1_a,l2_a,l3_a\n00:00,10,10,10\n00:10,,,\n"
								  "00:20,10,10,10\n"),
					   cfg, &loads, &in.n_loads, stderr), 0);
	in.loads = loads;
	assert_int_equal(replay_run(&in, &r, stderr), 0);
	assert_wh(r.delivered_wh, 8050);
	assert_true(r.fallback_ms == 600000);
	assert_float_equal(r.node[0].peak_a[0], 42.0, 1e-6);
	assert_int_equal(r.violations, 0);
	replay_result_fini(&r);
	free(loads);
	free((void *)in.sessions);
	config_free(cfg);
}

/* Bad input: nothing is replayed and every error names file:line and the column. */
static void test_input_errors(void **state)
{
	struct ag_config *cfg = site(48, 2, "fair");
	struct replay_session *s = NULL;
	struct replay_result r;
	struct replay_input in = { .cfg = cfg };
	char errs[2048] = "";
	size_t n = 0;
	FILE *e = fmemopen(errs, sizeof(errs) - 1, "w");
	const char *bad = write_file("bad.csv", "charger,arrival,departure,energy_kwh,colour\nCP1,00:00,01:00,5,red\n");
	const char *bad2 = write_file("bad2.csv", "charger,arrival,departure,energy_kwh,phases\n"
						  "CP1,00:00,01:00,5,2\nCP1,02:00,01:00,5,3\nCP2,1am,02:00,5,3\n"
						  "CP2,00:00,02:00,5,3\nCP2,01:00,03:00,5,3\n");
	(void)state;

	assert_int_equal(replay_read_sessions(bad, cfg, &s, &n, e), -EINVAL);
	assert_int_equal(replay_read_sessions(bad2, cfg, &s, &n, e), -EINVAL);
	fflush(e);
	assert_non_null(strstr(errs, "bad.csv:1: colour: unknown column"));
	assert_non_null(strstr(errs, "bad2.csv:2: phases: \"2\": 1 or 3"));
	assert_non_null(strstr(errs, "bad2.csv:3: departure: \"01:00\": not after the arrival"));
	assert_non_null(strstr(errs, "bad2.csv:4: arrival: \"1am\": expected"));
	assert_null(s);

	/* A charger the site does not have, and two cars on one charger. */
	assert_int_equal(replay_read_sessions(write_file("ovl.csv", "charger,arrival,departure,energy_kwh\n"
								    "CP2,00:00,02:00,5\nCP2,01:00,03:00,5\n"),
					      cfg, &s, &n, e), -EINVAL);
	assert_int_equal(replay_read_sessions(write_file("unk.csv", "charger,arrival,departure,energy_kwh\n"
								    "CP9,00:00,02:00,5\n"),
					      cfg, &s, &n, e), 0);
	in.sessions = s;
	in.n_sessions = n;
	assert_int_equal(replay_run(&in, &r, e), -EINVAL);
	fclose(e);
	assert_non_null(strstr(errs, "ovl.csv:3: charger: CP2 is still taken by the session of line 2"));
	assert_non_null(strstr(errs, "charger CP9 is not in"));
	/* With --any-charger it takes a free one. */
	in.any_charger = true;
	assert_int_equal(replay_run(&in, &r, stderr), 0);
	assert_int_equal(r.outcome[0].charger, 0);
	assert_wh(r.delivered_wh, 5000);
	replay_result_fini(&r);
	free(s);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_computed),
		cmocka_unit_test(test_deadline_beats_fair),
		cmocka_unit_test(test_stale_meter),
		cmocka_unit_test(test_probe_costs_nothing),
		cmocka_unit_test(test_input_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
