/* Charger credentials at the WebSocket upgrade, without stalling the event loop.
 *
 * A `password_hash` costs one PBKDF2 per check (about 130 ms at a person's iteration count), and
 * an unauthenticated peer can ask for as many as it likes: checked on the loop, four guessers
 * made every other charger's heartbeat wait. So hashes are verified on libuv's thread pool, at
 * most OCPP_AUTH_VERIFY_MAX at a time, and the outcome is cached under an HMAC of (station id,
 * configured hash, presented secret) with a per-process key: a charger that reconnects, or an
 * attacker repeating a guess, costs a table lookup. The cache never holds a secret in plain.
 *
 * Refusals are also throttled per address (a peer refused again and again waits, answered at
 * once and not logged line by line; one summary line per interval says what was held back). */
#ifndef AG_OCPP_AUTH_H
#define AG_OCPP_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct cfg_charger;

#define OCPP_AUTH_VERIFY_MAX 2        /* hashes verified at once (the box has 2 cores) */
#define OCPP_AUTH_OK_MS (3600 * 1000) /* a verified secret is trusted again for this long */
#define OCPP_AUTH_BAD_MS (60 * 1000)  /* a refused secret is refused at once for this long */

enum ocpp_cred { CRED_OK, CRED_BAD, CRED_UNKNOWN /* a hash not in the cache: verify it */ };

/* `pass` for station `id` (configured as `c`, or NULL when unknown) now: a plain password
 * compares at once (constant time); a password_hash is looked up in the cache; a secret refused
 * within OCPP_AUTH_BAD_MS is CRED_BAD whatever the station. `uniform` (the site has hashed
 * passwords): any other failure is CRED_UNKNOWN too, so that an unknown station or a wrong plain
 * password goes the same way (and takes as long) as a wrong guess at a hashed one. */
enum ocpp_cred ocpp_auth_check(const struct cfg_charger *c, const char *id, const char *pass, bool uniform,
			       uint64_t now_ms);
/* True when OCPP_AUTH_VERIFY_MAX verifications are in flight (refuse with 503 for now). */
bool ocpp_auth_busy(void);
/* Verify `pass` against c->password_hash off the loop (for a station without one, against a
 * dummy hash: always refused, at the same cost); the outcome is cached and `done(arg, ok)` runs
 * on the loop thread, always once (`arg` must live until then). 0, -EBUSY (too many in flight),
 * -ENOMEM or -EIO. */
int ocpp_auth_verify(uv_loop_t *loop, const struct cfg_charger *c, const char *id, const char *pass,
		     void (*done)(void *arg, bool ok), void *arg);

/* Per-address refusal throttle. ocpp_auth_throttled: true while `peer` waits out its backoff
 * (answer at once, log nothing). ocpp_auth_refused: count one refusal of `peer`; true when it
 * should be logged (its first few in an interval), false when the summary line will cover it. */
bool ocpp_auth_throttled(const char *peer, uint64_t now_ms);
bool ocpp_auth_refused(const char *peer, uint64_t now_ms);
/* From a timer: one line summarising refusals that were not logged one by one. */
void ocpp_auth_summary(uint64_t now_ms);

#endif
