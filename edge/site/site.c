/* Site controller; see site.h. The solver is pure; everything it needs is gathered here, on the
 * loop thread, from the configuration, the meters and the charger objects (each charger as the
 * solver sees it: site-ev.c).
 *
 * Non-EV load at a metered node is what its meter measures minus what the chargers below it
 * report drawing (their OCPP meter values), held while an EV ramps to a new limit faster than
 * its charger reports (non-ev.h, ev-ramp.h). A configured meter (grid or circuit) without a fresh
 * reading makes the whole site fall back to safe currents (the solver's meter_stale), never to
 * nominal limits: a node we cannot see is a node we cannot keep under its fuse. */
#include "edge/site/site.h"
#include "edge/ocpp/charger-needs.h"
#include "edge/daemon.h"
#include "edge/devices/devices.h"
#include "edge/site/energy.h"
#include "edge/site/ev-ramp.h"
#include "edge/site/non-ev.h"
#include "edge/core/log.h"
#include "edge/site/profiles.h"
#include "edge/ocpp/proxy.h"
#include "edge/site/site-ev.h"
#include "edge/site/site-model.h"
#include "edge/site/site-plan.h"
#include "edge/site/solver.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct subscriber {
	site_cb cb;
	void *arg;
};

/* The limit tree of one configuration, with each node's meter (pointers into that configuration). */
struct tree {
	struct solver_node *nodes;
	size_t n_nodes;
	const char **meters;            /* per node: its meter's device id, or NULL */
	size_t *bind_count;             /* per node and phase: chargers it binds (summary line) */
	struct non_ev_hold *non_ev;     /* per node and phase: its estimate (non-ev.h) */
	struct non_ev_reading *reading; /* per node and phase: this solve's (measure) */
};

struct site {
	struct ag_daemon *d;
	uv_timer_t timer;
	struct solver *solver;
	struct solver_node *nodes;
	size_t n_nodes;
	struct solver_charger *in;
	struct solver_rotation *rot;
	struct solver_result *out;
	double *old_a;                  /* per charger: its allocation before this solve */
	struct site_ev *ev;             /* per charger, kept when the scratch grows */
	size_t n_ev;                    /* records allocated */
	size_t cap;
	const char **meters;            /* per node: its meter's device id, or NULL */
	size_t *bind_count;             /* per node and phase: chargers it binds (summary line) */
	struct non_ev_hold *non_ev;     /* per node and phase (non-ev.h) */
	struct non_ev_reading *reading; /* per node and phase: this solve's (measure) */
	struct site_status status;
	bool was_fallback;
	bool overloaded;                /* a metered node-phase read above its limit */
	bool probing;                   /* an EV-limited charger is being probed (one at a time) */
	uint64_t phases_trusted_ms;     /* before this, every EV counts on all its charger's phases */
	uint64_t summary_ms;            /* when the last summary line was logged */
	char summary_binding[SOLVER_BINDING_LEN];
	uv_idle_t soon;
	struct subscriber subs[SITE_SUBSCRIBERS];
	struct site_plan *plan;         /* the `plan` policy's planner (site-plan.h) */
	struct tree next;               /* built by a reload's check, in force at its apply */
};

static void tree_free(struct tree *t)
{
	free(t->nodes);
	free(t->meters);
	free(t->bind_count);
	free(t->non_ev);
	free(t->reading);
	*t = (struct tree){ 0 };
}

