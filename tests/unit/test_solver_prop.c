/* Property test of the solver on random sites: trees up to four levels, mixed one- and
 * three-phase chargers on random rotations, random limits, loads, draws, weights and link states.
 *
 * For every site: no node-phase or kW limit is exceeded, every charger gets 0 or at least its
 * minimum and never more than its cap, and, where admission paused nobody, the allocation equals
 * the weighted max-min fair optimum that GLPK computes level by level (tests/lib/maxmin-glpk.c)
 * within 0.1 A. Each site is solved again under every shipped policy with random rotation state
 * and deadlines, where the limits and minimums must still hold. AG_PROP_SITES sets the number of sites (100,000 by default: about 5 s under
 * ASan), AG_PROP_SEED the first seed; a failure names the seed that reproduces it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/site/solver.h"
#include "policies/policy.h"
#include "tests/lib/maxmin-glpk.c"

#define MAX_NODES 8
#define MAX_CHARGERS 12

static const char *const node_ids[MAX_NODES] = { "grid", "n1", "n2", "n3", "n4", "n5", "n6", "n7" };

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

static int pick(uint64_t *s, int n)
{
	return (int)(rnd(s) % (uint64_t)n);
}

/* A policy for the test: one class, weight = the charger's priority (1..3). */
static int weight_decide(const struct solver_input *in, int64_t now_ms, struct policy_decision *out)
{
	(void)now_ms;
	for (size_t i = 0; i < in->n_chargers; i++)
		out[i].weight = in->chargers[i].priority;
	return 0;
}

static const struct policy_ops weighted = { .name = "test-weighted", .decide = weight_decide };

struct site {
	struct solver_node nodes[MAX_NODES];
	struct solver_charger ch[MAX_CHARGERS];
	struct solver_input in;
};

static void random_site(uint64_t seed, struct site *st)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
	int depth[MAX_NODES] = { 0 }, m = 1 + pick(&s, MAX_NODES), n = 1 + pick(&s, MAX_CHARGERS);
	static const double mins[] = { 0, 6, 6, 6, 8, 10 };

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < m; i++) {
		struct solver_node *nd = &st->nodes[i];

		nd->id = node_ids[i];
		nd->parent = -1;
		if (i) {
			do
				nd->parent = pick(&s, i);
			while (depth[nd->parent] >= 3);
			depth[i] = depth[nd->parent] + 1;
		}
		for (int p = 0; p < 3; p++) {
			nd->limit_a[p] = pick(&s, 100) < 15 ? 0 : uni(&s, 10, 250);
			nd->non_ev_a[p] = pick(&s, 2) ? 0 : pick(&s, 10) ? uni(&s, 0, 40) : uni(&s, -20, 0);
		}
		nd->limit_kw = pick(&s, 100) < 30 ? uni(&s, 5, 150) : 0;
	}
	for (int i = 0; i < n; i++) {
		struct solver_charger *c = &st->ch[i];
		unsigned char r[3] = { 0, 1, 2 };
		int u = pick(&s, 100);

		for (int k = 2; k > 0; k--) {
			int j = pick(&s, k + 1);
			unsigned char tmp = r[k];

			r[k] = r[j];
			r[j] = tmp;
		}
		c->id = "cp";
		c->node = pick(&s, m);
		c->phases = pick(&s, 10) < 4 ? 1 : 3;
		memcpy(c->rotation, r, 3);
		c->min_a = mins[pick(&s, 6)];
		c->max_a = uni(&s, 6, 63);
		c->fallback_a = pick(&s, 2) ? 0 : uni(&s, 6, 16);
		c->link = u < 85 ? SOLVER_ONLINE : u < 90 ? SOLVER_SILENT : u < 95 ? SOLVER_OFFLINE
									: SOLVER_UNCONTROLLED;
		c->ev = pick(&s, 10) != 0;
		c->ev_limited = pick(&s, 5) == 0;
		for (int p = 0; p < c->phases && c->ev_limited; p++)
			c->draw_a[p] = pick(&s, 2) ? 0 : uni(&s, 0, c->max_a);
		c->priority = 1 + pick(&s, 3);
	}
	st->in = (struct solver_input){
		.nodes = st->nodes, .n_nodes = (size_t)m, .chargers = st->ch, .n_chargers = (size_t)n,
		.voltage_v = 230, .margin_a = uni(&s, 0, 3), .fallback_a = 6,
		.ev_slack_a = uni(&s, 0, 2), .grid_extra_w = pick(&s, 5) ? 0 : uni(&s, 0, 20000),
		.policy = &weighted,
	};
}

