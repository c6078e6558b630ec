/* Configuration: one libconfig file parsed once into an immutable struct.
 *
 * Parsing is driven by the key tables in config.c (type, range, default, required, help), so
 * every key is documented, range-checked and reported as `file:line: key: message`; unknown keys
 * are errors. A reload parses a new struct, validates it and swaps it in whole; nothing edits a
 * loaded configuration. */
#ifndef AG_CONFIG_H
#define AG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define AG_PHASES 3
#define AG_DEFAULT_CONFIG "/etc/ampgate/ampgate.conf"

/* A limit per phase; a phase with no limit holds 0 (meaning "not limited here"). */
typedef double phase_a[AG_PHASES];

struct cfg_circuit {
	char *id;
	char *parent;           /* "grid" or another circuit's id */
	phase_a limit_a;
	double limit_kw;        /* 0: no kW limit */
	char *meter;            /* optional submeter device id */
	int line;
};

#define CFG_LIMIT_MAX_A 10000.0 /* the largest grid or circuit limit_a the configuration takes */

struct cfg_grid {
	char *meter;            /* device id of the grid-connection meter */
	phase_a limit_a;
	double limit_kw;
	double export_limit_kw; /* -1: no export limit; 0: zero export */
};

struct cfg_site {
	char *name;
	double voltage_v;
	int control_period_ms;
	double margin_a;
	char *policy;
	int plan_period_s;      /* `plan` policy */
	int default_dwell_s;
	int plan_show_max_s;    /* a new EV at its maximum up to this long (`plan`, `deadline`): the site learns
				 * what it takes */
	double fallback_a;
	int meter_stale_ms;
	int pv_hysteresis_s;    /* PV surplus must hold (or be gone) this long to start (or stop) a charger */
	bool ratchet;           /* keep grid import below the month's demand peak (with a battery) */
	int demand_window_s;    /* the utility's demand interval: import averaged over it */
	struct cfg_grid grid;
	struct cfg_circuit *circuits;
	size_t n_circuits;
};

struct cfg_register {           /* `generic` driver register map entry */
	char *name;
	int address;
	char *function;         /* "holding" | "input" */
	char *type;             /* int16 uint16 int32 uint32 float32 */
	char *word_order;       /* "big" | "little" */
	double scale;
	char *unit;
	char *positive;         /* setpoint_w: "discharge" | "charge" (NULL: discharge) */
	int line;
};

struct cfg_device {
	char *id;
	char *driver;
	char *role;
	char *modbus;           /* tcp://host:port or rtu:///dev/ttyX?baud=..&parity=.. */
	int unit;
	int poll_ms;
	int timeout_ms;
	int base;               /* sunspec: register base, -1 = discover */
	struct cfg_register *registers;
	size_t n_registers;
	int line;
};

struct cfg_charger {
	char *id;
	char *circuit;
	int phases;
	char *rotation;
	double min_a;
	double max_a;
	double fallback_a;      /* 0: site.fallback_a */
	int priority;
	char *pv;               /* "off" | "surplus" (PV export only) | "min+surplus" (min_a, plus PV export) */
	char *password;         /* plain (hashed at load) or ... */
	char *password_hash;    /* ... a hash made by `ampgatectl passwd` */
	int line;
};

struct cfg_tls {
	char *cert;
	char *key;
	char *ca;
};

struct cfg_ocpp {
	char *listen;
	char *path;
	bool allow_unknown;
	double unknown_max_a;   /* an accepted unknown station's max_a until it has its own entry */
	int security_profile;   /* 0 none (test benches only), 1 Basic, 2 TLS+Basic, 3 mutual TLS */
	struct cfg_tls tls;
	int call_timeout_s;
	int max_frame_bytes;
	int meter_interval_s;   /* asked of every charger after boot; 0 = leave chargers as they are */
	int ping_interval_s;    /* WebSocket ping to each charger; 0 = none */
};

struct cfg_upstream {
	char *url;
	int security_profile;
	char *credentials;      /* "per-charger" | "forward" */
	char *password;
	struct cfg_tls tls;
	bool verify_tls;
	char *partition;        /* "autonomous" | "strict" */
	char *replay_rejected;  /* "stop" | "keep": a session whose id token the CSMS refuses on replay */
	int replay_attempts;    /* CALLERRORs before a replayed message is parked */
	int call_timeout_s;
	int answer_after_s;     /* a charger's call the CSMS has not answered by then: the edge answers */
	int reconnect_min_ms;
	int reconnect_max_ms;
	int connect_timeout_s;  /* TCP + TLS + WebSocket upgrade must be done within this */
	int ping_interval_s;    /* WebSocket ping to the CSMS on each uplink; 0 = none */
};

struct cfg_user {
	char *name;
	char *password_hash;
	char *role;             /* "viewer" | "manager" */
	int line;
};

