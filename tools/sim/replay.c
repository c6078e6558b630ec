/* The what-if replay engine; see replay.h.
 *
 * Key design decision: the site is the daemon's (edge/site/site-model.c builds the nodes, chargers
 * and solver settings from the same configuration) and every step runs the real solver_run with
 * the real policy, so the replay cannot allocate differently from the daemon. What the daemon
 * would learn from the chargers at run time is simulated here: an EV per session (tools/sim/ev.c:
 * on-board limit, 6 A floor, taper near full) that draws min(offer, its limit, its taper) each
 * step. Departure and energy need are given to the solver, as the `deadline` and `cost` policies
 * need them, and each EV's draw is fed back as the daemon learns it from meter values, by the
 * daemon's own code (edge/site/ev-cap.c: an EV that takes clearly less than offered is capped at
 * its draw plus the slack and probed every 5 minutes, one charger of the site at a time). Loads
 * are checked against the configured limits (not limit - margin) every step:
 * a violation is a node-phase above its limit, whatever caused it.
 *
 * A what-if battery and PV sit behind the grid meter: the solver sees the grid node as the
 * daemon does (PV and battery charging in the non-EV load, the discharge added back and given
 * to the EVs as grid_extra_w once it flows, as far as energy_counted_w allows), the battery is
 * dispatched by the daemon's energy_decide, and the grid's import is the EVs plus the building
 * less PV and discharge. As in the daemon (energy_turn, then the solve, then energy_commit), the
 * battery's target for a step is decided on the last step's snapshot and raised, after the
 * solve, by what the solve is about to add to the EVs (energy_ev_raise_w): the EVs follow a new
 * limit within the step, and so does the battery. */
#include "tools/sim/replay.h"
#include "tools/sim/ev.h"
#include "edge/site/energy.h"
#include "edge/site/ev-cap.h"
#include "edge/site/profile-rules.h"
#include "edge/site/site-model.h"
#include "policies/plan.h"
#include "policies/plan-hedge.h"
#include "policies/policy.h"
#include "tools/sim/rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DONE_EPS_WH 1e-6
#define LOAD_EPS_A 1e-6
#define UNKNOWN_START_SOC 0.2
#define UNKNOWN_END_SOC 0.9

struct bay {                    /* a charger and the session plugged into it */
	int session;            /* -1 = free */
	bool done;
	struct ev ev;
	double draw_a;          /* per EV phase, this step */
	/* what the daemon would know of the charger (learn) */
	uint64_t plugged_ms;    /* the session's arrival: no meter value of it before */
	double meter_a;         /* the last meter value's draw, and when it was taken */
	uint64_t meter_at_ms;
	uint64_t stagger_ms;    /* the charger's meter values are this far into each interval */
	double sent_a;          /* the limit on the charger, when it went up, its next renewal */
	uint64_t raised_ms, renew_ms;
	double before_raise_a;  /* the limit before the last increase */
	struct ev_cap cap;      /* the EV-limited cap and its probe (edge/site/ev-cap.h) */
};

struct run {
	const struct replay_input *in;
	struct replay_result *r;
	struct solver *solver;
	struct replay_ref *ref;         /* edf/llf reference instead of a policy; NULL = solver */
	struct solver_input sin;
	struct solver_node *nodes;
	struct solver_charger *ch;
	struct solver_rotation *rot;
	struct solver_result *res;
	struct bay *bay;
	size_t n_ch;
	size_t *order;          /* sessions by arrival */
	int64_t *told_dep_ms;   /* what the policy is told per session (the truth without noise) */
	double *told_wh;
	double *ev_a, *nonev_a; /* per node x 3: EV draw in the subtree; effective non-EV load */
	bool stale;
	size_t next_free;       /* where `any_charger` starts looking */
	double *plan_a;         /* `plan` policy: the targets, planned inline; NULL for other policies */
	struct plan_params plan;
	struct plan_hedge hedge;        /* how early drivers left, as the daemon learns it */
	int64_t next_plan_ms;
	uint64_t plan_sig;              /* plan_signature() at the last plan */
	/* the grid meter's non-EV reading from the load file, before PV and the battery */
	double grid_base_a[3];
	/* what-if storage and PV */
	struct energy_params ep;
	double soc_wh, bat_w, target_w, pv_w, building_w;
	struct energy_input last_in;    /* the snapshot the target was decided on */
	bool decided;
	double *limit_a;                /* per charger: the last solve's limit (energy_ev_raise_w) */
	bool storage;           /* a battery or PV: grid_a is the grid's non-EV load */
	double grid_a[3];       /* the building less PV and battery (what the grid meter sees less the EVs) */
	int64_t day0_ms;        /* 00:00 UTC of the first day: the PV profile's origin */
	int64_t window;         /* demand window being summed (ms / REPLAY_DEMAND_MS) */
	double window_wh, window_ms;
};

