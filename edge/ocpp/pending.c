/* Stations a site manager accepts or rejects; see pending.h.
 *
 * The one rule: a decision is a row in `stations`, written (and committed: autocommit) before the
 * station's state changes, so no crash can let a rejected station in or forget an accepted one.
 * Stations still waiting live only in memory (they are what connected since the start), and at
 * most PENDING_MAX of them, so a flood of made-up ids costs neither disk nor much memory.
 *
 * The password suggested for an accepted station's own entry never reaches the disk: the
 * database keeps its hash, and the words stay in memory for PENDING_SHOW_S after the acceptance,
 * for a manager to copy from the page (a restart forgets them; the lines then carry the hash). */
#include "edge/ocpp/pending.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/ocpp-upstream.h"
#include "edge/core/passwd.h"
#include "edge/ocpp/proxy.h"
#include "edge/core/store.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

enum decision { DEC_NONE, DEC_ACCEPTED, DEC_REJECTED };

#define PENDING_SHOW_S 900      /* a suggested password stays on the page this long after acceptance */

/* Suggested passwords still on show (the database keeps only their hash). */
static struct shown_password {
	char id[64];
	char password[21];
	uint64_t until_ms;
} shown[PENDING_MAX];

static bool is_hash(const char *stored)
{
	return strncmp(stored, "$pbkdf2-", 8) == 0;
}

/* The suggested password of station `id` still on show, or NULL. */
static const char *on_show(const char *id, uint64_t now)
{
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct shown_password *sp = &shown[i];
		if (sp->id[0] && sp->until_ms <= now)
			OPENSSL_cleanse(sp, sizeof(*sp));
		else if (sp->id[0] && strcmp(sp->id, id) == 0)
			return sp->password;
	}
	return NULL;
}

/* Keep `password`, just suggested for station `id`, on show for a while. */
static void show_for_a_while(const char *id, const char *password)
{
	struct shown_password *slot = &shown[0];

	for (size_t i = 0; i < PENDING_MAX; i++) /* a free slot, else the one leaving the page first */
		if (!shown[i].id[0] || shown[i].until_ms < slot->until_ms)
			slot = &shown[i];
	snprintf(slot->id, sizeof(slot->id), "%s", id);
	snprintf(slot->password, sizeof(slot->password), "%s", password);
	slot->until_ms = now_ms() + PENDING_SHOW_S * 1000ull;
}

const struct cfg_charger *pending_default_cfg(struct charger *ch, const struct ag_config *cfg)
{
	ch->accepted_cfg = (struct cfg_charger){
		.id = ch->id, .circuit = (char *)"grid", .phases = 3, .rotation = (char *)"L1L2L3",
		.min_a = 6.0, .max_a = cfg->ocpp.unknown_max_a, .priority = 1,
	};
	return &ch->accepted_cfg;
}

