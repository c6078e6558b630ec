/* Who may use the web page: users from web.users, sessions, lockout and CSRF checks.
 *
 * Sessions live in memory (a restart logs everyone out): a random 128-bit id in an HttpOnly,
 * SameSite=Strict cookie (Secure under TLS), idle and absolute expiry. A change needs, on top of
 * the cookie, the session's own token in X-CSRF-Token and, when the browser names one, our own
 * Origin; so neither a cross-site form nor a script on another site can change anything.
 *
 * Design decision: a password check is PBKDF2 at 600,000 iterations, about a third of a second of
 * a core. It runs in libuv's thread pool, never on the loop that keeps the chargers under their
 * limits, and at most WEB_VERIFY_MAX run at once; the answer goes out when the check is done. */
#include "edge/core/log.h"
#include "edge/core/passwd.h"
#include "edge/web/web-private.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COOKIE "ampgate_session"

/* A well-formed hash nobody knows the password of: unknown users cost as much as known ones, so
 * the answer's timing does not tell which names exist. */
static const char dummy_hash[] =
	"$pbkdf2-sha256$600000$9zQ3QjGm0bq4rGq3o3Xq2A==$PqXPvm7v3yS1m0mB4nNq0Jrj3oQG2hV4dYHhC5vwS+E=";

struct login_job {
	uv_work_t work;
	struct web_req *req;            /* NULL once the browser went away */
	char name[49];
	char peer[64];
	char password[257];
	char hash[PASSWD_HASH_MAX + 1];
	enum web_role role;             /* ROLE_NONE: no such user */
	bool ok;
};

const char *web_role_name(enum web_role role)
{
	return role == ROLE_MANAGER ? "manager" : role == ROLE_VIEWER ? "viewer" : "none";
}

static int random_hex(char out[33])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static bool expired(const struct web_session *s, uint64_t now)
{
	return now - s->seen_ms > WEB_SESSION_IDLE_S * 1000ull || now - s->created_ms > WEB_SESSION_MAX_S * 1000ull;
}

int web_cookie_value(const char *header, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	for (const char *p = header; p && *p;) {
		p += strspn(p, " \t;,");
		const char *end = p + strcspn(p, ";,");
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			size_t len = (size_t)(end - p) - n - 1;
			if (len >= size)
				return -ENOSPC;
			memcpy(out, p + n + 1, len);
			out[len] = '\0';
			return 0;
		}
		p = end;
	}
	return -ENOENT;
}

struct web_session *web_session_find(struct web *w, struct lws *wsi)
{
	char sid[64], cookies[4096]; /* a browser sends every cookie of the host */
	uint64_t now = now_ms();

	/* Our own parser: lws_http_cookie_get also takes "xampgate_session=" for ours. */
	if (lws_hdr_copy(wsi, cookies, sizeof(cookies), WSI_TOKEN_HTTP_COOKIE) <= 0 ||
	    web_cookie_value(cookies, COOKIE, sid, sizeof(sid)) < 0 || strlen(sid) != 32)
		return NULL;
	for (size_t i = 0; i < WEB_SESSIONS; i++) {
		struct web_session *s = &w->sessions[i];
		if (!s->used || CRYPTO_memcmp(s->id, sid, 32) != 0)
			continue;
		if (expired(s, now)) {
			log_msg(LL_INFO, "web: session of %s expired", s->user);
			OPENSSL_cleanse(s, sizeof(*s));
			return NULL;
		}
		s->seen_ms = now;
		return s;
	}
	return NULL;
}

bool web_origin_ok(struct web *w, struct lws *wsi)
{
	char origin[300], host[256], want[300];

	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		return true; /* not a browser's cross-origin request; the CSRF token still decides */
	if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return false;
	snprintf(want, sizeof(want), "%s://%s", w->tls ? "https" : "http", host);
	return strcmp(origin, want) == 0;
}

const char *web_csrf_refused(struct web *w, struct web_req *r)
{
	char token[64] = "";

	if (!r->origin_ok)
		return "this change was sent from another site's page, not from this edge's own page; refused";
	if (lws_hdr_custom_copy(r->wsi, token, sizeof(token), "x-csrf-token:", 13) != 32 ||
	    CRYPTO_memcmp(token, r->session->csrf, 32) != 0)
		return "this change came without the page's security token (X-CSRF-Token); reload the page and try again";
	(void)w;
	return NULL;
}

json_t *web_session_json(const struct web_session *s)
{
	return json_pack("{s:s, s:s, s:s, s:b}", "user", s->user, "role", web_role_name(s->role), "csrf_token", s->csrf,
			 "can_change", s->role == ROLE_MANAGER);
}

/* ---- lockout ----
 * Two tables: one counter per configured user (a fixed set, so nothing another client sends can
 * push a user's counter out) and a bounded table of source addresses, where a spray of fresh
 * addresses only evicts other addresses. A name that is no user gets no counter of its own: it
 * cannot log in anyway, and its failures still count against the address. */

