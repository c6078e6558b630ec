/* Offline authorization; see auth-cache.h.
 *
 * Key design decision: the list and the cache live only in SQLite and are read when the edge
 * must answer (rare: the CSMS is away), never held in memory. So there is nothing to load at
 * start, a restart keeps everything, and a thousand chargers' lists cost no RAM. Tokens are
 * keyed by their text (2.0.1: idToken.idToken, whatever its type), per charger. */
#include "edge/ocpp/auth-cache.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/ocpp/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

/* AuthorizationStatus values per version: an answer is always one of these. */
static const char *const status16[] = { "Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx", NULL };
static const char *const status201[] = { "Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit",
					 "NotAllowedTypeEVSE", "NotAtThisLocation", "NotAtThisTime", "Unknown", NULL };

static const char *valid_status(enum ocpp_version v, const char *s)
{
	for (const char *const *w = v == OCPP16 ? status16 : status201; *w; w++)
		if (strcmp(*w, s) == 0)
			return *w;
	return NULL;
}

static const char *refusal(enum ocpp_version v)
{
	return v == OCPP16 ? "Invalid" : "Unknown";
}

enum auth_policy auth_policy_of(const char *word)
{
	if (word && strcmp(word, "all") == 0)
		return AUTH_ALL;
	if (word && strcmp(word, "none") == 0)
		return AUTH_NONE;
	return AUTH_KNOWN;
}

struct auth_verdict auth_decide(enum auth_policy policy, enum ocpp_version v, const struct auth_known *list,
				const struct auth_known *cache, int64_t now_wall_ms)
{
	struct auth_verdict r = { .status = refusal(v) };
	const struct auth_known *k = NULL;

	if (policy == AUTH_NONE)
		return r;
	if (list && list->found) {
		k = list;
		r.source = "local list";
	} else if (cache && cache->found && cache->expiry_ms > now_wall_ms) {
		k = cache;
		r.source = "cache";
	}
	if (!k) {
		if (policy == AUTH_ALL) {
			r.status = "Accepted";
			r.unknown_accepted = true;
		}
		return r;
	}
	const char *s = valid_status(v, k->status);
	if (!s)
		return r; /* a status of the other version: not something to accept on */
	if (strcmp(s, "Accepted") == 0 && k == list && list->expiry_ms && list->expiry_ms <= now_wall_ms)
		s = "Expired";
	r.status = s;
	return r;
}

/* ---- the tables ---- */

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		log_msg(LL_ERROR, "database: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return q;
}

/* Step a statement with no rows and finalize it. */
static int run(sqlite3 *db, sqlite3_stmt *q, const char *what)
{
	int rc = q ? sqlite3_step(q) : SQLITE_ERROR;

	if (q && rc != SQLITE_DONE)
		log_msg(LL_ERROR, "database: cannot %s: %s", what, sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int64_t time_of(const json_t *v)
{
	int64_t ms = 0;

	if (json_is_string(v) && ocpp_time_parse(json_string_value(v), &ms) < 0)
		ms = 0;
	return ms;
}

static const char *token_of(enum ocpp_version v, const json_t *entry)
{
	return v == OCPP16 ? json_string_value(json_object_get(entry, "idTag"))
			   : json_string_value(json_object_get(json_object_get(entry, "idToken"), "idToken"));
}

static const json_t *info_of(enum ocpp_version v, const json_t *msg)
{
	return json_object_get(msg, v == OCPP16 ? "idTagInfo" : "idTokenInfo");
}

static int64_t info_expiry(enum ocpp_version v, const json_t *info)
{
	return time_of(json_object_get(info, v == OCPP16 ? "expiryDate" : "cacheExpiryDateTime"));
}

int auth_list_apply(struct store *st, const char *charger, enum ocpp_version v, const json_t *request,
		    int64_t now_wall_ms)
{
	const json_t *version = json_object_get(request, v == OCPP16 ? "listVersion" : "versionNumber");
	const char *type = json_string_value(json_object_get(request, "updateType"));
	const json_t *entries = json_object_get(request, "localAuthorizationList");
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	size_t i;
	json_t *e;
	int rc = 0;

	if (!json_is_integer(version) || !type || (strcmp(type, "Full") != 0 && strcmp(type, "Differential") != 0))
		return -EINVAL;
	if (store_exec(st, "BEGIN IMMEDIATE;") < 0)
		return -EIO;
	if (strcmp(type, "Full") == 0) {
		q = prepare(db, "DELETE FROM auth_list WHERE charger_id = ?1");
		if (q)
			sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
		rc = run(db, q, "replace the local list");
	}
	json_array_foreach(entries, i, e)
	{
		const char *token = token_of(v, e), *status = json_string_value(json_object_get(info_of(v, e), "status"));
		if (rc < 0 || !token)
			continue;
		q = prepare(db, status ? "INSERT OR REPLACE INTO auth_list (charger_id, id_token, status, expiry_ms) "
					 "VALUES (?1, ?2, ?3, nullif(?4, 0))"
				       : "DELETE FROM auth_list WHERE charger_id = ?1 AND id_token = ?2");
		if (q) {
			sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, token, -1, SQLITE_STATIC);
			if (status) {
				sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
				sqlite3_bind_int64(q, 4, info_expiry(v, info_of(v, e)));
			}
		}
		rc = run(db, q, "update the local list");
	}
	if (rc == 0) {
		q = prepare(db, "INSERT OR REPLACE INTO auth_list_version (charger_id, version, updated_ms) VALUES (?1, ?2, ?3)");
		if (q) {
			sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 2, json_integer_value(version));
			sqlite3_bind_int64(q, 3, now_wall_ms);
		}
		rc = run(db, q, "record the local list version");
	}
	if (store_exec(st, rc == 0 ? "COMMIT;" : "ROLLBACK;") < 0)
		return -EIO;
	return rc;
}