static bool accepted_unlisted(const struct charger *ch)
{
	return ch->cfg == &ch->accepted_cfg;
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *q, int col)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* The stored decision on `id` (who made it into `by`), or -EIO. */
static int decision_of(struct proxy *p, const char *id, char *by, size_t by_size)
{
	sqlite3_stmt *q;
	int d = DEC_NONE;

	if (sqlite3_prepare_v2(store_db(p->d->store), "SELECT decision, decided_by FROM stations WHERE id = ?1", -1, &q,
			       NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		const unsigned char *dec = sqlite3_column_text(q, 0);
		d = dec && strcmp((const char *)dec, "accepted") == 0 ? DEC_ACCEPTED : DEC_REJECTED;
		copy_col(by, by_size, q, 1);
	}
	sqlite3_finalize(q);
	return d;
}

/* A password to suggest for the station's own entry: 20 letters and digits. */
static void new_password(char out[21])
{
	static const char set[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char raw[20];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		memset(raw, 0, sizeof(raw)); /* never seen; the manager is told to choose one anyway */
	for (size_t i = 0; i < sizeof(raw); i++)
		out[i] = set[raw[i] % (sizeof(set) - 1)];
	out[20] = '\0';
}

/* The decision on `ch`, with the hash of the password suggested for its own entry (NULL: none). */
static int save(struct proxy *p, const struct charger *ch, const char *decision, const char *who, const char *password)
{
	sqlite3 *db = store_db(p->d->store);
	sqlite3_stmt *q;
	char hash[PASSWD_HASH_MAX + 1] = "";
	int rc;

	if (password && passwd_hash(password, PASSWD_ITER_CHARGER, hash, sizeof(hash)) < 0)
		hash[0] = '\0'; /* no suggestion then: the manager chooses the password */
	if (sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO stations (id, decision, vendor, model, serial, firmware, address,"
			       " first_seen_ms, decided_ms, decided_by, new_password) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
			       " ?8, ?9, ?10, ?11)",
			       -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: station %s: decision not stored: %s", ch->id, sqlite3_errmsg(db));
		return -EIO;
	}
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, decision, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, ch->vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, ch->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, ch->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, ch->firmware, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, ch->peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 8, ch->first_seen_ms);
	sqlite3_bind_int64(q, 9, wall_ms());
	sqlite3_bind_text(q, 10, who, -1, SQLITE_STATIC);
	if (hash[0])
		sqlite3_bind_text(q, 11, hash, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 11);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	if (rc < 0)
		log_msg(LL_ERROR, "database: station %s: decision not stored: %s", ch->id, sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return rc;
}

int pending_load(struct proxy *p)
{
	const struct ag_config *cfg = p->d->cfg;
	sqlite3_stmt *q;
	size_t n = 0;
	int rc = 0;

	if (sqlite3_prepare_v2(store_db(p->d->store),
			       "SELECT id, vendor, model, serial, firmware, address, first_seen_ms, decided_by FROM stations"
			       " WHERE decision = 'accepted' ORDER BY decided_ms",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(q, 0);
		struct charger *ch;

		if (config_charger(cfg, id)) {
			log_msg(LL_INFO, "charger %s: accepted earlier by a site manager and now in chargers; that entry applies",
				id);
			continue;
		}
		if (!(ch = proxy_add(p, id, NULL))) {
			rc = -ENOMEM;
			break;
		}
		ch->cfg = pending_default_cfg(ch, cfg);
		ch->pending = false;
		copy_col(ch->vendor, sizeof(ch->vendor), q, 1);
		copy_col(ch->model, sizeof(ch->model), q, 2);
		copy_col(ch->serial, sizeof(ch->serial), q, 3);
		copy_col(ch->firmware, sizeof(ch->firmware), q, 4);
		copy_col(ch->peer, sizeof(ch->peer), q, 5);
		ch->first_seen_ms = sqlite3_column_int64(q, 6);
		n++;
	}
	sqlite3_finalize(q);
	if (n)
		log_msg(LL_WARN, "%zu station(s) accepted by a site manager have no entry in chargers: they connect "
				 "without a password (the chargers page shows the lines to add)", n);
	return rc;
}

/* Room for one more waiting station: forget the one waiting longest that is not connected. */
static int make_room(struct proxy *p)
{
	struct charger *oldest = NULL;
	size_t waiting = 0;

	for (size_t i = 0; i < p->n_chargers; i++) {
		struct charger *ch = p->chargers[i];
		if (!ch->pending)
			continue;
		waiting++;
		if (!charger_online(ch) && (!oldest || ch->first_seen_ms < oldest->first_seen_ms))
			oldest = ch;
	}
	if (waiting < PENDING_MAX)
		return 0;
	if (!oldest)
		return -ENOSPC;
	log_msg(LL_INFO, "charger %s: forgotten as a pending station (offline, and %d others wait)", oldest->id,
		PENDING_MAX);
	proxy_del(p, oldest);
	return 0;
}

int pending_admit(struct proxy *p, const char *id, const char *peer, const char **why)
{
	const struct ag_config *cfg = p->d->cfg;
	char by[80] = "";
	int dec = decision_of(p, id, by, sizeof(by));

	if (dec < 0) {
		log_msg(LL_ERROR, "charger %s (%s) refused: the database cannot be read", id, peer);
		*why = "the edge cannot read its database; try again later\n";
		return 503;
	}
	if (dec == DEC_REJECTED) {
		log_msg(LL_WARN, "charger %s (%s) refused: a site manager (%s) rejected this station; add it to chargers "
				 "in the configuration to let it in",
			id, peer, by);
		*why = "station rejected by the site manager\n";
		return 403;
	}
	if (dec == DEC_ACCEPTED) {
		if (cfg->ocpp.security_profile != 2)
			return 0;
		log_msg(LL_WARN, "charger %s (%s) refused: accepted by %s, but it has no password and "
				 "ocpp.security_profile 2 needs one; add its entry to chargers with a password",
			id, peer, by);
		*why = "authorization required\n";
		return 401;
	}
	if (!cfg->ocpp.allow_unknown) {
		log_msg(LL_WARN, "charger %s (%s) refused: unknown station id (add it to chargers in the configuration, or "
				 "set ocpp.allow_unknown to hold unknown stations as pending)",
			id, peer);
		*why = "unknown station\n";
		return 401;
	}
	if (proxy_find(p, id) || make_room(p) == 0)
		return 0;
	log_msg(LL_WARN, "charger %s (%s) refused: %d unknown stations already wait for a site manager; accept or reject "
			 "them on the chargers page",
		id, peer, PENDING_MAX);
	*why = "too many stations wait for acceptance\n";
	return 503;
}

void pending_seen(struct charger *ch, const char *peer)
{
	if (strncmp(peer, "::ffff:", 7) == 0 && strchr(peer, '.'))
		peer += 7; /* IPv4 on a v6 socket: the address the installer knows */
	snprintf(ch->peer, sizeof(ch->peer), "%s", peer);
	if (!ch->first_seen_ms && (ch->pending || accepted_unlisted(ch)))
		ch->first_seen_ms = wall_ms();
}

static void on_trigger(struct charger *ch, const char *action, const json_t *request, const json_t *result,
		       const char *error)
{
	const char *status = json_string_value(json_object_get(result, "status"));

	(void)action;
	(void)request;
	if (status && strcmp(status, "Accepted") == 0)
		log_msg(LL_INFO, "charger %s: boots again now that it is accepted", ch->id);
	else
		log_msg(LL_NOTICE, "charger %s: did not agree to boot again at once (%s); it is accepted at its next "
				   "BootNotification", ch->id, status ? status : error ? error : "no answer");
}

static const char *or_unknown(const char *s)
{
	return s[0] ? s : "?";
}

int pending_accept(struct proxy *p, const char *id, const char *who)
{
	struct charger *ch = proxy_find(p, id);
	int rc;

	char pw[21];

	if (!ch || !ch->pending)
		return -ENOENT;
	new_password(pw);
	if ((rc = save(p, ch, "accepted", who, pw)) < 0)
		return rc;
	show_for_a_while(ch->id, pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	ch->cfg = pending_default_cfg(ch, p->d->cfg);
	ch->pending = false;
	store_event(p->d->store, LL_NOTICE, "charger.accepted", ch->id,
		    "new station accepted by %s (%s %s, serial %s, from %s): it charges at 6 to %.0f A on the grid "
		    "connection and reaches the CSMS; it has no password until it gets its own entry in chargers",
		    who, or_unknown(ch->vendor), or_unknown(ch->model), or_unknown(ch->serial), or_unknown(ch->peer),
		    ch->accepted_cfg.max_a);
	if (charger_online(ch)) {
		if (p->upstream_host[0])
			ocpp_upstream_connect(p, ch);
		/* Its next BootNotification is answered Accepted (by the CSMS, or by the edge without
		 * one); ask for it now rather than at the end of the Pending interval. */
		proxy_edge_call(p, ch, "TriggerMessage", json_pack("{s:s}", "requestedMessage", "BootNotification"),
				on_trigger);
	}
	proxy_emit(p, ch, PROXY_ACCEPTED);
	return 0;
}

int pending_reject(struct proxy *p, const char *id, const char *who)
{
	struct charger *ch = proxy_find(p, id);
	int rc;

	if (!ch || !ch->pending)
		return -ENOENT;
	if ((rc = save(p, ch, "rejected", who, NULL)) < 0)
		return rc;
	store_event(p->d->store, LL_NOTICE, "charger.rejected", ch->id,
		    "unknown station rejected by %s (%s %s, serial %s, from %s): disconnected, and refused whenever it "
		    "connects again; an entry in chargers would let it in",
		    who, or_unknown(ch->vendor), or_unknown(ch->model), or_unknown(ch->serial), or_unknown(ch->peer));
	proxy_del(p, ch); /* the site solves again on PROXY_REMOVED */
	return 0;
}

static json_t *station_json(struct proxy *p, const struct charger *ch)
{
	enum charger_link link = charger_link(ch, now_ms(), p->d->cfg->health.silent_after_s);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:b}", "id", ch->id, "vendor", ch->vendor,
			 "model", ch->model, "serial", ch->serial, "firmware", ch->firmware, "address", ch->peer,
			 "protocol", ch->version == OCPP201 ? "ocpp2.0.1" : "ocpp1.6", "first_seen_ms",
			 (json_int_t)ch->first_seen_ms, "link", charger_link_name(link), "booted", ch->vendor[0] != 0);
}

/* The credential part of the entry for station `id`, from the hash the database holds: the
 * password itself for a manager while it is on show, else its hash; nothing for a viewer. */
static void credential(const char *id, const char *stored, bool manager, char *out, size_t size)
{
	const char *plain = NULL;

	out[0] = '\0';
	if (!stored || !is_hash(stored) || !manager)
		return;
	plain = on_show(id, now_ms());
	if (plain)
		snprintf(out, size, " password = \"%s\";", plain);
	else
		snprintf(out, size, " password_hash = \"%s\";", stored);
}

/* The entry to paste into `chargers`: the default wiring the station runs on now, and its
 * credential where the security profile asks for one. */
static json_t *config_lines(struct proxy *p, const struct charger *ch, const char *stored, bool manager)
{
	const struct cfg_charger *c = &ch->accepted_cfg;
	int profile = p->d->cfg->ocpp.security_profile;
	char pw[PASSWD_HASH_MAX + 32] = "", text[512];

	if (profile == 1 || profile == 2)
		credential(ch->id, stored, manager, pw, sizeof(pw));
	snprintf(text, sizeof(text),
		 "{ id = \"%s\"; circuit = \"%s\"; phases = %d; rotation = \"%s\"; min_a = %.1f; max_a = %.1f; "
		 "priority = %d;%s },",
		 ch->id, c->circuit, c->phases, c->rotation, c->min_a, c->max_a, c->priority, pw);
	return json_string(text);
}

json_t *pending_json(struct proxy *p, bool manager)
{
	json_t *waiting = json_array(), *accepted = json_array();
	sqlite3_stmt *q = NULL;

	for (size_t i = 0; p && i < p->n_chargers; i++)
		if (p->chargers[i]->pending)
			json_array_append_new(waiting, station_json(p, p->chargers[i]));
	if (p && sqlite3_prepare_v2(store_db(p->d->store),
				    "SELECT id, decided_by, decided_ms, new_password FROM stations WHERE decision = 'accepted'"
				    " ORDER BY decided_ms",
				    -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			struct charger *ch = proxy_find(p, (const char *)sqlite3_column_text(q, 0));
			if (!ch || !accepted_unlisted(ch))
				continue;
			json_t *o = station_json(p, ch);
			json_object_set_new(o, "accepted_by", json_string((const char *)sqlite3_column_text(q, 1)));
			json_object_set_new(o, "accepted_ms", json_integer(sqlite3_column_int64(q, 2)));
			json_object_set_new(o, "config", config_lines(p, ch, (const char *)sqlite3_column_text(q, 3), manager));
			json_array_append_new(accepted, o);
		}
	}
	sqlite3_finalize(q);
	return json_pack("{s:o, s:o, s:i, s:b}", "pending", waiting, "accepted", accepted, "security_profile",
			 p ? p->d->cfg->ocpp.security_profile : 0, "allow_unknown", p && p->d->cfg->ocpp.allow_unknown);
}
