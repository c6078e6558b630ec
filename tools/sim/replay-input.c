/* Replay inputs: sessions (CSV, or the daemon's SQLite `transactions` table), building load and
 * prices (CSV).
 *
 * Key design decision: every CSV names its columns in a header line and columns are looked up
 * in a const table per file kind, so a misspelt or unknown column is an error (as an unknown
 * configuration key is), columns may come in any order, and every error names file:line and the
 * column. A file with any error yields nothing: a replay never runs on half its input. */
#include "tools/sim/replay.h"
#include "tools/sim/ocpp-msg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 16

enum col_kind { C_TEXT, C_TIME, C_NUM };

struct column {
	const char *name;
	enum col_kind kind;
	double lo, hi;          /* C_NUM range */
	bool required;
};

struct csv {
	const char *path;
	FILE *errs;
	const struct column *cols;
	int map[MAX_COLS];      /* file column -> table row, -1 = none */
	int n_file_cols;
	int line, errors;
	/* the current row, by table row */
	const char *text[MAX_COLS];
	double num[MAX_COLS];
	int64_t time[MAX_COLS];
	bool given[MAX_COLS];
};

static void __attribute__((format(printf, 3, 4))) csv_error(struct csv *c, const char *col, const char *fmt, ...)
{
	va_list ap;

	fprintf(c->errs, "%s:%d: %s: ", c->path, c->line, col);
	va_start(ap, fmt);
	vfprintf(c->errs, fmt, ap);
	va_end(ap);
	fputc('\n', c->errs);
	c->errors++;
}

int replay_time_parse(const char *s, int64_t *ms)
{
	unsigned h, m, sec = 0;
	int used = 0;
	char *end;
	long long v;

	if (strchr(s, 'T'))
		return ocpp_time_parse(s, ms);
	if ((sscanf(s, "%2u:%2u:%2u%n", &h, &m, &sec, &used) == 3 ||
	     sscanf(s, "%2u:%2u%n", &h, &m, &used) == 2) && !s[used] && m < 60 && sec < 60) {
		*ms = REPLAY_DAY0_MS + ((int64_t)h * 3600 + m * 60 + sec) * 1000;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v <= 0)
		return -EINVAL;
	*ms = v;
	return 0;
}

