/* The device layer: one worker thread per Modbus bus, readings handed to the loop thread.
 *
 * Design decisions:
 * - A bus is a TCP endpoint (host:port, possibly a gateway with several unit ids) or a serial
 *   device; its worker owns its modbus_t and polls its devices in turn, each at its poll_ms.
 *   Simulated devices (driver sim) share one bus with no connection.
 * - Results go back through a mailbox of one slot per device under the bus mutex, plus
 *   uv_async_send: a newer result replaces an unread one, so a slow loop never makes a queue
 *   grow and a worker never waits for the loop. Workers touch nothing else of the daemon.
 * - Stopping: the stop flag is set under the mutex (after which the worker never touches the
 *   async handle), a TCP socket is shut down to cut a pending read short, and the join waits
 *   a bounded time. A worker still inside a serial read past that is detached; the bus is
 *   reference-counted, so whichever side finishes last frees it.
 * - Log lines and staleness are decided on the loop thread, where the state is, and only on
 *   transitions, so a dead meter logs once, not every poll. */
#include "edge/devices/devices.h"
#include "edge/core/clock.h"
#include "edge/core/log.h"
#include "edge/devices/modbus-io.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_SUBS 8
#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 30000
#define JOIN_WAIT_MS 1000

/* A worker's result for one device, handed over in its mailbox slot. */
struct mail {
	bool full;
	bool ok;
	struct device_reading r;
	char desc[160];                 /* set when a probe just succeeded */
	int sp_result;                  /* 1 + outcome of a setpoint, 0: none */
};

struct bus_dev {
	struct cfg_device cfg;          /* the worker's own copy */
	struct drv_dev drv;
	size_t index;                   /* in devices->devs */
	/* worker only */
	bool probed;
	uint64_t next_poll_ms;
	struct device_reading last;
	/* under bus->mu */
	bool sp_pending;
	struct device_setpoint sp;
	struct mail mail;
};

struct bus {
	atomic_int refs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started;
	/* under mu */
	bool stop;
	int fd;                         /* TCP socket, for shutdown on stop; -1 */
	uv_async_t *wake;               /* NULL once stopping */
	/* set before the thread starts, then the worker's */
	char name[300];
	struct modbus_addr addr;
	bool no_link;                   /* sim devices */
	int timeout_ms;
	struct bus_dev *devs;
	size_t n_devs;
};

/* Loop-side state of one device. */
struct dev_entry {
	char id[64];
	enum device_role role;
	const struct driver_ops *ops;
	struct bus *bus;
	size_t slot;                    /* in bus->devs */
	struct modbus_addr addr;
	int unit;
	struct device_reading latest;
	int last_err;                   /* logged error, 0 none */
	bool stale;
	char desc[160];
};

struct sub {
	devices_cb cb;
	void *arg;
};

struct devices {
	uv_loop_t *loop;
	uv_async_t wake;
	uv_timer_t stale_timer;
	int stale_ms;
	struct dev_entry *devs;
	size_t n_devs;
	struct bus **buses;
	size_t n_buses;
	struct sub subs[MAX_SUBS];
	int closing;                    /* handles still closing in devices_free */
	uint64_t started_ms;            /* never-answered devices are reported after stale_ms */
};

/* ---- configuration copies ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void cfg_copy_free(struct cfg_device *c)
{
	free(c->id);
	free(c->driver);
	free(c->role);
	free(c->modbus);
	for (size_t i = 0; i < c->n_registers; i++) {
		free(c->registers[i].name);
		free(c->registers[i].function);
		free(c->registers[i].type);
		free(c->registers[i].word_order);
		free(c->registers[i].unit);
		free(c->registers[i].positive);
	}
	free(c->registers);
	memset(c, 0, sizeof(*c));
}

static int cfg_copy(struct cfg_device *dst, const struct cfg_device *src)
{
	*dst = *src;
	dst->id = dup_or_null(src->id);
	dst->driver = dup_or_null(src->driver);
	dst->role = dup_or_null(src->role);
	dst->modbus = dup_or_null(src->modbus);
	dst->registers = src->n_registers ? calloc(src->n_registers, sizeof(*dst->registers)) : NULL;
	if (!dst->id || !dst->driver || !dst->role || !dst->modbus || (src->n_registers && !dst->registers)) {
		dst->n_registers = 0;
		cfg_copy_free(dst);
		return -ENOMEM;
	}
	for (size_t i = 0; i < src->n_registers; i++) {
		const struct cfg_register *s = &src->registers[i];
		struct cfg_register *d = &dst->registers[i];
		*d = *s;
		d->name = dup_or_null(s->name);
		d->function = dup_or_null(s->function);
		d->type = dup_or_null(s->type);
		d->word_order = dup_or_null(s->word_order);
		d->unit = dup_or_null(s->unit);
		d->positive = dup_or_null(s->positive);
	}
	return 0;
}

/* ---- the worker ---- */

