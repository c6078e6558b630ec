/* Replay benchmark: how long `ampgate-sim replay` takes for a generated depot day of 100 to 1,000
 * sessions on the demo depot (etc/demo.conf: 40 chargers, 250 A, two feeders), at the daemon's
 * 1 s control period, per policy; then how much each policy delivers against the textbook
 * references (edf, llf) and the offline optimum on generated depot and workplace days at three
 * levels of scarcity (the grid's limits scaled), on the demo network and on a single aggregate
 * limit (40 single-phase 32 A chargers under one kW limit), with deadline and plan also told
 * departures off by up to +-1 h and needs by +-20 %, and deadline, plan and llf also told each
 * EV's own maximum current (replay --ev-max-told: what a 2.0.1 EV says; deadline's gap on the
 * aggregate days is mostly the learning of each EV's maximum, which this run shows). Then the
 * storage what-if (issue #21): a generated depot day with a P kW battery dispatched by the daemon's
 * energy_decide must lower the grid's demand peak (15-min mean) and its instantaneous peak by at
 * least 0.95 x P each, deliver no less EV energy and exceed no limit, else the bench fails. Prints
 * tables; writes JSON to the path in argv[1].
 *
 * Key design decision: the day goes through the same path as the command line (generator ->
 * CSV file -> CSV reader -> replay_run), so parsing is in the figure too; the violations and
 * the share delivered are reported next to the time, so a fast but wrong replay shows. */
#include "tools/sim/ev.c"
#include "tools/sim/ocpp-msg.c"
#include "tools/sim/replay-gen.c"
#include "tools/sim/replay-input.c"
#include "tools/sim/replay-report.c"
#include "tools/sim/replay-ref.c"
#include "tools/sim/replay-optimum.c"
#include "tools/sim/pv-profile.c"
#include "tools/sim/replay-whatif.c"
#include "tools/sim/replay.c"

#include <stdlib.h>
#include <unistd.h>

#define SITE "etc/demo.conf"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Lowest share of its request any session got, in %: who was served worst. */
static double worst_pct(const struct replay_input *in, const struct replay_result *r)
{
	double w = 100.0;

	for (size_t i = 0; i < r->n_sessions; i++)
		if (in->sessions[i].request_wh > 0)
			w = fmin(w, 100.0 * r->outcome[i].delivered_wh / in->sessions[i].request_wh);
	return w;
}

