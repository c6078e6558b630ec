/* Logging: one message is one line, whatever the peers put in the strings it quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edge/log.h"

/* A charger's vendor string with a newline and a journal priority prefix cannot forge a line. */
static void test_quoted_newline_stays_one_line(void **state)
{
	char out[512] = "";
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	(void)state;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	log_init(LL_INFO);
	log_msg(LL_INFO, "charger %s: booted", "CP1\n<3>charger CP2: tamper\r\x1b[2J");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(out, 1, sizeof(out) - 1, tmp);
	fclose(tmp);
	out[n] = 0;
	assert_non_null(strstr(out, "info: charger CP1?<3>charger CP2: tamper??[2J: booted\n"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
