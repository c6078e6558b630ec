/* Replay reports: a terminal table in the site manager's words (kWh, A, chargers, what was not
 * delivered), JSON for tools, a per-session CSV and an SVG of the grid load against its limit.
 *
 * Key design decision: the comparison between policies is computed once (compare()) and both
 * the text and the JSON say it from there, so "deadline delivers X kWh more than fair" reads
 * the same everywhere. */
#include "tools/sim/replay.h"
#include "tools/sim/ocpp-msg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_name[] = { "L1", "L2", "L3", "kW" };

static double pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 100.0;
}

static void hhmm(int64_t ms, char *buf, size_t size)
{
	char iso[40];

	ocpp_time_format(ms, iso, sizeof(iso));
	snprintf(buf, size, "%.10s %.5s", iso, iso + 11);
}

static const char *charger_id(const struct replay_input *in, const struct replay_outcome *o)
{
	return o->charger >= 0 ? in->cfg->chargers[o->charger].id : "-";
}

void replay_print(FILE *out, const struct replay_input *in, const struct replay_result *r)
{
	char from[32], to[32], at[32];
	size_t worst[5] = { 0 }, n_worst = 0;

	hhmm(r->start_ms, from, sizeof(from));
	hhmm(r->end_ms, to, sizeof(to));
	fprintf(out, "Replay of %zu sessions on %s (%zu chargers), policy %s, step %.3g s, %s .. %s UTC\n",
		r->n_sessions, in->cfg->site.name ? in->cfg->site.name : in->cfg->file, in->cfg->n_chargers, r->policy,
		(double)r->step_ms / 1000.0, from, to);
	fprintf(out, "  energy requested     %10.1f kWh\n", r->requested_wh / 1000.0);
	fprintf(out, "  energy delivered     %10.1f kWh  (%.1f %% of requested; %.1f kWh not delivered)\n",
		r->delivered_wh / 1000.0, pct(r->delivered_wh, r->requested_wh),
		(r->requested_wh - r->delivered_wh) / 1000.0);
	fprintf(out, "  sessions served      %10zu of %zu  (at least %.1f %% of their request)\n", r->served,
		r->n_sessions, REPLAY_SERVED_SHARE * 100.0);
	fprintf(out, "  turned away          %10zu  (no free charger on arrival)\n", r->turned_away);
	fprintf(out, "  limit violations     %10ld  (node-phase steps above a configured limit; must be 0)\n",
		r->violations);
	fprintf(out, "  time under fallback  %10.0f s  (grid meter stale: every charger at its fallback current)\n",
		(double)r->fallback_ms / 1000.0);
	if (in->n_prices)
		fprintf(out, "  energy cost          %10.2f  (at the given tariff)\n", r->cost);
	fprintf(out, "  solver               %10llu solves, %.3f s in total, %.1f us mean, %.1f us max; replay %.2f s\n",
		(unsigned long long)r->solves, r->solver_s, r->solves ? r->solver_s * 1e6 / (double)r->solves : 0.0,
		r->solver_max_us, r->wall_s);
	fprintf(out, "\n  %-16s %-5s %10s %10s %9s  %s\n", "node", "", "peak", "limit", "headroom", "peak at");
	for (size_t k = 0; k < r->n_nodes; k++) {
		const struct replay_node *nd = &r->node[k];

		for (int p = 0; p < 4; p++) {
			double peak = p < 3 ? nd->peak_a[p] : nd->peak_kw, lim = p < 3 ? nd->limit_a[p] : nd->limit_kw;
			const char *unit = p < 3 ? "A" : "kW";

			if (!(lim > 0))
				continue;
			hhmm(p < 3 ? nd->peak_at_ms[p] : nd->peak_kw_at_ms, at, sizeof(at));
			fprintf(out, "  %-16s %-5s %8.1f %-2s %7.1f %-2s %8.1f%%  %s%s\n", nd->id, phase_name[p], peak, unit,
				lim, unit, pct(lim - peak, lim), at, nd->violation_steps[p] ? "  OVER THE LIMIT" : "");
		}
	}
	/* The sessions that missed most: the ones a planner asks about first. */
	for (size_t i = 0; i < r->n_sessions; i++) {
		double miss = in->sessions[i].request_wh - r->outcome[i].delivered_wh;
		size_t j;

		if (r->outcome[i].delivered_wh >= REPLAY_SERVED_SHARE * in->sessions[i].request_wh)
			continue;
		for (j = n_worst; j > 0 &&
		     miss > in->sessions[worst[j - 1]].request_wh - r->outcome[worst[j - 1]].delivered_wh; j--)
			if (j < 5)
				worst[j] = worst[j - 1];
		if (j < 5) {
			worst[j] = i;
			n_worst += n_worst < 5;
		}
	}
	if (n_worst)
		fprintf(out, "\n  most energy not delivered (all sessions: --sessions-out FILE.csv):\n");
	for (size_t j = 0; j < n_worst; j++) {
		const struct replay_session *s = &in->sessions[worst[j]];
		const struct replay_outcome *o = &r->outcome[worst[j]];

		hhmm(s->arrival_ms, from, sizeof(from));
		hhmm(s->departure_ms, to, sizeof(to));
		fprintf(out, "    line %-5d %-10s %s .. %s  %6.1f of %6.1f kWh  (%.1f kWh short)\n", s->line,
			charger_id(in, o), from, to + 11, o->delivered_wh / 1000.0, s->request_wh / 1000.0,
			(s->request_wh - o->delivered_wh) / 1000.0);
	}
}

