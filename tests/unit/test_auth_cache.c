/* Offline authorization against a real SQLite file: the decision under each policy and version,
 * SendLocalList Full/Differential with its version (1.6 and 2.0.1 shapes), the cache's expiry
 * (cache_days and the CSMS's own date), ClearCache, per-charger separation, and what a reopened
 * store (a restart) still knows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/ocpp/auth-cache.h"

#define DAY_MS (24LL * 3600 * 1000)
#define NOW 1764800000000LL /* 2025-12-03 */

struct fixture {
	char path[64];
	struct store *st;
};

static void remove_db(const char *path)
{
	char other[80];

	unlink(path);
	snprintf(other, sizeof(other), "%s-wal", path);
	unlink(other);
	snprintf(other, sizeof(other), "%s-shm", path);
	unlink(other);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	snprintf(fx->path, sizeof(fx->path), "/tmp/ampgate-auth-%d.db", (int)getpid());
	remove_db(fx->path);
	fx->st = store_open(fx->path);
	*state = fx;
	return fx->st ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	store_close(fx->st);
	remove_db(fx->path);
	free(fx);
	return 0;
}

static struct auth_known known(const char *status, int64_t expiry_ms)
{
	struct auth_known k = { .found = true, .expiry_ms = expiry_ms };

	snprintf(k.status, sizeof(k.status), "%s", status);
	return k;
}

