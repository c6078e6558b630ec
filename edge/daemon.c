/* Daemon lifecycle: start modules in order, run the loop, reload on SIGHUP, stop on
 * SIGTERM/SIGINT within 2 s, and keep systemd informed (READY, WATCHDOG from the loop itself,
 * so a hung loop is restarted, STATUS, RELOADING, STOPPING). */
#include "edge/daemon.h"
#include "edge/site/charger-setup.h"
#include "edge/site/energy.h"
#include "edge/health/health.h"
#include "edge/core/log.h"
#include "edge/core/lws-loop.h"
#include "edge/mqtt/mqtt.h"
#include "edge/site/profiles.h"
#include "edge/ocpp/proxy.h"
#include "edge/site/site.h"
#include "edge/web/web.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

/* A module of the daemon. start/stop run in table order / reverse order. A start that fails
 * part-way leaves what it made reachable from `d`: the daemon stops that module too, so every
 * stop must be safe on a module's partial state (and on none at all).
 *
 * A reload is two passes over the started modules: every `check` is offered the new
 * configuration while the old one still runs, and may refuse it (-errno) but changes nothing;
 * only when all have accepted does every `apply` run, which cannot fail and may keep pointers
 * into the new configuration. `d->cfg` is still the old one during both passes. */
struct module {
	const char *name;
	int (*start)(struct ag_daemon *d);
	void (*stop)(struct ag_daemon *d);
	int (*check)(struct ag_daemon *d, const struct ag_config *new_cfg);
	void (*apply)(struct ag_daemon *d, const struct ag_config *new_cfg);
};

/* Test hook (AMPGATE_TEST_SLOW_COMMIT_MS): the loop's commit of a batch waits this long first,
 * as on a slow disk, so a test can see whether an answer left before what it acknowledges was on
 * disk (tests/integration/durable-answers.test.js). 0: off. */
static unsigned slow_commit_ms;

static void on_store_commit(uv_prepare_t *h)
{
	struct ag_daemon *d = h->data;

	if (!d->store)
		return;
	if (slow_commit_ms && store_uncommitted(d->store))
		uv_sleep(slow_commit_ms);
	int rc = store_commit(d->store);
	/* Answers held until what they confirm is on disk (proxy.c hold_answer) go out now. */
	if (d->proxy)
		proxy_store_committed(d->proxy, rc == 0);
}

static int store_start(struct ag_daemon *d)
{
	const char *slow = getenv("AMPGATE_TEST_SLOW_COMMIT_MS");

	slow_commit_ms = slow ? (unsigned)strtoul(slow, NULL, 10) : 0;
	/* The handle first: store_stop closes it whether or not the database opened. */
	uv_prepare_init(&d->loop, &d->store_commit);
	d->store_commit.data = d;
	d->store = store_open(d->cfg->storage.path);
	if (!d->store)
		return -errno;
	uv_prepare_start(&d->store_commit, on_store_commit);
	return 0;
}

static void store_stop(struct ag_daemon *d)
{
	uv_prepare_stop(&d->store_commit);
	uv_close((uv_handle_t *)&d->store_commit, NULL);
	store_close(d->store);
	d->store = NULL;
}

static void store_apply(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	if (strcmp(d->cfg->storage.path, new_cfg->storage.path) != 0)
		log_msg(LL_WARN, "config: storage.path changed to %s; it takes effect at the next restart",
			new_cfg->storage.path);
}

static int lws_start(struct ag_daemon *d)
{
	/* Vhosts (OCPP, web) are created by their modules; the context only brings the loop. */
	d->lws = lws_loop_context(&d->loop, d);
	if (!d->lws) {
		log_msg(LL_ERROR, "cannot create the libwebsockets context (libuv event-lib plugin missing?)");
		return -ENOMEM;
	}
	return 0;
}

static void lws_stop(struct ag_daemon *d)
{
	if (d->lws)
		lws_context_destroy(d->lws);
	d->lws_closing = d->lws;
	d->lws = NULL;
}

static int devices_start(struct ag_daemon *d)
{
	d->devices = devices_new(&d->loop, d->cfg);
	return d->devices ? 0 : -errno;
}

