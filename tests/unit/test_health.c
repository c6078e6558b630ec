/* Charger health: which state a charger is in from its connectors, transactions and link (both
 * OCPP versions), the fault words of the audit log, and the report's arithmetic on stored rows
 * (clipping to the window, faults counted once across error-code changes and restarts, what is
 * not observed, actions and sessions), and the module's history on a bare daemon. Includes
 * health.c to reach its statics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/health/health.c" /* reaches follow_wall_clock */
#include "edge/health/health-report.h"
#include "edge/ocpp/proxy.h"
#include "edge/core/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct charger *charger(enum ocpp_version v)
{
	struct charger *ch = charger_new("CP007", NULL);

	ch->version = v;
	return ch;
}

static void set(struct charger *ch, int id, const char *status, const char *error)
{
	struct connector *c = charger_connector(ch, id);

	snprintf(c->status, sizeof(c->status), "%s", status);
	snprintf(c->error_code, sizeof(c->error_code), "%s", error);
}

static enum health_state classify(const struct charger *ch, char *detail)
{
	return health_classify(ch, LINK_ONLINE, detail, 160);
}

static void test_classify_16(void **state)
{
	struct charger *ch = charger(OCPP16);
	char d[160];
	(void)state;

	assert_int_equal(classify(ch, d), HS_AVAILABLE); /* connected, nothing said yet */
	set(ch, 0, "Available", "NoError");
	set(ch, 1, "Available", "NoError");
	set(ch, 2, "Unavailable", "NoError");
	assert_int_equal(classify(ch, d), HS_AVAILABLE); /* one connector still usable */
	set(ch, 1, "Preparing", "NoError");
	assert_int_equal(classify(ch, d), HS_OCCUPIED);
	set(ch, 1, "Charging", "NoError");
	assert_int_equal(classify(ch, d), HS_CHARGING);
	set(ch, 1, "SuspendedEV", "NoError");
	assert_int_equal(classify(ch, d), HS_OCCUPIED);
	set(ch, 1, "Unavailable", "NoError");
	assert_int_equal(classify(ch, d), HS_AVAILABLE); /* connector 0 still Available */
	set(ch, 0, "Unavailable", "NoError");
	assert_int_equal(classify(ch, d), HS_UNAVAILABLE);
	/* An error code is a fault even when the status does not say Faulted. */
	set(ch, 0, "Available", "NoError");
	set(ch, 2, "Available", "HighTemperature");
	assert_int_equal(classify(ch, d), HS_FAULTED);
	assert_string_equal(d, "connector 2: HighTemperature");
	set(ch, 2, "Faulted", "GroundFailure");
	snprintf(charger_connector(ch, 2)->vendor_error, 52, "E-GF-17");
	assert_int_equal(classify(ch, d), HS_FAULTED);
	assert_string_equal(d, "connector 2: GroundFailure, vendor code E-GF-17");
	/* The link comes first: a faulted charger whose socket closed is offline. */
	assert_int_equal(health_classify(ch, LINK_SILENT, d, sizeof(d)), HS_SILENT);
	assert_int_equal(health_classify(ch, LINK_OFFLINE, d, sizeof(d)), HS_OFFLINE);
	assert_string_equal(d, "");
	charger_free(ch);
}

static void test_classify_201(void **state)
{
	struct charger *ch = charger(OCPP201);
	char d[160];
	(void)state;

	set(ch, 101, "Occupied", "");
	assert_int_equal(classify(ch, d), HS_OCCUPIED);
	struct transaction *tx = charger_tx(ch, "tx-1", true);
	assert_int_equal(classify(ch, d), HS_CHARGING); /* 2.0.1: a running transaction charges */
	tx->active = false;
	set(ch, 101, "Available", "");
	struct connector *c = charger_connector(ch, 101);
	c->problem = true;
	snprintf(c->vendor_error, sizeof(c->vendor_error), "E-42");
	assert_int_equal(classify(ch, d), HS_FAULTED);
	assert_string_equal(d, "EVSE 1 connector 1: vendor code E-42");
	c->problem = false;
	set(ch, 101, "Faulted", "");
	c->vendor_error[0] = 0;
	assert_int_equal(classify(ch, d), HS_FAULTED);
	assert_string_equal(d, "EVSE 1 connector 1: Faulted");
	set(ch, 101, "Unavailable", "");
	set(ch, 201, "Unavailable", "");
	assert_int_equal(classify(ch, d), HS_UNAVAILABLE);
	assert_int_equal(health_state_parse("silent"), HS_SILENT);
	assert_int_equal(health_state_parse("broken"), -1);
	assert_string_equal(health_state_name(HS_UNAVAILABLE), "unavailable");
	charger_free(ch);
}

