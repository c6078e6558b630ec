/* The edge's profile rules as numbers (profiles.h): ids, stack level, validity, how often a limit
 * is renewed and how much it must move to be sent. Apart from profiles.h so that the what-if replay
 * (tools/sim/replay.c), which models when a charger's limit changes, reads them without the OCPP
 * core's charger object. */
#ifndef AG_PROFILE_RULES_H
#define AG_PROFILE_RULES_H

#define PROFILE_ID_BASE 917000001       /* ids the CSMS is unlikely to use; see README */
#define PROFILE_ID_DYNAMIC 917000002
#define PROFILE_STACK_BASE 0
#define PROFILE_VALIDITY_S 120          /* the dynamic profile lapses this long after the edge dies */
#define PROFILE_RENEW_S 60
#define PROFILE_DEADBAND_A 0.5          /* smaller changes are not sent (except decreases to 0) */
#define PROFILE_RAISE_MIN_MS 2000       /* increases at most this often (decreases at once), */
					/* doubled each time an increase follows a decrease of the
					 * last one, up to PROFILE_RENEW_S; reset after a quiet period */
#define PROFILE_DECREASE_GRACE_MS 5000  /* a decrease not taken by then: the site counts the charger
					 * at what it accepted (profiles_held_a) */

#endif
