/* Autonomy under partition: what the edge acknowledged for the CSMS goes to the durable outbox
 * (outbox.c) before the acknowledgement leaves, and comes back out, per charger, in order, one
 * CALL at a time, when the charger and its uplink are both there again.
 *
 * While a charger has a backlog its new calls are answered by the edge and queued behind the
 * backlog, so the CSMS receives one history in the order the charger made it. OCPP 1.6
 * transactions started offline carry a provisional (negative) id; the CSMS's id from the
 * replayed StartTransaction replaces it in every later message upstream and is turned back into
 * the provisional one in the CSMS's calls, for as long as the transaction lives. 2.0.1
 * TransactionEvents that happened while the uplink was down are replayed with offline=true and
 * their seqNo untouched.
 *
 * A charger's call the CSMS is slow to answer (upstream.answer_after_s) is answered by the edge and
 * queued like the others, but as the message already in flight: it is never sent twice on the
 * uplink it went out on (the CSMS would process it twice), the CSMS's late answer settles it, and
 * it goes out again, with the charger's message id, only on a new uplink.
 *
 * A row is deleted only when the CSMS's CALLRESULT for it arrives (acknowledgements of one loop
 * turn share one commit; a StartTransaction's is committed with its id mapping at once), so after
 * kill -9 a message may be sent again but never lost. Runs on the loop thread; hooks in proxy.c. */
#ifndef AG_REPLAY_H
#define AG_REPLAY_H

#include "edge/ocpp/charger.h"

#include <stdbool.h>
#include <stdint.h>

struct proxy;

/* Open the outbox and load what a previous run left (queue depths, provisional ids). */
int replay_start(struct proxy *p);
void replay_stop(struct proxy *p);

/* Messages of `ch` still to be delivered (0 when none); parked ones in *parked if not NULL. */
int replay_depth(const struct charger *ch, int *parked);

/* Messages in the outbox (queued and parked, every charger), and MeterValues thinned out of it
 * since start to keep it within storage.outbox_max_rows. */
int64_t replay_outbox_rows(const struct proxy *p);
uint64_t replay_outbox_dropped(const struct proxy *p);

/* True when `ch`'s new calls must be answered by the edge and queued (a backlog is waiting). */
bool replay_backlog(const struct charger *ch);

/* The edge is about to acknowledge the charger's call `f` with `result`: store it first.
 * 0 when stored or nothing to store (no CSMS, Heartbeat); -errno when it could not be stored, and
 * then the edge must not acknowledge. */
int replay_queue(struct proxy *p, struct charger *ch, const struct ocpp_frame *f, const json_t *result);

/* Send the next queued message if the link is free. Safe to call at any time. */
void replay_pump(struct proxy *p, struct charger *ch);
/* The uplink or the charger went away: the message in flight is sent again later. */
void replay_link_down(struct charger *ch);
/* Timeouts and retries that are due. */
void replay_tick(struct proxy *p, struct charger *ch, uint64_t now);

/* A CALLRESULT/CALLERROR from the CSMS: true when it answered a replayed message (consumed). */
bool replay_from_csms(struct proxy *p, struct charger *ch, const struct ocpp_frame *f);

/* Live traffic of a 1.6 transaction started offline: the frame to send instead of `f` (malloc'd)
 * with the provisional id replaced by the CSMS's (up) or the CSMS's by the provisional (down),
 * or NULL when `f` needs no change. */
char *replay_rewrite_up(const struct charger *ch, const struct ocpp_frame *f);
char *replay_rewrite_down(const struct charger *ch, const struct ocpp_frame *f);
/* The CSMS answered a live call of the charger: a delivered StopTransaction ends its mapping. */
void replay_live_result(struct proxy *p, struct charger *ch, const struct call *c, const struct ocpp_frame *f);

#endif