static int cmp_arrival(const void *a, const void *b, void *arg)
{
	const struct replay_session *s = arg;
	const struct replay_session *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];

	if (x->arrival_ms != y->arrival_ms)
		return x->arrival_ms < y->arrival_ms ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int charger_index(const struct ag_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_chargers; i++)
		if (!strcmp(cfg->chargers[i].id, id))
			return (int)i;
	return -1;
}

static int node_of(const struct run *u, const char *id)
{
	int k = site_model_node_index(u->nodes, u->r->n_nodes, id);

	return strcmp(u->nodes[k].id, id) ? -1 : k;
}

/* Everything that can be wrong with the inputs is found before the first step. */
static int check(struct run *u, FILE *errs)
{
	const struct replay_input *in = u->in;
	int bad = 0;

	if (!u->sin.policy && !replay_ref_known(in->policy)) {
		fprintf(errs, "replay: policy \"%s\" does not exist (fair, priority, deadline, cost or plan, or the references edf, llf)\n",
			in->policy ? in->policy : in->cfg->site.policy);
		bad++;
	}
	for (size_t i = 0; i < in->n_sessions && !in->any_charger; i++)
		if (in->sessions[i].charger[0] && charger_index(in->cfg, in->sessions[i].charger) < 0) {
			fprintf(errs, "replay: session of line %d: charger %s is not in %s (add it, or replay with --any-charger)\n",
				in->sessions[i].line, in->sessions[i].charger, in->cfg->file);
			bad++;
		}
	for (size_t i = 0; i < in->n_loads; i++)
		if (node_of(u, in->loads[i].node) < 0) {
			fprintf(errs, "replay: load of line %d: node %s is neither \"grid\" nor a circuit of %s\n",
				in->loads[i].line, in->loads[i].node, in->cfg->file);
			bad++;
		}
	return bad ? -EINVAL : 0;
}

/* What drivers say: each departure and request perturbed by uniform noise (one draw of each per
 * session, in input order, so the same seed tells the same story to every policy). A departure
 * is never told before the car arrives; the told request never below zero. */
static void tell(struct run *u)
{
	const struct replay_input *in = u->in;
	struct rng g;

	rng_seed(&g, in->noise_seed);
	for (size_t i = 0; i < in->n_sessions; i++) {
		const struct replay_session *s = &in->sessions[i];
		double dd = rng_range(&g, -1.0, 1.0) * in->departure_noise_s, de = rng_range(&g, -1.0, 1.0) * in->energy_noise_pct;
		int64_t dep = s->departure_ms + (int64_t)(dd * 1000.0);

		u->told_dep_ms[i] = dep > s->arrival_ms + 60000 ? dep : s->arrival_ms + 60000;
		u->told_wh[i] = fmax(0.0, s->request_wh * (1.0 + de / 100.0));
	}
}

/* The connection's import limit less margin, as edge/site/site.c hands it to energy_turn. */
static double grid_limit_w(const struct run *u)
{
	const struct ag_config *cfg = u->in->cfg;
	double v = u->sin.voltage_v, w = INFINITY;

	for (int p = 0; p < 3; p++)
		if (u->nodes[0].limit_a[p] > 0)
			w = fmin(w, 3 * v * (u->nodes[0].limit_a[p] - cfg->site.margin_a));
	if (u->nodes[0].limit_kw > 0)
		w = fmin(w, u->nodes[0].limit_kw * 1000 - 3 * v * cfg->site.margin_a);
	return w;
}

static void setup_storage(struct run *u)
{
	const struct replay_battery *b = u->in->battery;
	struct replay_result *r = u->r;

	u->day0_ms = r->start_ms - r->start_ms % 86400000;
	u->target_w = 0;
	r->soc_start_pct = r->soc_end_pct = r->soc_min_pct = NAN;
	if (!b)
		return;
	energy_params_from_config(u->in->cfg, b->power_w, b->power_w, grid_limit_w(u), 0, &u->ep);
	u->soc_wh = b->capacity_wh * b->soc_start_pct / 100.0;
	r->soc_start_pct = r->soc_end_pct = r->soc_min_pct = b->soc_start_pct;
}

