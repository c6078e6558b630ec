/* MeterValues read without a JSON tree. A MeterValues call is most of what a site's chargers
 * send (one per charger per sample interval); building a jansson document for it cost ~40 small
 * allocations and most of the edge's user time per forwarded frame. The scanner validates the
 * payload as strictly as jansson would and picks out only what the edge uses; when it cannot be
 * sure (escapes, non-ASCII, odd numbers, duplicate-looking keys, too many samples) it says so and
 * the caller parses the tree as before, so a frame's fate is always jansson's. */
#ifndef AG_METER_SCAN_H
#define AG_METER_SCAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The measurands the edge reads; OTHER ones are skipped. A sampledValue without a (string)
 * measurand is the energy register (OCPP's default). */
enum meter_what { METER_ENERGY, METER_CURRENT, METER_VOLTAGE, METER_POWER, METER_SOC, METER_OTHER };

/* One sampledValue as the edge reads it: `value` in the unit sent, `kilo` when that unit starts
 * with 'k' (kWh, kW), `phase` 0..2 for L1..L3 (also "L1-N") or -1. */
struct meter_value {
	double value;
	unsigned char what;             /* enum meter_what */
	signed char phase;
	bool kilo;
};

/* Real chargers send up to ~20 (3 phases of current, voltage and power, energy, SoC...); a
 * frame with more is read from its tree. */
#define METER_SAMPLES_MAX 32

/* What a MeterValues payload says: its top-level transactionId (1.6; an integer is written in
 * decimal, a string as sent, truncated to fit) and its samples in order. */
struct meter_reading {
	bool has_tx;                    /* transactionId an integer or a string */
	bool tx_is_int;
	long long tx_int;
	char tx_id[40];
	size_t n;
	struct meter_value s[METER_SAMPLES_MAX];
};

/* Scan the text of a MeterValues payload object (`len` bytes, exactly the object). 0 when it is
 * JSON jansson accepts (duplicate keys refused) and `out` holds what meter_value_of would read
 * from its tree; -EINVAL when unsure or not JSON, -E2BIG beyond METER_SAMPLES_MAX samples: then
 * parse the tree. */
int meter_scan(const char *text, size_t len, struct meter_reading *out);

/* The same reading of one sampledValue node of a jansson tree (the reference, and the path for
 * StopTransaction's transactionData and TransactionEvent's meterValue). */
void meter_value_of(const json_t *sv, struct meter_value *out);

#endif
