/* Edge charging profiles; see profiles.h. Decreases go out at once; increases wait for the
 * deadband and the next tick; a charger that refuses three times in a row is "not controllable" and the
 * solver must assume it draws its maximum. */
#include "edge/site/profiles.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"

#include <errno.h>
#include <math.h>
#include <string.h>

double profiles_fallback_a(const struct proxy *p, const struct charger *ch)
{
	return charger_fallback_a(ch, p->d->cfg);
}

double profiles_target_a(const struct charger *ch)
{
	double t = ch->limit_a;

	if (ch->csms_limit_a > 0 && ch->csms_limit_a < t)
		t = ch->csms_limit_a;
	/* OCPP 1.6 schemas want multiples of 0.1 A: round down, never up. */
	return floor(t * 10.0 + 1e-9) / 10.0;
}

/* A limit as jansson writes a real (10 significant digits, never without a decimal point), so
 * the template's frames read as the documents did. Never rounded up past the 10th digit. */
static void limit_text(double a, char *out, size_t size)
{
	snprintf(out, size, "%.10g", a);
	if (!strpbrk(out, ".eE"))
		snprintf(out + strlen(out), size - strlen(out), ".0");
}

/* The payloads, filled in with: profile id, stack level, start, limit, ",validTo" or "". */
#define PROFILE_TEMPLATE_16                                                                                            \
	"{\"connectorId\":0,\"csChargingProfiles\":{\"chargingProfileId\":%d,\"stackLevel\":%d,"                       \
	"\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"chargingProfileKind\":\"Absolute\","                   \
	"\"chargingSchedule\":{\"startSchedule\":\"%s\",\"chargingRateUnit\":\"A\","                                   \
	"\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":%s}]}%s}}"
#define PROFILE_TEMPLATE_201                                                                                           \
	"{\"evseId\":0,\"chargingProfile\":{\"id\":%d,\"stackLevel\":%d,"                                              \
	"\"chargingProfilePurpose\":\"ChargingStationMaxProfile\",\"chargingProfileKind\":\"Absolute\","               \
	"\"chargingSchedule\":[{\"id\":1,\"startSchedule\":\"%s\",\"chargingRateUnit\":\"A\","                         \
	"\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":%s}]}]%s}}"

int profiles_payload_text(const struct charger *ch, int profile_id, int stack_level, double limit_a,
			  long long valid_for_s, char *out, size_t size)
{
	char start[40], until[64] = "", limit[32];
	int n;

	ocpp_timestamp(start, sizeof(start), -1);
	if (valid_for_s > 0) {
		char t[40];
		ocpp_timestamp(t, sizeof(t), valid_for_s);
		snprintf(until, sizeof(until), ",\"validTo\":\"%s\"", t);
	}
	limit_text(limit_a, limit, sizeof(limit));
	n = snprintf(out, size, ch->version == OCPP16 ? PROFILE_TEMPLATE_16 : PROFILE_TEMPLATE_201, profile_id, stack_level,
		     start, limit, until);
	return n > 0 && (size_t)n < size ? n : -1;
}

/* One above every stack level the CSMS has used (docs/ARCHITECTURE.md, "OCPP rules"): a CSMS
 * profile at the edge's own level and purpose would replace the edge's. */
static int dynamic_stack(const struct charger *ch)
{
	return ch->csms_max_stack + 1 > PROFILE_STACK_BASE + 1 ? ch->csms_max_stack + 1 : PROFILE_STACK_BASE + 1;
}

static bool accepted(const json_t *result)
{
	const char *status = json_string_value(json_object_get(result, "status"));
	return status && strcmp(status, "Accepted") == 0;
}

static void on_profile_result(struct charger *ch, const char *action, const json_t *request, const json_t *result,
			      const char *error)
{
	struct proxy *p = ch->proxy;
	int id = ch->prof.in_flight_id;
	(void)action;
	(void)request; /* sent from text: what it carried is in ch->prof */

	ch->prof.profile_in_flight = false;
	if (accepted(result)) {
		if (ch->prof.not_controllable)
			store_event(p->d->store, LL_NOTICE, "charger", ch->id, "accepts charging profiles again");
		ch->prof.profile_failures = 0;
		ch->prof.not_controllable = false;
		if (id == PROFILE_ID_BASE) {
			ch->prof.base_installed = true;
			ch->prof.sent_changed_ms = now_ms();
		} else {
			if (fabs(ch->prof.pending_limit_a - ch->prof.sent_limit_a) >= 0.05)
				ch->prof.sent_changed_ms = now_ms();
			ch->prof.sent_limit_a = ch->prof.pending_limit_a;
			ch->prof.sent_stack = ch->prof.pending_stack;
		}
		if (profiles_target_a(ch) < ch->prof.sent_limit_a || ch->prof.sent_stack != dynamic_stack(ch))
			profiles_tick(p, ch, now_ms()); /* a decrease or a CSMS profile came meanwhile */
		return;
	}
	ch->prof.profile_failures++;
	ch->prof.profile_renew_ms = now_ms() + 30000;
	if (ch->prof.profile_failures >= 3 && !ch->prof.not_controllable) {
		const char *why = result ? json_string_value(json_object_get(result, "status")) : error;
		ch->prof.not_controllable = true;
		store_event(p->d->store, LL_WARN, "charger", ch->id,
			    "refuses charging profiles (%s); treated as drawing its maximum %.1f A until it accepts",
			    why && why[0] ? why : "answer without a status", ch->cfg ? ch->cfg->max_a : 0.0);
	}
	if (id == PROFILE_ID_BASE)
		ch->prof.base_installed = ch->prof.profile_failures >= 3; /* do not block the dynamic profile forever */
}

