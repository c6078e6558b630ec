/* `ampgate-sim chargers`: a fleet of simulated charging stations in one process, one libuv
 * loop with libwebsockets on it as a foreign loop. The fleet owns the stations, the clock tick
 * that drives them, EV arrivals, the per-phase draw output, the periodic summary and the final
 * report. */
#ifndef AG_SIM_FLEET_H
#define AG_SIM_FLEET_H

#include "edge/core/net-addr.h"
#include "tools/sim/stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum proto_choice { PROTO_16, PROTO_201, PROTO_MIX };

/* Scenario options, fixed once the fleet starts. */
struct fleet_opts {
	struct ws_url url;
	const char *url_text;
	int count;
	enum proto_choice proto;
	const char *id_template;        /* printf with the 1-based station number */
	const char *password_template;  /* printf with the number; NULL: password file or none */
	const char *password_file;      /* one password per line, line i for station i */
	uint64_t seed;
	double arrivals_per_hour;       /* across the fleet */
	double ev_at_start;             /* fraction of stations with an EV plugged in at start */
	double dwell_s;                 /* mean plug-in time */
	int meter_interval_s;
	int reaction_delay_ms;
	int duration_s;                 /* 0 = until SIGINT/SIGTERM */
	int silent, refuse_profiles, malformed;  /* how many stations play each part */
	int silent_after_s;             /* after boot */
	int connect_rate;               /* new connections per second */
	int tick_ms;                    /* the stations' clock step (default 50) */
	int warmup_s;                   /* latency samples before this are dropped */
	int call_timeout_s;
	int summary_s;
	double voltage_v;
	double station_max_a;           /* the station's own rating per phase */
	const char *report_json;
	const char *draw_out;
	const char *tx_log;             /* one line per transaction message acknowledged */
	bool quiet;
};

struct fleet;

/* Parse the `chargers` arguments (argv[0] is "chargers"). 0; 1 after --help; 2 after printing
 * usage for a mistake. */
int fleet_parse_args(int argc, char **argv, struct fleet_opts *o);
/* Expand a template with one %d / %0Nd (and %% for %) for station number `n`.
 * 0, -EINVAL (bad template) or -ENAMETOOLONG. */
int sim_template_expand(const char *tmpl, int n, char *buf, size_t size);
/* Run the scenario to its end; returns the process exit code. */
int fleet_run(const struct fleet_opts *o);

/* For the stations. */
const struct fleet_opts *fleet_opts(const struct fleet *f);
struct stats *fleet_stats(struct fleet *f);
/* True once the fleet is shutting down (links closing are expected then). */
bool fleet_stopping(const struct fleet *f);
/* A transaction message (ocpp_tx_key) was acknowledged with a CALLRESULT: one line
 * "<station id>\t<key>" in --tx-log, to compare with what the CSMS received. */
void fleet_tx_acked(struct fleet *f, const char *station_id, const char *key);
/* A station finished its first successful boot. */
void fleet_note_booted(struct fleet *f);

#endif