/* One day at one scarcity: every policy, the references and the optimum, as a JSON object. */
static json_t *yardsticks(const char *site, struct ag_config *cfg, enum replay_day day, size_t n, double scale,
			  const char *path, int *bad)
{
	/* NOISY runs are told the noisy story, each compared with its own exact run; EV_MAX runs are
	 * told each session's own maximum current, as a 2.0.1 EV's NotifyEVChargingNeeds tells it. */
	enum knowledge { EXACT, NOISY, EV_MAX };
	static const struct { const char *policy; enum knowledge told; } runs[] = {
		{ "fair", EXACT }, { "deadline", EXACT }, { "plan", EXACT }, { "llf", EXACT }, { "edf", EXACT },
		{ "deadline", NOISY }, { "plan", NOISY }, { "deadline", EV_MAX }, { "plan", EV_MAX }, { "llf", EV_MAX },
	};
	static const char *const suffix[] = { [EXACT] = "", [NOISY] = "+noise", [EV_MAX] = "+evmax" };
	double limit_a[3], limit_kw = cfg->site.grid.limit_kw, exact_pct[2] = { 0, 0 };
	struct replay_input in = { .cfg = cfg, .ev_feedback = true, .noise_seed = 1 };
	struct replay_session *s = NULL;
	struct replay_optimum opt = { 0 };
	json_t *rows = json_array(), *o;
	FILE *f = fopen(path, "w");

	memcpy(limit_a, cfg->site.grid.limit_a, sizeof(limit_a));
	for (int p = 0; p < 3; p++)
		cfg->site.grid.limit_a[p] = limit_a[p] * scale;
	cfg->site.grid.limit_kw = limit_kw * scale;
	if (!f || replay_generate_day(cfg, day, n, 1, f) < 0 || fclose(f) ||
	    replay_read_sessions(path, cfg, &s, &in.n_sessions, stderr) < 0)
		exit(1);
	in.sessions = s;
	for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		struct replay_result r;
		bool noisy = runs[k].told == NOISY, is_plan = !strcmp(runs[k].policy, "plan");
		char name[32];
		double pct;

		in.policy = runs[k].policy;
		in.departure_noise_s = noisy ? 3600 : 0;
		in.energy_noise_pct = noisy ? 20 : 0;
		in.ev_max_told = runs[k].told == EV_MAX;
		if (replay_run(&in, &r, stderr) < 0)
			exit(1);
		if (k == 0 && replay_optimum(&in, &r, &opt, stderr) < 0)
			exit(1);
		pct = 100.0 * r.delivered_wh / r.requested_wh;
		if (runs[k].told == EXACT && (is_plan || !strcmp(runs[k].policy, "deadline")))
			exact_pct[is_plan] = pct;
		*bad += r.violations != 0;
		snprintf(name, sizeof(name), "%s%s", r.policy, suffix[runs[k].told]);
		printf("%-9s %-9s %5.2f %-14s %9.2f %9.2f %9.1f %10ld %10.1f %10.2f", site,
		       day == REPLAY_DAY_DEPOT ? "depot" : "workplace", scale, name, pct,
		       100.0 * opt.delivered_wh / opt.requested_wh - pct, worst_pct(&in, &r), r.violations,
		       replay_starts_per_session(&r), r.wall_s);
		if (noisy)
			printf("  loss vs exact %.2f pts", exact_pct[is_plan] - pct);
		if (is_plan)
			printf("  %llu plans, max %.1f ms", (unsigned long long)r.plans, r.plan_max_ms);
		printf("\n");
		o = json_pack("{s:s, s:b, s:b, s:f, s:f, s:f, s:I, s:I, s:f}", "policy", r.policy, "noisy", noisy,
			      "ev_max_told", in.ev_max_told, "delivered_pct", pct,
			      "gap_pct_points", 100.0 * opt.delivered_wh / opt.requested_wh - pct, "worst_session_pct",
			      worst_pct(&in, &r), "served", (json_int_t)r.served, "violations", (json_int_t)r.violations,
			      "starts_per_session", replay_starts_per_session(&r));
		if (noisy)
			json_object_set_new(o, "loss_vs_exact_pct_points", json_real(exact_pct[is_plan] - pct));
		if (is_plan) {
			json_object_set_new(o, "plans", json_integer((json_int_t)r.plans));
			json_object_set_new(o, "plan_mean_ms", json_real(r.plans ? r.plan_s * 1e3 / (double)r.plans : 0));
			json_object_set_new(o, "plan_max_ms", json_real(r.plan_max_ms));
		}
		json_array_append_new(rows, o);
		replay_result_fini(&r);
	}
	memcpy(cfg->site.grid.limit_a, limit_a, sizeof(limit_a));
	cfg->site.grid.limit_kw = limit_kw;
	free(s);
	return json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:I, s:f, s:o}", "site", site, "day",
			 day == REPLAY_DAY_DEPOT ? "depot" : "workplace",
			 "sessions", (json_int_t)n, "grid_scale", scale, "optimum_pct",
			 100.0 * opt.delivered_wh / opt.requested_wh, "optimum_kwh", opt.delivered_wh / 1000.0,
			 "optimum_variables", (json_int_t)opt.variables, "optimum_s", opt.solve_s, "runs", rows);
}

/* The storage what-if on a generated depot day of n sessions on the demo depot: a battery of
 * kw / kwh with the target the what-if finds. Fails (*bad) unless the demand peak and the
 * instantaneous peak each drop by WHATIF_SHARE x P with no less EV energy (1 Wh of rounding) and
 * 0 violations. The instantaneous peak held only since the battery leads what a solve adds to
 * the EVs (energy_commit): before, a car starting at 32 A went to the grid for one step. */