struct comparison {
	size_t best;                    /* the run that delivered most */
	double gain_wh, gain_pct_points;        /* best over the first run */
	long served_gain;
};

static struct comparison compare(const struct replay_result *r, size_t n)
{
	struct comparison c = { 0 };

	for (size_t i = 1; i < n; i++)
		if (r[i].delivered_wh > r[c.best].delivered_wh)
			c.best = i;
	c.gain_wh = r[c.best].delivered_wh - r[0].delivered_wh;
	c.gain_pct_points = pct(r[c.best].delivered_wh, r[c.best].requested_wh) - pct(r[0].delivered_wh, r[0].requested_wh);
	c.served_gain = (long)r[c.best].served - (long)r[0].served;
	return c;
}

void replay_print_comparison(FILE *out, const struct replay_result *r, size_t n)
{
	struct comparison c = compare(r, n);

	fprintf(out, "\n  %-10s %14s %8s %12s %10s %10s %10s %10s\n", "policy", "delivered kWh", "of req.", "served",
		"violations", "starts/EV", "fallback s", "cost");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-10s %14.1f %7.1f%% %6zu/%-5zu %10ld %10.1f %10.0f %10.2f\n", r[i].policy,
			r[i].delivered_wh / 1000.0, pct(r[i].delivered_wh, r[i].requested_wh), r[i].served, r[i].n_sessions,
			r[i].violations, replay_starts_per_session(&r[i]),
			(double)r[i].fallback_ms / 1000.0, r[i].cost);
	if (c.best == 0)
		fprintf(out, "  %s delivers the most of the requested energy; no other policy delivers more\n", r[0].policy);
	else
		fprintf(out, "  %s delivers %.1f kWh more of the requested energy than %s (+%.2f points of the request, "
			     "%+ld sessions served)\n",
			r[c.best].policy, c.gain_wh / 1000.0, r[0].policy, c.gain_pct_points, c.served_gain);
}

static json_t *run_json(const struct replay_input *in, const struct replay_result *r)
{
	json_t *nodes = json_array(), *sessions = json_array();

	for (size_t k = 0; k < r->n_nodes; k++) {
		const struct replay_node *nd = &r->node[k];
		json_t *ph = json_array();

		for (int p = 0; p < 3; p++)
			json_array_append_new(ph, json_pack("{s:s, s:f, s:f, s:I, s:I}", "phase", phase_name[p], "peak_a",
							    nd->peak_a[p], "limit_a", nd->limit_a[p], "peak_at_ms",
							    (json_int_t)nd->peak_at_ms[p], "violation_steps",
							    (json_int_t)nd->violation_steps[p]));
		json_array_append_new(nodes, json_pack("{s:s, s:o, s:f, s:f, s:I}", "id", nd->id, "phases", ph, "peak_kw",
						       nd->peak_kw, "limit_kw", nd->limit_kw, "kw_violation_steps",
						       (json_int_t)nd->violation_steps[3]));
	}
	for (size_t i = 0; i < r->n_sessions; i++) {
		const struct replay_session *s = &in->sessions[i];
		const struct replay_outcome *o = &r->outcome[i];

		json_array_append_new(sessions, json_pack("{s:i, s:s, s:I, s:I, s:f, s:f, s:f, s:I, s:f}", "line", s->line,
							  "charger", charger_id(in, o), "arrival_ms", (json_int_t)s->arrival_ms,
							  "departure_ms", (json_int_t)s->departure_ms, "requested_kwh",
							  s->request_wh / 1000.0, "delivered_kwh", o->delivered_wh / 1000.0,
							  "unmet_kwh", (s->request_wh - o->delivered_wh) / 1000.0, "done_ms",
							  (json_int_t)o->done_ms, "cost", o->cost));
	}
	return json_pack("{s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:{s:f, s:f, s:f, s:f}, s:I, s:f, s:f,"
			 " s:{s:I, s:f, s:f, s:f}, s:f, s:o, s:o}",
			 "policy", r->policy, "start_ms", (json_int_t)r->start_ms, "end_ms", (json_int_t)r->end_ms, "step_ms",
			 (json_int_t)r->step_ms, "sessions", "total", (json_int_t)r->n_sessions, "served",
			 (json_int_t)r->served, "turned_away", (json_int_t)r->turned_away, "starts", (json_int_t)r->starts,
			 "energy", "requested_kwh",
			 r->requested_wh / 1000.0, "delivered_kwh", r->delivered_wh / 1000.0, "unmet_kwh",
			 (r->requested_wh - r->delivered_wh) / 1000.0, "delivered_pct", pct(r->delivered_wh, r->requested_wh),
			 "violations", (json_int_t)r->violations, "fallback_s", (double)r->fallback_ms / 1000.0, "cost",
			 r->cost, "solver", "solves", (json_int_t)r->solves, "total_s", r->solver_s, "mean_us",
			 r->solves ? r->solver_s * 1e6 / (double)r->solves : 0.0, "max_us", r->solver_max_us, "wall_s",
			 r->wall_s, "nodes", nodes, "per_session", sessions);
}

