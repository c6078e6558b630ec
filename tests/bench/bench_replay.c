/* Replay benchmark: how long `ampgate-sim replay` takes for a generated depot day of 100 to 1,000
 * sessions on the demo depot (etc/demo.conf: 40 chargers, 250 A, two feeders), at the daemon's
 * 1 s control period, per policy. Prints a table; writes JSON to the path in argv[1].
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
#include "tools/sim/replay.c"

#include <unistd.h>

#define SITE "etc/demo.conf"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 100, 300, 1000 };
	static const char *const policies[] = { "fair", "deadline", "priority" };
	struct ag_config *cfg = config_load(SITE, stderr);
	char path[] = "/tmp/ampgate-bench-replay-XXXXXX";
	json_t *rows = json_array();
	int fd = mkstemp(path), bad = 0;

	if (!cfg || fd < 0) {
		fprintf(stderr, "bench_replay: run from the repository root (needs %s)\n", SITE);
		return 1;
	}
	close(fd);
	printf("%-9s %-9s %9s %9s %11s %12s %10s %10s\n", "sessions", "policy", "total s", "solves", "solve us",
	       "delivered %", "served", "violations");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		FILE *f = fopen(path, "w");
		struct replay_input in = { .cfg = cfg };
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
			replay_result_fini(&r);
			free(s);
		}
	}
	unlink(path);
	json_t *doc = json_pack("{s:s, s:i, s:o}", "site", SITE, "step_ms", cfg->site.control_period_ms, "rows", rows);

	if (argc > 1 && json_dump_file(doc, argv[1], JSON_INDENT(2) | JSON_REAL_PRECISION(6)) < 0)
		fprintf(stderr, "bench_replay: cannot write %s\n", argv[1]);
	json_decref(doc);
	config_free(cfg);
	if (bad)
		fprintf(stderr, "bench_replay: %d run(s) exceeded a limit\n", bad);
	return bad ? 1 : 0;
}