struct cfg_web {
	char *listen;
	struct cfg_tls tls;
	char *assets;
	char *metrics_token;    /* bearer token for /metrics from other hosts; NULL = loopback only */
	struct cfg_user *users;
	size_t n_users;
};

struct cfg_mqtt {
	bool enabled;
	char *host;
	int port;
	char *prefix;
	char *username;
	char *password;
	bool tls;
	char *ca;
	bool discovery;
	char *discovery_prefix;
	char *client_id;        /* NULL: "ampgate-<site.name>" */
	int keepalive_s;
	int publish_ms;         /* a topic is published at most this often */
	int refresh_s;          /* every retained topic again, changed or not */
	int reconnect_max_s;    /* reconnect backoff doubles from 1 s up to this */
};

struct cfg_health {
	bool heal;
	int faulted_reset_s;
	int reset_backoff_s;
	int max_soft_resets;
	int max_resets_per_day;
	int silent_after_s;
};

struct cfg_auth {
	char *offline;          /* "known" | "all" | "none": id tokens the edge accepts without a CSMS */
	int cache_days;         /* how long a token the CSMS accepted stays in the edge's cache */
};

/* Battery dispatch (edge/site/energy.c). */
struct cfg_battery {
	char *device;           /* device id of the battery (role battery); NULL = no dispatch */
	char *mode;             /* "off" | "peak-shave" | "plan" */
	double peak_kw;         /* grid import above which the battery discharges; 0 = limit less margin */
	double reserve_pct;     /* SoC the battery never discharges below */
	double max_charge_kw;   /* 0 = the battery's own rating */
	double max_discharge_kw;
	char *recharge;         /* "pv" | "any" | "off-peak" | "off" */
	double recharge_kw;     /* grid import ceiling while recharging from the grid; 0 = peak_kw */
	char *off_peak;         /* "HH:MM-HH:MM, ..." local time; NULL = none */
	int revert_s;           /* the battery's own control returns this long after the last write */
};

struct cfg_storage {
	char *path;
	int retention_days;
	int outbox_max_rows;    /* messages kept for an unreachable CSMS before MeterValues are thinned */
};

struct ag_config {
	char *file;
	struct cfg_site site;
	struct cfg_device *devices;
	size_t n_devices;
	struct cfg_charger *chargers;
	size_t n_chargers;
	/* `chargers` sorted by id, for config_charger: built by config_load (NULL in a configuration
	 * made by hand, which is then searched in order). Not a key. */
	const struct cfg_charger **charger_by_id;
	size_t n_pv_chargers;   /* chargers whose `pv` is not "off", counted with charger_by_id */
	struct cfg_ocpp ocpp;
	struct cfg_upstream upstream;
	struct cfg_web web;
	struct cfg_mqtt mqtt;
	struct cfg_health health;
	struct cfg_auth auth;
	struct cfg_battery battery;
	struct cfg_storage storage;
};

/* Parse and validate `path`. Errors and warnings go to `errs` as `file:line: key: message`
 * lines. Returns the configuration, or NULL (errno = EINVAL) when there was any error. */
struct ag_config *config_load(const char *path, FILE *errs);
void config_free(struct ag_config *cfg);

/* Log, at notice level, every key whose value differs between `old` and `new` (a reload). */
void config_log_diff(const struct ag_config *old_cfg, const struct ag_config *new_cfg);

/* True when every key of the top-level group `group` ("mqtt", "web") has the same value in both. */
bool config_group_equal(const struct ag_config *a, const struct ag_config *b, const char *group);

/* Print every key with its type, range, default and help text (`ampgated --keys`). */
void config_print_keys(FILE *out);

/* Whether `limit_a` may be a temporary site limit (REST and MQTT): above 0, finite, and not above
 * the connection's configured limit, which it can only lower. 0, or -EINVAL with the reason in
 * words in `why`. */
int config_override_check(const struct ag_config *cfg, double limit_a, char *why, size_t size);

/* Lookups by id; NULL when absent. A charger in O(log n): the site looks each one up per solve,
 * and a scan of 1,000 ids each made a solve at 1,000 chargers cost ~5 ms of strcmp. */
const struct cfg_charger *config_charger(const struct ag_config *cfg, const char *id);
/* Whether the charger follows PV surplus (`pv` set and not "off"). */
bool config_charger_pv(const struct cfg_charger *cc);
/* Whether `minute` (0..1439, local time) falls in a "HH:MM-HH:MM, ..." list of windows (one that
 * ends before it starts runs past midnight): 1 or 0; -EINVAL with *bad at the faulty window. */
int config_in_windows(const char *spec, int minute, const char **bad);
const struct cfg_device *config_device(const struct ag_config *cfg, const char *id);
const struct cfg_circuit *config_circuit(const struct ag_config *cfg, const char *id);

#endif
