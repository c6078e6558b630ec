/* The fleet: one libuv loop, libwebsockets on it as a foreign loop, N stations in one array.
 *
 * The decision to know: the stations share two loop timers (a 50 ms tick that advances every
 * station, a 1 s timer for the draw file, the summary and the end), not one timer each; at
 * 1,000 stations that is 20,000 cheap station steps a second and no timer churn, and the
 * stations' own deadlines (heartbeat, meter values, reaction delay, reconnect) are plain
 * timestamps they compare on the tick. */
#include "tools/sim/fleet.h"
#include "edge/core/lws-loop.h"
#include "tools/sim/sim.h"
#include "tools/sim/station.h"
#include "edge/daemon.h"
#include "edge/core/log.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

struct fleet {
	struct fleet_opts o;
	uv_loop_t loop;
	uv_timer_t tick, second;
	uv_signal_t sig_int, sig_term;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct station *st;
	char (*passwords)[96];
	struct stats *stats;
	FILE *tx_log;
	struct rng rng;
	uint64_t start_ms, next_arrival_ms, next_summary_ms, all_booted_ms;
	int booted_once, arrivals, arrivals_missed;
	double peak_kw, energy_at_start_wh;
	int exit_code;
	bool handles_up, stopping, warm;
};

const struct fleet_opts *fleet_opts(const struct fleet *f)
{
	return &f->o;
}

struct stats *fleet_stats(struct fleet *f)
{
	return f->stats;
}

void fleet_tx_acked(struct fleet *f, const char *station_id, const char *key)
{
	if (f->tx_log)
		fprintf(f->tx_log, "%s\t%s\n", station_id, key);
}

bool fleet_stopping(const struct fleet *f)
{
	return f->stopping;
}

void fleet_note_booted(struct fleet *f)
{
	if (++f->booted_once == f->o.count) {
		f->all_booted_ms = now_ms() - f->start_ms;
		log_msg(LL_NOTICE, "fleet: all %d stations booted in %.2f s", f->o.count, f->all_booted_ms / 1000.0);
	}
}

/* Fleet-wide Poisson arrivals: exponential gaps. */
static void schedule_arrival(struct fleet *f, uint64_t now)
{
	double rate_per_ms = f->o.arrivals_per_hour / 3600000.0;

	f->next_arrival_ms = rate_per_ms > 0 ? now + (uint64_t)(-log(1.0 - rng_unit(&f->rng)) / rate_per_ms) : UINT64_MAX;
}

static void arrive(struct fleet *f, uint64_t now)
{
	for (int tries = 0; tries < 16; tries++) {
		struct station *st = &f->st[rng_next(&f->rng) % (uint64_t)f->o.count];
		if (station_ev_arrive(st, now)) {
			f->arrivals++;
			return;
		}
	}
	f->arrivals_missed++;   /* the depot looks full: the driver goes elsewhere */
}

static void on_tick(uv_timer_t *t)
{
	struct fleet *f = t->data;
	uint64_t now = now_ms();

	while (now >= f->next_arrival_ms) {
		arrive(f, now);
		schedule_arrival(f, f->next_arrival_ms);
	}
	for (int i = 0; i < f->o.count; i++)
		station_tick(&f->st[i], now, f->ctx, f->vh);
}

struct fleet_totals {
	int connected, booted, charging, silent, ev_present;
	double grid_a[3], power_w, energy_wh;
	unsigned reconnects, boots;
};

static void totals(const struct fleet *f, struct fleet_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < f->o.count; i++) {
		const struct station *st = &f->st[i];
		struct meter_sample m;
		station_meter(st, &m);
		t->connected += st->link == LINK_OPEN;
		t->booted += st->booted;
		t->silent += st->silenced;
		t->ev_present += st->ev_present;
		t->charging += m.power_total_w > 0;
		t->power_w += m.power_total_w;
		t->energy_wh += m.energy_wh;
		t->reconnects += st->reconnects;
		t->boots += st->boots;
		/* Phase rotation: station number n's (i + 1, as in its id) L1 sits on grid phase
		 * n mod 3, as etc/demo.conf wires them (DEPOT01 L2L3L1, DEPOT03 L1L2L3), so
		 * single-phase EVs spread over the three phases as installers wire them. It was
		 * i mod 3, a phase off from the file: harmless while the daemon counted every EV on
		 * all three phases, an overload on L1 once it counts a single-phase car on its own. */
		for (int p = 0; p < 3; p++)
			t->grid_a[(p + i + 1) % 3] += m.current_a[p];
	}
}

static void write_draw(const struct fleet *f, const struct fleet_totals *t)
{
	char ts[40];
	json_t *j;

	ocpp_time_format(wall_ms(), ts, sizeof(ts));
	j = json_pack("{sss[fff]sfsisi}", "timestamp", ts, "current_a", t->grid_a[0], t->grid_a[1], t->grid_a[2],
		      "power_w", t->power_w, "charging", t->charging, "stations", f->o.count);
	if (sim_json_write_atomic(f->o.draw_out, j, JSON_COMPACT | JSON_REAL_PRECISION(8)) < 0)
		log_msg(LL_WARN, "fleet: cannot write %s: %s", f->o.draw_out, strerror(errno));
	json_decref(j);
}

