/* Commands in over MQTT: a temporary site limit, a charger's priority and the departure and
 * energy need of its session. Each is validated in
 * full before anything changes, applied through the site module (which audits it), and answered
 * on "<command topic>/result" with {"ok":true} or {"ok":false,"error":"..."}; a refusal is
 * audited here. An optional "id" in the command comes back in the answer, to pair them.
 *
 * Design decision: answers go to a fixed "/result" topic beside the command, not to an MQTT 5
 * response topic. libmosquitto 2.0 (Debian 12) could do either, but Home Assistant, Node-RED and
 * most EMS gateways publish MQTT 3.1.1, which has no response topic; and a topic the requester
 * picks would need an ACL letting the daemon write anywhere. A fixed topic is one ACL line.
 *
 * Who may command is the broker's business (its ACL): MQTT tells us nothing trustworthy about
 * the sender, so the audit names the channel ("mqtt"). */
#include "edge/mqtt/mqtt-private.h"
#include "edge/ocpp/charger-needs.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/site/site.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CMD_MAX_BYTES 4096

void mqtt_cmd_subscribe(struct mqtt *m)
{
	static const char *const subs[] = { "cmd/limit", "cmd/charger/+/priority", "cmd/charger/+/needs" };
	char topic[700];

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(topic, sizeof(topic), "%s/%s", m->base, subs[i]);
		int rc = mosquitto_subscribe(m->mosq, NULL, topic, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			log_msg(LL_WARN, "mqtt: cannot subscribe to %s: %s", topic, mosquitto_strerror(rc));
	}
}

/* Only the keys a command knows; the first stranger is named in `err`. */
static bool known_keys(json_t *o, const char *const *keys, char *err, size_t size)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		const char *const *p = keys;
		while (*p && strcmp(*p, k) != 0)
			p++;
		if (!*p) {
			snprintf(err, size, "unknown key \"%s\"", k);
			return false;
		}
	}
	return true;
}

