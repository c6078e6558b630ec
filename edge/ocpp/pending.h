/* Stations that are not in the configuration: held as "pending" (ocpp.allow_unknown) until a
 * site manager accepts or rejects them from the page or the REST API.
 *
 * The decision is persisted (table `stations`, migration 4) before it is acted on: an accepted
 * station is a charger with default wiring across restarts (3 phases on the grid connection,
 * 6 A to ocpp.unknown_max_a), its uplink opens and the edge asks it to boot again
 * (TriggerMessage BootNotification) so the CSMS sees it at once; a rejected one is closed and
 * refused at every later connection. An entry of its own in `chargers` always wins.
 *
 * Security: an accepted station has no password. ocpp.allow_unknown is refused with security
 * profile 2 (config-check.c); in profile 3 its client certificate names it. */
#ifndef AG_PENDING_H
#define AG_PENDING_H

#include "edge/ocpp/charger.h"

#include <jansson.h>

#define PENDING_MAX 32  /* unknown stations held at once; the oldest offline one makes room */

struct proxy;

/* At proxy start, after the configured chargers: the stations accepted earlier. 0 or -errno. */
int pending_load(struct proxy *p);

/* May station `id`, which is not in the configuration, connect from `peer`? 0 yes (pending or
 * accepted), else the HTTP status to refuse it with and *why (the body; logged here). */
int pending_admit(struct proxy *p, const char *id, const char *peer, const char **why);

/* Its socket is open: remember where from and, the first time, when. */
void pending_seen(struct charger *ch, const char *peer);

/* A site manager's decision (`who` as "web:name"). 0, -ENOENT (no station `id` waiting),
 * -EIO (not stored: nothing changed). */
int pending_accept(struct proxy *p, const char *id, const char *who);
int pending_reject(struct proxy *p, const char *id, const char *who);

/* {"pending": [...], "accepted": [...]}: the stations waiting, with what they sent at boot, and
 * those accepted that still lack their own entry (with the lines to paste into the file). The
 * suggested password is in the lines only for a `manager`; the first time one sees it, the
 * database keeps only its hash (the lines then carry password_hash after a while). */
json_t *pending_json(struct proxy *p, bool manager);

/* Fill ch->accepted_cfg (the default wiring) from `cfg` and return it. */
const struct cfg_charger *pending_default_cfg(struct charger *ch, const struct ag_config *cfg);

#endif
