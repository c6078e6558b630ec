/* Charger health: states and their history; see health.h. The healing ladder and the silence
 * probe are in health-heal.c.
 *
 * Design decision: health reads the charger objects the proxy keeps (connector statuses,
 * transactions, the link) after every turn of the loop (a uv_check handle) instead of being
 * called by the proxy, so a change is stamped in the loop turn that received the frame and the
 * proxy knows nothing of health (it hears of a removed charger through proxy_subscribe). A short timer makes sure time-driven changes (silence, the
 * ladder's next step) are seen when no frame arrives. History rows carry wall-clock ms derived
 * from the monotonic clock (one offset taken at start), so durations are monotonic-exact. */
#include "edge/health/health-private.h"
#include "edge/daemon.h"
#include "edge/health/health-report.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each charger is looked at every TICK_MS, a fifth of them per call of the timer: at ten
 * thousand chargers a walk of all of them held the loop, and every frame waiting on it, for
 * milliseconds at a time. */
#define TICK_MS 200
#define TICK_SLICES 5
#define FLUSH_MS 5000                   /* health_alive is this fresh, at worst (a crash loses this much) */
#define PRUNE_MS (3600 * 1000)
#define CLOCK_STEP_MS 2000              /* a wall-clock change this large is a step, not drift */

static const char *const state_names[HS_N] = {
	[HS_AVAILABLE] = "available", [HS_CHARGING] = "charging",       [HS_OCCUPIED] = "occupied",
	[HS_FAULTED] = "faulted",     [HS_UNAVAILABLE] = "unavailable", [HS_SILENT] = "silent",
	[HS_OFFLINE] = "offline",
};

const char *health_state_name(enum health_state s)
{
	return (unsigned)s < HS_N ? state_names[s] : "unknown";
}

int health_state_parse(const char *name)
{
	for (int i = 0; i < HS_N; i++)
		if (name && strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

static bool is(const char *status, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(status, *set) == 0)
			return true;
	return false;
}

void health_connector_name(const struct charger *ch, int id, char *out, size_t size)
{
	if (ch->version == OCPP201 && id >= 100)
		snprintf(out, size, "EVSE %d connector %d", id / 100, id % 100);
	else if (ch->version == OCPP201 || id == 0)
		snprintf(out, size, "the station");
	else
		snprintf(out, size, "connector %d", id);
}

const char *health_fault_code(const struct connector *c)
{
	if (c->error_code[0] && strcmp(c->error_code, "NoError") != 0)
		return c->error_code;
	return c->vendor_error[0] ? c->vendor_error : "Faulted";
}

void health_fault_codes(const struct connector *c, char *out, size_t size)
{
	bool code = c->error_code[0] && strcmp(c->error_code, "NoError") != 0;

	snprintf(out, size, "%s%s%s%s", code ? c->error_code : "", c->vendor_error[0] && code ? ", " : "",
		 c->vendor_error[0] ? "vendor code " : "", c->vendor_error);
}

const struct connector *health_fault(const struct charger *ch)
{
	for (int i = 0; i < ch->n_connectors; i++) {
		const struct connector *c = &ch->connectors[i];
		if (!c->status[0])
			continue;
		if (strcmp(c->status, "Faulted") == 0 || c->problem ||
		    (c->error_code[0] && strcmp(c->error_code, "NoError") != 0))
			return c;
	}
	return NULL;
}

enum health_state health_classify(const struct charger *ch, enum charger_link link, char *detail, size_t size)
{
	static const char *const busy[] = { "Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied",
					    "Reserved", NULL };
	const struct connector *f;
	int unavailable = 0, known = 0;
	bool charging = false, occupied = charger_active_tx(ch) > 0;

	detail[0] = 0;
	if (link == LINK_OFFLINE)
		return HS_OFFLINE;
	if (link == LINK_SILENT)
		return HS_SILENT;
	if ((f = health_fault(ch))) {
		char where[40], codes[120];
		health_connector_name(ch, f->id, where, sizeof(where));
		health_fault_codes(f, codes, sizeof(codes));
		snprintf(detail, size, "%s: %s", where, codes[0] ? codes : "Faulted");
		return HS_FAULTED;
	}
	for (int i = 0; i < ch->n_connectors; i++) {
		const char *s = ch->connectors[i].status;
		if (!s[0])
			continue;
		known++;
		if (strcmp(s, "Unavailable") == 0) {
			unavailable++;
			if (ch->connectors[i].id == 0)
				return HS_UNAVAILABLE; /* 1.6 connector 0: the whole charge point */
		}
		charging |= strcmp(s, "Charging") == 0;
		occupied |= is(s, busy);
	}
	if (known && unavailable == known)
		return HS_UNAVAILABLE;
	/* 2.0.1 connectors say only Occupied; a running transaction is what charges. */
	if (charging || (ch->version == OCPP201 && charger_active_tx(ch) > 0))
		return HS_CHARGING;
	return occupied ? HS_OCCUPIED : HS_AVAILABLE;
}

int64_t health_wall_ms(const struct health *h, uint64_t mono_ms)
{
	return h->wall0 + (int64_t)(mono_ms - h->mono0);
}

int health_step(struct health *h, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_msg(LL_ERROR, "database: cannot %s: %s", what, sqlite3_errmsg(h->db));
		return -EIO;
	}
	return 0;
}