/* The limit tree from the configuration (site-model.c), and each node's meter. */
static int tree_build(struct tree *t, const struct ag_config *cfg)
{
	struct solver_node *nodes;
	size_t n;
	int rc = site_model_nodes(cfg, &nodes, &n);

	if (rc < 0)
		return rc;
	const char **meters = calloc(n, sizeof(*meters));
	size_t *bind_count = calloc(n * 4, sizeof(*bind_count));
	struct non_ev_hold *non_ev = calloc(n * AG_PHASES, sizeof(*non_ev));
	struct non_ev_reading *reading = calloc(n * AG_PHASES, sizeof(*reading));
	if (!meters || !bind_count || !non_ev || !reading) {
		free(nodes);
		free(meters);
		free(bind_count);
		free(non_ev);
		free(reading);
		return -ENOMEM;
	}
	meters[0] = cfg->site.grid.meter;
	for (size_t i = 1; i < n; i++) {
		const struct cfg_circuit *c = config_circuit(cfg, nodes[i].id);
		meters[i] = c ? c->meter : NULL;
	}
	*t = (struct tree){ .nodes = nodes, .n_nodes = n, .meters = meters, .bind_count = bind_count, .non_ev = non_ev,
			    .reading = reading };
	return 0;
}

/* Put `t` in force (taking it); the tree it replaces is freed. */
static void tree_install(struct site *s, struct tree *t)
{
	free(s->nodes);
	free(s->meters);
	free(s->bind_count);
	free(s->non_ev);
	free(s->reading);
	s->nodes = t->nodes;
	s->n_nodes = t->n_nodes;
	s->meters = t->meters;
	s->bind_count = t->bind_count;
	s->non_ev = t->non_ev;
	s->reading = t->reading;
	*t = (struct tree){ 0 };
}

/* The nearest metered node at or above `node`, or -1. */
static int metered_node(const struct site *s, int node)
{
	for (; node >= 0 && !s->meters[node]; node = s->nodes[node].parent)
		;
	return node;
}

/* A meter value ended charger i's pin: its error goes to the others still pinned at the same
 * meter and site phase that share it (ev_ramp_shares_pin). */
static void repin(struct site *s, size_t n_ch, size_t i)
{
	const struct ev_ramp *ended = &s->ev[i].ramp;
	int m = metered_node(s, s->in[i].node);

	for (int k = 0; k < s->in[i].phases; k++) {
		double left = ended->unpinned_a[k];
		int p = s->in[i].rotation[k];
		for (size_t j = 0; j < n_ch && fabs(left) > 1e-9; j++) {
			if (j == i || !ev_ramp_shares_pin(&s->ev[j].ramp, ended) || metered_node(s, s->in[j].node) != m)
				continue;
			for (int q = 0; q < s->in[j].phases; q++)
				if (s->in[j].rotation[q] == p)
					left = ev_ramp_take_error(&s->ev[j].ramp, q, left);
		}
	}
}

static bool below(const struct site *s, int node, int ancestor)
{
	for (; node >= 0; node = s->nodes[node].parent)
		if (node == ancestor)
			return true;
	return false;
}

/* A node-phase's limit in A: its own, or its kW limit's share of one phase if that is lower
 * (the kW limit of the last solve: the ratchet's, for the grid). 0: none. Only for non-ev.c's
 * "above the limit" tests: on an unbalanced site a phase above a third of the kW limit makes
 * the estimate the pessimistic one, which is the safe side. */
static double limit_per_phase_a(const struct site *s, const struct solver_node *node, int p)
{
	double lim = node->limit_a[p], v = s->d->cfg->site.voltage_v;

	if (node->limit_kw > 0 && (lim <= 0 || node->limit_kw * 1000 / (3 * v) < lim))
		lim = node->limit_kw * 1000 / (3 * v);
	return lim;
}

/* Read the metered nodes (s->reading: the meter, the chargers' draw below it, the limits), for
 * estimate_non_ev; false (and why) when a configured meter is not fresh. */
