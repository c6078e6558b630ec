/* Solver benchmark: solve time for depots of 10 to 10,000 chargers (median and p99 over many
 * runs), and the same instances solved by GLPK (level-by-level LP, tests/lib/maxmin-glpk.c) for
 * the ratio; for the `plan` policy (up to 1,000 chargers) also the planner's time (median of
 * plan_compute, the horizon LP the daemon runs off the loop) beside the real-time solve that
 * follows its targets. Prints a table; writes JSON to the path in argv[1].
 *
 * Key design decision: the instances are shaped like real depots (grid -> feeders -> sub-boards,
 * a third single-phase on random phases, some EV-limited cars, mixed 16/32 A chargers, a kW limit)
 * and tight enough that every level of the tree binds somewhere; the "scarce" rows add
 * admission and rotation (not everyone gets a minimum). GLPK's time counts its LP solves only,
 * not building the model, so the ratio errs in GLPK's favour. */
#include "edge/daemon.h"
#include "edge/site/solver.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "tests/lib/maxmin-glpk.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct depot {
	struct solver_node *nodes;
	struct solver_charger *ch;
	struct solver_input in;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static double uni(uint64_t *s, double lo, double hi)
{
	return lo + (hi - lo) * (double)(rnd(s) >> 11) / 9007199254740992.0;
}

/* n chargers: a feeder per 20, a sub-board per 5. `scarce` sets the grid below the sum of
 * minimums so admission pauses about a fifth. */
static int make_depot(size_t n, bool scarce, struct depot *d)
{
	size_t n_feed = (n + 19) / 20, n_sub = (n + 4) / 5, m = 1 + n_feed + n_sub;
	uint64_t s = 0x5eed + n;
	double grid_a = scarce ? n * 6.0 * 0.55 : n * 32 * 0.35;

	d->nodes = calloc(m, sizeof(*d->nodes));
	d->ch = calloc(n, sizeof(*d->ch));
	if (!d->nodes || !d->ch)
		return -1;
	d->nodes[0] = (struct solver_node){ .id = "grid", .parent = -1,
					    .limit_a = { grid_a + 40, grid_a + 40, grid_a + 40 },
					    .limit_kw = (grid_a + 30) * 3 * 230 / 1000,
					    .non_ev_a = { 30, 38, 25 } };
	for (size_t f = 0; f < n_feed; f++)
		d->nodes[1 + f] = (struct solver_node){ .id = "feeder", .parent = 0,
							.limit_a = { 250, 250, 250 },
							.non_ev_a = { uni(&s, 0, 5), 0, uni(&s, 0, 5) } };
	for (size_t b = 0; b < n_sub; b++)
		d->nodes[1 + n_feed + b] = (struct solver_node){ .id = "sub", .parent = (int)(1 + b / 4),
								 .limit_a = { 100, 100, 100 } };
	for (size_t i = 0; i < n; i++) {
		struct solver_charger *c = &d->ch[i];
		int r = (int)(rnd(&s) % 3);

		*c = (struct solver_charger){ .id = "cp", .node = (int)(1 + n_feed + i / 5), .phases = 3,
					      .rotation = { (unsigned char)r, (unsigned char)((r + 1) % 3),
							    (unsigned char)((r + 2) % 3) },
					      .min_a = 6, .max_a = rnd(&s) % 4 ? 32 : 16,
					      .link = SOLVER_ONLINE, .ev = rnd(&s) % 10 != 0, .priority = 1 };
		if (rnd(&s) % 3 == 0)
			c->phases = 1;
		c->ev_phases_seen = solver_phase_mask(c);       /* shown since it plugged in */
		if (rnd(&s) % 10 == 0) {
			c->ev_limited = true;
			c->draw_a[0] = uni(&s, 6, 20);
		}
	}
	d->in = (struct solver_input){ .nodes = d->nodes, .n_nodes = m, .chargers = d->ch,
				       .n_chargers = n, .voltage_v = 230, .margin_a = 2, .fallback_a = 6,
				       .ev_slack_a = 1, .max_wait_ms = 600000, .min_run_ms = 120000 };
	return 0;
}

static double mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct row {
	size_t n;
	const char *kind;
	int runs, paused, glpk_runs;
	double median_us, p99_us, glpk_ms, max_diff_a;
	int plan_runs;
	double plan_median_ms, plan_max_ms;
};

/* `plan` on the scarce site: the planner's median over `runs` plans (each a minute later), then
 * its targets go to the solver runs. */
