/* Cross-reference checks that no single key can make: ids unique, every reference resolves,
 * the circuit tree is a tree, wiring is consistent, the security profile has what it needs.
 * Runs only when every key parsed, so fields hold valid values of their types.
 *
 * Errors are for what cannot work (a hash nobody can log in with, an address that is none);
 * warnings, which leave the file valid, for what works but is unsafe (secrets in clear text on
 * the network, guessable or shared passwords, certificates not checked). A secret only counts as
 * exposed when it can cross the network: plain ws:// or HTTP on loopback warns about nothing. */
#include "edge/core/config-private.h"
#include "edge/core/net-addr.h"
#include "edge/core/passwd.h"
#include "drivers/driver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A host name or address literal that could be resolved: "127.0.0.1.5" is neither (all digits
 * and dots, yet no IPv4 address). */
static bool host_ok(const char *host)
{
	unsigned char buf[16];

	if (strchr(host, ':'))
		return inet_pton(AF_INET6, host, buf) == 1;
	if (strspn(host, "0123456789.") == strlen(host))
		return inet_pton(AF_INET, host, buf) == 1;
	for (const char *label = host; *label;) {
		size_t n = strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
		if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-' || (label[n] && label[n] != '.'))
			return false;
		label += n + (label[n] == '.');
	}
	return host[0] != '\0';
}