static void test_decide(void **state)
{
	(void)state;
	const struct auth_known none = { 0 }, acc = known("Accepted", 0), blocked = known("Blocked", NOW + 1000),
				lapsed_blocked = known("Blocked", 0), cached = known("Accepted", NOW + 1000),
				lapsed = known("Accepted", NOW - 1), list_expired = known("Accepted", NOW - 1),
				other_version = known("Unknown", 0);
	const struct {
		enum auth_policy policy;
		enum ocpp_version v;
		const struct auth_known *list, *cache;
		const char *status, *source;
		bool unknown_accepted;
	} cases[] = {
		/* known: the list, then a cache entry not lapsed; else the version's refusal. */
		{ AUTH_KNOWN, OCPP16, &acc, &none, "Accepted", "local list", false },
		{ AUTH_KNOWN, OCPP201, &none, &cached, "Accepted", "cache", false },
		{ AUTH_KNOWN, OCPP16, &none, &lapsed, "Invalid", NULL, false },
		{ AUTH_KNOWN, OCPP201, &none, &none, "Unknown", NULL, false },
		/* The list wins over the cache, and its own expiry date counts. */
		{ AUTH_KNOWN, OCPP16, &blocked, &cached, "Blocked", "local list", false },
		{ AUTH_KNOWN, OCPP201, &list_expired, &cached, "Expired", "local list", false },
		/* all: unknown (or lapsed) accepted and marked so; a known refusal stays a refusal. */
		{ AUTH_ALL, OCPP16, &none, &lapsed, "Accepted", NULL, true },
		{ AUTH_ALL, OCPP201, &none, &lapsed_blocked, "Accepted", NULL, true },
		{ AUTH_ALL, OCPP201, &none, &blocked, "Blocked", "cache", false },
		/* A status of the other version is never answered. */
		{ AUTH_ALL, OCPP16, &other_version, &none, "Invalid", "local list", false },
		/* none: everything refused. */
		{ AUTH_NONE, OCPP16, &acc, &cached, "Invalid", NULL, false },
		{ AUTH_NONE, OCPP201, &acc, &cached, "Unknown", NULL, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct auth_verdict r = auth_decide(cases[i].policy, cases[i].v, cases[i].list, cases[i].cache, NOW);
		assert_string_equal(r.status, cases[i].status);
		if (cases[i].source)
			assert_string_equal(r.source, cases[i].source);
		else
			assert_null(r.source);
		assert_int_equal(r.unknown_accepted, cases[i].unknown_accepted);
	}
	assert_int_equal(auth_policy_of("all"), AUTH_ALL);
	assert_int_equal(auth_policy_of("none"), AUTH_NONE);
	assert_int_equal(auth_policy_of("known"), AUTH_KNOWN);
}

static void expect_list(struct store *st, const char *charger, const char *token, bool found, const char *status,
			int64_t expiry_ms)
{
	struct auth_known l, c;

	assert_int_equal(auth_lookup(st, charger, token, &l, &c), 0);
	assert_int_equal(l.found, found);
	if (found) {
		assert_string_equal(l.status, status);
		assert_int_equal(l.expiry_ms, expiry_ms);
	}
}

static void test_list16(void **state)
{
	struct fixture *fx = *state;
	json_t *full = json_pack("{s:i, s:s, s:[{s:s, s:{s:s}}, {s:s, s:{s:s, s:s}}, {s:s, s:{s:s}}]}", "listVersion", 3,
				 "updateType", "Full", "localAuthorizationList", "idTag", "B", "idTagInfo", "status",
				 "Accepted", "idTag", "OLD", "idTagInfo", "status", "Accepted", "expiryDate",
				 "2025-12-01T00:00:00Z", "idTag", "E", "idTagInfo", "status", "Blocked");
	json_t *diff = json_pack("{s:i, s:s, s:[{s:s}, {s:s, s:{s:s}}]}", "listVersion", 4, "updateType", "Differential",
				 "localAuthorizationList", "idTag", "E", "idTag", "D", "idTagInfo", "status", "Accepted");
	json_t *full2 = json_pack("{s:i, s:s}", "listVersion", 5, "updateType", "Full");
	json_t *bad = json_pack("{s:i, s:s}", "listVersion", 6, "updateType", "Sometimes");

	assert_int_equal(auth_list_version(fx->st, "CP1"), -1);
	assert_int_equal(auth_list_apply(fx->st, "CP1", OCPP16, full, NOW), 0);
	assert_int_equal(auth_list_version(fx->st, "CP1"), 3);
	expect_list(fx->st, "CP1", "B", true, "Accepted", 0);
	expect_list(fx->st, "CP1", "OLD", true, "Accepted", 1764547200000LL);
	expect_list(fx->st, "CP1", "E", true, "Blocked", 0);
	expect_list(fx->st, "CP2", "B", false, NULL, 0); /* lists are per charger */
	/* Differential: E (no idTagInfo) removed, D added, the rest kept. */
	assert_int_equal(auth_list_apply(fx->st, "CP1", OCPP16, diff, NOW), 0);
	assert_int_equal(auth_list_version(fx->st, "CP1"), 4);
	expect_list(fx->st, "CP1", "E", false, NULL, 0);
	expect_list(fx->st, "CP1", "D", true, "Accepted", 0);
	expect_list(fx->st, "CP1", "B", true, "Accepted", 0);
	/* Not a SendLocalList: nothing changes. */
	assert_int_equal(auth_list_apply(fx->st, "CP1", OCPP16, bad, NOW), -EINVAL);
	assert_int_equal(auth_list_version(fx->st, "CP1"), 4);
	/* Full with no entries empties it. */
	assert_int_equal(auth_list_apply(fx->st, "CP1", OCPP16, full2, NOW), 0);
	assert_int_equal(auth_list_version(fx->st, "CP1"), 5);
	expect_list(fx->st, "CP1", "B", false, NULL, 0);
	expect_list(fx->st, "CP1", "D", false, NULL, 0);
	json_decref(full);
	json_decref(diff);
	json_decref(full2);
	json_decref(bad);
}

static void test_list201_survives_reopen(void **state)
{
	struct fixture *fx = *state;
	json_t *full = json_pack("{s:i, s:s, s:[{s:{s:s, s:s}, s:{s:s, s:s}}]}", "versionNumber", 9, "updateType", "Full",
				 "localAuthorizationList", "idToken", "idToken", "B201", "type", "ISO14443",
				 "idTokenInfo", "status", "Accepted", "cacheExpiryDateTime", "2027-01-01T00:00:00Z");

	assert_int_equal(auth_list_apply(fx->st, "CP201", OCPP201, full, NOW), 0);
	assert_int_equal(auth_cache_put(fx->st, "CP201", "A201", "Accepted", 0, NOW, 30), 0);
	store_close(fx->st);
	fx->st = store_open(fx->path);
	assert_non_null(fx->st);
	assert_int_equal(auth_list_version(fx->st, "CP201"), 9);
	expect_list(fx->st, "CP201", "B201", true, "Accepted", 1798761600000LL);
	struct auth_known l, c;
	assert_int_equal(auth_lookup(fx->st, "CP201", "A201", &l, &c), 0);
	assert_false(l.found);
	assert_true(c.found);
	assert_string_equal(c.status, "Accepted");
	assert_int_equal(c.expiry_ms, NOW + 30 * DAY_MS);
	json_decref(full);
}

static void test_cache(void **state)
{
	struct fixture *fx = *state;
	struct auth_known l, c;

	/* cache_days bounds an entry; the CSMS's earlier expiry date wins over it. */
	assert_int_equal(auth_cache_put(fx->st, "CP1", "A", "Accepted", 0, NOW, 7), 0);
	assert_int_equal(auth_cache_put(fx->st, "CP1", "S", "Accepted", NOW + DAY_MS, NOW, 7), 0);
	assert_int_equal(auth_cache_put(fx->st, "CP1", "L", "Accepted", NOW + 100 * DAY_MS, NOW, 7), 0);
	assert_int_equal(auth_lookup(fx->st, "CP1", "A", &l, &c), 0);
	assert_int_equal(c.expiry_ms, NOW + 7 * DAY_MS);
	assert_int_equal(auth_lookup(fx->st, "CP1", "S", &l, &c), 0);
	assert_int_equal(c.expiry_ms, NOW + DAY_MS);
	assert_int_equal(auth_lookup(fx->st, "CP1", "L", &l, &c), 0);
	assert_int_equal(c.expiry_ms, NOW + 7 * DAY_MS);
	/* Eight days on, A has lapsed: the decision says so, and the next put prunes it. */
	assert_int_equal(auth_lookup(fx->st, "CP1", "A", &l, &c), 0);
	assert_string_equal(auth_decide(AUTH_KNOWN, OCPP16, &l, &c, NOW + 8 * DAY_MS).status, "Invalid");
	assert_int_equal(auth_cache_put(fx->st, "CP1", "X", "Blocked", 0, NOW + 8 * DAY_MS, 7), 0);
	assert_int_equal(auth_lookup(fx->st, "CP1", "A", &l, &c), 0);
	assert_false(c.found);
	assert_int_equal(auth_lookup(fx->st, "CP1", "X", &l, &c), 0);
	assert_string_equal(c.status, "Blocked");
	/* A later answer replaces the earlier one. */
	assert_int_equal(auth_cache_put(fx->st, "CP1", "X", "Accepted", 0, NOW + 8 * DAY_MS, 7), 0);
	assert_int_equal(auth_lookup(fx->st, "CP1", "X", &l, &c), 0);
	assert_string_equal(c.status, "Accepted");
	/* cache_days 0: no cache; ConcurrentTx is a state of the moment, never cached. */
	assert_int_equal(auth_cache_put(fx->st, "CP1", "Z", "Accepted", 0, NOW, 0), 0);
	assert_int_equal(auth_cache_put(fx->st, "CP1", "Y", "ConcurrentTx", 0, NOW, 7), 0);
	assert_int_equal(auth_lookup(fx->st, "CP1", "Z", &l, &c), 0);
	assert_false(c.found);
	assert_int_equal(auth_lookup(fx->st, "CP1", "Y", &l, &c), 0);
	assert_false(c.found);
	/* Per charger, and ClearCache clears only that charger's. */
	assert_int_equal(auth_cache_put(fx->st, "CP2", "X", "Accepted", 0, NOW, 7), 0);
	assert_int_equal(auth_cache_clear(fx->st, "CP1"), 0);
	assert_int_equal(auth_lookup(fx->st, "CP1", "X", &l, &c), 0);
	assert_false(c.found);
	assert_int_equal(auth_lookup(fx->st, "CP2", "X", &l, &c), 0);
	assert_true(c.found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test_setup_teardown(test_list16, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list201_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