static bool measure(struct site *s, struct solver_node *nodes, size_t n_ch, uint64_t now)
{
	struct ag_daemon *d = s->d;
	struct site_status *st = &s->status;

	memset(st->ev_a, 0, sizeof(st->ev_a));
	for (size_t i = 0; i < n_ch; i++)
		for (int k = 0; k < s->in[i].phases; k++)
			st->ev_a[s->in[i].rotation[k]] += s->in[i].draw_a[k];
	memcpy(st->grid_a, st->ev_a, sizeof(st->grid_a));
	st->grid_measured = false;
	bool overloaded = false;
	for (size_t n = 0; n < s->n_nodes; n++) {
		const char *m = s->meters[n];
		if (!m)
			continue;
		const struct device_reading *r = d->devices ? devices_latest(d->devices, m) : NULL;
		if (!r || devices_stale(d->devices, m, now)) {
			snprintf(st->fallback_why, sizeof(st->fallback_why), "%s meter \"%s\" %s",
				 n ? "circuit" : "grid", m, r && r->at_ms ? "stale" : "has no reading yet");
			return false;
		}
		for (int p = 0; p < AG_PHASES; p++) {
			double amps = isfinite(r->current_a[p]) ? r->current_a[p] : 0, lim = limit_per_phase_a(s, &nodes[n], p);
			struct non_ev_reading *nr = &s->reading[n * AG_PHASES + p];
			*nr = (struct non_ev_reading){ .meter_a = amps, .limit_a = lim,
						       .target_a = lim > 0 ? lim - d->cfg->site.margin_a : 0 };
			for (size_t i = 0; i < n_ch; i++)
				for (int k = 0; k < s->in[i].phases; k++)
					if (s->in[i].rotation[k] == p && below(s, s->in[i].node, (int)n)) {
						nr->ev_a += s->ev[i].ramp.draw_est_a[k];
						nr->ev_lo_a += s->ev[i].ramp.draw_lo_a[k];
						nr->ev_hi_a += s->ev[i].ramp.draw_hi_a[k];
					}
			if (nodes[n].limit_a[p] > 0 && amps > nodes[n].limit_a[p] && !overloaded && !s->overloaded)
				store_event(d->store, LL_WARN, "site.overload", nodes[n].id,
					    "site: %s L%d reads %.1f A, above its %.1f A limit: lowering chargers now",
					    nodes[n].id, p + 1, amps, nodes[n].limit_a[p]);
			overloaded |= nodes[n].limit_a[p] > 0 && amps > nodes[n].limit_a[p];
			if (n == 0)
				st->grid_a[p] = amps;
		}
		st->grid_measured |= n == 0;
	}
	s->overloaded = overloaded;
	return true;
}

/* The grid limit in force: the configured one, lowered by a site manager's override. */
static void apply_override(struct site *s, uint64_t now)
{
	struct site_status *st = &s->status;

	if (st->override_a > 0 && now >= st->override_until_ms) {
		log_msg(LL_NOTICE, "site: temporary limit of %.1f A (%s) expired; back to the configured limit",
			st->override_a, st->override_by);
		st->override_a = 0;
	}
	for (int p = 0; p < AG_PHASES; p++) {
		double lim = s->d->cfg->site.grid.limit_a[p];
		if (st->override_a > 0 && (lim <= 0 || st->override_a < lim))
			lim = st->override_a;
		s->nodes[0].limit_a[p] = lim;
		st->limit_a[p] = lim;
	}
}

static void report_fallback(struct site *s, bool fallback);
static void summarize(struct site *s, size_t n);

/* Every metered node's non-EV load from measure's readings (non-ev.h). The grid's counts what the
 * battery discharges (energy_hidden) as load again, since its meter's reading hides it; the EVs
 * get back only what the battery's own reading confirms (battery_headroom). A negative difference
 * (PV export, or meter values that lag) counts as 0, so solar never raises the import allowed at
 * a node. A ramping charger's implied draw follows the estimate of its nearest metered node
 * (pinned there when its ramp ends: draw_range). Returns the EVs' draw, W, as the estimate implies
 * it (the battery is dispatched on it, not on a ramp taken for building load). */