static void row(sqlite3 *db, const char *id, const char *state, long long start, long long end, const char *code)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO health_states (charger_id, state, start_ms, end_ms, code) VALUES ('%s', '%s', %lld, %lld, %s%s%s)",
		 id, state, start, end, code ? "'" : "", code ? code : "NULL", code ? "'" : "");
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static void test_report(void **state)
{
	struct store *st = store_open(":memory:");
	struct health_figures f;
	sqlite3 *db;
	char(*ids)[49];
	size_t n;
	(void)state;

	assert_non_null(st);
	db = store_db(st);
	assert_int_equal(health_report_check(db), 0);
	row(db, "A", "available", 0, 10000, NULL);
	row(db, "A", "faulted", 10000, 15000, "OverVoltage");     /* a fault ... */
	row(db, "A", "faulted", 15000, 20000, "HighTemperature"); /* ... whose error code changed: still one */
	/* 20000..25000: ampgated not running */
	row(db, "A", "faulted", 25000, 30000, "OverVoltage");     /* the same fault after a restart */
	row(db, "A", "charging", 30000, 40000, NULL);
	row(db, "A", "faulted", 40000, 45000, NULL);              /* a second fault, no code given */
	row(db, "B", "offline", 0, 100000, NULL);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO health_actions (time_ms, charger_id, action, healed) VALUES "
				      "(11000, 'A', 'soft reset', 0), (12000, 'A', 'hard reset', 1), (99000, 'A', 'disconnect', NULL);"
				      "INSERT INTO transactions (charger_id, tx_id, start_ms, energy_wh) VALUES "
				      "('A', '1', 30000, 12500), ('A', '2', 50000, 1000);",
				      NULL, NULL, NULL),
			 SQLITE_OK);

	assert_int_equal(health_report_charger(db, "A", 5000, 42000, &f), 0);
	assert_int_equal(f.ms[HS_AVAILABLE], 5000);
	assert_int_equal(f.ms[HS_FAULTED], 10000 + 5000 + 2000);
	assert_int_equal(f.ms[HS_CHARGING], 10000);
	assert_int_equal(f.observed_ms, 32000); /* the 5 s down are in no state */
	assert_int_equal(f.faults, 2);
	assert_int_equal(f.n_codes, 2);
	assert_string_equal(f.by_code[0].code, "Faulted"); /* equal counts: by name */
	assert_int_equal(f.by_code[0].n, 1);
	assert_string_equal(f.by_code[1].code, "OverVoltage");
	assert_int_equal(f.soft_resets, 1);
	assert_int_equal(f.hard_resets, 1);
	assert_int_equal(f.healed, 1);
	assert_int_equal(f.disconnects, 0);
	assert_int_equal(f.sessions, 1);
	assert_true(f.energy_wh == 12500);
	assert_true(health_availability_pct(&f) > 46.874 && health_availability_pct(&f) < 46.876); /* 15/32 */
	assert_true(health_utilisation_pct(&f) > 31.249 && health_utilisation_pct(&f) < 31.251);   /* 10/32 */

	/* A window starting inside a fault does not count it as a new one. */
	assert_int_equal(health_report_charger(db, "A", 12000, 30000, &f), 0);
	assert_int_equal(f.faults, 0);
	assert_int_equal(f.ms[HS_FAULTED], 3000 + 5000 + 5000);

	assert_int_equal(health_report_charger(db, "C", 0, 100000, &f), 0);
	assert_int_equal(f.observed_ms, 0);
	assert_true(health_availability_pct(&f) < 0);

	assert_int_equal(health_report_ids(db, 0, 100000, &ids, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "A");
	assert_string_equal(ids[1], "B");
	free(ids);
	assert_int_equal(health_report_ids(db, 46000, 98000, &ids, &n), 0);
	assert_int_equal(n, 1); /* only B has history there */
	free(ids);
	store_close(st);
}

/* The healing steps the page lists: the window's, newest first, at most `max`; a step not yet
 * judged (or an alert) has healed null, not false. */
