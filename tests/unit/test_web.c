/* The web module's pure rules: which paths may be served, what is public before login, what
 * counts as the box itself, and the lockout arithmetic (5 wrong passwords within the window lock
 * for WEB_LOCK_S; the lock ends; a success clears the count). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/web.c"
#include "edge/web-auth.c"

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

static void test_lockout(void **state)
{
	static struct web w;
	uint64_t t = 1000000;
	(void)state;

	for (int i = 1; i < WEB_FAIL_LIMIT; i++)
		assert_false(count_failure(&w, "u:viewer", t + (uint64_t)i));
	assert_int_equal(locked_s(&w, "u:viewer", t + 10), 0);
	assert_true(count_failure(&w, "u:viewer", t + 10));
	assert_int_equal(locked_s(&w, "u:viewer", t + 10), WEB_LOCK_S);
	assert_int_equal(locked_s(&w, "u:manager", t + 10), 0);
	/* more wrong tries while locked do not extend or re-announce the lock */
	assert_false(count_failure(&w, "u:viewer", t + 20));
	assert_int_equal(locked_s(&w, "u:viewer", t + 10 + WEB_LOCK_S * 1000ull), 0);

	/* wrong tries spread beyond the window start counting again */
	assert_false(count_failure(&w, "s:10.0.0.9", t));
	for (int i = 1; i < WEB_FAIL_LIMIT; i++)
		assert_false(count_failure(&w, "s:10.0.0.9", t + (uint64_t)i * (WEB_FAIL_WINDOW_S + 1) * 1000ull));

	/* a full table makes room without losing a live lock */
	for (int i = 0; i < WEB_FAIL_SLOTS * 2; i++) {
		char key[32];
		snprintf(key, sizeof(key), "s:10.1.%d.%d", i / 250, i % 250);
		count_failure(&w, key, t + 100000 + (uint64_t)i);
	}
	assert_non_null(fail_slot(&w, "s:10.1.1.5", false, t + 200000));
	assert_false(count_failure(&w, "u:manager", t + 300000));
	for (int i = 1; i < WEB_FAIL_LIMIT; i++)
		count_failure(&w, "u:manager", t + 300000 + (uint64_t)i);
	assert_true(locked_s(&w, "u:manager", t + 300010) > 0);
	for (int i = 0; i < WEB_FAIL_SLOTS * 2; i++) {
		char key[32];
		snprintf(key, sizeof(key), "s:10.2.%d.%d", i / 250, i % 250);
		count_failure(&w, key, t + 300100 + (uint64_t)i);
	}
	assert_true(locked_s(&w, "u:manager", t + 301000) > 0); /* the lock outlived the spray */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe_path),
		cmocka_unit_test(test_public_files),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_lockout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