#define WHATIF_SHARE 0.95
static json_t *whatif_day(struct ag_config *cfg, size_t n, double kwh, double kw, const char *path, int *bad)
{
	struct replay_input in = { .cfg = cfg, .ev_feedback = true };
	struct replay_whatif w = { .has_battery = true, .battery = { kwh * 1000, kw * 1000, 100 } };
	struct replay_result base, with;
	struct replay_session *s = NULL;
	FILE *f = fopen(path, "w");
	double t0 = now_s();

	if (!f || replay_generate(cfg, n, 1, f) < 0 || fclose(f) || replay_read_sessions(path, cfg, &s, &in.n_sessions, stderr) < 0)
		exit(1);
	in.sessions = s;
	replay_whatif_init(&w, cfg);
	if (replay_run(&in, &base, stderr) < 0 || replay_whatif_run(&w, &in, &base, &with, stderr) < 0)
		exit(1);
	double drop = base.demand_peak_kw - with.demand_peak_kw, instant = base.grid_peak_kw - with.grid_peak_kw;
	bool met = drop >= WHATIF_SHARE * kw && instant >= WHATIF_SHARE * kw && with.delivered_wh >= base.delivered_wh - 1.0 &&
		   with.violations == 0 && base.violations == 0;
	printf("%-9zu %5.0f %5.0f %9.1f %9.1f %8.1f %6.2f %9.1f %9.1f %6.2f %10.1f %10.1f %6ld %8.1f  %s\n", n, kw, kwh,
	       w.peak_used_kw, base.demand_peak_kw, with.demand_peak_kw, drop / kw, base.grid_peak_kw, with.grid_peak_kw,
	       instant / kw, base.delivered_wh / 1000, with.delivered_wh / 1000, with.violations, now_s() - t0,
	       met ? "ok" : "MISSED (both drops >= 0.95 P, no less EV energy, 0 violations)");
	*bad += !met;
	json_t *o = replay_json_whatif(&w, &base, &with);
	json_object_set_new(o, "sessions", json_integer((json_int_t)n));
	json_object_set_new(o, "demand_drop_share_of_p", json_real(drop / kw));
	json_object_set_new(o, "instant_drop_share_of_p", json_real(instant / kw));
	json_object_set_new(o, "target_share_of_p", json_real(WHATIF_SHARE));
	json_object_set_new(o, "met", json_boolean(met));
	json_object_set_new(o, "wall_s", json_real(now_s() - t0));
	replay_result_fini(&base);
	replay_result_fini(&with);
	free(s);
	return o;
}

/* One aggregate limit: 40 single-phase 32 A chargers spread over the phases under a 150 kW limit
 * (the phases' limits far away), written to `path` and loaded. */
static struct ag_config *aggregate_site(const char *path)
{
	FILE *f = fopen(path, "w");
	struct ag_config *cfg;

