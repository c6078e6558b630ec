/* The departure hedge; see plan-hedge.h. */
#include "policies/plan-hedge.h"

#include <stdlib.h>
#include <string.h>

void plan_hedge_note(struct plan_hedge *h, int64_t told_ms, int64_t left_ms)
{
	h->early_ms[h->next] = told_ms > left_ms ? told_ms - left_ms : 0;
	h->next = (h->next + 1) % PLAN_HEDGE_SAMPLES;
	if (h->n < PLAN_HEDGE_SAMPLES)
		h->n++;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int64_t plan_hedge_early_ms(const struct plan_hedge *h)
{
	int64_t v[PLAN_HEDGE_SAMPLES];

	if (!h->n)
		return 0;
	memcpy(v, h->early_ms, h->n * sizeof(*v));
	qsort(v, h->n, sizeof(*v), cmp_i64);
	return v[(size_t)(PLAN_HEDGE_QUANTILE * (double)(h->n - 1) + 0.5)];
}
