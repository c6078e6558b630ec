/* The site's state out over MQTT, and Home Assistant discovery; see mqtt.h for the topics.
 *
 * Payloads are the JSON that state.h builds for every interface, so MQTT shows the same names,
 * units and numbers as the web page. Being retained, they drop what only makes sense at the
 * moment of sending (the ages of readings, the solve counter) and give an override's end as a
 * wall-clock time instead of a countdown: a late subscriber reads a true value, and a topic
 * whose content did not change is not sent again. */
#include "edge/mqtt/mqtt-private.h"
#include "edge/ocpp/charger.h"
#include "edge/daemon.h"
#include "edge/devices/devices.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"
#include "edge/site/site.h"
#include "edge/view/state.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sent_free(struct mqtt_sent *s)
{
	free(s->topic);
	free(s->payload);
	s->topic = s->payload = NULL;
}

void mqtt_state_reset(struct mqtt *m)
{
	sent_free(&m->site);
	for (size_t i = 0; i < m->n_chargers; i++)
		sent_free(&m->chargers[i]);
	for (size_t i = 0; i < m->n_devices; i++)
		sent_free(&m->devices[i]);
	free(m->chargers);
	free(m->devices);
	m->chargers = m->devices = NULL;
	m->n_chargers = m->n_devices = 0;
}

/* Grow a cache to n entries (new ones empty). False on ENOMEM. */
static bool sent_size(struct mqtt_sent **a, size_t *n, size_t want)
{
	struct mqtt_sent *p;

	if (want <= *n)
		return true;
	p = realloc(*a, want * sizeof(*p));
	if (!p)
		return false;
	memset(p + *n, 0, (want - *n) * sizeof(*p));
	*a = p;
	*n = want;
	return true;
}

/* The id a cached topic ends with ("…/charger/CP001" -> "CP001"). */
static const char *topic_id(const struct mqtt_sent *s)
{
	const char *slash = strrchr(s->topic, '/');

	return slash ? slash + 1 : s->topic;
}

/* A topic whose charger or device left the configuration: clear its retained value. */
static void retire(struct mqtt *m, struct mqtt_sent *s, bool still_there)
{
	if (s->topic && !still_there)
		mqtt_publish(m, s->topic, "", 1, true);
	sent_free(s);
}

/* Send `j` (taken) on `topic` if it differs from what this cache entry last sent, or `force`. */
static void send_json(struct mqtt *m, struct mqtt_sent *s, const char *topic, json_t *j, bool force)
{
	char *payload = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;

	json_decref(j);
	if (!payload)
		return;
	if (!force && s->topic && s->payload && strcmp(s->topic, topic) == 0 && strcmp(s->payload, payload) == 0) {
		free(payload);
		return;
	}
	if (mqtt_publish(m, topic, payload, 0, true) < 0) {
		free(payload);
		return;
	}
	free(s->payload);
	s->payload = payload;
	if (!s->topic || strcmp(s->topic, topic) != 0) {
		free(s->topic);
		s->topic = strdup(topic);
	}
}

/* Drop what changes by itself every second without news (see the file comment). */
static void calm(json_t *j)
{
	const char *key;
	json_t *v;
	void *tmp;
	size_t i;

	if (json_is_array(j))
		json_array_foreach(j, i, v)
			calm(v);
	if (!json_is_object(j))
		return;
	json_object_del(j, "age_s");
	json_object_foreach_safe(j, tmp, key, v)
		calm(v);
}

