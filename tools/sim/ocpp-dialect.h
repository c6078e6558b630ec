/* The contract between a station and one OCPP version: how an intent becomes a CALL, what
 * the CSMS's answer means, how the station answers the CSMS's calls, and how a connector
 * status change is reported. One const table per version (ocpp16.c, ocpp201.c). */
#ifndef AG_SIM_OCPP_DIALECT_H
#define AG_SIM_OCPP_DIALECT_H

#include "tools/sim/station.h"

#include <jansson.h>

struct ocpp_dialect {
	const char *subprotocol;
	/* The payload (new reference) and action for an intent; NULL to skip the intent. */
	json_t *(*build)(struct station *st, const struct intent *in, const char **action);
	/* The answer to the station's call: a CALLRESULT payload, or NULL for a CALLERROR, a
	 * timeout or a lost link. */
	void (*on_result)(struct station *st, const struct intent *in, json_t *payload);
	/* A call from the CSMS: the response payload (new reference), or NULL with *err_code set
	 * to the CALLERROR code. */
	json_t *(*on_call)(struct station *st, const char *action, json_t *params, const char **err_code);
	/* The connector status changed from `old`; queue what this version reports. */
	void (*on_status)(struct station *st, enum conn_status old);
};

const struct ocpp_dialect *ocpp16_dialect(void);
const struct ocpp_dialect *ocpp201_dialect(void);

#endif