/* Limits hold and every charger is at 0 or within [min, cap]; 0 or fails the test. */
static void check_feasible(uint64_t seed, const struct site *st, const struct solver_result *out,
			   double *limit)
{
	for (size_t i = 0; i < st->in.n_chargers; i++) {
		const struct solver_charger *c = &st->ch[i];

		limit[i] = out[i].limit_a;
		if (c->link != SOLVER_ONLINE || !limit[i])
			continue;
		if (limit[i] < c->min_a - 1e-9 || limit[i] > mm_cap(&st->in, c) + 1e-9)
			fail_msg("seed %llu: charger %zu at %.4f A outside [%.1f, %.4f] (%s)",
				 (unsigned long long)seed, i, limit[i], c->min_a, mm_cap(&st->in, c),
				 out[i].binding);
	}
	if (mm_worst_excess(&st->in, limit) > 1e-6)
		fail_msg("seed %llu: a limit is exceeded by %.6f A (%s)", (unsigned long long)seed,
			 mm_worst_excess(&st->in, limit), st->in.policy->name);
}

/* The shipped policies, with random rotation state and deadlines: classes, admission order and
 * deferral change who gets what, never whether the limits hold. */
static void check_policies(struct solver *s, uint64_t seed, struct site *st)
{
	uint64_t r = seed ^ 0xA5A5A5A5ULL;
	struct solver_rotation rot[MAX_CHARGERS];
	struct solver_result out[MAX_CHARGERS];
	double limit[MAX_CHARGERS];
	const int64_t now = 10 * 3600 * 1000;

	for (size_t i = 0; i < st->in.n_chargers; i++) {
		rot[i].waiting_since_ms = pick(&r, 2) ? 0 : now - pick(&r, 1200) * 1000;
		rot[i].running_since_ms = rot[i].waiting_since_ms ? 0 : now - pick(&r, 1200) * 1000;
		st->ch[i].departure_ms = pick(&r, 2) ? 0 : now + pick(&r, 8 * 3600) * 1000;
		st->ch[i].energy_need_wh = uni(&r, 0, 60000);
	}
	st->in.max_wait_ms = 600 * 1000;
	st->in.min_run_ms = 120 * 1000;
	st->in.policy = policy_at(seed % 4);
	if (solver_run(s, &st->in, rot, now, out))
		fail_msg("seed %llu: solver_run failed (%s)", (unsigned long long)seed, st->in.policy->name);
	check_feasible(seed, st, out, limit);
}

static void test_random_sites(void **state)
{
	const char *env_n = getenv("AG_PROP_SITES"), *env_seed = getenv("AG_PROP_SEED");
	long sites = env_n ? atol(env_n) : 100000;
	uint64_t seed0 = env_seed ? strtoull(env_seed, NULL, 10) : 1;
	struct solver *s = solver_new(MAX_NODES, MAX_CHARGERS);
	long compared = 0;
	double worst_diff = 0;

	(void)state;
	assert_non_null(s);
	for (long k = 0; k < sites; k++) {
		struct site st;
		struct solver_result out[MAX_CHARGERS];
		double limit[MAX_CHARGERS], w[MAX_CHARGERS], x[MAX_CHARGERS];
		bool admitted[MAX_CHARGERS], paused = false;
		struct mm_problem p;
		uint64_t seed = seed0 + (uint64_t)k;

		random_site(seed, &st);
		if (solver_run(s, &st.in, NULL, 1, out))
			fail_msg("seed %llu: solver_run failed", (unsigned long long)seed);
		check_feasible(seed, &st, out, limit);
		for (size_t i = 0; i < st.in.n_chargers; i++) {
			const struct solver_charger *c = &st.ch[i];

			w[i] = c->priority;
			admitted[i] = c->link == SOLVER_ONLINE && c->ev && c->max_a > 0 && c->max_a >= c->min_a;
			paused |= out[i].bind == BIND_PAUSED_ROTATION || out[i].bind == BIND_PAUSED_NODE;
		}
		if (paused) {
			check_policies(s, seed, &st);
			continue;
		}
		assert_int_equal(mm_build(&st.in, admitted, w, &p), 0);
		if (mm_solve_glpk(&p, x))
			fail_msg("seed %llu: GLPK found no optimum", (unsigned long long)seed);
		for (size_t v = 0; v < p.n; v++) {
			double d = fabs(x[v] - limit[p.var_of[v]]);

			if (d > worst_diff)
				worst_diff = d;
			if (d > 0.1)
				fail_msg("seed %llu: charger %d: solver %.4f A (%s), GLPK %.4f A",
					 (unsigned long long)seed, p.var_of[v], limit[p.var_of[v]],
					 out[p.var_of[v]].binding, x[v]);
		}
		mm_free(&p);
		compared++;
		check_policies(s, seed, &st);
	}
	solver_free(s);
	printf("%ld sites, %ld compared with GLPK (admission paused nobody), largest difference %.2g A\n",
	       sites, compared, worst_diff);
	assert_true(compared * 3 >= sites);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_sites),
	};

	glp_term_out(GLP_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
