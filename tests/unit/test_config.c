/* Configuration parsing: defaults, ranges, unknown keys with suggestions, cross-references and
 * the file:line of every error. Includes config.c to reach its statics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "edge/core/config.c"
#include "edge/core/passwd.h"

#include <sys/stat.h>

static const char *const base_site =
	"site = { name = \"t\"; grid = { limit_a = [100.0, 100.0, 90.5]; };\n"
	"  circuits = ( { id = \"fa\"; limit_a = 63; }, { id = \"fb\"; parent = \"fa\"; limit_a = 32; } ); };\n";

/* Write `text` to a temporary file of mode `mode`, load it, and capture the error output in `errs`. */
static struct ag_config *load_text_mode(const char *text, mode_t mode, char *errs, size_t errs_size)
{
	char path[] = "/tmp/ampgate-test-XXXXXX";
	int fd = mkstemp(path);
	fchmod(fd, mode);
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

static struct ag_config *load_text(const char *text, char *errs, size_t errs_size)
{
	return load_text_mode(text, 0600, errs, errs_size);
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
	assert_string_equal(errs, "FILE:1: site.policy: \"fa?ir\" is not one of: fair, priority, deadline, cost, plan\n");
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

/* ---- issue 18 item 9: what cannot work is an error, what is unsafe a warning ---- */

/* base_site with `rest` appended, loaded as a 0600 file. */
static struct ag_config *load_site(const char *rest, char *errs, size_t size)
{
	char text[8192];