static void test_steps(void **state)
{
	struct store *st = store_open(":memory:");
	sqlite3 *db;
	(void)state;

	assert_non_null(st);
	db = store_db(st);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO health_actions (time_ms, charger_id, action, detail, answer, healed) VALUES "
				      "(1000, 'A', 'soft reset', 'GroundFailure', 'Accepted', 0),"
				      "(2000, 'A', 'hard reset', 'GroundFailure', 'Rejected', 0),"
				      "(3000, 'A', 'technician', 'GroundFailure', NULL, NULL),"
				      "(4000, 'A', 'soft reset', NULL, NULL, NULL),"
				      "(2500, 'B', 'soft reset', 'OverVoltage', 'Accepted', 1);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	json_t *a = health_steps_json(db, "A", 1500, 4000, 20);
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 2); /* 1000 before the window, 4000 at its end */
	json_t *alert = json_array_get(a, 0), *hard = json_array_get(a, 1);
	assert_string_equal(json_string_value(json_object_get(alert, "action")), "technician");
	assert_true(json_is_null(json_object_get(alert, "healed")));
	assert_true(json_is_null(json_object_get(alert, "answer")));
	assert_int_equal(json_integer_value(json_object_get(hard, "time_ms")), 2000);
	assert_string_equal(json_string_value(json_object_get(hard, "answer")), "Rejected");
	assert_true(json_is_false(json_object_get(hard, "healed")));
	assert_string_equal(json_string_value(json_object_get(hard, "detail")), "GroundFailure");
	json_decref(a);

	a = health_steps_json(db, "A", 0, 10000, 3); /* the newest three */
	assert_int_equal(json_array_size(a), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 0), "time_ms")), 4000);
	assert_true(json_is_null(json_object_get(json_array_get(a, 0), "detail")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 2), "time_ms")), 2000);
	json_decref(a);

	a = health_steps_json(db, "B", 0, 10000, 20);
	assert_int_equal(json_array_size(a), 1);
	assert_true(json_is_true(json_object_get(json_array_get(a, 0), "healed")));
	json_decref(a);
	store_close(st);
}

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

/* The module on a bare daemon (no sockets): a charger that never connected is offline from the
 * start; a stop closes its stretch; a wall-clock step splits the open stretches. */
/* A bare daemon (no sockets) with one configured charger, CP1, and the health module started. */
struct rig {
	struct ag_daemon d;
	struct ag_config cfg;
	struct cfg_charger cc;
	struct proxy p;
	struct charger *list[1];
};

static struct charger *rig_start(struct rig *r, int silent_after_s)
{
	memset(r, 0, sizeof(*r));
	r->cc = (struct cfg_charger){ .id = "CP1", .phases = 3, .max_a = 32 };
	r->list[0] = charger_new("CP1", &r->cc);
	r->cfg.storage.retention_days = 90;
	r->cfg.health.silent_after_s = silent_after_s;
	r->p.d = &r->d;
	r->p.chargers = r->list;
	r->p.n_chargers = 1;
	r->list[0]->proxy = &r->p;
	r->d.cfg = &r->cfg;
	r->d.proxy = &r->p;
	assert_int_equal(uv_loop_init(&r->d.loop), 0);
	r->d.store = store_open(":memory:");
	assert_non_null(r->d.store);
	assert_int_equal(health_start(&r->d), 0);
	return r->list[0];
}

static void rig_stop(struct rig *r)
{
	health_stop(&r->d);
	uv_run(&r->d.loop, UV_RUN_DEFAULT); /* the handles' close callbacks free the module */
	assert_int_equal(uv_loop_close(&r->d.loop), 0);
	store_close(r->d.store);
	charger_free(r->list[0]);
}

static void test_module_history(void **state)
{
	struct rig r;
	struct charger *ch = rig_start(&r, 0);
	struct ag_daemon *dp = &r.d;
	sqlite3 *db = store_db(dp->store);
	struct timespec ts;
	(void)state;

	assert_int_equal(health_of(dp, ch), HS_OFFLINE);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states WHERE charger_id = 'CP1' AND state = 'offline' AND open = 1"), 1);

	/* Small drift is left alone; a step of an hour splits the stretch at the old reckoning. */
	struct health *h = dp->health;
	follow_wall_clock(h, now_ms());
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states"), 1);
	h->wall0 += 3600 * 1000;
	follow_wall_clock(h, now_ms());
	clock_gettime(CLOCK_REALTIME, &ts);
	long long real = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states"), 2);
	assert_true(q1(db, "SELECT end_ms FROM health_states WHERE open = 0") - real > 3500 * 1000);
	long long start = q1(db, "SELECT start_ms FROM health_states WHERE open = 1 AND state = 'offline'");
	assert_true(llabs(start - real) < 1000);

	health_stop(dp);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states WHERE open = 1"), 0);
	rig_stop(&r);
}