static void bus_unref(struct bus *b)
{
	if (atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	for (size_t i = 0; i < b->n_devs; i++) {
		drv_dev_fini(&b->devs[i].drv);
		cfg_copy_free(&b->devs[i].cfg);
	}
	free(b->devs);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

/* Wait on the bus condition until `until_ms` (monotonic) or a wake-up. Called with mu held. */
static void bus_wait(struct bus *b, uint64_t until_ms)
{
	struct timespec ts = { .tv_sec = (time_t)(until_ms / 1000), .tv_nsec = (long)(until_ms % 1000) * 1000000L };

	pthread_cond_timedwait(&b->cv, &b->mu, &ts);
}

/* Put a result in the device's slot and wake the loop. Called with mu held. */
static void post(struct bus *b, struct bus_dev *bd, const struct mail *m)
{
	if (b->stop || !b->wake)
		return;
	bd->mail = *m;
	bd->mail.full = true;
	uv_async_send(b->wake);
}

static void post_failure(struct bus *b, struct bus_dev *bd, int err)
{
	struct mail m = { .ok = false };

	reading_clear(&m.r);
	m.r.err = err;
	m.r.quality = RQ_FAILED;
	bd->probed = false;
	post(b, bd, &m);
}

/* One poll (and a probe first when needed), outside the mutex. */
static void poll_one(struct bus *b, struct bus_dev *bd, const struct reg_io *io, struct mail *m)
{
	uint64_t t = now_ms();
	int rc = 0;

	reading_clear(&m->r);
	m->ok = false;
	m->desc[0] = '\0';
	if (!bd->probed) {
		rc = bd->drv.ops->probe ? bd->drv.ops->probe(&bd->drv, io, t) : 0;
		if (rc == 0) {
			bd->probed = true;
			bd->drv.ops->describe(&bd->drv, m->desc, sizeof(m->desc));
		}
	}
	if (rc == 0)
		rc = bd->drv.ops->poll(&bd->drv, io, now_ms(), &m->r);
	if (rc < 0) {
		bd->probed = false;
		m->r.err = rc;
		m->r.quality = RQ_FAILED;
		return;
	}
	m->ok = true;
	m->r.at_ms = now_ms();
	/* A meter's values always move a little (voltage, energy); identical values mean a frozen
	 * meter or gateway cache. Batteries and PV may legitimately sit still. */
	bool meter = bd->drv.role == ROLE_GRID_METER || bd->drv.role == ROLE_SUBMETER;
	if (meter && bd->last.at_ms && reading_same_values(&bd->last, &m->r))
		m->r.changed_ms = bd->last.changed_ms;
	else
		m->r.changed_ms = m->r.at_ms;
	bd->last = m->r;
	(void)b;
}

static void apply_setpoint(struct bus_dev *bd, const struct reg_io *io, const struct device_setpoint *sp,
			   struct mail *m)
{
	int rc = bd->drv.ops->write_setpoint && bd->probed ? bd->drv.ops->write_setpoint(&bd->drv, io, sp) : -ENOTSUP;

	m->sp_result = 1 + (rc < 0 ? -rc : 0);
}

static struct bus_dev *next_due(struct bus *b)
{
	struct bus_dev *best = NULL;

	for (size_t i = 0; i < b->n_devs; i++) {
		if (b->devs[i].sp_pending)
			return &b->devs[i];     /* a setpoint waits for no poll period */
		if (!best || b->devs[i].next_poll_ms < best->next_poll_ms)
			best = &b->devs[i];
	}
	return best;
}

static void *bus_main(void *arg)
{
	struct bus *b = arg;
	struct mbio mio = { .timeout_ms = b->timeout_ms };
	struct reg_io io = { 0 };
	bool connected = b->no_link;
	uint64_t next_connect = 0;
	int backoff_ms = RECONNECT_MIN_MS;
	int consecutive_fail = 0;

	mbio_reg_io(&mio, &io);
	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		uint64_t t = now_ms();
		if (!connected) {
			if (t < next_connect) {
				bus_wait(b, next_connect);
				continue;
			}
			pthread_mutex_unlock(&b->mu);
			if (!mio.mb)
				mio.mb = mbio_new(&b->addr, b->timeout_ms);
			int rc = mio.mb ? mbio_connect(mio.mb) : -(errno ? errno : ENOMEM);
			pthread_mutex_lock(&b->mu);
			if (rc < 0) {
				for (size_t i = 0; i < b->n_devs; i++)
					post_failure(b, &b->devs[i], rc);
				next_connect = now_ms() + (uint64_t)backoff_ms;
				backoff_ms = backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff_ms * 2;
				continue;
			}
			connected = true;
			consecutive_fail = 0;
			if (!b->addr.rtu)
				b->fd = modbus_get_socket(mio.mb);
			for (size_t i = 0; i < b->n_devs; i++)
				b->devs[i].next_poll_ms = now_ms();
		}
		struct bus_dev *bd = next_due(b);
		if (bd->next_poll_ms > t && !bd->sp_pending) {
			bus_wait(b, bd->next_poll_ms);
			continue;
		}
		struct device_setpoint sp = bd->sp;
		bool do_sp = bd->sp_pending;
		bd->sp_pending = false;
		pthread_mutex_unlock(&b->mu);

		struct mail m = { 0 };
		mio.unit = bd->cfg.unit;
		poll_one(b, bd, &io, &m);
		if (do_sp)
			apply_setpoint(bd, &io, &sp, &m);
		bd->next_poll_ms += (uint64_t)bd->cfg.poll_ms;
		if (bd->next_poll_ms < now_ms())
			bd->next_poll_ms = now_ms() + (uint64_t)bd->cfg.poll_ms;

		pthread_mutex_lock(&b->mu);
		post(b, bd, &m);
		consecutive_fail = m.ok ? 0 : consecutive_fail + 1;
		/* Reconnect when the link broke, or when every device of a TCP endpoint keeps failing
		 * (a half-open connection looks exactly like that). */
		if (!b->no_link && !m.ok &&
		    (mbio_err_is_link(m.r.err) || (!b->addr.rtu && consecutive_fail >= 2 * (int)b->n_devs + 1))) {
			b->fd = -1;
			pthread_mutex_unlock(&b->mu);
			modbus_close(mio.mb);
			pthread_mutex_lock(&b->mu);
			connected = false;
			next_connect = now_ms() + (uint64_t)backoff_ms;
		} else if (m.ok) {
			backoff_ms = RECONNECT_MIN_MS;
		}
	}
	b->fd = -1;
	pthread_mutex_unlock(&b->mu);
	if (mio.mb) {
		modbus_close(mio.mb);
		modbus_free(mio.mb);
	}
	bus_unref(b);
	return NULL;
}

/* ---- loop side ---- */

static void notify(struct devices *ds, struct dev_entry *e, enum devices_event ev)
{
	for (size_t i = 0; i < MAX_SUBS; i++)
		if (ds->subs[i].cb)
			ds->subs[i].cb(ds->subs[i].arg, e->id, ev, &e->latest);
}

static void log_failure(struct dev_entry *e, int err)
{
	char addr[300], hint[400];

	mbio_addr_format(&e->addr, addr, sizeof(addr));
	mbio_hint(err, &e->addr, e->unit, hint, sizeof(hint));
	log_msg(LL_WARN, "device %s (%s at %s, unit %d): %s; %s", e->id, e->ops->name, addr, e->unit,
		mbio_strerror(err), hint);
}

static void take_mail(struct devices *ds, struct dev_entry *e, const struct mail *m)
{
	if (m->desc[0] && strcmp(m->desc, e->desc) != 0) {
		snprintf(e->desc, sizeof(e->desc), "%s", m->desc);
		log_msg(LL_NOTICE, "device %s: found %s", e->id, e->desc);
	}
	if (m->sp_result) {
		int err = m->sp_result - 1;
		if (err)
			log_msg(LL_WARN, "device %s: setpoint not applied: %s", e->id, mbio_strerror(-err));
		else
			log_msg(LL_DEBUG, "device %s: setpoint applied", e->id);
	}
	if (m->ok) {
		if (e->last_err || e->latest.at_ms == 0) {
			/* The installer's confirmation, in the journal: it answered, and this is what it read. */
			char seen[240];
			reading_format(&m->r, e->role, seen, sizeof(seen));
			log_msg(LL_NOTICE, "device %s %s: %s%s", e->id, e->last_err ? "answers again" : "answered", seen,
				m->r.quality == RQ_PARTIAL ? " (some quantities not implemented)" : "");
		}
		e->last_err = 0;
		e->latest = m->r;
		if (e->stale && !devices_stale(ds, e->id, now_ms())) {
			e->stale = false;
			log_msg(LL_NOTICE, "device %s: readings are fresh again", e->id);
		}
		notify(ds, e, DEV_EV_READING);
		return;
	}
	if (m->r.err != e->last_err)
		log_failure(e, m->r.err);
	e->last_err = m->r.err;
	e->latest.err = m->r.err;
	if (e->latest.quality != RQ_NONE)
		e->latest.quality = RQ_FAILED;
	notify(ds, e, DEV_EV_FAILED);
}

static void on_wake(uv_async_t *h)
{
	struct devices *ds = h->data;

	for (size_t i = 0; i < ds->n_devs; i++) {
		struct dev_entry *e = &ds->devs[i];
		struct bus_dev *bd = &e->bus->devs[e->slot];
		struct mail m;
		pthread_mutex_lock(&e->bus->mu);
		m = bd->mail;
		bd->mail.full = false;
		pthread_mutex_unlock(&e->bus->mu);
		if (m.full)
			take_mail(ds, e, &m);
	}
}

static void on_stale_timer(uv_timer_t *t)
{
	struct devices *ds = t->data;
	uint64_t now = now_ms();

	for (size_t i = 0; i < ds->n_devs; i++) {
		struct dev_entry *e = &ds->devs[i];
		if (e->stale || !devices_stale(ds, e->id, now) ||
		    (!e->latest.at_ms && now < ds->started_ms + (uint64_t)ds->stale_ms))
			continue;
		e->stale = true;
		if (!e->latest.at_ms)
			log_msg(LL_WARN, "device %s has not answered since start; treating it as unknown", e->id);
		else if (e->latest.changed_ms + (uint64_t)ds->stale_ms < now &&
		    e->latest.at_ms + (uint64_t)ds->stale_ms >= now)
			log_msg(LL_WARN, "device %s: values have not changed for %d ms (frozen meter or gateway?); "
				"treating them as stale", e->id, ds->stale_ms);
		else
			log_msg(LL_WARN, "device %s: no fresh reading for %d ms; treating it as unknown", e->id, ds->stale_ms);
		notify(ds, e, DEV_EV_STALE);
	}
}

static struct dev_entry *find(const struct devices *ds, const char *id)
{
	for (size_t i = 0; i < ds->n_devs; i++)
		if (strcmp(ds->devs[i].id, id) == 0)
			return &ds->devs[i];
	return NULL;
}

/* The bus a device belongs to: same TCP endpoint, same serial device, or the sim bus. */
static void bus_name(const struct cfg_device *c, const struct modbus_addr *a, char *buf, size_t len)
{
	if (driver_find(c->driver)->options & DRV_NO_BUS)
		snprintf(buf, len, "sim");
	else if (a->rtu)
		snprintf(buf, len, "rtu:%s", a->device);
	else
		snprintf(buf, len, "tcp:%s:%d", a->host, a->port);
}

static struct bus *bus_get(struct devices *ds, const char *name, const struct modbus_addr *a, bool no_link)
{
	struct bus *b;

	for (size_t i = 0; i < ds->n_buses; i++)
		if (strcmp(ds->buses[i]->name, name) == 0)
			return ds->buses[i];
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	struct bus **nb = realloc(ds->buses, (ds->n_buses + 1) * sizeof(*nb));
	if (!nb) {
		free(b);
		return NULL;
	}
	ds->buses = nb;
	ds->buses[ds->n_buses++] = b;
	atomic_init(&b->refs, 1);
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->addr = *a;
	b->no_link = no_link;
	b->fd = -1;
	b->wake = &ds->wake;
	return b;
}

static int add_device(struct devices *ds, const struct cfg_device *c)
{
	struct dev_entry *e = &ds->devs[ds->n_devs];
	struct modbus_addr a;
	char name[300], err[256];
	struct bus *b;
	int rc;

	if (driver_check_config(c, err, sizeof(err), NULL) < 0) {
		log_msg(LL_ERROR, "device %s: %s", c->id, err);
		return -EINVAL;
	}
	if (modbus_addr_parse(c->modbus, &a) < 0) {
		log_msg(LL_ERROR, "device %s: bad modbus address \"%s\"", c->id, c->modbus);
		return -EINVAL;
	}
	bus_name(c, &a, name, sizeof(name));
	if (!(b = bus_get(ds, name, &a, driver_find(c->driver)->options & DRV_NO_BUS)))
		return -ENOMEM;
	if (a.rtu && (a.baud != b->addr.baud || a.parity != b->addr.parity))
		log_msg(LL_WARN, "device %s: %s is shared with another device at %d %c; using that line setting",
			c->id, a.device, b->addr.baud, b->addr.parity);
	struct bus_dev *nd = realloc(b->devs, (b->n_devs + 1) * sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	b->devs = nd;
	struct bus_dev *bd = &b->devs[b->n_devs];
	memset(bd, 0, sizeof(*bd));
	if ((rc = cfg_copy(&bd->cfg, c)) < 0)
		return rc;
	b->n_devs++;
	/* drv_dev_init keeps a pointer to bd->cfg: bind after every realloc of b->devs (below). */
	bd->index = ds->n_devs;
	if (c->timeout_ms > b->timeout_ms)
		b->timeout_ms = c->timeout_ms;
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", c->id);
	e->role = (enum device_role)role_parse(c->role);
	e->ops = driver_find(c->driver);
	e->bus = b;
	e->slot = b->n_devs - 1;
	e->addr = a;
	e->unit = c->unit;
	reading_clear(&e->latest);
	ds->n_devs++;
	return 0;
}

static int start_buses(struct devices *ds, const struct ag_config *cfg)
{
	int rc;

	ds->devs = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof(*ds->devs));
	if (!ds->devs)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_devices; i++)
		if ((rc = add_device(ds, &cfg->devices[i])) < 0)
			return rc;
	for (size_t i = 0; i < ds->n_buses; i++) {
		struct bus *b = ds->buses[i];
		for (size_t j = 0; j < b->n_devs; j++)
			if ((rc = drv_dev_init(&b->devs[j].drv, &b->devs[j].cfg)) < 0) {
				log_msg(LL_ERROR, "device %s: driver %s cannot start: %s", b->devs[j].cfg.id,
					b->devs[j].cfg.driver, strerror(-rc));
				return rc;
			}
	}
	for (size_t i = 0; i < ds->n_buses; i++) {
		struct bus *b = ds->buses[i];
		atomic_fetch_add(&b->refs, 1);          /* the worker's reference */
		if ((rc = pthread_create(&b->thread, NULL, bus_main, b)) != 0) {
			atomic_fetch_sub(&b->refs, 1);
			log_msg(LL_ERROR, "Modbus bus %s: cannot start its thread: %s", b->name, strerror(rc));
			return -rc;
		}
		b->started = true;
		log_msg(LL_INFO, "Modbus bus %s: %zu device(s), polling", b->name, b->n_devs);
	}
	return 0;
}

