/* Offline authorization of id tokens (RFID cards, app tokens): what the edge answers a charger's
 * Authorize / StartTransaction / TransactionEvent when it answers for the CSMS.
 *
 * Per charger, as in OCPP: a copy of the local authorization list the CSMS sent it
 * (SendLocalList, 1.6 and 2.0.1, with its version) and a cache of the tokens the CSMS answered,
 * both in SQLite so they survive a restart. The local list wins over the cache. Policy
 * `auth.offline`: known (list or cache only), all (unknown tokens too), none. Tokens accepted
 * offline without being known are remembered and flagged when the CSMS is back. Loop thread. */
#ifndef AG_AUTH_CACHE_H
#define AG_AUTH_CACHE_H

#include "edge/ocpp/charger.h"
#include "edge/core/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum auth_policy { AUTH_KNOWN, AUTH_ALL, AUTH_NONE };

/* What the list or the cache says of one token. */
struct auth_known {
	bool found;
	char status[24];        /* the CSMS's AuthorizationStatus: Accepted, Blocked, Expired, ... */
	int64_t expiry_ms;      /* wall clock; 0 = none (list), when the cache entry lapses (cache) */
};

struct auth_verdict {
	const char *status;     /* the status to answer, valid for the charger's OCPP version */
	const char *source;     /* "local list", "cache", or NULL (the token is not known) */
	bool unknown_accepted;  /* accepted without being known (policy all): flag it later */
};

/* "known" / "all" / "none" (the config table allows nothing else). */
enum auth_policy auth_policy_of(const char *word);

/* The offline decision, a pure function: list first, then a cache entry not lapsed at
 * `now_wall_ms`; a refusal is 1.6 Invalid / 2.0.1 Unknown, a known token's own refusal
 * (Blocked, Expired) is kept under every policy. */
struct auth_verdict auth_decide(enum auth_policy policy, enum ocpp_version v, const struct auth_known *list,
				const struct auth_known *cache, int64_t now_wall_ms);

/* ---- the tables; 0 or -EIO (logged) ---- */

/* Apply a SendLocalList request (Full replaces, Differential adds, changes, and removes entries
 * without idTagInfo/idTokenInfo) and record its version. -EINVAL when it is not one. */
int auth_list_apply(struct store *st, const char *charger, enum ocpp_version v, const json_t *request,
		    int64_t now_wall_ms);
/* The version of the charger's list the edge holds; -1 when it holds none. */
int64_t auth_list_version(struct store *st, const char *charger);
/* Remember the CSMS's answer on `token`, until min(now + cache_days, expiry_ms if > 0). */
int auth_cache_put(struct store *st, const char *charger, const char *token, const char *status, int64_t expiry_ms,
		   int64_t now_wall_ms, int cache_days);
int auth_cache_clear(struct store *st, const char *charger);
int auth_lookup(struct store *st, const char *charger, const char *token, struct auth_known *list,
		struct auth_known *cache);

/* ---- in the proxy ---- */

struct proxy;

/* A result passing through: a CSMS answer to the charger's call (tokens to cache), or the
 * charger's answer to a CSMS call (SendLocalList, ClearCache applied to the edge's copy). */
void auth_seen_result(struct proxy *p, struct charger *ch, const struct call *call, const struct ocpp_frame *f);
/* The edge answers `action` for the CSMS: the status for its idTagInfo/idTokenInfo (audited),
 * or NULL when the call carries no id token. */
const char *auth_offline_status(struct proxy *p, struct charger *ch, const char *action, const json_t *payload);
/* The charger's uplink is open again: flag the tokens accepted offline without being known. */
void auth_uplink_back(struct proxy *p, struct charger *ch);

#endif
