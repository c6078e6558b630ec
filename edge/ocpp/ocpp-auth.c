/* Charger credentials off the event loop, a cache of verified ones, and the per-address refusal
 * throttle; see ocpp-auth.h. All state is file-static: one OCPP server per process, and
 * everything here runs on the loop thread except verify_work, which touches only its job. */
#include "edge/ocpp/ocpp-auth.h"
#include "edge/core/config.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/core/passwd.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CACHE_N 512            /* per table: verified, and refused */
#define THROTTLE_N 256         /* addresses tracked */
#define THROTTLE_WINDOW_MS 10000
#define THROTTLE_FREE 10       /* refusals per window before an address waits */
#define THROTTLE_MAX_MS 30000
#define LOG_PER_WINDOW 3       /* refusal lines per address and window; the rest are summarised */
#define SUMMARY_MS 10000

struct cred_entry {
	unsigned char key[32];
	uint64_t until_ms;
};

struct ocpp_auth_job {
	uv_work_t work;
	char hash[PASSWD_HASH_MAX + 1];
	char pass[128];
	unsigned char key[32];
	bool ok;
	void (*done)(void *arg, bool ok);
	void *arg;
};

struct peer_count {
	char peer[64];
	uint64_t window_ms, wait_until_ms;
	unsigned refused, wait_ms;
};

static struct cred_entry cache_ok[CACHE_N], cache_bad[CACHE_N];
static unsigned char hmac_key[32];
static bool hmac_key_set;
static int verifying;
static struct peer_count peers[THROTTLE_N];
static uint64_t summary_from_ms, unlogged, throttled;

/* HMAC(process key, id \0 hash \0 secret): what the cache keeps instead of the secret. */
static void cred_key(const char *id, const char *hash, const char *pass, unsigned char out[32])
{
	unsigned char buf[64 + PASSWD_HASH_MAX + 2 + 256];
	unsigned int n = 32;
	int len = snprintf((char *)buf, sizeof(buf), "%s%c%s%c%s", id, 0, hash, 0, pass);

	if (!hmac_key_set && RAND_bytes(hmac_key, sizeof(hmac_key)) == 1)
		hmac_key_set = true;
	if (!hmac_key_set || len < 0 || (size_t)len >= sizeof(buf) ||
	    !HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), buf, (size_t)len, out, &n))
		RAND_bytes(out, 32); /* no HMAC: a key nothing matches, so nothing is trusted */
	OPENSSL_cleanse(buf, sizeof(buf));
}

static bool cache_has(const struct cred_entry *t, const unsigned char key[32], uint64_t now)
{
	for (size_t i = 0; i < CACHE_N; i++)
		if (t[i].until_ms > now && CRYPTO_memcmp(t[i].key, key, 32) == 0)
			return true;
	return false;
}

/* Into the slot that expires first. Verified secrets have their own table, so a flood of
 * wrong guesses cannot push a charger's verified credential out. */
static void cache_put(struct cred_entry *t, const unsigned char key[32], uint64_t until)
{
	size_t oldest = 0;

	for (size_t i = 0; i < CACHE_N; i++) {
		if (CRYPTO_memcmp(t[i].key, key, 32) == 0) {
			oldest = i;
			break;
		}
		if (t[i].until_ms < t[oldest].until_ms)
			oldest = i;
	}
	memcpy(t[oldest].key, key, 32);
	t[oldest].until_ms = until;
}

/* Stands in for the hash of a station without one, so every failure costs the same. */
static const char dummy_hash[] = "$pbkdf2-sha256$2000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

enum ocpp_cred ocpp_auth_check(const struct cfg_charger *c, const char *id, const char *pass, bool uniform,
			       uint64_t now)
{
	unsigned char key[32];

	if (c && !c->password_hash) {
		if (c->password && strlen(pass) == strlen(c->password) &&
		    CRYPTO_memcmp(pass, c->password, strlen(pass)) == 0)
			return CRED_OK;
	}
	cred_key(id, c && c->password_hash ? c->password_hash : dummy_hash, pass, key);
	if (c && c->password_hash && cache_has(cache_ok, key, now))
		return CRED_OK;
	if (cache_has(cache_bad, key, now))
		return CRED_BAD;
	return (c && c->password_hash) || uniform ? CRED_UNKNOWN : CRED_BAD;
}

bool ocpp_auth_busy(void)
{
	return verifying >= OCPP_AUTH_VERIFY_MAX;
}

