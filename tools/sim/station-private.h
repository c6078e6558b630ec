/* Internals shared by station.c (behaviour) and station-link.c (WebSocket). */
#ifndef AG_SIM_STATION_PRIVATE_H
#define AG_SIM_STATION_PRIVATE_H

#include "tools/sim/station.h"

/* Take the next intent that may go out now (only a boot before the station is booted). */
bool station_dequeue(struct station *st, struct intent *out);
/* The link dropped: forget link-bound intents, keep transaction ones. */
void station_link_lost(struct station *st);

/* Free queued response frames. */
void link_drop_frames(struct station *st);
/* Give up on an outstanding call past its deadline. */
void link_check_timeout(struct station *st, uint64_t now);
/* Give up on a connection attempt past its deadline (lws may have dropped it without a word). */
void link_check_connect(struct station *st, uint64_t now);
/* Something to write: a response, a call that may go, a junk frame due, or a close. */
bool link_has_work(const struct station *st, uint64_t now);

#endif