static void stop_buses(struct devices *ds)
{
	uint64_t deadline;
	int max_timeout = 0;

	for (size_t i = 0; i < ds->n_buses; i++) {
		struct bus *b = ds->buses[i];
		pthread_mutex_lock(&b->mu);
		b->stop = true;
		b->wake = NULL;
		if (b->fd >= 0)
			shutdown(b->fd, SHUT_RDWR);     /* cut a pending TCP read short */
		pthread_cond_signal(&b->cv);
		pthread_mutex_unlock(&b->mu);
		if (b->timeout_ms > max_timeout)
			max_timeout = b->timeout_ms;
	}
	deadline = now_ms() + (uint64_t)(max_timeout + 100 < JOIN_WAIT_MS ? max_timeout + 100 : JOIN_WAIT_MS);
	for (size_t i = 0; i < ds->n_buses; i++) {
		struct bus *b = ds->buses[i];
		if (b->started) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);     /* pthread_timedjoin_np takes CLOCK_REALTIME */
			uint64_t left = deadline > now_ms() ? deadline - now_ms() : 0;
			ts.tv_sec += (time_t)(left / 1000);
			ts.tv_nsec += (long)(left % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(b->thread, NULL, &ts) != 0) {
				log_msg(LL_WARN, "Modbus bus %s: still inside a Modbus call; leaving it to finish on its own",
					b->name);
				pthread_detach(b->thread);
			}
		}
		bus_unref(b);
	}
	free(ds->buses);
	ds->buses = NULL;
	ds->n_buses = 0;
}