/* The override's end as UTC wall-clock time, computed once per override so it stays put. */
static void override_expiry(struct mqtt *m, json_t *site)
{
	json_t *o = json_object_get(json_object_get(site, "grid"), "override");
	const struct site_status *st = site_status(m->d);

	if (!json_is_object(o) || !st)
		return;
	if (m->override_until_ms != st->override_until_ms) {
		uint64_t now = now_ms();
		time_t end = time(NULL) + (time_t)((st->override_until_ms > now ? st->override_until_ms - now + 500 : 0) / 1000);
		struct tm tm;
		gmtime_r(&end, &tm);
		strftime(m->expires, sizeof(m->expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
		m->override_until_ms = st->override_until_ms;
	}
	json_object_del(o, "remaining_s");
	json_object_set_new(o, "expires", json_string(m->expires));
}

void mqtt_publish_state(struct mqtt *m, bool force)
{
	struct ag_daemon *d = m->d;
	struct proxy *p = d->proxy;
	size_t n = p ? p->n_chargers : 0, n_dev;
	char topic[1024];
	json_t *site = state_site(d), *devs;

	if (site) {
		json_object_del(site, "solves");
		calm(site);
		override_expiry(m, site);
	}
	snprintf(topic, sizeof(topic), "%s/site", m->base);
	send_json(m, &m->site, topic, site, force);

	for (size_t i = n; i < m->n_chargers; i++)
		retire(m, &m->chargers[i], p && m->chargers[i].topic && proxy_find(p, topic_id(&m->chargers[i])));
	if (m->n_chargers > n)
		m->n_chargers = n;
	if (!sent_size(&m->chargers, &m->n_chargers, n))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct charger *ch = p->chargers[i];
		snprintf(topic, sizeof(topic), "%s/charger/%s", m->base, ch->id);
		if (mosquitto_pub_topic_check(topic) != MOSQ_ERR_SUCCESS)
			continue; /* an unknown station whose id cannot be a topic level */
		if (m->chargers[i].topic && strcmp(m->chargers[i].topic, topic) != 0)
			retire(m, &m->chargers[i], proxy_find(p, topic_id(&m->chargers[i])) != NULL);
		json_t *j = state_charger(d, ch);
		calm(j);
		send_json(m, &m->chargers[i], topic, j, force);
	}

	devs = state_devices(d);
	n_dev = json_array_size(devs);
	for (size_t i = n_dev; i < m->n_devices; i++)
		retire(m, &m->devices[i], m->devices[i].topic && config_device(d->cfg, topic_id(&m->devices[i])));
	if (m->n_devices > n_dev)
		m->n_devices = n_dev;
	if (sent_size(&m->devices, &m->n_devices, n_dev))
		for (size_t i = 0; i < n_dev; i++) {
			json_t *j = json_array_get(devs, i);
			const char *id = json_string_value(json_object_get(j, "id"));
			snprintf(topic, sizeof(topic), "%s/device/%s", m->base, id ? id : "");
			if (m->devices[i].topic && strcmp(m->devices[i].topic, topic) != 0)
				retire(m, &m->devices[i], config_device(d->cfg, topic_id(&m->devices[i])) != NULL);
			calm(j);
			send_json(m, &m->devices[i], topic, json_incref(j), force);
		}
	json_decref(devs);
}

/* Home Assistant object ids: letters, digits, '_' and '-' only. */
static void object_id(char *out, size_t size, const char *s)
{
	size_t i = 0;

	for (; s[i] && i + 1 < size; i++)
		out[i] = isalnum((unsigned char)s[i]) || s[i] == '-' ? s[i] : '_';
	out[i] = '\0';
}

static void discover(struct mqtt *m, const char *component, const char *node, const char *object, json_t *cfg)
{
	char topic[1024];
	const char *key;
	json_t *v;
	void *tmp;
	char *payload;

	json_object_foreach_safe(cfg, tmp, key, v)
		if (json_is_null(v))
			json_object_del(cfg, key); /* an optional field left out, not sent as null */
	snprintf(topic, sizeof(topic), "%s/%s/%s/%s/config", m->d->cfg->mqtt.discovery_prefix, component, node, object);
	json_object_set_new(cfg, "unique_id", json_sprintf("%s_%s", node, object));
	json_object_set_new(cfg, "availability_topic", json_string(m->status_topic));
	json_object_set_new(cfg, "device", json_pack("{s:[s], s:s+, s:s, s:s, s:s}", "identifiers", node, "name",
						     "Ampgate ", m->d->cfg->site.name, "manufacturer", "Ampgate",
						     "model", "ampgated", "sw_version", AG_VERSION));
	payload = json_dumps(cfg, JSON_COMPACT);
	json_decref(cfg);
	if (payload)
		mqtt_publish(m, topic, payload, 1, true);
	free(payload);
}

/* A numeric sensor read from one of our retained topics with a template. */
static void sensor(struct mqtt *m, const char *node, const char *object, const char *name, const char *state,
		   const char *tmpl, const char *unit, const char *device_class)
{
	discover(m, "sensor", node, object,
		 json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?}", "name", name, "state_topic", state, "value_template", tmpl,
			   "unit_of_measurement", unit, "device_class", device_class,
			   "state_class", unit ? "measurement" : NULL));
}

enum energy_needs { NEEDS_NOTHING, NEEDS_GRID_METER, NEEDS_BATTERY, NEEDS_PV };

/* The energy flow the overview shows, as sensors on the site topic (energy_json's fields), each
 * announced only where the site has what it measures. */
static const struct energy_sensor {
	const char *object, *name, *field, *unit, *device_class;
	enum energy_needs needs;
} energy_sensor_table[] = {
	{ "ev_power", "EV chargers power", "ev_w", "W", "power", NEEDS_NOTHING },
	{ "grid_power", "Grid power (import > 0)", "grid_w", "W", "power", NEEDS_GRID_METER },
	{ "building_power", "Building power (without EVs, PV included)", "building_w", "W", "power", NEEDS_GRID_METER },
	{ "demand_month_peak", "Demand peak this month", "demand.month_peak_w", "W", "power", NEEDS_GRID_METER },
	{ "battery_soc", "Battery SoC", "battery.soc_pct", "%", "battery", NEEDS_BATTERY },
	{ "battery_power", "Battery power (discharge > 0)", "battery.power_w", "W", "power", NEEDS_BATTERY },
	{ "battery_setpoint", "Battery setpoint (discharge > 0)", "battery.setpoint_w", "W", "power", NEEDS_BATTERY },
	{ "battery_mode", "Battery mode", "battery.mode", NULL, NULL, NEEDS_BATTERY },
	{ "pv_power", "PV power", "pv_w", "W", "power", NEEDS_PV },
};

