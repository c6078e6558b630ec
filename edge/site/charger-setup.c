/* Charger setup after boot; see charger-setup.h. Chargers differ in which measurands they take:
 * SoC is the one most often refused (AC chargers cannot know it), so a refusal of the list with
 * SoC is retried once without it before the edge gives up.
 *
 * The progress on each connection is this module's own: a slot per charger at the charger's index
 * (as the site keeps its EV records), filled when the edge first asks, emptied when the socket
 * closes, shifted when the charger is removed. An edge call's result gets only the charger, so it
 * finds the table through the daemon (d->setup). */
#include "edge/site/charger-setup.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum setup_state { SETUP_NONE, SETUP_ASKED, SETUP_RETRY, SETUP_DONE };

/* What was asked of one charger on its present connection; `ch` NULL: nothing yet. */
struct setup_slot {
	struct charger *ch;
	enum setup_state state;
};

struct charger_setup {
	struct setup_slot *slot;        /* at the charger's index in the proxy's array */
	size_t n;
};

static struct charger_setup *setup_of(const struct charger *ch)
{
	return ch->proxy && ch->proxy->d ? ch->proxy->d->setup : NULL;
}

/* The charger's slot, or NULL when nothing was asked on this connection. */
static struct setup_slot *slot_find(struct charger_setup *cs, const struct charger *ch)
{
	if (!cs || ch->index >= cs->n || cs->slot[ch->index].ch != ch)
		return NULL;
	return &cs->slot[ch->index];
}

static enum setup_state state_of(struct charger_setup *cs, const struct charger *ch)
{
	struct setup_slot *s = slot_find(cs, ch);

	return s ? s->state : SETUP_NONE;
}

/* The charger's slot, made for it (NULL on ENOMEM). */
static struct setup_slot *slot_take(struct charger_setup *cs, struct charger *ch)
{
	if (ch->index >= cs->n) {
		size_t n = ch->index + 16;
		struct setup_slot *grown = realloc(cs->slot, n * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(grown + cs->n, 0, (n - cs->n) * sizeof(*grown));
		cs->slot = grown;
		cs->n = n;
	}
	struct setup_slot *s = &cs->slot[ch->index];
	if (s->ch != ch)
		*s = (struct setup_slot){ .ch = ch, .state = SETUP_NONE };
	return s;
}

static json_t *setting16(const char *key, const char *value)
{
	return json_pack("{s:s, s:s}", "key", key, "value", value);
}

static json_t *setting201(const char *variable, const char *value)
{
	return json_pack("{s:s, s:{s:s}, s:{s:s}}", "attributeValue", value, "component", "name", "SampledDataCtrlr",
			 "variable", "name", variable);
}

/* Accepted (or RebootRequired: taken, applies later) for 1.6; every setVariableResult accepted
 * for 2.0.1. */
static bool taken(const struct charger *ch, const json_t *result)
{
	if (!result)
		return false;
	if (ch->version == OCPP16) {
		const char *st = json_string_value(json_object_get(result, "status"));
		return st && (!strcmp(st, "Accepted") || !strcmp(st, "RebootRequired"));
	}
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(result, "setVariableResult"), i, r) {
		const char *st = json_string_value(json_object_get(r, "attributeStatus"));
		if (!st || (strcmp(st, "Accepted") && strcmp(st, "RebootRequired")))
			return false;
	}
	return true;
}

/* Does the request set the measurands (as opposed to the interval only)? */
static bool sets_measurands(const struct charger *ch, const json_t *request)
{
	if (ch->version == OCPP16)
		return !strcmp(json_string_value(json_object_get(request, "key")) ?: "", "MeterValuesSampledData");
	return strstr(json_string_value(json_object_get(json_array_get(json_object_get(request, "setVariableData"), 0),
							"attributeValue")) ?: "", "Current.Import") != NULL;
}

static void on_result(struct charger *ch, const char *action, const json_t *request, const json_t *result,
		      const char *error)
{
	struct setup_slot *s = slot_find(setup_of(ch), ch);

	if (taken(ch, result))
		return;
	if (sets_measurands(ch, request) && s && s->state == SETUP_ASKED) {
		s->state = SETUP_RETRY; /* the next tick asks again without SoC */
		return;
	}
	log_msg(LL_NOTICE, "charger %s: refused %s for its meter values (%s); the solver works with what it reports",
		ch->id, action, result ? "Rejected" : error);
}

static void ask(struct proxy *p, struct charger *ch, const char *measurands, const char *interval)
{
	if (ch->version == OCPP16) {
		if (measurands)
			proxy_edge_call(p, ch, "ChangeConfiguration", setting16("MeterValuesSampledData", measurands), on_result);
		if (interval)
			proxy_edge_call(p, ch, "ChangeConfiguration", setting16("MeterValueSampleInterval", interval), on_result);
		return;
	}
	json_t *data = json_array();
	if (measurands)
		json_array_append_new(data, setting201("TxUpdatedMeasurands", measurands));
	if (interval)
		json_array_append_new(data, setting201("TxUpdatedInterval", interval));
	proxy_edge_call(p, ch, "SetVariables", json_pack("{s:o}", "setVariableData", data), on_result);
}

static void setup_tick(struct charger_setup *cs, struct proxy *p, struct charger *ch)
{
	int interval_s = p->d->cfg->ocpp.meter_interval_s;
	enum setup_state state = state_of(cs, ch);
	struct setup_slot *s;
	char interval[16];

	if (!charger_ready(ch, now_ms()) || interval_s == 0 || (state != SETUP_NONE && state != SETUP_RETRY))
		return;
	if (!(s = slot_take(cs, ch)))
		return; /* no memory: asked at a later tick */
	snprintf(interval, sizeof(interval), "%d", interval_s);
	if (state == SETUP_NONE) {
		s->state = SETUP_ASKED;
		ask(p, ch, SETUP_MEASURANDS, interval);
	} else {
		s->state = SETUP_DONE;
		ask(p, ch, SETUP_MEASURANDS_NO_SOC, NULL);
	}
}

static void setup_on_proxy(void *arg, struct proxy *p, struct charger *ch, enum proxy_event ev, uint64_t now)
{
	struct charger_setup *cs = arg;
	struct setup_slot *s;

	(void)now;
	switch (ev) {
	case PROXY_TICK:
		setup_tick(cs, p, ch);
		break;
	case PROXY_CLOSED: /* asked once per connection */
		if ((s = slot_find(cs, ch)))
			*s = (struct setup_slot){ 0 };
		break;
	case PROXY_REMOVED: /* the proxy closed the gap the charger left: so do the slots */
		if (ch->index < cs->n) {
			memmove(&cs->slot[ch->index], &cs->slot[ch->index + 1],
				(cs->n - ch->index - 1) * sizeof(*cs->slot));
			cs->slot[cs->n - 1] = (struct setup_slot){ 0 };
		}
		break;
	default:
		break;
	}
}

int charger_setup_start(struct ag_daemon *d)
{
	struct charger_setup *cs;

	if (!d->proxy)
		return 0;
	if (!(cs = calloc(1, sizeof(*cs))))
		return -ENOMEM;
	d->setup = cs;
	return proxy_subscribe(d->proxy, setup_on_proxy, cs);
}

void charger_setup_stop(struct ag_daemon *d)
{
	struct charger_setup *cs = d->setup;

	if (!cs)
		return;
	if (d->proxy)
		proxy_unsubscribe(d->proxy, setup_on_proxy, cs);
	d->setup = NULL;
	free(cs->slot);
	free(cs);
}