static double estimate_non_ev(struct site *s, size_t n_ch, bool fresh, uint64_t now)
{
	double v = s->d->cfg->site.voltage_v, ev_w = 0, least_w, most_w;

	if (!fresh) {
		for (size_t i = 0; i < s->n_nodes * AG_PHASES; i++)
			s->non_ev[i].valid = false;
		for (int p = 0; p < AG_PHASES; p++)
			ev_w += s->status.ev_a[p] * v;
		return ev_w;
	}
	energy_hidden(s->d, now, &least_w, &most_w);
	for (size_t n = 0; n < s->n_nodes; n++)
		for (int p = 0; s->meters[n] && p < AG_PHASES; p++) {
			struct non_ev_reading *r = &s->reading[n * AG_PHASES + p];
			if (n == 0) {
				r->hidden_lo_a = least_w / (3 * v);
				r->hidden_hi_a = most_w / (3 * v);
			}
			s->nodes[n].non_ev_a[p] = non_ev_estimate(&s->non_ev[n * AG_PHASES + p], r);
		}
	for (size_t i = 0; i < n_ch; i++) {
		struct ev_ramp *e = &s->ev[i].ramp;
		int m = metered_node(s, s->in[i].node);
		for (int k = 0; k < s->in[i].phases; k++) {
			if (e->ramping && m >= 0)
				e->implied_a[k] = non_ev_implied_a(&s->non_ev[m * AG_PHASES + s->in[i].rotation[k]],
								   e->draw_est_a[k], e->draw_lo_a[k], e->draw_hi_a[k]);
			ev_w += (e->ramping ? e->implied_a[k] : e->draw_est_a[k]) * v;
		}
	}
	return ev_w;
}

/* The battery (energy.c), once estimate_non_ev counted what it hides: the discharge its own
 * reading confirms, as headroom for the EVs (the solver's grid_extra_w), and the ratchet's cap. */
static double battery_headroom(struct site *s, double ev_w, uint64_t now)
{
	const struct ag_config *cfg = s->d->cfg;
	double v = cfg->site.voltage_v, limit_w = INFINITY, cap_kw;

	s->nodes[0].limit_kw = cfg->site.grid.limit_kw;        /* the ratchet's cap below is per solve */
	for (int p = 0; p < AG_PHASES; p++)
		if (s->nodes[0].limit_a[p] > 0)
			limit_w = fmin(limit_w, 3 * v * (s->nodes[0].limit_a[p] - cfg->site.margin_a));
	if (s->nodes[0].limit_kw > 0)
		limit_w = fmin(limit_w, s->nodes[0].limit_kw * 1000 - 3 * v * cfg->site.margin_a);
	double extra_w = energy_turn(s->d, ev_w, s->in, s->d->proxy->n_chargers, limit_w, now, &cap_kw);
	if (cap_kw > 0 && (s->nodes[0].limit_kw <= 0 || cap_kw < s->nodes[0].limit_kw))
		s->nodes[0].limit_kw = cap_kw;
	return extra_w;
}

/* At least n EV records, the ones there kept (a new one belongs to no charger yet). */
static int ev_records(struct site *s, size_t n)
{
	struct site_ev *ev;

	if (n <= s->n_ev)
		return 0;
	if (!(ev = realloc(s->ev, n * sizeof(*ev))))
		return -ENOMEM;
	memset(ev + s->n_ev, 0, (n - s->n_ev) * sizeof(*ev));
	s->ev = ev;
	s->n_ev = n;
	return 0;
}

