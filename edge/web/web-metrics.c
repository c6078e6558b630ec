/* /metrics in the Prometheus text format (version 0.0.4): the site's current and limits per
 * phase, each charger's allocation, draw and link, the solver's and the proxy's counters.
 *
 * Names follow Prometheus practice (base units in the name: _amperes, _watts; counters end in
 * _total) rather than the _a/_w of the JSON, because that is what a Prometheus user expects;
 * the values are the same ones state.c shows. */
#include "edge/ocpp/charger.h"
#include "edge/devices/devices.h"
#include "edge/site/energy.h"
#include "edge/health/health.h"
#include "edge/ocpp/proxy.h"
#include "edge/ocpp/replay.h"
#include "edge/site/site.h"
#include "edge/web/web-private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const phase_names[AG_PHASES] = { "L1", "L2", "L3" };

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(FILE *f, double v)
{
	if (isnan(v))
		fputs(" NaN\n", f);
	else if (isinf(v))
		fputs(v > 0 ? " +Inf\n" : " -Inf\n", f);
	else
		fprintf(f, " %.10g\n", v);
}

/* A label value with \, " and newline escaped. */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void per_phase(FILE *f, const char *name, const char *help, const double v[AG_PHASES])
{
	head(f, name, "gauge", help);
	for (int p = 0; p < AG_PHASES; p++) {
		fprintf(f, "%s{phase=\"%s\"}", name, phase_names[p]);
		value(f, v[p]);
	}
}

static void scalar(FILE *f, const char *name, const char *type, const char *help, double v)
{
	head(f, name, type, help);
	fputs(name, f);
	value(f, v);
}

/* One line per charger of `name` (gauge), the value from `get`. */
static void per_charger(FILE *f, struct proxy *p, const char *name, const char *help,
			double (*get)(const struct charger *ch, struct ag_daemon *d), struct ag_daemon *d)
{
	head(f, name, "gauge", help);
	for (size_t i = 0; p && i < p->n_chargers; i++) {
		fprintf(f, "%s{charger=", name);
		label(f, p->chargers[i]->id);
		fputc('}', f);
		value(f, get(p->chargers[i], d));
	}
}

static double ch_limit(const struct charger *ch, struct ag_daemon *d)
{
	(void)d;
	return ch->limit_a;
}

static double ch_online(const struct charger *ch, struct ag_daemon *d)
{
	return charger_link(ch, now_ms(), d->cfg->health.silent_after_s) == LINK_ONLINE;
}

static double ch_power(const struct charger *ch, struct ag_daemon *d)
{
	(void)d;
	return ch->meter.at_ms ? ch->meter.power_w : NAN;
}

static double ch_priority(const struct charger *ch, struct ag_daemon *d)
{
	(void)d;
	return charger_priority(ch);
}

static double ch_charging(const struct charger *ch, struct ag_daemon *d)
{
	(void)d;
	return charger_online(ch) && charger_active_tx(ch) > 0;
}

static double ch_usable(const struct charger *ch, struct ag_daemon *d)
{
	return health_state_usable(health_of(d, ch));
}

static double ch_faulted(const struct charger *ch, struct ag_daemon *d)
{
	return health_of(d, ch) == HS_FAULTED;
}

static void chargers(FILE *f, struct ag_daemon *d)
{
	struct proxy *p = d->proxy;

	per_charger(f, p, "ampgate_charger_limit_amperes", "Current per phase the edge allows the charger.", ch_limit, d);
	per_charger(f, p, "ampgate_charger_online", "1 when the charger is connected and talking.", ch_online, d);
	per_charger(f, p, "ampgate_charger_charging", "1 when the charger has a transaction running.", ch_charging, d);
	per_charger(f, p, "ampgate_charger_power_watts", "Power the charger last reported.", ch_power, d);
	per_charger(f, p, "ampgate_charger_priority", "Priority class in force (higher charges first).", ch_priority, d);
	per_charger(f, p, "ampgate_charger_usable", "1 when the charger is usable (available, charging or occupied).",
		    ch_usable, d);
	per_charger(f, p, "ampgate_charger_faulted", "1 when a connector is Faulted or reports an error.", ch_faulted, d);
	head(f, "ampgate_charger_current_amperes", "gauge", "Current the charger last reported, per charger phase.");
	for (size_t i = 0; p && i < p->n_chargers; i++) {
		const struct charger *ch = p->chargers[i];
		for (int k = 0; ch->meter.at_ms && k < AG_PHASES; k++) {
			fputs("ampgate_charger_current_amperes{charger=", f);
			label(f, ch->id);
			fprintf(f, ",phase=\"%s\"}", phase_names[k]);
			value(f, ch->meter.current_a[k]);
		}
	}
}

