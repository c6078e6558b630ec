/* The command line of `ampgate-sim chargers`: options, defaults, checks, and the %d templates
 * for station ids and passwords. Templates are expanded here rather than passed to printf, so
 * a user's string can never be a format string. */
#include "tools/sim/fleet.h"
#include "edge/core/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ampgate-sim chargers --url ws://HOST:PORT/PATH --count N [options]\n"
		"  Simulated OCPP charging stations (1.6J and/or 2.0.1) with EVs, from one process.\n"
		"  --url URL                 CSMS or edge URL; a station connects to URL/<id>\n"
		"  --count N                 number of stations (default 10)\n"
		"  --protocol P              ocpp1.6 | ocpp2.0.1 | mix (default mix: odd numbers 1.6, even 2.0.1)\n"
		"  --id-template T           station id, %%d (or %%0Nd) is the number from 1 (default SIM%%04d)\n"
		"  --password-template T     Basic-auth password, same template syntax (e.g. 'pw-%%04d')\n"
		"  --password-file F         one password per line, line i for station i\n"
		"  --seed S                  random seed: EVs, arrivals, roles (default 1)\n"
		"  --arrivals-per-hour X     EV arrivals across the fleet (default: one per station)\n"
		"  --ev-at-start F           fraction of stations with an EV at start (default 0.3)\n"
		"  --dwell-s S               mean plug-in time, uniform 0.5..1.5x (default 7200)\n"
		"  --meter-interval-s S      MeterValues interval during transactions (default 60)\n"
		"  --reaction-delay-ms MS    delay before a new limit takes effect in the EV (default 2000)\n"
		"  --duration-s S            run this long, then report and exit (default: until SIGINT/SIGTERM)\n"
		"  --silent K                K stations go silent (socket stays open)...\n"
		"  --silent-after-s S        ...this long after their first boot (default 30)\n"
		"  --refuse-profiles K       K stations answer SetChargingProfile with Rejected\n"
		"  --malformed K             K stations send a bad frame every 5..15 s\n"
		"  --connect-rate R          new connections per second at start (default 200)\n"
		"  --tick-ms MS              the stations' clock step: calls that fall due in one step go out\n"
		"                            together (default 50; benchmarks use less to spread the load)\n"
		"  --call-timeout-s S        give up on an unanswered call (default 30)\n"
		"  --summary-s S             summary line interval on stderr (default 10; 0 = none)\n"
		"  --voltage-v V             phase-to-neutral voltage (default 230)\n"
		"  --station-max-a A         station rating per phase (default 32)\n"
		"  --draw-out FILE           rewrite FILE atomically every second with the fleet's per-phase draw (JSON)\n"
		"  --report-json FILE        final report: counts, energy, per-action latency p50/p99\n"
		"  --tx-log FILE             one line \"<station>\\t<key>\" per transaction message acknowledged\n"
		"                            (StartTransaction, StopTransaction, TransactionEvent)\n"
		"  --warmup-s S              latency percentiles leave out the first S seconds (default 0)\n"
		"  -v, --verbose             debug log\n");
}

int sim_template_expand(const char *tmpl, int n, char *buf, size_t size)
{
	size_t o = 0;
	bool used = false;

	for (const char *p = tmpl; *p; p++) {
		char piece[32];
		size_t len;
		if (*p != '%') {
			piece[0] = *p;
			piece[1] = '\0';
		} else if (p[1] == '%') {
			snprintf(piece, sizeof(piece), "%%");
			p++;
		} else {
			char *end;
			bool zero = p[1] == '0';
			long width = strtol(p + 1, &end, 10);
			if (*end != 'd' || used || width < 0 || width > 20)
				return -EINVAL;
			snprintf(piece, sizeof(piece), zero ? "%0*d" : "%*d", (int)width, n);
			used = true;
			p = end;
		}
		len = strlen(piece);
		if (o + len >= size)
			return -ENAMETOOLONG;
		memcpy(buf + o, piece, len);
		o += len;
	}
	buf[o] = '\0';
	return 0;
}

