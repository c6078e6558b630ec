/* libmodbus at the boundary: contexts with bounded timeouts, register I/O for the drivers, and
 * errors turned into -errno values and into words for installers.
 *
 * Design decision: every timeout is bounded by the device's timeout_ms (connect, response,
 * byte), so a worker is never inside libmodbus for longer than that; stopping relies on it.
 * After a timeout the context is flushed, so a late answer cannot be taken for the next one. */
#include "edge/devices/modbus-io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

modbus_t *mbio_new(const struct modbus_addr *a, int timeout_ms)
{
	char port[16];
	modbus_t *mb;
	int byte_ms = timeout_ms < 200 ? timeout_ms : 200;

	if (a->rtu) {
		mb = modbus_new_rtu(a->device, a->baud, a->parity, a->data_bits, a->stop_bits);
	} else {
		snprintf(port, sizeof(port), "%d", a->port);
		mb = modbus_new_tcp_pi(a->host, port);
	}
	if (!mb)
		return NULL;
	modbus_set_response_timeout(mb, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000);
	modbus_set_byte_timeout(mb, 0, (uint32_t)byte_ms * 1000);
	modbus_set_error_recovery(mb, MODBUS_ERROR_RECOVERY_NONE);
	return mb;
}

int mbio_connect(modbus_t *mb)
{
	return modbus_connect(mb) < 0 ? -(errno ? errno : EIO) : 0;
}

static int io_read(void *ctx, enum reg_kind kind, uint16_t addr, uint16_t n, uint16_t *out)
{
	struct mbio *m = ctx;
	int rc;

	modbus_set_slave(m->mb, m->unit);
	rc = kind == REG_INPUT ? modbus_read_input_registers(m->mb, addr, n, out)
			       : modbus_read_registers(m->mb, addr, n, out);
	if (rc == n)
		return 0;
	if (rc >= 0)
		return -EMBMDATA;
	rc = -(errno ? errno : EIO);
	if (rc == -ETIMEDOUT || rc == -EMBBADDATA || rc == -EMBBADCRC || rc == -EMBBADSLAVE)
		modbus_flush(m->mb);
	return rc;
}

static int io_write(void *ctx, uint16_t addr, uint16_t n, const uint16_t *in)
{
	struct mbio *m = ctx;
	int rc;

	modbus_set_slave(m->mb, m->unit);
	rc = n == 1 ? modbus_write_register(m->mb, addr, in[0]) : modbus_write_registers(m->mb, addr, n, in);
	if (rc >= 0)
		return 0;
	rc = -(errno ? errno : EIO);
	if (rc == -ETIMEDOUT)
		modbus_flush(m->mb);
	return rc;
}

void mbio_reg_io(struct mbio *m, struct reg_io *io)
{
	io->ctx = m;
	io->read = io_read;
	io->write = io_write;
}

bool mbio_err_is_link(int err)
{
	switch (-err) {
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case EPIPE:
	case EBADF:
	case ENOTCONN:
	case EIO:
	case ENETUNREACH:
	case EHOSTUNREACH:
		return true;
	default:
		return false;
	}
}

void mbio_addr_format(const struct modbus_addr *a, char *buf, size_t len)
{
	if (a->rtu)
		snprintf(buf, len, "rtu://%s %d %d%c%d", a->device, a->baud, a->data_bits, a->parity, a->stop_bits);
	else
		snprintf(buf, len, "tcp://%s:%d", a->host, a->port);
}

const char *mbio_strerror(int err)
{
	switch (-err) {
	case 0: return "ok";
	case ETIMEDOUT: return "no answer in time";
	case ENOENT: return "no SunSpec map found";
	case ENOTSUP: return "the device does not offer what its role needs";
	case ENODEV: return "the register map changed under us";
	case EBADMSG: return "implausible values";
	case EMBXILFUN: return "exception: illegal function";
	case EMBXILADD: return "exception: illegal data address";
	case EMBXILVAL: return "exception: illegal data value";
	case EMBXSFAIL: return "exception: server device failure";
	case EMBXSBUSY: return "exception: server busy";
	case EMBXGPATH: return "exception: gateway path unavailable";
	case EMBXGTAR: return "exception: gateway target did not respond";
	case EMBBADCRC: return "garbled answer (bad CRC)";
	case EMBBADDATA: return "garbled or mismatched answer";
	case EMBBADEXC: return "garbled exception answer";
	case EMBMDATA: return "short answer";
	case EMBBADSLAVE: return "answer from another unit id";
	default: return err < 0 && -err < MODBUS_ENOBASE ? strerror(-err) : modbus_strerror(-err);
	}
}

void mbio_hint(int err, const struct modbus_addr *a, int unit, char *buf, size_t len)
{
	const char *where = a->rtu ? "the RS-485 wiring (A/B swapped? termination?), baud rate and parity"
				   : "the IP address, the port and the network cable";

	switch (-err) {
	case ECONNREFUSED:
		snprintf(buf, len, "nothing accepts Modbus TCP at %s:%d: check the IP address and port, and that Modbus TCP "
			 "is enabled on the device", a->host, a->port);
		break;
	case ENETUNREACH:
	case EHOSTUNREACH:
		snprintf(buf, len, "%s cannot be reached: check the IP address and the network cable", a->host);
		break;
	case ENOENT:
		snprintf(buf, len, "no \"SunS\" marker at 40000, 0 or 50000: is it a SunSpec device, is unit id %d right, "
			 "or set `base`", unit);
		break;
	case EACCES:
	case EPERM:
		snprintf(buf, len, "no permission to open %s: add the ampgate user to group dialout", a->device);
		break;
	case ENOTSUP:
		snprintf(buf, len, "check the device's role and driver in the configuration, and unit id %d", unit);
		break;
	case ETIMEDOUT:
	case EMBXGTAR:
	case EMBXGPATH:
		snprintf(buf, len, "check that the device is powered, unit id %d, and %s", unit, where);
		break;
	case EMBXILADD:
	case EMBXILFUN:
		snprintf(buf, len, "the device lacks these registers: check the driver, the register map and unit id %d", unit);
		break;
	case EMBBADCRC:
	case EMBBADDATA:
	case EMBBADEXC:
	case EMBMDATA:
	case EMBBADSLAVE:
		snprintf(buf, len, "check %s, and that no two devices share unit id %d", where, unit);
		break;
	default:
		if (a->rtu && (err == -ENODEV || err == -EIO || err == -EBADF))
			snprintf(buf, len, "check that %s exists (USB adapter plugged in?)", a->device);
		else
			snprintf(buf, len, "check unit id %d and %s", unit, where);
		break;
	}
}