/* {"limit_a": A, "duration_s": S} or {"clear": true}. 0, or -1 with `err` in words. */
static int cmd_limit(struct mqtt *m, json_t *o, char *err, size_t size)
{
	static const char *const keys[] = { "limit_a", "duration_s", "clear", "id", NULL };
	json_t *lim = json_object_get(o, "limit_a"), *dur = json_object_get(o, "duration_s");
	int rc;

	if (!known_keys(o, keys, err, size))
		return -1;
	if (json_is_true(json_object_get(o, "clear")) && !lim && !dur) {
		rc = site_override_limit(m->d, 0, 0, "mqtt");
	} else {
		if (!json_is_number(lim) || !(json_number_value(lim) > 0)) {
			snprintf(err, size, "limit_a must be a number of amps per phase above 0 (or send {\"clear\": true})");
			return -1;
		}
		if (config_override_check(m->d->cfg, json_number_value(lim), err, size) < 0)
			return -1;
		if (!json_is_integer(dur) || json_integer_value(dur) < 1 || json_integer_value(dur) > 86400) {
			snprintf(err, size, "duration_s must be a whole number of seconds from 1 to 86400");
			return -1;
		}
		rc = site_override_limit(m->d, json_number_value(lim), (int)json_integer_value(dur), "mqtt");
	}
	if (rc < 0)
		snprintf(err, size, "%s", rc == -ENODEV ? "the site controller is not running" : strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* {"priority": 0..9} or {"priority": null} (back to the configured one) for charger `id`. */
static int cmd_priority(struct mqtt *m, const char *id, json_t *o, char *err, size_t size)
{
	static const char *const keys[] = { "priority", "id", NULL };
	json_t *pr = json_object_get(o, "priority");
	int rc;

	if (!known_keys(o, keys, err, size))
		return -1;
	if (!json_is_null(pr) && (!json_is_integer(pr) || json_integer_value(pr) < 0 || json_integer_value(pr) > 9)) {
		snprintf(err, size, "priority must be a whole number from 0 to 9 (higher charges first), or null "
			 "for the configured one");
		return -1;
	}
	rc = site_set_priority(m->d, id, json_is_null(pr) ? -1 : (int)json_integer_value(pr), "mqtt");
	if (rc == -ENOENT)
		snprintf(err, size, "no charger \"%s\" on this site", id);
	else if (rc < 0)
		snprintf(err, size, "%s", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* {"departure": RFC 3339 | null, "energy_kwh": kWh | null} for charger `id`'s session. */
static int cmd_needs(struct mqtt *m, const char *id, json_t *o, char *err, size_t size)
{
	static const char *const keys[] = { "departure", "energy_kwh", "id", NULL };
	struct needs n;
	int rc;

	if (!known_keys(o, keys, err, size) || needs_parse(o, &n, err, size) < 0)
		return -1;
	rc = site_set_needs(m->d, id, &n, "mqtt");
	if (rc == -ENOENT)
		snprintf(err, size, "no charger \"%s\" on this site", id);
	else if (rc == -ESRCH)
		snprintf(err, size, "charger %s has no charging session: departure and energy need are set for the "
			 "session in progress", id);
	else if (rc < 0)
		snprintf(err, size, "%s", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* "charger/<id>/<verb>" with one non-empty id segment (under 64 bytes): the id into `id`. */
static bool charger_cmd(const char *rel, const char *verb, char id[64])
{
	const char *s = rel + strlen("charger/"), *slash;

	if (strncmp(rel, "charger/", strlen("charger/")) != 0 || !(slash = strchr(s, '/')) || slash == s ||
	    slash - s >= 64 || strcmp(slash + 1, verb) != 0)
		return false;
	memcpy(id, s, (size_t)(slash - s));
	id[slash - s] = '\0';
	return true;
}

static void answer(struct mqtt *m, const char *topic, json_t *req_id, const char *error)
{
	char result[1024];
	json_t *a = json_pack("{s:b}", "ok", !error);
	char *payload;

	if (!a)
		return;
	if (req_id && (json_is_string(req_id) || json_is_integer(req_id)))
		json_object_set(a, "id", req_id);
	if (error)
		json_object_set_new(a, "error", json_string(error));
	payload = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	snprintf(result, sizeof(result), "%s/result", topic);
	if (payload)
		mqtt_publish(m, result, payload, 1, false);
	free(payload);
}

void mqtt_cmd_handle(struct mqtt *m, const struct mosquitto_message *msg)
{
	char err[256] = "", prefix[600], id[64];
	size_t plen;
	const char *rel;
	json_t *o = NULL;
	int rc = -1;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s/cmd/", m->base);
	if (strncmp(msg->topic, prefix, plen) != 0)
		return;
	rel = msg->topic + plen;
	if (msg->retain) {
		snprintf(err, sizeof(err), "a retained command is refused (it would act again at every reconnect); "
			 "publish commands without retain and clear this one with an empty retained message");
	} else if (msg->payloadlen > CMD_MAX_BYTES) {
		snprintf(err, sizeof(err), "command larger than %d bytes", CMD_MAX_BYTES);
	} else {
		json_error_t jerr;
		o = json_loadb(msg->payload, (size_t)msg->payloadlen, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(o))
			snprintf(err, sizeof(err), "the command must be a JSON object%s%s", o ? "" : ": ", o ? "" : jerr.text);
	}
	if (!err[0]) {
		if (strcmp(rel, "limit") == 0)
			rc = cmd_limit(m, o, err, sizeof(err));
		else if (charger_cmd(rel, "priority", id))
			rc = cmd_priority(m, id, o, err, sizeof(err));
		else if (charger_cmd(rel, "needs", id))
			rc = cmd_needs(m, id, o, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "unknown command");
	}
	if (rc < 0)
		store_event(m->d->store, LL_WARN, "mqtt.command", NULL, "refused MQTT command on %s: %s", msg->topic, err);
	answer(m, msg->topic, json_object_get(o, "id"), rc < 0 ? err : NULL);
	json_decref(o);
}
