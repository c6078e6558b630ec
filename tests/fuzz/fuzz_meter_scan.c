/* The MeterValues scanner (edge/ocpp/meter-scan.c) against jansson, any bytes as a payload:
 * - what the scanner is sure of, jansson (duplicate keys refused, as the frame parser loads)
 *   accepts too; the scanner never vouches for text the edge would otherwise refuse,
 * - its reading (transaction id, every sample's measurand, phase, unit and value, bit for bit)
 *   is what meter_value_of reads from jansson's tree, as charger-model.c did before. */
#include "tests/fuzz/fuzz.h"
#include "edge/ocpp/meter-scan.h"

FUZZ_DEFAULT_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct meter_reading r;
	const char *text = (const char *)data;
	int rc = meter_scan(text, size, &r);

	if (rc != 0)
		return 0;
	json_t *pl = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
	fuzz_check(pl != NULL, "jansson accepts what the scanner vouched for");
	const json_t *id = json_object_get(pl, "transactionId"), *mv, *sv;
	char want[40] = "";
	if (json_is_integer(id))
		snprintf(want, sizeof(want), "%lld", (long long)json_integer_value(id));
	else if (json_is_string(id))
		snprintf(want, sizeof(want), "%s", json_string_value(id));
	fuzz_check(r.has_tx == (json_is_integer(id) || json_is_string(id)) && r.tx_is_int == json_is_integer(id) &&
			   (!r.has_tx || strcmp(r.tx_id, want) == 0),
		   "the same transaction id");
	size_t i, j, n = 0;
	json_array_foreach(json_object_get(pl, "meterValue"), i, mv)
		json_array_foreach(json_object_get(mv, "sampledValue"), j, sv)
		{
			struct meter_value m;
			fuzz_check(n < r.n, "no sample left out");
			meter_value_of(sv, &m);
			fuzz_check(m.what == r.s[n].what && m.phase == r.s[n].phase && m.kilo == r.s[n].kilo &&
					   memcmp(&m.value, &r.s[n].value, sizeof(m.value)) == 0,
				   "the same sample");
			n++;
		}
	fuzz_check(n == r.n, "no sample made up");
	json_decref(pl);
	return 0;
}
