/* Address parsing: the forms installers write, and the typos --check must catch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "edge/core/net-addr.h"

static void test_host_port(void **state)
{
	struct host_port hp;
	(void)state;
	assert_int_equal(host_port_parse("0.0.0.0:8887", &hp), 0);
	assert_string_equal(hp.host, "0.0.0.0");
	assert_int_equal(hp.port, 8887);
	assert_int_equal(host_port_parse("[::1]:80", &hp), 0);
	assert_string_equal(hp.host, "::1");
	assert_int_equal(host_port_parse(":443", &hp), 0);
	assert_string_equal(hp.host, "");
	assert_int_equal(host_port_parse("host", &hp), -EINVAL);
	assert_int_equal(host_port_parse("host:0", &hp), -EINVAL);
	assert_int_equal(host_port_parse("host:70000", &hp), -EINVAL);
	assert_int_equal(host_port_parse("host:80x", &hp), -EINVAL);
	assert_int_equal(host_port_parse("a:b:80", &hp), -EINVAL);
}

static void test_ws_url(void **state)
{
	struct ws_url u;
	(void)state;
	assert_int_equal(ws_url_parse("wss://csms.example.com/ocpp/", &u), 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "csms.example.com");
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/ocpp");
	assert_int_equal(ws_url_parse("ws://127.0.0.1:9000", &u), 0);
	assert_false(u.tls);
	assert_int_equal(u.port, 9000);
	assert_string_equal(u.path, "/");
	assert_int_equal(ws_url_parse("http://x/ocpp", &u), -EINVAL);
	assert_int_equal(ws_url_parse("ws:///ocpp", &u), -EINVAL);
	assert_int_equal(ws_url_parse("ws://h/ocpp?x=1", &u), -EINVAL);
}

static void test_modbus(void **state)
{
	struct modbus_addr a;
	(void)state;
	assert_int_equal(modbus_addr_parse("tcp://10.0.0.5", &a), 0);
	assert_false(a.rtu);
	assert_int_equal(a.port, 502);
	assert_int_equal(modbus_addr_parse("tcp://127.0.0.1:1502", &a), 0);
	assert_int_equal(a.port, 1502);
	assert_int_equal(modbus_addr_parse("rtu:///dev/ttyUSB0?baud=19200&parity=E&stop=2", &a), 0);
	assert_true(a.rtu);
	assert_string_equal(a.device, "/dev/ttyUSB0");
	assert_int_equal(a.baud, 19200);
	assert_int_equal(a.parity, 'E');
	assert_int_equal(a.stop_bits, 2);
	assert_int_equal(a.data_bits, 8);
	assert_int_equal(modbus_addr_parse("rtu:///dev/ttyS1", &a), 0);
	assert_int_equal(a.baud, 9600);
	assert_int_equal(modbus_addr_parse("rtu:///dev/ttyS1?parity=X", &a), -EINVAL);
	assert_int_equal(modbus_addr_parse("rtu:///dev/ttyS1?speed=9600", &a), -EINVAL);
	assert_int_equal(modbus_addr_parse("rtu://dev/ttyS1", &a), -EINVAL);
	/* Options past 255 characters were cut off unread: a wrong parity at the end passed. */
	char long_opts[320] = "rtu:///dev/ttyS1?";
	memset(long_opts + strlen(long_opts), '&', 255);
	strcpy(long_opts + strlen("rtu:///dev/ttyS1?") + 255, "parity=X");
	assert_int_equal(modbus_addr_parse(long_opts, &a), -EINVAL);
	assert_int_equal(modbus_addr_parse("tcp://host/x", &a), -EINVAL);
	assert_int_equal(modbus_addr_parse("udp://host", &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_port),
		cmocka_unit_test(test_ws_url),
		cmocka_unit_test(test_modbus),
	};
	return cmocka_run_group_tests_name("net_addr", tests, NULL, NULL);
}
