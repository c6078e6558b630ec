/* Configuration parsing: defaults, ranges, unknown keys with suggestions, cross-references and
 * the file:line of every error. Includes config.c to reach its statics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "edge/config.c"

static const char *const base_site =
	"site = { name = \"t\"; grid = { limit_a = [100.0, 100.0, 90.5]; };\n"
	"  circuits = ( { id = \"fa\"; limit_a = 63; }, { id = \"fb\"; parent = \"fa\"; limit_a = 32; } ); };\n";

/* Write `text` to a temporary file, load it, and capture the error output in `errs`. */
static struct ag_config *load_text(const char *text, char *errs, size_t errs_size)
{
	char path[] = "/tmp/ampgate-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	FILE *e = fmemopen(errs, errs_size, "w");
	struct ag_config *cfg = config_load(path, e);
	fclose(e);
	unlink(path);
	/* Drop the random file name so tests can match "file:line". */
	char *p;
	while ((p = strstr(errs, path)) != NULL)
		memmove(p + 4, p + strlen(path), strlen(p + strlen(path)) + 1), memcpy(p, "FILE", 4);
	return cfg;
}

static void test_defaults_and_phases(void **state)
{
	char errs[4096] = "";
	(void)state;
	struct ag_config *cfg = load_text(base_site, errs, sizeof(errs));
	assert_non_null(cfg);
	assert_string_equal(errs, "");
	assert_float_equal(cfg->site.voltage_v, 230.0, 1e-9);
	assert_int_equal(cfg->site.control_period_ms, 1000);
	assert_string_equal(cfg->site.policy, "fair");
	assert_float_equal(cfg->site.grid.limit_a[1], 100.0, 1e-9);
	assert_float_equal(cfg->site.grid.limit_a[2], 90.5, 1e-9);
	assert_int_equal(cfg->site.n_circuits, 2);
	assert_float_equal(cfg->site.circuits[0].limit_a[2], 63.0, 1e-9);
	assert_string_equal(cfg->site.circuits[0].parent, "grid");
	assert_string_equal(cfg->ocpp.listen, "0.0.0.0:8887");
	assert_true(cfg->health.heal);
	assert_string_equal(cfg->upstream.partition, "autonomous");
	assert_null(cfg->upstream.url);
	config_free(cfg);
}

static void test_unknown_key_suggests(void **state)
{
	char errs[4096] = "";
	(void)state;
	struct ag_config *cfg = load_text("site = { name = \"t\";\n  margn_a = 3.0;\n  grid = { limit_a = 10; }; };\n",
					  errs, sizeof(errs));
	assert_null(cfg);
	assert_non_null(strstr(errs, "FILE:2: site.margn_a: unknown key (did you mean \"margin_a\"?)"));
}

static void test_range_and_type(void **state)
{
	char errs[4096] = "";
	(void)state;
	struct ag_config *cfg = load_text("site = { name = \"t\"; grid = { limit_a = 10; };\n"
					  "  control_period_ms = 5;\n  voltage_v = \"230\"; };\n",
					  errs, sizeof(errs));
	assert_null(cfg);
	assert_non_null(strstr(errs, "FILE:2: site.control_period_ms: 5 ms is out of range (100 .. 60000 ms)"));
	assert_non_null(strstr(errs, "FILE:3: site.voltage_v: expected a number"));
}

/* Found by tests/fuzz/fuzz_config: an integer beyond int (a 64-bit literal) was reported and
 * then still converted to int, which is undefined behaviour. */
static void test_int64_out_of_range(void **state)
{
	char errs[4096] = "";
	(void)state;
	assert_null(load_text("site = { name = \"t\"; grid = { limit_a = 1.0; };\n"
			      "  control_period_ms = 99999999999L; };\n", errs, sizeof(errs)));
	assert_non_null(strstr(errs, "FILE:2: site.control_period_ms: 1e+11 ms is out of range (100 .. 60000 ms)"));
}

/* Found by tests/fuzz/fuzz_config: a value echoed in a message could carry a newline and split
 * the `file:line: key: message` line (or forge another). */
static void test_message_is_one_line(void **state)
{
	char errs[4096] = "";
	(void)state;
	assert_null(load_text("site = { name = \"t\"; grid = { limit_a = 1.0; }; policy = \"fa\\nir\"; };\n", errs,
			      sizeof(errs)));
	assert_string_equal(errs, "FILE:1: site.policy: \"fa?ir\" is not one of: fair, priority, deadline, cost\n");
}

static void test_missing_required(void **state)
{
	char errs[4096] = "";
	(void)state;
	assert_null(load_text("site = { grid = { limit_a = 10; }; };\n", errs, sizeof(errs)));
	assert_non_null(strstr(errs, "FILE:1: site.name: missing required key"));
}

