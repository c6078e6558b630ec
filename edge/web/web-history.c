/* The site's history beyond the last hour, for the overview's day and week charts and for "how
 * often did a limit hold the chargers back": the live view's samples (web-live.c, about one a
 * second) are averaged into one row per minute in site_history, with, per limit node that bound
 * at least one charger's allocation, in how many of the minute's samples it did
 * (site_history_bound). /api/v1/history?span=hour|day|week reads them back.
 *
 * Design decision: the write is cheap and may wait. A minute's row goes into the store's grouped
 * commit (store_batch: no fsync of its own); a crash loses at most that minute, a stop writes the
 * part-minute it has. Readers weight rows by their sample count, so a part-minute written at a
 * stop and the rest of that minute after a restart add up. kW is A x the site's voltage_v. */
#include "edge/ocpp/charger.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"
#include "edge/site/site.h"
#include "edge/site/solver.h"
#include "edge/core/store.h"
#include "edge/web/web-private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MINUTE_MS 60000
#define DAY_MS (24 * 3600 * 1000LL)
#define PRUNE_MS (3600 * 1000ULL)

/* The averaged columns of site_history, in the order of enum web_minute_field. */
static const char *const columns[WM_FIELDS] = {
	"grid_a1", "grid_a2", "grid_a3", "grid_kw", "ev_a1", "ev_a2", "ev_a3", "ev_kw",
	"alloc_a1", "alloc_a2", "alloc_a3", "alloc_kw", "limit_a",
};

static double kw(const double a[AG_PHASES], double voltage_v)
{
	double sum = 0;
	bool any = false;

	for (int p = 0; p < AG_PHASES; p++)
		if (isfinite(a[p])) {
			sum += a[p];
			any = true;
		}
	return any ? sum * voltage_v / 1000 : NAN;
}

/* The node in a charger's binding string when a node's limit set its allocation: "grid L1",
 * "feeder-a kW" and "paused: grid L2" name one; "charger max", "EV-limited", "fallback: ..."
 * do not. 0 and the node in `node`, or -ENOENT. */
static int bound_node(const char *binding, char *node, size_t size)
{
	const char *b = strncmp(binding, "paused: ", 8) == 0 ? binding + 8 : binding;
	const char *sp = strrchr(b, ' ');

	if (!sp || sp == b || (strcmp(sp, " L1") && strcmp(sp, " L2") && strcmp(sp, " L3") && strcmp(sp, " kW")) ||
	    (size_t)(sp - b) >= size)
		return -ENOENT;
	memcpy(node, b, (size_t)(sp - b));
	node[sp - b] = '\0';
	return 0;
}

static void step(struct web *w, sqlite3_stmt *q, const char *what)
{
	if (sqlite3_step(q) != SQLITE_DONE)
		log_msg(LL_ERROR, "database: cannot %s: %s", what, sqlite3_errmsg(store_db(w->d->store)));
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
}

