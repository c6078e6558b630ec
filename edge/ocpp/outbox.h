/* The durable outbox: the charger -> CSMS calls the edge acknowledged on the CSMS's behalf while
 * the uplink was down, kept in SQLite (tables `outbox` and `tx_map`, migration 3 in store.c) per
 * charger in arrival order until the CSMS acknowledges them, and the OCPP 1.6 provisional
 * transaction ids with the CSMS's id once it is known.
 *
 * Storage only: what to replay when, and how to rewrite it, is replay.c's. Every function runs
 * on the loop thread and is one short SQLite transaction (WAL, synchronous=FULL), so a row that
 * outbox_put returned 0 for survives kill -9 and power loss. */
#ifndef AG_OUTBOX_H
#define AG_OUTBOX_H

#include "edge/ocpp/ocpp-frame.h"
#include "edge/core/store.h"

#include <stdint.h>

struct outbox;

struct outbox_row {
	int64_t seq;                    /* order across the whole outbox; per charger ascending */
	char msg_id[OCPP_ID_MAX + 1];   /* the charger's own message id */
	char action[OCPP_ACTION_MAX + 1];
	char *payload;                  /* the CALL frame as the charger sent it, byte for byte (rows of
	                                 * versions before 17.5: its payload object only), owned */
	int64_t provisional;            /* 1.6 StartTransaction: the id the edge handed out; else 0 */
	int attempts;                   /* CALLERRORs so far */
	int64_t queued_ms;              /* wall clock, ms since the epoch */
};

/* Statements over the store's connection. NULL with errno (logged). */
struct outbox *outbox_open(struct store *st);
void outbox_close(struct outbox *ob);

/* Append a call of `charger`. Rows of the same charger with the same non-NULL `collapse_key`
 * and seq > `after_seq` (not yet sent) are deleted first: a newer state supersedes them. A
 * `provisional` id != 0 is recorded in tx_map too. Committed when it returns 0; the number of
 * superseded rows removed goes to *removed, the new row's seq to *seq (if not NULL). -EIO when
 * nothing was stored. */
int outbox_put(struct outbox *ob, const char *charger, const char *msg_id, const char *action, const char *payload,
	       const char *collapse_key, int64_t after_seq, int64_t provisional, int *removed, int64_t *seq);

/* The first queued (not parked) row of `charger` with seq > `after_seq`: 1 and `row` filled (free
 * with outbox_row_fini), 0 when there is none, -EIO. */
int outbox_head(struct outbox *ob, const char *charger, int64_t after_seq, struct outbox_row *row);
void outbox_row_fini(struct outbox_row *row);

/* Queued (not parked) rows of `charger`; parked rows of `charger` in *parked (if not NULL). */
int outbox_depth(struct outbox *ob, const char *charger, int *parked);

/* Group commit of acknowledgements: outbox_begin, any number of outbox_done / outbox_map /
 * outbox_unmap, outbox_commit. Each returns 0 or -EIO. */
int outbox_begin(struct outbox *ob);
int outbox_commit(struct outbox *ob);
int outbox_done(struct outbox *ob, int64_t seq);
int outbox_map(struct outbox *ob, const char *charger, int64_t provisional, int64_t csms_id);
int outbox_unmap(struct outbox *ob, const char *charger, int64_t provisional);

/* Rows in the outbox, queued and parked (what storage.outbox_max_rows bounds). */
int64_t outbox_rows(const struct outbox *ob);

/* Make room: delete up to `n` queued MeterValues, each the one closest in time to the reading
 * before it of the same charger (a charger's first is never taken), calling `fn` for each before
 * it goes. One transaction. The number deleted (0: nothing to thin), or -EIO (nothing deleted). */
int outbox_thin(struct outbox *ob, int n, void (*fn)(void *ctx, const char *charger, int64_t queued_ms), void *ctx);

/* A CALLERROR for row `seq`: count it; `park` takes the row out of the replay with `note`. */
int outbox_refused(struct outbox *ob, int64_t seq, bool park, const char *note);

/* Every tx_map row (csms_id 0 = not known yet), for loading at start. */
int outbox_each_map(struct outbox *ob, void (*fn)(void *ctx, const char *charger, int64_t provisional, int64_t csms_id),
		    void *ctx);

#endif
