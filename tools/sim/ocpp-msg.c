/* Meter value payloads and timestamps of the simulated stations. */
#include "tools/sim/ocpp-msg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double round1(double x)
{
	return round(x * 10.0) / 10.0;
}

/* One sampledValue; `phase` and `location` may be NULL. */
static json_t *sampled(double value, bool v201, const char *measurand, const char *phase, const char *unit,
		       const char *context, const char *location)
{
	json_t *o = json_object();

	if (v201) {
		json_object_set_new(o, "value", json_real(round1(value)));
		json_object_set_new(o, "unitOfMeasure", json_pack("{ss}", "unit", unit));
	} else {
		char text[32];
		snprintf(text, sizeof(text), "%.1f", value);
		json_object_set_new(o, "value", json_string(text));
		json_object_set_new(o, "unit", json_string(unit));
	}
	json_object_set_new(o, "measurand", json_string(measurand));
	if (phase)
		json_object_set_new(o, "phase", json_string(phase));
	if (context)
		json_object_set_new(o, "context", json_string(context));
	if (location)
		json_object_set_new(o, "location", json_string(location));
	return o;
}

json_t *ocpp_sampled_values(const struct meter_sample *m, bool v201, const char *context)
{
	static const char *const phase[3] = { "L1", "L2", "L3" }, *const phase_n[3] = { "L1-N", "L2-N", "L3-N" };
	json_t *a = json_array();

	for (int i = 0; i < 3; i++)
		json_array_append_new(a, sampled(m->current_a[i], v201, "Current.Import", phase[i], "A", context, "Outlet"));
	for (int i = 0; i < 3; i++)
		json_array_append_new(a, sampled(m->voltage_v, v201, "Voltage", phase_n[i], "V", context, "Outlet"));
	for (int i = 0; i < 3; i++)
		json_array_append_new(a, sampled(m->power_w[i], v201, "Power.Active.Import", phase[i], "W", context, "Outlet"));
	json_array_append_new(a, sampled(m->power_total_w, v201, "Power.Active.Import", NULL, "W", context, "Outlet"));
	json_array_append_new(a, sampled(m->energy_wh, v201, "Energy.Active.Import.Register", NULL, "Wh", context, "Outlet"));
	if (m->has_ev)
		json_array_append_new(a, sampled(m->soc_pct, v201, "SoC", NULL, "Percent", context, "EV"));
	return a;
}

json_t *ocpp_meter_value(const struct meter_sample *m, bool v201, const char *context, int64_t wall)
{
	char ts[40];

	ocpp_time_format(wall, ts, sizeof(ts));
	return json_pack("[{ssso}]", "timestamp", ts, "sampledValue", ocpp_sampled_values(m, v201, context));
}

json_t *ocpp_status(const char *status)
{
	return json_pack("{ss}", "status", status);
}

int ocpp_int_or(json_t *o, const char *key, int dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static const char *str(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "-";
}

int ocpp_tx_key(const char *action, json_t *payload, char *buf, size_t size)
{
	if (!action || !payload)
		return 0;
	if (!strcmp(action, "StartTransaction"))
		snprintf(buf, size, "S|%d|%s|%lld|%s", ocpp_int_or(payload, "connectorId", -1),
			 str(json_object_get(payload, "idTag")),
			 (long long)json_integer_value(json_object_get(payload, "meterStart")),
			 str(json_object_get(payload, "timestamp")));
	else if (!strcmp(action, "StopTransaction"))
		snprintf(buf, size, "T|%lld|%s|%s", (long long)json_integer_value(json_object_get(payload, "meterStop")),
			 str(json_object_get(payload, "timestamp")), str(json_object_get(payload, "reason")));
	else if (!strcmp(action, "TransactionEvent"))
		snprintf(buf, size, "E|%s|%d|%s",
			 str(json_object_get(json_object_get(payload, "transactionInfo"), "transactionId")),
			 ocpp_int_or(payload, "seqNo", -1), str(json_object_get(payload, "eventType")));
	else
		return 0;
	return 1;
}