static void summary(struct fleet *f, const struct fleet_totals *t, uint64_t now)
{
	log_msg(LL_NOTICE,
		"fleet: %.0fs connected %d/%d booted %d charging %d (EVs %d) %.1f kW L1/L2/L3 %.0f/%.0f/%.0f A "
		"calls %llu errors %llu reconnects %u",
		(now - f->start_ms) / 1000.0, t->connected, f->o.count, t->booted, t->charging, t->ev_present,
		t->power_w / 1000.0, t->grid_a[0], t->grid_a[1], t->grid_a[2],
		(unsigned long long)stats_total_sent(f->stats), (unsigned long long)stats_total_errors(f->stats),
		t->reconnects);
}

static void fleet_stop(struct fleet *f)
{
	f->stopping = true;
	uv_timer_stop(&f->tick);
	uv_timer_stop(&f->second);
	uv_stop(&f->loop);
}

static void on_second(uv_timer_t *t)
{
	struct fleet *f = t->data;
	struct fleet_totals tot;
	uint64_t now = now_ms();

	if (!f->warm && now - f->start_ms >= 1000ULL * (uint64_t)f->o.warmup_s) {
		if (f->o.warmup_s)
			stats_drop_samples(f->stats);
		f->warm = true;
	}
	totals(f, &tot);
	if (tot.power_w / 1000.0 > f->peak_kw)
		f->peak_kw = tot.power_w / 1000.0;
	if (f->o.draw_out)
		write_draw(f, &tot);
	if (f->o.summary_s && now >= f->next_summary_ms) {
		summary(f, &tot, now);
		f->next_summary_ms = now + 1000ULL * (uint64_t)f->o.summary_s;
	}
	if (f->o.duration_s && now - f->start_ms >= 1000ULL * (uint64_t)f->o.duration_s)
		fleet_stop(f);
}

