/* The durable outbox; see outbox.h. Prepared statements over the store's one connection; the
 * rows are never rewritten (the 1.6 id mapping is applied when a row is sent), so a crash at
 * any moment leaves either the old row or no row, never half a rewrite. */
#include "edge/ocpp/outbox.h"
#include "edge/daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_COLLAPSE,
	S_INSERT,
	S_MAP_NEW,
	S_HEAD,
	S_DEPTH,
	S_DONE,
	S_MAP,
	S_UNMAP,
	S_REFUSED,
	S_MAPS,
	S_COUNT,
	S_THIN,
	S_N
};

static const char *const sql[S_N] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_COLLAPSE] = "DELETE FROM outbox WHERE charger_id = ?1 AND collapse_key = ?2 AND state = 0 AND seq > ?3",
	[S_INSERT] = "INSERT INTO outbox (charger_id, msg_id, action, payload, queued_ms, collapse_key, provisional) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_MAP_NEW] = "INSERT OR REPLACE INTO tx_map (charger_id, provisional, csms_id) VALUES (?1, ?2, NULL)",
	[S_HEAD] = "SELECT seq, msg_id, action, payload, provisional, attempts, queued_ms FROM outbox "
		   "WHERE charger_id = ?1 AND state = 0 AND seq > ?2 ORDER BY seq LIMIT 1",
	[S_DEPTH] = "SELECT coalesce(sum(state = 0), 0), coalesce(sum(state = 1), 0) FROM outbox WHERE charger_id = ?1",
	[S_DONE] = "DELETE FROM outbox WHERE seq = ?1",
	[S_MAP] = "UPDATE tx_map SET csms_id = ?3 WHERE charger_id = ?1 AND provisional = ?2",
	[S_UNMAP] = "DELETE FROM tx_map WHERE charger_id = ?1 AND provisional = ?2",
	[S_REFUSED] = "UPDATE outbox SET attempts = attempts + 1, state = ?2, note = ?3 WHERE seq = ?1",
	[S_MAPS] = "SELECT charger_id, provisional, coalesce(csms_id, 0) FROM tx_map",
	[S_COUNT] = "SELECT count(*) FROM outbox",
	/* Queued MeterValues closest in time to the one before them of the same charger: dropping
	 * those thins each charger's series evenly. A charger's first is never taken (it may be the
	 * message in flight, and it anchors the series). */
	[S_THIN] = "SELECT seq, charger_id, queued_ms FROM ("
		   "  SELECT seq, charger_id, queued_ms,"
		   "         queued_ms - lag(queued_ms) OVER (PARTITION BY charger_id ORDER BY seq) AS gap_ms"
		   "  FROM outbox WHERE action = 'MeterValues' AND state = 0)"
		   " WHERE gap_ms IS NOT NULL ORDER BY gap_ms, seq LIMIT ?1",
};

struct outbox {
	struct store *st;
	sqlite3 *db;
	sqlite3_stmt *q[S_N];
	int64_t rows;           /* every row, queued and parked: what the bound counts */
};

static int fail(struct outbox *ob, const char *what)
{
	log_msg(LL_ERROR, "database: outbox %s: %s", what, sqlite3_errmsg(ob->db));
	return -EIO;
}

/* Run a statement that returns no rows; it is reset for the next use either way. */
static int run(struct outbox *ob, enum stmt s, const char *what)
{
	int rc = sqlite3_step(ob->q[s]);

	sqlite3_reset(ob->q[s]);
	sqlite3_clear_bindings(ob->q[s]);
	return rc == SQLITE_DONE ? 0 : fail(ob, what);
}

/* The row count from the table, at open and after a rollback undid changes already counted. */
static void recount(struct outbox *ob)
{
	if (sqlite3_step(ob->q[S_COUNT]) == SQLITE_ROW)
		ob->rows = sqlite3_column_int64(ob->q[S_COUNT], 0);
	sqlite3_reset(ob->q[S_COUNT]);
}

struct outbox *outbox_open(struct store *st)
{
	struct outbox *ob = calloc(1, sizeof(*ob));

	if (!ob)
		return NULL;
	ob->st = st;
	ob->db = store_db(st);
	for (int i = 0; i < S_N; i++)
		if (sqlite3_prepare_v2(ob->db, sql[i], -1, &ob->q[i], NULL) != SQLITE_OK) {
			fail(ob, "prepare");
			outbox_close(ob);
			errno = EIO;
			return NULL;
		}
	recount(ob);
	return ob;
}

int64_t outbox_rows(const struct outbox *ob)
{
	return ob->rows;
}

void outbox_close(struct outbox *ob)
{
	if (!ob)
		return;
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(ob->q[i]);
	free(ob);
}

int outbox_begin(struct outbox *ob)
{
	/* The store batches audit events in a transaction of its own until the end of the loop
	 * turn; end it first (store.h) so this one can begin. */
	if (store_commit(ob->st) < 0)
		return -EIO;
	return run(ob, S_BEGIN, "begin");
}

int outbox_commit(struct outbox *ob)
{
	if (run(ob, S_COMMIT, "commit") == 0)
		return 0;
	run(ob, S_ROLLBACK, "rollback");
	recount(ob);
	return -EIO;
}

