/* One simulated charging station: its WebSocket link, the OCPP conversation (at most one
 * CALL of its own outstanding, CSMS calls answered at once), the connector, its transaction
 * and the EV plugged into it. The version-specific messages live in the dialects
 * (ocpp16.c, ocpp201.c); this module holds what both versions share. */
#ifndef AG_SIM_STATION_H
#define AG_SIM_STATION_H

#include "tools/sim/ev.h"
#include "tools/sim/ocpp-msg.h"
#include "tools/sim/profile.h"
#include "tools/sim/rng.h"
#include "tools/sim/vars.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

struct fleet;
struct ocpp_dialect;

/* Something the station has to tell the CSMS; the payload is built when it is sent, from the
 * state then, except what the intent captured when it happened. */
enum intent_kind {
	IK_BOOT, IK_STATUS, IK_HEARTBEAT, IK_AUTHORIZE, IK_TX_START, IK_TX_METER, IK_TX_STOP,
	IK_TX_STATE, IK_METER,
};

enum stop_reason { SR_EV_DISCONNECTED, SR_REMOTE, SR_SOFT_RESET, SR_HARD_RESET, SR_DEAUTHORIZED };

struct intent {
	uint8_t kind;           /* enum intent_kind */
	uint8_t arg;            /* IK_STATUS: connector; IK_TX_STOP: enum stop_reason */
	int64_t wall_ms;        /* when it happened */
	double energy_wh;       /* meter register then */
};

/* Connector status in 1.6 terms; 2.0.1 folds it into Available/Occupied + chargingState. */
enum conn_status {
	CS_AVAILABLE, CS_PREPARING, CS_CHARGING, CS_SUSPENDED_EV, CS_SUSPENDED_EVSE, CS_FINISHING,
};

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_OPEN };
enum tx_state { TX_NONE, TX_AUTHORIZING, TX_STARTING, TX_ACTIVE };

#define STATION_QUEUE 32

struct out_frame {
	struct out_frame *next;
	size_t len;
	unsigned char buf[];    /* LWS_PRE + len */
};

struct station {
	struct fleet *fleet;
	int index;              /* 0-based */
	char id[48];
	char password[96];
	const struct ocpp_dialect *dialect;
	struct rng rng;
	bool role_silent, role_refuse, role_malformed;

	/* link */
	struct lws *wsi;
	enum link_state link;
	bool booted, ever_booted, silenced, want_close, reboot_pending, hard_reboot, reset_boot;
	unsigned boots, reconnects;
	int backoff_ms;
	uint64_t reconnect_at_ms, connect_deadline_ms, boot_retry_at_ms, silent_at_ms, next_junk_ms;
	char *rx;
	size_t rx_len, rx_cap;
	struct out_frame *out_head, *out_tail;  /* CALLRESULT/CALLERROR frames, sent first */

	/* own calls: a FIFO of intents and the one outstanding */
	struct intent q[STATION_QUEUE];
	unsigned q_head, q_len;
	bool busy;
	struct intent pending;
	const char *pending_action;
	char pending_id[16];
	char pending_tx_key[128];       /* ocpp_tx_key of the call in flight; "" for other calls */
	uint64_t pending_sent_us, pending_deadline_ms;
	unsigned next_msg_id;

	/* settings and schedules */
	struct station_vars vars;
	uint64_t next_hb_ms, next_meter_ms;

	/* connector, transaction, EV */
	enum conn_status status, reported_status;
	bool ev_present, ev_done;       /* ev_done: this plug-in session is over, waiting to leave */
	struct ev ev;
	uint64_t depart_at_ms;
	enum tx_state tx;
	int tx_id16;                    /* 1.6 id from the CSMS (any integer, negative too: an edge's
	                                 * provisional id is as valid as any); meaningful when tx_named16 */
	bool tx_named16;
	char tx_id201[40];
	int seq_no;
	int remote_start_id;            /* -1: not remotely started */
	bool remote_pending;            /* a remote start is waiting for the plug */
	char id_tag[21];
	char id_token_type[24];         /* 2.0.1 idToken.type */
	int64_t tx_start_wall_ms;
	double energy_wh;               /* meter register */
	double voltage_v;

	/* charging limit: profiles -> target -> (reaction delay) -> applied */
	struct profile_set profiles;
	double limit_target_a, limit_pending_a, limit_applied_a;
	uint64_t limit_apply_at_ms;
	double current_a[3];            /* what the station draws now, per phase of its own meter */
	uint64_t last_step_ms;
};

/* Set up station `index` (protocol, EV) from the fleet options; `password` may be "". */
void station_init(struct station *st, struct fleet *f, int index, const char *id, const char *password,
		  uint64_t now);
void station_fini(struct station *st);
/* Start connecting now. */
void station_connect(struct station *st, struct lws_context *ctx, struct lws_vhost *vh);
/* Advance timers, the EV and the link; call every tick. */
void station_tick(struct station *st, uint64_t now, struct lws_context *ctx, struct lws_vhost *vh);
/* An EV arrives (false if one is already here). */
bool station_ev_arrive(struct station *st, uint64_t now);
/* Close the link for good (shutdown). */
void station_close(struct station *st);

/* The libwebsockets protocol table the fleet's vhost uses. */
const struct lws_protocols *station_lws_protocols(void);

/* ---- for the dialects ---- */
void station_enqueue(struct station *st, enum intent_kind kind, int arg);
void station_boot_result(struct station *st, bool accepted, int interval_s);
void station_authorize_result(struct station *st, bool accepted);
/* 1.6 StartTransaction.conf: the CSMS's id (or -1 when the call failed). */
/* StartTransaction.conf: `named` when it carried an integer transactionId (whatever its sign);
 * only `accepted` (idTagInfo.status) says whether the start was refused. */
void station_tx_started16(struct station *st, bool named, int tx_id, bool accepted);
/* 2.0.1: the Started event is on its way; a fresh transaction id is taken. */
void station_tx_started201(struct station *st);
/* Remote start: 0 (Accepted) or -EBUSY. */
int station_remote_start(struct station *st, const char *id_tag, int remote_start_id);
/* Remote stop of the transaction named: 0 or -ENOENT. */
int station_remote_stop(struct station *st, const char *tx_id);
/* Reset: stop a transaction first, then close, reconnect and boot. Returns true when it must
 * wait for the transaction to end (2.0.1 OnIdle: "Scheduled"). */
bool station_reset(struct station *st, bool hard, bool on_idle);
/* A setting changed (Change/SetVariables): reschedule heartbeat and meter values. */
void station_vars_changed(struct station *st);
/* End the transaction (if any) for `why`, queueing its stop. */
void station_tx_stop(struct station *st, enum stop_reason why);
/* Install a profile: 0, -EPERM (this station refuses), -EINVAL, -ENOSPC. */
int station_profile_set(struct station *st, const struct charging_profile *p);
int station_profile_clear(struct station *st, int id, int connector, int purpose, int stack_level);

/* A meter reading of the station now. */
void station_meter(const struct station *st, struct meter_sample *m);

#endif
