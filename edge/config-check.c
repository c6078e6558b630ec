/* Cross-reference checks that no single key can make: ids unique, every reference resolves,
 * the circuit tree is a tree, wiring is consistent, the security profile has what it needs.
 * Runs only when every key parsed, so fields hold valid values of their types. */
#include "edge/config-private.h"
#include "edge/net-addr.h"
#include "drivers/driver.h"

#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

/* Line of `path` ("web.listen") in the libconfig tree, or `fallback` when the key is absent. */
static int line_at(const config_t *root, int fallback, const char *path)
{
	const config_setting_t *s = config_lookup(root, path);

	return s ? (int)config_setting_source_line(s) : fallback;
}

/* Line of "group.[i].key", the path given as a format. */
static int __attribute__((format(printf, 3, 4))) line_of(const config_t *root, int fallback, const char *fmt, ...)
{
	char path[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return line_at(root, fallback, path);
}

static void check_devices(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	for (size_t i = 0; i < cfg->n_devices; i++) {
		const struct cfg_device *d = &cfg->devices[i];
		char key[96];
		snprintf(key, sizeof(key), "devices[%zu].id", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->devices[j].id, d->id) == 0)
				cfg_error(r, d->line, key, "device id \"%s\" is used twice (first on line %d)", d->id,
					  cfg->devices[j].line);
		struct modbus_addr a;
		if (modbus_addr_parse(d->modbus, &a) < 0) {
			snprintf(key, sizeof(key), "devices[%zu].modbus", i);
			cfg_error(r, line_of(root, d->line, "devices.[%zu].modbus", i), key,
				  "\"%s\" is not tcp://host:port or rtu:///dev/ttyX?baud=9600&parity=N", d->modbus);
		}
		char why[256];
		if (driver_check_config(d, why, sizeof(why)) < 0) {
			snprintf(key, sizeof(key), "devices[%zu].driver", i);
			cfg_error(r, d->line, key, "device %s: %s", d->id, why);
		}
	}
}

static bool circuit_exists(const struct ag_config *cfg, const char *id)
{
	return strcmp(id, "grid") == 0 || config_circuit(cfg, id) != NULL;
}

static void check_device_ref(const struct ag_config *cfg, struct cfg_report *r, int line, const char *key,
			     const char *id, const char *role)
{
	const struct cfg_device *d;

	if (!id)
		return;
	d = config_device(cfg, id);
	if (!d)
		cfg_error(r, line, key, "no device with id \"%s\"", id);
	else if (strcmp(d->role, role) != 0)
		cfg_warn(r, line, key, "device \"%s\" has role \"%s\", expected \"%s\"", id, d->role, role);
}

static void check_circuits(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	const struct cfg_site *s = &cfg->site;
	char key[96];

	check_device_ref(cfg, r, line_at(root, 0, "site.grid.meter"), "site.grid.meter", s->grid.meter,
			 "grid-meter");
	for (size_t i = 0; i < s->n_circuits; i++) {
		const struct cfg_circuit *c = &s->circuits[i];
		snprintf(key, sizeof(key), "site.circuits[%zu].id", i);
		if (strcmp(c->id, "grid") == 0)
			cfg_error(r, c->line, key, "\"grid\" is reserved for the grid connection");
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->circuits[j].id, c->id) == 0)
				cfg_error(r, c->line, key, "circuit id \"%s\" is used twice (first on line %d)", c->id,
					  s->circuits[j].line);
		snprintf(key, sizeof(key), "site.circuits[%zu].parent", i);
		int pline = line_of(root, c->line, "site.circuits.[%zu].parent", i);
		if (!circuit_exists(cfg, c->parent)) {
			cfg_error(r, pline, key, "unknown parent circuit \"%s\"", c->parent);
			continue;
		}
		snprintf(key, sizeof(key), "site.circuits[%zu].meter", i);
		check_device_ref(cfg, r, line_of(root, c->line, "site.circuits.[%zu].meter", i), key, c->meter,
				 "submeter");
		/* Walk up: a cycle returns to c within n steps. */
		const struct cfg_circuit *p = c;
		size_t steps = 0;
		while (p && strcmp(p->parent, "grid") != 0 && steps <= s->n_circuits) {
			p = config_circuit(cfg, p->parent);
			steps++;
			if (p == c) {
				snprintf(key, sizeof(key), "site.circuits[%zu].parent", i);
				cfg_error(r, pline, key, "circuit \"%s\" is its own ancestor (a cycle)", c->id);
				break;
			}
		}
		const double *plim = strcmp(c->parent, "grid") == 0 ? s->grid.limit_a
								    : config_circuit(cfg, c->parent)->limit_a;
		for (int ph = 0; ph < AG_PHASES; ph++)
			if (plim[ph] > 0 && c->limit_a[ph] > plim[ph]) {
				snprintf(key, sizeof(key), "site.circuits[%zu].limit_a", i);
				cfg_warn(r, line_of(root, c->line, "site.circuits.[%zu].limit_a", i), key,
					 "L%d limit %g A is above its parent \"%s\" (%g A); the parent's binds", ph + 1,
					 c->limit_a[ph], c->parent, plim[ph]);
				break;
			}
	}
}