int outbox_put(struct outbox *ob, const char *charger, const char *msg_id, const char *action, const char *payload,
	       const char *collapse_key, int64_t after_seq, int64_t provisional, int *removed, int64_t *seq)
{
	sqlite3_stmt *q;

	*removed = 0;
	if (outbox_begin(ob) < 0)
		return -EIO;
	if (collapse_key) {
		q = ob->q[S_COLLAPSE];
		sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, collapse_key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, after_seq);
		if (run(ob, S_COLLAPSE, "collapse") < 0)
			goto rollback;
		*removed = sqlite3_changes(ob->db);
	}
	q = ob->q[S_INSERT];
	sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, msg_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, payload, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, wall_ms());
	if (collapse_key)
		sqlite3_bind_text(q, 6, collapse_key, -1, SQLITE_STATIC);
	if (provisional)
		sqlite3_bind_int64(q, 7, provisional);
	if (run(ob, S_INSERT, "insert") < 0)
		goto rollback;
	if (seq)
		*seq = sqlite3_last_insert_rowid(ob->db);
	ob->rows += 1 - *removed;
	if (provisional) {
		q = ob->q[S_MAP_NEW];
		sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, provisional);
		if (run(ob, S_MAP_NEW, "record provisional id") < 0)
			goto rollback;
	}
	if (outbox_commit(ob) == 0)
		return 0;
	*removed = 0;
	return -EIO;
rollback:
	run(ob, S_ROLLBACK, "rollback");
	*removed = 0;
	return -EIO;
}

int outbox_head(struct outbox *ob, const char *charger, int64_t after_seq, struct outbox_row *row)
{
	sqlite3_stmt *q = ob->q[S_HEAD];
	int rc;

	memset(row, 0, sizeof(*row));
	sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, after_seq);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		row->seq = sqlite3_column_int64(q, 0);
		snprintf(row->msg_id, sizeof(row->msg_id), "%s", (const char *)sqlite3_column_text(q, 1));
		snprintf(row->action, sizeof(row->action), "%s", (const char *)sqlite3_column_text(q, 2));
		row->payload = strdup((const char *)sqlite3_column_text(q, 3));
		row->provisional = sqlite3_column_int64(q, 4);
		row->attempts = sqlite3_column_int(q, 5);
		row->queued_ms = sqlite3_column_int64(q, 6);
		rc = row->payload ? 1 : -ENOMEM;
	} else {
		rc = rc == SQLITE_DONE ? 0 : fail(ob, "read");
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

void outbox_row_fini(struct outbox_row *row)
{
	free(row->payload);
	row->payload = NULL;
}

int outbox_depth(struct outbox *ob, const char *charger, int *parked)
{
	sqlite3_stmt *q = ob->q[S_DEPTH];
	int n = -EIO;

	sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		n = sqlite3_column_int(q, 0);
		if (parked)
			*parked = sqlite3_column_int(q, 1);
	} else {
		fail(ob, "count");
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return n;
}

int outbox_done(struct outbox *ob, int64_t seq)
{
	sqlite3_bind_int64(ob->q[S_DONE], 1, seq);
	if (run(ob, S_DONE, "delete") < 0)
		return -EIO;
	ob->rows -= sqlite3_changes(ob->db);
	return 0;
}

int outbox_thin(struct outbox *ob, int n, void (*fn)(void *ctx, const char *charger, int64_t queued_ms), void *ctx)
{
	sqlite3_stmt *q = ob->q[S_THIN];
	int64_t *seqs = calloc((size_t)n, sizeof(*seqs));
	int found = 0, rc;

	if (!seqs)
		return -ENOMEM;
	if (outbox_begin(ob) < 0) {
		free(seqs);
		return -EIO;
	}
	sqlite3_bind_int(q, 1, n);
	while (found < n && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		seqs[found++] = sqlite3_column_int64(q, 0);
		fn(ctx, (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2));
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	rc = 0;
	for (int i = 0; i < found && rc == 0; i++)
		rc = outbox_done(ob, seqs[i]);
	free(seqs);
	if (rc == 0)
		return outbox_commit(ob) == 0 ? found : -EIO;
	run(ob, S_ROLLBACK, "rollback");
	recount(ob);
	return -EIO;
}

int outbox_map(struct outbox *ob, const char *charger, int64_t provisional, int64_t csms_id)
{
	sqlite3_stmt *q = ob->q[S_MAP];

	sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, provisional);
	sqlite3_bind_int64(q, 3, csms_id);
	return run(ob, S_MAP, "map transaction id");
}

int outbox_unmap(struct outbox *ob, const char *charger, int64_t provisional)
{
	sqlite3_stmt *q = ob->q[S_UNMAP];

	sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, provisional);
	return run(ob, S_UNMAP, "forget transaction id");
}

int outbox_refused(struct outbox *ob, int64_t seq, bool park, const char *note)
{
	sqlite3_stmt *q = ob->q[S_REFUSED];

	sqlite3_bind_int64(q, 1, seq);
	sqlite3_bind_int(q, 2, park ? 1 : 0);
	sqlite3_bind_text(q, 3, note, -1, SQLITE_STATIC);
	return run(ob, S_REFUSED, "record refusal");
}

int outbox_each_map(struct outbox *ob, void (*fn)(void *ctx, const char *charger, int64_t provisional, int64_t csms_id),
		    void *ctx)
{
	sqlite3_stmt *q = ob->q[S_MAPS];
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		fn(ctx, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2));
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : fail(ob, "read transaction ids");
}
