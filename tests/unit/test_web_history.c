/* The site's history by the minute (web-history.c) on an in-memory store: a minute's samples
 * become one row of means when the next minute starts, a limit node counts once per sample
 * however many chargers it binds, a restart's part-minute adds up with the rest of its minute,
 * the bound share covers stored and current samples, old rows go with the retention, and which
 * binding strings name a node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/web/web-history.c"

static int64_t T0; /* the start of the minute an hour ago: inside every span */

struct fixture {
	struct ag_config cfg;
	struct ag_daemon d;
	struct proxy proxy;
	struct charger ch[3];
	struct charger *list[3];
	struct web w;
	struct site_status st;
};

static struct fixture *fixture_new(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	T0 = wall_ms() - wall_ms() % 60000 - 3600 * 1000;
	fx->cfg.site.voltage_v = 230;
	fx->cfg.storage.retention_days = 90;
	fx->d.cfg = &fx->cfg;
	fx->d.store = store_open(":memory:");
	assert_non_null(fx->d.store);
	for (int i = 0; i < 3; i++)
		fx->list[i] = &fx->ch[i];
	fx->proxy.chargers = fx->list;
	fx->proxy.n_chargers = 3;
	fx->d.proxy = &fx->proxy;
	fx->w.d = &fx->d;
	assert_int_equal(web_history_start(&fx->w), 0);
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	web_history_stop(&fx->w);
	store_close(fx->d.store);
	free(fx);
}

static void set(struct fixture *fx, double grid_a, double ev_a, double alloc_a, const char *b0, const char *b1, const char *b2)
{
	for (int p = 0; p < AG_PHASES; p++) {
		fx->st.grid_a[p] = grid_a;
		fx->st.ev_a[p] = ev_a;
		fx->st.allocated_a[p] = alloc_a;
		fx->st.limit_a[p] = 100;
	}
	snprintf(fx->ch[0].binding, sizeof(fx->ch[0].binding), "%s", b0);
	snprintf(fx->ch[1].binding, sizeof(fx->ch[1].binding), "%s", b1);
	snprintf(fx->ch[2].binding, sizeof(fx->ch[2].binding), "%s", b2);
}

static int64_t one(struct fixture *fx, const char *sql)
{
	sqlite3_stmt *q;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(fx->d.store), sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void test_binding_names_a_node(void **state)
{
	char node[40];

	(void)state;
	assert_int_equal(bound_node("grid L1", node, sizeof(node)), 0);
	assert_string_equal(node, "grid");
	assert_int_equal(bound_node("paused: feeder-a kW", node, sizeof(node)), 0);
	assert_string_equal(node, "feeder-a");
	for (const char *const *b = (const char *const[]){ "no EV", "charger max", "EV-limited", "paused: rotation", "paused: price",
							     "fallback: meter stale", "fallback: offline", "not controllable", "", NULL };
	     *b; b++)
		assert_int_equal(bound_node(*b, node, sizeof(node)), -ENOENT);
	assert_int_equal(bound_node("a-very-long-circuit-name-beyond-the-slot L2", node, 8), -ENOENT);
}

static void test_minute_row_and_bound_share(void **state)
{
	struct fixture *fx = fixture_new();

	(void)state;
	/* 40 samples with the grid binding two chargers (counted once), 20 with nothing binding. */
	for (int s = 0; s < 60; s++) {
		if (s < 40)
			set(fx, 90, 30, 40, "grid L1", "paused: grid L2", "charger max");
		else
			set(fx, 60, 30, 40, "no EV", "EV-limited", "charger max");
		web_history_sample(&fx->w, T0 + s * 1000, &fx->st);
	}
	assert_int_equal(one(fx, "SELECT count(*) FROM site_history"), 0); /* the minute is not over */
	set(fx, 10, 0, 0, "feeder-b L3", "no EV", "no EV");
	web_history_sample(&fx->w, T0 + 60000, &fx->st);
	assert_int_equal(one(fx, "SELECT count(*) FROM site_history"), 1);
	assert_int_equal(one(fx, "SELECT samples FROM site_history"), 60);
	assert_int_equal(one(fx, "SELECT time_ms FROM site_history"), T0);
	assert_int_equal(one(fx, "SELECT round(grid_a1 * 10) FROM site_history"), 800);            /* (40 x 90 + 20 x 60) / 60 */
	assert_int_equal(one(fx, "SELECT round(grid_kw * 100) FROM site_history"), 5520);         /* 3 x 80 A x 230 V */
	assert_int_equal(one(fx, "SELECT round(alloc_kw * 100) FROM site_history"), 2760);
	assert_int_equal(one(fx, "SELECT samples FROM site_history_bound WHERE node = 'grid'"), 40);
	assert_int_equal(one(fx, "SELECT count(*) FROM site_history_bound"), 1);

	/* The share: 40 of 61 samples for the grid, 1 of 61 for feeder-b (the current minute). */
	json_t *h = web_history_json(&fx->w, "week");
	assert_non_null(h);
	json_t *b = json_object_get(h, "bound"), *nodes = json_object_get(b, "nodes");
	assert_int_equal(json_integer_value(json_object_get(b, "samples")), 61);
	assert_int_equal(json_array_size(nodes), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 0), "node")), "grid");
	assert_true(fabs(json_real_value(json_object_get(json_array_get(nodes, 0), "share_pct")) - 65.6) < 0.01);
	assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 1), "node")), "feeder-b");
	/* week: 30-minute buckets, then the minute being gathered */
	assert_int_equal(json_array_size(json_object_get(h, "samples")), 2);
	json_decref(h);
	assert_null(web_history_json(&fx->w, "month"));
	fixture_free(fx);
}