/* Note that ampgated ran until `now`: the open rows end there (or at their start, if later).
 * One row whatever the number of chargers or the history kept (migration 13). */
static void flush(struct health *h, uint64_t now)
{
	sqlite3_bind_int64(h->flush, 1, health_wall_ms(h, now));
	health_step(h, h->flush, "bring the health history up to date");
	h->flushed_ms = now;
}

/* Close every open row where ampgated was last known to run (health_alive): a crash's rows at
 * start, everything at a stop or a wall-clock step (after a flush). */
static void close_all(struct health *h)
{
	health_step(h, h->close_all, "close the open health rows");
}

/* Insert the open row of the charger's current state starting at wall-clock `t`. 0 or -EIO. */
static int open_row(struct health *h, const struct hc *hc, int64_t t)
{
	const struct connector *f = hc->state == HS_FAULTED ? health_fault(hc->ch) : NULL;

	sqlite3_bind_text(h->insert_row, 1, hc->ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(h->insert_row, 2, health_state_name(hc->state), -1, SQLITE_STATIC);
	if (hc->detail[0])
		sqlite3_bind_text(h->insert_row, 3, hc->detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(h->insert_row, 4, t);
	if (f)
		sqlite3_bind_text(h->insert_row, 5, health_fault_code(f), -1, SQLITE_TRANSIENT);
	return health_step(h, h->insert_row, "record a health state");
}

/* Close the charger's open row at `at` and open one for its new state, both or neither (a
 * savepoint), in the store's grouped commit (store_batch) rather than a transaction of their own:
 * a reconnect storm or a stop changes 1,000 chargers' states within a few turns of the loop, and
 * an fsync each kept the loop busy for seconds (SIGTERM seen late, the storm served slowly).
 * Nothing is acknowledged on the strength of a health row; the loop commits before it waits. */
static void record(struct health *h, struct hc *hc, enum health_state s, const char *detail, uint64_t at)
{
	int64_t t = health_wall_ms(h, at);

	if (hc->state != HS_N)
		log_msg(s == HS_FAULTED || s == HS_SILENT ? LL_NOTICE : LL_INFO, "charger %s: %s -> %s%s%s", hc->ch->id,
			health_state_name(hc->state), health_state_name(s), detail[0] ? " " : "", detail);
	hc->state = s;
	hc->since_ms = at;
	snprintf(hc->detail, sizeof(hc->detail), "%s", detail);
	if (store_batch(h->d->store) < 0 || store_exec(h->d->store, "SAVEPOINT health_record;") < 0)
		return;
	sqlite3_bind_int64(h->close_row, 1, t);
	sqlite3_bind_text(h->close_row, 2, hc->ch->id, -1, SQLITE_STATIC);
	if (health_step(h, h->close_row, "close a health row") < 0 || open_row(h, hc, t) < 0)
		store_exec(h->d->store, "ROLLBACK TO health_record;");
	store_exec(h->d->store, "RELEASE health_record;");
}

/* The wall clock was set (NTP after a boot without a real-time clock, an operator): every open
 * stretch ends on the old reckoning and goes on from the new one, so none spans the jump. */
static void follow_wall_clock(struct health *h, uint64_t now)
{
	int64_t real = wall_ms(), drift = real - health_wall_ms(h, now);

	if (drift > -CLOCK_STEP_MS && drift < CLOCK_STEP_MS)
		return;
	log_msg(LL_NOTICE, "health: the wall clock moved by %+.1f s; the history goes on from the new time",
		(double)drift / 1000.0);
	flush(h, now);
	store_commit(h->d->store);
	store_exec(h->d->store, "BEGIN IMMEDIATE;");
	close_all(h);
	h->wall0 = real;
	h->mono0 = now;
	for (size_t i = 0; i < h->n; i++) {
		if (h->hc[i].state == HS_N)
			continue;
		h->hc[i].since_ms = now;
		open_row(h, &h->hc[i], real);
	}
	flush(h, now); /* on the new reckoning: a step back must not stretch the new rows */
	store_exec(h->d->store, "COMMIT;");
}

/* Entries follow the proxy's charger array, which only grows (pending stations are appended). */
static void sync_chargers(struct health *h)
{
	struct proxy *p = h->d->proxy;

	if (!p || h->n == p->n_chargers)
		return;
	if (p->n_chargers > h->cap) {
		size_t cap = p->n_chargers + 16;
		struct hc *grown = realloc(h->hc, cap * sizeof(*grown));
		if (!grown)
			return;
		h->hc = grown;
		h->cap = cap;
	}
	for (; h->n < p->n_chargers; h->n++) {
		memset(&h->hc[h->n], 0, sizeof(h->hc[h->n]));
		h->hc[h->n].ch = p->chargers[h->n];
		h->hc[h->n].state = HS_N;
	}
}

struct hc *health_entry(struct health *h, const struct charger *ch)
{
	for (size_t i = 0; h && i < h->n; i++)
		if (h->hc[i].ch == ch)
			return &h->hc[i];
	return NULL;
}

void health_forget(struct ag_daemon *d, const struct charger *ch)
{
	struct health *h = d->health;
	struct hc *hc = health_entry(h, ch);

	if (!hc)
		return;
	size_t i = (size_t)(hc - h->hc);
	memmove(&h->hc[i], &h->hc[i + 1], (h->n - i - 1) * sizeof(*h->hc));
	h->n--;
}

enum health_state health_of(const struct ag_daemon *d, const struct charger *ch)
{
	const struct hc *hc = health_entry(d->health, ch);

	return hc && hc->state != HS_N ? hc->state : HS_OFFLINE;
}

json_t *health_json(struct ag_daemon *d, const struct charger *ch)
{
	struct health *h = d->health;
	const struct hc *hc = health_entry(h, ch);
	struct health_figures day, month;
	uint64_t now = now_ms();

	if (!hc || hc->state == HS_N)
		return json_pack("{s:s, s:n}", "state", "unknown", "detail");
	flush(h, now); /* the open stretch counts up to now */
	int64_t t = health_wall_ms(h, now);
	if (health_report_charger(h->db, ch->id, t - HEALTH_DAY_MS, t, &day) < 0 ||
	    health_report_charger(h->db, ch->id, t - 30 * HEALTH_DAY_MS, t, &month) < 0)
		return NULL;
	json_t *steps = health_steps_json(h->db, ch->id, t - 30 * HEALTH_DAY_MS, t, HEALTH_STEPS_SHOWN);
	if (!steps)
		return NULL;
	return json_pack("{s:s, s:s?, s:I, s:o, s:o, s:o, s:o}", "state", health_state_name(hc->state), "detail",
			 hc->detail[0] ? hc->detail : NULL, "since_ms", (json_int_t)health_wall_ms(h, hc->since_ms),
			 "healing", health_heal_json(hc), "last_24h", health_figures_json(&day), "last_30d",
			 health_figures_json(&month), "steps", steps);
}

static void prune(struct health *h, uint64_t now)
{
	int64_t keep = (int64_t)h->d->cfg->storage.retention_days * HEALTH_DAY_MS;

	sqlite3_bind_int64(h->prune_rows, 1, health_wall_ms(h, now) - keep);
	health_step(h, h->prune_rows, "prune the health history");
	sqlite3_bind_int64(h->prune_actions, 1, health_wall_ms(h, now) - keep);
	health_step(h, h->prune_actions, "prune the healing history");
	h->pruned_ms = now;
}

/* Whether anything a state depends on may have changed since the last scan: a frame from the
 * charger, a new or closed connection, a new call to it (a CSMS Reset must be seen while it is
 * in flight), its configuration (reload). Time-driven changes are left to the tick. */
static bool changed(struct hc *hc)
{
	const struct charger *ch = hc->ch;
	bool online = charger_online(ch);

	if (ch->rx_frames == hc->seen_rx_frames && ch->connected_ms == hc->seen_conn_ms &&
	    ch->to_charger.sent_ms == hc->seen_call_ms && online == hc->seen_online && ch->cfg == hc->seen_cfg)
		return false;
	hc->seen_rx_frames = ch->rx_frames;
	hc->seen_conn_ms = ch->connected_ms;
	hc->seen_call_ms = ch->to_charger.sent_ms;
	hc->seen_online = online;
	hc->seen_cfg = ch->cfg;
	return true;
}

/* One charger's state, recorded when it changed, and its healing ladder. The state is worked
 * out again only when `fresh` (changed() saw something) or the link's liveness moved (silent
 * is the one state time alone brings): at ten thousand chargers classifying each one five times
 * a second (string compares of every connector's status) was 12 % of the daemon's CPU. */
static void visit(struct health *h, struct hc *hc, bool fresh, uint64_t now)
{
	const struct ag_config *cfg = h->d->cfg;
	struct charger *ch = hc->ch;
	char detail[sizeof(h->hc[0].detail)];

	if (!ch->cfg) { /* a pending station is not the site's (or no longer: reload) */
		if (hc->state != HS_N) {
			sqlite3_bind_int64(h->close_row, 1, health_wall_ms(h, now));
			sqlite3_bind_text(h->close_row, 2, ch->id, -1, SQLITE_STATIC);
			health_step(h, h->close_row, "close a health row");
			hc->state = HS_N;
		}
		return;
	}
	enum charger_link link = charger_link(ch, now, cfg->health.silent_after_s);
	bool same = !fresh && hc->state != HS_N && link == hc->seen_link;
	hc->seen_link = link;
	if (!same)
		hc->faulted = health_fault(ch) != NULL;
	enum health_state s = same ? hc->state : health_classify(ch, link, detail, sizeof(detail));
	if (!same && (s != hc->state || strcmp(detail, hc->detail) != 0)) {
		uint64_t at = now;
		if (s == HS_SILENT) { /* it fell silent when the threshold ran out, not when seen */
			at = ch->last_rx_ms + charger_quiet_ms(ch, cfg->health.silent_after_s);
			if (at < hc->since_ms || at > now)
				at = now;
		}
		record(h, hc, s, detail, at);
	}
	health_heal(h, hc, link, now);
}

/* The entry of a charger the proxy marked: at the charger's own index while both arrays are in
 * step (they grow and shrink together), else looked up. */
static struct hc *entry_of(struct health *h, const struct charger *ch)
{
	if (ch->index < h->n && h->hc[ch->index].ch == ch)
		return &h->hc[ch->index];
	return health_entry(h, ch);
}

static void housekeeping(struct health *h, uint64_t now)
{
	if (now - h->flushed_ms >= FLUSH_MS)
		flush(h, now);
	if (now - h->pruned_ms >= PRUNE_MS)
		prune(h, now);
}

/* The chargers [from, to) of h->hc, synced with the proxy's by the caller. */
static void scan_range(struct health *h, size_t from, size_t to)
{
	uint64_t now = now_ms();

	follow_wall_clock(h, now);
	for (size_t i = from; i < to && i < h->n; i++)
		visit(h, &h->hc[i], changed(&h->hc[i]), now);
	housekeeping(h, now);
}

/* Every charger: at start (and in the unit tests). */
static void scan(struct health *h)
{
	sync_chargers(h);
	scan_range(h, 0, h->n);
}

/* The tick's slice: the next fifth of the chargers. */
static void scan_slice(struct health *h)
{
	size_t slice = h->tick_slice;

	sync_chargers(h);
	h->tick_slice = (slice + 1) % TICK_SLICES;
	scan_range(h, slice * h->n / TICK_SLICES, (slice + 1) * h->n / TICK_SLICES);
}

/* After any other turn of the loop, only the chargers the proxy marked as changed since (and
 * of those only the ones that did change), so a busy site does not pay a scan of every
 * charger per frame. */
static void scan_touched(struct health *h)
{
	struct proxy *p = h->d->proxy;
	uint64_t now;

	if (!p || !p->n_touched)
		return;
	now = now_ms();
	sync_chargers(h);
	for (size_t k = 0; k < p->n_touched; k++) {
		struct charger *ch = p->touched[k];
		struct hc *hc = entry_of(h, ch);
		ch->touched = false;
		if (hc && changed(hc))
			visit(h, hc, true, now);
	}
	p->n_touched = 0;
	housekeeping(h, now);
}

static void on_check(uv_check_t *c)
{
	scan_touched(c->data);
}

static void on_tick(uv_timer_t *t)
{
	scan_slice(t->data);
}

static int prepare(struct health *h, sqlite3_stmt **q, const char *sql)
{
	if (sqlite3_prepare_v2(h->db, sql, -1, q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: health: %s", sqlite3_errmsg(h->db));
		return -EIO;
	}
	return 0;
}

static void finalize_all(struct health *h)
{
	sqlite3_stmt **all[] = { &h->close_row,	   &h->insert_row, &h->flush,	   &h->close_all,  &h->prune_rows,
				 &h->prune_actions, &h->insert_action, &h->set_answer, &h->set_healed, &h->count_resets };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

static void health_on_proxy(void *arg, struct proxy *p, struct charger *ch, enum proxy_event ev, uint64_t now)
{
	struct health *h = arg;

	(void)p;
	(void)now;
	if (ev == PROXY_REMOVED)
		health_forget(h->d, ch);
}

int health_start(struct ag_daemon *d)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->d = d;
	h->db = store_db(d->store);
	h->wall0 = wall_ms();
	h->mono0 = now_ms();
	if (prepare(h, &h->close_row, "UPDATE health_states SET end_ms = ?1, open = 0 WHERE charger_id = ?2 AND open = 1") ||
	    prepare(h, &h->insert_row,
		    "INSERT INTO health_states (charger_id, state, detail, start_ms, end_ms, open, code) "
		    "VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5)") ||
	    prepare(h, &h->flush, "UPDATE health_alive SET alive_ms = ?1") ||
	    prepare(h, &h->close_all,
		    "UPDATE health_states SET end_ms = max(end_ms, (SELECT alive_ms FROM health_alive)), open = 0 "
		    "WHERE open = 1") ||
	    prepare(h, &h->prune_rows, "DELETE FROM health_states WHERE end_ms < ?1 AND open = 0") ||
	    prepare(h, &h->prune_actions, "DELETE FROM health_actions WHERE time_ms < ?1") ||
	    prepare(h, &h->insert_action,
		    "INSERT INTO health_actions (time_ms, charger_id, action, detail) VALUES (?1, ?2, ?3, ?4)") ||
	    prepare(h, &h->set_answer, "UPDATE health_actions SET answer = ?2 WHERE id = ?1") ||
	    prepare(h, &h->set_healed, "UPDATE health_actions SET healed = ?2 WHERE id = ?1") ||
	    prepare(h, &h->count_resets,
		    "SELECT count(*) FROM health_actions WHERE charger_id = ?1 AND time_ms > ?2 "
		    "AND action IN ('soft reset', 'hard reset')")) {
		finalize_all(h);
		free(h);
		return -EIO;
	}
	/* Rows a crash left open end at the last flush before it; then the alive time is this
	 * run's, so a clock set back since cannot stretch the rows opened now. */
	close_all(h);
	flush(h, h->mono0);
	d->health = h;
	uv_timer_init(&d->loop, &h->tick);
	uv_check_init(&d->loop, &h->check);
	h->tick.data = h->check.data = h;
	prune(h, h->mono0);
	scan(h);
	uv_timer_start(&h->tick, on_tick, TICK_MS / TICK_SLICES, TICK_MS / TICK_SLICES);
	uv_check_start(&h->check, on_check);
	if (d->proxy)
		proxy_subscribe(d->proxy, health_on_proxy, h);
	return 0;
}

static void on_closed(uv_handle_t *handle)
{
	struct health *h = handle->data;

	if (--h->open_handles == 0) {
		free(h->hc);
		free(h);
	}
}

void health_stop(struct ag_daemon *d)
{
	struct health *h = d->health;
	uint64_t now = now_ms();

	if (!h)
		return;
	if (d->proxy)
		proxy_unsubscribe(d->proxy, health_on_proxy, h);
	flush(h, now);
	close_all(h);
	finalize_all(h);
	uv_timer_stop(&h->tick);
	uv_check_stop(&h->check);
	h->open_handles = 2;
	uv_close((uv_handle_t *)&h->tick, on_closed);
	uv_close((uv_handle_t *)&h->check, on_closed);
	d->health = NULL;
}

