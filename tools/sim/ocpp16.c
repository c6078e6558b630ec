/* OCPP 1.6J as a charge point speaks it: Core, SmartCharging and RemoteTrigger profiles.
 *
 * The decision to know: the transaction id belongs to the CSMS in 1.6, so MeterValues and
 * StopTransaction are built only once StartTransaction.conf has named it (tx_id16); the FIFO of
 * intents guarantees the start's answer comes back before they are built. */
#include "tools/sim/ocpp-dialect.h"
#include "tools/sim/fleet.h"
#include "edge/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
	[CS_AVAILABLE] = "Available", [CS_PREPARING] = "Preparing", [CS_CHARGING] = "Charging",
	[CS_SUSPENDED_EV] = "SuspendedEV", [CS_SUSPENDED_EVSE] = "SuspendedEVSE", [CS_FINISHING] = "Finishing",
};

static const char *const stop_names[] = {
	[SR_EV_DISCONNECTED] = "EVDisconnected", [SR_REMOTE] = "Remote", [SR_SOFT_RESET] = "SoftReset",
	[SR_HARD_RESET] = "HardReset", [SR_DEAUTHORIZED] = "DeAuthorized",
};

static json_t *meter_value(const struct station *st, const char *context, int64_t wall)
{
	struct meter_sample m;

	station_meter(st, &m);
	return ocpp_meter_value(&m, false, context, wall);
}

static json_t *build(struct station *st, const struct intent *in, const char **action)
{
	char ts[40], serial[26];
	json_t *o;

	ocpp_time_format(in->wall_ms, ts, sizeof(ts));
	switch ((enum intent_kind)in->kind) {
	case IK_BOOT:
		*action = "BootNotification";
		snprintf(serial, sizeof(serial), "%.25s", st->id);
		return json_pack("{ssssssss}", "chargePointVendor", "Ampgate", "chargePointModel", "SimCP-AC22",
				 "chargePointSerialNumber", serial, "firmwareVersion", AG_VERSION);
	case IK_STATUS:
		*action = "StatusNotification";
		return json_pack("{sissssss}", "connectorId", in->arg, "errorCode", "NoError", "status",
				 in->arg ? status_names[st->reported_status] : "Available", "timestamp", ts);
	case IK_HEARTBEAT:
		*action = "Heartbeat";
		return json_object();
	case IK_AUTHORIZE:
		*action = "Authorize";
		return json_pack("{ss}", "idTag", st->id_tag);
	case IK_TX_START:
		*action = "StartTransaction";
		return json_pack("{sisssIss}", "connectorId", 1, "idTag", st->id_tag, "meterStart",
				 (json_int_t)in->energy_wh, "timestamp", ts);
	case IK_TX_METER:
	case IK_METER:
		*action = "MeterValues";
		o = json_pack("{siso}", "connectorId", 1, "meterValue",
			      meter_value(st, in->kind == IK_METER ? "Trigger" : "Sample.Periodic", in->wall_ms));
		if (st->tx == TX_ACTIVE && st->tx_named16)
			json_object_set_new(o, "transactionId", json_integer(st->tx_id16));
		else if (in->kind == IK_TX_METER) {
			json_decref(o);
			return NULL;
		}
		return o;
	case IK_TX_STOP:
		if (!st->tx_named16)
			return NULL;    /* the start failed: nothing to stop */
		*action = "StopTransaction";
		o = json_pack("{sisIssssss}", "transactionId", st->tx_id16, "meterStop", (json_int_t)in->energy_wh,
			      "timestamp", ts, "reason", stop_names[in->arg], "idTag", st->id_tag);
		st->tx_named16 = false;
		return o;
	case IK_TX_STATE:
		return NULL;
	}
	return NULL;
}

static const char *status_of(json_t *payload, const char *info)
{
	json_t *o = info ? json_object_get(payload, info) : payload;

	return json_string_value(json_object_get(o, "status"));
}

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

static void on_result(struct station *st, const struct intent *in, json_t *payload)
{
	switch ((enum intent_kind)in->kind) {
	case IK_BOOT:
		station_boot_result(st, is(status_of(payload, NULL), "Accepted"),
				    (int)json_integer_value(json_object_get(payload, "interval")));
		break;
	case IK_AUTHORIZE:
		station_authorize_result(st, is(status_of(payload, "idTagInfo"), "Accepted"));
		break;
	case IK_TX_START:
	{
		/* Any integer is a transaction id (the edge's provisional ids are negative). */
		const json_t *id = json_object_get(payload, "transactionId");
		station_tx_started16(st, json_is_integer(id), (int)json_integer_value(id),
				     is(status_of(payload, "idTagInfo"), "Accepted"));
		break;
	}
	default:
		break;
	}
}

static json_t *set_profile(struct station *st, json_t *p)
{
	struct charging_profile cp;
	int connector = (int)json_integer_value(json_object_get(p, "connectorId"));

	if (connector > 1 || profile_parse_16(json_object_get(p, "csChargingProfiles"), connector, wall_ms(), &cp) < 0 ||
	    (cp.purpose == PP_STATION_MAX && connector != 0) || station_profile_set(st, &cp) < 0)
		return ocpp_status("Rejected");
	return ocpp_status("Accepted");
}

