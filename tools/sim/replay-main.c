/* `ampgate-sim replay`: the command line around the replay engine. Loads the site configuration
 * with the daemon's own parser, reads the inputs, replays once per policy asked for and reports.
 * Exit codes: 0 done, 1 a limit was exceeded in the replay, 2 bad usage or input. */
#include "tools/sim/replay.h"
#include "edge/core/log.h"
#include "edge/daemon.h"
#include "policies/policy.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POLICIES 8

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ampgate-sim replay -c SITE.conf --sessions FILE [options]\n"
		"       ampgate-sim replay -c SITE.conf --generate N [--seed S] [--out FILE]\n"
		"  Replays charging sessions through the daemon's solver and policies on the site of SITE.conf,\n"
		"  in simulated time, and reports energy delivered, peaks against limits and violations.\n"
		"  -c, --config FILE       site configuration (the daemon's file: circuits, limits, chargers, policy)\n"
		"  --sessions FILE         sessions: CSV (charger,arrival,departure,energy_kwh[,max_a|max_kw,phases,\n"
		"                          battery_kwh,arrival_soc_pct]) or the daemon's SQLite database\n"
		"  --policy P[,P..]        fair, priority, deadline, cost, plan; several compare them (default: the file's);\n"
		"                          the references edf and llf (sorted greedy to each EV's cap) always run too\n"
		"  --step-s S              simulated step (default: site.control_period_ms)\n"
		"  --load FILE             building load CSV: time,node,l1_a,l2_a,l3_a (or kw); a row without\n"
		"                          values marks the grid meter stale from then on\n"
		"  --prices FILE           tariff CSV: time,price_per_kwh (cost report and the cost policy)\n"
		"  --any-charger           ignore charger ids: each session takes any free charger\n"
		"  --report-json FILE      the report as JSON (per session, per node-phase, comparison)\n"
		"  --sessions-out FILE     per-session outcome as CSV\n"
		"  --svg FILE              grid load against its limit over the day\n"
		"  --generate N            write a generated depot day of N sessions on SITE.conf's chargers\n"
		"  --day depot|workplace   what --generate writes (default depot)\n"
		"  --seed S                generator seed (default 1)\n"
		"  --out FILE              where --generate writes (default stdout)\n"
		"  --optimum               also compute the offline optimum (LP: perfect knowledge, continuous rates)\n"
		"                          and print every policy's gap to it in points of the request\n"
		"  --departure-noise-s S   tell the policies each departure off by up to +-S s (uniform)\n"
		"  --energy-noise-pct P    tell the policies each energy request off by up to +-P %%\n"
		"                          (sessions still leave and are scored on the truth; --seed picks the noise)\n"
		"  --no-ev-feedback        the solver sees every EV at its charger's maximum (default: an EV drawing\n"
		"                          less is capped at its draw, as the daemon learns from meter values)\n"
		"  --ev-max-told           tell the policies each session's own maximum current (max_a or max_kw), as a\n"
		"                          2.0.1 EV tells the daemon in NotifyEVChargingNeeds (default: learnt from its draw)\n"
		"  --battery-kwh E         what if: replay the day also with a battery of E kWh (needs --battery-kw),\n"
		"  --battery-kw P          P kW each way, dispatched by the daemon's own peak shaving (battery group of\n"
		"                          SITE.conf: reserve_pct, recharge; 95 %% efficient each way) and report it\n"
		"                          beside the day without: grid peak (15-min mean, instantaneous), import,\n"
		"                          PV, battery throughput, EV energy, cost, violations\n"
		"  --battery-soc-pct S     its state of charge at the start (default 100)\n"
		"  --peak-kw K             its peak target (default battery.peak_kw; if 0, the lowest it holds that day)\n"
		"  --recharge pv|any|off   how it recharges (default the file's peak-shave battery's, else any)\n"
		"  --pv FILE               what if: PV behind the grid meter, \"SECONDS WATTS\" lines (the format of\n"
		"                          ampgate-sim modbus --pv-profile), seconds from 00:00 UTC of the first day\n"
		"  -q, --quiet             no table on stdout\n");
}

struct args {
	const char *config, *sessions, *load, *prices, *json, *sessions_out, *svg, *out;
	const char *policy[MAX_POLICIES];
	size_t n_policies;
	double step_s, departure_noise_s, energy_noise_pct;
	long generate;
	unsigned long long seed;
	bool any, quiet, optimum, no_feedback, ev_max_told;
	enum replay_day day;
	double battery_kwh, battery_kw, battery_soc_pct, peak_kw;
	const char *recharge, *pv;
};

