/* The durable outbox against a real SQLite file: order per charger, collapsing of superseded
 * states that were not sent yet, group commit of acknowledgements with the 1.6 id mapping,
 * parking, and what a reopened store (a restart) finds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/ocpp/outbox.h"

struct fixture {
	char path[64];
	struct store *st;
	struct outbox *ob;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	snprintf(fx->path, sizeof(fx->path), "/tmp/ampgate-outbox-%d.db", (int)getpid());
	unlink(fx->path);
	fx->st = store_open(fx->path);
	fx->ob = fx->st ? outbox_open(fx->st) : NULL;
	*state = fx;
	return fx->ob ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char wal[80];

	outbox_close(fx->ob);
	store_close(fx->st);
	unlink(fx->path);
	snprintf(wal, sizeof(wal), "%s-wal", fx->path);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", fx->path);
	unlink(wal);
	free(fx);
	return 0;
}

static void put(struct outbox *ob, const char *charger, const char *id, const char *action, const char *payload,
		const char *key, int64_t after, int64_t provisional, int want_removed)
{
	int removed = -1;

	assert_int_equal(outbox_put(ob, charger, id, action, payload, key, after, provisional, &removed, NULL), 0);
	assert_int_equal(removed, want_removed);
}

static void expect_head(struct outbox *ob, const char *charger, int64_t after, const char *id, struct outbox_row *row)
{
	assert_int_equal(outbox_head(ob, charger, after, row), 1);
	assert_string_equal(row->msg_id, id);
}

static void test_order_collapse_and_ack(void **state)
{
	struct fixture *fx = *state;
	struct outbox_row row;
	int parked = -1;

	put(fx->ob, "CP1", "a", "StatusNotification", "{\"connectorId\":1,\"status\":\"Charging\"}", "status:1", 0, 0, 0);
	put(fx->ob, "CP1", "b", "StartTransaction", "{\"connectorId\":1}", NULL, 0, -42, 0);
	put(fx->ob, "CP2", "x", "Heartbeat", "{}", NULL, 0, 0, 0);
	/* a newer state of connector 1 supersedes the one not sent yet */
	put(fx->ob, "CP1", "c", "StatusNotification", "{\"connectorId\":1,\"status\":\"Finishing\"}", "status:1", 0, 0, 1);
	assert_int_equal(outbox_depth(fx->ob, "CP1", &parked), 2);
	assert_int_equal(parked, 0);

	expect_head(fx->ob, "CP1", 0, "b", &row);
	assert_int_equal(row.provisional, -42);
	int64_t start_seq = row.seq;
	outbox_row_fini(&row);
	/* a row already sent (seq <= after) is never collapsed away */
	expect_head(fx->ob, "CP1", start_seq, "c", &row);
	int64_t status_seq = row.seq;
	outbox_row_fini(&row);
	put(fx->ob, "CP1", "d", "StatusNotification", "{\"connectorId\":1,\"status\":\"Available\"}", "status:1", status_seq, 0, 0);

	/* the StartTransaction is acknowledged: deleted, and its CSMS id recorded, in one commit */
	assert_int_equal(outbox_begin(fx->ob), 0);
	assert_int_equal(outbox_done(fx->ob, start_seq), 0);
	assert_int_equal(outbox_map(fx->ob, "CP1", -42, 7001), 0);
	assert_int_equal(outbox_commit(fx->ob), 0);
	expect_head(fx->ob, "CP1", 0, "c", &row);
	outbox_row_fini(&row);

	/* refused twice: counted, then parked and out of the replay */
	assert_int_equal(outbox_refused(fx->ob, status_seq, false, "GenericError"), 0);
	assert_int_equal(outbox_refused(fx->ob, status_seq, true, "GenericError"), 0);
	assert_int_equal(outbox_depth(fx->ob, "CP1", &parked), 1);
	assert_int_equal(parked, 1);
	expect_head(fx->ob, "CP1", 0, "d", &row);
	assert_int_equal(row.attempts, 0);
	outbox_row_fini(&row);
}

static void found_map(void *ctx, const char *charger, int64_t provisional, int64_t csms_id)
{
	char *out = ctx;

	snprintf(out + strlen(out), 64, "%s:%lld=%lld;", charger, (long long)provisional, (long long)csms_id);
}

