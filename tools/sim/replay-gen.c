/* Generated days for the replay, placed on the configuration's chargers: a depot day
 * (overnight fleet vehicles, daytime turnarounds and visitors) or a workplace day (staff cars,
 * mostly single-phase ~7 kW, in at 7-10 h and out at 15-19 h, a few short visits).
 *
 * Key design decision: the generator plays the car park, not the grid: each vehicle takes a
 * charger that is free when it arrives (or waits for the first one that frees up, and leaves no
 * earlier than 30 min after plugging in), so the file it writes never puts two cars on one
 * charger and replays as it is. Energy comes from what each kind of vehicle uses in a day and
 * what its battery can take; the grid's limits play no part, that is the replay's job. */
#include "tools/sim/replay.h"
#include "tools/sim/ocpp-msg.h"
#include "tools/sim/rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL

enum kind { FLEET, TURNAROUND, VISITOR, STAFF };

struct gen_session {
	int64_t arrival_ms, departure_ms;
	double energy_kwh, battery_kwh, max_a, soc;
	int phases, charger;
	enum kind kind;
};

static int cmp_gen(const void *a, const void *b)
{
	const struct gen_session *x = a, *y = b;

	return x->arrival_ms < y->arrival_ms ? -1 : x->arrival_ms > y->arrival_ms;
}

/* Roughly normal (sum of three uniforms) around `mean` with spread `sd`. */
static double bell(struct rng *r, double mean, double sd)
{
	return mean + sd * (rng_unit(r) + rng_unit(r) + rng_unit(r) - 1.5) * 2.0;
}

static void make(struct gen_session *s, enum kind kind, struct rng *r)
{
	s->kind = kind;
	s->phases = rng_unit(r) < (kind == VISITOR ? 0.25 : kind == STAFF ? 0.8 : 0.05) ? 1 : 3;
	s->max_a = kind == STAFF && s->phases == 1 ? 29.0 : rng_unit(r) < 0.5 ? 16.0 : 32.0;
	switch (kind) {
	case FLEET:             /* back from the rounds in the evening, out again at dawn */
		s->battery_kwh = rng_range(r, 60, 110);
		s->arrival_ms = REPLAY_DAY0_MS + (int64_t)(bell(r, 18.0, 1.5) * HOUR_MS);
		s->departure_ms = REPLAY_DAY0_MS + 24 * HOUR_MS + (int64_t)(bell(r, 6.0, 0.75) * HOUR_MS);
		s->soc = rng_range(r, 0.10, 0.45);
		s->energy_kwh = s->battery_kwh * (rng_range(r, 0.85, 1.0) - s->soc);
		break;
	case TURNAROUND:        /* a top-up between shifts */
		s->battery_kwh = rng_range(r, 50, 90);
		s->arrival_ms = REPLAY_DAY0_MS + (int64_t)(rng_range(r, 6.0, 19.0) * HOUR_MS);
		s->departure_ms = s->arrival_ms + (int64_t)(rng_range(r, 0.75, 2.5) * HOUR_MS);
		s->soc = rng_range(r, 0.20, 0.50);
		s->energy_kwh = s->battery_kwh * rng_range(r, 0.10, 0.35);
		break;
	case STAFF:             /* a working day plugged in; most want 10-30 kWh */
		s->battery_kwh = rng_range(r, 40, 80);
		s->arrival_ms = REPLAY_DAY0_MS + (int64_t)(bell(r, 8.5, 1.0) * HOUR_MS);
		s->departure_ms = s->arrival_ms + (int64_t)(bell(r, 8.0, 1.5) * HOUR_MS);
		s->soc = rng_range(r, 0.15, 0.60);
		s->energy_kwh = s->battery_kwh * rng_range(r, 0.15, 0.45);
		break;
	case VISITOR:           /* staff and visitor cars during office hours */
		s->battery_kwh = rng_range(r, 40, 80);
		s->arrival_ms = REPLAY_DAY0_MS + (int64_t)(bell(r, 11.0, 2.5) * HOUR_MS);
		s->departure_ms = s->arrival_ms + (int64_t)(rng_range(r, 0.5, 5.0) * HOUR_MS);
		s->soc = rng_range(r, 0.20, 0.60);
		s->energy_kwh = s->battery_kwh * rng_range(r, 0.05, 0.35);
		break;
	}
	s->arrival_ms -= s->arrival_ms % MIN_MS;
	s->departure_ms -= s->departure_ms % MIN_MS;
}

