/* The edge answering a charger's CALL as the CSMS would: when no CSMS is configured, when the
 * uplink is down, when the CSMS does not answer in time, and for stations held as pending.
 *
 * Answers are the minimum the schemas require, built from what the edge knows. An id token gets
 * what the edge's copy of the charger's local list and its cache of the CSMS's answers say, under
 * `auth.offline` (auth-cache.c), so a depot without its cloud keeps charging its own fleet and
 * only its own fleet. */
#include "edge/ocpp/auth-cache.h"
#include "edge/ocpp/charger-model.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/ocpp-answer.h"
#include "edge/ocpp/proxy.h"
#include "edge/ocpp/replay.h"

#include <stdlib.h>
#include <string.h>

/* 1.6 transaction ids the edge hands out itself: negative, a range no CSMS assigns. */
static json_int_t provisional_tx_id(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return -(json_int_t)((ts.tv_sec % 100000) * 10000 + ts.tv_nsec / 100000 % 10000) - 1;
}

void proxy_answer_locally(struct proxy *p, struct charger *ch, const struct ocpp_frame *f)
{
	char now[40];
	const char *error = NULL;
	json_t *res;
	char *text = NULL;

	ocpp_timestamp(now, sizeof(now), 0);
	if (ch->pending && strcmp(f->action, "BootNotification") != 0) {
		error = "SecurityError";
		res = NULL;
	} else {
		struct ocpp_answer_ctx a = { .now = now, .boot_status = ch->pending ? "Pending" : "Accepted",
					     .heartbeat_s = ch->heartbeat_s, .tx_id = provisional_tx_id(),
					     .auth_status = auth_offline_status(p, ch, f->action, f->payload) };
		res = ocpp_answer(ch->version, f->action, f->payload, &a, &error);
	}
	/* Durable before the acknowledgement leaves: what the edge acknowledges for the CSMS is in
	 * the outbox first, and what the call wrote in the store's grouped commit (a connector row)
	 * is committed, for the answer is written now (ws_link_send), before the loop's commit; or
	 * the charger gets an error and sends it again. */
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
		if (store_commit(p->d->store) == 0)
			text = ocpp_result_text(f->id, res);
		else
			error = "InternalError";
		json_decref(res);
	}
	if (error) {
		text = ocpp_error_text(f->id, error, ch->pending ? "station is pending acceptance by a site manager"
						     : strcmp(error, "InternalError") == 0
							     ? "the edge cannot store this message now; send it again"
							     : "not handled by the edge while the CSMS is unreachable");
	}
	if (text)
		proxy_answer_charger(p, ch, text, strlen(text));
	free(text);
	call_clear(&ch->from_charger);
}
