/* History for the site manager: /api/v1/sessions (finished and running charging sessions in a
 * date range, as JSON or CSV), /api/v1/energy (kWh today, this week, this month, for the site
 * and per charger), both from the transactions table the proxy keeps, and a charger's health
 * timeline (/api/v1/chargers/<id>/timeline, from health-report.c).
 *
 * Design decision: a session's energy counts in the day, week and month it started in (the
 * table has a session's total, not its hours), and a running session counts with the energy its
 * charger has reported so far; days, weeks (from Monday) and months are the box's local time,
 * the time the depot works by. */
#include "edge/ocpp/charger.h"
#include "edge/health/health-report.h"
#include "edge/ocpp/ocpp-frame.h"
#include "edge/ocpp/proxy.h"
#include "edge/core/store.h"
#include "edge/web/web-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS (24 * 3600 * 1000LL)
#define NEED_MET_WH 50.0        /* less than this left to charge counts as met */

/* Energy of a session: the stored total once it ended, else what its charger reported so far. */
static double session_wh(struct ag_daemon *d, sqlite3_stmt *q, const char *charger_id, const char *tx_id)
{
	if (sqlite3_column_type(q, 4) != SQLITE_NULL)
		return sqlite3_column_double(q, 4);
	struct charger *ch = d->proxy ? proxy_find(d->proxy, charger_id) : NULL;
	const struct transaction *tx = ch ? charger_tx(ch, tx_id, false) : NULL;
	return tx && isfinite(tx->energy_wh) && tx->energy_wh > 0 ? tx->energy_wh : 0;
}

/* Local midnight `days_back` days before the day of `t` (seconds). */
static int64_t local_day_ms(time_t t, int days_back, bool month_start)
{
	struct tm tm;

	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	if (month_start)
		tm.tm_mday = 1;
	else
		tm.tm_mday -= days_back;
	return (int64_t)mktime(&tm) * 1000;
}

/* "YYYY-MM-DD" (local midnight; `end` = the midnight after) or epoch ms; -1 when neither. */
static int64_t parse_when(const char *s, bool end)
{
	struct tm tm = { 0 };
	char *rest;

	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		tm.tm_year = atoi(s) - 1900;
		tm.tm_mon = atoi(s + 5) - 1;
		tm.tm_mday = atoi(s + 8) + (end ? 1 : 0);
		tm.tm_isdst = -1;
		if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
			return -1;
		return (int64_t)mktime(&tm) * 1000;
	}
	long long v = strtoll(s, &rest, 10);
	return *s && !*rest && v >= 0 ? (int64_t)v : -1;
}

static json_t *energy(struct ag_daemon *d)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	int64_t since[3] = { local_day_ms(now, 0, false), local_day_ms(now, (tm.tm_wday + 6) % 7, false),
			     local_day_ms(now, 0, true) };
	static const char *const names[3] = { "today_kwh", "week_kwh", "month_kwh" };
	double site[3] = { 0 };
	int64_t from = since[0];
	json_t *per = json_object();
	sqlite3_stmt *q;

	for (int i = 1; i < 3; i++)
		from = since[i] < from ? since[i] : from;
	for (size_t i = 0; d->proxy && i < d->proxy->n_chargers; i++)
		json_object_set_new(per, d->proxy->chargers[i]->id,
				    json_pack("{s:f, s:f, s:f}", names[0], 0.0, names[1], 0.0, names[2], 0.0));
	if (!per || sqlite3_prepare_v2(store_db(d->store),
				       "SELECT charger_id, tx_id, start_ms, stop_ms, energy_wh FROM transactions"
				       " WHERE start_ms >= ?1", -1, &q, NULL) != SQLITE_OK) {
		json_decref(per);
		return NULL;
	}
	sqlite3_bind_int64(q, 1, from);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(q, 0);
		double wh = session_wh(d, q, id, (const char *)sqlite3_column_text(q, 1));
		json_t *c = json_object_get(per, id);
		if (!c)
			json_object_set_new(per, id, c = json_pack("{s:f, s:f, s:f}", names[0], 0.0, names[1], 0.0, names[2], 0.0));
		for (int i = 0; i < 3; i++) {
			if (sqlite3_column_int64(q, 2) < since[i])
				continue;
			site[i] += wh / 1000;
			json_object_set_new(c, names[i], json_real(json_real_value(json_object_get(c, names[i])) + wh / 1000));
		}
	}
	sqlite3_finalize(q);
	return json_pack("{s:{s:f, s:f, s:f}, s:o, s:{s:I, s:I, s:I}}", "site", names[0], site[0], names[1], site[1],
			 names[2], site[2], "chargers", per, "since_ms", "today", (json_int_t)since[0], "week",
			 (json_int_t)since[1], "month", (json_int_t)since[2]);
}

struct session_row {
	const char *charger, *tx, *id_token;
	int64_t start_ms, stop_ms, departure_ms; /* 0: not known / running */
	double energy_wh, peak_w, need_left_wh;  /* NAN: not known */
};

static const char *need_met(const struct session_row *s)
{
	if (!isfinite(s->need_left_wh) || !s->stop_ms)
		return NULL;
	return s->need_left_wh <= NEED_MET_WH ? "yes" : "no";
}