/* Write the minute gathered so far (none: nothing) and start empty. */
static void write_minute(struct web *w)
{
	struct web_minute *m = &w->minute;

	if (!m->samples || !m->insert_row || store_batch(w->d->store) < 0)
		goto done;
	sqlite3_bind_int64(m->insert_row, 1, m->minute_ms);
	sqlite3_bind_int(m->insert_row, 2, m->samples);
	for (int f = 0; f < WM_FIELDS; f++)
		if (m->count[f])
			sqlite3_bind_double(m->insert_row, f + 3, m->sum[f] / m->count[f]);
	step(w, m->insert_row, "write the site's history");
	for (int i = 0; i < WEB_BOUND_NODES && m->node[i][0]; i++) {
		if (!m->node_samples[i])
			continue; /* only in a sample a newer one of its second replaced */
		sqlite3_bind_int64(m->insert_bound, 1, m->minute_ms);
		sqlite3_bind_text(m->insert_bound, 2, m->node[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(m->insert_bound, 3, m->node_samples[i]);
		step(w, m->insert_bound, "write which limits bound");
	}
done:
	memset(m->sum, 0, sizeof(m->sum));
	memset(m->count, 0, sizeof(m->count));
	memset(m->node, 0, sizeof(m->node));
	memset(m->node_samples, 0, sizeof(m->node_samples));
	m->samples = 0;
}

static void prune(struct web *w, int64_t wall)
{
	struct web_minute *m = &w->minute;
	int64_t before = wall - (int64_t)w->d->cfg->storage.retention_days * DAY_MS;

	sqlite3_bind_int64(m->prune_rows, 1, before);
	step(w, m->prune_rows, "prune the site's history");
	sqlite3_bind_int64(m->prune_bound, 1, before);
	step(w, m->prune_bound, "prune the site's history");
	m->pruned_ms = now_ms();
}

static void count_bound(struct web_minute *m, const struct ag_daemon *d)
{
	char node[SOLVER_BINDING_LEN], *seen = m->last_bound;

	memset(m->last_bound, 0, sizeof(m->last_bound));

	for (size_t c = 0; d->proxy && c < d->proxy->n_chargers; c++) {
		if (bound_node(d->proxy->chargers[c]->binding, node, sizeof(node)) < 0)
			continue;
		int i = 0;
		while (i < WEB_BOUND_NODES && m->node[i][0] && strcmp(m->node[i], node) != 0)
			i++;
		if (i == WEB_BOUND_NODES || seen[i])
			continue; /* more nodes than slots bound this minute: the rest go uncounted */
		if (!m->node[i][0])
			snprintf(m->node[i], sizeof(m->node[i]), "%s", node);
		seen[i] = 1;
		m->node_samples[i]++;
	}
}

/* Take the minute's last sample back out of its sums. */
static void forget_last(struct web_minute *m)
{
	for (int f = 0; f < WM_FIELDS; f++)
		if (isfinite(m->last[f])) {
			m->sum[f] -= m->last[f];
			m->count[f]--;
		}
	for (int i = 0; i < WEB_BOUND_NODES; i++)
		m->node_samples[i] -= m->last_bound[i];
	m->samples--;
}

void web_history_sample(struct web *w, int64_t t_ms, const struct site_status *st)
{
	struct web_minute *m = &w->minute;
	double v = w->d->cfg->site.voltage_v, val[WM_FIELDS];
	int64_t minute = t_ms - t_ms % MINUTE_MS;

	if (m->samples && minute != m->minute_ms)
		write_minute(w);
	else if (m->samples && t_ms / 1000 == m->last_s)
		forget_last(m); /* pushed again within the second (after a solve): the newest counts */
	m->minute_ms = minute;
	m->last_s = t_ms / 1000;
	for (int p = 0; p < AG_PHASES; p++) {
		val[WM_GRID_A + p] = st->grid_a[p];
		val[WM_EV_A + p] = st->ev_a[p];
		val[WM_ALLOC_A + p] = st->allocated_a[p];
	}
	val[WM_GRID_KW] = kw(st->grid_a, v);
	val[WM_EV_KW] = kw(st->ev_a, v);
	val[WM_ALLOC_KW] = kw(st->allocated_a, v);
	val[WM_LIMIT_A] = fmax(st->limit_a[0], fmax(st->limit_a[1], st->limit_a[2]));
	for (int f = 0; f < WM_FIELDS; f++) {
		m->last[f] = val[f];
		if (isfinite(val[f])) {
			m->sum[f] += val[f];
			m->count[f]++;
		}
	}
	m->samples++;
	count_bound(m, w->d);
	if (now_ms() - m->pruned_ms >= PRUNE_MS)
		prune(w, t_ms);
}

int web_history_start(struct web *w)
{
	struct web_minute *m = &w->minute;
	sqlite3 *db = store_db(w->d->store);
	char sql[512];
	int n = snprintf(sql, sizeof(sql), "INSERT INTO site_history (time_ms, samples");

	memset(m, 0, sizeof(*m));
	for (int f = 0; f < WM_FIELDS; f++)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n, ", %s", columns[f]);
	n += snprintf(sql + n, sizeof(sql) - (size_t)n, ") VALUES (?1, ?2");
	for (int f = 0; f < WM_FIELDS; f++)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n, ", ?%d", f + 3);
	snprintf(sql + n, sizeof(sql) - (size_t)n, ")");
	if (sqlite3_prepare_v2(db, sql, -1, &m->insert_row, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO site_history_bound (time_ms, node, samples) VALUES (?1, ?2, ?3)", -1,
			       &m->insert_bound, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "DELETE FROM site_history WHERE time_ms < ?1", -1, &m->prune_rows, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "DELETE FROM site_history_bound WHERE time_ms < ?1", -1, &m->prune_bound, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: the site's history: %s", sqlite3_errmsg(db));
		web_history_stop(w);
		return -EIO;
	}
	prune(w, wall_ms());
	return 0;
}

void web_history_stop(struct web *w)
{
	struct web_minute *m = &w->minute;

	write_minute(w); /* the part-minute: a restart adds the rest of it as a row of its own */
	sqlite3_finalize(m->insert_row);
	sqlite3_finalize(m->insert_bound);
	sqlite3_finalize(m->prune_rows);
	sqlite3_finalize(m->prune_bound);
	m->insert_row = m->insert_bound = m->prune_rows = m->prune_bound = NULL;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(round(v * 10) / 10) : json_null();
}

static json_t *sample_json(int64_t t_ms, const double v[WM_FIELDS])
{
	return json_pack("[I, [o, o, o], [o, o, o], o, [o, o, o], o, o, o]", (json_int_t)t_ms, num(v[WM_GRID_A]),
			 num(v[WM_GRID_A + 1]), num(v[WM_GRID_A + 2]), num(v[WM_EV_A]), num(v[WM_EV_A + 1]),
			 num(v[WM_EV_A + 2]), num(v[WM_LIMIT_A]), num(v[WM_ALLOC_A]), num(v[WM_ALLOC_A + 1]),
			 num(v[WM_ALLOC_A + 2]), num(v[WM_GRID_KW]), num(v[WM_EV_KW]), num(v[WM_ALLOC_KW]));
}

/* The last hour from memory, one sample a second. */
static json_t *hour_samples(struct web *w)
{
	double v = w->d->cfg->site.voltage_v, val[WM_FIELDS];
	json_t *a = json_array();

	for (size_t i = 0; a && i < w->hist_len; i++) {
		const struct web_sample *s = &w->history[(w->hist_head + i) % WEB_HISTORY];
		double grid[AG_PHASES], ev[AG_PHASES], alloc[AG_PHASES];
		for (int p = 0; p < AG_PHASES; p++) {
			val[WM_GRID_A + p] = grid[p] = s->grid_a[p];
			val[WM_EV_A + p] = ev[p] = s->ev_a[p];
			val[WM_ALLOC_A + p] = alloc[p] = s->alloc_a[p];
		}
		val[WM_GRID_KW] = kw(grid, v);
		val[WM_EV_KW] = kw(ev, v);
		val[WM_ALLOC_KW] = kw(alloc, v);
		val[WM_LIMIT_A] = s->limit_a;
		json_array_append_new(a, sample_json(s->t_ms, val));
	}
	return a;
}

/* Rows since `from_ms`, averaged into buckets of `bucket_ms` (weighted by their samples), then
 * the minute still being gathered. NULL when the database cannot be read. */
static json_t *stored_samples(struct web *w, int64_t from_ms, int64_t bucket_ms)
{
	struct web_minute *m = &w->minute;
	sqlite3 *db = store_db(w->d->store);
	sqlite3_stmt *q;
	char sql[1400];
	double val[WM_FIELDS];
	int n = snprintf(sql, sizeof(sql), "SELECT (time_ms / ?2) * ?2 AS t");
	json_t *a = json_array();

	for (int f = 0; f < WM_FIELDS; f++)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n,
			      ", sum(%s * samples) / sum(CASE WHEN %s IS NULL THEN 0 ELSE samples END)", columns[f], columns[f]);
	snprintf(sql + n, sizeof(sql) - (size_t)n, " FROM site_history WHERE time_ms >= ?1 GROUP BY t ORDER BY t");
	if (!a || sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		json_decref(a);
		return NULL;
	}
	sqlite3_bind_int64(q, 1, from_ms);
	sqlite3_bind_int64(q, 2, bucket_ms);
	while (sqlite3_step(q) == SQLITE_ROW) {
		for (int f = 0; f < WM_FIELDS; f++)
			val[f] = sqlite3_column_type(q, f + 1) == SQLITE_NULL ? NAN : sqlite3_column_double(q, f + 1);
		json_array_append_new(a, sample_json(sqlite3_column_int64(q, 0), val));
	}
	sqlite3_finalize(q);
	if (m->samples) {
		for (int f = 0; f < WM_FIELDS; f++)
			val[f] = m->count[f] ? m->sum[f] / m->count[f] : NAN;
		json_array_append_new(a, sample_json(m->minute_ms, val));
	}
	return a;
}

