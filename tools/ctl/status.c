/* `ampgatectl status` and `ampgatectl chargers`: what the site manager's page shows, over the
 * daemon's REST API, for an installer on SSH. Options: [-c FILE | --url URL] [--user NAME]
 * [--json] [--cafile FILE] [--insecure]; the password from $AMPGATE_PASSWORD, else asked for
 * (or one line on stdin).
 *
 * Design decision: the same JSON the page reads, never the database or the daemon's memory, so
 * the CLI and the page cannot disagree; the words for states are the page's. */
#include "edge/core/config.h"
#include "edge/core/net-addr.h"
#include "tools/ctl/ctl.h"
#include "tools/ctl/rest.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct args {
	const char *config, *url, *user;
	bool json;
	struct rest rest;
};

static int usage(const char *name)
{
	fprintf(stderr,
		"usage: ampgatectl %s [-c FILE | --url http[s]://HOST:PORT] [--user NAME] [--json]\n"
		"       [--cafile FILE] [--insecure]\n"
		"Logs in to the edge's web API as NAME (default $AMPGATE_USER, else \"manager\") with the\n"
		"password in $AMPGATE_PASSWORD (else asked for) and shows %s.\n"
		"Without --url the address is web.listen of the configuration (-c, default %s).\n",
		name, strcmp(name, "status") == 0 ? "the site: state, grid, chargers, uplink"
						   : "every charger: link, health, limit and why, draw, session",
		AG_DEFAULT_CONFIG);
	return 2;
}

/* The URL of web.listen in the configuration: the box itself when it listens on every address. */
static int url_from_config(const char *path, char *url, size_t size)
{
	struct ag_config *cfg = config_load(path, stderr);
	struct host_port hp;

	if (!cfg)
		return -1;
	if (!cfg->web.listen || host_port_parse(cfg->web.listen, &hp) < 0) {
		fprintf(stderr, "%s: web.listen is not set: the web API is off; pass --url\n", path);
		config_free(cfg);
		return -1;
	}
	const char *host = !hp.host[0] || strcmp(hp.host, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(hp.host, "::") == 0 ? "::1" : hp.host;
	snprintf(url, size, "%s://%s%s%s:%d", cfg->web.tls.cert ? "https" : "http", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", hp.port);
	config_free(cfg);
	return 0;
}

static int read_password(const char *user, char *buf, size_t size)
{
	const char *env = getenv("AMPGATE_PASSWORD");
	char prompt[100];

	if (env) {
		snprintf(buf, size, "%s", env);
		return 0;
	}
	snprintf(prompt, sizeof(prompt), "Password for %s: ", user);
	return ctl_read_password(prompt, buf, size);
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	if (s)
		puts(s);
	free(s);
}

/* Parse the options, log in and GET `path`: its JSON to print in words; NULL with the exit code
 * in *rc when done (--json printed it: 0) or failed (said why on stderr: 1 or 2). */
static json_t *fetch(int argc, char **argv, const char *path, int *rc)
{
	struct args args, *a = &args;

	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "url", required_argument, NULL, 'u' },
		{ "user", required_argument, NULL, 'U' },   { "json", no_argument, NULL, 'j' },
		{ "cafile", required_argument, NULL, 'A' }, { "insecure", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },         { 0 },
	};
	const char *cafile = NULL;
	bool insecure = false;
	char url[600], password[256], err[600];
	int c, status;

	memset(a, 0, sizeof(*a));
	*rc = 1;
	a->config = AG_DEFAULT_CONFIG;
	a->user = getenv("AMPGATE_USER") ? getenv("AMPGATE_USER") : "manager";
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'u': a->url = optarg; break;
		case 'U': a->user = optarg; break;
		case 'j': a->json = true; break;
		case 'A': cafile = optarg; break;
		case 'k': insecure = true; break;
		default: *rc = usage(argv[0]); return NULL;
		}
	}
	if (optind < argc) {
		*rc = usage(argv[0]);
		return NULL;
	}
	if (a->url)
		snprintf(url, sizeof(url), "%s", a->url);
	else if (url_from_config(a->config, url, sizeof(url)) < 0)
		return NULL;
	if (rest_init(&a->rest, url, err, sizeof(err)) < 0) {
		fprintf(stderr, "ampgatectl %s: %s\n", argv[0], err);
		return NULL;
	}
	a->rest.cafile = cafile;
	a->rest.insecure = insecure;
	if (read_password(a->user, password, sizeof(password)) < 0) {
		fprintf(stderr, "ampgatectl %s: no password (set AMPGATE_PASSWORD or type it)\n", argv[0]);
		return NULL;
	}
	if (rest_login(&a->rest, a->user, password, err, sizeof(err)) < 0) {
		fprintf(stderr, "ampgatectl %s: cannot log in to %s as %s: %s\n", argv[0], url, a->user, err);
		return NULL;
	}
	json_t *j = rest_call(&a->rest, "GET", path, NULL, &status, err, sizeof(err));
	if (!j || status != 200) {
		fprintf(stderr, "ampgatectl %s: %s\n", argv[0], err);
		json_decref(j);
		return NULL;
	}
	if (a->json) {
		print_json(j);
		json_decref(j);
		*rc = 0;
		return NULL;
	}
	return j;
}

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *amps(double v, char *buf, size_t size)
{
	if (isfinite(v))
		snprintf(buf, size, "%.1f A", v);
	else
		snprintf(buf, size, "–");
	return buf;
}