static int setup(struct run *u, FILE *errs)
{
	const struct replay_input *in = u->in;
	const struct ag_config *cfg = in->cfg;
	struct replay_result *r = u->r;
	size_t n = in->n_sessions;
	int rc;

	if ((rc = site_model_nodes(cfg, &u->nodes, &r->n_nodes)) < 0)
		return rc;
	u->n_ch = cfg->n_chargers;
	u->sin = site_model_input(cfg);
	if (in->policy)
		u->sin.policy = policy_find(in->policy);
	if ((rc = check(u, errs)) < 0)
		return rc;
	if (!u->sin.policy) {   /* a reference: the solver still runs the fallback when the meter is stale */
		if (!(u->ref = replay_ref_new(in->policy, u->n_ch)))
			return -ENOMEM;
		u->sin.policy = policy_find("fair");
	}
	snprintf(r->policy, sizeof(r->policy), "%s", u->ref ? replay_ref_name(u->ref) : u->sin.policy->name);
	r->step_ms = in->step_ms > 0 ? in->step_ms : cfg->site.control_period_ms;
	r->n_sessions = n;
	r->outcome = calloc(n ? n : 1, sizeof(*r->outcome));
	r->node = calloc(r->n_nodes, sizeof(*r->node));
	u->ch = calloc(u->n_ch ? u->n_ch : 1, sizeof(*u->ch));
	u->rot = calloc(u->n_ch ? u->n_ch : 1, sizeof(*u->rot));
	u->res = calloc(u->n_ch ? u->n_ch : 1, sizeof(*u->res));
	u->bay = calloc(u->n_ch ? u->n_ch : 1, sizeof(*u->bay));
	u->order = calloc(n ? n : 1, sizeof(*u->order));
	u->told_dep_ms = calloc(n ? n : 1, sizeof(*u->told_dep_ms));
	u->told_wh = calloc(n ? n : 1, sizeof(*u->told_wh));
	u->ev_a = calloc(r->n_nodes * 3, sizeof(double));
	u->nonev_a = calloc(r->n_nodes * 3, sizeof(double));
	u->limit_a = calloc(u->n_ch ? u->n_ch : 1, sizeof(double));
	u->solver = solver_new(r->n_nodes, u->n_ch);
	if (!strcmp(u->sin.policy->name, "plan") && !(u->plan_a = calloc(u->n_ch ? u->n_ch : 1, sizeof(double))))
		return -ENOMEM;
	u->plan = (struct plan_params){ .period_ms = (int64_t)cfg->site.plan_period_s * 1000,
					.default_dwell_ms = (int64_t)cfg->site.default_dwell_s * 1000 };
	if (!r->outcome || !r->node || !u->ch || !u->rot || !u->res || !u->bay || !u->order || !u->told_dep_ms || !u->told_wh || !u->ev_a ||
	    !u->nonev_a || !u->limit_a || !u->solver)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_nodes; i++) {
		snprintf(r->node[i].id, sizeof(r->node[i].id), "%s", u->nodes[i].id);
		memcpy(r->node[i].limit_a, u->nodes[i].limit_a, sizeof(r->node[i].limit_a));
		r->node[i].limit_kw = u->nodes[i].limit_kw;
	}
	for (size_t i = 0; i < u->n_ch; i++) {
		site_model_charger(u->nodes, r->n_nodes, &cfg->chargers[i], &u->ch[i]);
		u->ch[i].id = cfg->chargers[i].id;
		u->bay[i].session = -1;
		for (const char *p = u->ch[i].id; *p; p++)     /* a charger's meter values: its own phase */
			u->bay[i].stagger_ms = u->bay[i].stagger_ms * 31 + (unsigned char)*p;
		u->bay[i].stagger_ms %= 3600000;
	}
	u->sin.nodes = u->nodes;
	u->sin.n_nodes = r->n_nodes;
	u->sin.chargers = u->ch;
	u->sin.n_chargers = u->n_ch;
	u->sin.prices = in->prices;
	u->sin.n_prices = in->n_prices;
	for (size_t i = 0; i < n; i++) {
		u->order[i] = i;
		r->outcome[i].charger = -1;
		r->requested_wh += in->sessions[i].request_wh;
	}
	qsort_r(u->order, n, sizeof(*u->order), cmp_arrival, (void *)in->sessions);
	tell(u);
	r->start_ms = n ? in->sessions[u->order[0]].arrival_ms : REPLAY_DAY0_MS;
	r->end_ms = r->start_ms;
	for (size_t i = 0; i < n; i++)
		if (in->sessions[i].departure_ms > r->end_ms)
			r->end_ms = in->sessions[i].departure_ms;
	setup_storage(u);
	r->n_curve = (size_t)((r->end_ms - r->start_ms) / REPLAY_CURVE_MS) + 1;
	r->curve_a = calloc(r->n_curve, sizeof(float));
	return r->curve_a ? 0 : -ENOMEM;
}

