/* The charger model's writes to the store: what a StatusNotification writes (the connector row,
 * older session records closed) goes into the store's grouped commit, not a transaction and an
 * fsync each; an answer that leaves in the same turn is preceded by the commit (the edge's own
 * answer always; the CSMS's waits on the link when the charger's rows are still in the open
 * batch). Includes
 * charger-model.c to reach its statics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/ocpp/charger-model.c"
#include "edge/core/store.h"
#include "edge/ocpp/auth-cache.h"
#include "edge/ocpp/ws-link.c" /* struct ws_msg, to read what a held link queued */

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

/* Whether a charger's rows are still uncommitted (its answer must wait): by the batch they
 * went into, not by whether some batch is open. */
static void test_pending_by_mark(void **state)
{
	struct rig *r = rig_new();
	(void)state;

	call(r, r->list[0], FAULTED);
	uint64_t cp0 = r->list[0]->store_mark;
	assert_true(store_pending(r->d.store, cp0));
	assert_int_equal(store_commit(r->d.store), 0);
	assert_false(store_pending(r->d.store, cp0));
	call(r, r->list[1], FAULTED); /* a new batch */
	assert_false(store_pending(r->d.store, cp0)); /* CP0's row is on disk */
	assert_true(store_pending(r->d.store, r->list[1]->store_mark));
	assert_int_equal(r->commits, 1);
	rig_free(r);
}

/* The CSMS accepted a StartTransaction: the session's row joins the batch (no commit of its own,
 * up to 1,000 fsyncs in a storm) and the charger's mark says its answer must wait. */
static void test_session_start_in_batch(void **state)
{
	struct rig *r = rig_new();
	struct charger *ch = r->list[0];
	const char *res = "[3,\"5\",{\"transactionId\":42,\"idTagInfo\":{\"status\":\"Accepted\"}}]";
	struct ocpp_frame f;
	(void)state;

	r->cfg.auth.cache_days = 7;
	ch->from_charger = (struct call){ .active = true, .origin = ORIGIN_CHARGER, .id = "5",
					  .action = "StartTransaction" };
	ch->from_charger.payload = json_pack("{s:i, s:s, s:i, s:s}", "connectorId", 1, "idTag", "CARD1", "meterStart", 100,
					     "timestamp", "2026-12-05T08:00:00Z");
	assert_int_equal(ocpp_frame_parse(res, strlen(res), &f), REJECT_NONE);
	charger_model_result(&r->p, ch, &ch->from_charger, &f);
	auth_seen_result(&r->p, ch, &ch->from_charger, &f);
	ocpp_frame_fini(&f);
	assert_int_equal(r->commits, 0);
	assert_true(store_pending(r->d.store, ch->store_mark));
	assert_int_equal(q1(r->db, "SELECT count(*) FROM transactions WHERE tx_id = '42' AND stop_ms IS NULL"), 1);
	assert_int_equal(q1(r->db, "SELECT count(*) FROM auth_cache WHERE id_token = 'CARD1'"), 1);
	assert_int_equal(store_commit(r->d.store), 0);
	assert_int_equal(r->commits, 1);
	assert_false(store_pending(r->d.store, ch->store_mark));
	call_clear(&ch->from_charger);
	rig_free(r);
}

/* A held link queues what is sent, in order, and writes nothing until released. */
static void test_held_link_queues(void **state)
{
	struct ws_link l;
	(void)state;

	ws_link_init(&l, 4096);
	l.wsi = (struct lws *)&l; /* never used while held */
	ws_link_hold(&l);
	assert_int_equal(ws_link_send(&l, "[3,\"1\",{}]", 10), 0);
	assert_int_equal(ws_link_send(&l, "[2,\"e1\",\"X\",{}]", 16), 0);
	assert_int_equal(l.queued, 2);
	assert_int_equal(ws_link_writeable(&l), 0);
	assert_int_equal(l.queued, 2);
	assert_memory_equal(l.head->buf + LWS_PRE, "[3,\"1\",{}]", 10);
	l.wsi = NULL;
	ws_link_release(&l);
	assert_false(l.held);
	ws_link_reset(&l);
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
		cmocka_unit_test(test_pending_by_mark),
		cmocka_unit_test(test_session_start_in_batch),
		cmocka_unit_test(test_held_link_queues),
		cmocka_unit_test(test_local_answer_commits_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
