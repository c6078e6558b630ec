/* SQLite store; see store.h. Durability rule of the product: whatever is acknowledged to a peer
 * is committed first, so the connection runs in WAL mode with synchronous=FULL (a commit survives
 * power loss, not only a crash), and every write is a short transaction on the loop thread. */
#include "edge/core/store.h"
#include "edge/core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct store {
	sqlite3 *db;
	sqlite3_stmt *insert_event;
	int version;
	bool batch_open;        /* audit events written since the last commit */
	uint64_t batch_seq;     /* the open batch's number, or the last one's (store_mark) */
};

/* Numbered migrations: entry i takes the schema from version i to i + 1. Never edit a released
 * entry; append a new one. */
static const char *const migrations[] = {
	/* 1: the audit log */
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  time_ms INTEGER NOT NULL,"
	"  severity TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  subject TEXT,"
	"  message TEXT NOT NULL);"
	"CREATE INDEX events_time ON events(time_ms);",
	/* 2: charging sessions as seen through the proxy */
	"CREATE TABLE transactions ("
	"  charger_id TEXT NOT NULL,"
	"  tx_id TEXT NOT NULL,"
	"  connector INTEGER,"
	"  id_token TEXT,"
	"  start_ms INTEGER NOT NULL,"
	"  start_wh REAL,"
	"  stop_ms INTEGER,"
	"  energy_wh REAL,"
	"  PRIMARY KEY (charger_id, tx_id));",
	/* 3: the durable outbox (partition): what the edge acknowledged on the CSMS's behalf, per
	 * charger in seq order until the CSMS acknowledges it (then the row is deleted), or parked
	 * (state 1) when the CSMS refused it; and the 1.6 provisional transaction ids the edge handed
	 * out, with the CSMS's id once the replayed StartTransaction was answered. */
	"CREATE TABLE outbox ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  charger_id TEXT NOT NULL,"
	"  msg_id TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  queued_ms INTEGER NOT NULL,"
	"  collapse_key TEXT,"
	"  provisional INTEGER,"
	"  state INTEGER NOT NULL DEFAULT 0,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  note TEXT);"
	"CREATE INDEX outbox_charger ON outbox(charger_id, state, seq);"
	"CREATE TABLE tx_map ("
	"  charger_id TEXT NOT NULL,"
	"  provisional INTEGER NOT NULL,"
	"  csms_id INTEGER,"
	"  PRIMARY KEY (charger_id, provisional));",
	/* 4: a site manager's decision on a station that was not in the configuration (pending.c):
	 * accepted ones are let in as chargers with default wiring across restarts, rejected ones
	 * are refused at connect. What it sent at boot is kept for the page and the audit, and the
	 * password suggested for its own entry in the configuration file. */
	"CREATE TABLE stations ("
	"  id TEXT PRIMARY KEY,"
	"  decision TEXT NOT NULL CHECK (decision IN ('accepted', 'rejected')),"
	"  vendor TEXT, model TEXT, serial TEXT, firmware TEXT,"
	"  address TEXT,"
	"  first_seen_ms INTEGER,"
	"  decided_ms INTEGER NOT NULL,"
	"  decided_by TEXT NOT NULL,"
	"  new_password TEXT);",
	/* 5: charger health. health_states: one row per stretch of time a charger spent in one
	 * state (wall-clock ms; the open row's end_ms is brought forward every few seconds, so a
	 * crash loses at most that much; from migration 13 an open row ends at health_alive);
	 * time while ampgated was not running is in no row. code: what a faulted stretch was
	 * faulted with (the OCPP errorCode, else the vendor's code).
	 * health_actions: what the edge did to heal a charger, the charger's answer and whether
	 * it healed (NULL until known). */
	"CREATE TABLE health_states ("
	"  charger_id TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  code TEXT,"
	"  detail TEXT,"
	"  start_ms INTEGER NOT NULL,"
	"  end_ms INTEGER NOT NULL,"
	"  open INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX health_states_charger ON health_states(charger_id, start_ms);"
	"CREATE INDEX health_states_end ON health_states(end_ms);"
	"CREATE TABLE health_actions ("
	"  id INTEGER PRIMARY KEY,"
	"  time_ms INTEGER NOT NULL,"
	"  charger_id TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  detail TEXT,"
	"  answer TEXT,"
	"  healed INTEGER);"
	"CREATE INDEX health_actions_charger ON health_actions(charger_id, time_ms);",
	/* 6: offline authorization (auth-cache.c) and a site manager's EV needs (charger-needs.c).
	 * auth_list: each charger's copy of the CSMS's local authorization list (SendLocalList),
	 * its version in auth_list_version; auth_cache: tokens the CSMS answered for a charger, with
	 * when they stop counting (expiry_ms, wall clock); auth_offline: tokens the edge accepted
	 * offline without knowing them, until they were flagged to the site manager when the CSMS
	 * was back. charger_needs: the manager's values for the session in progress. */
	"CREATE TABLE auth_list ("
	"  charger_id TEXT NOT NULL,"
	"  id_token TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  expiry_ms INTEGER,"
	"  PRIMARY KEY (charger_id, id_token));"
	"CREATE TABLE auth_list_version ("
	"  charger_id TEXT PRIMARY KEY,"
	"  version INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL);"
	"CREATE TABLE auth_cache ("
	"  charger_id TEXT NOT NULL,"
	"  id_token TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  seen_ms INTEGER NOT NULL,"
	"  expiry_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (charger_id, id_token));"
	"CREATE TABLE auth_offline ("
	"  id INTEGER PRIMARY KEY,"
	"  charger_id TEXT NOT NULL,"
	"  id_token TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  time_ms INTEGER NOT NULL,"
	"  flagged_ms INTEGER);"
	"CREATE INDEX auth_offline_open ON auth_offline(charger_id, flagged_ms);"
	"CREATE TABLE charger_needs ("
	"  charger_id TEXT PRIMARY KEY,"
	"  departure_ms INTEGER NOT NULL,"
	"  energy_wh REAL NOT NULL,"
	"  delivered_wh REAL NOT NULL);",
	/* 7: stations.new_password holds the hash of the suggested password (pending.c); the words
	 * that earlier versions kept there in plain text go. */
	"UPDATE stations SET new_password = NULL WHERE new_password NOT LIKE '$pbkdf2-%';",
	/* 8: what the sessions page shows of a finished session: its peak power, the energy it still
	 * needed when it ended and its departure (NULL when the charger or the EV never said). */
	"ALTER TABLE transactions ADD COLUMN peak_w REAL;"
	"ALTER TABLE transactions ADD COLUMN need_left_wh REAL;"
	"ALTER TABLE transactions ADD COLUMN departure_ms INTEGER;"
	"CREATE INDEX transactions_start ON transactions(start_ms);",
	/* 9: what the edge knew of a charger's connectors (status, error, the 2.0.1 Problem), so a
	 * restart does not forget a fault; and why the edge closed a session record (NULL while
	 * open; "stopped" when the charger stopped it, else what showed it was over). */
	"CREATE TABLE connectors ("
	"  charger_id TEXT NOT NULL,"
	"  connector INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"
	"  error_code TEXT,"
	"  vendor_error TEXT,"
	"  problem INTEGER NOT NULL DEFAULT 0,"
	"  at_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (charger_id, connector));"
	"ALTER TABLE transactions ADD COLUMN stop_reason TEXT;",
	/* 10: the demand-charge ratchet (energy.c): each month's highest grid import averaged over
	 * site.demand_window_s, and when that window ended (wall-clock ms). */
	"CREATE TABLE demand_peaks ("
	"  month TEXT PRIMARY KEY,"
	"  peak_w REAL NOT NULL,"
	"  at_ms INTEGER NOT NULL);",
	/* 11: the site's history for the page's day and week charts (web-live.c): one row per minute
	 * the daemon ran (time_ms: the minute's start, wall clock; a restart within a minute adds a
	 * second row for it, so readers weight by `samples`), the means over its samples; and, per
	 * limit node that bound at least one charger's allocation, in how many of those samples. */
	"CREATE TABLE site_history ("
	"  time_ms INTEGER NOT NULL,"
	"  samples INTEGER NOT NULL,"
	"  grid_a1 REAL, grid_a2 REAL, grid_a3 REAL, grid_kw REAL,"
	"  ev_a1 REAL, ev_a2 REAL, ev_a3 REAL, ev_kw REAL,"
	"  alloc_a1 REAL, alloc_a2 REAL, alloc_a3 REAL, alloc_kw REAL,"
	"  limit_a REAL);"
	"CREATE INDEX site_history_time ON site_history(time_ms);"
	"CREATE TABLE site_history_bound ("
	"  time_ms INTEGER NOT NULL,"
	"  node TEXT NOT NULL,"
	"  samples INTEGER NOT NULL);"
	"CREATE INDEX site_history_bound_time ON site_history_bound(time_ms);",
	/* 12: the open health rows (one per charger) found without reading the history: health.c
	 * brings their end_ms forward every 5 s and closes one at each change, and `open = 1` was
	 * a scan of every row kept (63 ms per flush with 10,000 chargers and 1.1 million rows; 10 ms
	 * with this index, sqlite3 .timer). */
	"CREATE INDEX health_states_open ON health_states(charger_id) WHERE open = 1;",
	/* 13: one "alive until" time for all open health rows instead of each one's end_ms brought
	 * forward: that rewrote a row per charger (and its health_states_end entry) every 5 s on the
	 * loop, 14-20 ms at 10,000 chargers with 100,000 closed rows (sqlite3 .timer, WAL,
	 * synchronous=FULL); this is one row, under 1 ms. An open row's end_ms stays at its start
	 * (as written); it ends at health_alive.alive_ms, the last time health.c saw ampgated
	 * running (every 5 s, and at a stop), or later than that if it opened since. Rows are
	 * closed at that time (a clean stop, a crash found at start, a wall-clock step).
	 * health_stretches is the history as readers see it: every row with its real end. */
	"CREATE TABLE health_alive ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  alive_ms INTEGER NOT NULL);"
	"INSERT INTO health_alive SELECT 1, coalesce(max(end_ms), 0) FROM health_states WHERE open = 1;"
	"CREATE VIEW health_stretches AS SELECT charger_id, state, code, detail, start_ms,"
	"  CASE WHEN open = 1 THEN max(end_ms, (SELECT alive_ms FROM health_alive)) ELSE end_ms END AS end_ms,"
	"  open FROM health_states;",
};

