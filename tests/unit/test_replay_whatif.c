/* The replay's storage what-if (tools/sim/replay-whatif.c, replay.c's battery and PV) on a day
 * computed by hand: the battery is dispatched by the daemon's energy_decide (edge/site/energy.c,
 * linked from the library, not copied), so these figures are the daemon's dispatch too. */
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
#include "tools/sim/replay-whatif.c"
#include "tools/sim/replay.c"

#define REPLAY_FIXTURE_DIR "/tmp/ampgate-whatif-XXXXXX"
#include "tests/unit/replay-fixture.h"

/* One 3-phase 58 A charger on a 200 A grid (margin 0, 230 V, 1 s steps): its EV draws
 * 58 x 3 x 230 = 40 020 W, flat, from 10:00 to 11:00 (a 500 kWh battery at 10 %, 45 kWh asked:
 * it never tapers nor finishes), so the EVs take 40.02 kWh with or without storage. */
#define EV_W 40020.0
#define assert_near(got, want, tol) do { if (fabs((got) - (want)) > (tol)) \
	fail_msg("%s = %.4f, want %.4f +- %g", #got, (double)(got), (double)(want), (double)(tol)); } while (0)
static struct ag_config *site(void)
{
	struct ag_config *cfg = config_load(
		write_file("site.conf", "site = { name = \"whatif\"; voltage_v = 230.0; control_period_ms = 1000; margin_a = 0.0;\n"
					"  policy = \"fair\"; grid = { limit_a = [200.0, 200.0, 200.0]; }; };\n"
					"chargers = ( { id = \"CP1\"; phases = 3; min_a = 6.0; max_a = 58.0; password = \"password-cp-0001\"; } );\n"),
		stderr);

	assert_non_null(cfg);
	return cfg;
}

/* The site, the day and its replay without storage. */
struct fx {
	struct ag_config *cfg;
	struct replay_input in;
	struct replay_result base;
};

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg = site();
	f->in.cfg = f->cfg;
	load_sessions(&f->in, "charger,arrival,departure,energy_kwh,max_a,phases,battery_kwh,arrival_soc_pct\n"
			      "CP1,10:00,11:00,45,58,3,500,10\n");
	assert_int_equal(replay_run(&f->in, &f->base, stderr), 0);
	assert_near(f->base.delivered_wh, EV_W, 0.01);
	assert_near(f->base.demand_peak_kw, 40.02, 1e-6);
	assert_near(f->base.grid_peak_kw, 40.02, 1e-6);
	assert_near(f->base.import_wh, EV_W, 0.01);
}

static void fx_close(struct fx *f)
{
	replay_result_fini(&f->base);
	free((void *)f->in.sessions);
	config_free(f->cfg);
}

static void whatif(struct replay_whatif *w, const struct ag_config *cfg, double kwh, double kw, double peak_kw)
{
	memset(w, 0, sizeof(*w));
	w->has_battery = kwh > 0;
	w->battery = (struct replay_battery){ kwh * 1000, kw * 1000, 100 };
	w->peak_kw = peak_kw;
	replay_whatif_init(w, cfg);
}


/* A 20 kW / 50 kWh battery, peak target 30 kW, full at 10:00, reserve 20 % (the default):
 * 10:00:00   the EV starts: the solve raises it from 0 to 58 A (40.02 kW), and the battery is
 *            dispatched for that raise in the same step (energy_ev_raise_w, as energy_commit
 *            does in the daemon): 40.02 - 30 = 10.02 kW. Before, it learnt of the EV one
 *            control period late and the grid took 40.02 kW for that step.
 * then       energy_decide on the measured EV: the same 10.02 kW, import 30.00 kW.
 * Discharged 10.02 kW x 3 600 s = 10 020 Wh; SoC 50 000 - 10 020 / 0.95 = 39 452.6 Wh = 78.91 %.
 * Every 15-min mean and the instantaneous peak: 40.02 -> 30.00 kW. Import 40.02 -> 30.00 kWh. */