json_t *replay_json(const struct replay_input *in, const struct replay_result *r, size_t n)
{
	json_t *runs;
	struct comparison c;

	if (n == 1)
		return run_json(in, r);
	runs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(runs, run_json(in, &r[i]));
	c = compare(r, n);
	return json_pack("{s:o, s:{s:s, s:s, s:f, s:f, s:I}}", "runs", runs, "comparison", "baseline", r[0].policy,
			 "best", r[c.best].policy, "gain_kwh", c.gain_wh / 1000.0, "gain_pct_points", c.gain_pct_points,
			 "served_gain", (json_int_t)c.served_gain);
}

int replay_write_sessions_csv(const char *path, const struct replay_input *in, const struct replay_result *r)
{
	FILE *f = fopen(path, "w");
	char a[40], d[40], done[40];

	if (!f)
		return -errno;
	fprintf(f, "line,charger,arrival,departure,requested_kwh,delivered_kwh,unmet_kwh,done,cost\n");
	for (size_t i = 0; i < r->n_sessions; i++) {
		const struct replay_session *s = &in->sessions[i];
		const struct replay_outcome *o = &r->outcome[i];

		ocpp_time_format(s->arrival_ms, a, sizeof(a));
		ocpp_time_format(s->departure_ms, d, sizeof(d));
		done[0] = '\0';
		if (o->done_ms)
			ocpp_time_format(o->done_ms, done, sizeof(done));
		fprintf(f, "%d,%s,%s,%s,%.3f,%.3f,%.3f,%s,%.4f\n", s->line, charger_id(in, o), a, d, s->request_wh / 1000.0,
			o->delivered_wh / 1000.0, (s->request_wh - o->delivered_wh) / 1000.0, done, o->cost);
	}
	return fclose(f) ? -errno : 0;
}

/* Grid load (highest phase, per minute) of each run against the grid's lowest phase limit. */
int replay_write_svg(const char *path, const struct replay_result *r, size_t n)
{
	static const char *const colour[] = { "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e" };
	const double w = 960, x0 = 60, y0 = 20, pw = w - x0 - 20, ph = 300, h = y0 + ph + 36 + 14.0 * (double)n;
	double limit = 0, top = 1, hours = (double)(r[0].end_ms - r[0].start_ms) / 3.6e6;
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	for (int p = 0; p < 3; p++)
		if (r[0].node[0].limit_a[p] > 0 && (limit == 0 || r[0].node[0].limit_a[p] < limit))
			limit = r[0].node[0].limit_a[p];
	top = limit * 1.1;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < r[i].n_curve; k++)
			top = fmax(top, r[i].curve_a[k] * 1.05);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
		   "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", w, h);
	for (int g = 0; g <= 4; g++)
		fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.0f A</text>\n", x0 - 6,
			y0 + ph - ph * g / 4 + 4, top * g / 4);
	for (int g = 0; g <= (int)hours; g += hours > 24 ? 6 : 2)
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">+%d h</text>\n", x0 + pw * g / fmax(hours, 1e-9),
			y0 + ph + 16, g);
	if (limit > 0)
		fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"red\" stroke-dasharray=\"6 4\"/>\n"
			   "<text x=\"%.0f\" y=\"%.1f\" fill=\"red\">grid limit %.0f A</text>\n",
			x0, x0 + pw, y0 + ph - ph * limit / top, y0 + ph - ph * limit / top, x0 + 4,
			y0 + ph - ph * limit / top - 4, limit);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", colour[i % 4]);
		for (size_t k = 0; k < r[i].n_curve; k++)
			fprintf(f, "%.1f,%.1f ", x0 + pw * (double)k / (double)(r[i].n_curve > 1 ? r[i].n_curve - 1 : 1),
				y0 + ph - ph * r[i].curve_a[k] / top);
		fprintf(f, "\"/>\n<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">grid load (highest phase), %s</text>\n", x0,
			y0 + ph + 34 + 14.0 * (double)i, colour[i % 4], r[i].policy);
	}
	fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n</svg>\n",
		x0, y0, pw, ph);
	return fclose(f) ? -errno : 0;
}

