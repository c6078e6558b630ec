/* Upstream side of the proxy: for each connected charger, a WebSocket client to
 * <upstream.url>/<stationId> with the charger's subprotocol and the configured security profile,
 * reconnecting with exponential backoff and jitter. TLS verification is on unless the
 * configuration turns it off. */
#ifndef AG_OCPP_UPSTREAM_H
#define AG_OCPP_UPSTREAM_H

#include <stdint.h>

struct proxy;
struct charger;

int ocpp_upstream_start(struct proxy *p);
/* Open the charger's upstream link now. 0 or -errno (then a retry is scheduled). */
int ocpp_upstream_connect(struct proxy *p, struct charger *ch);
/* From the proxy's tick: open a link whose backoff is over; give up (log, back off) one that is
 * not open within upstream.connect_timeout_s. */
void ocpp_upstream_tick(struct proxy *p, struct charger *ch, uint64_t now);
/* Close the charger's upstream link at once, without reconnecting. */
void ocpp_upstream_drop(struct proxy *p, struct charger *ch);
/* Close the charger's uplink with a close frame (`code`, `reason`), without reconnecting. */
void ocpp_upstream_close(struct proxy *p, struct charger *ch, int code, const char *reason);
/* Schedule the next attempt after a failure: backoff doubling from reconnect_min_ms to
 * reconnect_max_ms, with ±25 % jitter so a site's chargers do not reconnect in lockstep. */
void ocpp_upstream_backoff(struct proxy *p, struct charger *ch, uint64_t now);

#endif
