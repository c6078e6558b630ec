/* OCPP 2.0.1 as a charging station speaks it (one EVSE with one connector): provisioning,
 * authorization, TransactionEvent, smart charging, remote control, device model variables.
 *
 * The decision to know: the station owns the transaction id in 2.0.1, so it is taken when the
 * Started event is built, and the connector's 1.6-style status is folded into what 2.0.1
 * reports: StatusNotification only for Available <-> Occupied, and a TransactionEvent Updated
 * (ChargingStateChanged) for charging / suspended changes during a transaction. */
#include "tools/sim/ocpp-dialect.h"
#include "tools/sim/fleet.h"
#include "edge/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *charging_state(enum conn_status s)
{
	switch (s) {
	case CS_CHARGING:
		return "Charging";
	case CS_SUSPENDED_EV:
		return "SuspendedEV";
	case CS_SUSPENDED_EVSE:
		return "SuspendedEVSE";
	case CS_AVAILABLE:
		return "Idle";
	default:
		return "EVConnected";
	}
}

static const char *connector_status(enum conn_status s)
{
	return s == CS_AVAILABLE ? "Available" : "Occupied";
}

/* triggerReason and stoppedReason per stop reason. */
static const char *const stop_trigger[] = {
	[SR_EV_DISCONNECTED] = "EVDeparted", [SR_REMOTE] = "RemoteStop", [SR_SOFT_RESET] = "ResetCommand",
	[SR_HARD_RESET] = "ResetCommand", [SR_DEAUTHORIZED] = "Deauthorized",
};
static const char *const stop_reason[] = {
	[SR_EV_DISCONNECTED] = "EVDisconnected", [SR_REMOTE] = "Remote", [SR_SOFT_RESET] = "ImmediateReset",
	[SR_HARD_RESET] = "ImmediateReset", [SR_DEAUTHORIZED] = "DeAuthorized",
};

static json_t *id_token(const struct station *st)
{
	return json_pack("{ssss}", "idToken", st->id_tag, "type", st->id_token_type);
}

static json_t *meter_value(const struct station *st, const char *context, int64_t wall, bool energy_only)
{
	struct meter_sample m;
	char ts[40];

	station_meter(st, &m);
	if (!energy_only)
		return ocpp_meter_value(&m, true, context, wall);
	ocpp_time_format(wall, ts, sizeof(ts));
	return json_pack("[{ss s[{sfss s{ss} ss}]}]", "timestamp", ts, "sampledValue", "value", m.energy_wh,
			 "measurand", "Energy.Active.Import.Register", "unitOfMeasure", "unit", "Wh", "context", context);
}

static json_t *tx_event(struct station *st, const char *type, const char *trigger, const char *ts)
{
	return json_pack("{sssssssi}", "eventType", type, "timestamp", ts, "triggerReason", trigger, "seqNo",
			 st->seq_no++);
}

static json_t *build(struct station *st, const struct intent *in, const char **action)
{
	char ts[40], serial[26];
	json_t *o, *info;

	ocpp_time_format(in->wall_ms, ts, sizeof(ts));
	switch ((enum intent_kind)in->kind) {
	case IK_BOOT:
		*action = "BootNotification";
		snprintf(serial, sizeof(serial), "%.25s", st->id);
		return json_pack("{sss{ssssssss}}", "reason", st->reset_boot ? "RemoteReset" : "PowerUp", "chargingStation",
				 "model", "SimCP-AC22", "vendorName", "Ampgate", "serialNumber", serial,
				 "firmwareVersion", AG_VERSION);
	case IK_STATUS:
		*action = "StatusNotification";
		return json_pack("{sssssisi}", "timestamp", ts, "connectorStatus", connector_status(st->reported_status),
				 "evseId", 1, "connectorId", 1);
	case IK_HEARTBEAT:
		*action = "Heartbeat";
		return json_object();
	case IK_AUTHORIZE:
		*action = "Authorize";
		return json_pack("{so}", "idToken", id_token(st));
	case IK_TX_START:
		*action = "TransactionEvent";
		station_tx_started201(st);
		o = tx_event(st, "Started", st->remote_start_id >= 0 ? "RemoteStart" : "Authorized", ts);
		info = json_pack("{ssss}", "transactionId", st->tx_id201, "chargingState", "Charging");
		if (st->remote_start_id >= 0)
			json_object_set_new(info, "remoteStartId", json_integer(st->remote_start_id));
		json_object_set_new(o, "transactionInfo", info);
		json_object_set_new(o, "evse", json_pack("{sisi}", "id", 1, "connectorId", 1));
		json_object_set_new(o, "idToken", id_token(st));
		json_object_set_new(o, "meterValue", meter_value(st, "Transaction.Begin", in->wall_ms, true));
		return o;
	case IK_TX_METER:
	case IK_TX_STATE:
		if (!st->tx_id201[0] || st->tx != TX_ACTIVE)
			return NULL;
		*action = "TransactionEvent";
		o = tx_event(st, "Updated", in->kind == IK_TX_METER ? "MeterValuePeriodic" : "ChargingStateChanged", ts);
		json_object_set_new(o, "transactionInfo", json_pack("{ssss}", "transactionId", st->tx_id201,
								    "chargingState", charging_state(st->reported_status)));
		if (in->kind == IK_TX_METER)
			json_object_set_new(o, "meterValue", meter_value(st, "Sample.Periodic", in->wall_ms, false));
		return o;
	case IK_TX_STOP:
		if (!st->tx_id201[0])
			return NULL;
		*action = "TransactionEvent";
		o = tx_event(st, "Ended", stop_trigger[in->arg], ts);
		json_object_set_new(o, "transactionInfo", json_pack("{ssss}", "transactionId", st->tx_id201,
								    "stoppedReason", stop_reason[in->arg]));
		json_object_set_new(o, "meterValue", meter_value(st, "Transaction.End", in->wall_ms, true));
		st->tx_id201[0] = '\0';
		return o;
	case IK_METER:
		*action = "MeterValues";
		return json_pack("{siso}", "evseId", 1, "meterValue", meter_value(st, "Trigger", in->wall_ms, false));
	}
	return NULL;
}

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

