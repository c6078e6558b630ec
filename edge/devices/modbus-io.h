/* libmodbus at the boundary: open a context for a configured address with bounded timeouts,
 * register I/O for the drivers (struct reg_io), and error text an installer can act on.
 * Used by the bus workers and by `ampgatectl devices`. A context belongs to one thread. */
#ifndef AG_MODBUS_IO_H
#define AG_MODBUS_IO_H

#include "drivers/driver.h"
#include "edge/core/net-addr.h"

#include <modbus.h>
#include <stddef.h>

struct mbio {
	modbus_t *mb;
	int unit;                       /* unit id selected before every request */
	int timeout_ms;
};

/* Create (not connect) a context for `a`; response timeout timeout_ms, byte timeout at most
 * that. NULL with errno set. */
modbus_t *mbio_new(const struct modbus_addr *a, int timeout_ms);
/* Connect (TCP: bounded by the response timeout; RTU: open and set up the line). 0 or -errno. */
int mbio_connect(modbus_t *mb);
/* A reg_io reading and writing through m (which must outlive it). */
void mbio_reg_io(struct mbio *m, struct reg_io *io);

/* True when err means the connection itself is gone (reconnect), not one request failing. */
bool mbio_err_is_link(int err);

/* "tcp://host:port" or "rtu:///dev/ttyX 9600 8N1". */
void mbio_addr_format(const struct modbus_addr *a, char *buf, size_t len);
/* What went wrong, in words ("no answer within 500 ms"). */
const char *mbio_strerror(int err);
/* What to check, for the installer ("check the unit id (3), wiring A/B, baud rate and parity"). */
void mbio_hint(int err, const struct modbus_addr *a, int unit, char *buf, size_t len);

#endif