static bool configured_user(struct web *w, const char *name)
{
	for (size_t i = 0; i < w->d->cfg->web.n_users; i++)
		if (strcmp(w->d->cfg->web.users[i].name, name) == 0)
			return true;
	return false;
}

static struct web_fail *fail_slot(struct web_fail *tab, size_t n, const char *key, bool create, uint64_t now)
{
	struct web_fail *victim = NULL;

	for (size_t i = 0; i < n; i++) {
		struct web_fail *f = &tab[i];
		if (f->key[0] && strcmp(f->key, key) == 0) {
			if (now - f->first_ms > WEB_FAIL_WINDOW_S * 1000ull && now >= f->locked_until_ms)
				f->count = 0, f->first_ms = now;
			return f;
		}
		/* Room for a new key: a free slot, else the oldest record that holds no lock now (an
		 * attacker spraying addresses must not be able to push a lock out), else the oldest. */
		bool free_now = !f->key[0] || f->locked_until_ms <= now;
		bool victim_free = victim && (!victim->key[0] || victim->locked_until_ms <= now);
		if (!victim || (free_now && !victim_free) || (free_now == victim_free && f->first_ms < victim->first_ms))
			victim = f;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->first_ms = now;
	return victim;
}

/* The counter of `name` (a user, in the users' table) or of an address (in the sources' table);
 * NULL for a name that is no configured user, or when `create` is false and there is none. */
static struct web_fail *fail_of(struct web *w, bool user, const char *name, bool create, uint64_t now)
{
	if (user && !configured_user(w, name))
		return NULL;
	return user ? fail_slot(w->user_fails, WEB_USERS_MAX, name, create, now)
		    : fail_slot(w->fails, WEB_FAIL_SLOTS, name, create, now);
}

/* Seconds left on a lock, 0 when not locked. */
static int locked_s(struct web *w, bool user, const char *name, uint64_t now)
{
	struct web_fail *f = fail_of(w, user, name, false, now);

	return f && f->locked_until_ms > now ? (int)((f->locked_until_ms - now + 999) / 1000) : 0;
}

/* Count a wrong password; true when this one locks the user or address. */
static bool count_failure(struct web *w, bool user, const char *name, uint64_t now)
{
	struct web_fail *f = fail_of(w, user, name, true, now);

	if (!f || ++f->count < WEB_FAIL_LIMIT || f->locked_until_ms > now)
		return false;
	f->locked_until_ms = now + WEB_LOCK_S * 1000ull;
	f->count = 0;
	f->first_ms = now;
	return true;
}

static void clear_failures(struct web *w, bool user, const char *name)
{
	struct web_fail *f = fail_of(w, user, name, false, now_ms());

	if (f)
		memset(f, 0, sizeof(*f));
}

void web_auth_reload(struct web *w, const struct ag_config *cfg)
{
	/* A removed user's counter frees its slot for the users that are configured now. */
	for (size_t i = 0; i < WEB_USERS_MAX; i++) {
		bool keep = false;
		for (size_t u = 0; w->user_fails[i].key[0] && u < cfg->web.n_users; u++)
			keep |= strcmp(cfg->web.users[u].name, w->user_fails[i].key) == 0;
		if (!keep)
			memset(&w->user_fails[i], 0, sizeof(w->user_fails[i]));
	}
}

/* ---- login ---- */

static struct web_session *new_session(struct web *w, const char *user, enum web_role role)
{
	struct web_session *s = NULL;
	uint64_t now = now_ms();