/* The bay a session plugs into, or -1 when none is free. */
static int find_bay(struct run *u, const struct replay_session *s)
{
	if (s->charger[0] && !u->in->any_charger) {
		int i = charger_index(u->in->cfg, s->charger);

		return u->bay[i].session < 0 ? i : -1;
	}
	for (size_t k = 0; k < u->n_ch; k++) {
		size_t i = (u->next_free + k) % u->n_ch;

		if (u->bay[i].session < 0) {
			u->next_free = i + 1;
			return (int)i;
		}
	}
	return -1;
}

void replay_session_ev(const struct replay_session *s, double charger_max_a, int charger_phases, struct ev *ev)
{
	/* Without a state of charge, the request ends at 90 % (from 20 % without a battery size). */
	double soc = s->arrival_soc >= 0 ? s->arrival_soc
		     : s->battery_wh > 0 ? fmax(0.0, UNKNOWN_END_SOC - s->request_wh / s->battery_wh)
					  : UNKNOWN_START_SOC;

	*ev = (struct ev){
		.capacity_wh = s->battery_wh > 0 ? s->battery_wh : s->request_wh / (UNKNOWN_END_SOC - UNKNOWN_START_SOC),
		.soc = soc,
		.obc_limit_a = s->ev_max_a > 0 ? s->ev_max_a : charger_max_a,
		.phases = s->ev_phases && s->ev_phases < charger_phases ? s->ev_phases : charger_phases,
		.taper_soc = 0.8,
	};
}

static void plug_in(struct run *u, size_t si)
{
	const struct replay_session *s = &u->in->sessions[si];
	int i = find_bay(u, s);
	struct bay *b;

	if (i < 0) {
		u->r->turned_away++;
		return;
	}
	b = &u->bay[i];
	b->session = (int)si;
	b->done = !(s->request_wh > 0);
	b->draw_a = 0;          /* of the session before, if it left this step */
	b->plugged_ms = (uint64_t)s->arrival_ms;
	b->cap = (struct ev_cap){ 0 };
	u->ch[i].max_a = u->in->cfg->chargers[i].max_a;  /* as site_model_charger set it */
	u->ch[i].max_from_ev = u->ch[i].ev_max_told = false;
	if (u->in->ev_max_told)
		site_model_ev_limits(&u->ch[i], 0, s->ev_max_a);
	u->ch[i].ev_phases_seen = 0;
	u->ch[i].plugged_ms = s->arrival_ms;
	u->ch[i].reports_current = u->in->ev_feedback;  /* without, nothing is learnt from meter values */
	replay_session_ev(s, u->ch[i].max_a, u->ch[i].phases, &b->ev);
	u->r->outcome[si].charger = i;
}

static double price_at(const struct replay_input *in, int64_t t, size_t *cursor)
{
	if (!in->n_prices || t < in->prices[0].start_ms)
		return 0;
	while (*cursor + 1 < in->n_prices && in->prices[*cursor + 1].start_ms <= t)
		(*cursor)++;
	return in->prices[*cursor].price;
}

/* Effective non-EV load per node: its own reading or the sum of its children's, whichever is
 * higher (a node without a meter reads 0), as the solver assumes. */
static void apply_load(struct run *u, const struct replay_load *l)
{
	int k = node_of(u, l->node);

	if (l->stale) {
		u->stale = true;
		return;
	}
	if (k == 0) {
		u->stale = false;
		memcpy(u->grid_base_a, l->a, sizeof(l->a));
	}
	memcpy(u->nodes[k].non_ev_a, l->a, sizeof(l->a));
	replay_effective_load(u->nodes, u->r->n_nodes, u->nonev_a);
}

void replay_effective_load(const struct solver_node *nodes, size_t n, double *nv)
{
	policy_effective_load(nodes, n, nv);
}

static int solve(struct run *u, int64_t t)
{
	struct timespec a, b;
	double us;
	int rc;

	u->sin.meter_stale = u->stale;
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = u->ref && !u->stale ? replay_ref_allocate(u->ref, &u->sin, t, u->res)
				 : solver_run(u->solver, &u->sin, u->rot, t, u->res);
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
	for (size_t i = 0; i < u->n_ch; i++)
		u->ch[i].running = u->ch[i].ev && u->res[i].limit_a > 0;       /* for the next solve */
	u->r->solves++;
	u->r->solver_s += us / 1e6;
	u->r->solver_max_us = fmax(u->r->solver_max_us, us);
	return rc;
}

/* The `plan` policy, synchronously: at every planning period and at once when plan_signature()
 * changes (an EV arrives, leaves, is done or has what it asked for), as the daemon's planner. A
 * plan that fails leaves the last one in force, as in the daemon. */
