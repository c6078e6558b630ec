/* Logging: one message is one line, whatever the peers put in the strings it quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edge/core/log.h"

/* Run `fn` with stderr captured into `out` (NUL-terminated); returns the bytes captured. */
static size_t capture_stderr(void (*fn)(void), char *out, size_t size)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	log_init(LL_INFO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(out, 1, size - 1, tmp);
	fclose(tmp);
	out[n] = 0;
	return n;
}

/* A charger's vendor string with a newline and a journal priority prefix cannot forge a line. */
static void log_forged(void)
{
	log_msg(LL_INFO, "charger %s: booted", "CP1\n<3>charger CP2: tamper\r\x1b[2J");
}

static void test_quoted_newline_stays_one_line(void **state)
{
	char out[512];
	(void)state;

	size_t n = capture_stderr(log_forged, out, sizeof(out));
	assert_non_null(strstr(out, "info: charger CP1?<3>charger CP2: tamper??[2J: booted\n"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
}

/* A line repeated back to back (lws's "accept: errno 24" in a loop) is written once, then
 * counted: 10,000 repeats cost two lines, not 10,000. */
static void log_repeats(void)
{
	for (int i = 0; i < 10000; i++)
		log_msg(LL_WARN, "lws: accept: errno %d", 24);
	log_msg(LL_INFO, "charger CP1: connected");
}

static void test_repeats_folded(void **state)
{
	static char out[65536];
	int lines = 0;
	(void)state;

	capture_stderr(log_repeats, out, sizeof(out));
	for (char *c = out; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 3);
	assert_non_null(strstr(out, "warning: lws: accept: errno 24\n"));
	assert_non_null(strstr(out, "warning: last message repeated 9999 times\n"));
	assert_non_null(strstr(out, "info: charger CP1: connected\n"));
}

static void test_one_line(void **state)
{
	char s[] = "a\tb\nc\x7f" "d";
	(void)state;
	log_one_line(s);
	assert_string_equal(s, "a?b?c?d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quoted_newline_stays_one_line),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_repeats_folded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
