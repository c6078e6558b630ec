/* Reference allocations for the replay: the textbook `edf` (earliest departure first) and `llf`
 * (least laxity first). Every step, EVs are sorted by departure or by laxity and each in turn is
 * given as much as fits up to its cap, along every node-phase and kW limit on its path; an EV
 * that would get less than its minimum gets 0 (the 6 A rule) and the next one is tried
 * (policy_fill_in_order).
 *
 * Key design decision: these do not go through solver_run (no admission rotation, no fair
 * sharing within a class): they are the yardstick the daemon's policies are measured against,
 * and see exactly what the solver is told about each EV (solver_cap_a, solver_phase_mask,
 * policy_laxity_ms). */
#include "tools/sim/replay.h"
#include "policies/policy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct replay_ref {
	const char *name;
	bool laxity;                    /* llf; edf sorts by departure */
	size_t n_ch;
	double *key;                    /* per charger */
	double *a;
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

struct replay_ref *replay_ref_new(const char *name, size_t n_ch)
{
	struct replay_ref *r;

	if (!replay_ref_known(name) || !(r = calloc(1, sizeof(*r))))
		return NULL;
	r->name = !strcmp(name, "edf") ? "edf" : "llf";
	r->laxity = !strcmp(name, "llf");
	r->n_ch = n_ch;
	r->key = calloc(n_ch + 1, sizeof(double));
	r->a = calloc(n_ch + 1, sizeof(double));
	r->order = calloc(n_ch + 1, sizeof(size_t));
	if (!r->key || !r->a || !r->order) {
		replay_ref_free(r);
		return NULL;
	}
	return r;
}

void replay_ref_free(struct replay_ref *r)
{
	if (!r)
		return;
	free(r->key);
	free(r->a);
	free(r->order);
	free(r);
}

const char *replay_ref_name(const struct replay_ref *r)
{
	return r->name;
}

int replay_ref_allocate(struct replay_ref *r, const struct solver_input *in, int64_t now_ms, struct solver_result *out)
{
	struct policy_fill f;
	size_t n = 0;
	int rc;

	if (in->n_chargers > r->n_ch)
		return -E2BIG;
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];

		memset(&out[i], 0, sizeof(out[i]));
		out[i].node = out[i].phase = -1;
		r->a[i] = 0;
		if (!c->ev || c->link != SOLVER_ONLINE)
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
	if ((rc = policy_fill_init(&f, in)) == 0)
		rc = policy_fill_in_order(&f, r->order, n, 0, n, r->a);
	policy_fill_fini(&f);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < in->n_chargers; i++)
		out[i].limit_a = r->a[i];
	return 0;
}