/* Split `line` in place at commas; trims blanks and one pair of double quotes. */
static int split(char *line, char **f, int max)
{
	int n = 0;

	for (char *p = line; n < max;) {
		char *comma = strchr(p, ',');
		char *e;

		if (comma)
			*comma = '\0';
		while (isspace((unsigned char)*p))
			p++;
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (e - p >= 2 && *p == '"' && e[-1] == '"') {
			e[-1] = '\0';
			p++;
		}
		f[n++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

static int header(struct csv *c, char **f, int n)
{
	c->n_file_cols = n;
	for (int i = 0; i < n; i++) {
		c->map[i] = -1;
		for (int k = 0; c->cols[k].name; k++)
			if (!strcmp(f[i], c->cols[k].name))
				c->map[i] = k;
		if (c->map[i] < 0) {
			fprintf(c->errs, "%s:%d: %s: unknown column; the columns are", c->path, c->line, f[i]);
			for (int k = 0; c->cols[k].name; k++)
				fprintf(c->errs, " %s", c->cols[k].name);
			fputc('\n', c->errs);
			c->errors++;
		}
	}
	for (int k = 0; c->cols[k].name; k++) {
		bool found = false;

		for (int i = 0; i < n; i++)
			found |= c->map[i] == k;
		if (c->cols[k].required && !found)
			csv_error(c, c->cols[k].name, "%s", "required column missing from the header line");
	}
	return c->errors ? -EINVAL : 0;
}

/* Parse one data row into c->text/num/time/given; 0 or -EINVAL (reported). */
static int row(struct csv *c, char **f, int n)
{
	int before = c->errors;

	if (n != c->n_file_cols) {
		fprintf(c->errs, "%s:%d: (row): %d fields, the header has %d\n", c->path, c->line, n, c->n_file_cols);
		c->errors++;
		return -EINVAL;
	}
	memset(c->given, 0, sizeof(c->given));
	for (int i = 0; i < n; i++) {
		int k = c->map[i];
		const struct column *col = &c->cols[k];
		char *end;

		c->text[k] = f[i];
		if (!*f[i]) {
			if (col->required)
				csv_error(c, col->name, "%s", "empty, but required");
			continue;
		}
		c->given[k] = true;
		if (col->kind == C_TIME && replay_time_parse(f[i], &c->time[k]) < 0)
			csv_error(c, col->name, "\"%s\": expected 2024-05-01T18:00:00Z, HH:MM[:SS] or epoch ms", f[i]);
		if (col->kind == C_NUM) {
			c->num[k] = strtod(f[i], &end);
			if (end == f[i] || *end || !(c->num[k] >= col->lo && c->num[k] <= col->hi)) {
				char range[64];

				snprintf(range, sizeof(range), "%g .. %g", col->lo, col->hi);
				fprintf(c->errs, "%s:%d: %s: \"%s\": expected a number in %s\n", c->path, c->line, col->name,
					f[i], range);
				c->errors++;
			}
		}
	}
	return c->errors > before ? -EINVAL : 0;
}

/* Read `path` as CSV with columns `cols`, calling `each` for every valid data row. */
static int csv_read(const char *path, const struct column *cols, FILE *errs,
		    int (*each)(struct csv *c, void *arg), void *arg)
{
	struct csv c = { .path = path, .errs = errs, .cols = cols };
	FILE *in = fopen(path, "r");
	char *buf = NULL, *f[MAX_COLS + 1];
	size_t cap = 0;
	bool have_header = false;

	if (!in) {
		fprintf(errs, "%s: cannot open: %s\n", path, strerror(errno));
		return -errno;
	}
	while (getline(&buf, &cap, in) >= 0) {
		char *p = buf;
		int n;

		c.line++;
		p[strcspn(p, "\r\n")] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		n = split(p, f, MAX_COLS + 1);
		if (!have_header) {
			have_header = true;
			if (n > MAX_COLS || header(&c, f, n) < 0)
				break;
			continue;
		}
		if (row(&c, f, n) == 0)
			c.errors += each(&c, arg) < 0;
	}
	if (!have_header && !c.errors) {
		fprintf(errs, "%s:%d: (header): no header line\n", path, c.line);
		c.errors++;
	}
	free(buf);
	fclose(in);
	return c.errors ? -EINVAL : 0;
}

/* A growing array of `size`-byte items. */
struct vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void *p = realloc(v->items, cap * v->size);

		if (!p)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	return memset((char *)v->items + v->n++ * v->size, 0, v->size);
}

/* Hand the array to the caller when rc is 0; free it otherwise. */
static int vec_take(struct vec *v, int rc, void *out, size_t *n)
{
	if (rc < 0) {
		free(v->items);
		return rc;
	}
	*(void **)out = v->items;
	*n = v->n;
	return 0;
}

/* ---- sessions ---- */

enum { S_CHARGER, S_ARRIVAL, S_DEPARTURE, S_ENERGY, S_MAX_A, S_MAX_KW, S_PHASES, S_BATTERY, S_SOC };

static const struct column session_cols[] = {
	[S_CHARGER] = { "charger", C_TEXT, 0, 0, false },
	[S_ARRIVAL] = { "arrival", C_TIME, 0, 0, true },
	[S_DEPARTURE] = { "departure", C_TIME, 0, 0, true },
	[S_ENERGY] = { "energy_kwh", C_NUM, 0, 10000, true },
	[S_MAX_A] = { "max_a", C_NUM, 6, 1000, false },
	[S_MAX_KW] = { "max_kw", C_NUM, 1, 1000, false },
	[S_PHASES] = { "phases", C_NUM, 1, 3, false },
	[S_BATTERY] = { "battery_kwh", C_NUM, 1, 10000, false },
	[S_SOC] = { "arrival_soc_pct", C_NUM, 0, 100, false },
	{ NULL, 0, 0, 0, false },
};

/* What the row callbacks of sessions and loads share. */
struct rows {
	struct vec v;
	const struct ag_config *cfg;
	int64_t last_ms;        /* loads: the previous row's time */
};

static int session_row(struct csv *c, void *arg)
{
	struct rows *x = arg;
	struct replay_session *s;
	int phases = c->given[S_PHASES] ? (int)c->num[S_PHASES] : 0;

	if (c->given[S_PHASES] && phases != 1 && phases != 3) {
		csv_error(c, "phases", "\"%s\": 1 or 3", c->text[S_PHASES]);
		return 0;
	}
	if (c->time[S_DEPARTURE] <= c->time[S_ARRIVAL]) {
		csv_error(c, "departure", "\"%s\": not after the arrival", c->text[S_DEPARTURE]);
		return 0;
	}
	if (c->given[S_MAX_A] && c->given[S_MAX_KW]) {
		csv_error(c, "max_kw", "%s", "give max_a or max_kw, not both");
		return 0;
	}
	if (strlen(c->text[S_CHARGER] ? c->text[S_CHARGER] : "") >= REPLAY_ID_LEN) {
		csv_error(c, "charger", "\"%s\": too long", c->text[S_CHARGER]);
		return 0;
	}
	if (c->given[S_BATTERY] && c->num[S_ENERGY] > c->num[S_BATTERY] *
	    (1.0 - (c->given[S_SOC] ? c->num[S_SOC] / 100.0 : 0))) {
		csv_error(c, "energy_kwh", "\"%s\": more than the battery can take", c->text[S_ENERGY]);
		return 0;
	}
	if (!(s = vec_push(&x->v)))
		return -ENOMEM;
	if (c->given[S_CHARGER])
		snprintf(s->charger, sizeof(s->charger), "%s", c->text[S_CHARGER]);
	s->arrival_ms = c->time[S_ARRIVAL];
	s->departure_ms = c->time[S_DEPARTURE];
	s->request_wh = c->num[S_ENERGY] * 1000.0;
	s->ev_phases = phases;
	s->ev_max_a = c->given[S_MAX_A] ? c->num[S_MAX_A] : 0;
	if (c->given[S_MAX_KW])         /* kW over the EV's phases, or 3 when unknown */
		s->ev_max_a = c->num[S_MAX_KW] * 1000.0 / (x->cfg->site.voltage_v * (phases ? phases : 3));
	s->battery_wh = c->given[S_BATTERY] ? c->num[S_BATTERY] * 1000.0 : 0;
	s->arrival_soc = c->given[S_SOC] ? c->num[S_SOC] / 100.0 : -1;
	s->line = c->line;
	return 0;
}

/* The daemon's transactions: finished ones only; energy_wh is what was delivered. */
static int read_db(const char *path, struct rows *x, FILE *errs)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int rc, open_tx = 0, n = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT charger_id, start_ms, stop_ms, energy_wh FROM transactions "
				   "ORDER BY start_ms", -1, &q, NULL) != SQLITE_OK) {
		fprintf(errs, "%s: cannot read its transactions table: %s (is it an ampgated database?)\n", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -EINVAL;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct replay_session *s;

		n++;
		if (sqlite3_column_type(q, 2) == SQLITE_NULL || sqlite3_column_int64(q, 2) <= sqlite3_column_int64(q, 1)) {
			open_tx++;
			continue;
		}
		if (!(s = vec_push(&x->v))) {
			rc = SQLITE_NOMEM;
			break;
		}
		snprintf(s->charger, sizeof(s->charger), "%s", (const char *)sqlite3_column_text(q, 0));
		s->arrival_ms = sqlite3_column_int64(q, 1);
		s->departure_ms = sqlite3_column_int64(q, 2);
		s->request_wh = fmax(0.0, sqlite3_column_double(q, 3));
		s->arrival_soc = -1;
		s->line = n;
	}
	if (rc != SQLITE_DONE)
		fprintf(errs, "%s: reading transactions: %s\n", path, sqlite3_errmsg(db));
	else if (open_tx)
		fprintf(errs, "%s: %d transaction(s) without a stop time left out (still open, or the edge stopped)\n",
			path, open_tx);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static bool is_sqlite(const char *path)
{
	char magic[16] = { 0 };
	FILE *f = fopen(path, "rb");

	if (!f)
		return false;
	if (fread(magic, 1, sizeof(magic), f) != sizeof(magic))
		magic[0] = '\0';
	fclose(f);
	return !memcmp(magic, "SQLite format 3", 16);
}

/* Two sessions on one charger at once cannot both be real: say where. */
static int check_overlaps(const char *path, struct replay_session *s, size_t n, FILE *errs)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && s[i].charger[0]; j++)
			if (!strcmp(s[i].charger, s[j].charger) && s[i].arrival_ms < s[j].departure_ms &&
			    s[j].arrival_ms < s[i].departure_ms && bad++ < 10)
				fprintf(errs, "%s:%d: charger: %s is still taken by the session of line %d "
					      "(replay with --any-charger to let sessions take any free charger)\n",
					path, s[j].line, s[j].charger, s[i].line);
	return bad ? -EINVAL : 0;
}

