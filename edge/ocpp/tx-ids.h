/* Provisional transaction ids (OCPP 1.6) and the rewriting of the frames that carry them.
 *
 * A 1.6 transaction started while the CSMS is unreachable (or slow to answer) gets its id from the
 * edge: a negative, "provisional" one. The CSMS numbers it only when the replayed
 * StartTransaction is answered, and from then on every frame about it must carry the id its
 * receiver knows: the CSMS's id upstream (StopTransaction, MeterValues), the provisional one
 * down to the charger (RemoteStopTransaction, SetChargingProfile). This file is that table and
 * that rule, kept out of replay.c (queueing, sending, acknowledging) because it is the one place
 * to read when asking "which id does the CSMS see here?", and because it is pure: no I/O, no
 * loop, no database. replay.c owns one table per charger and makes it durable (the mapping is
 * committed with the deletion of the StartTransaction that produced it; see replay.c). */
#ifndef AG_TX_IDS_H
#define AG_TX_IDS_H

#include "edge/ocpp/ocpp-frame.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tx_map {
	int64_t provisional;
	int64_t csms_id;        /* 0 = the CSMS has not numbered it yet */
};

/* One charger's table; zero-initialised is empty. */
struct tx_ids {
	struct tx_map *maps;
	size_t n, cap;
};

/* The entry for `provisional`, or else for `csms_id` (either may be 0: not looked for). */
struct tx_map *tx_ids_find(const struct tx_ids *ids, int64_t provisional, int64_t csms_id);
/* Record (or update) `provisional`'s CSMS id (0: not numbered yet). NULL when out of memory. */
struct tx_map *tx_ids_set(struct tx_ids *ids, int64_t provisional, int64_t csms_id);
/* The transaction ended at the CSMS: forget it. */
void tx_ids_del(struct tx_ids *ids, int64_t provisional);
void tx_ids_free(struct tx_ids *ids);

/* A 1.6 transactionId the edge handed out itself in `payload`, or 0. */
int64_t tx_ids_provisional_in(const json_t *payload);

/* Upstream: for a 1.6 `action` StopTransaction or MeterValues whose `payload` carries a
 * provisional id (set in *provisional, else 0), *out is the CALL `text` with the CSMS's id in its
 * place, every other byte unchanged (malloc'd; NULL when the copy could not be made: the frame
 * goes as it is). -ENOENT when the CSMS has not numbered that transaction; otherwise 0, with *out
 * NULL when the frame needs no change. */
int tx_ids_up(const struct tx_ids *ids, const char *text, size_t len, const char *action, const json_t *payload,
	      int64_t *provisional, char **out);
/* Downstream: a RemoteStopTransaction or SetChargingProfile of the CSMS naming one of its ids
 * that stands for a provisional one: the frame with the provisional id (malloc'd), or NULL when
 * `f` needs no change. */
char *tx_ids_down(const struct tx_ids *ids, const struct ocpp_frame *f);

#endif
