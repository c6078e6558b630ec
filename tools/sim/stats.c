/* Message statistics. The decision to know: latencies are kept as every sample (4 bytes each,
 * microseconds) rather than in a histogram; a 1,000-station run for an hour is a few million
 * samples, and exact percentiles are worth the memory for a benchmark tool. */
#include "tools/sim/stats.h"

#include <stdlib.h>
#include <string.h>

#define STATS_MAX_ACTIONS 48

struct samples {
	uint32_t *us;
	size_t n, cap;
};

struct action_stats {
	char name[40];
	uint64_t sent, ok, error, timeout, csms;
	struct samples rtt;
};

struct stats {
	size_t n;
	struct action_stats a[STATS_MAX_ACTIONS];
};

struct stats *stats_new(void)
{
	return calloc(1, sizeof(struct stats));
}

void stats_free(struct stats *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->a[i].rtt.us);
	free(s);
}

static struct action_stats *find(struct stats *s, const char *action)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->a[i].name, action))
			return &s->a[i];
	if (s->n == STATS_MAX_ACTIONS)
		return &s->a[STATS_MAX_ACTIONS - 1];    /* unknown actions beyond the table share a row */
	snprintf(s->a[s->n].name, sizeof(s->a[0].name), "%s", action);
	return &s->a[s->n++];
}

static void samples_add(struct samples *sm, uint64_t us)
{
	if (sm->n == sm->cap) {
		size_t cap = sm->cap ? sm->cap * 2 : 256;
		uint32_t *p = realloc(sm->us, cap * sizeof(*p));
		if (!p)
			return;
		sm->us = p;
		sm->cap = cap;
	}
	sm->us[sm->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

void stats_call_sent(struct stats *s, const char *action)
{
	find(s, action)->sent++;
}

void stats_call_ok(struct stats *s, const char *action, uint64_t rtt_us)
{
	struct action_stats *a = find(s, action);

	a->ok++;
	samples_add(&a->rtt, rtt_us);
}

void stats_call_error(struct stats *s, const char *action)
{
	find(s, action)->error++;
}

void stats_call_timeout(struct stats *s, const char *action)
{
	find(s, action)->timeout++;
}

void stats_csms_call(struct stats *s, const char *action)
{
	find(s, action)->csms++;
}

void stats_drop_samples(struct stats *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->a[i].rtt.n = 0;
}

uint64_t stats_total_sent(const struct stats *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->a[i].sent;
	return n;
}

uint64_t stats_total_errors(const struct stats *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->a[i].error + s->a[i].timeout;
	return n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in ms. */
static double pct_ms(const struct samples *sm, double p)
{
	size_t k;

	if (!sm->n)
		return 0.0;
	k = (size_t)(p / 100.0 * (double)sm->n + 0.999999);
	k = k ? k - 1 : 0;
	return sm->us[k < sm->n ? k : sm->n - 1] / 1000.0;
}

static json_t *row(uint64_t sent, uint64_t ok, uint64_t err, uint64_t tmo, struct samples *sm)
{
	qsort(sm->us, sm->n, sizeof(*sm->us), cmp_u32);
	return json_pack("{sIsIsIsIsfsfsf}", "sent", (json_int_t)sent, "ok", (json_int_t)ok, "error",
			 (json_int_t)err, "timeout", (json_int_t)tmo, "p50_ms", pct_ms(sm, 50), "p99_ms",
			 pct_ms(sm, 99), "max_ms", sm->n ? sm->us[sm->n - 1] / 1000.0 : 0.0);
}

json_t *stats_to_json(struct stats *s)
{
	json_t *calls = json_object(), *csms = json_object();
	struct samples all = { 0 };
	uint64_t sent = 0, ok = 0, err = 0, tmo = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct action_stats *a = &s->a[i];
		if (a->csms)
			json_object_set_new(csms, a->name, json_integer((json_int_t)a->csms));
		if (!a->sent)
			continue;
		for (size_t j = 0; j < a->rtt.n; j++)
			samples_add(&all, a->rtt.us[j]);
		json_object_set_new(calls, a->name, row(a->sent, a->ok, a->error, a->timeout, &a->rtt));
		sent += a->sent;
		ok += a->ok;
		err += a->error;
		tmo += a->timeout;
	}
	json_t *r = json_pack("{sososo}", "calls", calls, "all", row(sent, ok, err, tmo, &all), "csms_calls", csms);
	free(all.us);
	return r;
}
