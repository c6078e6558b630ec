/* One charger as the site controller sees it; see site-ev.h. */
#include "edge/site/site-ev.h"
#include "edge/core/log.h"
#include "edge/ocpp/charger-needs.h"
#include "edge/ocpp/charger.h"
#include "edge/site/profiles.h"
#include "edge/site/site-model.h"

#include <math.h>
#include <string.h>

static bool ev_present(const struct charger *ch)
{
	static const char *const busy[] = { "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Occupied", NULL };

	if (charger_active_tx(ch))
		return true;
	for (int i = 0; i < ch->n_connectors; i++)
		for (const char *const *b = busy; *b; b++)
			if (strcmp(ch->connectors[i].status, *b) == 0)
				return true;
	return false;
}

/* A charger's meter values are fresh for three of its meter intervals (at least 30 s). */
static bool reading_fresh(const struct site_ev_view *v, const struct charger *ch, uint64_t now)
{
	int interval_s = v->cfg->ocpp.meter_interval_s;

	return ch->meter.at_ms && now <= ch->meter.at_ms + 3000 * (uint64_t)(interval_s > 10 ? interval_s : 10);
}

/* The EV-limited cap and its probe (ev-cap.c, shared with the replay), from the charger's last
 * meter value and profile. */
static bool ev_limited(const struct site_ev_view *v, struct site_ev *e, const struct charger *ch,
		       const struct solver_charger *c, uint64_t now)
{
	struct ev_cap_reading r = {
		.ev = ev_present(ch),
		.usable = c->ev && ch->prof.sent_limit_a > 0 && reading_fresh(v, ch, now),
		.held = c->ev && ch->prof.sent_limit_a == 0,
		.at_ms = ch->meter.at_ms,
		.sent_a = ch->prof.sent_limit_a,
		.min_a = c->min_a,
		.max_a = ch->cfg ? ch->cfg->max_a : c->max_a,
		.raised_ms = ch->prof.raised_ms,
		.before_raise_a = ch->prof.before_raise_a,
		.renew_ms = ch->prof.profile_renew_ms,
	};

	for (int i = 0; i < c->phases; i++)
		r.draw_a = fmax(r.draw_a, ch->meter.current_a[i]);
	return ev_cap_judge(&e->cap, &r, SITE_EV_SLACK_A, v->probing, now, ch->id);
}

/* Whether the charger's per-phase currents can say on which phases its EV draws (solver.h
 * draw_fresh): a fresh reading whose total power the currents explain. A charger that reports
 * L1 alone (or no power) would otherwise hide a 3-phase car's other two phases, so it is counted
 * on all of its phases, as before. Which site phase a single-phase car loads comes from the
 * charger's configured rotation: a wrong one would put its current on a phase the site does not
 * expect, and lowering the chargers believed on an overloaded phase would not relieve it. So a
 * metered phase above its limit stops this for SITE_PHASES_DISTRUST_S (every EV counted on all
 * its charger's phases, as before), with a warning to check the rotations. And only on a
 * settled reading (EV_SETTLE_MS after the charger's last raise or cut): on `make demo` a
 * reading taken while the EVs still followed their new limits let the site run over its grid
 * phase (261-286 A of 250 A in 3 of 3 runs; none in 3 runs with the settled reading). */
#define SITE_POWER_EXPLAINED 1.25      /* reported power within this factor of V x the phases' A */
static bool draw_fresh(const struct site_ev_view *v, const struct charger *ch, const struct solver_charger *c,
		       uint64_t now)
{
	double amps = 0;

	if (!c->ev || now < v->phases_trusted_ms || !reading_fresh(v, ch, now) || !(ch->meter.power_w > 0) ||
	    ch->meter.at_ms < ch->prof.raised_ms + EV_SETTLE_MS || ch->meter.at_ms < ch->prof.lowered_ms + EV_SETTLE_MS)
		return false;
	for (int i = 0; i < c->phases; i++)
		amps += ch->meter.current_a[i];
	return ch->meter.power_w <= SITE_POWER_EXPLAINED * v->cfg->site.voltage_v * amps + 100.0;
}

/* A charger that has not taken a decrease for PROFILE_DECREASE_GRACE_MS (profiles_held_a) may still
 * draw what it accepted: the solver counts it as that fixed load, so the others make room now
 * instead of the site staying above its limit until the charger answers. Its lower target stands
 * (solve() leaves it) and goes out as soon as the charger can take it. */
