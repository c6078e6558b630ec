/* The configuration key tables: every key of ampgate.conf, its type, range, default and the
 * one-line help that `ampgated --keys` prints. etc/ampgate.conf documents the same keys at
 * length; keep the two in step. */
#include "edge/core/config-private.h"

#include <float.h>

#define END { 0 }
#define KINT(S, F, LO, HI, DEF, U, H) \
	{ .name = #F, .type = CT_INT, .offset = offsetof(S, F), .min = LO, .max = HI, .def_num = DEF, .unit = U, .help = H }
#define KDBL(S, F, LO, HI, DEF, U, H) \
	{ .name = #F, .type = CT_DOUBLE, .offset = offsetof(S, F), .min = LO, .max = HI, .def_num = DEF, .unit = U, .help = H }
#define KPHASES(S, F, HI, H) \
	{ .name = #F, .type = CT_PHASES, .offset = offsetof(S, F), .min = 0, .max = HI, .unit = "A", .help = H }
#define KBOOL(S, F, DEF, H) { .name = #F, .type = CT_BOOL, .offset = offsetof(S, F), .def_num = DEF, .help = H }
#define KSTR(S, F, FL, DEF, H) \
	{ .name = #F, .type = CT_STRING, .offset = offsetof(S, F), .flags = FL, .min = 1, .max = 4096, .def_str = DEF, .help = H }
#define KID(S, F, H) \
	{ .name = #F, .type = CT_STRING, .offset = offsetof(S, F), .flags = CK_REQUIRED, .min = 1, .max = 48, .help = H }
#define KENUM(S, F, FL, CH, DEF, H) \
	{ .name = #F, .type = CT_ENUM, .offset = offsetof(S, F), .flags = FL, .choices = CH, .def_str = DEF, .help = H }
#define KGROUP(S, F, FL, SUB, H) { .name = #F, .type = CT_GROUP, .offset = offsetof(S, F), .flags = FL, .sub = SUB, .help = H }
#define KLIST(S, F, N, E, SUB, MAX, H)                                                                    \
	{ .name = #F, .type = CT_LIST, .offset = offsetof(S, F), .count_offset = offsetof(S, N), .sub = SUB, \
	  .elem_size = sizeof(E), .line_offset = offsetof(E, line), .max = MAX, .help = H }

static const char *const policies[] = { "fair", "priority", "deadline", "cost", "plan", NULL };
static const char *const drivers[] = { "sunspec", "sdm630", "generic", "sim", NULL };
static const char *const roles[] = { "grid-meter", "submeter", "battery", "pv", NULL };
static const char *const rotations[] = { "L1L2L3", "L2L3L1", "L3L1L2", "L1L3L2", "L3L2L1", "L2L1L3",
					 "L1",     "L2",     "L3",     NULL };
static const char *const functions[] = { "holding", "input", NULL };
static const char *const reg_types[] = { "int16", "uint16", "int32", "uint32", "float32", NULL };
static const char *const word_orders[] = { "big", "little", NULL };
static const char *const directions[] = { "discharge", "charge", NULL };
static const char *const credentials[] = { "per-charger", "forward", NULL };
static const char *const partitions[] = { "autonomous", "strict", NULL };
static const char *const replay_rejected[] = { "stop", "keep", NULL };
static const char *const auth_offline[] = { "known", "all", "none", NULL };
static const char *const user_roles[] = { "viewer", "manager", NULL };
static const char *const pv_modes[] = { "off", "surplus", "min+surplus", NULL };

static const struct cfg_key grid_keys[] = {
	KSTR(struct cfg_grid, meter, 0, NULL, "device id of the grid-connection meter"),
	{ .name = "limit_a", .type = CT_PHASES, .offset = offsetof(struct cfg_grid, limit_a), .flags = CK_REQUIRED,
	  .min = 0, .max = CFG_LIMIT_MAX_A, .unit = "A", .help = "connection current limit per phase, L1 L2 L3" },
	KDBL(struct cfg_grid, limit_kw, 0, 100000, 0, "kW", "connection power limit, 0 = none"),
	KDBL(struct cfg_grid, export_limit_kw, -1, 100000, -1, "kW",
	     "highest export the battery may cause (0 = zero export), -1 = no limit"),
	END
};

static const struct cfg_key circuit_keys[] = {
	KID(struct cfg_circuit, id, "circuit id, unique"),
	KSTR(struct cfg_circuit, parent, 0, "grid", "parent circuit id, or \"grid\""),
	KPHASES(struct cfg_circuit, limit_a, CFG_LIMIT_MAX_A, "current limit per phase (fuse rating), 0 = none"),
	KDBL(struct cfg_circuit, limit_kw, 0, 100000, 0, "kW", "power limit, 0 = none"),
	KSTR(struct cfg_circuit, meter, 0, NULL, "optional submeter device id measuring this circuit"),
	END
};

static const struct cfg_key site_keys[] = {
	KSTR(struct cfg_site, name, CK_REQUIRED, NULL, "site name, used in MQTT topics and the web page"),
	KDBL(struct cfg_site, voltage_v, 100, 500, 230, "V", "nominal phase-to-neutral voltage"),
	KINT(struct cfg_site, control_period_ms, 100, 60000, 1000, "ms", "solver period"),
	KDBL(struct cfg_site, margin_a, 0, 100, 2, "A", "current kept free below every limit"),
	KENUM(struct cfg_site, policy, 0, policies, "fair", "allocation policy"),
	KINT(struct cfg_site, plan_period_s, 10, 3600, 60, "s", "`plan` policy: re-plan this often (and on arrival, departure, need)"),
	KINT(struct cfg_site, default_dwell_s, 600, 172800, 28800, "s", "`plan` policy: stay assumed for an EV that gave no departure"),
	KINT(struct cfg_site, plan_show_max_s, 0, 900, 120, "s",
	     "`plan` and `deadline` policies: a new EV charges at its maximum up to this long, so the site learns what "
	     "it takes (0 = off)"),
	KDBL(struct cfg_site, fallback_a, 0, 80, 6, "A", "per-charger current when the edge cannot control it"),
	KINT(struct cfg_site, meter_stale_ms, 500, 600000, 5000, "ms", "a meter reading older than this is stale"),
	KINT(struct cfg_site, pv_hysteresis_s, 0, 3600, 60, "s",
	     "PV surplus must last this long to start a pv = surplus charger, and be gone this long to pause it"),
	KBOOL(struct cfg_site, ratchet, 0,
	      "demand-charge ratchet: the battery keeps import below the month's highest demand so far"),
	KINT(struct cfg_site, demand_window_s, 1, 3600, 900, "s", "the utility's demand interval (import averaged over it)"),
	KGROUP(struct cfg_site, grid, CK_REQUIRED, grid_keys, "the grid connection"),
	KLIST(struct cfg_site, circuits, n_circuits, struct cfg_circuit, circuit_keys, 1000,
	      "circuits (feeders, fuses) below the grid connection"),
	END
};

static const struct cfg_key register_keys[] = {
	KID(struct cfg_register, name,
	    "quantity: current_l1..3, voltage_l1..3, power_w, import_wh, export_wh, soc_pct, ...; "
	    "written: setpoint_w, revert_s"),
	KINT(struct cfg_register, address, 0, 65535, 0, NULL, "register address (0-based)"),
	KENUM(struct cfg_register, function, 0, functions, "holding", "register kind"),
	KENUM(struct cfg_register, type, 0, reg_types, "uint16", "value type"),
	KENUM(struct cfg_register, word_order, 0, word_orders, "big", "word order of 32-bit values"),
	KDBL(struct cfg_register, scale, -1e9, 1e9, 1, NULL, "multiplier to SI units"),
	KSTR(struct cfg_register, unit, 0, NULL, "unit after scaling, for display"),
	KENUM(struct cfg_register, positive, 0, directions, NULL,
	      "setpoint_w: what a positive value commands, discharge (default) or charge"),
	END
};

static const struct cfg_key device_keys[] = {
	KID(struct cfg_device, id, "device id, unique"),
	KENUM(struct cfg_device, driver, CK_REQUIRED, drivers, NULL, "device driver"),
	KENUM(struct cfg_device, role, CK_REQUIRED, roles, NULL, "what the device measures or controls"),
	KSTR(struct cfg_device, modbus, CK_REQUIRED, NULL, "tcp://host:port or rtu:///dev/ttyX?baud=9600&parity=N"),
	KINT(struct cfg_device, unit, 0, 255, 1, NULL, "Modbus unit id"),
	KINT(struct cfg_device, poll_ms, 100, 600000, 1000, "ms", "poll period"),
	KINT(struct cfg_device, timeout_ms, 50, 10000, 500, "ms", "response timeout"),
	KINT(struct cfg_device, base, -1, 65535, -1, NULL, "sunspec: register base, -1 = discover"),
	KLIST(struct cfg_device, registers, n_registers, struct cfg_register, register_keys, 256,
	      "generic driver: register map"),
	END
};

static const struct cfg_key charger_keys[] = {
	KID(struct cfg_charger, id, "OCPP station id (last path segment of the charger's URL)"),
	KSTR(struct cfg_charger, circuit, 0, "grid", "circuit the charger is wired to"),
	KINT(struct cfg_charger, phases, 1, 3, 3, NULL, "phases wired: 1 or 3"),
	KENUM(struct cfg_charger, rotation, 0, rotations, "L1L2L3", "site phases of the charger's L1 L2 L3"),
	KDBL(struct cfg_charger, min_a, 0, 80, 6, "A", "lowest current the charger can run at"),
	KDBL(struct cfg_charger, max_a, 1, 1000, 32, "A", "highest current (hardware, cable)"),
	KDBL(struct cfg_charger, fallback_a, 0, 80, 0, "A", "safe current when uncontrolled, 0 = site.fallback_a"),
	KINT(struct cfg_charger, priority, 0, 9, 1, NULL, "priority class for policy \"priority\" (higher first)"),
	KENUM(struct cfg_charger, pv, 0, pv_modes, "off",
	      "off, surplus (charges only from PV export) or min+surplus (min_a from the grid, plus PV export)"),
	{ .name = "password", .type = CT_STRING, .offset = offsetof(struct cfg_charger, password),
	  .flags = CK_SECRET, .min = 16, .max = 40, .help = "HTTP Basic password (OCPP: 16-40 characters)" },
	{ .name = "password_hash", .type = CT_STRING, .offset = offsetof(struct cfg_charger, password_hash),
	  .flags = CK_SECRET, .min = 1, .max = 256, .help = "or its hash from `ampgatectl passwd`" },
	END
};

static const struct cfg_key tls_keys[] = {
	KSTR(struct cfg_tls, cert, 0, NULL, "PEM certificate (chain) file"),
	KSTR(struct cfg_tls, key, CK_SECRET, NULL, "PEM private key file"),
	KSTR(struct cfg_tls, ca, 0, NULL, "PEM CA file for verifying peers"),
	END
};

static const struct cfg_key ocpp_keys[] = {
	KSTR(struct cfg_ocpp, listen, 0, "0.0.0.0:8887", "address:port chargers connect to"),
	KSTR(struct cfg_ocpp, path, 0, "/ocpp", "URL path before the station id"),
	KBOOL(struct cfg_ocpp, allow_unknown, 0, "hold unknown station ids as pending for a site manager to accept"),
	KDBL(struct cfg_ocpp, unknown_max_a, 6, 1000, 16, "A",
	     "highest current of a station a manager accepted, until it has its own entry in chargers"),
	KINT(struct cfg_ocpp, security_profile, 0, 3, 1, NULL, "0 none (bench only), 1 Basic, 2 TLS+Basic, 3 mutual TLS"),
	KGROUP(struct cfg_ocpp, tls, 0, tls_keys, "server TLS (profiles 2 and 3)"),
	KINT(struct cfg_ocpp, call_timeout_s, 1, 600, 30, "s", "how long a call waits for its result"),
	KINT(struct cfg_ocpp, ping_interval_s, 0, 3600, 30, "s",
	     "WebSocket ping to a charger quiet this long; one that does not answer is closed (0: none)"),
	KINT(struct cfg_ocpp, max_frame_bytes, 1024, 1048576, 65536, "bytes", "largest frame accepted"),
	KINT(struct cfg_ocpp, meter_interval_s, 0, 3600, 10, "s",
	     "meter value interval asked of every charger (current, power, energy, SoC); 0 = leave as set"),
	END
};

static const struct cfg_key upstream_keys[] = {
	KSTR(struct cfg_upstream, url, 0, NULL, "CSMS URL ws[s]://host[:port]/path; unset = no CSMS"),
	KINT(struct cfg_upstream, security_profile, 0, 3, 2, NULL, "0 none, 1 Basic, 2 TLS+Basic, 3 mutual TLS"),
	KENUM(struct cfg_upstream, credentials, 0, credentials, "per-charger",
	      "Basic credentials upstream: each charger's own password, or its header forwarded"),
	{ .name = "password", .type = CT_STRING, .offset = offsetof(struct cfg_upstream, password),
	  .flags = CK_SECRET, .min = 16, .max = 40, .help = "one Basic password for every charger upstream" },
	KGROUP(struct cfg_upstream, tls, 0, tls_keys, "client TLS: CA to verify the CSMS, cert/key for profile 3"),
	KBOOL(struct cfg_upstream, verify_tls, 1, "verify the CSMS's certificate"),
	KENUM(struct cfg_upstream, partition, 0, partitions, "autonomous", "behaviour while the CSMS is unreachable"),
	KENUM(struct cfg_upstream, replay_rejected, 0, replay_rejected, "stop",
	      "a session started offline whose id token the CSMS refuses on replay: stop it, or keep charging"),
	KINT(struct cfg_upstream, replay_attempts, 1, 100, 3, NULL,
	     "tries of a replayed message the CSMS answers with an error before it is parked"),
	KINT(struct cfg_upstream, call_timeout_s, 1, 600, 30, "s",
	     "a call the CSMS has not answered by then is reported; one unanswered for 4 times as long gets "
	     "the uplink reconnected (and is sent again on the new one)"),
	KINT(struct cfg_upstream, answer_after_s, 1, 600, 15, "s",
	     "a charger's call the CSMS has not answered by then is answered by the edge (before the charger's "
	     "own timeout, 30 s on most); the CSMS's late answer is still taken"),
	KINT(struct cfg_upstream, reconnect_min_ms, 100, 600000, 1000, "ms", "first reconnect delay"),
	KINT(struct cfg_upstream, reconnect_max_ms, 100, 3600000, 60000, "ms", "largest reconnect delay"),
	KINT(struct cfg_upstream, ping_interval_s, 0, 3600, 30, "s",
	     "WebSocket ping to the CSMS when its uplink is quiet this long; one that does not answer is closed and reopened (0: none)"),
	KINT(struct cfg_upstream, connect_timeout_s, 1, 300, 10, "s",
	     "an uplink not open (TCP, TLS and WebSocket upgrade) within this is given up and retried"),
	END
};

static const struct cfg_key user_keys[] = {
	KID(struct cfg_user, name, "login name"),
	{ .name = "password_hash", .type = CT_STRING, .offset = offsetof(struct cfg_user, password_hash),
	  .flags = CK_REQUIRED | CK_SECRET, .min = 1, .max = 256, .help = "hash from `ampgatectl passwd`" },
	KENUM(struct cfg_user, role, 0, user_roles, "viewer", "viewer (read) or manager (read and change)"),
	END
};

static const struct cfg_key web_keys[] = {
	KSTR(struct cfg_web, listen, 0, "0.0.0.0:8080", "address:port of the web page and REST API"),
	KGROUP(struct cfg_web, tls, 0, tls_keys, "HTTPS certificate and key; unset = HTTP"),
	KSTR(struct cfg_web, assets, 0, "/usr/share/ampgate/web", "folder of the page's files"),
	KLIST(struct cfg_web, users, n_users, struct cfg_user, user_keys, 100, "web users"),
	{ .name = "metrics_token", .type = CT_STRING, .offset = offsetof(struct cfg_web, metrics_token),
	  .flags = CK_SECRET, .min = 16, .max = 256,
	  .help = "bearer token for /metrics from other hosts (unset: only from the edge itself or with a login)" },
	END
};

static const struct cfg_key mqtt_keys[] = {
	KBOOL(struct cfg_mqtt, enabled, 0, "publish state and accept commands over MQTT"),
	KSTR(struct cfg_mqtt, host, 0, "127.0.0.1", "broker host"),
	KINT(struct cfg_mqtt, port, 1, 65535, 1883, NULL, "broker port"),
	KSTR(struct cfg_mqtt, prefix, 0, "ampgate", "topic prefix"),
	KSTR(struct cfg_mqtt, username, 0, NULL, "broker user"),
	{ .name = "password", .type = CT_STRING, .offset = offsetof(struct cfg_mqtt, password), .flags = CK_SECRET,
	  .min = 1, .max = 256, .help = "broker password" },
	KBOOL(struct cfg_mqtt, tls, 0, "connect with TLS"),
	KSTR(struct cfg_mqtt, ca, 0, NULL, "CA file for the broker's certificate"),
	KBOOL(struct cfg_mqtt, discovery, 1, "publish Home Assistant discovery"),
	KSTR(struct cfg_mqtt, discovery_prefix, 0, "homeassistant", "Home Assistant's discovery topic prefix"),
	{ .name = "client_id", .type = CT_STRING, .offset = offsetof(struct cfg_mqtt, client_id), .min = 1, .max = 64,
	  .help = "MQTT client id, unique on the broker; unset = \"ampgate-<site.name>\"" },
	KINT(struct cfg_mqtt, keepalive_s, 5, 3600, 30, "s", "keepalive; the broker publishes the last will after 1.5x this"),
	KINT(struct cfg_mqtt, publish_ms, 100, 600000, 1000, "ms", "a state topic is published at most this often"),
	KINT(struct cfg_mqtt, refresh_s, 10, 86400, 300, "s", "every retained topic again, changed or not"),
	KINT(struct cfg_mqtt, reconnect_max_s, 1, 3600, 30, "s", "reconnect delay doubles from 1 s up to this"),
	END
};

static const struct cfg_key health_keys[] = {
	KBOOL(struct cfg_health, heal, 1, "reset faulted chargers and reconnect silent ones remotely"),
	KINT(struct cfg_health, faulted_reset_s, 1, 86400, 120, "s", "faulted this long with no transaction: reset"),
	KINT(struct cfg_health, reset_backoff_s, 1, 86400, 600, "s", "wait between reset attempts"),
	KINT(struct cfg_health, max_soft_resets, 0, 10, 2, NULL, "soft resets before one hard reset"),
	KINT(struct cfg_health, max_resets_per_day, 0, 100, 4, NULL, "resets per charger per day, at most"),
	KINT(struct cfg_health, silent_after_s, 0, 86400, 0, "s", "no frame this long = silent; 0 = twice the heartbeat"),
	END
};

static const struct cfg_key auth_keys[] = {
	KENUM(struct cfg_auth, offline, 0, auth_offline, "known",
	      "id tokens accepted with no CSMS answer: known (local list or cache), all, none"),
	KINT(struct cfg_auth, cache_days, 0, 3650, 30, "days",
	     "a token the CSMS accepted is accepted offline this long after; 0 = no cache (local list only)"),
	END
};

static const char *const battery_modes[] = { "off", "peak-shave", "plan", NULL };
static const char *const recharges[] = { "pv", "any", "off-peak", "off", NULL };

static const struct cfg_key battery_keys[] = {
	KSTR(struct cfg_battery, device, 0, NULL, "device id of the battery (role battery) the edge commands"),
	KENUM(struct cfg_battery, mode, 0, battery_modes, "off", "off (the battery's own control), peak-shave, or plan (peak-shave below the month's "
	      "demand peak, EVs held under it, pre-charge off-peak)"),
	KDBL(struct cfg_battery, peak_kw, 0, 100000, 0, "kW",
	     "grid import above which the battery discharges; 0 = the connection's limit less margin"),
	KDBL(struct cfg_battery, reserve_pct, 0, 100, 20, "%", "state of charge kept for outages; never discharged below"),
	KDBL(struct cfg_battery, max_charge_kw, 0, 100000, 0, "kW", "highest charge power asked, 0 = the battery's rating"),
	KDBL(struct cfg_battery, max_discharge_kw, 0, 100000, 0, "kW",
	     "highest discharge power asked, 0 = the battery's rating"),
	KENUM(struct cfg_battery, recharge, 0, recharges, "pv",
	      "recharge from PV export only, from the grid below recharge_kw (any, or off-peak: only in "
	      "battery.off_peak), or not at all"),
	KDBL(struct cfg_battery, recharge_kw, 0, 100000, 0, "kW", "grid import ceiling while recharging, 0 = peak_kw"),
	KSTR(struct cfg_battery, off_peak, 0, NULL,
	     "the tariff's off-peak windows, local time: \"22:00-06:00, 12:00-14:00\" (recharge = off-peak, mode = plan)"),
	KINT(struct cfg_battery, revert_s, 10, 3600, 60, "s",
	     "the battery returns to its own control this long after the edge's last write"),
	END
};

static const struct cfg_key storage_keys[] = {
	KSTR(struct cfg_storage, path, 0, "/var/lib/ampgate/ampgate.db", "SQLite database file"),
	KINT(struct cfg_storage, retention_days, 1, 3650, 90, "days", "history kept (meter values, events)"),
	KINT(struct cfg_storage, outbox_max_rows, 10, 10000000, 100000, "messages",
	     "messages kept for an unreachable CSMS; beyond, MeterValues are thinned, other non-transaction "
	     "messages refused, transaction messages always kept"),
	END
};

static const struct cfg_key root_keys[] = {
	KGROUP(struct ag_config, site, CK_REQUIRED, site_keys, "the site: limits, policy, circuits"),
	KLIST(struct ag_config, devices, n_devices, struct cfg_device, device_keys, 256, "Modbus devices"),
	KLIST(struct ag_config, chargers, n_chargers, struct cfg_charger, charger_keys, 10000, "charging stations"),
	KGROUP(struct ag_config, ocpp, 0, ocpp_keys, "charger-side OCPP server"),
	KGROUP(struct ag_config, upstream, 0, upstream_keys, "the operator's cloud CSMS"),
	KGROUP(struct ag_config, web, 0, web_keys, "web page and REST API"),
	KGROUP(struct ag_config, mqtt, 0, mqtt_keys, "MQTT"),
	KGROUP(struct ag_config, health, 0, health_keys, "charger health and remote healing"),
	KGROUP(struct ag_config, auth, 0, auth_keys, "offline authorization of id tokens"),
	KGROUP(struct ag_config, battery, 0, battery_keys, "battery dispatch: peak shaving, recharge"),
	KGROUP(struct ag_config, storage, 0, storage_keys, "database"),
	END
};

const struct cfg_key *config_root_keys(void)
{
	return root_keys;
}
