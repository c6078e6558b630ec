/* What the planner learns from the database; see site-learn.h. */
#include "edge/site/site-learn.h"
#include "edge/core/clock.h"
#include "edge/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE_STAY_DAYS 14               /* stays are read from the sessions of the last two weeks */
#define SITE_STAY_SAID_MS (10 * 60000)  /* a stay is logged when it moves by this much, */
#define SITE_STAY_SAID_MAX 5            /* one line each for this many chargers a reading, then a count */

/* How early the last PLAN_HEDGE_SAMPLES sessions that gave a departure left: the newest first
 * through the start_ms index, a few rows. */
static void learn_departures(struct site_learned *l, sqlite3 *db)
{
	sqlite3_stmt *q;
	int64_t early;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT departure_ms, stop_ms FROM transactions WHERE departure_ms IS NOT NULL "
			       "AND stop_ms IS NOT NULL AND stop_reason = 'stopped' ORDER BY start_ms DESC LIMIT ?1",
			       -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: cannot read when drivers left: %s", sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_int(q, 1, PLAN_HEDGE_SAMPLES);
	memset(&l->hedge, 0, sizeof(l->hedge));
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		plan_hedge_note(&l->hedge, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1));
	if (rc != SQLITE_DONE)
		log_msg(LL_ERROR, "database: cannot read when drivers left: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
	early = plan_hedge_early_ms(&l->hedge);
	if (llabs(early - l->early_ms) >= 60000) {      /* said when it moves by a minute or more */
		log_msg(LL_NOTICE, "plan: of the last %zu sessions that gave a departure, %.0f %% left at most %lld min before "
			"it: each EV is planned to finish that much early", l->hedge.n, PLAN_HEDGE_QUANTILE * 100,
			(long long)(early / 60000));
		l->early_ms = early;
	}
}

int64_t site_median_ms(const int64_t *ms, size_t n)
{
	if (!n)
		return 0;
	return n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
}

static void free_stays(struct site_stay *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].charger_id);
	free(s);
}

/* Charger id's stay from its samples, appended to *out when it has enough; the site manager is
 * told when it is new or moved (against the stays learnt before, `old`; *said counts the lines). */
static int add_stay(struct site_stay **out, size_t *n, const char *id, const int64_t *ms, size_t k,
		    const struct site_learned *old, size_t *said)
{
	struct site_stay *grown, *s;
	int64_t before;

	if (k < SITE_STAY_MIN)
		return 0;
	if (!(grown = realloc(*out, (*n + 1) * sizeof(**out))))
		return -1;
	*out = grown;
	s = &grown[*n];
	*s = (struct site_stay){ .charger_id = strdup(id), .stay_ms = site_median_ms(ms, k), .sessions = k };
	if (!s->charger_id)
		return -1;
	(*n)++;
	before = site_learned_stay_ms(old, id);
	if ((!before || llabs(before - s->stay_ms) >= SITE_STAY_SAID_MS) && ++*said <= SITE_STAY_SAID_MAX)
		log_msg(LL_NOTICE, "plan: an EV at charger %s that gives no departure is planned to stay %.1f h, as its last "
			"%zu sessions did (median)", id, (double)s->stay_ms / 3.6e6, k);
	return 0;
}

/* Each charger's last SITE_STAY_SAMPLES stays of the last SITE_STAY_DAYS, grouped by charger and
 * sorted, so the stays learnt come in charger order (site_learned_stay_ms searches them) and each
 * charger's samples in the order its median wants. */
static void learn_stays(struct site_learned *l, sqlite3 *db, int64_t now_ms)
{
	sqlite3_stmt *q;
	struct site_stay *stay = NULL;
	size_t n = 0, k = 0, said = 0;
	int64_t ms[SITE_STAY_SAMPLES];
	char id[128] = "";
	int rc = SQLITE_OK, bad = 0;

	if (sqlite3_prepare_v2(db, "SELECT charger_id, stop_ms - start_ms FROM (SELECT charger_id, start_ms, stop_ms, "
			       "row_number() OVER (PARTITION BY charger_id ORDER BY start_ms DESC) AS k FROM transactions "
			       "WHERE start_ms >= ?1 AND stop_ms > start_ms AND stop_reason = 'stopped') WHERE k <= ?2 "
			       "ORDER BY charger_id, stop_ms - start_ms", -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: cannot read how long EVs stayed: %s", sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_int64(q, 1, now_ms - SITE_STAY_DAYS * 86400000LL);
	sqlite3_bind_int(q, 2, SITE_STAY_SAMPLES);
	while (!bad && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(q, 0);

		if (!c)
			continue;
		if (strcmp(c, id) != 0) {
			bad = add_stay(&stay, &n, id, ms, k, l, &said);
			snprintf(id, sizeof(id), "%s", c);
			k = 0;
		}
		if (k < SITE_STAY_SAMPLES)
			ms[k++] = sqlite3_column_int64(q, 1);
	}
	bad = bad || add_stay(&stay, &n, id, ms, k, l, &said);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		log_msg(LL_ERROR, "database: cannot read how long EVs stayed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
	if (bad) {
		log_msg(LL_ERROR, "plan: out of memory learning how long EVs stay; the last stays learnt hold");
		free_stays(stay, n);
		return;
	}
	if (said > SITE_STAY_SAID_MAX)
		log_msg(LL_NOTICE, "plan: a stay for EVs that give no departure was learnt or moved at %zu more chargers "
			"(%zu chargers have one)", said - SITE_STAY_SAID_MAX, n);
	free_stays(l->stay, l->n_stay);
	l->stay = stay;
	l->n_stay = n;
}

void site_learn(struct site_learned *l, struct store *store)
{
	sqlite3 *db = store ? store_db(store) : NULL;

	if (!db)
		return;
	learn_departures(l, db);
	learn_stays(l, db, wall_ms());
}

static int cmp_stay(const void *key, const void *elem)
{
	return strcmp(key, ((const struct site_stay *)elem)->charger_id);
}

/* A binary search: the planner asks for every EV without a departure at each plan, on the loop
 * thread. The stays are in the database's BINARY order of charger ids, which is strcmp's. */
const struct site_stay *site_learned_stay(const struct site_learned *l, const char *charger_id)
{
	return charger_id && l->n_stay ? bsearch(charger_id, l->stay, l->n_stay, sizeof(*l->stay), cmp_stay) : NULL;
}

int64_t site_learned_stay_ms(const struct site_learned *l, const char *charger_id)
{
	const struct site_stay *s = site_learned_stay(l, charger_id);

	return s ? s->stay_ms : 0;
}

void site_learned_free(struct site_learned *l)
{
	free_stays(l->stay, l->n_stay);
	*l = (struct site_learned){ 0 };
}
