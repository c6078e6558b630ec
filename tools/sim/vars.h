/* The configuration a simulated station exposes: one declarative table that serves OCPP 1.6
 * GetConfiguration/ChangeConfiguration (by key) and 2.0.1 GetVariables/SetVariables (by
 * component and variable). */
#ifndef AG_SIM_VARS_H
#define AG_SIM_VARS_H

#include <stdbool.h>
#include <stddef.h>

/* The writable settings of one station. */
struct station_vars {
	int heartbeat_s;
	int meter_interval_s;
	int connection_timeout_s;
	bool authorize_remote;
	char measurands[160];           /* MeterValuesSampledData / TxUpdatedMeasurands */
};

/* What the simulated meter can sample; a setting naming anything else is refused. */
#define SIM_MEASURANDS "Current.Import,Voltage,Power.Active.Import,Energy.Active.Import.Register,SoC"

struct sim_var;

/* Lookup by 1.6 key or by 2.0.1 component + variable (case-sensitive, as OCPP). NULL if unknown. */
const struct sim_var *sim_var_find16(const char *key);
const struct sim_var *sim_var_find201(const char *component, const char *variable);
/* Whether a 2.0.1 component name is one we have (UnknownVariable vs UnknownComponent). */
bool sim_var_component_known(const char *component);
/* Iterate the 1.6 keys: i = 0.. until NULL. */
const struct sim_var *sim_var_at16(size_t i);
const char *sim_var_key16(const struct sim_var *v);
bool sim_var_readonly(const struct sim_var *v);
/* The value as text (1.6 spelling when v201 is false). */
void sim_var_get(const struct sim_var *v, const struct station_vars *sv, bool v201, char *buf, size_t size);
/* 0, -EROFS (read-only) or -EINVAL (value not acceptable). */
int sim_var_set(const struct sim_var *v, struct station_vars *sv, const char *value);

#endif