static int bench_plan(struct depot *d, int64_t now, struct row *row)
{
	static const struct plan_params pp = { .period_ms = 60000, .default_dwell_ms = 8 * 3600000LL };
	int runs = d->in.n_chargers <= 100 ? 51 : 11;
	double *t = calloc((size_t)runs, sizeof(double)), *target = calloc(d->in.n_chargers, sizeof(double));

	if (!t || !target)
		return -1;
	for (int r = 0; r < runs; r++) {
		double t0 = mono_us();

		if (plan_compute(&d->in, now + r * 60000LL, &pp, target, NULL))
			return -1;
		t[r] = (mono_us() - t0) / 1e3;
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	row->plan_runs = runs;
	row->plan_median_ms = t[runs / 2];
	row->plan_max_ms = t[runs - 1];
	d->in.plan_a = target;          /* freed by the caller after the solver runs */
	free(t);
	return 0;
}

static int bench_one(size_t n, int kind, struct row *row)
{
	bool scarce = kind > 0, deadline = kind >= 2, plan = kind == 3;
	struct depot d;
	struct solver *s = solver_new(1 + n, n);
	struct solver_result *out = calloc(n, sizeof(*out));
	struct solver_rotation *rot = calloc(n, sizeof(*rot));
	int runs = n <= 100 ? 20000 : n <= 1000 ? 3000 : 300;
	double *t = calloc((size_t)runs, sizeof(double)), *limit = calloc(n, sizeof(double));
	double *w = calloc(n, sizeof(double)), *x = calloc(n, sizeof(double));
	bool *admitted = calloc(n, sizeof(bool));
	int64_t now = 1000;

	if (!s || !out || !rot || !t || !limit || !w || !x || !admitted || make_depot(n, scarce, &d))
		return -1;
	memset(row, 0, sizeof(*row));
	row->n = n;
	row->kind = plan ? "plan" : deadline ? "deadline" : scarce ? "scarce" : "fair";
	row->runs = runs;
	if (deadline) { /* the scarce site under least laxity first: every EV with a departure and a need */
		uint64_t seed = 0xdead + n;

		d.in.policy = policy_find(plan ? "plan" : "deadline");
		for (size_t i = 0; i < n; i++) {
			d.ch[i].departure_ms = now + (int64_t)uni(&seed, 1, 10) * 3600000;
			d.ch[i].energy_need_wh = uni(&seed, 5000, 40000);
		}
		if (plan && bench_plan(&d, now, row))
			return -1;
	}
	for (int r = -runs / 10; r < runs; r++) {     /* the first tenth warms caches */
		double t0 = mono_us();

		if (solver_run(s, &d.in, rot, now += 1000, out))
			return -1;
		if (r >= 0)
			t[r] = mono_us() - t0;
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	row->median_us = t[runs / 2];
	row->p99_us = t[runs * 99 / 100];
	for (size_t i = 0; i < n; i++) {
		row->paused += out[i].bind == BIND_PAUSED_ROTATION;
		limit[i] = out[i].limit_a;
		w[i] = 1;
		admitted[i] = d.ch[i].ev;
	}
	if (!scarce) {  /* the same allocation by GLPK's LP (fair only) */
		struct mm_problem p;
		double budget_ms = 60000, spent = 0;

		if (mm_build(&d.in, admitted, w, &p))
			return -1;
		while (row->glpk_runs < 5 && spent < budget_ms / 3) {
			double t0 = mono_us();

			if (mm_solve_glpk(&p, x))
				return -1;
			spent += (mono_us() - t0) / 1e3;
			row->glpk_runs++;
		}
		row->glpk_ms = spent / row->glpk_runs;
		for (size_t v = 0; v < p.n; v++)
			row->max_diff_a = fmax(row->max_diff_a, fabs(x[v] - limit[p.var_of[v]]));
		mm_free(&p);
	}
	solver_free(s);
	free((double *)d.in.plan_a);
	free(d.nodes); free(d.ch); free(out); free(rot); free(t); free(limit); free(w); free(x);
	free(admitted);
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 10, 100, 1000, 10000 };
	struct row rows[16];
	size_t nr = 0;
	FILE *js;

	daemon_tune_memory();      /* the plans are timed with the daemon's allocator settings */

	glp_term_out(GLP_OFF);
	printf("%8s %7s %6s %11s %11s %7s %11s %9s %12s\n", "chargers", "kind", "runs", "median_us",
	       "p99_us", "paused", "glpk_ms", "ratio", "max_diff_a");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int kind = 0; kind < (sizes[i] <= 1000 ? 4 : 3); kind++) {
			struct row *r = &rows[nr++];

			if (bench_one(sizes[i], kind, r)) {
				fprintf(stderr, "bench_solver: %zu chargers failed\n", sizes[i]);
				return 1;
			}
			printf("%8zu %7s %6d %11.1f %11.1f %7d", r->n, r->kind, r->runs, r->median_us,
			       r->p99_us, r->paused);
			if (r->glpk_runs)
				printf(" %11.2f %8.0fx %12.2g\n", r->glpk_ms, r->glpk_ms * 1e3 / r->median_us,
				       r->max_diff_a);
			else if (r->plan_runs)
				printf("   plan: median %.2f ms, max %.2f ms over %d plans\n", r->plan_median_ms, r->plan_max_ms,
				       r->plan_runs);
			else
				printf(" %11s %9s %12s\n", "-", "-", "-");
			fflush(stdout);
		}
	js = fopen(argc > 1 ? argv[1] : "build/bench/solver.json", "w");
	if (!js) {
		perror("bench_solver: json");
		return 1;
	}
	fprintf(js, "{\"bench\": \"solver\", \"results\": [\n");
	for (size_t i = 0; i < nr; i++)
		fprintf(js, "  {\"chargers\": %zu, \"kind\": \"%s\", \"runs\": %d, \"median_us\": %.2f, "
			"\"p99_us\": %.2f, \"paused\": %d, \"glpk_ms\": %.3f, \"glpk_runs\": %d, "
			"\"ratio\": %.1f, \"max_diff_a\": %.3g, \"plan_runs\": %d, \"plan_median_ms\": %.3f, "
			"\"plan_max_ms\": %.3f}%s\n",
			rows[i].n, rows[i].kind, rows[i].runs, rows[i].median_us, rows[i].p99_us,
			rows[i].paused, rows[i].glpk_ms, rows[i].glpk_runs,
			rows[i].glpk_runs ? rows[i].glpk_ms * 1e3 / rows[i].median_us : 0,
			rows[i].max_diff_a, rows[i].plan_runs, rows[i].plan_median_ms, rows[i].plan_max_ms,
			i + 1 < nr ? "," : "");
	fprintf(js, "]}\n");
	return fclose(js) ? 1 : 0;
}