static void solve(struct site *s)
{
	struct ag_daemon *d = s->d;
	const struct ag_config *cfg = d->cfg;
	struct proxy *p = d->proxy;

	if (!p || p->n_chargers == 0)
		return;
	if (p->n_chargers > s->cap) {
		size_t cap = p->n_chargers * 2;
		solver_free(s->solver);
		free(s->in);
		free(s->rot);
		free(s->out);
		free(s->old_a);
		s->solver = solver_new(s->n_nodes, cap);
		s->in = calloc(cap, sizeof(*s->in));
		s->rot = calloc(cap, sizeof(*s->rot));
		s->out = calloc(cap, sizeof(*s->out));
		s->old_a = calloc(cap, sizeof(*s->old_a));
		s->cap = s->solver && s->in && s->rot && s->out && s->old_a && ev_records(s, cap) == 0 ? cap : 0;
		if (!s->cap)
			return;
	}
	uint64_t now = now_ms(), start_us = now_us();
	s->probing = false;
	for (size_t i = 0; i < p->n_chargers; i++) {
		if (s->ev[i].ch != p->chargers[i])
			s->ev[i] = (struct site_ev){ .ch = p->chargers[i] };
		s->probing |= s->ev[i].cap.probing;
	}
	struct site_ev_view view = { .cfg = cfg, .store = d->store, .nodes = s->nodes, .n_nodes = s->n_nodes,
				     .phases_trusted_ms = s->phases_trusted_ms, .probing = &s->probing };
	for (size_t i = 0; i < p->n_chargers; i++)
		site_ev_describe(&view, p->chargers[i], &s->ev[i], &s->in[i], now);
	for (size_t i = 0; i < p->n_chargers; i++)
		if (s->ev[i].ramp.unpinned)
			repin(s, p->n_chargers, i);
	apply_override(s, now);
	bool was_overloaded = s->overloaded;
	bool fresh = measure(s, s->nodes, p->n_chargers, now);
	if (s->overloaded) {
		if (now >= s->phases_trusted_ms)
			log_msg(LL_WARN, "site: a metered phase reads above its limit: every EV is counted on all of its "
				"charger's phases for %d min (if single-phase cars overload a phase, check the chargers' "
				"rotation in the configuration)", SITE_PHASES_DISTRUST_S / 60);
		s->phases_trusted_ms = now + SITE_PHASES_DISTRUST_S * 1000;
	}
	struct solver_input in = site_model_input(cfg);
	in.nodes = s->nodes;
	in.n_nodes = s->n_nodes;
	in.chargers = s->in;
	in.n_chargers = p->n_chargers;
	in.meter_stale = !fresh;
	in.grid_extra_w = battery_headroom(s, estimate_non_ev(s, p->n_chargers, fresh, now), now);
	in.plan_a = site_plan_targets(s->plan, &in, cfg, (int64_t)now);
	int rc = solver_run(s->solver, &in, s->rot, (int64_t)now, s->out);
	if (rc < 0) {
		log_msg(LL_ERROR, "solver: %s; chargers keep their last limits", strerror(-rc));
		return;
	}
	/* The battery leads what this solve adds to the EVs, in this loop turn. */
	for (size_t i = 0; i < p->n_chargers; i++)     /* a held charger's fixed load is not a raise */
		s->old_a[i] = s->ev[i].held_a > 0 ? s->out[i].limit_a : p->chargers[i]->limit_a;
	energy_commit(d, energy_ev_raise_w(s->in, s->old_a, s->out, p->n_chargers, cfg->site.voltage_v), now);
	report_fallback(s, !fresh);
	memset(s->status.allocated_a, 0, sizeof(s->status.allocated_a));
	size_t lowered = 0;
	for (size_t i = 0; i < p->n_chargers; i++) {
		struct charger *ch = p->chargers[i];
		if (!(s->ev[i].held_a > 0)) {  /* a held charger's lower target stands (site-ev.c held()) */
			if (strcmp(ch->binding, s->out[i].binding) != 0 || ch->limit_a != s->out[i].limit_a)
				log_msg(LL_DEBUG, "charger %s: %.1f A (%s)", ch->id, s->out[i].limit_a, s->out[i].binding);
			lowered += s->out[i].limit_a < ch->limit_a;
			profiles_set_limit(p, ch, s->out[i].limit_a, s->out[i].binding);
		}
		for (int k = 0; k < s->in[i].phases; k++)
			s->status.allocated_a[s->in[i].rotation[k]] += s->out[i].limit_a;
	}
	/* The edge's own share of answering an overload (the chargers' and the network's come
	 * after): decreases are sent in this same call, or queued behind a call in flight. */
	if (s->overloaded && !was_overloaded)
		log_msg(LL_NOTICE, "site: overload answered: %zu chargers lowered, their profiles sent or queued %.1f ms "
				   "after the solve that read it began", lowered, (double)(now_us() - start_us) / 1000.0);
	s->status.solves++;
	s->status.solved_ms = now;
	summarize(s, p->n_chargers);
	for (size_t i = 0; i < SITE_SUBSCRIBERS; i++)
		if (s->subs[i].cb)
			s->subs[i].cb(s->subs[i].arg, d);
}