static int exec(struct store *st, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", err ? err : sqlite3_errmsg(st->db));
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

static int migrate(struct store *st)
{
	const int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	st->version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
	sqlite3_finalize(q);
	if (st->version > latest) {
		log_msg(LL_ERROR, "database: schema version %d is newer than this ampgated knows (%d); "
				  "install the newer version again or restore a backup",
			st->version, latest);
		return -EPROTO;
	}
	for (int v = st->version; v < latest; v++) {
		char set_version[64];
		snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d;", v + 1);
		if (exec(st, "BEGIN IMMEDIATE;") < 0)
			return -EIO;
		if (exec(st, migrations[v]) < 0 || exec(st, set_version) < 0) {
			exec(st, "ROLLBACK;");
			log_msg(LL_ERROR, "database: migration to schema version %d failed", v + 1);
			return -EIO;
		}
		if (exec(st, "COMMIT;") < 0)
			return -EIO;
		log_msg(LL_INFO, "database: schema migrated to version %d", v + 1);
		st->version = v + 1;
	}
	return 0;
}

static void make_parent_dir(const char *path)
{
	char *copy = strdup(path);

	if (!copy)
		return;
	const char *dir = dirname(copy);
	if (strcmp(dir, ".") != 0 && mkdir(dir, 0750) == 0)
		log_msg(LL_INFO, "database: created folder %s", dir);
	free(copy);
}

/* The database holds the audit log and charger credentials: 0640 (owner writes, the service's
 * group reads, nobody else) whatever the umask. SQLite gives its -wal and -shm files the mode of
 * the database file, so creating that one ourselves is enough. An existing file readable by
 * everyone is tightened. */
static void private_file(const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

	if (fd >= 0) {
		if (fchmod(fd, 0640) < 0)
			log_msg(LL_WARN, "database %s: cannot set its mode to 0640: %s", path, strerror(errno));
		close(fd);
		return;
	}
	if (stat(path, &sb) == 0 && (sb.st_mode & 0007)) {
		if (chmod(path, sb.st_mode & 0770) == 0)
			log_msg(LL_NOTICE, "database %s was readable by every user of this machine; now it is not", path);
		else
			log_msg(LL_WARN, "database %s is readable by every user of this machine and cannot be changed: %s; "
				"chmod o-rwx it", path, strerror(errno));
	}
}

struct store *store_open(const char *path)
{
	struct store *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return NULL;
	make_parent_dir(path);
	if (strcmp(path, ":memory:") != 0)
		private_file(path);
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_msg(LL_ERROR, "database %s: cannot open: %s; check storage.path and the folder's owner", path,
			st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;") < 0 ||
	    migrate(st) < 0)
		goto fail;
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO events (time_ms, severity, kind, subject, message) VALUES (?, ?, ?, ?, ?)",
			       -1, &st->insert_event, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(st->db));
		goto fail;
	}
	return st;