	snprintf(text, sizeof(text), "%s%s", base_site, rest);
	return load_text(text, errs, size);
}

/* base_site with `rest` appended is valid, and what --check prints holds `expect` (NULL: nothing). */
static void assert_valid_with(const char *rest, const char *expect)
{
	char errs[4096] = "";
	struct ag_config *cfg = load_site(rest, errs, sizeof(errs));

	assert_non_null(cfg);
	if (expect)
		assert_non_null(strstr(errs, expect));
	else
		assert_string_equal(errs, "");
	config_free(cfg);
}

/* base_site with `rest` appended is refused, and what --check prints holds `expect`. */
static void assert_refused_with(const char *rest, const char *expect)
{
	char errs[4096] = "";

	assert_null(load_site(rest, errs, sizeof(errs)));
	assert_non_null(strstr(errs, expect));
}

static void test_hash_that_cannot_work_is_an_error(void **state)
{
	(void)state;
	/* the placeholder etc/ampgate.conf used to ship */
	assert_refused_with("web = { listen = \"127.0.0.1:8080\";\n  users = ( { name = \"manager\";\n"
			    "    password_hash = \"$pbkdf2-sha256$600000$c2FsdHNhbHQ$REPLACE\"; role = \"manager\"; } ); };\n",
			    "FILE:5: web.users[0].password_hash: user manager: this is the placeholder of the shipped file, "
			    "not a hash, so user manager could never log in");
	/* the password itself where its hash belongs, for a user and for a charger */
	assert_refused_with("web = { listen = \"127.0.0.1:8080\";\n  users = ( { name = \"ann\"; password_hash = "
			    "\"hunter2hunter2\"; } ); };\n",
			    "FILE:4: web.users[0].password_hash: user ann: this looks like a password in clear text, not its hash");
	assert_refused_with("chargers = ( { id = \"CP1\";\n password_hash = \"Xk29dkdk38dkd92k\"; } );\n",
			    "FILE:4: chargers[0].password_hash: charger CP1: this looks like a password in clear text");
	assert_refused_with("chargers = ( { id = \"CP1\"; password_hash = \"$pbkdf2-sha256$1000$!!$??\"; } );\n",
			    "charger CP1: not a hash from `ampgatectl passwd`");
}

static void test_cheap_hash_warns(void **state)
{
	char hash[PASSWD_HASH_MAX + 1], rest[1024];
	(void)state;
	for (int cheap = 1; cheap >= 0; cheap--) {
		assert_int_equal(passwd_hash("a good long password", cheap ? 1 : PASSWD_ITER_WEB, hash, sizeof(hash)), 0);
		snprintf(rest, sizeof(rest),
			 "web = { listen = \"127.0.0.1:8080\";\n  users = ( { name = \"ann\"; password_hash = \"%s\"; } ); };\n",
			 hash);
		assert_valid_with(rest, cheap ? "FILE:4: web.users[0].password_hash: warning: user ann: the hash has only 1 "
						"PBKDF2 iteration: from a copy of this file the password is found quickly"
					      : NULL);
	}
}

static void test_clear_text_on_the_network_warns(void **state)
{
	(void)state;
	const char *charger = "chargers = ( { id = \"CP1\"; password = \"Vd8q-2Lr9zTx4mWb\"; } );\n";
	char rest[2048];

	snprintf(rest, sizeof(rest), "%socpp = { listen = \"0.0.0.0:8887\";\n  security_profile = 0; };\n", charger);
	assert_valid_with(rest,
			  "FILE:5: ocpp.security_profile: warning: 0 on 0.0.0.0:8887: chargers connect with "
			  "no password at all");
	snprintf(rest, sizeof(rest), "%socpp = { listen = \"192.0.2.1:8887\"; security_profile = 1; };\n", charger);
	assert_valid_with(rest,
			  "ocpp.security_profile: warning: 1 on 192.0.2.1:8887 is plain ws://: the chargers' "
			  "passwords cross the network in clear text");
	/* loopback plain ws:// reaches nobody else: not unsafe */
	snprintf(rest, sizeof(rest), "%socpp = { listen = \"127.0.0.1:8887\"; security_profile = 1; };\n", charger);
	assert_valid_with(rest, NULL);
	/* the CSMS side: plain ws://, and TLS without checking the certificate */
	assert_valid_with("upstream = { url = \"ws://csms.example.com/ocpp\"; security_profile = 1; };\n",
			  "upstream.url: warning: plain ws:// to csms.example.com with security_profile 1: the "
			  "chargers' passwords go to the CSMS in clear text");
	assert_valid_with("upstream = { url = \"wss://csms.example.com/ocpp\";\n  verify_tls = false; };\n",
			  "FILE:4: upstream.verify_tls: warning: false: the CSMS's certificate is not checked");
}

static void test_web_and_mqtt_in_clear_warn(void **state)
{
	char hash[PASSWD_HASH_MAX + 1], rest[1024];
	(void)state;
	assert_int_equal(passwd_hash("a good long password", PASSWD_ITER_WEB, hash, sizeof(hash)), 0);
	snprintf(rest, sizeof(rest),
		 "web = {\n  listen = \"0.0.0.0:8080\";\n  users = ( { name = \"ann\"; password_hash = \"%s\"; } ); };\n", hash);
	assert_valid_with(rest,
			  "FILE:4: web.listen: warning: 0.0.0.0:8080 over plain HTTP: the managers' passwords "
			  "and session cookies cross the network in clear text");
	assert_valid_with("mqtt = { enabled = true; host = \"broker.example.com\"; username = \"u\";\n"
					"  password = \"a-broker-password\"; };\n",
			  "FILE:4: mqtt.password: warning: sent to the broker broker.example.com without TLS");
	assert_valid_with("mqtt = { enabled = true; host = \"127.0.0.1\"; username = \"u\";\n"
					"  password = \"a-broker-password\"; };\n", NULL);
}

static void test_weak_and_shared_charger_passwords_warn(void **state)
{
	char errs[4096] = "";
	(void)state;
	struct ag_config *cfg = load_site("ocpp = { listen = \"0.0.0.0:8887\"; security_profile = 2;\n"
					  "  tls = { cert = \"c.pem\"; key = \"k.pem\"; }; };\n"
					  "chargers = ( { id = \"A\"; password = \"aaaaaaaaaaaaaaaa\"; },\n"
					  "  { id = \"B\"; password = \"0123456789abcdef\"; },\n"
					  "  { id = \"C\"; password = \"changeme-changeme\"; },\n"
					  "  { id = \"D\"; password = \"Vd8q-2Lr9zTx4mWb\"; },\n"
					  "  { id = \"E\"; password = \"Vd8q-2Lr9zTx4mWb\"; } );\n",
					  errs, sizeof(errs));
	assert_non_null(cfg);
	assert_non_null(strstr(errs, "FILE:5: chargers[0].password: warning: charger A: the password is easy to guess (it "
			  "has fewer than 6 different characters)"));
	assert_non_null(strstr(errs, "FILE:6: chargers[1].password: warning: charger B: the password is easy to guess (it "
			  "is a run of consecutive characters"));
	assert_non_null(strstr(errs, "FILE:7: chargers[2].password: warning: charger C: the password is easy to guess (it "
			  "holds a word that templates and examples use)"));
	assert_null(strstr(errs, "charger D: the password is easy"));
	assert_non_null(strstr(errs, "FILE:9: chargers[4].password: warning: charger E has the same password as charger D "
			  "(line 8)"));
	config_free(cfg);
}

static void test_world_readable_plain_passwords_warn(void **state)
{
	char text[2048], errs[4096] = "";
	struct ag_config *cfg;
	(void)state;
	snprintf(text, sizeof(text), "%s%s", base_site,
		 "ocpp = { listen = \"127.0.0.1:8887\"; };\nchargers = ( { id = \"A\";\n password = \"Vd8q-2Lr9zTx4mWb\"; } );\n");
	assert_non_null(cfg = load_text_mode(text, 0644, errs, sizeof(errs)));
	assert_non_null(strstr(errs, "FILE:5: (file): warning: every user of this machine can read this file, and it holds "
			  "passwords in clear text; chmod 640 it"));
	config_free(cfg);
	errs[0] = '\0';
	assert_non_null(cfg = load_text_mode(text, 0640, errs, sizeof(errs)));
	assert_string_equal(errs, "");
	config_free(cfg);
}

static void test_address_that_is_none(void **state)
{
	char errs[4096] = "";
	(void)state;
	assert_refused_with("devices = ( { id = \"m\"; driver = \"sim\"; role = \"grid-meter\";\n"
			    "  modbus = \"tcp://127.0.0.1.5:502\"; } );\n",
			    "FILE:4: devices[0].modbus: \"127.0.0.1.5\" is neither an IP address nor a host name");
	const char *const good[] = { "meter-1.site.example", "10.0.0.7", "[fd00::7]" };
	const char *const bad[] = { "300.1.1.1", "-bad.example", "a..b", "10.0.0" };
	char rest[512];
	for (size_t i = 0; i < 3 + 4; i++) {
		const char *host = i < 3 ? good[i] : bad[i - 3];
		struct ag_config *cfg;
		snprintf(rest, sizeof(rest),
			 "devices = ( { id = \"m\"; driver = \"sim\"; role = \"grid-meter\"; modbus = \"tcp://%s:502\"; } );\n",
			 host);
		errs[0] = '\0';
		cfg = load_site(rest, errs, sizeof(errs));
		if (i < 3)
			assert_non_null(cfg);
		else
			assert_non_null(strstr(errs, "is neither an IP address nor a host name"));
		config_free(cfg);
	}
}

static void test_syntax_error_says_what_was_seen(void **state)
{
	char errs[4096] = "";
	(void)state;
	assert_null(load_text("site = { name = \"t\";\n  grid = { limit_a = 10; };\n  policy = fair; };\n", errs,
			      sizeof(errs)));
	assert_non_null(strstr(errs, "FILE:3: (syntax): syntax error (each setting is name = value; "));
	assert_non_null(strstr(errs, "text in double quotes); the line reads `policy = fair; };`"));
}

static void test_misspelt_key_suggests_the_short_one(void **state)
{
	(void)state;
	assert_refused_with("chargers = ( { id = \"A\"; password = \"Vd8q-2Lr9zTx4mWb\";\n  max_amps = 16.0; } );\n",
			    "FILE:4: chargers[0].max_amps: unknown key (did you mean \"max_a\"?)");
}

/* Issue 18 item 7: a temporary limit a manager sends (REST or MQTT) is finite, above 0 and not
 * above the connection's limit; with none configured, not above the largest one there can be. */
static void test_override_limit_range(void **state)
{
	char why[200], errs[4096] = "";
	(void)state;
	struct ag_config *cfg = load_text(base_site, errs, sizeof(errs));
	assert_non_null(cfg);
	assert_int_equal(config_override_check(cfg, 1e308, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "limit_a 1e+308 A is above the configured grid limit of 100.0 A per phase"));
	assert_int_equal(config_override_check(cfg, 100.5, why, sizeof(why)), -EINVAL);
	assert_int_equal(config_override_check(cfg, NAN, why, sizeof(why)), -EINVAL);
	assert_int_equal(config_override_check(cfg, INFINITY, why, sizeof(why)), -EINVAL);
	assert_int_equal(config_override_check(cfg, 0, why, sizeof(why)), -EINVAL);
	assert_int_equal(config_override_check(cfg, 100, why, sizeof(why)), 0);
	assert_int_equal(config_override_check(cfg, 6.5, why, sizeof(why)), 0);
	for (int p = 0; p < AG_PHASES; p++)
		cfg->site.grid.limit_a[p] = 0; /* no connection limit configured */
	assert_int_equal(config_override_check(cfg, 1e308, why, sizeof(why)), -EINVAL);
	assert_int_equal(config_override_check(cfg, CFG_LIMIT_MAX_A + 1, why, sizeof(why)), -EINVAL);
	assert_int_equal(config_override_check(cfg, 400, why, sizeof(why)), 0);
	config_free(cfg);
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
		cmocka_unit_test(test_hash_that_cannot_work_is_an_error), cmocka_unit_test(test_cheap_hash_warns),
		cmocka_unit_test(test_clear_text_on_the_network_warns), cmocka_unit_test(test_web_and_mqtt_in_clear_warn),
		cmocka_unit_test(test_weak_and_shared_charger_passwords_warn),
		cmocka_unit_test(test_world_readable_plain_passwords_warn), cmocka_unit_test(test_address_that_is_none),
		cmocka_unit_test(test_syntax_error_says_what_was_seen),
		cmocka_unit_test(test_misspelt_key_suggests_the_short_one), cmocka_unit_test(test_override_limit_range),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