static void devices_stop(struct ag_daemon *d)
{
	devices_free(d->devices);
	d->devices = NULL;
}

static int devices_check_module(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	(void)d;
	return devices_reload_check(new_cfg);
}

static void devices_apply_module(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	devices_reload(d->devices, new_cfg);
}

/* Test hooks, compiled in and inert unless the variable is set: the integration tests make one
 * named module refuse a reload or fail its start, to show that nothing is left half-done. */
static bool test_hook(const char *var, const char *module)
{
	const char *v = getenv(var);

	return v && strcmp(v, module) == 0;
}

static const struct module modules[] = {
	{ .name = "store", .start = store_start, .stop = store_stop, .apply = store_apply },
	{ .name = "lws", .start = lws_start, .stop = lws_stop },
	{ .name = "devices", .start = devices_start, .stop = devices_stop, .check = devices_check_module,
	  .apply = devices_apply_module },
	{ .name = "proxy", .start = proxy_start, .stop = proxy_stop, .apply = proxy_reload_apply },
	{ .name = "profiles", .start = profiles_start, .stop = profiles_stop },
	{ .name = "setup", .start = charger_setup_start, .stop = charger_setup_stop },
	{ .name = "energy", .start = energy_start, .stop = energy_stop },
	{ .name = "site", .start = site_start, .stop = site_stop, .check = site_reload_check, .apply = site_reload_apply },
	{ .name = "health", .start = health_start, .stop = health_stop },
	{ .name = "mqtt", .start = mqtt_start, .stop = mqtt_stop, .apply = mqtt_reload_apply },
	{ .name = "web", .start = web_start, .stop = web_stop, .apply = web_reload_apply },
};
#define N_MODULES (sizeof(modules) / sizeof(modules[0]))