static void on_signal(uv_signal_t *h, int signum)
{
	log_msg(LL_NOTICE, "fleet: %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	fleet_stop(h->data);
}

static json_t *role_list(const struct fleet *f, int role)
{
	json_t *a = json_array();

	for (int i = 0; i < f->o.count; i++) {
		const struct station *st = &f->st[i];
		if ((role == 0 && st->role_silent) || (role == 1 && st->role_refuse) || (role == 2 && st->role_malformed))
			json_array_append_new(a, json_string(st->id));
	}
	return a;
}

static int write_report(struct fleet *f)
{
	struct fleet_totals t;
	struct rusage ru;
	json_t *r;
	int rc = 0;

	totals(f, &t);
	getrusage(RUSAGE_SELF, &ru);
	r = json_pack("{sisssisfsfsisisisisisisfsfsfsisi}", "stations", f->o.count, "url", f->o.url_text, "seed",
		      (int)f->o.seed, "duration_s", (now_ms() - f->start_ms) / 1000.0, "time_to_all_booted_s",
		      f->all_booted_ms ? f->all_booted_ms / 1000.0 : -1.0, "booted_once", f->booted_once, "connected",
		      t.connected, "booted", t.booted, "charging", t.charging, "boots", (int)t.boots, "reconnects",
		      (int)t.reconnects, "power_kw", t.power_w / 1000.0, "peak_kw", f->peak_kw, "energy_kwh",
		      (t.energy_wh - f->energy_at_start_wh) / 1000.0, "arrivals", f->arrivals, "arrivals_missed",
		      f->arrivals_missed);
	json_object_set_new(r, "cpu_s", json_real((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
						  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6));
	json_object_set_new(r, "max_rss_kb", json_integer(ru.ru_maxrss));
	json_object_set_new(r, "roles", json_pack("{sososo}", "silent", role_list(f, 0), "refuse_profiles",
						 role_list(f, 1), "malformed", role_list(f, 2)));
	json_object_update_new(r, stats_to_json(f->stats));
	if (json_dump_file(r, f->o.report_json, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) < 0) {
		log_msg(LL_ERROR, "fleet: cannot write the report to %s", f->o.report_json);
		rc = -EIO;
	}
	json_decref(r);
	return rc;
}

static int load_passwords(struct fleet *f)
{
	FILE *fp = fopen(f->o.password_file, "r");
	char line[256];
	int n = 0;

	if (!fp) {
		log_msg(LL_ERROR, "fleet: %s: %s", f->o.password_file, strerror(errno));
		return -errno;
	}
	while (n < f->o.count && fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\r\n")] = '\0';
		snprintf(f->passwords[n++], sizeof(f->passwords[0]), "%.95s", line);
	}
	fclose(fp);
	if (n < f->o.count) {
		log_msg(LL_ERROR, "fleet: %s has %d lines for %d stations", f->o.password_file, n, f->o.count);
		return -EINVAL;
	}
	return 0;
}

/* Roles go to a seeded random choice of stations, listed in the report. */
static void assign_roles(struct fleet *f)
{
	int *order = malloc(sizeof(int) * (size_t)f->o.count), k = 0;

	if (!order)
		return;
	for (int i = 0; i < f->o.count; i++)
		order[i] = i;
	for (int i = f->o.count - 1; i > 0; i--) {
		int j = (int)(rng_next(&f->rng) % (uint64_t)(i + 1)), x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	for (int i = 0; i < f->o.silent; i++)
		f->st[order[k++]].role_silent = true;
	for (int i = 0; i < f->o.refuse_profiles; i++)
		f->st[order[k++]].role_refuse = true;
	for (int i = 0; i < f->o.malformed; i++)
		f->st[order[k++]].role_malformed = true;
	free(order);
}

static int fleet_setup(struct fleet *f)
{
	struct lws_context_creation_info info;
	char id[64];
	int rc;

	f->stats = stats_new();
	f->st = calloc((size_t)f->o.count, sizeof(*f->st));
	f->passwords = calloc((size_t)f->o.count, sizeof(*f->passwords));
	if (!f->stats || !f->st || !f->passwords)
		return -ENOMEM;
	if (f->o.password_file && (rc = load_passwords(f)) < 0)
		return rc;
	if (f->o.tx_log && !(f->tx_log = fopen(f->o.tx_log, "w"))) {
		log_msg(LL_ERROR, "fleet: cannot write %s: %s", f->o.tx_log, strerror(errno));
		return -errno;
	}
	if (!(f->ctx = lws_loop_context(&f->loop, NULL)))
		return -ENOMEM;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "chargers";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = station_lws_protocols();
	if (f->o.url.tls)
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (!(f->vh = lws_create_vhost(f->ctx, &info)))
		return -ENOMEM;

	rng_seed(&f->rng, f->o.seed);
	f->start_ms = now_ms();
	for (int i = 0; i < f->o.count; i++) {
		if (sim_template_expand(f->o.id_template, i + 1, id, sizeof(id)) < 0 ||
		    (f->o.password_template &&
		     sim_template_expand(f->o.password_template, i + 1, f->passwords[i], sizeof(f->passwords[0])) < 0))
			return -ENAMETOOLONG;
		station_init(&f->st[i], f, i, id, f->passwords[i], f->start_ms);
		/* Ramp: spread the first connections at --connect-rate. */
		f->st[i].reconnect_at_ms = f->start_ms + (uint64_t)i * 1000ULL / (uint64_t)f->o.connect_rate;
		f->energy_at_start_wh += f->st[i].energy_wh;
	}
	assign_roles(f);
	schedule_arrival(f, f->start_ms);
	f->next_summary_ms = f->start_ms + 1000ULL * (uint64_t)f->o.summary_s;

	uv_timer_init(&f->loop, &f->tick);
	uv_timer_init(&f->loop, &f->second);
	uv_signal_init(&f->loop, &f->sig_int);
	uv_signal_init(&f->loop, &f->sig_term);
	f->tick.data = f->second.data = f->sig_int.data = f->sig_term.data = f;
	f->handles_up = true;
	uv_timer_start(&f->tick, on_tick, 0, (uint64_t)f->o.tick_ms);
	uv_timer_start(&f->second, on_second, 1000, 1000);
	uv_signal_start(&f->sig_int, on_signal, SIGINT);
	uv_signal_start(&f->sig_term, on_signal, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void fleet_teardown(struct fleet *f)
{
	uv_handle_t *const handles[] = { (uv_handle_t *)&f->tick, (uv_handle_t *)&f->second,
					 (uv_handle_t *)&f->sig_int, (uv_handle_t *)&f->sig_term };

	lws_loop_teardown(f->ctx, &f->loop, handles, f->handles_up ? sizeof(handles) / sizeof(handles[0]) : 0);
	f->ctx = NULL;
	uv_loop_close(&f->loop);
	for (int i = 0; f->st && i < f->o.count; i++)
		station_fini(&f->st[i]);
	free(f->st);
	free(f->passwords);
	stats_free(f->stats);
	if (f->tx_log && fclose(f->tx_log) != 0)
		log_msg(LL_ERROR, "fleet: cannot write %s: %s", f->o.tx_log, strerror(errno));
}

int fleet_run(const struct fleet_opts *o)
{
	struct fleet *f = calloc(1, sizeof(*f));
	int rc;

	if (!f || uv_loop_init(&f->loop) < 0)
		return 1;
	f->o = *o;
	log_hook_lws();
	rc = fleet_setup(f);
	if (rc < 0) {
		log_msg(LL_ERROR, "fleet: cannot start: %s", strerror(-rc));
		fleet_teardown(f);
		free(f);
		return 1;
	}
	log_msg(LL_NOTICE, "fleet: %d stations -> %s (%s)", o->count, o->url_text,
		o->proto == PROTO_16 ? "ocpp1.6" : o->proto == PROTO_201 ? "ocpp2.0.1" : "mix");
	uv_run(&f->loop, UV_RUN_DEFAULT);
	{
		struct fleet_totals t;
		totals(f, &t);
		summary(f, &t, now_ms());
	}
	if (o->report_json && write_report(f) < 0)
		f->exit_code = 1;
	rc = f->exit_code;
	fleet_teardown(f);
	free(f);
	return rc;
}