static void test_restart_part_minutes_add_up(void **state)
{
	struct fixture *fx = fixture_new();

	(void)state;
	set(fx, 100, 0, 0, "no EV", "no EV", "no EV");
	for (int s = 0; s < 10; s++)
		web_history_sample(&fx->w, T0 + s * 1000, &fx->st);
	web_history_stop(&fx->w); /* a stop writes the part-minute */
	assert_int_equal(web_history_start(&fx->w), 0);
	set(fx, 40, 0, 0, "no EV", "no EV", "no EV");
	for (int s = 30; s < 60; s++)
		web_history_sample(&fx->w, T0 + s * 1000, &fx->st);
	web_history_stop(&fx->w);
	assert_int_equal(web_history_start(&fx->w), 0);
	assert_int_equal(one(fx, "SELECT count(*) FROM site_history"), 2);
	json_t *h = web_history_json(&fx->w, "week");
	json_t *first = json_array_get(json_object_get(h, "samples"), 0);
	/* weighted by samples: (10 x 100 + 30 x 40) / 40 = 55 A */
	assert_true(fabs(json_real_value(json_array_get(json_array_get(first, 1), 0)) - 55) < 0.01);
	json_decref(h);
	fixture_free(fx);
}

/* A push after a solve lands in the second of the timer's push: the minute counts one sample for
 * that second, the newest, as the live ring does (38 samples in 31 s failed page-history). */
static void test_same_second_newest_counts(void **state)
{
	struct fixture *fx = fixture_new();

	(void)state;
	for (int s = 0; s < 30; s++) {
		set(fx, 50, 0, 0, "grid L1", "no EV", "no EV");
		web_history_sample(&fx->w, T0 + s * 1000, &fx->st);
		set(fx, 20, 16, 18, "no EV", "no EV", "no EV"); /* the solve's push, 400 ms later */
		web_history_sample(&fx->w, T0 + s * 1000 + 400, &fx->st);
	}
	web_history_stop(&fx->w);
	assert_int_equal(web_history_start(&fx->w), 0);
	assert_int_equal(one(fx, "SELECT samples FROM site_history"), 30);
	assert_int_equal(one(fx, "SELECT round(grid_a1 * 10) FROM site_history"), 200);
	assert_int_equal(one(fx, "SELECT round(ev_a1 * 10) FROM site_history"), 160);
	assert_int_equal(one(fx, "SELECT round(alloc_a1 * 10) FROM site_history"), 180);
	/* the grid bound only in replaced samples: no row for it */
	assert_int_equal(one(fx, "SELECT count(*) FROM site_history_bound"), 0);
	fixture_free(fx);
}

static void test_retention_prunes(void **state)
{
	struct fixture *fx = fixture_new();
	sqlite3 *db = store_db(fx->d.store);

	(void)state;
	char sql[256];

	/* 91 and 89 days old, with 90 days kept */
	snprintf(sql, sizeof(sql), "INSERT INTO site_history (time_ms, samples) VALUES (%lld, 60), (%lld, 60);"
		 "INSERT INTO site_history_bound VALUES (%lld, 'grid', 3);", (long long)(T0 - 91 * DAY_MS),
		 (long long)(T0 - 89 * DAY_MS), (long long)(T0 - 91 * DAY_MS));
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	prune(&fx->w, T0);
	assert_int_equal(one(fx, "SELECT count(*) FROM site_history"), 1);
	assert_int_equal(one(fx, "SELECT count(*) FROM site_history_bound"), 0);
	fixture_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binding_names_a_node),
		cmocka_unit_test(test_minute_row_and_bound_share),
		cmocka_unit_test(test_restart_part_minutes_add_up),
		cmocka_unit_test(test_same_second_newest_counts),
		cmocka_unit_test(test_retention_prunes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