static const char *health_word(const char *h)
{
	static const char *const words[][2] = {
		{ "available", "Available" }, { "charging", "Charging" },	  { "occupied", "Occupied" },
		{ "faulted", "Faulted" },     { "unavailable", "Out of service" }, { "silent", "Not answering" },
		{ "offline", "Offline" },
	};

	for (size_t i = 0; h && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(h, words[i][0]) == 0)
			return words[i][1];
	return h ? h : "unknown";
}

int ctl_status_main(int argc, char **argv)
{
	int rc;
	json_t *s = fetch(argc, argv, "/api/v1/site", &rc);
	char b1[32], b2[32], b3[32];

	if (!s)
		return rc;
	const char *state = json_string_value(json_object_get(s, "state"));
	json_t *g = json_object_get(s, "grid"), *ch = json_object_get(s, "chargers"), *up = json_object_get(s, "uplink");
	json_t *cur = json_object_get(g, "current_a"), *lim = json_object_get(g, "limit_a"), *ev = json_object_get(g, "ev_a");
	printf("Site %s: %s", json_string_value(json_object_get(s, "name")),
	       state && strcmp(state, "over_limit") == 0 ? "OVER LIMIT" : state && strcmp(state, "fallback") == 0 ? "Fallback" : "Normal");
	if (state && strcmp(state, "fallback") == 0)
		printf(" (%s: every charger held at its safe current)", json_string_value(json_object_get(s, "fallback_why")));
	printf("\nPolicy: %s\nGrid (%s):\n", json_string_value(json_object_get(s, "policy")),
	       json_is_true(json_object_get(g, "measured")) ? "measured" : "no grid meter: the chargers' own draw");
	for (size_t p = 0; p < 3; p++) {
		double c = json_number_value(json_array_get(cur, p)), l = json_number_value(json_array_get(lim, p));
		printf("  L%zu %9s of %9s, EV %9s%s\n", p + 1, amps(json_is_number(json_array_get(cur, p)) ? c : NAN, b1, sizeof(b1)),
		       amps(l, b2, sizeof(b2)), amps(json_is_number(json_array_get(ev, p)) ? json_number_value(json_array_get(ev, p)) : NAN, b3, sizeof(b3)),
		       l > 0 && c > l ? "  <- above the limit" : "");
	}
	json_t *o = json_object_get(g, "override");
	if (json_is_object(o))
		printf("Temporary limit: %.1f A per phase, %lld s more (%s)\n", num(o, "limit_a"),
		       (long long)json_integer_value(json_object_get(o, "remaining_s")), json_string_value(json_object_get(o, "by")));
	printf("Chargers: %lld charging (drawing current), %lld with a session, %lld of %lld online\n",
	       (long long)json_integer_value(json_object_get(ch, "charging")),
	       (long long)json_integer_value(json_object_get(ch, "sessions")),
	       (long long)json_integer_value(json_object_get(ch, "online")),
	       (long long)json_integer_value(json_object_get(ch, "configured")));
	if (json_is_true(json_object_get(up, "configured")))
		printf("Uplink to the CSMS: %lld chargers linked; while down: %s\n",
		       (long long)json_integer_value(json_object_get(up, "connected")),
		       json_string_value(json_object_get(up, "partition_mode")));
	else
		printf("Uplink to the CSMS: none configured; the edge answers the chargers itself\n");
	rc = state && strcmp(state, "normal") == 0 ? 0 : 3; /* scripts can tell a site that needs a look */
	json_decref(s);
	return rc;
}

int ctl_chargers_main(int argc, char **argv)
{
	int rc;
	json_t *list = fetch(argc, argv, "/api/v1/chargers", &rc), *ch;
	size_t i;
	char b1[32], b2[32], health[120];

	if (!list)
		return rc;
	printf("%-12s %-8s %-34s %9s %9s %10s  %s\n", "CHARGER", "LINK", "HEALTH", "LIMIT", "DRAWING", "SESSION", "BOUND BY");
	json_array_foreach(list, i, ch)
	{
		json_t *m = json_object_get(ch, "meter"), *lim = json_object_get(ch, "limit"), *tx = json_object_get(ch, "transactions");
		const char *code = json_string_value(json_object_get(ch, "fault_code"));
		const char *h = json_string_value(json_object_get(ch, "health"));
		double draw = NAN, wh = 0;
		for (size_t p = 0; json_is_object(m) && p < 3; p++) {
			double v = json_number_value(json_array_get(json_object_get(m, "current_a"), p));
			draw = isfinite(draw) && draw > v ? draw : v;
		}
		for (size_t t = 0; t < json_array_size(tx); t++)
			wh += num(json_array_get(tx, t), "energy_wh") > 0 ? num(json_array_get(tx, t), "energy_wh") : 0;
		snprintf(health, sizeof(health), "%s%s%s%s%s", health_word(h), h && strcmp(h, "faulted") == 0 && code ? " (" : "",
			 h && strcmp(h, "faulted") == 0 && code ? code : "", h && strcmp(h, "faulted") == 0 && code ? ")" : "",
			 json_is_true(json_object_get(ch, "technician_alert")) ? ", technician needed" : "");
		char session[32] = "–";
		if (json_array_size(tx))
			snprintf(session, sizeof(session), "%.1f kWh", wh / 1000);
		printf("%-12s %-8s %-34s %9s %9s %10s  %s\n", json_string_value(json_object_get(ch, "id")),
		       json_string_value(json_object_get(ch, "link")), health, amps(num(lim, "limit_a"), b1, sizeof(b1)),
		       amps(draw, b2, sizeof(b2)), session, json_string_value(json_object_get(lim, "binding")) ?: "–");
	}
	json_decref(list);
	return 0;
}