/* Each vehicle on a free charger (a random one), or the first to free up. A driver asks no more
 * than the car could take at 80 % of its on-board power (at 230 V) while it stays. */
static void park(struct gen_session *s, size_t n, size_t n_ch, struct rng *r)
{
	int64_t *free_at = calloc(n_ch, sizeof(*free_at));

	if (!free_at)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t first = 0, pick = n_ch, seen = 0;

		for (size_t c = 0; c < n_ch; c++) {
			if (free_at[c] < free_at[first])
				first = c;
			if (free_at[c] <= s[i].arrival_ms && rng_unit(r) * (double)++seen < 1.0)
				pick = c;       /* reservoir pick among the free ones */
		}
		if (pick == n_ch) {
			pick = first;
			s[i].arrival_ms = free_at[first] + 2 * MIN_MS;
			if (s[i].departure_ms < s[i].arrival_ms + 30 * MIN_MS)
				s[i].departure_ms = s[i].arrival_ms + 30 * MIN_MS;
		}
		s[i].charger = (int)pick;
		free_at[pick] = s[i].departure_ms;
		s[i].energy_kwh = fmin(s[i].energy_kwh, 0.8 * s[i].max_a * s[i].phases * 0.23 *
						(double)(s[i].departure_ms - s[i].arrival_ms) / HOUR_MS);
	}
	free(free_at);
}

int replay_generate(const struct ag_config *cfg, size_t n, uint64_t seed, FILE *out)
{
	return replay_generate_day(cfg, REPLAY_DAY_DEPOT, n, seed, out);
}

static enum kind pick(enum replay_day day, size_t i, size_t n_fleet, struct rng *r)
{
	if (day == REPLAY_DAY_WORKPLACE)
		return rng_unit(r) < 0.85 ? STAFF : VISITOR;
	return i < n_fleet ? FLEET : rng_unit(r) < 0.45 ? TURNAROUND : VISITOR;
}

int replay_generate_day(const struct ag_config *cfg, enum replay_day day, size_t n, uint64_t seed, FILE *out)
{
	struct gen_session *s = calloc(n ? n : 1, sizeof(*s));
	size_t n_fleet = (size_t)(0.6 * (double)cfg->n_chargers);
	struct rng r;

	if (!s)
		return -ENOMEM;
	if (!cfg->n_chargers) {
		free(s);
		return -EINVAL;
	}
	rng_seed(&r, seed);
	if (n_fleet > n / 3 || day != REPLAY_DAY_DEPOT)
		n_fleet = day == REPLAY_DAY_DEPOT ? n / 3 : 0;
	for (size_t i = 0; i < n; i++)
		make(&s[i], pick(day, i, n_fleet, &r), &r);
	qsort(s, n, sizeof(*s), cmp_gen);
	park(s, n, cfg->n_chargers, &r);
	if (day == REPLAY_DAY_DEPOT)
		fprintf(out, "# A generated depot day (ampgate-sim replay --generate %zu --seed %llu) on the %zu chargers of %s:\n"
			     "# %zu overnight fleet vehicles, then daytime turnarounds and visitors.\n",
			n, (unsigned long long)seed, cfg->n_chargers, cfg->file, n_fleet);
	else
		fprintf(out, "# A generated workplace day (ampgate-sim replay --generate %zu --day workplace --seed %llu) on the\n"
			     "# %zu chargers of %s: staff cars in the morning, out in the evening, a few visitors.\n",
			n, (unsigned long long)seed, cfg->n_chargers, cfg->file);
	fprintf(out, "charger,arrival,departure,energy_kwh,max_a,phases,battery_kwh,arrival_soc_pct\n");
	for (size_t i = 0; i < n; i++) {
		char a[40], d[40];

		ocpp_time_format(s[i].arrival_ms, a, sizeof(a));
		ocpp_time_format(s[i].departure_ms, d, sizeof(d));
		fprintf(out, "%s,%.19sZ,%.19sZ,%.2f,%.0f,%d,%.1f,%.0f\n", cfg->chargers[s[i].charger].id, a, d,
			s[i].energy_kwh, s[i].max_a, s[i].phases, s[i].battery_kwh, s[i].soc * 100.0);
	}
	free(s);
	return ferror(out) ? -EIO : 0;
}
