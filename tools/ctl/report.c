/* `ampgatectl report [-c FILE] [--db PATH] [--from T] [--to T] [--json] [--csv FILE]`: per
 * charger, over a window (the last 24 h by default), the share of time it was usable
 * (availability), the share with a vehicle on it (utilisation), time in each state, faults,
 * the edge's healing steps, sessions and energy. For site managers deciding about maintenance
 * contracts and expansion.
 *
 * Design decision: it reads the daemon's database read-only (storage.path of the
 * configuration, or --db), with the same figures code the daemon uses (edge/health/health-report.c),
 * so it works whether or not ampgated runs and never changes the history. */
#include "edge/core/config.h"
#include "edge/daemon.h"
#include "edge/health/health-report.h"
#include "edge/ocpp/ocpp-frame.h"
#include "tools/ctl/ctl.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "2026-11-21" (local midnight), "2026-11-21 06:30[:15]" (local), RFC 3339 ("...T06:30:15Z",
 * "+01:00"), "now", or "@<unix seconds>". */
static int parse_time(const char *s, int64_t *ms)
{
	struct tm tm;
	char *end;
	int n = 0;

	if (strcmp(s, "now") == 0) {
		*ms = wall_ms();
		return 0;
	}
	if (s[0] == '@') {
		double sec = strtod(s + 1, &end);
		if (end == s + 1 || *end)
			return -EINVAL;
		*ms = (int64_t)(sec * 1000.0 + (sec >= 0 ? 0.5 : -0.5));
		return 0;
	}
	if (ocpp_time_parse(s, ms) == 0)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
		return -EINVAL;
	if (s[n] == ' ' || s[n] == 'T') {
		int m = 0;
		if (sscanf(s + n + 1, "%2d:%2d%n:%2d%n", &tm.tm_hour, &tm.tm_min, &m, &tm.tm_sec, &m) < 2)
			return -EINVAL;
		n += 1 + m;
	}
	if (s[n] || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_isdst = -1;
	*ms = (int64_t)mktime(&tm) * 1000;
	return 0;
}

static void hms(int64_t ms, char *out, size_t size)
{
	long long s = (ms + 500) / 1000;

	snprintf(out, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

static void pct(double v, char *out, size_t size)
{
	if (v < 0)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%.1f", v);
}

static void print_row(const struct health_figures *f)
{
	char a[16], u[16], t[HS_N][24], seen[24];

	pct(health_availability_pct(f), a, sizeof(a));
	pct(health_utilisation_pct(f), u, sizeof(u));
	hms(f->observed_ms, seen, sizeof(seen));
	for (int s = 0; s < HS_N; s++)
		hms(f->ms[s], t[s], sizeof(t[s]));
	printf("%-12s %10s %6s %6s %10s %10s %10s %10s %10s %10s %10s %6d %5d/%-4d %6d %7d %4d %8d %9.1f\n", f->charger_id,
	       seen, a, u, t[HS_AVAILABLE], t[HS_CHARGING], t[HS_OCCUPIED], t[HS_FAULTED], t[HS_UNAVAILABLE],
	       t[HS_SILENT], t[HS_OFFLINE], f->faults, f->soft_resets, f->hard_resets, f->healed, f->disconnects,
	       f->technician, f->sessions, f->energy_wh / 1000.0);
}

static void csv_row(FILE *out, const struct health_figures *f)
{
	double a = health_availability_pct(f), u = health_utilisation_pct(f);

	fprintf(out, "%s,%.3f", f->charger_id, (double)f->observed_ms / 1000.0);
	if (a < 0)
		fprintf(out, ",,");
	else
		fprintf(out, ",%.2f,%.2f", a, u);
	for (int s = 0; s < HS_N; s++)
		fprintf(out, ",%.3f", (double)f->ms[s] / 1000.0);
	fprintf(out, ",%d,%d,%d,%d,%d,%d,%d,%.3f\n", f->faults, f->soft_resets, f->hard_resets, f->healed, f->disconnects,
		f->technician, f->sessions, f->energy_wh / 1000.0);
}

static int usage(FILE *out, int rc)
{
	fprintf(out, "Usage: ampgatectl report [-c FILE] [--db PATH] [--from TIME] [--to TIME] [--json] [--csv FILE]\n"
		     "  Per charger over [from, to) (default: the last 24 h): availability %% (time usable:\n"
		     "  available, charging, occupied), utilisation %% (time with a vehicle), time in each state,\n"
		     "  faults, remote resets (soft/hard) and how many healed, silent sockets closed, technician\n"
		     "  alerts, sessions and energy. TIME: 2026-11-21, \"2026-11-21 06:30\" (local time),\n"
		     "  2026-11-21T06:30:00Z, @<unix seconds> or now. Reads storage.path of FILE (default\n"
		     "  " AG_DEFAULT_CONFIG "), or --db, read-only.\n");
	return rc;
}

struct report_args {
	const char *config, *db, *csv;
	int64_t from, to;
	bool json;
};

static int parse_args(int argc, char **argv, struct report_args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "db", required_argument, NULL, 'd' },
		{ "from", required_argument, NULL, 'f' },   { "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },	    { "csv", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },	    { NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = "now";
	int c;

	memset(a, 0, sizeof(*a));
	a->config = AG_DEFAULT_CONFIG;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'd': a->db = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'j': a->json = true; break;
		case 'C': a->csv = optarg; break;
		case 'h': return usage(stdout, 1);
		default: return usage(stderr, 2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "report: unexpected argument \"%s\"\n", argv[optind]);
		return usage(stderr, 2);
	}
	if (parse_time(to, &a->to) < 0) {
		fprintf(stderr, "report: --to \"%s\" is not a date or time (try 2026-11-21 or 2026-11-21T06:30:00Z)\n", to);
		return 2;
	}
	a->from = a->to - 86400LL * 1000;
	if (from && parse_time(from, &a->from) < 0) {
		fprintf(stderr, "report: --from \"%s\" is not a date or time (try 2026-11-21 or 2026-11-21T06:30:00Z)\n", from);
		return 2;
	}
	if (a->from >= a->to) {
		fprintf(stderr, "report: --from must be before --to\n");
		return 2;
	}
	return 0;
}

/* The chargers to show: the configured ones in the file's order, then any other with history. */
static int charger_list(sqlite3 *db, const struct ag_config *cfg, const struct report_args *a, char (**ids)[49], size_t *n)
{
	char(*hist)[49];
	size_t nh;

	if (health_report_ids(db, a->from, a->to, &hist, &nh) < 0)
		return -EIO;
	*n = 0;
	*ids = calloc((cfg ? cfg->n_chargers : 0) + nh + 1, sizeof(**ids));
	if (!*ids) {
		free(hist);
		return -ENOMEM;
	}
	for (size_t i = 0; cfg && i < cfg->n_chargers; i++)
		snprintf((*ids)[(*n)++], sizeof(**ids), "%s", cfg->chargers[i].id);
	for (size_t i = 0; i < nh; i++) {
		bool known = false;
		for (size_t j = 0; cfg && j < cfg->n_chargers; j++)
			known |= strcmp(hist[i], cfg->chargers[j].id) == 0;
		if (!known)
			memcpy((*ids)[(*n)++], hist[i], sizeof(hist[i]));
	}
	free(hist);
	return 0;
}

/* "  CP007: GroundFailure 2, HighTemperature 1" */
static void codes_line(FILE *out, const struct health_figures *f)
{
	if (!out || !f->n_codes)
		return;
	fprintf(out, "  %s:", f->charger_id);
	for (int i = 0; i < f->n_codes; i++)
		fprintf(out, "%s %s %d", i ? "," : "", f->by_code[i].code, f->by_code[i].n);
	fprintf(out, "\n");
}

static int emit(sqlite3 *db, const struct report_args *a, char (*ids)[49], size_t n, FILE *csv)
{
	char from[40], to[40], *notes = NULL;
	size_t notes_len = 0;
	FILE *nf = a->json ? NULL : open_memstream(&notes, &notes_len);
	json_t *list = json_array();
	int rc = 0;

	ocpp_time_format(a->from, from, sizeof(from));
	ocpp_time_format(a->to, to, sizeof(to));
	if (!a->json) {
		printf("Charger health from %s to %s (availability = usable time / time observed)\n", from, to);
		printf("%-12s %10s %6s %6s %10s %10s %10s %10s %10s %10s %10s %6s %10s %6s %7s %4s %8s %9s\n", "CHARGER",
		       "OBSERVED", "AVAIL%", "UTIL%", "AVAILABLE", "CHARGING", "OCCUPIED", "FAULTED", "UNAVAIL", "SILENT",
		       "OFFLINE", "FAULTS", "RESETS S/H", "HEALED", "DISCONN", "TECH", "SESSIONS", "kWh");
	}
	if (csv)
		fprintf(csv, "charger,observed_s,availability_pct,utilisation_pct,available_s,charging_s,occupied_s,"
			     "faulted_s,unavailable_s,silent_s,offline_s,faults,soft_resets,hard_resets,healed,"
			     "disconnects,technician_alerts,sessions,energy_kwh\n");
	for (size_t i = 0; i < n; i++) {
		struct health_figures f;
		if (health_report_charger(db, ids[i], a->from, a->to, &f) < 0) {
			fprintf(stderr, "report: database: %s\n", sqlite3_errmsg(db));
			rc = 1;
			break;
		}
		if (a->json)
			json_array_append_new(list, health_figures_json(&f));
		else
			print_row(&f);
		codes_line(nf, &f);
		if (csv)
			csv_row(csv, &f);
	}
	if (nf)
		fclose(nf);
	if (rc == 0 && notes_len)
		printf("Faults by code:\n%s", notes);
	free(notes);
	if (rc) {
		json_decref(list);
	} else if (a->json) {
		json_t *doc = json_pack("{s:I, s:I, s:s, s:s, s:o}", "from_ms", (json_int_t)a->from, "to_ms", (json_int_t)a->to,
					"from", from, "to", to, "chargers", list);
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		printf("\n");
		json_decref(doc);
	} else {
		json_decref(list);
	}
	return rc;
}

int ctl_report_main(int argc, char **argv)
{
	struct report_args a;
	struct ag_config *cfg = NULL;
	sqlite3 *db = NULL;
	char(*ids)[49] = NULL;
	size_t n = 0;
	FILE *csv = NULL;
	int rc = parse_args(argc, argv, &a);

	if (rc)
		return rc == 1 ? 0 : rc;
	if (!a.db || strcmp(a.config, AG_DEFAULT_CONFIG) != 0) {
		cfg = config_load(a.config, stderr);
		if (!cfg) {
			fprintf(stderr, "%s: configuration is not valid\n", a.config);
			return 2;
		}
	}
	const char *path = a.db ? a.db : cfg->storage.path;
	rc = 1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "report: cannot open the database %s: %s (is storage.path right? has ampgated run?)\n", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (health_report_check(db) < 0) {
		fprintf(stderr, "report: %s has no charger health history (start this version of ampgated once)\n", path);
		goto out;
	}
	if (charger_list(db, cfg, &a, &ids, &n) < 0) {
		fprintf(stderr, "report: database: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	if (a.csv && !(csv = fopen(a.csv, "w"))) {
		fprintf(stderr, "report: cannot write %s: %s\n", a.csv, strerror(errno));
		goto out;
	}
	rc = emit(db, &a, ids, n, csv);
	if (csv && fclose(csv) != 0) {
		fprintf(stderr, "report: cannot write %s: %s\n", a.csv, strerror(errno));
		rc = 1;
	}
out:
	free(ids);
	sqlite3_close(db);
	config_free(cfg);
	return rc;
}