/* One SetChargingProfile, written from the template: a decrease sends one to every charger in
 * the same turn of the loop (1,000 at an overload), where building and dumping a document each
 * took ~9 us. 0 or -errno. */
static int send_profile(struct proxy *p, struct charger *ch, int profile_id, int stack_level, double limit_a,
			long long valid_for_s)
{
	char payload[640];

	if (profiles_payload_text(ch, profile_id, stack_level, limit_a, valid_for_s, payload, sizeof(payload)) < 0)
		return -EOVERFLOW;
	int rc = proxy_edge_call_text(p, ch, "SetChargingProfile", payload, on_profile_result);
	if (rc == 0)
		ch->prof.in_flight_id = profile_id;
	return rc;
}

/* Whether a limit moved enough from `from` to be sent: by the dead band, or down to 0. */
static bool worth_sending(double target, double from)
{
	return fabs(target - from) >= PROFILE_DEADBAND_A || (target < from && target == 0);
}

/* The limit the charger may draw up to while a lower target waits (what it accepted, a raise in
 * flight it may apply first, or the CSMS's own lower limit); 0 when no decrease waits. Changes
 * within the dead band are never sent, so they do not wait. */
static double waiting_decrease_from(const struct charger *ch)
{
	double from = ch->prof.sent_limit_a, target = profiles_target_a(ch);

	if (from < 0)
		return 0;
	if (ch->prof.profile_in_flight && ch->prof.in_flight_id == PROFILE_ID_DYNAMIC && ch->prof.pending_limit_a > from)
		from = ch->prof.pending_limit_a;
	if (ch->csms_limit_a > 0 && ch->csms_limit_a < from)
		from = ch->csms_limit_a;
	return target < from && worth_sending(target, from) ? from : 0;
}

double profiles_held_a(const struct charger *ch, uint64_t now)
{
	double from = waiting_decrease_from(ch);

	return from > 0 && ch->prof.decrease_since_ms && now >= ch->prof.decrease_since_ms + PROFILE_DECREASE_GRACE_MS
		       ? from : 0;
}

bool profiles_limits_now(const struct charger *ch, double *lo_a, double *hi_a, uint64_t *changed_ms)
{
	double held = ch->prof.sent_limit_a >= 0 ? ch->prof.sent_limit_a
		      : ch->prof.base_installed ? profiles_fallback_a(ch->proxy, ch) : -1;
	bool flying = ch->prof.profile_in_flight;
	double flies = !flying ? -1 : ch->prof.in_flight_id == PROFILE_ID_DYNAMIC ? ch->prof.pending_limit_a
			   : profiles_fallback_a(ch->proxy, ch);

	if (ch->prof.not_controllable || (held < 0 && flies < 0))
		return false;
	*lo_a = held < 0 ? flies : flies < 0 ? held : fmin(held, flies);
	*hi_a = fmax(held, flies);
	*changed_ms = ch->prof.sent_changed_ms;
	if (flies >= 0 && fabs(flies - held) >= 0.05) {     /* a change on its way: since it went out */
		uint64_t sent_ms = ch->prof.raised_ms > ch->prof.lowered_ms ? ch->prof.raised_ms : ch->prof.lowered_ms;
		*changed_ms = sent_ms > *changed_ms ? sent_ms : *changed_ms;
	}
	return true;
}

void profiles_set_limit(struct proxy *p, struct charger *ch, double limit_a, const char *binding)
{
	ch->limit_a = limit_a;
	snprintf(ch->binding, sizeof(ch->binding), "%s", binding);
	if (!waiting_decrease_from(ch))
		ch->prof.decrease_since_ms = 0;
	else if (!ch->prof.decrease_since_ms)
		ch->prof.decrease_since_ms = now_ms();
	if (profiles_target_a(ch) < ch->prof.sent_limit_a) {
		/* Decreases go out now, not at the next tick: an overload is answered on the wire
		 * within the same turn of the loop as the meter reading that showed it. */
		ch->prof.profile_renew_ms = 0;
		profiles_tick(p, ch, now_ms());
	}
}

/* An increase goes out. One that takes back a decrease of the previous increase within a renewal
 * period means the limit goes up and down: the next increase waits twice as long (a charger that
 * flaps writes its flash to death); a quiet renewal period brings the wait back to the shortest. */