/* Percent of the request: runs and the optimum of the same sessions share one denominator. */
static double gap_points(const struct replay_result *r, const struct replay_optimum *opt)
{
	return pct(opt->delivered_wh, opt->requested_wh) - pct(r->delivered_wh, r->requested_wh);
}

void replay_print_yardsticks(FILE *out, const struct replay_result *r, size_t n, const struct replay_result *refs,
			     size_t n_refs, const struct replay_optimum *opt)
{
	fprintf(out, "\n  %-10s %14s %8s %12s %10s %s\n", "against", "delivered kWh", "of req.", "served", "violations",
		opt ? "  points below the optimum" : "");
	for (size_t i = 0; i < n + n_refs; i++) {
		const struct replay_result *x = i < n ? &r[i] : &refs[i - n];
		char name[32];

		snprintf(name, sizeof(name), "%s%s", x->policy, i < n ? "" : "*");
		fprintf(out, "  %-10s %14.1f %7.2f%% %6zu/%-5zu %10ld", name, x->delivered_wh / 1000.0,
			pct(x->delivered_wh, x->requested_wh), x->served, x->n_sessions, x->violations);
		if (opt)
			fprintf(out, "  %8.2f", gap_points(x, opt));
		fputc('\n', out);
	}
	if (opt)
		fprintf(out, "  %-10s %14.1f %7.2f%%   (no allocation can deliver more: perfect knowledge, continuous rates;"
			     " LP of %zu variables over %zu intervals, %.2f s)\n",
			"optimum", opt->delivered_wh / 1000.0, pct(opt->delivered_wh, opt->requested_wh), opt->variables,
			opt->intervals, opt->solve_s);
	fprintf(out, "  * textbook reference: sorted by departure (edf) or laxity (llf), each EV filled to its cap in turn, "
		     "0 or at least its minimum\n");
}

static json_t *yardstick_json(const struct replay_result *x, const struct replay_optimum *opt)
{
	json_t *j = json_pack("{s:s, s:f, s:f, s:I, s:I}", "policy", x->policy, "delivered_kwh", x->delivered_wh / 1000.0,
			      "delivered_pct", pct(x->delivered_wh, x->requested_wh), "served", (json_int_t)x->served,
			      "violations", (json_int_t)x->violations);

	if (opt)
		json_object_set_new(j, "gap_pct_points", json_real(gap_points(x, opt)));
	return j;
}

void replay_json_yardsticks(json_t *doc, const struct replay_result *r, size_t n, const struct replay_result *refs,
			    size_t n_refs, const struct replay_optimum *opt)
{
	json_t *list = json_array(), *gaps = json_array();

	for (size_t i = 0; i < n_refs; i++)
		json_array_append_new(list, yardstick_json(&refs[i], opt));
	json_object_set_new(doc, "references", list);
	if (!opt) {
		json_decref(gaps);
		return;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(gaps, yardstick_json(&r[i], opt));
	json_object_set_new(doc, "optimum",
			    json_pack("{s:f, s:f, s:I, s:I, s:I, s:f, s:o}", "delivered_kwh", opt->delivered_wh / 1000.0,
				      "delivered_pct", pct(opt->delivered_wh, opt->requested_wh), "intervals",
				      (json_int_t)opt->intervals, "variables", (json_int_t)opt->variables, "rows",
				      (json_int_t)opt->rows, "solve_s", opt->solve_s, "policies", gaps));
}
