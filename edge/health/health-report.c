/* Health figures; see health-report.h.
 *
 * Design decision: figures are computed from the stored stretches of time, clipped to the
 * window, never from counters kept in memory: what a restart, a crash or a window that starts
 * in the middle of a fault does to the figures follows from the rows alone, and a test can
 * compute the same figures from the same rows. Rows are read through the view health_stretches
 * (migration 13), which gives an open row its end: the last time ampgated was known to run. */
#include "edge/health/health-report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int prepare(sqlite3 *db, sqlite3_stmt **q, const char *sql)
{
	return sqlite3_prepare_v2(db, sql, -1, q, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* A query about one charger and a window: ?1 the charger, ?2 from, ?3 to. */
static int window_query(sqlite3 *db, sqlite3_stmt **q, const char *sql, const char *id, int64_t from, int64_t to)
{
	if (prepare(db, q, sql) < 0)
		return -EIO;
	sqlite3_bind_text(*q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(*q, 2, from);
	sqlite3_bind_int64(*q, 3, to);
	return 0;
}

int health_report_check(sqlite3 *db)
{
	sqlite3_stmt *q;
	int n = 0;

	if (prepare(db, &q, "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND "
			    "name IN ('health_states', 'health_stretches', 'health_actions', 'transactions')") < 0)
		return -EIO;
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return n == 4 ? 0 : -ENOENT;
}

static void count_code(struct health_figures *f, const char *code)
{
	int i;

	if (!code || !code[0])
		code = "Faulted";
	for (i = 0; i < f->n_codes; i++)
		if (strcmp(f->by_code[i].code, code) == 0)
			break;
	if (i == f->n_codes) {
		if (f->n_codes == HEALTH_CODES) {
			i = HEALTH_CODES - 1; /* the last slot gathers the rest */
			snprintf(f->by_code[i].code, sizeof(f->by_code[i].code), "other");
		} else {
			snprintf(f->by_code[i].code, sizeof(f->by_code[i].code), "%s", code);
			f->n_codes++;
		}
	}
	f->by_code[i].n++;
}

static int by_count(const void *a, const void *b)
{
	const struct health_code *x = a, *y = b;

	return x->n != y->n ? y->n - x->n : strcmp(x->code, y->code);
}

/* Time per state, and faults: a faulted stretch starting in the window after one that was not
 * faulted (a new error code, or a restart in the middle of a fault, is not a new fault). */
static int states(sqlite3 *db, const char *id, int64_t from, int64_t to, struct health_figures *f)
{
	sqlite3_stmt *q;
	int rc;

	if (window_query(db, &q,
			 "SELECT state, start_ms, end_ms, prev, code FROM (SELECT state, start_ms, end_ms, code, "
			 "lag(state) OVER (ORDER BY start_ms) AS prev FROM health_stretches WHERE charger_id = ?1) "
			 "WHERE end_ms > ?2 AND start_ms < ?3",
			 id, from, to) < 0)
		return -EIO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int s = health_state_parse((const char *)sqlite3_column_text(q, 0));
		int64_t start = sqlite3_column_int64(q, 1), end = sqlite3_column_int64(q, 2);
		const char *prev = (const char *)sqlite3_column_text(q, 3);
		if (s < 0)
			continue;
		int64_t a = start > from ? start : from, b = end < to ? end : to;
		if (b > a) {
			f->ms[s] += b - a;
			f->observed_ms += b - a;
		}
		if (s == HS_FAULTED && start >= from && (!prev || strcmp(prev, "faulted") != 0)) {
			f->faults++;
			count_code(f, (const char *)sqlite3_column_text(q, 4));
		}
	}
	sqlite3_finalize(q);
	qsort(f->by_code, (size_t)f->n_codes, sizeof(f->by_code[0]), by_count);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int actions(sqlite3 *db, const char *id, int64_t from, int64_t to, struct health_figures *f)
{
	sqlite3_stmt *q;
	int rc;

	if (window_query(db, &q,
			 "SELECT action, count(*), total(healed = 1) FROM health_actions WHERE charger_id = ?1 "
			 "AND time_ms >= ?2 AND time_ms < ?3 GROUP BY action",
			 id, from, to) < 0)
		return -EIO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(q, 0);
		int n = sqlite3_column_int(q, 1), healed = (int)sqlite3_column_double(q, 2);
		if (!a)
			continue;
		if (strcmp(a, "soft reset") == 0)
			f->soft_resets += n, f->healed += healed;
		else if (strcmp(a, "hard reset") == 0)
			f->hard_resets += n, f->healed += healed;
		else if (strcmp(a, "disconnect") == 0)
			f->disconnects += n;
		else if (strcmp(a, "technician") == 0)
			f->technician += n;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int sessions(sqlite3 *db, const char *id, int64_t from, int64_t to, struct health_figures *f)
{
	sqlite3_stmt *q;
	int rc;

	if (window_query(db, &q,
			 "SELECT count(*), total(energy_wh) FROM transactions WHERE charger_id = ?1 "
			 "AND start_ms >= ?2 AND start_ms < ?3",
			 id, from, to) < 0)
		return -EIO;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		f->sessions = sqlite3_column_int(q, 0);
		f->energy_wh = sqlite3_column_double(q, 1);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int health_report_charger(sqlite3 *db, const char *charger_id, int64_t from_ms, int64_t to_ms,
			  struct health_figures *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->charger_id, sizeof(out->charger_id), "%s", charger_id);
	if (states(db, charger_id, from_ms, to_ms, out) < 0 || actions(db, charger_id, from_ms, to_ms, out) < 0 ||
	    sessions(db, charger_id, from_ms, to_ms, out) < 0)
		return -EIO;
	return 0;
}

int health_report_ids(sqlite3 *db, int64_t from_ms, int64_t to_ms, char (**ids)[49], size_t *n)
{
	sqlite3_stmt *q;
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	/* Closed rows through the index on end_ms; open ones (whose stored end_ms is their start)
	 * through their own. */
	if (prepare(db, &q,
		    "SELECT charger_id FROM health_states WHERE end_ms > ?1 AND start_ms < ?2 UNION "
		    "SELECT charger_id FROM health_stretches WHERE open = 1 AND end_ms > ?1 AND start_ms < ?2 UNION "
		    "SELECT charger_id FROM health_actions WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY 1") < 0)
		return -EIO;
	sqlite3_bind_int64(q, 1, from_ms);
	sqlite3_bind_int64(q, 2, to_ms);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			char(*grown)[49] = realloc(*ids, cap * sizeof(**ids));
			if (!grown) {
				sqlite3_finalize(q);
				return -ENOMEM;
			}
			*ids = grown;
		}
		snprintf((*ids)[(*n)++], sizeof(**ids), "%s", (const char *)sqlite3_column_text(q, 0));
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

double health_availability_pct(const struct health_figures *f)
{
	int64_t usable = 0;

	if (f->observed_ms <= 0)
		return -1;
	for (int s = 0; s < HS_N; s++)
		if (health_state_usable((enum health_state)s))
			usable += f->ms[s];
	return 100.0 * (double)usable / (double)f->observed_ms;
}

double health_utilisation_pct(const struct health_figures *f)
{
	if (f->observed_ms <= 0)
		return -1;
	return 100.0 * (double)(f->ms[HS_CHARGING] + f->ms[HS_OCCUPIED]) / (double)f->observed_ms;
}

json_t *health_figures_json(const struct health_figures *f)
{
	json_t *secs = json_object();
	double a = health_availability_pct(f), u = health_utilisation_pct(f);

	json_t *codes = json_object();

	for (int s = 0; s < HS_N; s++)
		json_object_set_new(secs, health_state_name((enum health_state)s), json_real((double)f->ms[s] / 1000.0));
	for (int i = 0; i < f->n_codes; i++)
		json_object_set_new(codes, f->by_code[i].code, json_integer(f->by_code[i].n));
	return json_pack("{s:s, s:f, s:o, s:o, s:o, s:i, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:f}", "id", f->charger_id,
			 "observed_s", (double)f->observed_ms / 1000.0, "availability_pct", a < 0 ? json_null() : json_real(a),
			 "utilisation_pct", u < 0 ? json_null() : json_real(u), "seconds", secs, "faults", f->faults,
			 "faults_by_code", codes,
			 "soft_resets", f->soft_resets, "hard_resets", f->hard_resets, "healed", f->healed, "disconnects",
			 f->disconnects, "technician_alerts", f->technician, "sessions", f->sessions, "energy_kwh",
			 f->energy_wh / 1000.0);
}

json_t *health_steps_json(sqlite3 *db, const char *charger_id, int64_t from_ms, int64_t to_ms, int max)
{
	sqlite3_stmt *q;
	json_t *a = json_array();
	int rc;

	if (!a || window_query(db, &q,
			       "SELECT time_ms, action, detail, answer, healed FROM health_actions WHERE charger_id = ?1"
			       " AND time_ms >= ?2 AND time_ms < ?3 ORDER BY time_ms DESC, id DESC LIMIT ?4",
			       charger_id, from_ms, to_ms) < 0) {
		json_decref(a);
		return NULL;
	}
	sqlite3_bind_int(q, 4, max);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *healed = sqlite3_column_type(q, 4) == SQLITE_NULL ? json_null() : json_boolean(sqlite3_column_int(q, 4));
		json_array_append_new(a, json_pack("{s:I, s:s, s:s?, s:s?, s:o}", "time_ms", (json_int_t)sqlite3_column_int64(q, 0),
						   "action", (const char *)sqlite3_column_text(q, 1), "detail",
						   (const char *)sqlite3_column_text(q, 2), "answer",
						   (const char *)sqlite3_column_text(q, 3), "healed", healed));
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return NULL;
	}
	return a;
}

json_t *health_timeline_json(sqlite3 *db, const char *charger_id, int64_t from_ms, int64_t to_ms)
{
	sqlite3_stmt *q;
	json_t *a = json_array();
	int rc;

	if (!a || window_query(db, &q,
			       "SELECT state, max(start_ms, ?2), min(end_ms, ?3), code FROM health_stretches WHERE charger_id = ?1"
			       " AND end_ms > ?2 AND start_ms < ?3 ORDER BY start_ms LIMIT 20000",
			       charger_id, from_ms, to_ms) < 0) {
		json_decref(a);
		return NULL;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		json_array_append_new(a, json_pack("[s, I, I, s?]", (const char *)sqlite3_column_text(q, 0),
						   (json_int_t)sqlite3_column_int64(q, 1), (json_int_t)sqlite3_column_int64(q, 2),
						   (const char *)sqlite3_column_text(q, 3)));
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return NULL;
	}
	return json_pack("{s:s, s:I, s:I, s:[s, s, s, s], s:o}", "id", charger_id, "from_ms", (json_int_t)from_ms, "to_ms",
			 (json_int_t)to_ms, "columns", "state", "start_ms", "end_ms", "code", "stretches", a);
}