static json_t *clear_profile(struct station *st, json_t *p)
{
	const char *purpose = json_string_value(json_object_get(p, "chargingProfilePurpose"));
	int n = station_profile_clear(st, ocpp_int_or(p, "id", -1), ocpp_int_or(p, "connectorId", -1),
				      purpose ? profile_purpose_parse(purpose) : -1, ocpp_int_or(p, "stackLevel", -1));

	return ocpp_status(n > 0 ? "Accepted" : "Unknown");
}

static json_t *trigger(struct station *st, json_t *p)
{
	const char *what = json_string_value(json_object_get(p, "requestedMessage"));
	int connector = ocpp_int_or(p, "connectorId", -1);

	if (connector > 1)
		return ocpp_status("Rejected");
	if (is(what, "BootNotification"))
		station_enqueue(st, IK_BOOT, 0);
	else if (is(what, "Heartbeat"))
		station_enqueue(st, IK_HEARTBEAT, 0);
	else if (is(what, "MeterValues"))
		station_enqueue(st, IK_METER, 0);
	else if (is(what, "StatusNotification")) {
		if (connector <= 0)
			station_enqueue(st, IK_STATUS, 0);
		if (connector != 0)
			station_enqueue(st, IK_STATUS, 1);
	} else
		return ocpp_status("NotImplemented");
	return ocpp_status("Accepted");
}

static json_t *get_configuration(struct station *st, json_t *p)
{
	json_t *keys = json_object_get(p, "key"), *known = json_array(), *unknown = json_array(), *k, *r;
	const struct sim_var *v;
	char value[512];
	size_t i;

	if (json_array_size(keys) == 0) {
		for (i = 0; (v = sim_var_at16(i)); i++) {
			sim_var_get(v, &st->vars, false, value, sizeof(value));
			json_array_append_new(known, json_pack("{sssbss}", "key", sim_var_key16(v), "readonly",
							       sim_var_readonly(v), "value", value));
		}
	}
	json_array_foreach(keys, i, k) {
		if (!json_is_string(k) || !(v = sim_var_find16(json_string_value(k)))) {
			json_array_append(unknown, k);
			continue;
		}
		sim_var_get(v, &st->vars, false, value, sizeof(value));
		json_array_append_new(known, json_pack("{sssbss}", "key", sim_var_key16(v), "readonly",
						       sim_var_readonly(v), "value", value));
	}
	r = json_object();
	if (json_array_size(known))
		json_object_set(r, "configurationKey", known);
	if (json_array_size(unknown))
		json_object_set(r, "unknownKey", unknown);
	json_decref(known);
	json_decref(unknown);
	return r;
}

static json_t *change_configuration(struct station *st, json_t *p)
{
	const struct sim_var *v = sim_var_find16(json_string_value(json_object_get(p, "key")));
	const char *value = json_string_value(json_object_get(p, "value"));

	if (!v || !value)
		return ocpp_status("NotSupported");
	if (sim_var_set(v, &st->vars, value) < 0)
		return ocpp_status("Rejected");
	station_vars_changed(st);
	return ocpp_status("Accepted");
}

static json_t *on_call(struct station *st, const char *action, json_t *p, const char **err)
{
	char tx[24];

	if (!strcmp(action, "SetChargingProfile"))
		return set_profile(st, p);
	if (!strcmp(action, "ClearChargingProfile"))
		return clear_profile(st, p);
	if (!strcmp(action, "Reset")) {
		station_reset(st, is(json_string_value(json_object_get(p, "type")), "Hard"), false);
		return ocpp_status("Accepted");
	}
	if (!strcmp(action, "TriggerMessage"))
		return trigger(st, p);
	if (!strcmp(action, "RemoteStartTransaction")) {
		const char *tag = json_string_value(json_object_get(p, "idTag"));
		if (ocpp_int_or(p, "connectorId", 1) != 1 || !tag || station_remote_start(st, tag, -1) < 0)
			return ocpp_status("Rejected");
		return ocpp_status("Accepted");
	}
	if (!strcmp(action, "RemoteStopTransaction")) {
		snprintf(tx, sizeof(tx), "%d", ocpp_int_or(p, "transactionId", -1));
		return ocpp_status(station_remote_stop(st, tx) < 0 ? "Rejected" : "Accepted");
	}
	if (!strcmp(action, "GetConfiguration"))
		return get_configuration(st, p);
	if (!strcmp(action, "ChangeConfiguration"))
		return change_configuration(st, p);
	*err = "NotImplemented";
	return NULL;
}

static void on_status(struct station *st, enum conn_status old)
{
	if ((int)old < 0)
		station_enqueue(st, IK_STATUS, 0);
	station_enqueue(st, IK_STATUS, 1);
}

static const struct ocpp_dialect dialect = {
	.subprotocol = "ocpp1.6",
	.build = build,
	.on_result = on_result,
	.on_call = on_call,
	.on_status = on_status,
};

const struct ocpp_dialect *ocpp16_dialect(void)
{
	return &dialect;
}