static int parse_policies(char *list, struct args *a)
{
	for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (!policy_find(p) && !replay_ref_known(p)) {
			fprintf(stderr, "replay: --policy %s: fair, priority, deadline, cost or plan (or the references edf, llf)\n", p);
			return -EINVAL;
		}
		if (a->n_policies == MAX_POLICIES) {
			fprintf(stderr, "replay: --policy: at most %d policies\n", MAX_POLICIES);
			return -EINVAL;
		}
		a->policy[a->n_policies++] = p;
	}
	return 0;
}

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },  { "sessions", required_argument, NULL, 'S' },
		{ "policy", required_argument, NULL, 'p' },  { "step-s", required_argument, NULL, 't' },
		{ "load", required_argument, NULL, 'l' },    { "prices", required_argument, NULL, 'P' },
		{ "any-charger", no_argument, NULL, 'a' },   { "report-json", required_argument, NULL, 'j' },
		{ "sessions-out", required_argument, NULL, 'o' }, { "svg", required_argument, NULL, 'g' },
		{ "generate", required_argument, NULL, 'G' }, { "seed", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'O' },     { "quiet", no_argument, NULL, 'q' },
		{ "optimum", no_argument, NULL, 'x' },       { "departure-noise-s", required_argument, NULL, 'D' },
		{ "energy-noise-pct", required_argument, NULL, 'E' }, { "no-ev-feedback", no_argument, NULL, 'F' },
		{ "ev-max-told", no_argument, NULL, 'M' },   { "day", required_argument, NULL, 'y' },
		{ "battery-kwh", required_argument, NULL, 'B' }, { "battery-kw", required_argument, NULL, 'W' },
		{ "battery-soc-pct", required_argument, NULL, 'C' }, { "peak-kw", required_argument, NULL, 'K' },
		{ "recharge", required_argument, NULL, 'R' }, { "pv", required_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(a, 0, sizeof(*a));
	a->generate = -1;
	a->seed = 1;
	a->battery_soc_pct = 100;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'S': a->sessions = optarg; break;
		case 'p': if (parse_policies(optarg, a) < 0) return -EINVAL; break;
		case 't':
			a->step_s = strtod(optarg, &end);
			if (*end || !(a->step_s >= 0.1 && a->step_s <= 3600)) {
				fprintf(stderr, "replay: --step-s %s: seconds, 0.1 .. 3600\n", optarg);
				return -EINVAL;
			}
			break;
		case 'l': a->load = optarg; break;
		case 'P': a->prices = optarg; break;
		case 'a': a->any = true; break;
		case 'j': a->json = optarg; break;
		case 'o': a->sessions_out = optarg; break;
		case 'g': a->svg = optarg; break;
		case 'G':
			a->generate = strtol(optarg, &end, 10);
			if (*end || a->generate < 1 || a->generate > 1000000) {
				fprintf(stderr, "replay: --generate %s: a number of sessions, 1 .. 1000000\n", optarg);
				return -EINVAL;
			}
			break;
		case 's': a->seed = strtoull(optarg, &end, 10); if (*end) return -EINVAL; break;
		case 'O': a->out = optarg; break;
		case 'q': a->quiet = true; break;
		case 'x': a->optimum = true; break;
		case 'F': a->no_feedback = true; break;
		case 'M': a->ev_max_told = true; break;
		case 'y':
			if (strcmp(optarg, "depot") && strcmp(optarg, "workplace")) {
				fprintf(stderr, "replay: --day %s: depot or workplace\n", optarg);
				return -EINVAL;
			}
			a->day = !strcmp(optarg, "workplace") ? REPLAY_DAY_WORKPLACE : REPLAY_DAY_DEPOT;
			break;
		case 'D':
			a->departure_noise_s = strtod(optarg, &end);
			if (*end || !(a->departure_noise_s >= 0 && a->departure_noise_s <= 86400)) {
				fprintf(stderr, "replay: --departure-noise-s %s: seconds, 0 .. 86400\n", optarg);
				return -EINVAL;
			}
			break;
		case 'E':
			a->energy_noise_pct = strtod(optarg, &end);
			if (*end || !(a->energy_noise_pct >= 0 && a->energy_noise_pct <= 100)) {
				fprintf(stderr, "replay: --energy-noise-pct %s: percent, 0 .. 100\n", optarg);
				return -EINVAL;
			}
			break;
		case 'B': case 'W': case 'C': case 'K': {
			static const struct { int c; const char *name; double lo, hi; } r[] = {
				{ 'B', "--battery-kwh", 0.001, 100000 }, { 'W', "--battery-kw", 0.001, 100000 },
				{ 'C', "--battery-soc-pct", 0, 100 }, { 'K', "--peak-kw", 0.001, 1000000 } };
			double *dst[] = { &a->battery_kwh, &a->battery_kw, &a->battery_soc_pct, &a->peak_kw };
			size_t k = 0;

			while (r[k].c != c)
				k++;
			*dst[k] = strtod(optarg, &end);
			if (*end || !(*dst[k] >= r[k].lo && *dst[k] <= r[k].hi)) {
				fprintf(stderr, "replay: %s %s: %g .. %g\n", r[k].name, optarg, r[k].lo, r[k].hi);
				return -EINVAL;
			}
			break;
		}
		case 'R':
			if (strcmp(optarg, "pv") && strcmp(optarg, "any") && strcmp(optarg, "off")) {
				fprintf(stderr, "replay: --recharge %s: pv, any or off\n", optarg);
				return -EINVAL;
			}
			a->recharge = optarg;
			break;
		case 'V': a->pv = optarg; break;
		case 'h': usage(stdout); return 1;
		default: return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "replay: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	if ((a->battery_kwh > 0) != (a->battery_kw > 0)) {
		fprintf(stderr, "replay: a what-if battery needs both --battery-kwh and --battery-kw\n");
		return -EINVAL;
	}
	if (!(a->battery_kwh > 0) && (a->peak_kw > 0 || a->recharge)) {
		fprintf(stderr, "replay: --peak-kw and --recharge are for a what-if battery (--battery-kwh, --battery-kw)\n");
		return -EINVAL;
	}
	if (!a->config || (a->generate < 0 && !a->sessions)) {
		fprintf(stderr, "replay: give -c SITE.conf and --sessions FILE (or --generate N)\n");
		return -EINVAL;
	}
	return 0;
}