fail:
	store_close(st);
	errno = EIO;
	return NULL;
}

int store_commit(struct store *st)
{
	if (!st->batch_open)
		return 0;
	st->batch_open = false;
	return exec(st, "COMMIT;");
}

bool store_uncommitted(const struct store *st)
{
	return st && st->batch_open;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->db)
		store_commit(st);
	sqlite3_finalize(st->insert_event);
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		log_msg(LL_WARN, "database: close: %s", sqlite3_errmsg(st->db));
	free(st);
}

int store_batch(struct store *st)
{
	if (!st->batch_open && sqlite3_get_autocommit(st->db)) {
		if (exec(st, "BEGIN;") < 0)
			return -EIO;
		st->batch_open = true;
		st->batch_seq++;
	}
	return 0;
}

uint64_t store_mark(const struct store *st)
{
	return st->batch_seq;
}

bool store_pending(const struct store *st, uint64_t mark)
{
	return st->batch_open && st->batch_seq == mark;
}

sqlite3 *store_batch_db(struct store *st)
{
	return store_batch(st) == 0 ? st->db : NULL;
}

static const char *severity_name(enum log_level level)
{
	switch (level) {
	case LL_ERROR: return "error";
	case LL_WARN: return "warning";
	case LL_NOTICE: return "notice";
	default: return "info";
	}
}