static int num(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "chargers: --%s %s: expected a number in %g .. %g\n", name, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int fleet_parse_args(int argc, char **argv, struct fleet_opts *o)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "count", required_argument, NULL, 'n' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "id-template", required_argument, NULL, 'I' },
		{ "password-template", required_argument, NULL, 'W' },
		{ "password-file", required_argument, NULL, 'F' },
		{ "seed", required_argument, NULL, 's' },
		{ "arrivals-per-hour", required_argument, NULL, 'a' },
		{ "ev-at-start", required_argument, NULL, 'e' },
		{ "dwell-s", required_argument, NULL, 'd' },
		{ "meter-interval-s", required_argument, NULL, 'm' },
		{ "reaction-delay-ms", required_argument, NULL, 'r' },
		{ "duration-s", required_argument, NULL, 'D' },
		{ "silent", required_argument, NULL, 'S' },
		{ "silent-after-s", required_argument, NULL, 'A' },
		{ "refuse-profiles", required_argument, NULL, 'R' },
		{ "malformed", required_argument, NULL, 'M' },
		{ "connect-rate", required_argument, NULL, 'c' },
		{ "tick-ms", required_argument, NULL, 'k' },
		{ "warmup-s", required_argument, NULL, 'w' },
		{ "call-timeout-s", required_argument, NULL, 't' },
		{ "summary-s", required_argument, NULL, 'y' },
		{ "voltage-v", required_argument, NULL, 'V' },
		{ "station-max-a", required_argument, NULL, 'x' },
		{ "draw-out", required_argument, NULL, 'o' },
		{ "report-json", required_argument, NULL, 'j' },
		{ "tx-log", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double v, arrivals = -1;
	int c, rc = 0, verbose = 0;
	char probe[64];

	memset(o, 0, sizeof(*o));
	o->count = 10;
	o->proto = PROTO_MIX;
	o->id_template = "SIM%04d";
	o->seed = 1;
	o->ev_at_start = 0.3;
	o->dwell_s = 7200;
	o->meter_interval_s = 60;
	o->reaction_delay_ms = 2000;
	o->silent_after_s = 30;
	o->connect_rate = 200;
	o->tick_ms = 50;
	o->call_timeout_s = 30;
	o->summary_s = 10;
	o->voltage_v = 230.0;
	o->station_max_a = 32.0;
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'u': o->url_text = optarg; break;
		case 'n': rc = num("count", optarg, 1, 100000, &v); o->count = (int)v; break;
		case 'P':
			if (!strcmp(optarg, "ocpp1.6")) o->proto = PROTO_16;
			else if (!strcmp(optarg, "ocpp2.0.1")) o->proto = PROTO_201;
			else if (!strcmp(optarg, "mix")) o->proto = PROTO_MIX;
			else { fprintf(stderr, "chargers: --protocol %s: ocpp1.6, ocpp2.0.1 or mix\n", optarg); rc = -EINVAL; }
			break;
		case 'I': o->id_template = optarg; break;
		case 'W': o->password_template = optarg; break;
		case 'F': o->password_file = optarg; break;
		case 's': rc = num("seed", optarg, 0, 1e15, &v); o->seed = (uint64_t)v; break;
		case 'a': rc = num("arrivals-per-hour", optarg, 0, 1e7, &arrivals); break;
		case 'e': rc = num("ev-at-start", optarg, 0, 1, &o->ev_at_start); break;
		case 'd': rc = num("dwell-s", optarg, 0.1, 1e7, &o->dwell_s); break;
		case 'm': rc = num("meter-interval-s", optarg, 1, 86400, &v); o->meter_interval_s = (int)v; break;
		case 'r': rc = num("reaction-delay-ms", optarg, 0, 600000, &v); o->reaction_delay_ms = (int)v; break;
		case 'D': rc = num("duration-s", optarg, 0, 1e7, &v); o->duration_s = (int)v; break;
		case 'S': rc = num("silent", optarg, 0, 100000, &v); o->silent = (int)v; break;
		case 'A': rc = num("silent-after-s", optarg, 0, 1e6, &v); o->silent_after_s = (int)v; break;
		case 'R': rc = num("refuse-profiles", optarg, 0, 100000, &v); o->refuse_profiles = (int)v; break;
		case 'M': rc = num("malformed", optarg, 0, 100000, &v); o->malformed = (int)v; break;
		case 'c': rc = num("connect-rate", optarg, 1, 1e6, &v); o->connect_rate = (int)v; break;
		case 'k': rc = num("tick-ms", optarg, 1, 1000, &v); o->tick_ms = (int)v; break;
		case 'w': rc = num("warmup-s", optarg, 0, 1e6, &v); o->warmup_s = (int)v; break;
		case 't': rc = num("call-timeout-s", optarg, 1, 3600, &v); o->call_timeout_s = (int)v; break;
		case 'y': rc = num("summary-s", optarg, 0, 3600, &v); o->summary_s = (int)v; break;
		case 'V': rc = num("voltage-v", optarg, 100, 500, &o->voltage_v); break;
		case 'x': rc = num("station-max-a", optarg, 6, 1000, &o->station_max_a); break;
		case 'o': o->draw_out = optarg; break;
		case 'j': o->report_json = optarg; break;
		case 'T': o->tx_log = optarg; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 1;
		default: rc = -EINVAL; break;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "chargers: unexpected argument %s\n", argv[optind]);
		rc = -EINVAL;
	}
	if (rc == 0 && (!o->url_text || ws_url_parse(o->url_text, &o->url) < 0)) {
		fprintf(stderr, "chargers: --url ws://host:port/path is required\n");
		rc = -EINVAL;
	}
	if (rc == 0 && (sim_template_expand(o->id_template, 1, probe, sizeof(probe)) < 0 ||
			(o->password_template && sim_template_expand(o->password_template, 1, probe, sizeof(probe)) < 0))) {
		fprintf(stderr, "chargers: a template takes at most one %%d or %%0Nd (and %%%% for %%)\n");
		rc = -EINVAL;
	}
	if (rc == 0 && o->password_template && o->password_file) {
		fprintf(stderr, "chargers: --password-template and --password-file exclude each other\n");
		rc = -EINVAL;
	}
	if (rc == 0 && o->silent + o->refuse_profiles + o->malformed > o->count) {
		fprintf(stderr, "chargers: --silent + --refuse-profiles + --malformed exceed --count\n");
		rc = -EINVAL;
	}
	if (rc < 0) {
		usage(stderr);
		return 2;
	}
	o->arrivals_per_hour = arrivals >= 0 ? arrivals : o->count;
	log_init(verbose ? LL_DEBUG : LL_INFO);
	return 0;
}
