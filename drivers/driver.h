/* The device driver contract: one `const struct driver_ops` per kind of Modbus device, listed in
 * one table (drivers/driver.c), looked up by the configuration's `driver` name.
 *
 * A driver never owns a connection. It reads and writes registers through a `struct reg_io` the
 * caller hands in (a libmodbus handle in the bus worker and in `ampgatectl devices`, a plain
 * array in unit tests), so the same decoding runs against real devices and test fixtures.
 * Drivers run on the bus worker thread: they must not touch core state or the log's context
 * beyond log_msg. */
#ifndef AG_DRIVER_H
#define AG_DRIVER_H

#include "edge/core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a device measures or controls: the configuration's `role`. */
enum device_role { ROLE_GRID_METER, ROLE_SUBMETER, ROLE_BATTERY, ROLE_PV, ROLE_COUNT };
#define ROLE_BIT(r) (1u << (r))
#define ROLES_METER (ROLE_BIT(ROLE_GRID_METER) | ROLE_BIT(ROLE_SUBMETER))
#define ROLES_ALL ((1u << ROLE_COUNT) - 1)

int role_parse(const char *s);                 /* enum device_role, or -EINVAL */
const char *role_name(enum device_role r);

enum reading_quality {
	RQ_NONE = 0,    /* nothing read yet */
	RQ_GOOD,        /* every quantity the role needs was read */
	RQ_PARTIAL,     /* answered, but some quantity the role needs is not implemented */
	RQ_FAILED,      /* the last poll failed; values are those of the last good poll */
};

/* One poll's result, in SI units. A quantity the device does not provide is NAN.
 * Sign conventions: meters: power_w > 0 imports from the grid (or into the circuit);
 * battery: power_w > 0 discharges into the site; pv: power_w > 0 produces. */
struct device_reading {
	uint64_t at_ms;                 /* monotonic ms of the last successful poll (0: never) */
	uint64_t changed_ms;            /* monotonic ms when the measured values last changed */
	enum reading_quality quality;
	int err;                        /* -errno of the last failed poll, 0 after a good one */
	double current_a[3];            /* L1..L3 */
	double voltage_v[3];            /* L1..L3 to neutral */
	double power_w;
	double frequency_hz;
	double import_wh;
	double export_wh;
	double soc_pct;
	double max_charge_w;
	double max_discharge_w;
};

/* Sets every quantity to NAN and the rest to 0. */
void reading_clear(struct device_reading *r);
/* True when the measured quantities of `a` and `b` are identical (NAN equals NAN). */
bool reading_same_values(const struct device_reading *a, const struct device_reading *b);

/* The role's quantities in words, for logs and `ampgatectl devices`:
 * "L1 12.34 A, L2 5.67 A, L3 -0.89 A, 230.1/229.8/231.0 V, power 5120 W" or
 * "SoC 78.9 %, power -2500 W, max charge 12000 W, max discharge 15000 W"; "-" = not provided. */
void reading_format(const struct device_reading *r, enum device_role role, char *buf, size_t len);

/* The quantities by name, as the `generic` driver's `registers[].name` and tools spell them. */
struct reading_field {
	const char *name;
	size_t offset;                  /* of a double in struct device_reading */
	const char *unit;
};
/* The i-th quantity (NULL past the last), and lookup by name (NULL when unknown). */
const struct reading_field *reading_field_at(size_t i);
const struct reading_field *reading_field_find(const char *name);

/* Register access, supplied by the caller. Unit id selection is the caller's business.
 * read: 0 or -errno (libmodbus errors as their negative errno). */
enum reg_kind { REG_HOLDING, REG_INPUT };
struct reg_io {
	void *ctx;
	int (*read)(void *ctx, enum reg_kind kind, uint16_t addr, uint16_t n, uint16_t *out);
	int (*write)(void *ctx, uint16_t addr, uint16_t n, const uint16_t *in);
};

/* A control request for a battery (or PV curtailment): limits in W, NAN = leave as is.
 * Signed: max_charge_w < 0 makes the battery discharge at least -max_charge_w, and
 * max_discharge_w < 0 makes it charge at least -max_discharge_w; so {-P, P} dispatches a
 * discharge of P and {P, -P} a charge of P (SunSpec 124 with negative rates).
 * revert_s: the device falls back to its own limits after this many seconds unless renewed
 * (0 = no revert), so a dead edge leaves the device in its own safe state. */
struct device_setpoint {
	double max_charge_w;
	double max_discharge_w;
	int revert_s;
};

/* One configured device as a driver sees it. The core owns it; `priv` is the driver's. */
struct drv_dev {
	const struct driver_ops *ops;
	const struct cfg_device *cfg;   /* valid while the device lives */
	enum device_role role;
	void *priv;
};

#define DRV_OPT_BASE      0x1u      /* accepts `base` */
#define DRV_OPT_REGISTERS 0x2u      /* accepts (and needs) `registers` */
#define DRV_NO_BUS        0x4u      /* needs no Modbus connection (sim) */

struct driver_ops {
	const char *name;
	const char *summary;
	unsigned roles;                 /* ROLE_BIT()s this driver can serve */
	unsigned options;               /* DRV_OPT_* */
	/* Check the device's configuration beyond the key table (register names, ...). Writes one
	 * message into err on failure, and sets *line when the fault is on a line of its own (a
	 * register row). 0 or -EINVAL. May be NULL. */
	int (*check)(const struct cfg_device *cfg, char *err, size_t errlen, int *line);
	/* Whether this configuration of the device can take a setpoint (the generic driver only
	 * with a setpoint_w register). NULL: whenever write_setpoint is set. */
	bool (*controls)(const struct cfg_device *cfg);
	/* Allocate dev->priv. 0 or -errno. */
	int (*init)(struct drv_dev *dev);
	void (*fini)(struct drv_dev *dev);
	/* Find out what the device is (SunSpec discovery, a first read); run again after any
	 * failure. 0 or -errno; -ENOENT: not this kind of device. */
	int (*probe)(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms);
	/* Read the role's quantities into r (already cleared). 0 or -errno. */
	int (*poll)(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms, struct device_reading *r);
	/* Apply a setpoint; NULL where the driver cannot control. 0, -ENOTSUP, or -errno. */
	int (*write_setpoint)(struct drv_dev *dev, const struct reg_io *io, const struct device_setpoint *sp);
	/* What the probe found, for people: "SunSpec at 40000: Fronius Smart Meter 63A, models 1 203". */
	void (*describe)(const struct drv_dev *dev, char *buf, size_t len);
};

extern const struct driver_ops driver_sunspec, driver_sdm630, driver_generic, driver_sim;

/* The i-th driver of the table (NULL past the last), and lookup by name (NULL when unknown). */
const struct driver_ops *driver_at(size_t i);
const struct driver_ops *driver_find(const char *name);

/* Check a device configuration against its driver: role, options, driver's own check.
 * 0 or -EINVAL with one message in err; *line (may be NULL) gets the configuration line of the
 * fault: the register row's where the fault is in one, else the device's. */
int driver_check_config(const struct cfg_device *cfg, char *err, size_t errlen, int *line);
/* Whether the device's driver, so configured, can be commanded (write_setpoint). */
bool driver_can_control(const struct cfg_device *cfg);

/* Bind dev to its driver and call init. 0 or -errno. drv_dev_fini is safe on a failed init. */
int drv_dev_init(struct drv_dev *dev, const struct cfg_device *cfg);
void drv_dev_fini(struct drv_dev *dev);

#endif
