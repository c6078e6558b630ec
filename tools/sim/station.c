/* A simulated station's behaviour: the connector and transaction life cycle, the EV, the
 * charging limit and its reaction delay, resets and remote starts/stops. The WebSocket side is
 * in station-link.c.
 *
 * The decision to know: every state change happens here, on the tick or in a dialect's
 * handler, and is turned into an intent; the messages themselves are built later, when the
 * one outstanding CALL slot frees up. So the dialects never race the link. */
#include "tools/sim/station.h"
#include "tools/sim/station-private.h"
#include "tools/sim/fleet.h"
#include "tools/sim/ocpp-dialect.h"
#include "tools/sim/ocpp-msg.h"
#include "edge/daemon.h"
#include "edge/core/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOOT_RETRY_DEFAULT_S 10

void station_init(struct station *st, struct fleet *f, int index, const char *id, const char *password,
		  uint64_t now)
{
	const struct fleet_opts *o = fleet_opts(f);

	memset(st, 0, sizeof(*st));
	st->fleet = f;
	st->index = index;
	snprintf(st->id, sizeof(st->id), "%s", id);
	snprintf(st->password, sizeof(st->password), "%s", password ? password : "");
	st->dialect = o->proto == PROTO_16 ? ocpp16_dialect() :
		      o->proto == PROTO_201 ? ocpp201_dialect() :
		      index % 2 ? ocpp201_dialect() : ocpp16_dialect();
	rng_seed(&st->rng, o->seed * 1000003ULL + (uint64_t)index);
	st->vars.heartbeat_s = 300;
	st->vars.meter_interval_s = o->meter_interval_s;
	snprintf(st->vars.measurands, sizeof(st->vars.measurands), "%s", SIM_MEASURANDS);
	st->vars.connection_timeout_s = 60;
	st->vars.authorize_remote = true;
	st->remote_start_id = -1;
	st->voltage_v = o->voltage_v;
	st->limit_target_a = st->limit_pending_a = st->limit_applied_a = o->station_max_a;
	st->last_step_ms = now;
	st->reconnect_at_ms = now;
	ev_init_random(&st->ev, &st->rng);
	if (rng_unit(&st->rng) < o->ev_at_start)
		station_ev_arrive(st, now);
}

void station_fini(struct station *st)
{
	link_drop_frames(st);
	free(st->rx);
	st->rx = NULL;
}

bool station_ev_arrive(struct station *st, uint64_t now)
{
	const struct fleet_opts *o = fleet_opts(st->fleet);

	if (st->ev_present)
		return false;
	ev_init_random(&st->ev, &st->rng);
	st->ev_present = true;
	st->ev_done = false;
	st->depart_at_ms = now + (uint64_t)(o->dwell_s * rng_range(&st->rng, 0.5, 1.5) * 1000.0);
	snprintf(st->id_token_type, sizeof(st->id_token_type), "ISO14443");
	snprintf(st->id_tag, sizeof(st->id_tag), "EV%08llX", (unsigned long long)(rng_next(&st->rng) & 0xffffffffULL));
	return true;
}

/* ---- the intent queue ---- */

static bool queued(const struct station *st, enum intent_kind kind)
{
	for (unsigned i = 0; i < st->q_len; i++)
		if (st->q[(st->q_head + i) % STATION_QUEUE].kind == kind)
			return true;
	return false;
}

void station_enqueue(struct station *st, enum intent_kind kind, int arg)
{
	struct intent in = { .kind = (uint8_t)kind, .arg = (uint8_t)arg, .wall_ms = wall_ms(),
			     .energy_wh = st->energy_wh };

	if ((kind == IK_HEARTBEAT || kind == IK_TX_METER || kind == IK_BOOT) && queued(st, kind))
		return;
	if (st->q_len == STATION_QUEUE) {
		log_msg(LL_DEBUG, "%s: queue full, dropping a message", st->id);
		return;
	}
	if (kind == IK_BOOT) {  /* boot goes first: nothing else may be sent before it */
		st->q_head = (st->q_head + STATION_QUEUE - 1) % STATION_QUEUE;
		st->q[st->q_head] = in;
	} else {
		st->q[(st->q_head + st->q_len) % STATION_QUEUE] = in;
	}
	st->q_len++;
}

