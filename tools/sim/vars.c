/* Station configuration table. The decision to know: a setting either lives in struct
 * station_vars (writable, reached through its offset) or is a fixed string per protocol
 * version (read-only facts about the simulated hardware), so one row is one setting in both
 * protocol versions. */
#include "tools/sim/vars.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum var_type { VT_INT, VT_BOOL, VT_TEXT, VT_FIXED };

struct sim_var {
	const char *key16;              /* NULL: not in 1.6 */
	const char *component, *variable; /* NULL: not in 2.0.1 */
	enum var_type type;
	size_t offset;                  /* VT_INT / VT_BOOL: into struct station_vars */
	int min, max;                   /* VT_INT */
	const char *fixed16, *fixed201; /* VT_FIXED */
};

#define INT_VAR(k, c, v, field, lo, hi) \
	{ .key16 = k, .component = c, .variable = v, .type = VT_INT, \
	  .offset = offsetof(struct station_vars, field), .min = lo, .max = hi }

static const struct sim_var vars[] = {
	INT_VAR("HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval", heartbeat_s, 1, 86400),
	INT_VAR("MeterValueSampleInterval", "SampledDataCtrlr", "TxUpdatedInterval", meter_interval_s, 0, 86400),
	INT_VAR("ConnectionTimeOut", "TxCtrlr", "EVConnectionTimeOut", connection_timeout_s, 1, 3600),
	{ .key16 = "AuthorizeRemoteTxRequests", .component = "AuthCtrlr", .variable = "AuthorizeRemoteStart",
	  .type = VT_BOOL, .offset = offsetof(struct station_vars, authorize_remote) },
	{ .key16 = "NumberOfConnectors", .type = VT_FIXED, .fixed16 = "1" },
	{ .key16 = "ChargeProfileMaxStackLevel", .component = "SmartChargingCtrlr", .variable = "ProfileStackLevel",
	  .type = VT_FIXED, .fixed16 = "50", .fixed201 = "50" },
	{ .key16 = "ChargingScheduleAllowedChargingRateUnit", .component = "SmartChargingCtrlr", .variable = "RateUnit",
	  .type = VT_FIXED, .fixed16 = "Current,Power", .fixed201 = "A,W" },
	{ .key16 = "MaxChargingProfilesInstalled", .type = VT_FIXED, .fixed16 = "8" },
	{ .component = "SmartChargingCtrlr", .variable = "Enabled", .type = VT_FIXED, .fixed201 = "true" },
	{ .key16 = "SupportedFeatureProfiles", .type = VT_FIXED, .fixed16 = "Core,SmartCharging,RemoteTrigger" },
	{ .key16 = "MeterValuesSampledData", .component = "SampledDataCtrlr", .variable = "TxUpdatedMeasurands",
	  .type = VT_TEXT, .offset = offsetof(struct station_vars, measurands) },
};
#define N_VARS (sizeof(vars) / sizeof(vars[0]))

const struct sim_var *sim_var_find16(const char *key)
{
	for (size_t i = 0; i < N_VARS; i++)
		if (vars[i].key16 && !strcmp(vars[i].key16, key))
			return &vars[i];
	return NULL;
}

const struct sim_var *sim_var_find201(const char *component, const char *variable)
{
	for (size_t i = 0; i < N_VARS; i++)
		if (vars[i].component && !strcmp(vars[i].component, component) && !strcmp(vars[i].variable, variable))
			return &vars[i];
	return NULL;
}

const struct sim_var *sim_var_at16(size_t i)
{
	for (size_t j = 0; j < N_VARS; j++)
		if (vars[j].key16 && i-- == 0)
			return &vars[j];
	return NULL;
}

const char *sim_var_key16(const struct sim_var *v)
{
	return v->key16;
}

bool sim_var_readonly(const struct sim_var *v)
{
	return v->type == VT_FIXED;
}

void sim_var_get(const struct sim_var *v, const struct station_vars *sv, bool v201, char *buf, size_t size)
{
	const char *base = (const char *)sv + v->offset;

	switch (v->type) {
	case VT_INT:
		snprintf(buf, size, "%d", *(const int *)(const void *)base);
		break;
	case VT_BOOL:
		snprintf(buf, size, "%s", *(const bool *)(const void *)base ? "true" : "false");
		break;
	case VT_TEXT:
		snprintf(buf, size, "%s", base);
		break;
	case VT_FIXED:
		snprintf(buf, size, "%s", (v201 ? v->fixed201 : v->fixed16) ? (v201 ? v->fixed201 : v->fixed16) : "");
		break;
	}
}

/* Every item of a comma-separated list is one of SIM_MEASURANDS. */
static bool measurands_supported(const char *list)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		const char *known = SIM_MEASURANDS;
		bool found = false;
		while (*known && !found) {
			size_t k = strcspn(known, ",");
			found = k == n && !strncmp(known, p, n);
			known += k + (known[k] == ',');
		}
		if (!found || n == 0)
			return false;
		p += n + (p[n] == ',');
	}
	return true;
}

int sim_var_set(const struct sim_var *v, struct station_vars *sv, const char *value)
{
	char *base = (char *)sv + v->offset, *end;
	long n;

	switch (v->type) {
	case VT_INT:
		n = strtol(value, &end, 10);
		if (end == value || *end || n < v->min || n > v->max)
			return -EINVAL;
		*(int *)(void *)base = (int)n;
		return 0;
	case VT_BOOL:
		if (strcasecmp(value, "true") && strcasecmp(value, "false"))
			return -EINVAL;
		*(bool *)(void *)base = !strcasecmp(value, "true");
		return 0;
	case VT_TEXT:
		if (strlen(value) >= sizeof(sv->measurands) || !measurands_supported(value))
			return -EINVAL;
		snprintf(base, sizeof(sv->measurands), "%s", value);
		return 0;
	case VT_FIXED:
		break;
	}
	return -EROFS;
}

bool sim_var_component_known(const char *component)
{
	for (size_t i = 0; i < N_VARS; i++)
		if (vars[i].component && !strcmp(vars[i].component, component))
			return true;
	return false;
}