/* The query plan's text for `sql`, all rows joined. */
static void plan_of(sqlite3 *db, const char *sql, char *out, size_t size)
{
	char explain[512];
	sqlite3_stmt *q;

	snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
	out[0] = 0;
	assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &q, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW)
		snprintf(out + strlen(out), size - strlen(out), "%s;", (const char *)sqlite3_column_text(q, 3));
	sqlite3_finalize(q);
}

/* The open rows are found through their own index, not by reading every row of the history:
 * the close of all of them (start, stop, clock step) and the close at each change (health.c's
 * statements, verbatim). */
static void test_open_rows_indexed(void **state)
{
	char plan[512];
	(void)state;

	struct store *st = store_open(":memory:");
	assert_non_null(st);
	sqlite3 *db = store_db(st);
	plan_of(db,
		"UPDATE health_states SET end_ms = max(end_ms, (SELECT alive_ms FROM health_alive)), open = 0 "
		"WHERE open = 1",
		plan, sizeof(plan));
	assert_non_null(strstr(plan, "health_states_open"));
	plan_of(db, "UPDATE health_states SET end_ms = ?1, open = 0 WHERE charger_id = ?2 AND open = 1", plan, sizeof(plan));
	assert_non_null(strstr(plan, "health_states_open"));
	store_close(st);
}

/* The flush every 5 s writes one row whatever the number of chargers, and no open row; an open
 * row ends at the flushed time for readers, and rows a crash left open are closed there at the
 * next start. */
static void test_flush_one_row(void **state)
{
	enum { N = 1000 };
	struct rig r;
	(void)state;

	rig_start(&r, 0);
	sqlite3 *db = store_db(r.d.store);
	struct health *crashed = r.d.health;
	long long t0 = q1(db, "SELECT start_ms FROM health_states WHERE charger_id = 'CP1' AND open = 1");
	for (int i = 0; i < N; i++) {
		char sql[160];
		snprintf(sql, sizeof(sql), "INSERT INTO health_states (charger_id, state, start_ms, end_ms, open) "
					   "VALUES ('X%d', 'available', %lld, %lld, 1)", i, t0, t0);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	long long alive = health_wall_ms(crashed, crashed->mono0 + 60000);
	flush(crashed, crashed->mono0 + 60000);
	assert_int_equal(sqlite3_changes(db), 1);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states WHERE open = 1 AND end_ms <> start_ms"), 0);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_stretches WHERE open = 1 AND end_ms = "
				"(SELECT alive_ms FROM health_alive)"), N + 1);
	assert_int_equal(q1(db, "SELECT alive_ms FROM health_alive"), alive);

	/* A crash: the module's rows stay open; the next start closes them at the flushed time. */
	r.d.health = NULL;
	assert_int_equal(health_start(&r.d), 0);
	char closed[96];
	snprintf(closed, sizeof(closed), "SELECT count(*) FROM health_states WHERE open = 0 AND end_ms = %lld", alive);
	assert_int_equal(q1(db, closed), N + 1);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states WHERE open = 1"), 1); /* CP1 anew */
	assert_true(q1(db, "SELECT alive_ms FROM health_alive") - t0 < 1000); /* this run's time */

	/* A clean stop closes the open row at the stop. */
	health_stop(&r.d);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states WHERE open = 1"), 0);
	assert_true(q1(db, "SELECT end_ms FROM health_states WHERE charger_id = 'CP1' ORDER BY start_ms DESC, "
			   "rowid DESC LIMIT 1") >= q1(db, "SELECT alive_ms FROM health_alive"));
	r.d.health = crashed;
	rig_stop(&r);
}

/* Readers see an open row up to the alive time: figures, the charger list, the timeline. */
static void test_open_row_read(void **state)
{
	struct store *st = store_open(":memory:");
	struct health_figures f;
	char(*ids)[49];
	size_t n;
	(void)state;

	assert_non_null(st);
	sqlite3 *db = store_db(st);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO health_states (charger_id, state, start_ms, end_ms, open) "
					  "VALUES ('O', 'charging', 1000, 1000, 1); UPDATE health_alive SET alive_ms = 9000;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(health_report_charger(db, "O", 0, 100000, &f), 0);
	assert_true(f.ms[HS_CHARGING] == 8000 && f.observed_ms == 8000);
	assert_int_equal(health_report_charger(db, "O", 5000, 7000, &f), 0);
	assert_true(f.ms[HS_CHARGING] == 2000);
	assert_int_equal(health_report_ids(db, 5000, 20000, &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "O");
	free(ids);
	assert_int_equal(health_report_ids(db, 9000, 20000, &ids, &n), 0); /* not seen running then */
	assert_int_equal(n, 0);
	free(ids);
	json_t *t = health_timeline_json(db, "O", 0, 100000);
	assert_non_null(t);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(t, "stretches"), 0), 2)), 9000);
	json_decref(t);
	store_close(st);
}

