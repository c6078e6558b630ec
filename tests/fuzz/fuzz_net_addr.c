/* Address parsing (net-addr.c): listen addresses, the CSMS URL and Modbus endpoints as the
 * configuration gives them. One input string goes to all three parsers; whatever they accept
 * must be usable as it stands: ports 1..65535, a host that fits, a URL path that starts with '/'
 * and has no trailing '/', serial settings within what libmodbus takes. */
#include "tests/fuzz/fuzz.h"
#include "edge/core/net-addr.h"

#include <stdio.h>

FUZZ_DEFAULT_INIT

static bool terminated(const char *s, size_t size)
{
	return memchr(s, 0, size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct host_port hp;
	struct ws_url u;
	struct modbus_addr m;

	if (host_port_parse(s, &hp) == 0)
		fuzz_check(terminated(hp.host, sizeof(hp.host)) && hp.port >= 1 && hp.port <= 65535, "host_port");
	if (ws_url_parse(s, &u) == 0) {
		size_t pl = strlen(u.path);
		fuzz_check(terminated(u.host, sizeof(u.host)) && u.host[0] && u.port >= 1 && u.port <= 65535, "ws_url host");
		fuzz_check(u.path[0] == '/' && (pl == 1 || u.path[pl - 1] != '/') && !strpbrk(u.path, "?# "), "ws_url path");
	}
	if (modbus_addr_parse(s, &m) == 0) {
		if (m.rtu)
			fuzz_check(m.device[0] == '/' && terminated(m.device, sizeof(m.device)) && m.baud >= 300 &&
				      m.baud <= 921600 && strchr("NEO", m.parity) && m.parity && m.data_bits >= 5 &&
				      m.data_bits <= 8 && (m.stop_bits == 1 || m.stop_bits == 2),
			      "modbus rtu");
		else
			fuzz_check(m.host[0] && terminated(m.host, sizeof(m.host)) && m.port >= 1 && m.port <= 65535, "modbus tcp");
	}
	free(s);
	return 0;
}
