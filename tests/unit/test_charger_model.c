/* The charger model's writes to the store: what a StatusNotification writes (the connector row,
 * older session records closed) goes into the store's grouped commit, not a transaction and an
 * fsync each; an answer that leaves in the same turn is preceded by the commit (the edge's own
 * answer always, the CSMS's when the charger's rows are still in the open batch). Includes
 * charger-model.c to reach its statics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/ocpp/charger-model.c"
#include "edge/core/store.h"

#include <stdlib.h>
#include <string.h>

enum { N = 3 };

struct rig {
	struct ag_daemon d;
	struct ag_config cfg;
	struct cfg_charger cc[N];
	struct proxy p;
	struct charger *list[N];
	sqlite3 *db;
	int commits;
};

static long long q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	long long v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static int count_commit(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static struct rig *rig_new(void)
{
	static char ids[N][4] = { "CP0", "CP1", "CP2" };
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->cfg.auth.offline = "known";
	for (int i = 0; i < N; i++) {
		r->cc[i] = (struct cfg_charger){ .id = ids[i], .phases = 3, .max_a = 32 };
		r->list[i] = charger_new(ids[i], &r->cc[i]);
		r->list[i]->proxy = &r->p;
		r->list[i]->index = (size_t)i;
		r->list[i]->version = OCPP16;
	}
	r->p.d = &r->d;
	r->p.chargers = r->list;
	r->p.n_chargers = N;
	r->d.cfg = &r->cfg;
	r->d.proxy = &r->p;
	r->d.store = store_open(":memory:");
	assert_non_null(r->d.store);
	r->db = store_db(r->d.store);
	assert_int_equal(charger_model_load(&r->p), 0);
	store_commit(r->d.store);
	sqlite3_commit_hook(r->db, count_commit, &r->commits);
	return r;
}

static void rig_free(struct rig *r)
{
	sqlite3_commit_hook(r->db, NULL, NULL);
	charger_model_unload(&r->p);
	store_close(r->d.store);
	for (int i = 0; i < N; i++)
		charger_free(r->list[i]);
	free(r);
}

/* The charger's CALL `text`, as the proxy hands it to the model. */
static void call(struct rig *r, struct charger *ch, const char *text)
{
	struct ocpp_frame f;

	assert_int_equal(ocpp_frame_parse(text, strlen(text), &f), REJECT_NONE);
	charger_model_call(&r->p, ch, &f);
	ocpp_frame_fini(&f);
}

#define AVAILABLE "[2,\"1\",\"StatusNotification\",{\"connectorId\":1,\"status\":\"Available\",\"errorCode\":\"NoError\"}]"
#define FAULTED "[2,\"2\",\"StatusNotification\",{\"connectorId\":1,\"status\":\"Faulted\",\"errorCode\":\"GroundFailure\"}]"

/* A reconnect storm in one turn: every charger's statuses, one commit at the end of the turn
 * (before: the audit batch committed and the row in a transaction of its own, two each). */
static void test_statuses_in_one_commit(void **state)
{
	struct rig *r = rig_new();
	(void)state;

	for (int i = 0; i < N; i++) {
		call(r, r->list[i], AVAILABLE);
		call(r, r->list[i], FAULTED);
	}
	assert_int_equal(r->commits, 0);
	assert_int_equal(q1(r->db, "SELECT count(*) FROM connectors WHERE status = 'Faulted' AND error_code = 'GroundFailure'"),
			 N);
	assert_int_equal(store_commit(r->d.store), 0);
	assert_int_equal(r->commits, 1);
	assert_int_equal(q1(r->db, "SELECT count(*) FROM connectors"), N);
	rig_free(r);
}

/* Available closes the session records still open on the connector, in the same batch. */
static void test_available_closes_records_in_batch(void **state)
{
	struct rig *r = rig_new();
	(void)state;

	sqlite3_commit_hook(r->db, NULL, NULL);
	assert_int_equal(store_exec(r->d.store, "INSERT INTO transactions (charger_id, tx_id, connector, start_ms) "
						"VALUES ('CP1', '7', 1, 1000)"), 0);
	sqlite3_commit_hook(r->db, count_commit, &r->commits);
	call(r, r->list[1], AVAILABLE);
	assert_int_equal(r->commits, 0);
	assert_int_equal(q1(r->db, "SELECT count(*) FROM transactions WHERE stop_ms IS NOT NULL AND stop_reason LIKE "
				   "'connector Available%'"), 1);
	assert_int_equal(store_commit(r->d.store), 0);
	assert_int_equal(r->commits, 1);
	rig_free(r);
}

/* The CSMS's answer passed on in the turn that wrote the charger's rows commits them first; in
 * a later turn (the loop committed) or for a charger whose rows are in an older batch, nothing. */
static void test_durable_by_mark(void **state)
{
	struct rig *r = rig_new();
	(void)state;

	call(r, r->list[0], FAULTED);
	uint64_t cp0 = r->list[0]->store_mark;
	assert_int_equal(store_durable(r->d.store, cp0), 0);
	assert_int_equal(r->commits, 1);
	assert_int_equal(store_durable(r->d.store, cp0), 0); /* nothing left to commit */
	assert_int_equal(r->commits, 1);
	call(r, r->list[1], FAULTED); /* a new batch */
	assert_int_equal(store_durable(r->d.store, cp0), 0);
	assert_int_equal(r->commits, 1); /* CP0's row is on disk: CP1's waits for the loop */
	assert_int_equal(store_durable(r->d.store, r->list[1]->store_mark), 0);
	assert_int_equal(r->commits, 2);
	rig_free(r);
}

/* No CSMS: the edge answers in the same turn, so the status is committed before the answer. */
static void test_local_answer_commits_first(void **state)
{
	struct rig *r = rig_new();
	struct ocpp_frame f;
	(void)state;

	assert_int_equal(ocpp_frame_parse(FAULTED, strlen(FAULTED), &f), REJECT_NONE);
	charger_model_call(&r->p, r->list[2], &f);
	assert_int_equal(r->commits, 0);
	proxy_answer_locally(&r->p, r->list[2], &f); /* no socket: the send fails, after the commit */
	ocpp_frame_fini(&f);
	assert_int_equal(r->commits, 1);
	assert_true(sqlite3_get_autocommit(r->db));
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses_in_one_commit),
		cmocka_unit_test(test_available_closes_records_in_batch),
		cmocka_unit_test(test_durable_by_mark),
		cmocka_unit_test(test_local_answer_commits_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