static void free_devs(struct devices *ds)
{
	free(ds->devs);
	ds->devs = NULL;
	ds->n_devs = 0;
}

struct devices *devices_new(uv_loop_t *loop, const struct ag_config *cfg)
{
	struct devices *ds = calloc(1, sizeof(*ds));
	int rc;

	if (!ds)
		return NULL;
	ds->loop = loop;
	ds->stale_ms = cfg->site.meter_stale_ms;
	ds->started_ms = now_ms();
	uv_async_init(loop, &ds->wake, on_wake);
	ds->wake.data = ds;
	uv_timer_init(loop, &ds->stale_timer);
	ds->stale_timer.data = ds;
	if ((rc = start_buses(ds, cfg)) < 0) {
		devices_free(ds);
		errno = -rc;
		return NULL;
	}
	uint64_t period = (uint64_t)(ds->stale_ms / 10 < 100 ? 100 : ds->stale_ms / 10);
	uv_timer_start(&ds->stale_timer, on_stale_timer, period, period);
	return ds;
}

static void free_on_close(uv_handle_t *h)
{
	struct devices *ds = h->data;

	if (--ds->closing == 0)
		free(ds);
}

void devices_free(struct devices *ds)
{
	if (!ds)
		return;
	stop_buses(ds);
	free_devs(ds);
	uv_timer_stop(&ds->stale_timer);
	ds->closing = 2;
	uv_close((uv_handle_t *)&ds->wake, free_on_close);
	uv_close((uv_handle_t *)&ds->stale_timer, free_on_close);
}