static void replan(struct run *u, int64_t t)
{
	struct timespec a, b;
	uint64_t sig;
	double ms;

	if (!u->plan_a || ((sig = plan_signature(&u->sin)) == u->plan_sig && t < u->next_plan_ms))
		return;
	u->plan_sig = sig;
	clock_gettime(CLOCK_MONOTONIC, &a);
	u->plan.early_ms = plan_hedge_early_ms(&u->hedge);
	if (plan_compute(&u->sin, t, &u->plan, u->plan_a, NULL) == 0)
		u->sin.plan_a = u->plan_a;
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	u->r->plans++;
	u->r->plan_s += ms / 1e3;
	u->r->plan_max_ms = fmax(u->r->plan_max_ms, ms);
	u->next_plan_ms = t + u->plan.period_ms;
}

/* What the daemon learns from each charger's meter values: the EV-limited cap and its probe, by
 * the daemon's own code (edge/site/ev-cap.c: the cap held with hysteresis, one probe per site at a
 * time, started with a profile renewal due). What it reads is modelled on the daemon: a meter
 * value every ocpp.meter_interval_s (staggered by charger id) carrying the draw of the step it
 * ends; the limit on the charger is the last solve's, a new one sent when it moved by the
 * profiles' deadband or its renewal (every PROFILE_RENEW_S) is due, an increase noted when sent
 * (the replay's EV follows a new limit within its step, so the raise hold is not modelled). The
 * solver's per-phase draw stays the step's (the replay's meter, phase by phase), and so the
 * phases a car shows (solver_phases_learn) are known a step after it starts, where the daemon waits
 * for a settled meter value. */
static void learn(struct run *u, int64_t t)
{
	uint64_t now = (uint64_t)(t + u->r->step_ms);   /* the next solve */
	int64_t every_ms = (int64_t)u->in->cfg->ocpp.meter_interval_s * 1000;
	bool probing = false;

	for (size_t i = 0; i < u->n_ch; i++)
		probing |= u->bay[i].cap.probing;
	for (size_t i = 0; i < u->n_ch; i++) {
		struct solver_charger *c = &u->ch[i];
		struct bay *b = &u->bay[i];
		double limit_a = u->res[i].limit_a;
		bool charging = b->session >= 0 && !b->done;

		for (int p = 0; p < 3; p++)
			c->draw_a[p] = charging && p < b->ev.phases ? b->draw_a : 0;
		c->draw_fresh = true;   /* the replay's meter is the step's draw, phase by phase */
		c->ev_phases_seen = solver_phases_learn(c->ev_phases_seen, c);
		if (fabs(limit_a - b->sent_a) >= PROFILE_DEADBAND_A || (limit_a == 0 && b->sent_a > 0) ||
		    (uint64_t)t >= b->renew_ms) {
			if (limit_a > b->sent_a + 0.05) {
				b->raised_ms = (uint64_t)t;
				b->before_raise_a = b->sent_a;
			}
			b->sent_a = limit_a;
			b->renew_ms = (uint64_t)t + PROFILE_RENEW_S * 1000;
		}
		if (every_ms <= 0 || (int64_t)((now + b->stagger_ms) / (uint64_t)every_ms) !=
					     (int64_t)((now - (uint64_t)u->r->step_ms + b->stagger_ms) / (uint64_t)every_ms)) {
			b->meter_a = b->draw_a;
			b->meter_at_ms = now;
		}
		struct ev_cap_reading rd = {
			.ev = charging,
			.usable = charging && b->sent_a > 0 && b->meter_at_ms > b->plugged_ms,
			.held = charging && b->sent_a == 0,
			.draw_a = b->meter_a,
			.at_ms = b->meter_at_ms,
			.sent_a = b->sent_a,
			.min_a = c->min_a,
			.max_a = u->in->cfg->chargers[i].max_a,
			.raised_ms = b->raised_ms,
			.before_raise_a = b->before_raise_a,
			.renew_ms = b->renew_ms,
		};
		c->ev_limited = ev_cap_judge(&b->cap, &rd, u->sin.ev_slack_a, &probing, now, NULL);
		c->ev_cap_a = c->ev_limited ? b->cap.cap_a : 0;
		c->ev_cap_slack_a = c->ev_limited ? b->cap.slack_a : 0;
		c->ev_probe = c->ev_limited && b->cap.probing;
		c->ev_max_shown = b->cap.max_shown;
	}
}