/* One line for the site manager's log: how the site stands and what limits the chargers, every
 * SITE_SUMMARY_S, and when the constraint binding most chargers changes (at most every 10 s). */
#define SITE_SUMMARY_S 300
static void summarize(struct site *s, size_t n)
{
	const struct site_status *st = &s->status;
	const char *top = "no EV";
	size_t top_n = 0, with_ev = 0;
	double top_a = 0;
	uint64_t now = st->solved_ms;

	/* Count chargers per binding node-phase (slot node * 4 + phase + 1; phase -1 is kW). */
	memset(s->bind_count, 0, s->n_nodes * 4 * sizeof(*s->bind_count));
	for (size_t i = 0; i < n; i++) {
		with_ev += s->in[i].ev;
		if (s->out[i].bind != BIND_NODE)
			continue;
		size_t slot = (size_t)s->out[i].node * 4 + (size_t)(s->out[i].phase + 1);
		if (++s->bind_count[slot] > top_n) {
			top_n = s->bind_count[slot];
			top = s->out[i].binding;
			top_a = s->out[i].limit_a;
		}
	}
	bool changed = strcmp(top, s->summary_binding) != 0;
	if (!(changed && now >= s->summary_ms + 10000) && now < s->summary_ms + SITE_SUMMARY_S * 1000)
		return;
	s->summary_ms = now;
	snprintf(s->summary_binding, sizeof(s->summary_binding), "%s", top);
	char bound[160] = "no limit binds";
	if (st->fallback)
		snprintf(bound, sizeof(bound), "fallback: %s", st->fallback_why);
	else if (top_n)
		snprintf(bound, sizeof(bound), "bound by %s: %zu chargers at %.1f A", top, top_n, top_a);
	log_msg(LL_INFO, "site: %zu chargers, %zu with an EV; grid %s%.0f/%.0f/%.0f A of %.0f/%.0f/%.0f A, "
		"EVs %.0f/%.0f/%.0f A; %s", n, with_ev, st->grid_measured ? "" : "(no meter) ", st->grid_a[0],
		st->grid_a[1], st->grid_a[2], st->limit_a[0], st->limit_a[1], st->limit_a[2], st->ev_a[0], st->ev_a[1],
		st->ev_a[2], bound);
}

/* Say once when the site enters and leaves its fallback, in words for the site manager. */
static void report_fallback(struct site *s, bool fallback)
{
	struct site_status *st = &s->status;

	st->fallback = fallback;
	if (fallback == s->was_fallback)
		return;
	s->was_fallback = fallback;
	if (fallback)
		store_event(s->d->store, LL_WARN, "site.fallback", "grid",
			    "%s: every charger held at its fallback current until it reads again", st->fallback_why);
	else
		store_event(s->d->store, LL_NOTICE, "site.normal", "grid",
			    "meters read again: chargers back under load management");
	if (!fallback)
		st->fallback_why[0] = '\0';
}

static void on_timer(uv_timer_t *t)
{
	solve(t->data);
}

static void on_soon(uv_idle_t *h)
{
	uv_idle_stop(h);
	solve(h->data);
}

void site_solve_soon(struct ag_daemon *d)
{
	if (d->site)
		uv_idle_start(&d->site->soon, on_soon);
}