static bool same_device(const struct cfg_device *a, const struct cfg_device *b)
{
	if (strcmp(a->id, b->id) || strcmp(a->driver, b->driver) || strcmp(a->role, b->role) ||
	    strcmp(a->modbus, b->modbus) || a->unit != b->unit || a->poll_ms != b->poll_ms ||
	    a->timeout_ms != b->timeout_ms || a->base != b->base || a->n_registers != b->n_registers)
		return false;
	for (size_t i = 0; i < a->n_registers; i++) {
		const struct cfg_register *x = &a->registers[i], *y = &b->registers[i];
		if (strcmp(x->name, y->name) || x->address != y->address || strcmp(x->function, y->function) ||
		    strcmp(x->type, y->type) || strcmp(x->word_order, y->word_order) || x->scale != y->scale)
			return false;
	}
	return true;
}

int devices_reload_check(const struct ag_config *cfg)
{
	for (size_t i = 0; i < cfg->n_devices; i++) {
		char err[256];
		if (driver_check_config(&cfg->devices[i], err, sizeof(err), NULL) < 0) {
			log_msg(LL_ERROR, "device %s: %s", cfg->devices[i].id, err);
			return -EINVAL;
		}
	}
	return 0;
}

void devices_reload(struct devices *ds, const struct ag_config *cfg)
{
	bool same = cfg->n_devices == ds->n_devs;
	struct dev_entry *old;
	size_t n_old;
	int rc;

	ds->stale_ms = cfg->site.meter_stale_ms;
	for (size_t i = 0; same && i < ds->n_buses; i++)
		for (size_t j = 0; same && j < ds->buses[i]->n_devs; j++) {
			const struct bus_dev *bd = &ds->buses[i]->devs[j];
			same = bd->index < cfg->n_devices && same_device(&bd->cfg, &cfg->devices[bd->index]);
		}
	if (same)
		return;
	log_msg(LL_NOTICE, "devices changed; restarting the Modbus buses");
	stop_buses(ds);
	old = ds->devs;
	n_old = ds->n_devs;
	ds->devs = NULL;
	ds->n_devs = 0;
	ds->started_ms = now_ms();
	rc = start_buses(ds, cfg);
	for (size_t i = 0; i < ds->n_devs; i++)
		for (size_t j = 0; j < n_old; j++)
			if (strcmp(ds->devs[i].id, old[j].id) == 0) {
				ds->devs[i].latest = old[j].latest;
				ds->devs[i].stale = old[j].stale;
			}
	free(old);
	if (rc < 0)
		log_msg(LL_ERROR, "devices: the Modbus buses did not all restart (%s); their meters read stale until "
				  "the configuration is fixed and reloaded", strerror(-rc));
}

