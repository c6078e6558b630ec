/* The web module's pure rules: which paths may be served, what is public before login, what
 * counts as the box itself, and the lockout arithmetic (5 wrong passwords within the window lock
 * for WEB_LOCK_S; the lock ends; a success clears the count; a user's count cannot be pushed
 * out by other traffic) and the exact match of the session cookie's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/web/web.c"
#include "edge/web/web-auth.c"

static void test_safe_path(void **state)
{
	(void)state;
	assert_true(safe_path("/index.html"));
	assert_true(safe_path("/img/logo-2.svg"));
	assert_false(safe_path("/../etc/passwd"));
	assert_false(safe_path("/a/../../b.html"));
	assert_false(safe_path("/.git/config"));
	assert_false(safe_path("//etc/passwd"));
	assert_false(safe_path("/a b.html"));
	assert_false(safe_path("/a%2e%2e.html"));
	assert_false(safe_path("index.html"));
	assert_null(mime_type("/ampgate.db"));
	assert_string_equal(mime_type("/app.js"), "text/javascript; charset=utf-8");
}

static void test_public_files(void **state)
{
	(void)state;
	assert_true(public_file("/login.html"));
	assert_true(public_file("/style.css"));
	assert_false(public_file("/index.html"));
	assert_false(public_file("/app.js"));
	assert_false(public_file("/login.html/"));
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(web_peer_is_loopback("127.0.0.1"));
	assert_true(web_peer_is_loopback("::1"));
	assert_true(web_peer_is_loopback("::ffff:127.0.0.1"));
	assert_false(web_peer_is_loopback("10.0.0.127"));
	assert_false(web_peer_is_loopback("1127.0.0.1"));
	assert_false(web_peer_is_loopback("::2"));
}

/* A web module whose configuration lists the users "viewer" and "manager". */
static struct web *web_with_users(void)
{
	static struct cfg_user users[] = { { .name = (char *)"viewer" }, { .name = (char *)"manager" } };
	static struct ag_config cfg;
	static struct ag_daemon d;
	static struct web w;

	memset(&w, 0, sizeof(w));
	cfg.web.users = users;
	cfg.web.n_users = 2;
	d.cfg = &cfg;
	w.d = &d;
	return &w;
}

static void test_lockout(void **state)
{
	struct web *w = web_with_users();
	uint64_t t = 1000000;
	(void)state;

	for (int i = 1; i < WEB_FAIL_LIMIT; i++)
		assert_false(count_failure(w, true, "viewer", t + (uint64_t)i));
	assert_int_equal(locked_s(w, true, "viewer", t + 10), 0);
	assert_true(count_failure(w, true, "viewer", t + 10));
	assert_int_equal(locked_s(w, true, "viewer", t + 10), WEB_LOCK_S);
	assert_int_equal(locked_s(w, true, "manager", t + 10), 0);
	/* more wrong tries while locked do not extend or re-announce the lock */
	assert_false(count_failure(w, true, "viewer", t + 20));
	assert_int_equal(locked_s(w, true, "viewer", t + 10 + WEB_LOCK_S * 1000ull), 0);

	/* wrong tries spread beyond the window start counting again */
	assert_false(count_failure(w, false, "10.0.0.9", t));
	for (int i = 1; i < WEB_FAIL_LIMIT; i++)
		assert_false(count_failure(w, false, "10.0.0.9", t + (uint64_t)i * (WEB_FAIL_WINDOW_S + 1) * 1000ull));

	/* a full table of addresses makes room without losing a live lock */
	for (int i = 0; i < WEB_FAIL_SLOTS * 2; i++) {
		char key[32];
		snprintf(key, sizeof(key), "10.1.%d.%d", i / 250, i % 250);
		count_failure(w, false, key, t + 100000 + (uint64_t)i);
	}
	assert_non_null(fail_of(w, false, "10.1.1.5", false, t + 200000));
	assert_false(count_failure(w, true, "manager", t + 300000));
	for (int i = 1; i < WEB_FAIL_LIMIT; i++)
		count_failure(w, true, "manager", t + 300000 + (uint64_t)i);
	assert_true(locked_s(w, true, "manager", t + 300010) > 0);
	for (int i = 0; i < WEB_FAIL_SLOTS * 2; i++) {
		char key[32];
		snprintf(key, sizeof(key), "10.2.%d.%d", i / 250, i % 250);
		count_failure(w, false, key, t + 300100 + (uint64_t)i);
	}
	assert_true(locked_s(w, true, "manager", t + 301000) > 0); /* the lock outlived the spray */
}

/* Issue 18: four wrong passwords, then failures from fresh addresses for names that are no user
 * used to push the user's count out of the shared table; the fifth then locked nothing. */
static void test_user_count_survives_spray(void **state)
{
	struct web *w = web_with_users();
	uint64_t t = 5000000;
	(void)state;

	for (int i = 0; i < WEB_FAIL_LIMIT - 1; i++)
		assert_false(count_failure(w, true, "viewer", t + (uint64_t)i));
	for (int i = 0; i < WEB_FAIL_SLOTS * 4; i++) {
		char addr[32], name[32];
		snprintf(addr, sizeof(addr), "10.3.%d.%d", i / 250, i % 250);
		snprintf(name, sizeof(name), "nobody%d", i);
		count_failure(w, true, name, t + 100 + (uint64_t)i);
		count_failure(w, false, addr, t + 100 + (uint64_t)i);
	}
	assert_null(fail_of(w, true, "nobody1", false, t + 5000)); /* no user: no counter of its own */
	assert_true(count_failure(w, true, "viewer", t + 5000));
	assert_true(locked_s(w, true, "viewer", t + 5001) > 0);
	/* a removed user's counter goes at a reload */
	struct ag_config only_manager = { 0 };
	only_manager.web.users = w->d->cfg->web.users + 1;
	only_manager.web.n_users = 1;
	web_auth_reload(w, &only_manager);
	assert_null(fail_slot(w->user_fails, WEB_USERS_MAX, "viewer", false, t + 5002));
}

static void test_cookie_name_exact(void **state)
{
	char v[64];
	(void)state;
	assert_int_equal(web_cookie_value("xampgate_session=abc", "ampgate_session", v, sizeof(v)), -ENOENT);
	assert_int_equal(web_cookie_value("theme=dark; ampgate_session=abc; x=1", "ampgate_session", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(web_cookie_value("ampgate_sessionx=1;ampgate_session=def", "ampgate_session", v, sizeof(v)), 0);
	assert_string_equal(v, "def");
	assert_int_equal(web_cookie_value("ampgate_session", "ampgate_session", v, sizeof(v)), -ENOENT);
	assert_int_equal(web_cookie_value("ampgate_session=0123456789", "ampgate_session", v, 4), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe_path),
		cmocka_unit_test(test_public_files),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_lockout),
		cmocka_unit_test(test_user_count_survives_spray),
		cmocka_unit_test(test_cookie_name_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