int store_event(struct store *st, enum log_level severity, const char *kind, const char *subject, const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (subject)
		log_msg(severity, "%s %s: %s", kind, subject, message);
	else
		log_msg(severity, "%s: %s", kind, message);
	if (store_batch(st) < 0)
		return -EIO;
	sqlite3_reset(st->insert_event);
	sqlite3_bind_int64(st->insert_event, 1, wall_ms());
	sqlite3_bind_text(st->insert_event, 2, severity_name(severity), -1, SQLITE_STATIC);
	sqlite3_bind_text(st->insert_event, 3, kind, -1, SQLITE_TRANSIENT);
	if (subject)
		sqlite3_bind_text(st->insert_event, 4, subject, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st->insert_event, 4);
	sqlite3_bind_text(st->insert_event, 5, message, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st->insert_event);
	sqlite3_reset(st->insert_event);
	if (rc != SQLITE_DONE) {
		log_msg(LL_ERROR, "database: cannot write audit event: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	return 0;
}

sqlite3 *store_db(struct store *st)
{
	/* Whoever asks for the connection may BEGIN its own transaction: end the batch first. */
	store_commit(st);
	return st->db;
}

int store_exec(struct store *st, const char *sql)
{
	return exec(st, sql);
}

int store_schema_version(struct store *st)
{
	return st->version;
}