bool station_dequeue(struct station *st, struct intent *out)
{
	if (!st->q_len || (!st->booted && st->q[st->q_head].kind != IK_BOOT))
		return false;
	*out = st->q[st->q_head];
	st->q_head = (st->q_head + 1) % STATION_QUEUE;
	st->q_len--;
	return true;
}

/* After the link dropped: forget what only made sense on that link (boot, status, heartbeat,
 * meter samples, an unfinished authorization); keep the transaction's start and stop. */
void station_link_lost(struct station *st)
{
	unsigned n = st->q_len, k = 0;
	struct intent keep[STATION_QUEUE];

	for (unsigned i = 0; i < n; i++) {
		const struct intent *in = &st->q[(st->q_head + i) % STATION_QUEUE];
		if (in->kind == IK_TX_START || in->kind == IK_TX_STOP)
			keep[k++] = *in;
	}
	memcpy(st->q, keep, k * sizeof(keep[0]));
	st->q_head = 0;
	st->q_len = k;
	if (st->tx == TX_AUTHORIZING)
		st->tx = TX_NONE;
	st->booted = false;
	st->reported_status = (enum conn_status)-1;
}

/* ---- results the dialects report ---- */

void station_boot_result(struct station *st, bool accepted, int interval_s)
{
	uint64_t now = now_ms();

	if (!accepted) {
		st->boot_retry_at_ms = now + 1000ULL * (uint64_t)(interval_s > 0 ? interval_s : BOOT_RETRY_DEFAULT_S);
		return;
	}
	if (interval_s > 0)
		st->vars.heartbeat_s = interval_s;
	st->booted = true;
	st->reset_boot = false;
	st->boots++;
	st->backoff_ms = 0;
	st->next_hb_ms = now + 1000ULL * (uint64_t)st->vars.heartbeat_s;
	st->next_meter_ms = now + 1000ULL * (uint64_t)st->vars.meter_interval_s;
	st->reported_status = (enum conn_status)-1;
	if (!st->ever_booted) {
		st->ever_booted = true;
		st->silent_at_ms = now + 1000ULL * (uint64_t)fleet_opts(st->fleet)->silent_after_s;
		st->next_junk_ms = now + (uint64_t)rng_range(&st->rng, 1000, 5000);
		fleet_note_booted(st->fleet);
	}
}

void station_authorize_result(struct station *st, bool accepted)
{
	if (st->tx != TX_AUTHORIZING)
		return;
	if (accepted) {
		st->tx = TX_STARTING;
		station_enqueue(st, IK_TX_START, 0);
	} else {
		st->tx = TX_NONE;
		st->ev_done = true;     /* the driver gives up; the EV leaves at its time */
	}
}

static void tx_begin(struct station *st)
{
	st->tx = TX_ACTIVE;
	st->tx_start_wall_ms = wall_ms();
	st->next_meter_ms = now_ms() + 1000ULL * (uint64_t)st->vars.meter_interval_s;
}

void station_tx_started16(struct station *st, bool named, int tx_id, bool accepted)
{
	st->tx_id16 = tx_id;
	st->tx_named16 = named;
	if (st->tx != TX_STARTING)
		return;         /* the EV left (or a reset came) while the start was in flight */
	if (!named) {
		st->tx = TX_NONE;
		st->ev_done = true;
		return;
	}
	tx_begin(st);
	if (!accepted)
		station_tx_stop(st, SR_DEAUTHORIZED);
}

void station_tx_started201(struct station *st)
{
	/* At most 36 characters (the 2.0.1 schema): station number, time, a random tail. */
	snprintf(st->tx_id201, sizeof(st->tx_id201), "%d-%llx-%x", st->index + 1, (unsigned long long)wall_ms(),
		 (unsigned)(rng_next(&st->rng) & 0xffff));
	st->seq_no = 0;
	if (st->tx == TX_STARTING)
		tx_begin(st);
}