static void note_raise(struct charger *ch, uint64_t now)
{
	uint64_t hold_ms = ch->prof.raise_hold_ms ? ch->prof.raise_hold_ms : PROFILE_RAISE_MIN_MS;

	if (ch->prof.raised_ms && now < ch->prof.raised_ms + PROFILE_RENEW_S * 1000 && ch->prof.lowered_ms > ch->prof.raised_ms)
		hold_ms = hold_ms * 2 < PROFILE_RENEW_S * 1000 ? hold_ms * 2 : PROFILE_RENEW_S * 1000;
	else if (!ch->prof.raised_ms || now >= ch->prof.raised_ms + PROFILE_RENEW_S * 1000)
		hold_ms = PROFILE_RAISE_MIN_MS;
	ch->prof.raise_hold_ms = hold_ms;
	ch->prof.raised_ms = now;
	ch->prof.before_raise_a = ch->prof.sent_limit_a;
}

/* A dynamic profile of `target` A went out (the charger still holds the one before): an increase
 * (note_raise) or a decrease is noted. The first after a (re)connect raises the EV from the base
 * profile's `fallback_a`: its ramp is a raise's (ev-cap.c and draw_fresh wait EV_SETTLE_MS for a
 * settled reading), with no raise hold to learn; unnoted, a reading 2 s after a first 32 A showed
 * the EV's 10 A ramp and capped the car at 12 A. */
static void note_sent(struct charger *ch, double target, double fallback_a, uint64_t now)
{
	bool installed = ch->prof.sent_limit_a >= 0;
	double held_a = installed ? ch->prof.sent_limit_a : fallback_a;

	if (installed && target > held_a + 0.05) {
		note_raise(ch, now);
	} else if (target > held_a + 0.05) {
		ch->prof.raised_ms = now;
		ch->prof.before_raise_a = held_a;
	} else if (installed && target < held_a - 0.05) {
		ch->prof.lowered_ms = now;
	}
}

void profiles_tick(struct proxy *p, struct charger *ch, uint64_t now)
{
	if (!charger_ready(ch, now) || ch->prof.profile_in_flight)
		return;
	if (!ch->prof.base_installed) {
		if (send_profile(p, ch, PROFILE_ID_BASE, PROFILE_STACK_BASE, profiles_fallback_a(p, ch), 0) == 0)
			ch->prof.profile_in_flight = true;
		return;
	}
	double target = profiles_target_a(ch);
	int stack = dynamic_stack(ch);
	bool installed = ch->prof.sent_limit_a >= 0;
	bool changed = !installed || worth_sending(target, ch->prof.sent_limit_a);
	bool raise = installed && target > ch->prof.sent_limit_a;
	bool restack = installed && stack != ch->prof.sent_stack;
	bool due = now >= ch->prof.profile_renew_ms;

	uint64_t hold_ms = ch->prof.raise_hold_ms ? ch->prof.raise_hold_ms : PROFILE_RAISE_MIN_MS;
	if (changed && raise && now < ch->prof.raised_ms + hold_ms)
		changed = false; /* an increase waits: a charger writes every profile to flash */
	if (!due && (ch->prof.profile_failures || (!changed && !restack)))
		return;
	if (send_profile(p, ch, PROFILE_ID_DYNAMIC, stack, target, PROFILE_VALIDITY_S) == 0) {
		ch->prof.profile_in_flight = true;
		ch->prof.pending_limit_a = target;
		ch->prof.pending_stack = stack;
		ch->prof.profile_renew_ms = now + PROFILE_RENEW_S * 1000;
		note_sent(ch, target, profiles_fallback_a(p, ch), now);
	}
}

/* The edge's profiles on a charger are gone, or may be: installed again from the start. */
static void forget_installed(struct charger *ch)
{
	ch->prof.base_installed = false;
	ch->prof.sent_limit_a = -1;
	ch->prof.decrease_since_ms = 0;
}

static void profiles_on_proxy(void *arg, struct proxy *p, struct charger *ch, enum proxy_event ev, uint64_t now)
{
	(void)arg;
	switch (ev) {
	case PROXY_TICK:
		profiles_tick(p, ch, now);
		break;
	case PROXY_CLOSED: /* a new connection may be a rebooted charger: nothing of ours is known on it */
		forget_installed(ch);
		ch->prof.profile_in_flight = false;
		ch->prof.profile_failures = 0;
		break;
	case PROXY_LIMITS_CLEARED:
		forget_installed(ch);
		ch->prof.profile_renew_ms = 0;
		break;
	default:
		break;
	}
}

int profiles_start(struct ag_daemon *d)
{
	return d->proxy ? proxy_subscribe(d->proxy, profiles_on_proxy, NULL) : 0;
}

void profiles_stop(struct ag_daemon *d)
{
	if (d->proxy)
		proxy_unsubscribe(d->proxy, profiles_on_proxy, NULL);
}
