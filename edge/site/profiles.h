/* The edge's charging limits on a charger (docs/ARCHITECTURE.md, "OCPP rules"): a permanent base profile at
 * the safe fallback current on a low stack level, and a dynamic profile carrying the solver's
 * limit on a stack level above every one the CSMS has used, with a short validity that is
 * renewed — so a dead edge leaves chargers at the fallback current, not at full power.
 * Purpose ChargePointMaxProfile (1.6) / ChargingStationMaxProfile (2.0.1). */
#ifndef AG_PROFILES_H
#define AG_PROFILES_H

#include "edge/ocpp/charger.h"
#include "edge/site/profile-rules.h"

#include <stdint.h>

struct ag_daemon;
struct proxy;

/* A daemon module: renews and resets the profiles on the proxy's events (tick, closed, the CSMS
 * clearing profiles). */
int profiles_start(struct ag_daemon *d);
void profiles_stop(struct ag_daemon *d);

/* The charger's safe current: its own fallback_a, else site.fallback_a (charger_fallback_a). */
double profiles_fallback_a(const struct proxy *p, const struct charger *ch);
/* The limit the edge wants on the charger: min(allocation, the CSMS's own limit). */
double profiles_target_a(const struct charger *ch);
/* Set the solver's allocation for `ch`; it goes out at the next tick (at once for decreases). */
void profiles_set_limit(struct proxy *p, struct charger *ch, double limit_a, const char *binding);
/* A decrease the charger has not taken for PROFILE_DECREASE_GRACE_MS (one CALL at a time: it waits
 * behind an unanswered call to the charger, up to ocpp.call_timeout_s; or the charger refused it):
 * the limit it may still draw up to (what it accepted, or a raise in flight), for the site to count
 * it at; 0 when none waits so long. */
double profiles_held_a(const struct charger *ch, uint64_t now);
/* The limits charger ch may hold now, A: the one it accepted (its base profile's fallback
 * current before any dynamic one) and one in flight it may apply first, the lower in *lo_a, the
 * higher in *hi_a; *changed_ms is when they last changed (the charger accepted a new limit, or a
 * new one went out; 0: never). false when none is installed or on its way, or the charger
 * refuses profiles (it draws what it likes). */
bool profiles_limits_now(const struct charger *ch, double *lo_a, double *hi_a, uint64_t *changed_ms);
/* Install, renew or change the charger's profiles as needed: a new limit only when it moved by
 * the deadband, increases at most every PROFILE_RAISE_MIN_MS (more seldom while the limit goes
 * up and down), a new stack level at once when
 * the CSMS has used the edge's, otherwise a renewal every PROFILE_RENEW_S. */
void profiles_tick(struct proxy *p, struct charger *ch, uint64_t now);

/* The SetChargingProfile payload for `ch`'s version as JSON text into `out` (a max profile on
 * the whole charger, starting a second ago, valid for `valid_for_s` when > 0). Its length, or -1
 * when `size` is too small. */
int profiles_payload_text(const struct charger *ch, int profile_id, int stack_level, double limit_a,
			  long long valid_for_s, char *out, size_t size);

#endif