static void verify_work(uv_work_t *work)
{
	struct ocpp_auth_job *job = work->data;

	/* Hashing is background work: the loop thread must win the CPU over it (a pool thread
	 * keeps this; the pool's other work, web logins and file I/O, is background work too). */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);

	job->ok = job->hash[0] && passwd_verify(job->pass, job->hash);
	OPENSSL_cleanse(job->pass, sizeof(job->pass));
}

static void verify_done(uv_work_t *work, int status)
{
	struct ocpp_auth_job *job = work->data;
	uint64_t now = now_ms();

	verifying--;
	if (status < 0)
		job->ok = false;
	cache_put(job->ok ? cache_ok : cache_bad, job->key, now + (job->ok ? OCPP_AUTH_OK_MS : OCPP_AUTH_BAD_MS));
	job->done(job->arg, job->ok);
	OPENSSL_cleanse(job, sizeof(*job));
	free(job);
}

int ocpp_auth_verify(uv_loop_t *loop, const struct cfg_charger *c, const char *id, const char *pass,
		     void (*done)(void *arg, bool ok), void *arg)
{
	struct ocpp_auth_job *job;

	if (verifying >= OCPP_AUTH_VERIFY_MAX)
		return -EBUSY;
	if (strlen(pass) >= sizeof(job->pass) || !(job = calloc(1, sizeof(*job))))
		return -ENOMEM;
	job->work.data = job;
	job->done = done;
	job->arg = arg;
	/* A station without a hash is checked against a dummy one and always fails: a wrong
	 * guess at any station id costs, and looks, the same. */
	snprintf(job->hash, sizeof(job->hash), "%s", c && c->password_hash ? c->password_hash : "");
	snprintf(job->pass, sizeof(job->pass), "%s", pass);
	cred_key(id, c && c->password_hash ? c->password_hash : dummy_hash, pass, job->key);
	if (uv_queue_work(loop, &job->work, verify_work, verify_done) < 0) {
		OPENSSL_cleanse(job, sizeof(*job));
		free(job);
		return -EIO;
	}
	verifying++;
	return 0;
}

static struct peer_count *peer_slot(const char *peer, uint64_t now, bool add)
{
	struct peer_count *oldest = &peers[0];

	for (size_t i = 0; i < THROTTLE_N; i++) {
		if (strcmp(peers[i].peer, peer) == 0)
			return &peers[i];
		if (peers[i].window_ms < oldest->window_ms)
			oldest = &peers[i];
	}
	if (!add)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->peer, sizeof(oldest->peer), "%s", peer);
	oldest->window_ms = now;
	return oldest;
}

bool ocpp_auth_throttled(const char *peer, uint64_t now)
{
	struct peer_count *s = peer_slot(peer, now, false);

	if (!s || now >= s->wait_until_ms)
		return false;
	throttled++;
	return true;
}

bool ocpp_auth_refused(const char *peer, uint64_t now)
{
	struct peer_count *s = peer_slot(peer, now, true);

	if (now - s->window_ms > THROTTLE_WINDOW_MS) {
		if (s->refused <= THROTTLE_FREE)
			s->wait_ms = 0;
		s->window_ms = now;
		s->refused = 0;
	}
	s->refused++;
	if (s->refused > THROTTLE_FREE) {
		/* Doubling while the address keeps failing: a guesser gets a few tries a minute. */
		s->wait_ms = s->wait_ms ? s->wait_ms * 2 : 1000;
		if (s->wait_ms > THROTTLE_MAX_MS)
			s->wait_ms = THROTTLE_MAX_MS;
		s->wait_until_ms = now + s->wait_ms;
	}
	if (s->refused <= LOG_PER_WINDOW)
		return true;
	unlogged++;
	return false;
}

void ocpp_auth_summary(uint64_t now)
{
	if (!summary_from_ms)
		summary_from_ms = now;
	if (now - summary_from_ms < SUMMARY_MS)
		return;
	if (unlogged || throttled) {
		const struct peer_count *top = NULL;
		for (size_t i = 0; i < THROTTLE_N; i++)
			if (peers[i].peer[0] && now - peers[i].window_ms <= SUMMARY_MS && (!top || peers[i].refused > top->refused))
				top = &peers[i];
		log_msg(LL_WARN, "OCPP: in the last %llu s, %llu more refused connections were not logged one by one and "
				 "%llu were turned away at once while their address waited%s%s (someone guessing station "
				 "ids or passwords, or a charger with a wrong one: see the lines above)",
			(unsigned long long)(now - summary_from_ms) / 1000, (unsigned long long)unlogged,
			(unsigned long long)throttled, top ? "; most from " : "", top ? top->peer : "");
	}
	unlogged = throttled = 0;
	summary_from_ms = now;
}
