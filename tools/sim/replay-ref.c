/* Reference allocations for the replay: the textbook `edf` (earliest departure first) and `llf`
 * (least laxity first). Every step, EVs are sorted by departure or by laxity and each in turn is
 * given as much as fits up to its cap, along every node-phase and kW limit on its path; an EV
 * that would get less than its minimum gets 0 (the 6 A rule) and the next one is tried.
 *
 * Key design decision: these do not go through solver_run. They are the yardstick the daemon's
 * policies are measured against, so they share nothing with the solver but the headroom rule
 * (limit - margin - non-EV load, the larger of a node's own reading and its children's sum) and
 * what the solver is told about each EV (solver_cap_a, solver_phase_mask, policy_laxity_ms). */
#include "tools/sim/replay.h"
#include "policies/policy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { HK_KW = 3, HK = 4 };             /* headroom slots per node: L1..L3 in A, kW in W */

struct replay_ref {
	const char *name;
	bool laxity;                    /* llf; edf sorts by departure */
	size_t n_nodes, n_ch;
	double *head;                   /* n_nodes * HK */
	double *nv;                     /* n_nodes * 3: effective non-EV load */
	double *key;                    /* per charger */
	size_t *order;
};

static int cmp_key(const void *a, const void *b, void *arg)
{
	const double *key = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (key[x] != key[y])
		return key[x] < key[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

bool replay_ref_known(const char *name)
{
	return name && (!strcmp(name, "edf") || !strcmp(name, "llf"));
}

struct replay_ref *replay_ref_new(const char *name, size_t n_nodes, size_t n_ch)
{
	struct replay_ref *r;

	if (!replay_ref_known(name) || !(r = calloc(1, sizeof(*r))))
		return NULL;
	r->name = !strcmp(name, "edf") ? "edf" : "llf";
	r->laxity = !strcmp(name, "llf");
	r->n_nodes = n_nodes;
	r->n_ch = n_ch;
	r->head = calloc(n_nodes * HK + 1, sizeof(double));
	r->nv = calloc(n_nodes * 3 + 1, sizeof(double));
	r->key = calloc(n_ch + 1, sizeof(double));
	r->order = calloc(n_ch + 1, sizeof(size_t));
	if (!r->head || !r->nv || !r->key || !r->order) {
		replay_ref_free(r);
		return NULL;
	}
	return r;
}

void replay_ref_free(struct replay_ref *r)
{
	if (!r)
		return;
	free(r->head);
	free(r->nv);
	free(r->key);
	free(r->order);
	free(r);
}

const char *replay_ref_name(const struct replay_ref *r)
{
	return r->name;
}

/* Headroom of every node as the solver computes it (edge/solver.c set_headroom). */
static void headroom(struct replay_ref *r, const struct solver_input *in)
{
	double *nv = r->nv, v = in->voltage_v;

	replay_effective_load(in->nodes, in->n_nodes, nv);
	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct solver_node *nd = &in->nodes[i];
		double extra_w = i == 0 ? fmax(0, in->grid_extra_w) : 0, *h = &r->head[i * HK];
		const double *n3 = &nv[i * 3];

		for (int p = 0; p < 3; p++)
			h[p] = nd->limit_a[p] > 0 ? nd->limit_a[p] - in->margin_a - n3[p] + extra_w / (3 * v) : HUGE_VAL;
		h[HK_KW] = nd->limit_kw > 0 ? nd->limit_kw * 1000.0 + extra_w - v * (n3[0] + n3[1] + n3[2] + 3 * in->margin_a)
					    : HUGE_VAL;
	}
}

/* Most current per phase charger c can take along its path (phases in `mask`, `nph` of them). */
static double room_a(const struct replay_ref *r, const struct solver_input *in, int node, unsigned mask, int nph)
{
	double room = HUGE_VAL;

	for (int k = node; k >= 0; k = in->nodes[k].parent) {
		const double *h = &r->head[(size_t)k * HK];

		for (int p = 0; p < 3; p++)
			if (mask & (1u << p))
				room = fmin(room, h[p]);
		room = fmin(room, h[HK_KW] / (in->voltage_v * nph));
	}
	return room;
}

static void take(struct replay_ref *r, const struct solver_input *in, int node, unsigned mask, int nph, double a)
{
	for (int k = node; k >= 0; k = in->nodes[k].parent) {
		double *h = &r->head[(size_t)k * HK];

		for (int p = 0; p < 3; p++)
			if (mask & (1u << p))
				h[p] -= a;
		h[HK_KW] -= a * in->voltage_v * nph;
	}
}

int replay_ref_allocate(struct replay_ref *r, const struct solver_input *in, int64_t now_ms, struct solver_result *out)
{
	size_t n = 0;

	if (in->n_nodes > r->n_nodes || in->n_chargers > r->n_ch)
		return -E2BIG;
	headroom(r, in);
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];

		memset(&out[i], 0, sizeof(out[i]));
		out[i].node = out[i].phase = -1;
		if (!c->ev)
			continue;
		if (r->laxity) {
			int64_t lax = policy_laxity_ms(in, c, now_ms);

			r->key[i] = lax == INT64_MAX ? HUGE_VAL : (double)lax;
		} else {
			r->key[i] = c->departure_ms > 0 ? (double)c->departure_ms : HUGE_VAL;
		}
		r->order[n++] = i;
	}
	qsort_r(r->order, n, sizeof(*r->order), cmp_key, r->key);
	for (size_t q = 0; q < n; q++) {
		const struct solver_charger *c = &in->chargers[r->order[q]];
		unsigned mask = solver_phase_mask(c);
		int nph = __builtin_popcount(mask);
		double a = fmin(solver_cap_a(in, c), room_a(r, in, c->node, mask, nph));

		if (!(a >= c->min_a) || !(a > 0))
			continue;       /* 0 or at least the minimum */
		out[r->order[q]].limit_a = a;
		take(r, in, c->node, mask, nph, a);
	}
	return 0;
}
