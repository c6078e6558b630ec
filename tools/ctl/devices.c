/* `ampgatectl devices -c FILE`: commissioning. Probes every configured device once, in the
 * order of the file, and prints what answered and what it read, or what failed and what to
 * check, so an installer sees in a minute whether wiring, addresses and unit ids are right.
 *
 * Design decision: it uses the daemon's own drivers and modbus-io through one short-lived
 * connection per device, without the daemon's threads, so it works whether or not ampgated is
 * running (a TCP device must accept a second client; on a serial line, stop the daemon first). */
#include "drivers/driver.h"
#include "edge/core/config.h"
#include "edge/daemon.h"
#include "edge/devices/modbus-io.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* Probe one device and print its row. Returns 0 when it answered. */
static int probe_one(const struct cfg_device *c, bool verbose)
{
	struct drv_dev dev;
	struct modbus_addr a;
	struct mbio mio = { .unit = c->unit, .timeout_ms = c->timeout_ms };
	struct reg_io io;
	struct device_reading r;
	char addr[300], seen[240], desc[200] = "", hint[400];
	int rc;

	modbus_addr_parse(c->modbus, &a);
	mbio_addr_format(&a, addr, sizeof(addr));
	if ((rc = drv_dev_init(&dev, c)) < 0) {
		printf("%-12s %-8s %-28s %4d  %-4s %s\n", c->id, c->driver, addr, c->unit, "no", strerror(-rc));
		return rc;
	}
	mbio_reg_io(&mio, &io);
	reading_clear(&r);
	rc = 0;
	if (!(dev.ops->options & DRV_NO_BUS)) {
		mio.mb = mbio_new(&a, c->timeout_ms);
		rc = mio.mb ? mbio_connect(mio.mb) : -ENOMEM;
	}
	if (rc == 0 && dev.ops->probe)
		rc = dev.ops->probe(&dev, &io, now_ms());
	if (rc == 0)
		rc = dev.ops->poll(&dev, &io, now_ms(), &r);
	if (rc == 0) {
		reading_format(&r, dev.role, seen, sizeof(seen));
		dev.ops->describe(&dev, desc, sizeof(desc));
		printf("%-12s %-8s %-28s %4d  %-4s %s%s\n", c->id, c->driver, addr, c->unit, "yes", seen,
		       r.quality == RQ_PARTIAL ? " (some quantities not implemented)" : "");
		if (verbose)
			printf("%12s %s\n", "", desc);
	} else {
		mbio_hint(rc, &a, c->unit, hint, sizeof(hint));
		printf("%-12s %-8s %-28s %4d  %-4s %s: %s\n", c->id, c->driver, addr, c->unit, "no", mbio_strerror(rc), hint);
	}
	if (mio.mb) {
		modbus_close(mio.mb);
		modbus_free(mio.mb);
	}
	drv_dev_fini(&dev);
	return rc;
}

int ctl_devices_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *path = AG_DEFAULT_CONFIG;
	bool verbose = false;
	int c, failed = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'v': verbose = true; break;
		case 'h':
			printf("Usage: ampgatectl devices [-c FILE] [-v]\n"
			       "  Probes each configured device once; exit 0 when all answered, 1 otherwise.\n");
			return 0;
		default: return 2;
		}
	}
	struct ag_config *cfg = config_load(path, stderr);
	if (!cfg) {
		fprintf(stderr, "%s: configuration is not valid\n", path);
		return 2;
	}
	if (cfg->n_devices == 0) {
		printf("%s: no devices configured\n", path);
		config_free(cfg);
		return 0;
	}
	printf("%-12s %-8s %-28s %4s  %-4s %s\n", "DEVICE", "DRIVER", "ADDRESS", "UNIT", "OK", "READ / PROBLEM");
	for (size_t i = 0; i < cfg->n_devices; i++)
		if (probe_one(&cfg->devices[i], verbose) < 0)
			failed++;
	printf("%zu of %zu devices answered\n", cfg->n_devices - (size_t)failed, cfg->n_devices);
	config_free(cfg);
	return failed ? 1 : 0;
}