	if (!f)
		exit(1);
	fprintf(f, "site = { name = \"aggregate\"; margin_a = 0.0; policy = \"fair\";\n"
		   "  grid = { limit_a = [1000.0, 1000.0, 1000.0]; limit_kw = 150.0; }; };\nchargers = (\n");
	for (int i = 0; i < 40; i++)
		fprintf(f, "  { id = \"S%d\"; phases = 1; rotation = \"L%d\"; max_a = 32.0; password = \"aggregate-pass-%02d\"; }%s\n",
			i + 1, i % 3 + 1, i, i < 39 ? "," : "");
	fprintf(f, ");\nocpp = { listen = \"127.0.0.1:1\"; };\nweb = { listen = \"127.0.0.1:1\"; };\n"
		   "storage = { path = \"/tmp/ampgate-bench-aggregate.db\"; };\n");
	if (fclose(f) || !(cfg = config_load(path, stderr)))
		exit(1);
	return cfg;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 100, 300, 1000 };
	static const char *const policies[] = { "fair", "deadline", "priority", "plan" };
	struct ag_config *cfg = config_load(SITE, stderr);
	char path[] = "/tmp/ampgate-bench-replay-XXXXXX";
	json_t *rows = json_array();
	int fd = mkstemp(path), bad = 0;

	daemon_tune_memory();      /* the plans are timed with the daemon's allocator settings */

	if (!cfg || fd < 0) {
		fprintf(stderr, "bench_replay: run from the repository root (needs %s)\n", SITE);
		return 1;
	}
	close(fd);
	printf("%-9s %-9s %9s %9s %11s %12s %10s %10s\n", "sessions", "policy", "total s", "solves", "solve us",
	       "delivered %", "served", "violations");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		FILE *f = fopen(path, "w");
		struct replay_input in = { .cfg = cfg, .ev_feedback = true };        /* as the command line */
		struct replay_session *s = NULL;

		if (!f || replay_generate(cfg, sizes[i], 1, f) < 0 || fclose(f))
			return 1;
		for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
			struct replay_result r;
			double t0 = now_s(), total;

			if (replay_read_sessions(path, cfg, &s, &in.n_sessions, stderr) < 0)
				return 1;
			in.sessions = s;
			in.policy = policies[p];
			if (replay_run(&in, &r, stderr) < 0)
				return 1;
			total = now_s() - t0;
			bad += r.violations != 0;
			printf("%-9zu %-9s %9.3f %9llu %11.2f %11.1f%% %6zu/%-4zu %10ld\n", sizes[i], r.policy, total,
			       (unsigned long long)r.solves, r.solver_s * 1e6 / (double)(r.solves ? r.solves : 1),
			       100.0 * r.delivered_wh / r.requested_wh, r.served, r.n_sessions, r.violations);
			json_array_append_new(rows, json_pack("{s:I, s:s, s:f, s:f, s:I, s:f, s:f, s:f, s:I, s:I, s:I}",
							      "sessions", (json_int_t)sizes[i], "policy", r.policy,
							      "total_s", total, "replay_s", r.wall_s, "solves",
							      (json_int_t)r.solves, "solver_mean_us",
							      r.solver_s * 1e6 / (double)(r.solves ? r.solves : 1),
							      "solver_max_us", r.solver_max_us, "delivered_pct",
							      100.0 * r.delivered_wh / r.requested_wh, "served",
							      (json_int_t)r.served, "simulated_s",
							      (json_int_t)((r.end_ms - r.start_ms) / 1000), "violations",
							      (json_int_t)r.violations));
			if (p == 0) {   /* the offline optimum of the same sessions: how long the LP takes */
				struct replay_optimum opt;

				if (replay_optimum(&in, &r, &opt, stderr) < 0)
					return 1;
				printf("%-9zu %-9s %9.3f %9zu %11s %11.1f%%   (LP rates; upper bound)\n", sizes[i], "optimum",
				       opt.solve_s, opt.variables, "-", 100.0 * opt.delivered_wh / opt.requested_wh);
				json_array_append_new(rows, json_pack("{s:I, s:s, s:f, s:I, s:I, s:f}", "sessions",
								      (json_int_t)sizes[i], "policy", "optimum", "total_s",
								      opt.solve_s, "variables", (json_int_t)opt.variables,
								      "rows", (json_int_t)opt.rows, "delivered_pct",
								      100.0 * opt.delivered_wh / opt.requested_wh));
			}
			replay_result_fini(&r);
			free(s);
		}
	}
	/* Against the references and the optimum, at three levels of scarcity. */
	static const double scales[] = { 1.0, 0.7, 0.45 };
	json_t *days = json_array();

	struct ag_config *agg = aggregate_site(path);

	printf("\n%-9s %-9s %5s %-14s %9s %9s %9s %10s %10s %10s\n", "site", "day", "grid", "policy", "deliv. %", "gap pts",
	       "worst %", "violations", "starts/EV", "replay s");
	for (int d = 0; d < 2; d++)
		for (size_t k = 0; k < sizeof(scales) / sizeof(scales[0]); k++) {
			json_array_append_new(days, yardsticks("demo", cfg, d ? REPLAY_DAY_WORKPLACE : REPLAY_DAY_DEPOT,
							       d ? 80 : 300, scales[k], path, &bad));
			json_array_append_new(days, yardsticks("aggregate", agg, d ? REPLAY_DAY_WORKPLACE : REPLAY_DAY_DEPOT,
							       d ? 80 : 200, scales[k], path, &bad));
		}
	config_free(agg);
	/* The storage what-if: E chosen so the battery lasts the evening peak (with 400 kWh the
	 * 100-session day drops 0.88 P, with 800 the 300-session day 0.85 P: the energy runs out). */
	static const struct { size_t n; double kwh, kw; } batteries[] = { { 100, 600, 50 }, { 300, 1200, 50 } };
	json_t *whatif = json_array();

	printf("\n%-9s %5s %5s %9s %9s %8s %6s %9s %9s %6s %10s %10s %6s %8s\n", "sessions", "kW", "kWh", "target", "demand",
	       "with", "drop/P", "instant", "with", "drop/P", "EV kWh", "with", "viol.", "s");
	for (size_t i = 0; i < sizeof(batteries) / sizeof(batteries[0]); i++)
		json_array_append_new(whatif, whatif_day(cfg, batteries[i].n, batteries[i].kwh, batteries[i].kw, path, &bad));
	unlink(path);
	json_t *doc = json_pack("{s:s, s:i, s:o, s:o, s:o}", "site", SITE, "step_ms", cfg->site.control_period_ms, "rows", rows,
				"yardsticks", days, "storage_whatif", whatif);

	if (argc > 1 && json_dump_file(doc, argv[1], JSON_INDENT(2) | JSON_REAL_PRECISION(6)) < 0)
		fprintf(stderr, "bench_replay: cannot write %s\n", argv[1]);
	json_decref(doc);
	config_free(cfg);
	if (bad)
		fprintf(stderr, "bench_replay: %d run(s) exceeded a limit or missed the storage what-if's target\n", bad);
	return bad ? 1 : 0;
}