int replay_read_sessions(const char *path, const struct ag_config *cfg, struct replay_session **out,
			 size_t *n, FILE *errs)
{
	struct rows x = { .v = { .size = sizeof(struct replay_session) }, .cfg = cfg };
	int rc = is_sqlite(path) ? read_db(path, &x, errs) : csv_read(path, session_cols, errs, session_row, &x);

	if (rc == 0 && x.v.n == 0) {
		fprintf(errs, "%s: no sessions\n", path);
		rc = -EINVAL;
	}
	if (rc == 0 && !is_sqlite(path))
		rc = check_overlaps(path, x.v.items, x.v.n, errs);
	return vec_take(&x.v, rc, out, n);
}

/* ---- building load ---- */

enum { L_TIME, L_NODE, L_L1, L_L2, L_L3, L_KW };

static const struct column load_cols[] = {
	[L_TIME] = { "time", C_TIME, 0, 0, true },
	[L_NODE] = { "node", C_TEXT, 0, 0, false },
	[L_L1] = { "l1_a", C_NUM, 0, 100000, false },
	[L_L2] = { "l2_a", C_NUM, 0, 100000, false },
	[L_L3] = { "l3_a", C_NUM, 0, 100000, false },
	[L_KW] = { "kw", C_NUM, 0, 100000, false },
	{ NULL, 0, 0, 0, false },
};

