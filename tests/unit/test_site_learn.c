/* What the planner learns from finished sessions (site-learn.c), on an in-memory store: each
 * charger's stay is the median of its last SITE_STAY_SAMPLES sessions that the charger stopped,
 * of the last SITE_STAY_DAYS, once it has SITE_STAY_MIN of them; sessions the edge closed itself
 * and older ones do not count; and how early drivers left, as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "edge/core/clock.h"
#include "edge/site/site-learn.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)

static void session(struct store *st, const char *id, int k, int64_t start_ms, int64_t stay_ms, const char *reason,
		    int64_t departure_ms)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "INSERT INTO transactions (charger_id, tx_id, connector, start_ms, stop_ms, stop_reason, "
		 "departure_ms) VALUES ('%s', 'tx-%d', 1, %lld, %lld, '%s', %s%lld)", id, k, (long long)start_ms,
		 (long long)(start_ms + stay_ms), reason, departure_ms ? "" : "NULL + ", (long long)departure_ms);
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
}

static void test_stay_is_the_median_of_recent_stopped_sessions(void **state)
{
	struct store *st = store_open(":memory:");
	struct site_learned l = { 0 };
	int64_t now = wall_ms();

	(void)state;
	assert_non_null(st);
	/* CP1: stays of 1..7 h, 22 sessions in all, the newest 20 counting (the two oldest, of 1 h, would
	 * make the median 3.5 h) */
	for (int i = 0; i < 22; i++)
		session(st, "CP1", i, now - (i + 1) * HOUR_MS * 12, (i < 20 ? 1 + i % 7 : 1) * HOUR_MS, "stopped", 0);
	/* CP2: four sessions the charger stopped (below SITE_STAY_MIN), six the edge closed itself */
	for (int i = 0; i < 10; i++)
		session(st, "CP2", i, now - (i + 1) * DAY_MS / 2, 2 * HOUR_MS, i < 4 ? "stopped" : "edge", 0);
	/* CP3: five stays of 30 min, but a month old; five of 90 min this week */
	for (int i = 0; i < 10; i++)
		session(st, "CP3", i, now - (i < 5 ? 30 : 1) * DAY_MS - i * HOUR_MS, (i < 5 ? 30 : 90) * 60000LL, "stopped", 0);
	site_learn(&l, st);
	/* 1..7 h cycling over 20 sessions: 1,2,3,4,5,6,7 x2 then 1..6: sorted, the 10th and 11th are 4 h */
	assert_int_equal(site_learned_stay_ms(&l, "CP1"), 4 * HOUR_MS);
	assert_int_equal(site_learned_stay_ms(&l, "CP2"), 0);
	assert_int_equal(site_learned_stay_ms(&l, "CP3"), 90 * 60000LL);
	assert_int_equal(site_learned_stay_ms(&l, "CP4"), 0);
	assert_int_equal(l.n_stay, 2);
	site_learned_free(&l);
	store_close(st);
}

static void test_median(void **state)
{
	const int64_t odd[] = { 1, 3, 5 }, even[] = { 1, 2, 3, 4 };

	(void)state;
	assert_int_equal(site_median_ms(odd, 3), 3);
	assert_int_equal(site_median_ms(even, 4), 2);   /* (2 + 3) / 2, in whole ms */
	assert_int_equal(site_median_ms(NULL, 0), 0);
}

/* How early drivers left still comes from the sessions that gave a departure. */
static void test_departures_still_learnt(void **state)
{
	struct store *st = store_open(":memory:");
	struct site_learned l = { 0 };
	int64_t now = wall_ms();

	(void)state;
	for (int i = 0; i < 10; i++)      /* each left an hour before it said */
		session(st, "CP9", i, now - DAY_MS + i * HOUR_MS, HOUR_MS, "stopped", now - DAY_MS + i * HOUR_MS + 2 * HOUR_MS);
	site_learn(&l, st);
	assert_int_equal(plan_hedge_early_ms(&l.hedge), HOUR_MS);
	assert_int_equal(site_learned_stay_ms(&l, "CP9"), HOUR_MS);
	site_learned_free(&l);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stay_is_the_median_of_recent_stopped_sessions),
		cmocka_unit_test(test_median),
		cmocka_unit_test(test_departures_still_learnt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
