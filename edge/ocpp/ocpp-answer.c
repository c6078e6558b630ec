/* Minimal CSMS answers; see ocpp-answer.h. Answers are the minimum the schemas require: id tokens
 * get the status the caller decided (Accepted unless told), notifications are acknowledged with
 * {}, DataTransfer has no vendor to go to. */
#include "edge/ocpp/ocpp-answer.h"

#include <string.h>

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static const char *auth_status(const struct ocpp_answer_ctx *ctx)
{
	return ctx->auth_status ? ctx->auth_status : "Accepted";
}

static json_t *answer16(const char *a, const struct ocpp_answer_ctx *ctx)
{
	if (is(a, "Authorize"))
		return json_pack("{s:{s:s}}", "idTagInfo", "status", auth_status(ctx));
	if (is(a, "StartTransaction"))
		return json_pack("{s:I, s:{s:s}}", "transactionId", ctx->tx_id, "idTagInfo", "status", auth_status(ctx));
	if (is(a, "StatusNotification") || is(a, "MeterValues") || is(a, "StopTransaction") ||
	    is(a, "DiagnosticsStatusNotification") || is(a, "FirmwareStatusNotification"))
		return json_object();
	return NULL;
}

static json_t *answer201(const char *a, const json_t *payload, const struct ocpp_answer_ctx *ctx)
{
	if (is(a, "Authorize"))
		return json_pack("{s:{s:s}}", "idTokenInfo", "status", auth_status(ctx));
	if (is(a, "TransactionEvent")) {
		if (json_object_get(payload, "idToken"))
			return json_pack("{s:{s:s}}", "idTokenInfo", "status", auth_status(ctx));
		return json_object();
	}
	if (is(a, "StatusNotification") || is(a, "MeterValues") || is(a, "NotifyEvent") || is(a, "NotifyReport") ||
	    is(a, "SecurityEventNotification") || is(a, "FirmwareStatusNotification") ||
	    is(a, "LogStatusNotification") || is(a, "NotifyMonitoringReport") || is(a, "NotifyChargingLimit") ||
	    is(a, "ReportChargingProfiles"))
		return json_object();
	if (is(a, "NotifyEVChargingNeeds")) /* the edge reads the needs (charger-needs.c) */
		return json_pack("{s:s}", "status", "Accepted");
	return NULL;
}

json_t *ocpp_answer(enum ocpp_version version, const char *action, const json_t *payload,
		    const struct ocpp_answer_ctx *a, const char **error)
{
	json_t *res;

	if (is(action, "BootNotification"))
		return json_pack("{s:s, s:s, s:i}", "status", a->boot_status, "currentTime", a->now, "interval",
				 a->heartbeat_s);
	if (is(action, "Heartbeat"))
		return json_pack("{s:s}", "currentTime", a->now);
	if (is(action, "DataTransfer"))
		return json_pack("{s:s}", "status", "UnknownVendorId");
	res = version == OCPP16 ? answer16(action, a) : answer201(action, payload, a);
	if (!res)
		*error = "NotImplemented";
	return res;
}