void station_tx_stop(struct station *st, enum stop_reason why)
{
	if (st->tx == TX_STARTING || st->tx == TX_ACTIVE)
		station_enqueue(st, IK_TX_STOP, why);
	st->tx = TX_NONE;
	st->ev_done = true;
	st->remote_pending = false;
	profile_set_drop_tx(&st->profiles);
}

int station_remote_start(struct station *st, const char *id_tag, int remote_start_id)
{
	if (st->tx != TX_NONE || st->remote_pending || (st->ev_present && st->ev_done) || st->reboot_pending)
		return -EBUSY;
	if (!st->ev_present)
		station_ev_arrive(st, now_ms());        /* the driver plugs in after starting remotely */
	snprintf(st->id_tag, sizeof(st->id_tag), "%s", id_tag);
	st->remote_start_id = remote_start_id;
	st->remote_pending = true;
	return 0;
}

/* The running transaction's id as the CSMS names it ("" before 1.6's CSMS has named it). */
static const char *tx_id_text(const struct station *st, char *buf, size_t size)
{
	if (st->dialect != ocpp16_dialect())
		return st->tx_id201;
	if (!st->tx_named16)
		return "";
	snprintf(buf, size, "%d", st->tx_id16);
	return buf;
}

int station_remote_stop(struct station *st, const char *tx_id)
{
	char mine[24];

	if (st->tx != TX_ACTIVE || strcmp(tx_id_text(st, mine, sizeof(mine)), tx_id) != 0)
		return -ENOENT;
	station_tx_stop(st, SR_REMOTE);
	return 0;
}

bool station_reset(struct station *st, bool hard, bool on_idle)
{
	bool scheduled = on_idle && st->tx != TX_NONE;

	if (!scheduled && st->tx != TX_NONE)
		station_tx_stop(st, hard ? SR_HARD_RESET : SR_SOFT_RESET);
	st->reboot_pending = true;
	st->hard_reboot = hard;
	return scheduled;
}

int station_profile_set(struct station *st, const struct charging_profile *p)
{
	char mine[24];

	if (st->role_refuse)
		return -EPERM;
	if (p->purpose == PP_TX &&
	    (st->tx != TX_ACTIVE || (p->tx_id[0] && strcmp(p->tx_id, tx_id_text(st, mine, sizeof(mine))) != 0)))
		return -EINVAL;
	return profile_set_add(&st->profiles, p);
}

int station_profile_clear(struct station *st, int id, int connector, int purpose, int stack_level)
{
	return profile_set_clear(&st->profiles, id, connector, purpose, stack_level);
}

void station_meter(const struct station *st, struct meter_sample *m)
{
	memset(m, 0, sizeof(*m));
	m->voltage_v = st->voltage_v;
	for (int i = 0; i < 3; i++) {
		m->current_a[i] = st->current_a[i];
		m->power_w[i] = st->current_a[i] * st->voltage_v;
		m->power_total_w += m->power_w[i];
	}
	m->energy_wh = st->energy_wh;
	m->has_ev = st->ev_present;
	m->soc_pct = st->ev_present ? st->ev.soc * 100.0 : 0.0;
	m->phases = st->ev.phases;
}

/* ---- the tick ---- */

static enum conn_status status_now(const struct station *st)
{
	if (!st->ev_present)
		return CS_AVAILABLE;
	if (st->tx != TX_ACTIVE)
		return st->ev_done ? CS_FINISHING : CS_PREPARING;
	if (st->current_a[0] > 0 || st->current_a[1] > 0 || st->current_a[2] > 0)
		return CS_CHARGING;
	return st->limit_applied_a < EV_MIN_CURRENT_A ? CS_SUSPENDED_EVSE : CS_SUSPENDED_EV;
}

