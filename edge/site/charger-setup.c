/* Charger setup after boot; see charger-setup.h. Chargers differ in which measurands they take:
 * SoC is the one most often refused (AC chargers cannot know it), so a refusal of the list with
 * SoC is retried once without it before the edge gives up. */
#include "edge/site/charger-setup.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"

#include <stdio.h>
#include <string.h>

enum { SETUP_NONE, SETUP_ASKED, SETUP_RETRY, SETUP_DONE };

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
	if (taken(ch, result))
		return;
	if (sets_measurands(ch, request) && ch->setup_state == SETUP_ASKED) {
		ch->setup_state = SETUP_RETRY; /* the next tick asks again without SoC */
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

void charger_setup_tick(struct proxy *p, struct charger *ch)
{
	int interval_s = p->d->cfg->ocpp.meter_interval_s;
	char interval[16];

	if (!charger_ready(ch, now_ms()) || interval_s == 0)
		return;
	snprintf(interval, sizeof(interval), "%d", interval_s);
	if (ch->setup_state == SETUP_NONE) {
		ch->setup_state = SETUP_ASKED;
		ask(p, ch, SETUP_MEASURANDS, interval);
	} else if (ch->setup_state == SETUP_RETRY) {
		ch->setup_state = SETUP_DONE;
		ask(p, ch, SETUP_MEASURANDS_NO_SOC, NULL);
	}
}

static void setup_on_proxy(void *arg, struct proxy *p, struct charger *ch, enum proxy_event ev, uint64_t now)
{
	(void)arg;
	(void)now;
	if (ev == PROXY_TICK)
		charger_setup_tick(p, ch);
	else if (ev == PROXY_CLOSED)
		ch->setup_state = SETUP_NONE; /* asked once per connection */
}

int charger_setup_start(struct ag_daemon *d)
{
	return d->proxy ? proxy_subscribe(d->proxy, setup_on_proxy, NULL) : 0;
}

void charger_setup_stop(struct ag_daemon *d)
{
	if (d->proxy)
		proxy_unsubscribe(d->proxy, setup_on_proxy, NULL);
}