int64_t auth_list_version(struct store *st, const char *charger)
{
	sqlite3_stmt *q = prepare(store_db(st), "SELECT version FROM auth_list_version WHERE charger_id = ?1");
	int64_t version = -1;

	if (!q)
		return -1;
	sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return version;
}

static int lookup_one(sqlite3 *db, const char *sql, const char *charger, const char *token, struct auth_known *out);

int auth_cache_put(struct store *st, const char *charger, const char *token, const char *status, int64_t expiry_ms,
		   int64_t now_wall_ms, int cache_days)
{
	int64_t until = now_wall_ms + cache_days * DAY_MS;
	sqlite3 *db;
	sqlite3_stmt *q;

	struct auth_known had;

	if (cache_days <= 0 || strcmp(status, "ConcurrentTx") == 0)
		return 0; /* no cache; or a state of the moment, not of the token */
	/* In the store's grouped commit: a reconnect storm is 1,000 StartTransactions, and an fsync
	 * each (before the answer was passed on) kept the loop busy for a second. A cache entry
	 * lost to a crash is only a verdict to learn again. */
	if (!(db = store_batch_db(st)))
		return -EIO;
	if (expiry_ms > 0 && expiry_ms < until)
		until = expiry_ms;
	/* A card used all day is answered the same each time: a read instead of a write (and its
	 * fsync) when the entry would move by less than an hour. */
	if (lookup_one(db, "SELECT status, expiry_ms FROM auth_cache WHERE charger_id = ?1 AND id_token = ?2", charger,
		       token, &had) == 0 &&
	    had.found && strcmp(had.status, status) == 0 && llabs(had.expiry_ms - until) < 3600 * 1000)
		return 0;
	/* Lapsed entries go as new ones come, so the table holds what counts and no more. */
	q = prepare(db, "DELETE FROM auth_cache WHERE charger_id = ?1 AND expiry_ms <= ?2");
	if (q) {
		sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, now_wall_ms);
	}
	run(db, q, "prune the id token cache");
	q = prepare(db, "INSERT OR REPLACE INTO auth_cache (charger_id, id_token, status, seen_ms, expiry_ms) "
			"VALUES (?1, ?2, ?3, ?4, ?5)");
	if (q) {
		sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, token, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, now_wall_ms);
		sqlite3_bind_int64(q, 5, until);
	}
	return run(db, q, "cache an id token");
}

int auth_cache_clear(struct store *st, const char *charger)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q = prepare(db, "DELETE FROM auth_cache WHERE charger_id = ?1");

	if (q)
		sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	return run(db, q, "clear the id token cache");
}

