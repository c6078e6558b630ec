/* The edge answering a charger's CALL as the CSMS would: when no CSMS is configured, when the
 * uplink is down, when the CSMS does not answer in time, and for stations held as pending.
 *
 * Answers are the minimum the schemas require, built from what the edge knows. Without an
 * authorization list (see the partition issue) id tokens are accepted and the acceptance is
 * logged, so a depot without its cloud keeps charging its own fleet. */
#include "edge/charger-model.h"
#include "edge/daemon.h"
#include "edge/log.h"
#include "edge/proxy.h"
#include "edge/replay.h"

#include <stdlib.h>
#include <string.h>

/* 1.6 transaction ids the edge hands out itself: negative, a range no CSMS assigns. */
static json_int_t provisional_tx_id(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return -(json_int_t)((ts.tv_sec % 100000) * 10000 + ts.tv_nsec / 100000 % 10000) - 1;
}

/* Answers that read the same in both versions. NULL when `f` is not one of them. */
static json_t *answer_common(struct charger *ch, const struct ocpp_frame *f, const char *now, const char **error)
{
	const char *a = f->action;

	if (strcmp(a, "BootNotification") == 0)
		return json_pack("{s:s, s:s, s:i}", "status", ch->pending ? "Pending" : "Accepted", "currentTime", now,
				 "interval", ch->heartbeat_s);
	if (ch->pending)
		*error = "SecurityError";
	else if (strcmp(a, "Heartbeat") == 0)
		return json_pack("{s:s}", "currentTime", now);
	else if (strcmp(a, "DataTransfer") == 0)
		return json_pack("{s:s}", "status", "UnknownVendorId");
	return NULL;
}

static json_t *answer16(const struct ocpp_frame *f, const char **error)
{
	const char *a = f->action;

	if (strcmp(a, "Authorize") == 0)
		return json_pack("{s:{s:s}}", "idTagInfo", "status", "Accepted");
	if (strcmp(a, "StartTransaction") == 0)
		return json_pack("{s:I, s:{s:s}}", "transactionId", provisional_tx_id(), "idTagInfo", "status", "Accepted");
	if (strcmp(a, "StatusNotification") == 0 || strcmp(a, "MeterValues") == 0 || strcmp(a, "StopTransaction") == 0 ||
	    strcmp(a, "DiagnosticsStatusNotification") == 0 || strcmp(a, "FirmwareStatusNotification") == 0)
		return json_object();
	*error = "NotImplemented";
	return NULL;
}

static json_t *answer201(const struct ocpp_frame *f, const char **error)
{
	const char *a = f->action;

	if (strcmp(a, "Authorize") == 0)
		return json_pack("{s:{s:s}}", "idTokenInfo", "status", "Accepted");
	if (strcmp(a, "TransactionEvent") == 0) {
		if (json_object_get(f->payload, "idToken"))
			return json_pack("{s:{s:s}}", "idTokenInfo", "status", "Accepted");
		return json_object();
	}
	if (strcmp(a, "StatusNotification") == 0 || strcmp(a, "MeterValues") == 0 || strcmp(a, "NotifyEvent") == 0 ||
	    strcmp(a, "NotifyReport") == 0 || strcmp(a, "SecurityEventNotification") == 0 ||
	    strcmp(a, "FirmwareStatusNotification") == 0 || strcmp(a, "LogStatusNotification") == 0 ||
	    strcmp(a, "NotifyMonitoringReport") == 0 || strcmp(a, "NotifyChargingLimit") == 0 ||
	    strcmp(a, "NotifyEVChargingNeeds") == 0 || strcmp(a, "ReportChargingProfiles") == 0)
		return json_object();
	*error = "NotImplemented";
	return NULL;
}

void proxy_answer_locally(struct proxy *p, struct charger *ch, const struct ocpp_frame *f)
{
	char now[40];
	const char *error = NULL;
	json_t *res;
	char *text;

	ocpp_timestamp(now, sizeof(now), 0);
	res = answer_common(ch, f, now, &error);
	if (!res && !error)
		res = ch->version == OCPP16 ? answer16(f, &error) : answer201(f, &error);
	/* Durable before the acknowledgement leaves: what the edge acknowledges for the CSMS is in
	 * the outbox first, or the charger gets an error and sends it again. */
	if (res && replay_queue(p, ch, f, res) < 0) {
		json_decref(res);
		res = NULL;
		error = "InternalError";
	}
	if (res) {
		struct ocpp_frame answer = { .type = OCPP_RESULT, .payload = res };
		snprintf(answer.id, sizeof(answer.id), "%s", f->id);
		/* What the answer makes true (a boot, a transaction id) is recorded before it is sent. */
		charger_model_result(p, ch, &ch->from_charger, &answer);
		text = ocpp_result_text(f->id, res);
		json_decref(res);
		if (strcmp(f->action, "Authorize") == 0 || strcmp(f->action, "StartTransaction") == 0)
			log_msg(LL_NOTICE, "charger %s: %s accepted by the edge (no CSMS answer)", ch->id, f->action);
	} else {
		text = ocpp_error_text(f->id, error, ch->pending ? "station is pending acceptance by a site manager"
						     : strcmp(error, "InternalError") == 0
							     ? "the edge cannot store this message now; send it again"
							     : "not handled by the edge while the CSMS is unreachable");
	}
	if (text && ws_link_send(&ch->down, text, strlen(text)) == 0)
		p->frames_out++;
	free(text);
	call_clear(&ch->from_charger);
}
