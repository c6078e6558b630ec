/* The offline optimum of a replay (`ampgate-sim replay --optimum`); see replay.h.
 *
 * Key design decision: time is cut only where something changes (an arrival, a departure, a
 * building-load row), not into control steps: between two such instants the set of EVs and every
 * headroom is constant, so with continuous rates one average current per session and interval is
 * exact, and a month of 1,000 sessions is a linear programme of tens of thousands of variables
 * rather than millions. The programme is the one the `plan` policy solves (policies/plan-lp.c),
 * told the truth: every session's real window and request, the building load as it was, and each
 * EV's taper near full as the replay charges it (taper_line()). The minimum current and the control
 * step are left out on purpose: the result is an upper bound no policy can beat, which is what a
 * gap needs.
 *
 * The taper is in because without it the bound counted on energy no EV takes (an EV that must end
 * near full takes its last kWh at a fraction of its rate), so a gap mixed the replay's EV model into
 * the policy's score: on bench_replay's aggregate workplace day with the grid at its full limit,
 * where nothing is scarce, every policy was 0.10 point below the taper-blind bound and is 0.00
 * below this one. What a policy loses by charging such an EV too late still shows: at 70 % of the
 * grid the bound moved only 98.00 -> 97.91 % while plan stays at 97.13. */
#include "tools/sim/replay.h"
#include "tools/sim/ev.h"
#include "edge/site/site-model.h"
#include "policies/plan-lp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The building load as it was: the load rows up to each interval's start. */
struct loads {
	const struct replay_input *in;
	struct solver_node *nodes;
	size_t n_nodes, next;
};

static void load_at(void *arg, int64_t t_ms, double *nv)
{
	struct loads *l = arg;

	for (; l->next < l->in->n_loads && l->in->loads[l->next].at_ms <= t_ms; l->next++) {
		const struct replay_load *r = &l->in->loads[l->next];
		int k = site_model_node_index(l->nodes, l->n_nodes, r->node);

		if (!r->stale && !strcmp(l->nodes[k].id, r->node))
			memcpy(l->nodes[k].non_ev_a, r->a, sizeof(r->a));
	}
	replay_effective_load(l->nodes, l->n_nodes, nv);
}

/* The EV's taper (ev_taper_line) as the job's line, steeper by what the replay's steps add: it
 * charges each step_ms at the current its state at the step's start allows, so on the line its
 * distance to the zero shrinks by (1 - beta h) a step, more than exp(-beta h) in continuous time
 * (beta: plan_lp_taper_per_h). The line whose continuous decay matches it bounds the replay
 * exactly (a 1 s step on a 7 kW car tapering over 15 kWh: 0.007 % steeper). */
static void taper_line(const struct ev *ev, double voltage_v, int64_t step_ms, struct plan_lp_job *jb)
{
	double beta_h;

	ev_taper_line(ev, jb->max_a, &jb->taper_from_wh, &jb->taper_zero_wh);
	if (!(jb->taper_zero_wh > jb->taper_from_wh))
		return;
	beta_h = plan_lp_taper_per_h(voltage_v, jb) * (double)step_ms / 3.6e6;
	if (beta_h > 0 && beta_h < 1) {
		double span_wh = jb->taper_zero_wh - jb->taper_from_wh;

		jb->taper_from_wh = jb->taper_zero_wh - span_wh * beta_h / -log1p(-beta_h);
	}
}

int replay_optimum(const struct replay_input *in, const struct replay_result *assign, struct replay_optimum *out,
		   FILE *errs)
{
	const struct ag_config *cfg = in->cfg;
	struct solver_input sin = site_model_input(cfg);
	struct loads l = { .in = in };
	struct plan_lp_job *jobs = calloc(in->n_sessions + 1, sizeof(*jobs));
	int64_t *cut = calloc(2 * in->n_sessions + in->n_loads + 1, sizeof(*cut));
	struct plan_lp_result lr;
	struct timespec a, b;
	size_t n_cut = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (!jobs || !cut || (rc = site_model_nodes(cfg, &l.nodes, &l.n_nodes)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	sin.nodes = l.nodes;
	sin.n_nodes = l.n_nodes;
	for (size_t i = 0; i < in->n_sessions; i++) {
		const struct replay_session *s = &in->sessions[i];
		struct solver_charger c;
		struct ev ev;

		out->requested_wh += s->request_wh;     /* the runs' denominator: turned-away ones too */
		if (assign->outcome[i].charger < 0)
			continue;
		site_model_charger(l.nodes, l.n_nodes, &cfg->chargers[assign->outcome[i].charger], &c);
		replay_session_ev(s, c.max_a, c.phases, &ev);
		for (int p = 0; p < ev.phases; p++)
			jobs[i].mask |= 1u << (c.rotation[p] % 3);
		jobs[i].node = c.node;
		jobs[i].max_a = fmin(ev.obc_limit_a, c.max_a);
		jobs[i].from_ms = s->arrival_ms;
		jobs[i].until_ms = s->departure_ms;
		jobs[i].need_wh = s->request_wh;
		taper_line(&ev, sin.voltage_v, assign->step_ms, &jobs[i]);
		cut[n_cut++] = s->arrival_ms;
		cut[n_cut++] = s->departure_ms;
		out->sessions++;
	}
	for (size_t i = 0; i < in->n_loads; i++)
		cut[n_cut++] = in->loads[i].at_ms;
	qsort(cut, n_cut, sizeof(*cut), cmp_i64);
	rc = plan_lp_solve(&sin, jobs, in->n_sessions, cut, n_cut, load_at, &l, 0.0, NULL, &lr);
	out->delivered_wh = lr.delivered_wh;
	out->intervals = lr.intervals;
	out->variables = lr.variables;
	out->rows = lr.rows;
	if (rc == -EIO)
		fprintf(errs, "replay: the optimum's linear programme did not solve (%zu rates, %zu rows)\n",
			out->variables, out->rows);
out:
	free(jobs);
	free(cut);
	free(l.nodes);
	clock_gettime(CLOCK_MONOTONIC, &b);
	out->solve_s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	if (rc == -ENOMEM)
		fprintf(errs, "replay: out of memory building the optimum\n");
	return rc;
}