/* Charge every EV for one step at what the solver offered, and sum the draw up the tree. */
static void charge(struct run *u, int64_t t, double price)
{
	const struct replay_input *in = u->in;
	double dt_s = (double)u->r->step_ms / 1000.0, v = u->sin.voltage_v;

	memset(u->ev_a, 0, u->r->n_nodes * 3 * sizeof(double));
	for (size_t i = 0; i < u->n_ch; i++) {
		struct bay *b = &u->bay[i];
		struct replay_outcome *o;
		double left, full, wh, was_a = b->draw_a;

		b->draw_a = 0;
		if (b->session < 0 || b->done)
			continue;
		o = &u->r->outcome[b->session];
		b->draw_a = ev_current_a(&b->ev, u->res[i].limit_a);
		u->r->starts += was_a < SOLVER_PHASE_IDLE_A && b->draw_a >= SOLVER_PHASE_IDLE_A;
		left = in->sessions[b->session].request_wh - o->delivered_wh;
		full = b->draw_a * v * b->ev.phases * dt_s / 3600.0;
		/* The last step of a session is a part step: the draw lasts until the request is met. */
		wh = ev_charge(&b->ev, b->draw_a, v, full > left ? dt_s * left / full : dt_s);
		o->delivered_wh += wh;
		o->cost += wh / 1000.0 * price;
		if (in->sessions[b->session].request_wh - o->delivered_wh <= DONE_EPS_WH || ev_full(&b->ev)) {
			b->done = true;
			o->done_ms = t + u->r->step_ms;
		}
		for (int p = 0; p < b->ev.phases; p++)
			u->ev_a[u->ch[i].node * 3 + u->ch[i].rotation[p]] += b->draw_a;
	}
	if (in->ev_feedback)
		learn(u, t);
	for (size_t k = u->r->n_nodes; k-- > 1;)
		for (int p = 0; p < 3; p++)
			u->ev_a[u->nodes[k].parent * 3 + p] += u->ev_a[k * 3 + p];
}

/* A demand window's mean at its end: the highest one is the demand peak. */
static void close_window(struct run *u)
{
	struct replay_result *r = u->r;

	if (u->window_ms * 2 >= REPLAY_DEMAND_MS && u->window_wh * 3600.0 / u->window_ms > r->demand_peak_kw) {
		r->demand_peak_kw = u->window_wh * 3600.0 / u->window_ms;
		r->demand_peak_at_ms = u->window * REPLAY_DEMAND_MS;
	}
	u->window_wh = u->window_ms = 0;
}

/* The grid connection's import this step (kW, < 0 export): peaks, demand windows, energy, cost. */
static void account_grid(struct run *u, int64_t t, double kw, double price)
{
	struct replay_result *r = u->r;
	double h = (double)r->step_ms / 3600000.0;

	if (kw > r->grid_peak_kw) {
		r->grid_peak_kw = kw;
		r->grid_peak_at_ms = t;
	}
	if (t / REPLAY_DEMAND_MS != u->window) {
		close_window(u);
		u->window = t / REPLAY_DEMAND_MS;
	}
	u->window_wh += fmax(0, kw) * h * 1000.0;
	u->window_ms += (double)r->step_ms;
	r->import_wh += fmax(0, kw) * h * 1000.0;
	r->export_wh += fmax(0, -kw) * h * 1000.0;
	r->grid_cost += fmax(0, kw) * h * price;
	r->pv_wh += u->pv_w * h;
}

/* Peaks and violations of every node at time t. */
static void account(struct run *u, int64_t t, double price)
{
	struct replay_result *r = u->r;
	double v = u->sin.voltage_v;

	for (size_t k = 0; k < r->n_nodes; k++) {
		struct replay_node *nd = &r->node[k];
		double kw = 0;

		for (int p = 0; p < 3; p++) {
			/* with storage, the grid meter sees PV and the battery the solver's view leaves out */
			double a = u->ev_a[k * 3 + p] + (k == 0 && u->storage ? u->grid_a[p] : u->nonev_a[k * 3 + p]);

			kw += a * v / 1000.0;
			if (a > nd->peak_a[p]) {
				nd->peak_a[p] = a;
				nd->peak_at_ms[p] = t;
			}
			if (nd->limit_a[p] > 0 && a > nd->limit_a[p] + LOAD_EPS_A) {
				nd->violation_steps[p]++;
				r->violations++;
				if (!nd->first_violation_ms)
					nd->first_violation_ms = t;
			}
			if (k == 0 && (size_t)((t - r->start_ms) / REPLAY_CURVE_MS) < r->n_curve) {
				float *c = &r->curve_a[(t - r->start_ms) / REPLAY_CURVE_MS];

				*c = fmaxf(*c, (float)a);
			}
		}
		if (kw > nd->peak_kw) {
			nd->peak_kw = kw;
			nd->peak_kw_at_ms = t;
		}
		if (nd->limit_kw > 0 && kw > nd->limit_kw + LOAD_EPS_A * v / 1000.0) {
			nd->violation_steps[3]++;
			r->violations++;
			if (!nd->first_violation_ms)
				nd->first_violation_ms = t;
		}
		if (k == 0)
			account_grid(u, t, kw, price);
	}
}