const struct device_reading *devices_latest(const struct devices *ds, const char *id)
{
	const struct dev_entry *e = find(ds, id);

	return e ? &e->latest : NULL;
}

bool devices_stale(const struct devices *ds, const char *id, uint64_t now)
{
	const struct dev_entry *e = find(ds, id);
	uint64_t age_ms = (uint64_t)ds->stale_ms;

	if (!e || e->latest.at_ms == 0)
		return true;
	if (now > e->latest.at_ms + age_ms)
		return true;
	return (e->role == ROLE_GRID_METER || e->role == ROLE_SUBMETER) && now > e->latest.changed_ms + age_ms;
}

const char *devices_describe(const struct devices *ds, const char *id)
{
	const struct dev_entry *e = find(ds, id);

	return e ? e->desc : NULL;
}

int devices_subscribe(struct devices *ds, devices_cb cb, void *arg)
{
	for (size_t i = 0; i < MAX_SUBS; i++)
		if (!ds->subs[i].cb) {
			ds->subs[i] = (struct sub){ cb, arg };
			return 0;
		}
	return -ENOSPC;
}

void devices_unsubscribe(struct devices *ds, devices_cb cb, void *arg)
{
	for (size_t i = 0; i < MAX_SUBS; i++)
		if (ds->subs[i].cb == cb && ds->subs[i].arg == arg)
			ds->subs[i] = (struct sub){ NULL, NULL };
}

int devices_set(struct devices *ds, const char *id, const struct device_setpoint *sp)
{
	struct dev_entry *e = find(ds, id);
	struct bus_dev *bd;

	if (!e)
		return -ENOENT;
	bd = &e->bus->devs[e->slot];
	if (e->role != ROLE_BATTERY || !driver_can_control(&bd->cfg))
		return -ENOTSUP;
	pthread_mutex_lock(&e->bus->mu);
	bd->sp = *sp;
	bd->sp_pending = true;
	pthread_cond_signal(&e->bus->cv);
	pthread_mutex_unlock(&e->bus->mu);
	return 0;
}

size_t devices_count(const struct devices *ds)
{
	return ds->n_devs;
}

const char *devices_id(const struct devices *ds, size_t i)
{
	return i < ds->n_devs ? ds->devs[i].id : NULL;
}