static double col_num(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

static json_t *kwh(double wh, double div)
{
	return isfinite(wh) ? json_real(round(wh / div * 100) / 100) : json_null();
}

static json_t *when(int64_t ms)
{
	char buf[40];

	if (!ms)
		return json_null();
	ocpp_time_format(ms, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *session_json(const struct session_row *s)
{
	return json_pack("{s:s, s:s, s:s?, s:o, s:o, s:b, s:o, s:o, s:o, s:s?}", "charger", s->charger, "transaction",
			 s->tx, "id_token", s->id_token, "start", when(s->start_ms), "stop", when(s->stop_ms), "running",
			 !s->stop_ms, "energy_kwh", kwh(s->energy_wh, 1000), "peak_kw", kwh(s->peak_w, 1000), "departure",
			 when(s->departure_ms), "need_met", need_met(s));
}

/* A CSV field: quoted when it holds a separator, a quote or a line break; a leading = + - @
 * gets a quote mark in front so a spreadsheet does not run an id token as a formula. */
static void csv_field(FILE *f, const char *v)
{
	if (!v)
		return;
	bool quote = strpbrk(v, ",\"\r\n") != NULL || (v[0] && strchr("=+-@", v[0]));
	if (!quote) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	if (v[0] && strchr("=+-@", v[0]))
		fputc('\'', f);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

static void csv_row(FILE *f, const struct session_row *s)
{
	json_t *j = session_json(s);
	static const char *const cols[] = { "charger", "id_token", "start", "stop", "energy_kwh", "peak_kw",
					    "departure", "need_met" };

	for (size_t i = 0; j && i < sizeof(cols) / sizeof(cols[0]); i++) {
		json_t *v = json_object_get(j, cols[i]);
		char num[32];
		if (i)
			fputc(',', f);
		if (json_is_real(v)) {
			snprintf(num, sizeof(num), "%.2f", json_real_value(v));
			fputs(num, f);
		} else {
			csv_field(f, json_string_value(v));
		}
	}
	fputs("\r\n", f);
	json_decref(j);
}

static int sessions(struct web *w, struct web_req *r)
{
	char arg[64], charger[64] = "";
	const char *v;
	int64_t from = wall_ms() - 30 * DAY_MS, to = INT64_MAX;
	bool csv = false;
	sqlite3_stmt *q;

	if ((v = lws_get_urlarg_by_name(r->wsi, "from=", arg, sizeof(arg))) && *v && (from = parse_when(v, false)) < 0)
		return web_error(r, 400, "from must be a date (YYYY-MM-DD) or milliseconds since 1970");
	if ((v = lws_get_urlarg_by_name(r->wsi, "to=", arg, sizeof(arg))) && *v && (to = parse_when(v, true)) < 0)
		return web_error(r, 400, "to must be a date (YYYY-MM-DD, included) or milliseconds since 1970");
	if ((v = lws_get_urlarg_by_name(r->wsi, "charger=", arg, sizeof(arg))))
		snprintf(charger, sizeof(charger), "%s", v);
	if ((v = lws_get_urlarg_by_name(r->wsi, "format=", arg, sizeof(arg))))
		csv = strcmp(v, "csv") == 0;
	if (sqlite3_prepare_v2(store_db(w->d->store),
			       "SELECT charger_id, tx_id, id_token, start_ms, energy_wh, stop_ms, peak_w, need_left_wh,"
			       " departure_ms FROM transactions WHERE start_ms >= ?1 AND start_ms < ?2"
			       " AND (?3 = '' OR charger_id = ?3) ORDER BY start_ms DESC LIMIT 5000",
			       -1, &q, NULL) != SQLITE_OK)
		return web_error(r, 500, "the session history cannot be read: %s", sqlite3_errmsg(store_db(w->d->store)));
	sqlite3_bind_int64(q, 1, from);
	sqlite3_bind_int64(q, 2, to);
	sqlite3_bind_text(q, 3, charger, -1, SQLITE_STATIC);

	json_t *a = csv ? NULL : json_array();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = csv ? open_memstream(&buf, &len) : NULL;
	if (f)
		fputs("charger,id_token,start,stop,energy_kwh,peak_kw,departure,need_met\r\n", f);
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct session_row s = {
			.charger = (const char *)sqlite3_column_text(q, 0),
			.tx = (const char *)sqlite3_column_text(q, 1),
			.id_token = (const char *)sqlite3_column_text(q, 2),
			.start_ms = sqlite3_column_int64(q, 3),
			.stop_ms = sqlite3_column_int64(q, 5),
			.peak_w = col_num(q, 6),
			.need_left_wh = col_num(q, 7),
			.departure_ms = sqlite3_column_int64(q, 8),
		};
		s.energy_wh = session_wh(w->d, q, s.charger, s.tx);
		if (f)
			csv_row(f, &s);
		else
			json_array_append_new(a, session_json(&s));
	}
	sqlite3_finalize(q);
	if (!csv)
		return web_reply_json(r, 200, a);
	if (!f || fclose(f) != 0) {
		free(buf);
		return web_error(r, 500, "the edge is out of memory; try again");
	}
	int rc = web_reply(r, 200, "text/csv; charset=utf-8", buf, len);
	free(buf);
	return rc;
}

int web_timeline_get(struct web *w, struct web_req *r, const char *charger_id)
{
	char arg[16];
	const char *v = lws_get_urlarg_by_name(r->wsi, "days=", arg, sizeof(arg));
	long days = v ? strtol(v, NULL, 10) : 1;
	int64_t now = wall_ms();

	if (!w->d->proxy || !proxy_find(w->d->proxy, charger_id))
		return web_error(r, 404, "there is no charger %s on this site", charger_id);
	if (days < 1 || days > 90)
		return web_error(r, 400, "days must be a whole number from 1 to 90");
	return web_reply_json(r, 200, health_timeline_json(store_db(w->d->store), charger_id, now - days * DAY_MS, now));
}

int web_sessions_get(struct web *w, struct web_req *r)
{
	if (strcmp(r->uri, "/api/v1/energy") == 0)
		return web_reply_json(r, 200, energy(w->d));
	return sessions(w, r);
}