/* The battery's power this step at target_w, within its rating and what its SoC allows. */
static double battery_power_w(const struct run *u)
{
	const struct replay_battery *b = u->in->battery;
	double dt_h = (double)u->r->step_ms / 3600000.0;

	if (b && u->target_w > 0)
		return fmin(fmin(u->target_w, b->power_w), u->soc_wh * REPLAY_BATTERY_EFFICIENCY / dt_h);
	if (b && u->target_w < 0)
		return -fmin(fmin(-u->target_w, b->power_w), (b->capacity_wh - u->soc_wh) / REPLAY_BATTERY_EFFICIENCY / dt_h);
	return 0;
}

/* Before the solve: PV now, and the battery at the last decision, as the grid meter and the
 * solver see them. */
static void storage_step(struct run *u, int64_t t)
{
	const struct replay_battery *b = u->in->battery;
	double v = u->sin.voltage_v;

	if (!b && !u->in->pv)
		return;
	u->pv_w = u->in->pv ? pv_profile_at(u->in->pv, (double)(t - u->day0_ms) / 1000.0) : 0;
	u->bat_w = battery_power_w(u);
	/* The grid meter: the building (or its circuits' sum) less PV and discharge, plus charging.
	 * The solver: the same with the discharge added back (energy_turn's hidden load). */
	u->storage = true;
	memcpy(u->nodes[0].non_ev_a, u->grid_base_a, sizeof(u->grid_base_a));
	replay_effective_load(u->nodes, u->r->n_nodes, u->nonev_a);
	for (int p = 0; p < 3; p++) {
		u->grid_a[p] = u->nonev_a[p] - (u->pv_w + u->bat_w) / (3 * v);
		u->nodes[0].non_ev_a[p] = u->grid_a[p] + fmax(0, u->bat_w) / (3 * v);
	}
	replay_effective_load(u->nodes, u->r->n_nodes, u->nonev_a);
	u->sin.grid_extra_w = b ? energy_counted_w(&u->ep, u->bat_w) : 0;
}

/* After the solve (energy_commit's part): the last snapshot decided again with what this solve
 * adds to the EVs, and the battery's power this step moved to it. The solver's inputs stay as
 * they were: what the battery delivers counts for the EVs only once measured. */
static void storage_commit(struct run *u, bool solved)
{
	double v = u->sin.voltage_v, raise_w = solved ? energy_ev_raise_w(u->ch, u->limit_a, u->res, u->n_ch, v) : 0;

	for (size_t i = 0; i < u->n_ch; i++)
		u->limit_a[i] = solved ? u->res[i].limit_a : 0;
	if (!u->in->battery || !(raise_w > 0))
		return;
	struct energy_input in = u->last_in;
	struct energy_decision dec;

	if (!u->decided) {              /* the first step: the daemon's first turn sees no EV yet */
		in = (struct energy_input){ .building_now_w = -u->pv_w, .soc_pct = 100.0 * u->soc_wh / u->in->battery->capacity_wh };
		for (int p = 0; p < 3; p++)
			in.building_now_w += u->grid_base_a[p] * v;
		in.building_w = in.building_now_w;
	}

	in.ev_w += raise_w;
	in.ev_want_w = fmax(in.ev_want_w, in.ev_w);
	energy_decide(&u->ep, &in, &dec);
	if (!isfinite(dec.target_w))
		return;
	double was_w = u->bat_w;

	u->target_w = dec.target_w;
	u->bat_w = battery_power_w(u);
	for (int p = 0; p < 3; p++)
		u->grid_a[p] -= (u->bat_w - was_w) / (3 * v);
}

/* After the step: the battery's energy, then the daemon's decision for the next step from this
 * step's snapshot (building load held over two steps, as energy_turn holds it over two control
 * periods). */
static void dispatch(struct run *u)
{
	const struct replay_battery *b = u->in->battery;
	struct replay_result *r = u->r;
	double v = u->sin.voltage_v, dt_h = (double)r->step_ms / 3600000.0, now_w = -u->pv_w;
	struct energy_input in = { 0 };
	struct energy_decision dec;

	if (u->bat_w > 0) {
		u->soc_wh = fmax(0, u->soc_wh - u->bat_w * dt_h / REPLAY_BATTERY_EFFICIENCY);
		r->battery_out_wh += u->bat_w * dt_h;
	} else {
		u->soc_wh = fmin(b->capacity_wh, u->soc_wh - u->bat_w * dt_h * REPLAY_BATTERY_EFFICIENCY);
		r->battery_in_wh -= u->bat_w * dt_h;
	}
	r->soc_end_pct = 100.0 * u->soc_wh / b->capacity_wh;
	r->soc_min_pct = fmin(r->soc_min_pct, r->soc_end_pct);
	for (int p = 0; p < 3; p++) {
		now_w += u->grid_base_a[p] * v;
		in.ev_w += u->ev_a[p] * v;
	}
	in.ev_want_w = energy_ev_want_w(u->ch, u->n_ch, u->sin.ev_slack_a, v, in.ev_w);
	in.building_now_w = now_w;
	in.building_w = fmax(now_w, u->building_w);
	in.soc_pct = r->soc_end_pct;
	u->building_w = now_w;
	u->last_in = in;
	u->decided = true;
	energy_decide(&u->ep, &in, &dec);
	u->target_w = isfinite(dec.target_w) ? dec.target_w : 0;
}