static void energy_sensors(struct mqtt *m, const char *node, const char *site_topic)
{
	const struct ag_config *cfg = m->d->cfg;
	bool has[] = { [NEEDS_NOTHING] = true, [NEEDS_GRID_METER] = cfg->site.grid.meter != NULL,
		       [NEEDS_BATTERY] = cfg->battery.device != NULL, [NEEDS_PV] = false };
	char tmpl[128];

	for (size_t i = 0; i < cfg->n_devices; i++)
		has[NEEDS_PV] = has[NEEDS_PV] || strcmp(cfg->devices[i].role, "pv") == 0;
	for (size_t i = 0; i < sizeof(energy_sensor_table) / sizeof(energy_sensor_table[0]); i++) {
		const struct energy_sensor *e = &energy_sensor_table[i];
		if (!has[e->needs])
			continue;
		snprintf(tmpl, sizeof(tmpl), "{{ value_json.energy.%s }}", e->field);
		sensor(m, node, e->object, e->name, site_topic, tmpl, e->unit, e->device_class);
	}
	/* on = the battery does not answer: its discharge no longer counts for the EVs */
	if (has[NEEDS_BATTERY])
		discover(m, "binary_sensor", node, "battery_fault",
			 json_pack("{s:s, s:s, s:s, s:s}", "name", "Battery not answering", "state_topic", site_topic,
				   "value_template", "{{ 'OFF' if value_json.energy.battery.answering else 'ON' }}",
				   "device_class", "problem"));
}

void mqtt_publish_discovery(struct mqtt *m)
{
	const struct ag_config *cfg = m->d->cfg;
	char node[160], site_topic[600], name[128], tmpl[128], object[200];
	double max_a = 0;

	object_id(name, sizeof(name), cfg->site.name);
	snprintf(node, sizeof(node), "ampgate_%s", name);
	snprintf(site_topic, sizeof(site_topic), "%s/site", m->base);
	for (int p = 0; p < AG_PHASES; p++) {
		snprintf(object, sizeof(object), "grid_current_l%d", p + 1);
		snprintf(name, sizeof(name), "Grid current L%d", p + 1);
		snprintf(tmpl, sizeof(tmpl), "{{ value_json.grid.current_a[%d] }}", p);
		sensor(m, node, object, name, site_topic, tmpl, "A", "current");
		snprintf(object, sizeof(object), "ev_current_l%d", p + 1);
		snprintf(name, sizeof(name), "EV load L%d", p + 1);
		snprintf(tmpl, sizeof(tmpl), "{{ value_json.grid.ev_a[%d] }}", p);
		sensor(m, node, object, name, site_topic, tmpl, "A", "current");
		if (cfg->site.grid.limit_a[p] > max_a)
			max_a = cfg->site.grid.limit_a[p];
	}
	sensor(m, node, "site_mode", "Site mode", site_topic, "{{ value_json.mode }}", NULL, NULL);
	energy_sensors(m, node, site_topic);
	/* The site limit as a number: setting it sends a 15-minute temporary limit. */
	if (max_a > 0) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "%s/cmd/limit", m->base);
		discover(m, "number", node, "site_limit",
			 json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:s, s:s}", "name", "Site limit per phase",
				   "state_topic", site_topic, "value_template", "{{ value_json.grid.limit_a | max }}",
				   "command_topic", cmd, "command_template", "{\"limit_a\": {{ value }}, \"duration_s\": 900}",
				   "min", 1.0, "max", max_a, "step", 1.0, "unit_of_measurement", "A", "mode", "box"));
	}
	for (size_t i = 0; i < cfg->n_chargers; i++) {
		const char *id = cfg->chargers[i].id;
		char state[600], oid[128];
		snprintf(state, sizeof(state), "%s/charger/%s", m->base, id);
		object_id(oid, sizeof(oid), id);
		snprintf(object, sizeof(object), "charger_%s_limit", oid);
		snprintf(name, sizeof(name), "%s limit", id);
		sensor(m, node, object, name, state, "{{ value_json.limit.limit_a }}", "A", "current");
		snprintf(object, sizeof(object), "charger_%s_power", oid);
		snprintf(name, sizeof(name), "%s power", id);
		sensor(m, node, object, name, state, "{{ value_json.meter.power_w if value_json.meter else None }}", "W",
		       "power");
	}
}