/* A meter reading arrived or went stale: solve now rather than at the end of the period, so an
 * overload is answered within one poll. */
/* What the OCPP core tells of its chargers that changes the allocation: solve now. */
static void site_on_proxy(void *arg, struct proxy *p, struct charger *ch, enum proxy_event ev, uint64_t now)
{
	struct site *s = arg;

	(void)now;
	/* The proxy closed the gap a removed charger left: so do its EV records. */
	if (ev == PROXY_REMOVED && ch->index < s->n_ev && s->ev[ch->index].ch == ch) {
		memmove(&s->ev[ch->index], &s->ev[ch->index + 1], (s->n_ev - ch->index - 1) * sizeof(*s->ev));
		s->ev[s->n_ev - 1] = (struct site_ev){ 0 };
	}
	(void)p;
	if (ev == PROXY_NEEDS_CHANGED || ev == PROXY_ACCEPTED || ev == PROXY_REMOVED)
		uv_idle_start(&s->soon, on_soon);
}

static void on_device(void *arg, const char *id, enum devices_event ev, const struct device_reading *r)
{
	struct site *s = arg;

	(void)id;
	(void)ev;
	(void)r;
	uv_idle_start(&s->soon, on_soon);
}

const struct site_status *site_status(const struct ag_daemon *d)
{
	return d->site ? &d->site->status : NULL;
}

int64_t site_planned_leave_in_ms(const struct ag_daemon *d, const struct charger *ch, size_t *sessions)
{
	const struct site *s = d->site;
	int64_t now = (int64_t)now_ms(), departure_ms;

	if (!s || !s->in || !d->cfg->site.policy || strcmp(d->cfg->site.policy, "plan") || ch->index >= s->n_ev ||
	    s->ev[ch->index].ch != ch)
		return 0;
	departure_ms = site_plan_departure_ms(s->plan, &s->in[ch->index], now, sessions);
	return departure_ms ? departure_ms - now : 0;
}

int site_override_limit(struct ag_daemon *d, double limit_a, int duration_s, const char *who)
{
	struct site *s = d->site;
	struct site_status *st;

	if (!s)
		return -ENODEV;
	st = &s->status;
	if (!isfinite(limit_a) || (limit_a > 0 && (duration_s < 1 || duration_s > 86400)))
		return -EINVAL;
	if (limit_a <= 0) {
		if (st->override_a > 0)
			store_event(d->store, LL_NOTICE, "site.override", "grid",
				    "temporary limit cleared by %s; back to the configured limit", who);
		st->override_a = 0;
	} else {
		st->override_a = limit_a;
		st->override_until_ms = now_ms() + (uint64_t)duration_s * 1000;
		snprintf(st->override_by, sizeof(st->override_by), "%s", who);
		store_event(d->store, LL_NOTICE, "site.override", "grid",
			    "grid limited to %.1f A per phase for %d s by %s", limit_a, duration_s, who);
	}
	site_solve_soon(d);
	return 0;
}

int site_set_priority(struct ag_daemon *d, const char *charger_id, int priority, const char *who)
{
	struct charger *ch = d->proxy ? proxy_find(d->proxy, charger_id) : NULL;

	if (!ch)
		return -ENOENT;
	if (priority < -1 || priority > 9)
		return -EINVAL;
	ch->priority_override = priority;
	store_event(d->store, LL_NOTICE, "charger.priority", ch->id, "priority set to %d by %s",
		    charger_priority(ch), who);
	site_solve_soon(d);
	return 0;
}

int site_set_needs(struct ag_daemon *d, const char *charger_id, const struct needs *n, const char *who)
{
	struct charger *ch = d->proxy ? proxy_find(d->proxy, charger_id) : NULL;
	char what[96];

	if (!ch)
		return -ENOENT;
	if (!charger_active_tx(ch))
		return -ESRCH;
	needs_set_manager(ch, n);
	needs_describe(n, what, sizeof(what));
	store_event(d->store, LL_NOTICE, "charger.needs", ch->id, "%s set by %s for this session%s", what, who,
		    n->departure_wall_ms || n->energy_wh >= 0 ? "" : " (the EV's own values apply, if any)");
	site_solve_soon(d);
	return 0;
}