/* Only this machine can reach it: 127/8, ::1, localhost. "" (any address) is not. */
static bool loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcasecmp(host, "localhost") == 0;
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
		} else if (!a.rtu && !host_ok(a.host)) {
			snprintf(key, sizeof(key), "devices[%zu].modbus", i);
			cfg_error(r, line_of(root, d->line, "devices.[%zu].modbus", i), key,
				  "\"%s\" is neither an IP address nor a host name: device %s could never be reached",
				  a.host, d->id);
		}
		char why[256];
		int why_line;
		if (driver_check_config(d, why, sizeof(why), &why_line) < 0) {
			snprintf(key, sizeof(key), "devices[%zu].%s", i, why_line != d->line ? "registers" : "driver");
			cfg_error(r, why_line, key, "device %s: %s", d->id, why);
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
	check_device_ref(cfg, r, line_at(root, 0, "battery.device"), "battery.device", cfg->battery.device, "battery");
	if (cfg->battery.mode && strcmp(cfg->battery.mode, "off") != 0 && (!cfg->battery.device || !s->grid.meter))
		cfg_error(r, line_at(root, 0, "battery.mode"), "battery.mode",
			  "peak shaving needs battery.device and site.grid.meter (the edge must see both)");
	const struct cfg_device *bat = cfg->battery.device ? config_device(cfg, cfg->battery.device) : NULL;
	if (cfg->battery.mode && strcmp(cfg->battery.mode, "off") != 0 && bat && strcmp(bat->role, "battery") == 0 &&
	    driver_find(bat->driver) && !driver_can_control(bat))
		cfg_error(r, line_at(root, 0, "battery.mode"), "battery.mode",
			  "device \"%s\" (driver %s) takes no setpoint, so it cannot be dispatched%s", bat->id, bat->driver,
			  strcmp(bat->driver, "generic") == 0 ? ": add a setpoint_w row to its registers" : "");
	const char *bad = NULL;
	if (cfg->battery.off_peak && config_in_windows(cfg->battery.off_peak, 0, &bad) < 0)
		cfg_error(r, line_at(root, 0, "battery.off_peak"), "battery.off_peak",
			  "\"%s\": each window is HH:MM-HH:MM (local time), separated by commas", bad);
	if (cfg->battery.recharge && strcmp(cfg->battery.recharge, "off-peak") == 0 && !cfg->battery.off_peak)
		cfg_error(r, line_at(root, 0, "battery.recharge"), "battery.recharge",
			  "off-peak needs battery.off_peak, the tariff's off-peak windows (\"22:00-06:00\")");
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

/* An unknown station has no password in the configuration. In profile 3 its client certificate,
 * signed by ocpp.tls.ca with the station id as CN, identifies it; in profile 2 the installer chose
 * "every charger proves itself with a password over TLS", which a pending station cannot keep. */
static void check_allow_unknown(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	int line = line_at(root, 0, "ocpp.allow_unknown");

	if (!cfg->ocpp.allow_unknown)
		return;
	if (cfg->ocpp.security_profile == 2)
		cfg_error(r, line, "ocpp.allow_unknown",
			  "not with security_profile 2: an unknown station has no password to prove itself with; add "
			  "it to chargers with a password, or use security_profile 3 (its client certificate names it)");
	else if (cfg->ocpp.security_profile < 2)
		cfg_warn(r, line, "ocpp.allow_unknown",
			 "unknown stations connect without a password (security_profile %d); one a manager accepts "
			 "keeps connecting without one until it has its own entry in chargers",
			 cfg->ocpp.security_profile);
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
	check_allow_unknown(cfg, root, r);
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

/* ---- secrets: what cannot work (errors) and what is unsafe (warnings) ---- */

#define WEB_MIN_ITERATIONS 100000      /* ampgatectl passwd makes PASSWD_ITER_WEB */
#define CHARGER_MIN_ITERATIONS 1000    /* charger hashes: PASSWD_ITER_CHARGER */

/* Why `pw` is easy to guess, or NULL: few different characters ("aaaaaaaaaaaaaaaa"), a run
 * ("0123456789abcdef", the example of the shipped file), or a word templates and examples use. */
static const char *weak_password(const char *pw)
{
	static const char *const words[] = { "password", "passwort", "changeme", "change-me", "replace", "example",
					     "secret", "default", "qwerty", "12345", NULL };
	bool seen[256] = { false };
	size_t distinct = 0, steps = 0, n = strlen(pw);
	char lower[300];

	for (size_t i = 0; i < n && i < sizeof(lower) - 1; i++) {
		unsigned char c = (unsigned char)pw[i];
		distinct += !seen[c];
		seen[c] = true;
		steps += i > 0 && (pw[i] - pw[i - 1] == 1 || pw[i - 1] - pw[i] == 1);
		lower[i] = (char)tolower(c);
		lower[i + 1] = '\0';
	}
	if (distinct < 6)
		return "it has fewer than 6 different characters";
	if (n > 1 && steps * 4 >= (n - 1) * 3)
		return "it is a run of consecutive characters, like the examples of the shipped file";
	for (const char *const *w = words; *w; w++)
		if (strstr(lower, *w))
			return "it holds a word that templates and examples use";
	return NULL;
}

/* A password_hash of `who`: an error when nothing could ever match it, a warning when it is
 * cheap to guess from a copy of this file. */
static void check_hash(struct cfg_report *r, int line, const char *key, const char *who, const char *hash,
		       int min_iterations)
{
	int iterations = passwd_iterations(hash);

	if (iterations < 0) {
		if (strstr(hash, "REPLACE"))
			cfg_error(r, line, key, "%s: this is the placeholder of the shipped file, not a hash, so %s could "
				  "never log in; put the output of `echo 'the password' | ampgatectl passwd` here", who, who);
		else if (hash[0] != '$')
			cfg_error(r, line, key, "%s: this looks like a password in clear text, not its hash, so nothing "
				  "could log in with it; put the output of `echo 'the password' | ampgatectl passwd` here",
				  who);
		else
			cfg_error(r, line, key, "%s: not a hash from `ampgatectl passwd` ($pbkdf2-sha256$<iterations>$"
				  "<salt>$<key>), so nothing could log in with it", who);
		return;
	}
	if (iterations < min_iterations)
		cfg_warn(r, line, key, "%s: the hash has only %d PBKDF2 iteration%s: from a copy of this file the "
			 "password is found quickly; hash it again with `ampgatectl passwd`", who, iterations,
			 iterations == 1 ? "" : "s");
}

static void check_charger_secrets(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	struct host_port hp = { .host = "" };
	char key[96], who[80];

	host_port_parse(cfg->ocpp.listen, &hp);
	/* A charger password matters where someone else could present it: on the network, or at
	 * the CSMS when chargers' own passwords go upstream. */
	bool exposed = !loopback(hp.host) ||
		       (cfg->upstream.url && strcmp(cfg->upstream.credentials, "per-charger") == 0);
	for (size_t i = 0; i < cfg->n_chargers; i++) {
		const struct cfg_charger *c = &cfg->chargers[i];
		snprintf(who, sizeof(who), "charger %s", c->id);
		if (c->password_hash) {
			snprintf(key, sizeof(key), "chargers[%zu].password_hash", i);
			check_hash(r, line_of(root, c->line, "chargers.[%zu].password_hash", i), key, who, c->password_hash,
				   CHARGER_MIN_ITERATIONS);
		}
		if (!c->password)
			continue;
		snprintf(key, sizeof(key), "chargers[%zu].password", i);
		int line = line_of(root, c->line, "chargers.[%zu].password", i);
		const char *weak = weak_password(c->password);
		if (weak && exposed)
			cfg_warn(r, line, key, "charger %s: the password is easy to guess (%s); give it 16 or more random "
				 "characters (e.g. `openssl rand -base64 18`)", c->id, weak);
		for (size_t j = 0; j < i; j++)
			if (cfg->chargers[j].password && strcmp(cfg->chargers[j].password, c->password) == 0) {
				cfg_warn(r, line, key, "charger %s has the same password as charger %s (line %d): whoever "
					 "learns one can pose as both; give each charger its own", c->id,
					 cfg->chargers[j].id, cfg->chargers[j].line);
				break;
			}
	}
}

/* Charger side and CSMS side: credentials in clear text on the network. */
static void check_ocpp_transport(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	struct host_port hp = { .host = "" };
	struct ws_url u;
	int profile = cfg->ocpp.security_profile;

	if (host_port_parse(cfg->ocpp.listen, &hp) == 0 && !loopback(hp.host) &&
	    (cfg->n_chargers || cfg->ocpp.allow_unknown)) {
		int line = line_at(root, line_at(root, 0, "ocpp"), "ocpp.security_profile");
		if (profile == 0)
			cfg_warn(r, line, "ocpp.security_profile",
				 "0 on %s: chargers connect with no password at all, so anyone on the network can pose as "
				 "one; 0 is for test benches (use 1 with passwords, or 2 with TLS)", cfg->ocpp.listen);
		else if (profile == 1)
			cfg_warn(r, line, "ocpp.security_profile",
				 "1 on %s is plain ws://: the chargers' passwords cross the network in clear text; use "
				 "security_profile 2 (TLS) unless the chargers sit on a network nobody else reaches",
				 cfg->ocpp.listen);
	}
	if (!cfg->upstream.url || ws_url_parse(cfg->upstream.url, &u) < 0)
		return;
	int line = line_at(root, 0, "upstream.url");
	if (!u.tls && !loopback(u.host) && cfg->upstream.security_profile <= 1)
		cfg_warn(r, line, "upstream.url",
			 "plain ws:// to %s with security_profile %d: %s; use wss:// and security_profile 2", u.host,
			 cfg->upstream.security_profile,
			 cfg->upstream.security_profile == 0 ? "the CSMS link has neither a password nor encryption"
							     : "the chargers' passwords go to the CSMS in clear text");
	if (u.tls && !cfg->upstream.verify_tls)
		cfg_warn(r, line_at(root, line, "upstream.verify_tls"), "upstream.verify_tls",
			 "false: the CSMS's certificate is not checked, so anyone on the path can pose as the CSMS and "
			 "read the chargers' passwords; set it to true and give upstream.tls.ca if the CA is private");
}

static void check_web_mqtt_transport(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	struct host_port hp = { .host = "" };

	if (host_port_parse(cfg->web.listen, &hp) == 0 && !loopback(hp.host) && !cfg->web.tls.cert &&
	    (cfg->web.n_users || cfg->web.metrics_token))
		cfg_warn(r, line_at(root, line_at(root, 0, "web"), "web.listen"), "web.listen",
			 "%s over plain HTTP: the managers' passwords and session cookies cross the network in clear "
			 "text; set web.tls, or listen on 127.0.0.1 behind a TLS proxy", cfg->web.listen);
	const struct cfg_mqtt *m = &cfg->mqtt;
	if (m->enabled && m->password && !m->tls && !loopback(m->host))
		cfg_warn(r, line_at(root, line_at(root, 0, "mqtt"), "mqtt.password"), "mqtt.password",
			 "sent to the broker %s without TLS, in clear text; set mqtt.tls = true (and mqtt.ca)", m->host);
}

/* The line of the first secret written in clear text in the file, 0 when there is none. */
static int first_plain_secret(const struct ag_config *cfg, const config_t *root)
{
	for (size_t i = 0; i < cfg->n_chargers; i++)
		if (cfg->chargers[i].password)
			return line_of(root, cfg->chargers[i].line, "chargers.[%zu].password", i);
	if (cfg->upstream.password)
		return line_at(root, 1, "upstream.password");
	if (cfg->mqtt.password)
		return line_at(root, 1, "mqtt.password");
	if (cfg->web.metrics_token)
		return line_at(root, 1, "web.metrics_token");
	return 0;
}

static void check_file_mode(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	struct stat sb;
	int line = first_plain_secret(cfg, root);

	if (line && stat(r->file, &sb) == 0 && (sb.st_mode & S_IROTH))
		cfg_warn(r, line, "(file)", "every user of this machine can read this file, and it holds passwords in "
			 "clear text; chmod 640 it (owner root, group ampgate)");
}

void config_check(const struct ag_config *cfg, const config_t *root, struct cfg_report *r)
{
	check_devices(cfg, root, r);
	check_circuits(cfg, root, r);
	check_chargers(cfg, root, r);
	check_endpoints(cfg, root, r);
	check_mqtt(cfg, root, r);
	check_charger_secrets(cfg, root, r);
	check_ocpp_transport(cfg, root, r);
	check_web_mqtt_transport(cfg, root, r);
	check_file_mode(cfg, root, r);
	for (size_t i = 0; i < cfg->web.n_users; i++) {
		char key[64], who[80];
		snprintf(key, sizeof(key), "web.users[%zu].password_hash", i);
		snprintf(who, sizeof(who), "user %s", cfg->web.users[i].name);
		check_hash(r, line_of(root, cfg->web.users[i].line, "web.users.[%zu].password_hash", i), key, who,
			   cfg->web.users[i].password_hash, WEB_MIN_ITERATIONS);
	}
}

int config_in_windows(const char *spec, int minute, const char **bad)
{
	const char *p = spec;
	int in = 0;

	while (*p) {
		int h1, m1, h2, m2, used = 0;
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		*bad = p;
		if (sscanf(p, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &used) != 4 || used == 0 || h1 < 0 || h1 > 24 ||
		    h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 || (h1 == 24 && m1) || (h2 == 24 && m2) ||
		    (p[used] && p[used] != ',' && p[used] != ' '))
			return -EINVAL;
		int a = h1 * 60 + m1, b = h2 * 60 + m2;
		if (a <= b ? minute >= a && minute < b : minute >= a || minute < b)
			in = 1;
		p += used;
	}
	return in;
}