static void test_battery_shaves_to_target(void **state)
{
	struct fx f;
	struct replay_result with;
	struct replay_whatif w;
	(void)state;

	fx_open(&f);
	whatif(&w, f.cfg, 50, 20, 30);
	assert_false(w.peak_auto);
	assert_int_equal(replay_whatif_run(&w, &f.in, &f.base, &with, stderr), 0);
	assert_near(with.delivered_wh, EV_W, 0.01);
	assert_near(with.demand_peak_kw, 30.0, 1e-3);
	assert_near(with.grid_peak_kw, 30.0, 1e-3);
	assert_near(with.battery_out_wh, 10020.0, 0.5);
	assert_near(with.battery_in_wh, 0, 1e-9);
	assert_near(with.soc_end_pct, 100.0 * (50000 - 10020.0 / 0.95) / 50000, 0.01);
	assert_near(with.import_wh, EV_W - 10020.0, 0.5);
	assert_int_equal(f.base.violations + with.violations, 0);
	replay_result_fini(&with);
	fx_close(&f);
}

/* No target: the one with the lowest demand peak. 20 kW / 50 kWh covers 20 kW for the hour (it
 * needs 20 / 0.95 = 21 kWh of its 39.75 above reserve): 40.02 - 20 = 20.02 kW from the first
 * step, instantaneous peak too (any lower target gives the same peak; the highest is kept). A 10 kWh one has (100 - 20.5) % x 10 x 0.95
 * = 7.55 kWh to give: about 7.5 kW over the hour, 32.5 kW (a lower target empties it before
 * 11:00 and the last quarter-hour's mean rises). */
static void test_lowest_target_held(void **state)
{
	struct fx f;
	struct replay_result with;
	struct replay_whatif w;
	(void)state;

	fx_open(&f);
	whatif(&w, f.cfg, 50, 20, 0);
	assert_true(w.peak_auto);
	assert_int_equal(replay_whatif_run(&w, &f.in, &f.base, &with, stderr), 0);
	assert_near(w.peak_used_kw, 20.02, 1e-6);
	assert_near(with.demand_peak_kw, 20.02, 1e-3);
	assert_near(with.grid_peak_kw, 20.02, 1e-3);
	replay_result_fini(&with);

	whatif(&w, f.cfg, 10, 20, 0);
	assert_int_equal(replay_whatif_run(&w, &f.in, &f.base, &with, stderr), 0);
	assert_near(w.peak_used_kw, 32.5, 1.0);
	assert_near(with.demand_peak_kw, 32.5, 1.0);
	assert_true(with.soc_min_pct >= 20.0);          /* never below reserve */
	assert_near(with.delivered_wh, EV_W, 0.01);
	replay_result_fini(&with);
	fx_close(&f);
}

/* 10 kW of PV all hour (a one-point profile): import 30.02 kW, 10 kWh from PV, no export. */
static void test_pv(void **state)
{
	struct fx f;
	struct replay_result with;
	struct replay_whatif w;
	(void)state;

	fx_open(&f);
	whatif(&w, f.cfg, 0, 0, 0);
	assert_int_equal(pv_profile_read(write_file("pv.txt", "# flat\n0 10000\n"), "test", &w.pv, stderr), 0);
	w.has_pv = true;
	w.pv_path = "pv.txt";
	assert_int_equal(replay_whatif_run(&w, &f.in, &f.base, &with, stderr), 0);
	assert_near(with.pv_wh, 10000, 0.01);
	assert_near(with.import_wh, EV_W - 10000, 0.01);
	assert_near(with.grid_peak_kw, 30.02, 1e-6);
	assert_near(with.demand_peak_kw, 30.02, 1e-6);
	assert_near(with.export_wh, 0, 1e-9);
	assert_near(with.delivered_wh, EV_W, 0.01);
	replay_result_fini(&with);
	pv_profile_fini(&w.pv);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_battery_shaves_to_target),
		cmocka_unit_test(test_lowest_target_held),
		cmocka_unit_test(test_pv),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