static const char *token_status(json_t *payload)
{
	return json_string_value(json_object_get(json_object_get(payload, "idTokenInfo"), "status"));
}

static void on_result(struct station *st, const struct intent *in, json_t *payload)
{
	switch ((enum intent_kind)in->kind) {
	case IK_BOOT:
		station_boot_result(st, is(json_string_value(json_object_get(payload, "status")), "Accepted"),
				    (int)json_integer_value(json_object_get(payload, "interval")));
		break;
	case IK_AUTHORIZE:
		station_authorize_result(st, is(token_status(payload), "Accepted"));
		break;
	case IK_TX_START:
		if (token_status(payload) && !is(token_status(payload), "Accepted") && st->tx == TX_ACTIVE)
			station_tx_stop(st, SR_DEAUTHORIZED);
		break;
	default:
		break;
	}
}

static json_t *set_profile(struct station *st, json_t *p)
{
	struct charging_profile cp;
	int evse = ocpp_int_or(p, "evseId", 0);

	if (evse > 1 || profile_parse_201(json_object_get(p, "chargingProfile"), evse, wall_ms(), &cp) < 0 ||
	    (cp.purpose == PP_STATION_MAX && evse != 0) || station_profile_set(st, &cp) < 0)
		return ocpp_status("Rejected");
	return ocpp_status("Accepted");
}

static json_t *clear_profile(struct station *st, json_t *p)
{
	json_t *c = json_object_get(p, "chargingProfileCriteria");
	const char *purpose = json_string_value(json_object_get(c, "chargingProfilePurpose"));
	int n = station_profile_clear(st, ocpp_int_or(p, "chargingProfileId", -1), ocpp_int_or(c, "evseId", -1),
				      purpose ? profile_purpose_parse(purpose) : -1, ocpp_int_or(c, "stackLevel", -1));

	return ocpp_status(n > 0 ? "Accepted" : "Unknown");
}

static json_t *trigger(struct station *st, json_t *p)
{
	const char *what = json_string_value(json_object_get(p, "requestedMessage"));
	int evse = ocpp_int_or(json_object_get(p, "evse"), "id", -1);

	if (evse > 1)
		return ocpp_status("Rejected");
	if (is(what, "BootNotification")) {
		if (st->booted)
			return ocpp_status("Rejected");        /* F06.FR.17 */
		station_enqueue(st, IK_BOOT, 0);
	} else if (is(what, "Heartbeat"))
		station_enqueue(st, IK_HEARTBEAT, 0);
	else if (is(what, "MeterValues"))
		station_enqueue(st, IK_METER, 0);
	else if (is(what, "StatusNotification"))
		station_enqueue(st, IK_STATUS, 1);
	else
		return ocpp_status("NotImplemented");
	return ocpp_status("Accepted");
}