static void notify_status(struct ag_daemon *d)
{
	sd_notifyf(0, "STATUS=site %s: %zu chargers, %zu devices configured", d->cfg->site.name, d->cfg->n_chargers,
		   d->cfg->n_devices);
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct ag_daemon *d = h->data;

	if (signum == SIGHUP) {
		daemon_reload(d);
		return;
	}
	log_msg(LL_NOTICE, "received %s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	daemon_stop(d, 0);
}

static void on_stop_guard(uv_timer_t *t)
{
	log_msg(LL_WARN, "shutdown is taking too long; leaving the loop");
	uv_stop(t->loop);
}

/* glibc hands freed memory back to the kernel once 128 KB lie free at the top of a heap, and maps
 * each block above a moving threshold on its own: a plan (GLPK builds and frees its LP every
 * minute) then page-faults its memory back in each time. At 100 EVs the page faults, the trims
 * and malloc were a quarter of the plan's time (perf: pvm_irq_enable in the fault path 12.7 %,
 * systrim 5 %); kept, a plan took 7.0 ms instead of 9.7. The daemon's memory is steady, so what
 * it freed stays for the next plan or burst of frames: at most TRIM_KEEP above what it uses. */
#define TRIM_KEEP (32u << 20)
#define MMAP_ABOVE (16u << 20)
void daemon_tune_memory(void)
{
	mallopt(M_TRIM_THRESHOLD, TRIM_KEEP);
	mallopt(M_MMAP_THRESHOLD, MMAP_ABOVE);
}

int daemon_start(struct ag_daemon *d, struct ag_config *cfg)
{
	uint64_t wd_usec = 0;
	int rc;

	daemon_tune_memory();
	d->cfg = cfg;
	if ((rc = uv_loop_init(&d->loop)) < 0) {
		log_msg(LL_ERROR, "event loop: %s", uv_strerror(rc));
		return rc;
	}
	uv_signal_t *sigs[] = { &d->sig_term, &d->sig_int, &d->sig_hup };
	const int signums[] = { SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < 3; i++) {
		uv_signal_init(&d->loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], on_signal, signums[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	uv_timer_init(&d->loop, &d->watchdog);
	uv_timer_init(&d->loop, &d->stop_guard);
	for (d->started = 0; d->started < N_MODULES; d->started++) {
		const struct module *m = &modules[d->started];
		rc = m->start(d);
		if (rc == 0 && test_hook("AMPGATE_TEST_FAIL_START", m->name))
			rc = -EIO;
		if (rc < 0) {
			log_msg(LL_ERROR, "cannot start %s: %s; stopping what was started", m->name, strerror(-rc));
			d->started++; /* its partial state is stopped too (daemon_stop) */
			return rc;
		}
	}
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
		uv_timer_start(&d->watchdog, on_watchdog, wd_usec / 2000, wd_usec / 2000);
	store_event(d->store, LL_NOTICE, "start", NULL, "ampgated %s started on site %s (%zu chargers, %zu devices)",
		    AG_VERSION, cfg->site.name, cfg->n_chargers, cfg->n_devices);
	sd_notify(0, "READY=1");
	notify_status(d);
	return 0;
}

void daemon_stop(struct ag_daemon *d, int exit_code)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = exit_code;
	sd_notify(0, "STOPPING=1");
	if (d->store)
		store_event(d->store, LL_NOTICE, "stop", NULL, "ampgated stopping");
	while (d->started > 0) {
		const struct module *m = &modules[--d->started];
		if (m->stop)
			m->stop(d);
	}
	uv_timer_stop(&d->watchdog);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	/* The guard keeps the promise of stopping within 2 s even if a peer hangs a close. */
	uv_timer_start(&d->stop_guard, on_stop_guard, 1500, 0);
	uv_unref((uv_handle_t *)&d->stop_guard);
}

static struct ag_config *load_for_reload(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);
	struct ag_config *cfg;

	if (!errs)
		return NULL;
	cfg = config_load(path, errs);
	fclose(errs);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		log_msg(cfg ? LL_WARN : LL_ERROR, "config: %s", line);
	free(buf);
	return cfg;
}

void daemon_reload(struct ag_daemon *d)
{
	struct ag_config *next;

	sd_notify(0, "RELOADING=1");
	log_msg(LL_NOTICE, "reloading %s", d->cfg->file);
	next = load_for_reload(d->cfg->file);
	if (!next) {
		store_event(d->store, LL_ERROR, "config", NULL,
			    "reload of %s failed; still running on the previous configuration (fix the file, "
			    "check it with ampgated --check, then reload again)",
			    d->cfg->file);
		sd_notify(0, "READY=1");
		return;
	}
	/* Check, then apply: no module may repoint to `next` before all have accepted it. */
	for (size_t i = 0; i < d->started; i++) {
		int rc = modules[i].check ? modules[i].check(d, next) : 0;
		if (rc == 0 && test_hook("AMPGATE_TEST_REFUSE_RELOAD", modules[i].name))
			rc = -EPERM;
		if (rc < 0) {
			store_event(d->store, LL_ERROR, "config", NULL,
				    "reload refused by %s (%s); still running on the previous configuration",
				    modules[i].name, strerror(-rc));
			config_free(next);
			sd_notify(0, "READY=1");
			return;
		}
	}
	config_log_diff(d->cfg, next);
	for (size_t i = 0; i < d->started; i++)
		if (modules[i].apply)
			modules[i].apply(d, next);
	config_free(d->cfg);
	d->cfg = next;
	store_event(d->store, LL_NOTICE, "config", NULL, "configuration reloaded from %s", next->file);
	sd_notify(0, "READY=1");
	notify_status(d);
}

int daemon_run(struct ag_daemon *d)
{
	if (!d->stopping)
		uv_run(&d->loop, UV_RUN_DEFAULT);
	else
		uv_run(&d->loop, UV_RUN_NOWAIT);
	/* Modules closed their handles in daemon_stop; let the close callbacks run. */
	uv_close((uv_handle_t *)&d->stop_guard, NULL);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	/* libwebsockets 4.1 on a foreign loop: the first destroy (in lws_stop) only starts closing;
	 * this second one, with the loop drained, frees the context. */
	if (d->lws_closing)
		lws_context_destroy(d->lws_closing);
	d->lws_closing = NULL;
	free(d->proxy_closing);
	d->proxy_closing = NULL;
	if (uv_loop_close(&d->loop) == UV_EBUSY)
		log_msg(LL_DEBUG, "event loop closed with handles still open");
	config_free(d->cfg);
	d->cfg = NULL;
	return d->exit_code;
}