/* Battery and PV (energy.c); NaN where unknown. */
static void energy(FILE *f, struct ag_daemon *d)
{
	const struct energy_status *e = energy_status(d);

	if (!e)
		return;
	if (e->configured) {
		head(f, "ampgate_battery_mode", "gauge", "battery.mode in force (1 on the configured mode).");
		fputs("ampgate_battery_mode{mode=", f);
		label(f, e->mode ? e->mode : "off");
		fputs("} 1\n", f);
		scalar(f, "ampgate_battery_answering", "gauge", "1 when the battery's reading is fresh (0: its discharge is not counted).",
		       e->battery_ok);
		scalar(f, "ampgate_battery_soc_percent", "gauge", "Battery state of charge.", e->soc_pct);
		scalar(f, "ampgate_battery_power_watts", "gauge", "Battery power measured, > 0 discharging.", e->battery_w);
		scalar(f, "ampgate_battery_setpoint_watts", "gauge",
		       "Battery power the edge asks, > 0 discharge (NaN: the battery's own control).", e->target_w);
		scalar(f, "ampgate_battery_counted_watts", "gauge", "Battery discharge counted as EV headroom (measured).",
		       e->counted_w);
	}
	scalar(f, "ampgate_pv_power_watts", "gauge", "PV production, sum of the PV inverters (NaN: none).", e->pv_w);
	scalar(f, "ampgate_grid_power_watts", "gauge", "Grid meter power, import > 0, export < 0 (NaN: no fresh reading).",
	       e->grid_w);
	scalar(f, "ampgate_ev_power_watts", "gauge", "The chargers' measured draw.", e->ev_w);
	scalar(f, "ampgate_building_power_watts", "gauge", "Non-EV, non-battery load at the grid, PV included.",
	       e->building_w);
	scalar(f, "ampgate_demand_window_watts", "gauge", "Grid import averaged over the current demand window so far.",
	       e->demand_w);
	scalar(f, "ampgate_demand_month_peak_watts", "gauge", "This month's highest demand-window average (the ratchet).",
	       e->month_peak_w);
}

char *web_metrics(struct web *w, size_t *len)
{
	struct ag_daemon *d = w->d;
	const struct site_status *st = site_status(d);
	static const struct site_status none;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	if (!st)
		st = &none;
	head(f, "ampgate_info", "gauge", "Version and site of this edge.");
	fputs("ampgate_info{version=", f);
	label(f, AG_VERSION);
	fputs(",site=", f);
	label(f, d->cfg->site.name);
	fputs("} 1\n", f);
	per_phase(f, "ampgate_grid_current_amperes", "Current at the grid connection (from the meter, else the chargers' sum).",
		  st->grid_a);
	per_phase(f, "ampgate_grid_limit_amperes", "Grid limit in force per phase (a temporary limit applied), before the margin.",
		  st->limit_a);
	per_phase(f, "ampgate_ev_current_amperes", "Current the chargers report drawing, per site phase.", st->ev_a);
	per_phase(f, "ampgate_allocated_current_amperes", "Sum of the limits handed to the chargers, per site phase.",
		  st->allocated_a);
	scalar(f, "ampgate_grid_measured", "gauge", "1 when the grid current comes from the grid meter.", st->grid_measured);
	scalar(f, "ampgate_fallback", "gauge", "1 when every charger is held at its fallback current (a meter is stale).",
	       st->fallback);
	scalar(f, "ampgate_grid_override_amperes", "gauge", "Temporary grid limit set by a site manager, 0 = none.",
	       st->override_a);
	scalar(f, "ampgate_solves_total", "counter", "Allocations computed since start.", (double)st->solves);
	energy(f, d);
	chargers(f, d);
	if (d->proxy) {
		head(f, "ampgate_ocpp_frames_total", "counter", "OCPP frames through the proxy, by direction.");
		fprintf(f, "ampgate_ocpp_frames_total{direction=\"in\"} %llu\n", (unsigned long long)d->proxy->frames_in);
		fprintf(f, "ampgate_ocpp_frames_total{direction=\"out\"} %llu\n", (unsigned long long)d->proxy->frames_out);
		scalar(f, "ampgate_ocpp_frames_rejected_total", "counter", "Malformed or refused OCPP frames.",
		       (double)d->proxy->rejected);
		scalar(f, "ampgate_outbox_messages", "gauge",
		       "Messages kept for the CSMS while it is unreachable (bounded by storage.outbox_max_rows).",
		       (double)replay_outbox_rows(d->proxy));
		scalar(f, "ampgate_outbox_dropped_total", "counter",
		       "MeterValues thinned out of the full outbox (transaction messages are never dropped).",
		       (double)replay_outbox_dropped(d->proxy));
	}
	head(f, "ampgate_device_stale", "gauge", "1 when a Modbus device's latest reading is too old or missing.");
	for (size_t i = 0; d->devices && i < devices_count(d->devices); i++) {
		const char *id = devices_id(d->devices, i);
		fputs("ampgate_device_stale{device=", f);
		label(f, id);
		fputc('}', f);
		value(f, devices_stale(d->devices, id, now_ms()));
	}
	size_t views = 0;
	for (struct web_live *v = w->live; v; v = v->next)
		views++;
	scalar(f, "ampgate_web_live_views", "gauge", "Open live views of the web page.", (double)views);
	scalar(f, "ampgate_web_pushes_total", "counter", "Live updates sent to the web page.", (double)w->pushes);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
