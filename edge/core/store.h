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

struct store;

/* Open (creating the file and its folder if needed) and migrate. NULL with errno on failure;
 * the reason is logged. */
struct store *store_open(const char *path);
void store_close(struct store *st);

/* Audit events are group-committed: the first event opens a transaction and store_commit() ends
 * it. The daemon commits once per turn of its loop, before the loop waits for I/O; one fsync
 * then covers a burst (a reconnect storm is thousands of events). Frames are NOT held until then:
 * a link that is idle writes a frame at once, mid-turn (ws-link.h). So an answer to a charger
 * goes through proxy_answer_charger, which, while the batch holds rows (store_uncommitted), queues
 * it for the link's next WRITEABLE, and libuv runs that only in a poll after the commit: what an
 * answer acknowledges is on disk before it leaves. Any other frame that acknowledges a batched
 * row must do the same. A module whose rows must be durable at once (sessions, the outbox) calls
 * store_commit() itself after writing them. store_db()
 * commits the batch before it hands out the connection, so a module may BEGIN its own
 * transaction on what it returns (but must not keep the pointer across turns of the loop for
 * that). 0 or -EIO. */
int store_commit(struct store *st);
/* Does the batch hold rows the loop has not committed yet? (false for NULL) */
bool store_uncommitted(const struct store *st);

/* Open the batch (if no transaction is open) for a write that may wait for the loop's commit
 * like an audit event: history rows, where one fsync a turn matters more than the last second.
 * Write with a statement prepared on store_db()'s connection right after. 0 or -EIO. */
int store_batch(struct store *st);

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