static int step_all(struct run *u, FILE *errs)
{
	const struct replay_input *in = u->in;
	struct replay_result *r = u->r;
	size_t next = 0, next_load = 0, price_cursor = 0;
	int rc;

	for (int64_t t = r->start_ms; t < r->end_ms; t += r->step_ms) {
		bool any_ev = false;

		for (size_t i = 0; i < u->n_ch; i++) {         /* departures first: a bay frees up */
			struct bay *b = &u->bay[i];

			if (b->session >= 0 && in->sessions[b->session].departure_ms <= t) {
				plan_hedge_note(&u->hedge, u->told_dep_ms[b->session], in->sessions[b->session].departure_ms);
				b->session = -1;
			}
		}
		for (; next < in->n_sessions && in->sessions[u->order[next]].arrival_ms <= t; next++)
			if (in->sessions[u->order[next]].departure_ms > t)
				plug_in(u, u->order[next]);
		for (; next_load < in->n_loads && in->loads[next_load].at_ms <= t; next_load++)
			apply_load(u, &in->loads[next_load]);
		for (size_t i = 0; i < u->n_ch; i++) {
			const struct bay *b = &u->bay[i];
			struct solver_charger *c = &u->ch[i];

			c->ev = b->session >= 0 && !b->done;
			c->departure_ms = c->ev ? u->told_dep_ms[b->session] : 0;
			/* What is still needed of what the driver said; once that is delivered the EV still
			 * charging says it wants more, and the daemon counts such an EV's need as unknown
			 * (edge/site/site.c describe: 0), as here. */
			c->energy_need_wh = c->ev ? fmax(u->told_wh[b->session] - r->outcome[b->session].delivered_wh, 0.0) : 0;
			c->energy_done_wh = c->ev ? r->outcome[b->session].delivered_wh : 0;
			any_ev |= c->ev;
		}
		storage_step(u, t);
		if (any_ev)
			replan(u, t);
		if (u->stale)
			r->fallback_ms += r->step_ms;
		if (any_ev || u->stale) {
			if ((rc = solve(u, t)) < 0) {
				fprintf(errs, "replay: the solver refused the site (%s); check the configuration with ampgated --check\n",
					strerror(-rc));
				return rc;
			}
		} else {
			memset(u->res, 0, u->n_ch * sizeof(*u->res));
		}
		storage_commit(u, any_ev || u->stale);
		double price = price_at(in, t, &price_cursor);

		charge(u, t, price);
		account(u, t, price);
		if (in->battery)
			dispatch(u);
	}
	return 0;
}

int replay_run(const struct replay_input *in, struct replay_result *out, FILE *errs)
{
	struct run u = { .in = in, .r = out };
	struct timespec a, b;
	int rc;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = setup(&u, errs);
	if (rc == 0)
		rc = step_all(&u, errs);
	if (rc == 0)
		close_window(&u);
	for (size_t i = 0; rc == 0 && i < in->n_sessions; i++) {
		const struct replay_outcome *o = &out->outcome[i];

		out->delivered_wh += o->delivered_wh;
		out->cost += o->cost;
		out->served += o->delivered_wh >= REPLAY_SERVED_SHARE * in->sessions[i].request_wh;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	out->wall_s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	solver_free(u.solver);
	replay_ref_free(u.ref);
	free(u.nodes);
	free(u.ch);
	free(u.rot);
	free(u.res);
	free(u.bay);
	free(u.order);
	free(u.told_dep_ms);
	free(u.told_wh);
	free(u.ev_a);
	free(u.nonev_a);
	free(u.limit_a);
	free(u.plan_a);
	if (rc < 0)
		replay_result_fini(out);
	return rc;
}

double replay_starts_per_session(const struct replay_result *r)
{
	return r->n_sessions ? (double)r->starts / (double)r->n_sessions : 0.0;
}

void replay_result_fini(struct replay_result *r)
{
	free(r->outcome);
	free(r->node);
	free(r->curve_a);
	memset(r, 0, sizeof(*r));
}