static void check_chargers(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	char key[96];
	bool needs_password = cfg->ocpp.security_profile == 1 || cfg->ocpp.security_profile == 2;

	for (size_t i = 0; i < cfg->n_chargers; i++) {
		const struct cfg_charger *c = &cfg->chargers[i];
		snprintf(key, sizeof(key), "chargers[%zu].id", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->chargers[j].id, c->id) == 0)
				cfg_error(r, c->line, key, "charger id \"%s\" is used twice (first on line %d)", c->id,
					  cfg->chargers[j].line);
		if (strpbrk(c->id, "/?#% :"))
			cfg_error(r, c->line, key, "\"%s\": a station id cannot hold '/', '?', '#', '%%', ':' or spaces",
				  c->id);
		if (!circuit_exists(cfg, c->circuit)) {
			snprintf(key, sizeof(key), "chargers[%zu].circuit", i);
			cfg_error(r, line_of(root, c->line, "chargers.[%zu].circuit", i), key,
				  "charger %s: unknown circuit \"%s\"", c->id, c->circuit);
		}
		bool single = strlen(c->rotation) == 2;
		if (single != (c->phases == 1)) {
			snprintf(key, sizeof(key), "chargers[%zu].rotation", i);
			cfg_error(r, line_of(root, c->line, "chargers.[%zu].rotation", i), key,
				  "charger %s: rotation \"%s\" does not fit %d phase(s) (1 phase: L1, L2 or L3)", c->id,
				  c->rotation, c->phases);
		}
		if (c->min_a > c->max_a) {
			snprintf(key, sizeof(key), "chargers[%zu].min_a", i);
			cfg_error(r, line_of(root, c->line, "chargers.[%zu].min_a", i), key,
				  "charger %s: min_a %g A is above max_a %g A", c->id, c->min_a, c->max_a);
		}
		if (c->password && c->password_hash) {
			snprintf(key, sizeof(key), "chargers[%zu].password", i);
			cfg_error(r, c->line, key, "charger %s: give password or password_hash, not both", c->id);
		}
		if (needs_password && !c->password && !c->password_hash) {
			snprintf(key, sizeof(key), "chargers[%zu].password", i);
			cfg_error(r, c->line, key, "charger %s: ocpp.security_profile %d needs a password or password_hash",
				  c->id, cfg->ocpp.security_profile);
		}
	}
}

static void check_tls(struct cfg_report *r, int line, const char *group, const struct cfg_tls *t, bool need_ca)
{
	char key[64];

	snprintf(key, sizeof(key), "%s.tls", group);
	if (!t->cert || !t->key)
		cfg_error(r, line, key, "this security profile needs tls.cert and tls.key");
	if (need_ca && !t->ca)
		cfg_error(r, line, key, "security profile 3 needs tls.ca to verify client certificates");
}

