/* The daemon context: the one event loop (libuv, with libwebsockets on it as a foreign loop),
 * the loaded configuration, the store, and the modules that hang off them.
 *
 * Modules start in the fixed order of the table in daemon.c and stop in reverse. All of them run
 * on the loop thread; nothing here is shared with other threads except through uv_async. */
#ifndef AG_DAEMON_H
#define AG_DAEMON_H

#include "edge/core/clock.h" /* now_ms/wall_ms, for the files that took them from here */
#include "edge/core/config.h"
#include "edge/devices/devices.h"
#include "edge/core/store.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct ag_daemon {
	uv_loop_t loop;
	struct lws_context *lws;
	struct lws_context *lws_closing;  /* destroyed once more after the loop drains */
	struct ag_config *cfg;          /* current configuration; replaced whole on reload */
	struct store *store;
	struct devices *devices;        /* Modbus devices: latest readings, stale flags, hooks */
	struct proxy *proxy;
	struct charger_setup *setup;    /* what the edge asked of each charger on this connection */
	struct site *site;
	struct energy *energy;          /* battery dispatch (energy.c) */
	struct health *health;          /* charger health and remote healing */
	struct mqtt *mqtt;
	struct proxy *proxy_closing;    /* freed once the loop has closed its handles */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t watchdog, stop_guard;
	uv_prepare_t store_commit;      /* commits the store's batch before the loop waits */
	size_t started;                 /* modules started, for reverse-order stop */
	bool stopping;
	int exit_code;
};

/* The allocator settings the daemon runs with (daemon_start sets them; a bench that times the
 * daemon's code calls this first so it measures the same). */
void daemon_tune_memory(void);
/* Take ownership of `cfg`, open the store, start every module. 0 or -errno (logged). */
int daemon_start(struct ag_daemon *d, struct ag_config *cfg);
/* Run the loop until daemon_stop; then free everything. Returns the exit code. */
int daemon_run(struct ag_daemon *d);
/* Ask the loop to stop (from the loop thread). Idempotent. */
void daemon_stop(struct ag_daemon *d, int exit_code);
/* Re-read the configuration file; keep the old one (and log why) if the new one is invalid. */
void daemon_reload(struct ag_daemon *d);

#endif