static void test_charger_unknown_circuit(void **state)
{
	char text[2048], errs[4096] = "";
	(void)state;
	snprintf(text, sizeof(text),
		 "%schargers = (\n  { id = \"CP1\"; password = \"0123456789abcdef\";\n    circuit = \"nope\"; } );\n",
		 base_site);
	assert_null(load_text(text, errs, sizeof(errs)));
	assert_non_null(strstr(errs, "FILE:5: chargers[0].circuit: charger CP1: unknown circuit \"nope\""));
}

static void test_cycle_and_duplicates(void **state)
{
	char errs[4096] = "";
	(void)state;
	assert_null(load_text("site = { name = \"t\"; grid = { limit_a = 10; };\n"
			      "  circuits = ( { id = \"a\"; parent = \"b\"; },\n { id = \"b\"; parent = \"a\"; },\n"
			      " { id = \"a\"; } ); };\n",
			      errs, sizeof(errs)));
	assert_non_null(strstr(errs, "is its own ancestor (a cycle)"));
	assert_non_null(strstr(errs, "FILE:4: site.circuits[2].id: circuit id \"a\" is used twice"));
}

static void test_child_limit_warns(void **state)
{
	char errs[4096] = "";
	(void)state;
	struct ag_config *cfg = load_text("site = { name = \"t\"; grid = { limit_a = 100; };\n"
					  "  circuits = ( { id = \"a\";\n limit_a = 200; } ); };\n",
					  errs, sizeof(errs));
	assert_non_null(cfg);
	assert_non_null(strstr(errs, "FILE:3: site.circuits[0].limit_a: warning: L1 limit 200 A is above its parent"));
	config_free(cfg);
}

static void test_wiring_and_passwords(void **state)
{
	char text[2048], errs[4096] = "";
	(void)state;
	snprintf(text, sizeof(text), "%s%s", base_site,
		 "chargers = ( { id = \"A\"; phases = 1; rotation = \"L1L2L3\"; password = \"0123456789abcdef\"; },\n"
		 "  { id = \"B\"; min_a = 20.0; max_a = 16.0; },\n"
		 "  { id = \"C/1\"; password = \"0123456789abcdef\"; } );\n");
	assert_null(load_text(text, errs, sizeof(errs)));
	assert_non_null(strstr(errs, "does not fit 1 phase(s)"));
	assert_non_null(strstr(errs, "min_a 20 A is above max_a 16 A"));
	assert_non_null(strstr(errs, "charger B: ocpp.security_profile 1 needs a password"));
	assert_non_null(strstr(errs, "\"C/1\": a station id cannot hold"));
	snprintf(text, sizeof(text), "%s%s", base_site, "chargers = ( { id = \"C\"; password = \"short\"; } );\n");
	assert_null(load_text(text, errs, sizeof(errs)));
	assert_non_null(strstr(errs, "chargers[0].password: length 5 is out of range (16 .. 40 characters)"));
}

static void test_syntax_error_has_line(void **state)
{
	char errs[4096] = "";
	(void)state;
	assert_null(load_text("site = {\n name = \"t\";\n grid = { limit_a = [1.0, 2, 3.0]; }; };\n", errs, sizeof(errs)));
	assert_non_null(strstr(errs, "FILE:3: (syntax): mismatched element type in array (write every number"));
	assert_null(load_text("site = {\n name = = \"t\"; };\n", errs, sizeof(errs)));
	assert_non_null(strstr(errs, "FILE:2: (syntax)"));
}

static void test_shipped_files_are_valid(void **state)
{
	(void)state;
	const char *files[] = { "../../etc/ampgate.conf", "../../etc/demo.conf" };
	for (size_t i = 0; i < 2; i++) {
		struct ag_config *cfg = config_load(files[i], stderr);
		assert_non_null(cfg);
		config_free(cfg);
	}
}

static void test_suggestion_distance(void **state)
{
	(void)state;
	assert_int_equal(distance("margn_a", "margin_a"), 1);
	assert_int_equal(distance("", "abc"), 3);
	assert_int_equal(distance("kitten", "sitting"), 3);
}

int main(void)
{
	log_init(LL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_phases),  cmocka_unit_test(test_unknown_key_suggests),
		cmocka_unit_test(test_range_and_type),       cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_int64_out_of_range),   cmocka_unit_test(test_message_is_one_line),
		cmocka_unit_test(test_charger_unknown_circuit), cmocka_unit_test(test_cycle_and_duplicates),
		cmocka_unit_test(test_child_limit_warns),    cmocka_unit_test(test_wiring_and_passwords),
		cmocka_unit_test(test_syntax_error_has_line), cmocka_unit_test(test_shipped_files_are_valid),
		cmocka_unit_test(test_suggestion_distance),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