static int load_row(struct csv *c, void *arg)
{
	struct rows *x = arg;
	const char *node = c->given[L_NODE] ? c->text[L_NODE] : "grid";
	bool phases = c->given[L_L1] || c->given[L_L2] || c->given[L_L3];
	struct replay_load *l;

	if (c->time[L_TIME] < x->last_ms) {
		csv_error(c, "time", "\"%s\": earlier than the row before (sort the file by time)", c->text[L_TIME]);
		return 0;
	}
	if (phases && c->given[L_KW]) {
		csv_error(c, "kw", "%s", "give l1_a/l2_a/l3_a or kw, not both");
		return 0;
	}
	if (strcmp(node, "grid") && !config_circuit(x->cfg, node)) {
		csv_error(c, "node", "\"%s\": neither \"grid\" nor a circuit of the configuration", node);
		return 0;
	}
	if (!phases && !c->given[L_KW] && strcmp(node, "grid")) {
		csv_error(c, "node", "\"%s\": a row without values marks the grid meter stale; circuits take values",
			  node);
		return 0;
	}
	if (!(l = vec_push(&x->v)))
		return -ENOMEM;
	x->last_ms = l->at_ms = c->time[L_TIME];
	snprintf(l->node, sizeof(l->node), "%s", node);
	l->stale = !phases && !c->given[L_KW];
	for (int p = 0; p < 3; p++)     /* kW spread evenly over the three phases */
		l->a[p] = c->given[L_KW] ? c->num[L_KW] * 1000.0 / (3 * x->cfg->site.voltage_v)
					 : c->given[L_L1 + p] ? c->num[L_L1 + p] : 0;
	l->line = c->line;
	return 0;
}

int replay_read_loads(const char *path, const struct ag_config *cfg, struct replay_load **out, size_t *n,
		      FILE *errs)
{
	struct rows x = { .v = { .size = sizeof(struct replay_load) }, .cfg = cfg };
	return vec_take(&x.v, csv_read(path, load_cols, errs, load_row, &x), out, n);
}

/* ---- prices ---- */

static const struct column price_cols[] = {
	{ "time", C_TIME, 0, 0, true },
	{ "price_per_kwh", C_NUM, -1000, 1000, true },
	{ NULL, 0, 0, 0, false },
};

static int price_row(struct csv *c, void *arg)
{
	struct vec *v = arg;
	struct price_slot *p;

	if (v->n && c->time[0] <= ((struct price_slot *)v->items)[v->n - 1].start_ms) {
		csv_error(c, "time", "\"%s\": not after the row before (sort the file by time)", c->text[0]);
		return 0;
	}
	if (!(p = vec_push(v)))
		return -ENOMEM;
	p->start_ms = c->time[0];
	p->price = c->num[1];
	return 0;
}

int replay_read_prices(const char *path, struct price_slot **out, size_t *n, FILE *errs)
{
	struct vec v = { .size = sizeof(struct price_slot) };
	return vec_take(&v, csv_read(path, price_cols, errs, price_row, &v), out, n);
}
