/* What the simulated stations of both protocol versions share beyond the frames themselves
 * (edge/ocpp/ocpp-frame.h): meter value payloads, status answers, the wall clock. */
#ifndef AG_SIM_OCPP_MSG_H
#define AG_SIM_OCPP_MSG_H

#include "edge/daemon.h"
#include "edge/ocpp/ocpp-frame.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One reading of a station's meter, and its sampledValue list: Current.Import per phase,
 * Voltage per phase, Power.Active.Import per phase and total, Energy.Active.Import.Register and
 * SoC (with an EV). 1.6 puts values as strings with `unit`, 2.0.1 as numbers with
 * `unitOfMeasure`. `context` may be NULL. Returns a new reference. */
struct meter_sample {
	double current_a[3], voltage_v, power_w[3], power_total_w, energy_wh, soc_pct;
	int phases;
	bool has_ev;
};
json_t *ocpp_sampled_values(const struct meter_sample *m, bool v201, const char *context);
/* [{timestamp, sampledValue}] for a meterValue field. */
json_t *ocpp_meter_value(const struct meter_sample *m, bool v201, const char *context, int64_t wall);

/* {"status": status}, the answer most CSMS calls take (new reference). */
json_t *ocpp_status(const char *status);
/* An integer member, or `dflt` when it is absent or not an integer. */
int ocpp_int_or(json_t *o, const char *key, int dflt);

/* The identity of a transaction message (StartTransaction, StopTransaction, TransactionEvent)
 * as both ends of a proxy see it, for counting it lost or duplicated: built from the payload
 * only, never from the message id or a 1.6 transactionId, which an edge may rewrite
 * (provisional ids) on the way. 1 with the key in `buf`, 0 for any other action. */
int ocpp_tx_key(const char *action, json_t *payload, char *buf, size_t size);

/* wall_ms(), wall-clock epoch milliseconds for timestamps in messages, is edge/daemon.h's;
 * RFC 3339 timestamps (ocpp_time_format / ocpp_time_parse) are edge/ocpp/ocpp-frame.h's. */

#endif