static int generate(const struct args *a, const struct ag_config *cfg)
{
	FILE *out = a->out ? fopen(a->out, "w") : stdout;
	int rc;

	if (!out) {
		fprintf(stderr, "replay: %s: %s\n", a->out, strerror(errno));
		return 2;
	}
	rc = replay_generate_day(cfg, a->day, (size_t)a->generate, a->seed, out);
	if (rc == -EINVAL)
		fprintf(stderr, "replay: %s has no chargers to generate sessions for\n", cfg->file);
	if ((a->out && fclose(out)) || rc < 0)
		return 2;
	return 0;
}

static int write_outputs(const struct args *a, const struct replay_input *in, const struct replay_result *r, size_t n,
			 const struct replay_result *refs, size_t n_refs, const struct replay_optimum *opt,
			 const struct replay_whatif *w, const struct replay_result *wr)
{
	int bad = 0;

	if (a->json) {
		json_t *j = replay_json(in, r, n);

		if (j)
			replay_json_yardsticks(j, r, n, refs, n_refs, opt);
		for (size_t i = 0; j && wr && i < n; i++)
			json_object_set_new(n == 1 ? j : json_array_get(json_object_get(j, "runs"), i), "whatif",
					    replay_json_whatif(w, &r[i], &wr[i]));
		if (!j || json_dump_file(j, a->json, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0) {
			fprintf(stderr, "replay: cannot write %s\n", a->json);
			bad++;
		}
		json_decref(j);
	}
	if (a->sessions_out && replay_write_sessions_csv(a->sessions_out, in, &r[n - 1]) < 0) {
		fprintf(stderr, "replay: cannot write %s: %s\n", a->sessions_out, strerror(errno));
		bad++;
	}
	if (a->svg && replay_write_svg(a->svg, r, n) < 0) {
		fprintf(stderr, "replay: cannot write %s: %s\n", a->svg, strerror(errno));
		bad++;
	}
	return bad ? 2 : 0;
}

int replay_main(int argc, char **argv)
{
	struct args a;
	struct ag_config *cfg;
	struct replay_session *sessions = NULL;
	struct replay_load *loads = NULL;
	struct price_slot *prices = NULL;
	struct replay_result r[MAX_POLICIES], refs[2], wr[MAX_POLICIES];
	struct replay_whatif w = { 0 };
	bool whatif = false;
	static const char *const ref_names[] = { "edf", "llf" };
	struct replay_optimum opt;
	struct replay_input in = { 0 };
	size_t n_runs = 0, n_refs = 0, n_wr = 0;
	int rc = parse(argc, argv, &a), code = 2;

	daemon_tune_memory();      /* plans as the daemon makes them, and timed so */

	if (rc) {
		if (rc < 0)
			usage(stderr);
		return rc < 0 ? 2 : 0;
	}
	log_init(LL_NOTICE);
	if (!(cfg = config_load(a.config, stderr)))
		return 2;
	if (a.generate > 0) {
		code = generate(&a, cfg);
		config_free(cfg);
		return code;
	}
	in.cfg = cfg;
	in.any_charger = a.any;
	in.ev_feedback = !a.no_feedback;
	in.ev_max_told = a.ev_max_told;
	in.step_ms = (int64_t)(a.step_s * 1000.0);
	in.departure_noise_s = a.departure_noise_s;
	in.energy_noise_pct = a.energy_noise_pct;
	in.noise_seed = a.seed;
	if (replay_read_sessions(a.sessions, cfg, &sessions, &in.n_sessions, stderr) < 0 ||
	    (a.load && replay_read_loads(a.load, cfg, &loads, &in.n_loads, stderr) < 0) ||
	    (a.prices && replay_read_prices(a.prices, &prices, &in.n_prices, stderr) < 0))
		goto out;
	in.sessions = sessions;
	in.loads = loads;
	in.prices = prices;
	if (a.pv && pv_profile_read(a.pv, "replay: --pv", &w.pv, stderr) < 0)
		goto out;
	w.has_pv = a.pv != NULL;
	w.pv_path = a.pv;
	w.has_battery = a.battery_kwh > 0;
	w.battery = (struct replay_battery){ a.battery_kwh * 1000, a.battery_kw * 1000, a.battery_soc_pct };
	w.peak_kw = a.peak_kw;
	w.recharge = a.recharge;
	whatif = w.has_battery || w.has_pv;
	replay_whatif_init(&w, cfg);
	if (!a.n_policies)
		a.policy[a.n_policies++] = NULL;
	for (; n_runs < a.n_policies; n_runs++) {
		in.policy = a.policy[n_runs];
		if (replay_run(&in, &r[n_runs], stderr) < 0)
			goto out;
		if (!a.quiet)
			replay_print(stdout, &in, &r[n_runs]);
		if (whatif) {
			if (replay_whatif_run(&w, &in, &r[n_runs], &wr[n_wr], stderr) < 0) {
				n_runs++;
				goto out;
			}
			n_wr++;
			if (!a.quiet)
				replay_print_whatif(stdout, &w, &in, &r[n_runs], &wr[n_runs]);
		}
		if (!a.quiet && n_runs + 1 < a.n_policies)
			fputc('\n', stdout);
	}
	if (!a.quiet && n_runs > 1)
		replay_print_comparison(stdout, r, n_runs);
	/* The yardsticks: the textbook references on the same input, and the optimum. */
	for (size_t k = 0; k < 2; k++) {
		in.policy = ref_names[k];
		if (replay_run(&in, &refs[n_refs], stderr) < 0)
			goto out;
		n_refs++;
	}
	if (a.optimum && replay_optimum(&in, &r[0], &opt, stderr) < 0)
		goto out;
	if (!a.quiet)
		replay_print_yardsticks(stdout, r, n_runs, refs, n_refs, a.optimum ? &opt : NULL);
	code = write_outputs(&a, &in, r, n_runs, refs, n_refs, a.optimum ? &opt : NULL, &w, whatif ? wr : NULL);
	for (size_t i = 0; code == 0 && i < n_runs; i++)
		if (r[i].violations || (whatif && wr[i].violations)) {
			fprintf(stderr, "replay: policy %s%s: %ld node-phase steps above a configured limit\n", r[i].policy,
				r[i].violations ? "" : " with the what-if storage", r[i].violations ? r[i].violations : wr[i].violations);
			code = 1;
		}
out:
	while (n_runs > 0)
		replay_result_fini(&r[--n_runs]);
	while (n_refs > 0)
		replay_result_fini(&refs[--n_refs]);
	while (n_wr > 0)
		replay_result_fini(&wr[--n_wr]);
	pv_profile_fini(&w.pv);
	free(sessions);
	free(loads);
	free(prices);
	config_free(cfg);
	return code;
}
