/* The minimal schema-valid answer a CSMS gives to a charger's CALL, in OCPP 1.6J and 2.0.1.
 *
 * One table of answers for two users: the edge, when it answers chargers itself (no CSMS, uplink
 * down, CSMS silent, station pending), and `ampgate-sim csms`, the loopback CSMS of the tests and
 * benchmarks. What differs between them (the boot status, the transaction ids they hand out) is
 * passed in. */
#ifndef AG_OCPP_ANSWER_H
#define AG_OCPP_ANSWER_H

#include "edge/ocpp/ocpp-frame.h"

#include <jansson.h>

struct ocpp_answer_ctx {
	const char *now;                /* RFC 3339 time for currentTime */
	const char *boot_status;        /* BootNotification: "Accepted", "Pending" */
	int heartbeat_s;                /* BootNotification interval */
	json_int_t tx_id;               /* 1.6 StartTransaction transactionId */
	const char *auth_status;        /* idTagInfo/idTokenInfo status; NULL = "Accepted" */
};

/* The CALLRESULT payload for `action` (new reference), or NULL with *error set to the CALLERROR
 * code (NotImplemented for actions a CSMS would not answer this minimally). */
json_t *ocpp_answer(enum ocpp_version version, const char *action, const json_t *payload,
		    const struct ocpp_answer_ctx *a, const char **error);

#endif