/* A charger is looked at again without being classified when nothing changed (health.c
 * visit); the one state time alone brings, silent, still comes: no frame, no new connection,
 * only the clock passing silent_after_s. */
static void test_silent_by_time_alone(void **state)
{
	struct rig r;
	struct charger *ch = rig_start(&r, 60);
	(void)state;

	ch->down.wsi = (struct lws *)&ch->down; /* online: only compared with NULL here */
	ch->last_rx_ms = now_ms();
	set(ch, 1, "Available", "NoError");
	scan(r.d.health);
	assert_int_equal(health_of(&r.d, ch), HS_AVAILABLE);
	scan(r.d.health); /* nothing changed: the state stays without being worked out again */
	assert_int_equal(health_of(&r.d, ch), HS_AVAILABLE);
	ch->last_rx_ms = now_ms() - 61 * 1000; /* the clock passed silent_after_s: no frame counted */
	scan(r.d.health);
	assert_int_equal(health_of(&r.d, ch), HS_SILENT);
	ch->last_rx_ms = now_ms(); /* a frame: back */
	ch->rx_frames++;
	scan(r.d.health);
	assert_int_equal(health_of(&r.d, ch), HS_AVAILABLE);
	ch->down.wsi = NULL;
	rig_stop(&r);
}

static int count_commit(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* Chargers that change state in one turn of the loop are recorded in the store's grouped commit
 * (one fsync at the end of the turn), not in a transaction each: at a reconnect storm or a stop
 * an fsync per charger kept the loop busy for seconds. Both rows of a change land together. */
static void test_states_in_one_commit(void **state)
{
	enum { N = 3 };
	struct ag_daemon d;
	struct ag_config cfg;
	struct cfg_charger cc[N];
	struct proxy p;
	struct charger *list[N];
	int commits = 0;
	(void)state;

	memset(&d, 0, sizeof(d));
	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0, sizeof(p));
	cfg.storage.retention_days = 90;
	cfg.health.silent_after_s = 60;
	static char ids[N][4] = { "CP0", "CP1", "CP2" };
	for (int i = 0; i < N; i++) {
		cc[i] = (struct cfg_charger){ .id = ids[i], .phases = 3, .max_a = 32 };
		list[i] = charger_new(ids[i], &cc[i]);
		list[i]->proxy = &p;
		list[i]->index = (size_t)i;
	}
	p.d = &d;
	p.chargers = list;
	p.n_chargers = N;
	d.cfg = &cfg;
	d.proxy = &p;
	assert_int_equal(uv_loop_init(&d.loop), 0);
	d.store = store_open(":memory:");
	assert_non_null(d.store);
	sqlite3 *db = store_db(d.store);
	assert_int_equal(health_start(&d), 0);
	store_commit(d.store);

	/* Every charger connects and says Available in the same turn. */
	for (int i = 0; i < N; i++) {
		list[i]->down.wsi = (struct lws *)&list[i]->down; /* online: only compared with NULL here */
		list[i]->last_rx_ms = now_ms();
		set(list[i], 1, "Available", "NoError");
	}
	sqlite3_commit_hook(db, count_commit, &commits);
	scan(d.health);
	assert_int_equal(commits, 0);
	assert_int_equal(store_commit(d.store), 0);
	assert_int_equal(commits, 1);
	sqlite3_commit_hook(db, NULL, NULL);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states WHERE state = 'available' AND open = 1"), N);
	assert_int_equal(q1(db, "SELECT count(*) FROM health_states WHERE state = 'offline' AND open = 0"), N);
	for (int i = 0; i < N; i++)
		assert_int_equal(health_of(&d, list[i]), HS_AVAILABLE);

	health_stop(&d);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&d.loop), 0);
	store_close(d.store);
	for (int i = 0; i < N; i++) {
		list[i]->down.wsi = NULL;
		charger_free(list[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_16),
		cmocka_unit_test(test_classify_201),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_module_history),
		cmocka_unit_test(test_states_in_one_commit),
		cmocka_unit_test(test_open_rows_indexed),
		cmocka_unit_test(test_silent_by_time_alone),
		cmocka_unit_test(test_flush_one_row),
		cmocka_unit_test(test_open_row_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