int site_subscribe(struct ag_daemon *d, site_cb cb, void *arg)
{
	for (size_t i = 0; d->site && i < SITE_SUBSCRIBERS; i++)
		if (!d->site->subs[i].cb) {
			d->site->subs[i] = (struct subscriber){ cb, arg };
			return 0;
		}
	return -ENOSPC;
}

void site_unsubscribe(struct ag_daemon *d, site_cb cb, void *arg)
{
	for (size_t i = 0; d->site && i < SITE_SUBSCRIBERS; i++)
		if (d->site->subs[i].cb == cb && d->site->subs[i].arg == arg)
			d->site->subs[i] = (struct subscriber){ 0 };
}

int site_start(struct ag_daemon *d)
{
	struct site *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->d = d;
	d->site = s;
	/* The handles first: site_stop closes them (and frees s) whether or not the rest started. */
	uv_timer_init(&d->loop, &s->timer);
	s->timer.data = s;
	uv_idle_init(&d->loop, &s->soon);
	s->soon.data = s;
	if (!(s->plan = site_plan_new(&d->loop, d->store)))
		return -ENOMEM;
	struct tree t;
	if ((rc = tree_build(&t, d->cfg)) < 0)
		return rc;
	tree_install(s, &t);
	if (d->cfg->site.grid.meter)
		log_msg(LL_WARN, "site: grid meter \"%s\" has no reading yet; chargers held at their fallback current",
			d->cfg->site.grid.meter);
	if (d->devices)
		devices_subscribe(d->devices, on_device, s);
	if (d->proxy) {
		/* Departure and energy needs of the sessions the previous run left open. */
		if ((rc = needs_load(d->proxy)) < 0 || (rc = proxy_subscribe(d->proxy, site_on_proxy, s)) < 0)
			return rc;
	}
	uv_timer_start(&s->timer, on_timer, 0, (uint64_t)d->cfg->site.control_period_ms);
	return 0;
}

static void free_site(uv_handle_t *h)
{
	struct site *s = h->data;

	solver_free(s->solver);
	site_plan_free(s->plan);
	free(s->nodes);
	free(s->meters);
	free(s->bind_count);
	free(s->non_ev);
	free(s->reading);
	tree_free(&s->next);
	free(s->in);
	free(s->rot);
	free(s->out);
	free(s->old_a);
	free(s->ev);
	free(s);
}

void site_stop(struct ag_daemon *d)
{
	struct site *s = d->site;

	if (!s)
		return;
	if (d->devices)
		devices_unsubscribe(d->devices, on_device, s);
	if (d->proxy)
		proxy_unsubscribe(d->proxy, site_on_proxy, s);
	uv_timer_stop(&s->timer);
	uv_idle_stop(&s->soon);
	uv_close((uv_handle_t *)&s->soon, NULL);
	uv_close((uv_handle_t *)&s->timer, free_site);
	d->site = NULL;
}

int site_reload_check(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	struct site *s = d->site;

	if (!s)
		return 0;
	tree_free(&s->next); /* a tree a refused reload built */
	return tree_build(&s->next, new_cfg);
}

void site_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	struct site *s = d->site;

	if (!s)
		return;
	tree_install(s, &s->next);
	s->cap = 0; /* the tree may have grown: size the solver's scratch again at the next solve */
	for (size_t i = 0; d->proxy && i < d->proxy->n_chargers; i++)
		d->proxy->chargers[i]->priority_override = -1; /* the new file says what it wants */
	uv_timer_set_repeat(&s->timer, (uint64_t)new_cfg->site.control_period_ms);
}