static void test_survives_reopen(void **state)
{
	struct fixture *fx = *state;
	struct outbox_row row;
	char maps[256] = "";

	put(fx->ob, "CP1", "s1", "StartTransaction", "{}", NULL, 0, -1, 0);
	put(fx->ob, "CP1", "s2", "StartTransaction", "{}", NULL, 0, -2, 0);
	put(fx->ob, "CP1", "m1", "MeterValues", "{\"transactionId\":-1}", NULL, 0, 0, 0);
	assert_int_equal(outbox_head(fx->ob, "CP1", 0, &row), 1);
	assert_int_equal(outbox_begin(fx->ob), 0);
	assert_int_equal(outbox_done(fx->ob, row.seq), 0);
	assert_int_equal(outbox_map(fx->ob, "CP1", -1, 9001), 0);
	assert_int_equal(outbox_commit(fx->ob), 0);
	outbox_row_fini(&row);

	/* restart: a new connection finds the rest in order and the mappings */
	outbox_close(fx->ob);
	store_close(fx->st);
	fx->st = store_open(fx->path);
	assert_non_null(fx->st);
	fx->ob = outbox_open(fx->st);
	assert_non_null(fx->ob);
	assert_int_equal(outbox_depth(fx->ob, "CP1", NULL), 2);
	expect_head(fx->ob, "CP1", 0, "s2", &row);
	outbox_row_fini(&row);
	assert_int_equal(outbox_each_map(fx->ob, found_map, maps), 0);
	assert_non_null(strstr(maps, "CP1:-1=9001;"));
	assert_non_null(strstr(maps, "CP1:-2=0;"));
	assert_int_equal(outbox_unmap(fx->ob, "CP1", -1), 0);
	maps[0] = 0;
	assert_int_equal(outbox_each_map(fx->ob, found_map, maps), 0);
	assert_string_equal(maps, "CP1:-2=0;");
	assert_int_equal(outbox_head(fx->ob, "CP9", 0, &row), 0);
}

static void thinned(void *ctx, const char *charger, int64_t queued_ms)
{
	char *out = ctx;

	snprintf(out + strlen(out), 64, "%s@%lld;", charger, (long long)queued_ms);
}

/* The bound's drop order: queued MeterValues closest in time to the one before them go first, a
 * charger's first never, transaction messages never; the row count follows and survives a reopen. */
static void test_thin_meter_values(void **state)
{
	struct fixture *fx = *state;
	char dropped[256] = "";
	static const struct { const char *charger, *id, *action; int64_t at_s; } rows[] = {
		{ "CP1", "m0", "MeterValues", 0 },  { "CP1", "s", "StartTransaction", 1 }, { "CP1", "m1", "MeterValues", 10 },
		{ "CP1", "m2", "MeterValues", 11 }, { "CP1", "m3", "MeterValues", 30 },    { "CP1", "t", "StopTransaction", 31 },
		{ "CP2", "n0", "MeterValues", 0 },  { "CP2", "n1", "MeterValues", 5 },     { "CP2", "e", "TransactionEvent", 6 },
	};
	char sql[160];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		put(fx->ob, rows[i].charger, rows[i].id, rows[i].action, "{}", NULL, 0, 0, 0);
		snprintf(sql, sizeof(sql), "UPDATE outbox SET queued_ms = %lld WHERE msg_id = '%s'",
			 (long long)(1000000 + rows[i].at_s * 1000), rows[i].id);
		assert_int_equal(sqlite3_exec(store_db(fx->st), sql, NULL, NULL, NULL), SQLITE_OK);
	}
	assert_int_equal(outbox_rows(fx->ob), 9);
	/* the densest readings first: m2 (1 s after m1), then n1 (5 s after n0) */
	assert_int_equal(outbox_thin(fx->ob, 2, thinned, dropped), 2);
	assert_string_equal(dropped, "CP1@1011000;CP2@1005000;");
	assert_int_equal(outbox_rows(fx->ob), 7);
	/* then the rest but each charger's first; Start, Stop, TransactionEvent stay */
	dropped[0] = 0;
	assert_int_equal(outbox_thin(fx->ob, 10, thinned, dropped), 2);
	assert_string_equal(dropped, "CP1@1010000;CP1@1030000;");
	assert_int_equal(outbox_thin(fx->ob, 10, thinned, dropped), 0);
	assert_int_equal(outbox_rows(fx->ob), 5);
	assert_int_equal(outbox_depth(fx->ob, "CP1", NULL), 3);
	assert_int_equal(outbox_depth(fx->ob, "CP2", NULL), 2);

	/* acknowledged rows leave the count; a reopened outbox counts what is there */
	struct outbox_row row;
	expect_head(fx->ob, "CP1", 0, "m0", &row);
	assert_int_equal(outbox_done(fx->ob, row.seq), 0);
	outbox_row_fini(&row);
	assert_int_equal(outbox_rows(fx->ob), 4);
	outbox_close(fx->ob);
	fx->ob = outbox_open(fx->st);
	assert_non_null(fx->ob);
	assert_int_equal(outbox_rows(fx->ob), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_collapse_and_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thin_meter_values, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