static int lookup_one(sqlite3 *db, const char *sql, const char *charger, const char *token, struct auth_known *out)
{
	sqlite3_stmt *q = prepare(db, sql);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!q)
		return -EIO;
	sqlite3_bind_text(q, 1, charger, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, token, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		out->found = true;
		snprintf(out->status, sizeof(out->status), "%s", (const char *)sqlite3_column_text(q, 0));
		out->expiry_ms = sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

int auth_lookup(struct store *st, const char *charger, const char *token, struct auth_known *list,
		struct auth_known *cache)
{
	sqlite3 *db = store_db(st);

	if (lookup_one(db, "SELECT status, coalesce(expiry_ms, 0) FROM auth_list WHERE charger_id = ?1 AND id_token = ?2",
		       charger, token, list) < 0)
		return -EIO;
	return lookup_one(db, "SELECT status, expiry_ms FROM auth_cache WHERE charger_id = ?1 AND id_token = ?2",
			  charger, token, cache);
}

/* ---- in the proxy ---- */

/* The id token a charger's call carries, or NULL. */
static const char *call_token(enum ocpp_version v, const char *action, const json_t *payload)
{
	if (v == OCPP16)
		return strcmp(action, "Authorize") == 0 || strcmp(action, "StartTransaction") == 0 ||
				       strcmp(action, "StopTransaction") == 0
			       ? json_string_value(json_object_get(payload, "idTag"))
			       : NULL;
	return strcmp(action, "Authorize") == 0 || strcmp(action, "TransactionEvent") == 0 ? token_of(v, payload) : NULL;
}

void auth_seen_result(struct proxy *p, struct charger *ch, const struct call *call, const struct ocpp_frame *f)
{
	struct store *st = p->d->store;
	const json_t *res = f->type == OCPP_RESULT ? f->payload : NULL;
	const char *status = json_string_value(json_object_get(res, "status"));

	if (!res)
		return;
	if (call->origin == ORIGIN_CHARGER) {
		const char *token = call_token(ch->version, call->action, call->payload);
		const json_t *info = info_of(ch->version, res);
		const char *verdict = json_string_value(json_object_get(info, "status"));
		if (token && verdict) {
			auth_cache_put(st, ch->id, token, verdict, info_expiry(ch->version, info), wall_ms(),
				       p->d->cfg->auth.cache_days);
			ch->store_mark = store_mark(st); /* the answer waits for the commit (proxy.c) */
		}
	} else if (call->origin == ORIGIN_CSMS && strcmp(call->action, "SendLocalList") == 0 && status) {
		/* The charger's answer says whether it took the list; NotSupported: the edge's copy
		 * is then the only one there is, and still serves offline. */
		if (strcmp(status, "Accepted") != 0 && strcmp(status, "NotSupported") != 0) {
			log_msg(LL_NOTICE, "charger %s: SendLocalList answered %s; the edge keeps its copy as it was", ch->id,
				status);
			return;
		}
		if (auth_list_apply(st, ch->id, ch->version, call->payload, wall_ms()) == 0)
			store_event(st, LL_INFO, "auth", ch->id, "local authorization list version %lld (%s, %zu entr%s) kept "
				    "for offline use",
				    (long long)auth_list_version(st, ch->id),
				    json_string_value(json_object_get(call->payload, "updateType")),
				    json_array_size(json_object_get(call->payload, "localAuthorizationList")),
				    json_array_size(json_object_get(call->payload, "localAuthorizationList")) == 1 ? "y" : "ies");
	} else if (call->origin == ORIGIN_CSMS && strcmp(call->action, "GetLocalListVersion") == 0) {
		/* The edge's copy starts with the first list it sees pass; say so when it is behind. */
		const json_t *v = json_object_get(res, ch->version == OCPP16 ? "listVersion" : "versionNumber");
		int64_t mine = auth_list_version(st, ch->id);
		if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) != mine)
			log_msg(LL_NOTICE, "charger %s: its local authorization list is version %lld, the edge's copy %s%lld; "
				"the edge has the CSMS's next SendLocalList (a Full one makes the copy complete)", ch->id,
				(long long)json_integer_value(v), mine < 0 ? "none, " : "", (long long)(mine < 0 ? 0 : mine));
	} else if (call->origin == ORIGIN_CSMS && strcmp(call->action, "ClearCache") == 0 && status &&
		   strcmp(status, "Accepted") == 0) {
		if (auth_cache_clear(st, ch->id) == 0)
			store_event(st, LL_INFO, "auth", ch->id, "id token cache cleared (ClearCache from the CSMS)");
	}
}

