/* The store: one SQLite database (WAL mode) holding the audit log and, as later modules add
 * them, sessions, the durable OCPP queue and history. Owned by the loop thread.
 *
 * Schema changes are numbered migrations in store.c, applied in order at open; the database's
 * user_version records how far it has come. */
#ifndef AG_STORE_H
#define AG_STORE_H

#include "edge/core/log.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

/* Open (creating the file and its folder if needed) and migrate. NULL with errno on failure;
 * the reason is logged. */
struct store *store_open(const char *path);
void store_close(struct store *st);

/* Audit events are group-committed: the first event opens a transaction and store_commit() ends
 * it. The daemon commits once per turn of its loop, before the loop waits for I/O; one fsync then
 * covers a burst (a reconnect storm is thousands of events). A frame is written at once when its
 * link is idle (ws_link_send), so an answer that confirms rows still in the batch must wait for
 * the commit: the edge answering for the CSMS calls store_commit() before it sends; an answer
 * passed on from the CSMS whose call's or answer's rows are still uncommitted (store_mark/
 * store_pending: a session's start, "booted", or the answer came in the turn that wrote them)
 * is held on its link until the loop has committed (proxy_answer_charger, ws_link_hold,
 * proxy_store_committed). A module whose rows must be
 * durable at once, with no answer to hold, calls store_commit() itself. store_db()
 * commits the batch before it hands out the connection, so a module may BEGIN its own
 * transaction on what it returns (but must not keep the pointer across turns of the loop for
 * that). 0 or -EIO. */
int store_commit(struct store *st);

/* Open the batch (if no transaction is open) for a write that may wait for the loop's commit
 * like an audit event: history rows, where one fsync a turn matters more than the last second.
 * Write with a statement prepared on store_db()'s connection right after. 0 or -EIO. */
int store_batch(struct store *st);

/* store_batch, then the connection to write on (NULL on failure, logged): for rows that join
 * the grouped commit with a statement prepared now. Unlike store_db() it commits nothing. */
sqlite3 *store_batch_db(struct store *st);

/* The batch that holds what was written so far (a number that grows with every batch). Keep it
 * after a write that an answer will confirm; store_pending(st, mark) says whether that write is
 * still uncommitted (the answer must wait for the loop's commit) or on disk. */
uint64_t store_mark(const struct store *st);
bool store_pending(const struct store *st, uint64_t mark);
/* Does the batch hold rows the loop has not committed yet? (false for NULL) */
bool store_uncommitted(const struct store *st);

/* Append to the audit log and log the same line. `kind` is a short word ("start", "config",
 * "charger"), `subject` the charger/device id or NULL. Returns 0 or -EIO. */
int store_event(struct store *st, enum log_level severity, const char *kind, const char *subject,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The connection, for modules that keep their own tables (created by migrations here); the
 * audit batch is committed first (see store_commit). */
sqlite3 *store_db(struct store *st);

/* Run SQL with no result rows (BEGIN, COMMIT, an UPDATE); the error is logged. 0 or -EIO. */
int store_exec(struct store *st, const char *sql);

/* Schema version after migrations. */
int store_schema_version(struct store *st);

#endif
