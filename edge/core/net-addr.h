/* Parsing of the addresses the configuration names: listen addresses, WebSocket URLs and
 * Modbus endpoints. Pure string functions; no name resolution happens here. */
#ifndef AG_NET_ADDR_H
#define AG_NET_ADDR_H

#include <stdbool.h>

struct host_port {
	char host[256];         /* "" means any address */
	int port;
};

struct ws_url {
	bool tls;               /* wss:// */
	char host[256];
	int port;               /* explicit or 80/443 */
	char path[512];         /* "/" when empty, no trailing slash otherwise */
};

struct modbus_addr {
	bool rtu;
	char host[256];         /* tcp: host */
	int port;               /* tcp: port (default 502) */
	char device[256];       /* rtu: /dev/ttyX */
	int baud;               /* rtu: default 9600 */
	char parity;            /* rtu: 'N', 'E' or 'O' */
	int data_bits;          /* rtu: 8 */
	int stop_bits;          /* rtu: 1 */
};

/* "host:port", "[v6]:port" or ":port". Returns 0 or -EINVAL. */
int host_port_parse(const char *s, struct host_port *out);
/* "ws://host[:port][/path]" or "wss://...". Returns 0 or -EINVAL. */
int ws_url_parse(const char *s, struct ws_url *out);
/* "tcp://host[:port]" or "rtu:///dev/ttyX[?baud=N&parity=N|E|O&data=8&stop=1]". 0 or -EINVAL. */
int modbus_addr_parse(const char *s, struct modbus_addr *out);

#endif