/* How often each limit node bound at least one charger's allocation since `from_ms`: the stored
 * minutes and the one being gathered. {samples, nodes: [{node, samples, share_pct}]}, the most
 * binding first. NULL when the database cannot be read. */
static json_t *bound_share(struct web *w, int64_t from_ms)
{
	struct web_minute *m = &w->minute;
	sqlite3 *db = store_db(w->d->store);
	sqlite3_stmt *q;
	int64_t total = m->samples;
	json_t *nodes = json_object(), *list = json_array();
	const char *key;
	json_t *v;

	if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(samples), 0) FROM site_history WHERE time_ms >= ?1", -1, &q, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(q, 1, from_ms);
	if (sqlite3_step(q) == SQLITE_ROW)
		total += sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(db, "SELECT node, sum(samples) FROM site_history_bound WHERE time_ms >= ?1 GROUP BY node", -1, &q,
			       NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(q, 1, from_ms);
	while (sqlite3_step(q) == SQLITE_ROW)
		json_object_set_new(nodes, (const char *)sqlite3_column_text(q, 0), json_integer(sqlite3_column_int64(q, 1)));
	sqlite3_finalize(q);
	for (int i = 0; i < WEB_BOUND_NODES && m->node[i][0]; i++) {
		json_int_t had = json_integer_value(json_object_get(nodes, m->node[i]));
		json_object_set_new(nodes, m->node[i], json_integer(had + m->node_samples[i]));
	}
	json_object_foreach(nodes, key, v) {
		json_int_t s = json_integer_value(v);
		size_t at = 0;
		while (at < json_array_size(list) &&
		       json_integer_value(json_object_get(json_array_get(list, at), "samples")) >= s)
			at++;
		json_array_insert_new(list, at, json_pack("{s:s, s:I, s:o}", "node", key, "samples", s, "share_pct",
							  num(total ? 100.0 * (double)s / (double)total : NAN)));
	}
	json_decref(nodes);
	return json_pack("{s:I, s:o}", "samples", (json_int_t)total, "nodes", list);
fail:
	log_msg(LL_ERROR, "database: cannot read the site's history: %s", sqlite3_errmsg(db));
	json_decref(nodes);
	json_decref(list);
	return NULL;
}