static void check_endpoints(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	struct host_port hp;

	if (host_port_parse(cfg->ocpp.listen, &hp) < 0)
		cfg_error(r, line_at(root, 0, "ocpp.listen"), "ocpp.listen", "\"%s\" is not address:port",
			  cfg->ocpp.listen);
	if (host_port_parse(cfg->web.listen, &hp) < 0)
		cfg_error(r, line_at(root, 0, "web.listen"), "web.listen", "\"%s\" is not address:port",
			  cfg->web.listen);
	if (cfg->ocpp.security_profile >= 2)
		check_tls(r, line_at(root, 0, "ocpp"), "ocpp", &cfg->ocpp.tls, cfg->ocpp.security_profile == 3);
	if (cfg->upstream.url) {
		struct ws_url u;
		int line = line_at(root, 0, "upstream.url");
		if (ws_url_parse(cfg->upstream.url, &u) < 0)
			cfg_error(r, line, "upstream.url", "\"%s\" is not ws://host[:port]/path or wss://...",
				  cfg->upstream.url);
		else if (cfg->upstream.security_profile >= 2 && !u.tls)
			cfg_error(r, line, "upstream.url", "security_profile %d needs a wss:// URL",
				  cfg->upstream.security_profile);
		else if (cfg->upstream.security_profile < 2 && u.tls)
			cfg_warn(r, line, "upstream.url", "wss:// with security_profile %d: TLS is used anyway",
				 cfg->upstream.security_profile);
		if (cfg->upstream.security_profile == 3 && (!cfg->upstream.tls.cert || !cfg->upstream.tls.key))
			cfg_error(r, line, "upstream.tls", "security profile 3 needs tls.cert and tls.key");
	}
	if (cfg->web.tls.cert || cfg->web.tls.key)
		check_tls(r, line_at(root, 0, "web.tls"), "web", &cfg->web.tls, false);
	for (size_t i = 0; i < cfg->web.n_users; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->web.users[i].name, cfg->web.users[j].name) == 0) {
				char key[64];
				snprintf(key, sizeof(key), "web.users[%zu].name", i);
				cfg_error(r, cfg->web.users[i].line, key, "user \"%s\" is listed twice", cfg->web.users[i].name);
			}
}

/* A name that becomes one level of an MQTT topic: no '/', and no wildcards. */
static void check_topic_level(struct cfg_report *r, int line, const char *key, const char *what, const char *v)
{
	if (strpbrk(v, "/+#"))
		cfg_error(r, line, key, "%s \"%s\" cannot be used in MQTT topics (it holds '/', '+' or '#'); "
			  "rename it or set mqtt.enabled = false", what, v);
}

static void check_mqtt(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	const struct cfg_mqtt *m = &cfg->mqtt;
	int line = line_at(root, 0, "mqtt");

	if (!m->enabled)
		return;
	if (m->username && !m->password)
		cfg_error(r, line_at(root, line, "mqtt.username"), "mqtt.password",
			  "mqtt.username \"%s\" is set but no password; give the broker password too", m->username);
	if (m->password && !m->username)
		cfg_error(r, line_at(root, line, "mqtt.password"), "mqtt.username",
			  "a password without a user name; set mqtt.username");
	if (m->ca && access(m->ca, R_OK) < 0)
		cfg_error(r, line_at(root, line, "mqtt.ca"), "mqtt.ca",
			  "cannot read the CA file \"%s\" (the broker's certificate is verified against it)", m->ca);
	if (m->ca && !m->tls)
		cfg_warn(r, line_at(root, line, "mqtt.ca"), "mqtt.ca", "ignored: mqtt.tls is false");
	if (strpbrk(m->prefix, "+#") || m->prefix[0] == '/' || m->prefix[strlen(m->prefix) - 1] == '/')
		cfg_error(r, line_at(root, line, "mqtt.prefix"), "mqtt.prefix",
			  "\"%s\" cannot hold '+' or '#', nor start or end with '/'", m->prefix);
	check_topic_level(r, line_at(root, 0, "site.name"), "site.name", "site name", cfg->site.name);
	for (size_t i = 0; i < cfg->n_chargers; i++) {
		char key[64];
		snprintf(key, sizeof(key), "chargers[%zu].id", i);
		check_topic_level(r, cfg->chargers[i].line, key, "charger id", cfg->chargers[i].id);
	}
	for (size_t i = 0; i < cfg->n_devices; i++) {
		char key[64];
		snprintf(key, sizeof(key), "devices[%zu].id", i);
		check_topic_level(r, cfg->devices[i].line, key, "device id", cfg->devices[i].id);
	}
}

void config_check(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	check_devices(cfg, root, r);
	check_circuits(cfg, root, r);
	check_chargers(cfg, root, r);
	check_endpoints(cfg, root, r);
	check_mqtt(cfg, root, r);
}