	for (size_t i = 0; i < WEB_SESSIONS && !s; i++)
		if (!w->sessions[i].used || expired(&w->sessions[i], now))
			s = &w->sessions[i];
	for (size_t i = 0; i < WEB_SESSIONS && !s; i++) /* full: the longest idle one goes */
		if (!s || w->sessions[i].seen_ms < s->seen_ms)
			s = &w->sessions[i];
	OPENSSL_cleanse(s, sizeof(*s));
	if (random_hex(s->id) < 0 || random_hex(s->csrf) < 0)
		return NULL;
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->role = role;
	s->created_ms = s->seen_ms = now;
	s->used = true;
	return s;
}

static void verify_work(uv_work_t *work)
{
	struct login_job *job = work->data;

	job->ok = passwd_verify(job->password, job->hash) && job->role != ROLE_NONE;
	OPENSSL_cleanse(job->password, sizeof(job->password));
}

static char *error_text(const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return t;
}

static void verify_done(uv_work_t *work, int status)
{
	struct login_job *job = work->data;
	struct web *w = web_state();
	struct web_req *r = job->req;
	uint64_t now = now_ms();
	char msg[256];
	int code;
	char *body = NULL;

	(void)status;
	w->verifying--;
	if (!w->d)
		goto out;
	if (job->ok) {
		struct web_session *s = new_session(w, job->name, job->role);
		clear_failures(w, true, job->name);
		clear_failures(w, false, job->peer);
		if (!s) {
			code = 500;
			body = error_text("the edge could not start a session; try again");
		} else {
			store_event(w->d->store, LL_NOTICE, "web.login", job->name, "%s (%s) logged in from %s", job->name,
				    web_role_name(job->role), job->peer);
			code = 200;
			json_t *j = web_session_json(s);
			body = j ? json_dumps(j, JSON_COMPACT) : NULL;
			json_decref(j);
			if (r)
				snprintf(r->set_cookie, sizeof(r->set_cookie),
					 COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", s->id,
					 WEB_SESSION_MAX_S, w->tls ? "; Secure" : "");
		}
	} else {
		bool user_locked = count_failure(w, true, job->name, now);
		bool source_locked = count_failure(w, false, job->peer, now);
		log_msg(LL_NOTICE, "web: wrong user name or password for \"%s\" from %s", job->name, job->peer);
		if (user_locked || source_locked) {
			store_event(w->d->store, LL_WARN, "web.lockout", job->name,
				    "%d wrong passwords in a row for user \"%s\" from %s: logins %s refused for %d minutes",
				    WEB_FAIL_LIMIT, job->name, job->peer,
				    user_locked && source_locked ? "for this user and from this address"
				    : user_locked ? "for this user" : "from this address",
				    WEB_LOCK_S / 60);
			snprintf(msg, sizeof(msg),
				 "wrong user name or password; after %d wrong tries logins are refused for %d minutes",
				 WEB_FAIL_LIMIT, WEB_LOCK_S / 60);
			code = 429;
		} else {
			snprintf(msg, sizeof(msg), "wrong user name or password");
			code = 401;
		}
		body = error_text(msg);
	}
	if (r) {
		r->job = NULL;
		web_reply_later(r, code, body);
		body = NULL;
	}
out:
	free(body);
	OPENSSL_cleanse(job, sizeof(*job));
	free(job);
}

static enum web_role find_user(struct web *w, const char *name, const char **hash)
{
	for (size_t i = 0; i < w->d->cfg->web.n_users; i++) {
		const struct cfg_user *u = &w->d->cfg->web.users[i];
		if (strcmp(u->name, name) == 0) {
			*hash = u->password_hash;
			return strcmp(u->role, "manager") == 0 ? ROLE_MANAGER : ROLE_VIEWER;
		}
	}
	*hash = dummy_hash;
	return ROLE_NONE;
}

int web_login(struct web *w, struct web_req *r)
{
	const char *name = NULL, *password = NULL, *hash;
	uint64_t now = now_ms();
	int left;

	if (!r->origin_ok)
		return web_error(r, 403, "log in from this edge's own page");
	json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	if (json_unpack(j, "{s:s, s:s}", "name", &name, "password", &password) || !*name || strlen(name) > 48 ||
	    strlen(password) > 256) {
		json_decref(j);
		return web_error(r, 400, "send {\"name\": \"...\", \"password\": \"...\"}");
	}
	if ((left = locked_s(w, false, r->peer, now)) > 0 || (left = locked_s(w, true, name, now)) > 0) {
		json_decref(j);
		return web_error(r, 429, "too many wrong passwords: logins are refused for %d more minute%s", (left + 59) / 60,
				 (left + 59) / 60 == 1 ? "" : "s");
	}
	if (w->verifying >= WEB_VERIFY_MAX) {
		json_decref(j);
		return web_error(r, 503, "the edge is checking other logins; try again in a moment");
	}
	struct login_job *job = calloc(1, sizeof(*job));
	if (!job) {
		json_decref(j);
		return web_error(r, 500, "the edge is out of memory; try again");
	}
	job->work.data = job;
	job->req = r;
	job->role = find_user(w, name, &hash);
	snprintf(job->name, sizeof(job->name), "%s", name);
	snprintf(job->peer, sizeof(job->peer), "%s", r->peer);
	snprintf(job->password, sizeof(job->password), "%s", password);
	snprintf(job->hash, sizeof(job->hash), "%s", hash);
	json_decref(j); /* jansson does not wipe; the body buffer is wiped when the request ends */
	if (uv_queue_work(&w->d->loop, &job->work, verify_work, verify_done) < 0) {
		OPENSSL_cleanse(job, sizeof(*job));
		free(job);
		return web_error(r, 500, "the edge could not check the password; try again");
	}
	w->verifying++;
	r->job = job;
	return 0;
}

int web_logout(struct web *w, struct web_req *r)
{
	log_msg(LL_INFO, "web: %s logged out", r->session->user);
	OPENSSL_cleanse(r->session, sizeof(*r->session));
	r->session = NULL;
	snprintf(r->set_cookie, sizeof(r->set_cookie), COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
		 w->tls ? "; Secure" : "");
	return web_reply_json(r, 200, json_pack("{s:b}", "logged_out", 1));
}

void web_auth_forget(struct web *w, struct web_req *r)
{
	(void)w;
	if (r->job)
		r->job->req = NULL;
	r->job = NULL;
	if (r->body)
		OPENSSL_cleanse(r->body, r->body_len);
}

void web_auth_clear(struct web *w)
{
	OPENSSL_cleanse(w->sessions, sizeof(w->sessions));
	memset(w->fails, 0, sizeof(w->fails));
	memset(w->user_fails, 0, sizeof(w->user_fails));
}