json_t *web_history_json(struct web *w, const char *span)
{
	static const struct { const char *name; int64_t span_ms, bucket_ms; } spans[] = {
		{ "hour", 3600 * 1000LL, 0 }, { "day", DAY_MS, 5 * MINUTE_MS }, { "week", 7 * DAY_MS, 30 * MINUTE_MS },
	};
	int64_t now = wall_ms();
	size_t i = 0;

	while (i < sizeof(spans) / sizeof(spans[0]) - 1 && strcmp(spans[i].name, span) != 0)
		i++;
	if (strcmp(spans[i].name, span) != 0)
		return NULL;
	json_t *samples = spans[i].bucket_ms ? stored_samples(w, now - spans[i].span_ms, spans[i].bucket_ms) : hour_samples(w);
	json_t *bound = bound_share(w, now - spans[i].span_ms);
	if (!samples || !bound) {
		json_decref(samples);
		json_decref(bound);
		return NULL;
	}
	return json_pack("{s:s, s:I, s:I, s:I, s:o, s:[s, s, s, s, s, s, s, s], s:o, s:o}", "span", spans[i].name,
			 "from_ms", (json_int_t)(now - spans[i].span_ms), "to_ms", (json_int_t)now,
			 "bucket_ms", (json_int_t)(spans[i].bucket_ms ? spans[i].bucket_ms : 1000),
			 "voltage_v", num(w->d->cfg->site.voltage_v),
			 "columns", "time_ms", "grid_a", "ev_a", "limit_a", "allocated_a", "grid_kw", "ev_kw", "allocated_kw",
			 "samples", samples, "bound", bound);
}