/* The status of one get/set item; *v is the variable when "Accepted" is possible. */
static const char *lookup(json_t *item, const struct sim_var **v)
{
	const char *comp = json_string_value(json_object_get(json_object_get(item, "component"), "name"));
	const char *var = json_string_value(json_object_get(json_object_get(item, "variable"), "name"));
	const char *type = json_string_value(json_object_get(item, "attributeType"));

	*v = comp && var ? sim_var_find201(comp, var) : NULL;
	if (!*v)
		return comp && sim_var_component_known(comp) ? "UnknownVariable" : "UnknownComponent";
	if (type && strcmp(type, "Actual"))
		return "NotSupportedAttributeType";
	return "Accepted";
}

/* A result row echoing the request's component and variable. */
static json_t *var_result(json_t *item, const char *status)
{
	json_t *r = json_pack("{sssOsO}", "attributeStatus", status, "component", json_object_get(item, "component"),
			      "variable", json_object_get(item, "variable"));
	json_t *type = json_object_get(item, "attributeType");

	if (type)
		json_object_set(r, "attributeType", type);
	return r;
}

static json_t *get_variables(struct station *st, json_t *p)
{
	json_t *out = json_array(), *item;
	const struct sim_var *v;
	char value[512];
	size_t i;

	json_array_foreach(json_object_get(p, "getVariableData"), i, item) {
		const char *status = lookup(item, &v);
		json_t *r = var_result(item, status);
		if (!strcmp(status, "Accepted")) {
			sim_var_get(v, &st->vars, true, value, sizeof(value));
			json_object_set_new(r, "attributeValue", json_string(value));
		}
		json_array_append_new(out, r);
	}
	return json_pack("{so}", "getVariableResult", out);
}

static json_t *set_variables(struct station *st, json_t *p)
{
	json_t *out = json_array(), *item;
	const struct sim_var *v;
	size_t i;

	json_array_foreach(json_object_get(p, "setVariableData"), i, item) {
		const char *status = lookup(item, &v);
		const char *value = json_string_value(json_object_get(item, "attributeValue"));
		if (!strcmp(status, "Accepted") && (!value || sim_var_set(v, &st->vars, value) < 0))
			status = "Rejected";
		json_array_append_new(out, var_result(item, status));
	}
	station_vars_changed(st);
	return json_pack("{so}", "setVariableResult", out);
}

static json_t *request_start(struct station *st, json_t *p)
{
	json_t *tok = json_object_get(p, "idToken");
	const char *tag = json_string_value(json_object_get(tok, "idToken"));
	const char *type = json_string_value(json_object_get(tok, "type"));

	if (ocpp_int_or(p, "evseId", 1) != 1 || !tag || strlen(tag) >= sizeof(st->id_tag) ||
	    station_remote_start(st, tag, ocpp_int_or(p, "remoteStartId", 0)) < 0)
		return ocpp_status("Rejected");
	snprintf(st->id_token_type, sizeof(st->id_token_type), "%s", type ? type : "Central");
	return ocpp_status("Accepted");
}

static json_t *on_call(struct station *st, const char *action, json_t *p, const char **err)
{
	if (!strcmp(action, "SetChargingProfile"))
		return set_profile(st, p);
	if (!strcmp(action, "ClearChargingProfile"))
		return clear_profile(st, p);
	if (!strcmp(action, "Reset")) {
		if (ocpp_int_or(p, "evseId", 0) != 0)
			return ocpp_status("Rejected");
		return ocpp_status(station_reset(st, false, is(json_string_value(json_object_get(p, "type")), "OnIdle"))
					    ? "Scheduled" : "Accepted");
	}
	if (!strcmp(action, "TriggerMessage"))
		return trigger(st, p);
	if (!strcmp(action, "RequestStartTransaction"))
		return request_start(st, p);
	if (!strcmp(action, "RequestStopTransaction")) {
		const char *tx = json_string_value(json_object_get(p, "transactionId"));
		return ocpp_status(!tx || station_remote_stop(st, tx) < 0 ? "Rejected" : "Accepted");
	}
	if (!strcmp(action, "GetVariables"))
		return get_variables(st, p);
	if (!strcmp(action, "SetVariables"))
		return set_variables(st, p);
	*err = "NotImplemented";
	return NULL;
}

static void on_status(struct station *st, enum conn_status old)
{
	if ((int)old < 0 || (old == CS_AVAILABLE) != (st->reported_status == CS_AVAILABLE))
		station_enqueue(st, IK_STATUS, 1);
	if ((int)old >= 0 && st->tx == TX_ACTIVE && strcmp(charging_state(old), charging_state(st->reported_status)))
		station_enqueue(st, IK_TX_STATE, 0);
}

static const struct ocpp_dialect dialect = {
	.subprotocol = "ocpp2.0.1",
	.build = build,
	.on_result = on_result,
	.on_call = on_call,
	.on_status = on_status,
};

const struct ocpp_dialect *ocpp201_dialect(void)
{
	return &dialect;
}