/* Profiles -> target limit -> applied after the reaction delay -> what the EV draws. */
static void step_power(struct station *st, uint64_t now)
{
	const struct fleet_opts *o = fleet_opts(st->fleet);
	double dt_s = (double)(now - st->last_step_ms) / 1000.0;
	char tx_buf[24];
	double target = profile_set_limit_a(&st->profiles, wall_ms(), st->tx == TX_ACTIVE ? st->tx_start_wall_ms : 0,
					    tx_id_text(st, tx_buf, sizeof(tx_buf)), st->voltage_v, st->ev.phases);
	double amps;

	st->last_step_ms = now;
	if (target < 0 || target > o->station_max_a)
		target = o->station_max_a;
	if (fabs(target - st->limit_target_a) > 1e-9) {
		st->limit_target_a = st->limit_pending_a = target;
		st->limit_apply_at_ms = now + (uint64_t)o->reaction_delay_ms;
	}
	if (st->limit_apply_at_ms && now >= st->limit_apply_at_ms) {
		st->limit_applied_a = st->limit_pending_a;
		st->limit_apply_at_ms = 0;
	}
	amps = st->tx == TX_ACTIVE && st->ev_present ? ev_current_a(&st->ev, st->limit_applied_a) : 0.0;
	st->energy_wh += ev_charge(&st->ev, amps, st->voltage_v, dt_s);
	st->current_a[0] = amps;
	st->current_a[1] = st->current_a[2] = st->ev.phases == 3 ? amps : 0.0;
	st->voltage_v = o->voltage_v * rng_range(&st->rng, 0.995, 1.005);
}

static void step_session(struct station *st, uint64_t now)
{
	if (st->ev_present && now >= st->depart_at_ms) {
		station_tx_stop(st, SR_EV_DISCONNECTED);
		st->ev_present = false;
		st->ev_done = false;
		st->remote_start_id = -1;
	}
	if (st->ev_present && !st->ev_done && st->tx == TX_NONE && st->booted && !st->reboot_pending &&
	    !st->silenced) {
		if (st->remote_pending && !st->vars.authorize_remote) {
			st->tx = TX_STARTING;
			station_enqueue(st, IK_TX_START, 0);
		} else {
			st->tx = TX_AUTHORIZING;
			station_enqueue(st, IK_AUTHORIZE, 0);
		}
		st->remote_pending = false;
	}
}

static void step_schedules(struct station *st, uint64_t now)
{
	enum conn_status s = status_now(st);

	if (st->boot_retry_at_ms && now >= st->boot_retry_at_ms) {
		st->boot_retry_at_ms = 0;
		station_enqueue(st, IK_BOOT, 0);
	}
	if (!st->booted)
		return;
	if (s != st->reported_status) {
		enum conn_status old = st->reported_status;
		st->reported_status = s;
		st->dialect->on_status(st, old);
	}
	if (now >= st->next_hb_ms) {
		station_enqueue(st, IK_HEARTBEAT, 0);
		st->next_hb_ms = now + 1000ULL * (uint64_t)st->vars.heartbeat_s;
	}
	if (st->vars.meter_interval_s > 0 && now >= st->next_meter_ms) {
		if (st->tx == TX_ACTIVE)
			station_enqueue(st, IK_TX_METER, 0);
		st->next_meter_ms = now + 1000ULL * (uint64_t)st->vars.meter_interval_s;
	}
	if (st->role_silent && !st->silenced && now >= st->silent_at_ms) {
		st->silenced = true;
		log_msg(LL_INFO, "%s: going silent (socket stays open)", st->id);
	}
	if (st->reboot_pending && st->tx == TX_NONE && !st->busy && !st->q_len && !st->out_head) {
		st->reboot_pending = false;
		st->reset_boot = true;
		st->want_close = true;
	}
}

void station_tick(struct station *st, uint64_t now, struct lws_context *ctx, struct lws_vhost *vh)
{
	step_power(st, now);
	step_session(st, now);
	if (st->link == LINK_DOWN && now >= st->reconnect_at_ms) {
		station_connect(st, ctx, vh);
		return;
	}
	link_check_connect(st, now);
	if (st->link != LINK_OPEN)
		return;
	step_schedules(st, now);
	link_check_timeout(st, now);
	if (!st->silenced && link_has_work(st, now))
		lws_callback_on_writable(st->wsi);
}

void station_vars_changed(struct station *st)
{
	uint64_t now = now_ms();

	st->next_hb_ms = now + 1000ULL * (uint64_t)st->vars.heartbeat_s;
	st->next_meter_ms = now + 1000ULL * (uint64_t)st->vars.meter_interval_s;
}