const char *auth_offline_status(struct proxy *p, struct charger *ch, const char *action, const json_t *payload)
{
	const char *token = call_token(ch->version, action, payload);
	const char *policy_word = p->d->cfg->auth.offline;
	enum auth_policy policy = auth_policy_of(policy_word);
	struct auth_known list, cache;
	struct auth_verdict r;

	if (!token || (ch->version == OCPP16 && strcmp(action, "StopTransaction") == 0))
		return NULL; /* a 1.6 StopTransaction answer needs no idTagInfo: the session ends anyway */
	/* No CSMS configured: nothing to learn tokens from, so "known" would refuse everyone. */
	if (!p->upstream_host[0] && policy == AUTH_KNOWN)
		return "Accepted";
	if (auth_lookup(p->d->store, ch->id, token, &list, &cache) < 0)
		list.found = cache.found = false;
	r = auth_decide(policy, ch->version, &list, &cache, wall_ms());
	if (r.unknown_accepted) {
		sqlite3 *db = store_db(p->d->store);
		/* Uplink open but a backlog ahead (or the CSMS silent): the CSMS gets this message
		 * soon, so it is flagged now rather than at the next reconnect. */
		bool up = ch->up_state == UP_OPEN;
		sqlite3_stmt *q = prepare(db, "INSERT INTO auth_offline (charger_id, id_token, action, time_ms, flagged_ms) "
					      "VALUES (?1, ?2, ?3, ?4, ?5)");
		if (q) {
			sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, token, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 3, action, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 4, wall_ms());
			if (up)
				sqlite3_bind_int64(q, 5, wall_ms());
		}
		run(db, q, "remember an id token accepted offline");
		store_event(p->d->store, LL_WARN, "auth", ch->id,
			    "%s: id token %s accepted while the CSMS cannot answer, although the edge does not know it "
			    "(auth.offline = all); %s",
			    action, token, up ? "the CSMS gets this message after the backlog: check the token there"
					      : "it is flagged again when the CSMS is back");
	} else if (r.source) {
		store_event(p->d->store, strcmp(r.status, "Accepted") == 0 ? LL_INFO : LL_WARN, "auth", ch->id,
			    "%s: id token %s %s while the CSMS cannot answer (%s of the edge says %s)", action, token,
			    strcmp(r.status, "Accepted") == 0 ? "accepted" : "refused", r.source, r.status);
	} else {
		store_event(p->d->store, LL_WARN, "auth", ch->id,
			    "%s: id token %s refused (%s) while the CSMS cannot answer: %s (auth.offline = %s)", action,
			    token, r.status,
			    policy == AUTH_NONE ? "no token is accepted offline"
						: "it is not in the charger's local list nor among the tokens the CSMS accepted",
			    policy_word);
	}
	return r.status;
}

void auth_uplink_back(struct proxy *p, struct charger *ch)
{
	sqlite3 *db = store_db(p->d->store);
	sqlite3_stmt *q = prepare(db, "SELECT id_token, count(*), min(time_ms), group_concat(DISTINCT action) "
				      "FROM auth_offline WHERE charger_id = ?1 AND flagged_ms IS NULL GROUP BY id_token");
	int n = 0;

	if (!q)
		return;
	sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		char since[40];
		int times = sqlite3_column_int(q, 1);
		ocpp_time_format(sqlite3_column_int64(q, 2), since, sizeof(since));
		store_event(p->d->store, LL_WARN, "auth", ch->id,
			    "the CSMS is back: id token %s was accepted offline without being known (%d time%s since %s: "
			    "%s); its messages go to the CSMS now, check that the token is valid there",
			    (const char *)sqlite3_column_text(q, 0), times, times == 1 ? "" : "s", since,
			    (const char *)sqlite3_column_text(q, 3));
		n++;
	}
	sqlite3_finalize(q);
	if (!n)
		return;
	db = store_db(p->d->store); /* commits the flags' audit rows first */
	q = prepare(db, "UPDATE auth_offline SET flagged_ms = ?2 WHERE charger_id = ?1 AND flagged_ms IS NULL");
	if (q) {
		sqlite3_bind_text(q, 1, ch->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, wall_ms());
	}
	run(db, q, "mark offline tokens as flagged");
}