static void held(const struct site_ev_view *v, const struct charger *ch, struct site_ev *e, struct solver_charger *c,
		 uint64_t now)
{
	e->held_a = c->link == SOLVER_ONLINE ? profiles_held_a(ch, now) : 0;
	if (!(e->held_a > 0)) {
		e->held_said = false;
		return;
	}
	c->link = SOLVER_UNCONTROLLED;
	c->max_a = e->held_a;
	if (e->held_said || !v->store)
		return;
	e->held_said = true;
	store_event(v->store, LL_WARN, "charger", ch->id,
		    "has not taken its lower limit of %.1f A for %d s (a call to it is unanswered, or it refused the "
		    "profile): counted at %.1f A, what it last accepted, and the other chargers lowered to make room",
		    profiles_target_a(ch), PROFILE_DECREASE_GRACE_MS / 1000, e->held_a);
}

/* What charger ch may draw now, per phase (e->ramp: ev-ramp.h), from its last meter value, the
 * limits its profiles say it may hold and the phases the solver counts its EV on. */
static void draw_range(const struct site_ev_view *v, const struct charger *ch, struct site_ev *e,
		       const struct solver_charger *c, uint64_t now)
{
	struct ev_ramp_reading r = { .report_ms = ch->meter.current_at_ms,
				     .meter_interval_s = v->cfg->ocpp.meter_interval_s };
	unsigned mask = solver_phase_mask(c);

	r.known = c->link == SOLVER_ONLINE && r.report_ms && profiles_limits_now(ch, &r.lo_a, &r.hi_a, &r.changed_ms) &&
		  r.changed_ms;
	memcpy(r.draw_a, c->draw_a, sizeof(r.draw_a));
	for (int k = 0; k < c->phases; k++)
		r.counted[k] = mask >> c->rotation[k] & 1;
	ev_ramp_update(&e->ramp, &r, now);
}

void site_ev_describe(const struct site_ev_view *v, struct charger *ch, struct site_ev *e, struct solver_charger *c,
		      uint64_t now)
{
	site_model_charger(v->nodes, v->n_nodes, ch->cfg, c);
	c->id = ch->id;
	if (ch->csms_limit_a > 0 && ch->csms_limit_a < c->max_a)
		c->max_a = ch->csms_limit_a;
	memcpy(c->draw_a, ch->meter.current_a, sizeof(c->draw_a));
	enum charger_link link = charger_link(ch, now, v->cfg->health.silent_after_s);
	c->link = link == LINK_OFFLINE ? SOLVER_OFFLINE : link == LINK_SILENT ? SOLVER_SILENT :
		  ch->prof.not_controllable ? SOLVER_UNCONTROLLED : SOLVER_ONLINE;
	held(v, ch, e, c, now);
	c->ev = link != LINK_OFFLINE && ev_present(ch);
	c->priority = site_model_class(charger_priority(ch));
	c->ev_limited = ev_limited(v, e, ch, c, now);
	c->ev_cap_a = c->ev_limited ? e->cap.cap_a : 0;
	c->ev_cap_slack_a = c->ev_limited ? e->cap.slack_a : 0;
	c->ev_probe = c->ev_limited && e->cap.probing;
	c->ev_max_shown = e->cap.max_shown;
	c->draw_fresh = draw_fresh(v, ch, c, now);
	/* draw_fresh is off while the phases are distrusted, and so are the phases seen before */
	e->phases_seen = solver_phases_learn(e->phases_seen, c);
	c->ev_phases_seen = now < v->phases_trusted_ms ? 0 : e->phases_seen;
	/* kept while the charger is offline with its EV (a reconnect is not a new EV to show its
	 * phases); nothing is learnt of phases while they are distrusted */
	e->plugged_ms = !ev_present(ch) ? 0 : e->plugged_ms ? e->plugged_ms : now;
	c->plugged_ms = (int64_t)e->plugged_ms;
	c->running = e->plugged_ms && e->plugged_ms < now && ch->limit_a > 0;
	c->reports_current = ch->meter.current_at_ms > 0 && now >= v->phases_trusted_ms;
	draw_range(v, ch, e, c, now);
	struct needs_now nn;
	needs_now(ch, &nn);
	c->departure_ms = needs_departure_mono_ms(&nn, now);
	c->energy_need_wh = nn.need_wh > 0 ? nn.need_wh : 0;
	c->energy_done_wh = nn.done_wh;
	/* The EV's own maximum (2.0.1 evMaxCurrent): what it cannot take goes to the others from its
	 * first solve, where the EV-limited cap learns it from a meter value a minute later, and a
	 * plan no longer counts on current the car cannot draw to catch up before it leaves (a
	 * generated workplace day at 0.70 of one aggregate limit, 16 A cars on 32 A chargers: the
	 * plan held them at 12 A for hours and left them 2-3 kWh short). And its minimum
	 * (evMinCurrent): it gets that or nothing, not an offer it sits idle under. */
	if (c->link == SOLVER_ONLINE && c->ev)
		site_model_ev_limits(c, nn.ev_min_a, nn.ev_max_a);
}

