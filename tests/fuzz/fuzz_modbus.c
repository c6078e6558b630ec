/* Modbus register decoding: the SunSpec driver's discovery and decoding, the SDM630 map and the
 * generic driver's configured map, on arbitrary register contents. A fake device answers from
 * a register window filled by the input (the network is not fuzzed; libmodbus frames it).
 *
 * Input: driver (sunspec, sdm630, generic), role, flags (1: registers outside the window read 0
 * instead of "illegal data address"; 2: the device stops answering after `fail after` reads;
 * 4/8: the window's start is 40000, 0, 50000 or the next u16; 16: sunspec's `base` is fixed at
 * the window instead of discovered), fail after, [window start], the generic map's entry count
 * and entries (quantity, address offset, type, kind/word order, scale), then the registers.
 * The driver probes, polls twice, describes itself and, for a battery, takes a setpoint. */
#include "tests/fuzz/fuzz.h"
#include "drivers/driver.h"
#include "drivers/regs.h"

#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <stdio.h>

#define WINDOW_MAX 4096

struct fake_dev {
	uint16_t start;
	size_t n;
	uint16_t regs[WINDOW_MAX];
	bool zeros;             /* outside the window: 0 instead of an exception */
	int fail_after;         /* 0: never */
	int reads;
};

static int fake_read(void *ctx, enum reg_kind kind, uint16_t addr, uint16_t n, uint16_t *out)
{
	struct fake_dev *f = ctx;

	(void)kind;
	if (f->fail_after && ++f->reads > f->fail_after)
		return f->reads & 1 ? -ETIMEDOUT : -EMBXSFAIL;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = (uint32_t)addr + i;
		if (a >= f->start && a - f->start < f->n)
			out[i] = f->regs[a - f->start];
		else if (f->zeros && a <= 0xFFFF)
			out[i] = 0;
		else
			return -EMBXILADD;
	}
	return 0;
}

static int fake_write(void *ctx, uint16_t addr, uint16_t n, const uint16_t *in)
{
	struct fake_dev *f = ctx;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = (uint32_t)addr + i;
		if (a < f->start || a - f->start >= f->n)
			return -EMBXILADD;
		f->regs[a - f->start] = in[i];
	}
	return 0;
}

FUZZ_DEFAULT_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const drivers[] = { "sunspec", "sdm630", "generic" };
	static const char *const roles[] = { "grid-meter", "submeter", "battery", "pv" };
	static const char *const types[] = { "int16", "uint16", "int32", "uint32", "float32" };
	static const uint16_t starts[] = { 40000, 0, 50000 };
	static struct fake_dev dev;
	struct fuzz_in in = { data, size };
	struct cfg_register regs[8];
	struct cfg_device cfg = { .id = "fuzz", .poll_ms = 1000, .timeout_ms = 1000, .base = -1 };
	struct reg_io io = { .ctx = &dev, .read = fake_read, .write = fake_write };
	struct drv_dev d = { 0 };     /* drv_dev_fini runs also when the check refuses */
	struct device_reading r;
	char err[256], text[512];

	cfg.driver = (char *)drivers[fuzz_u8(&in) % 3];
	cfg.role = (char *)roles[fuzz_u8(&in) % 4];
	unsigned flags = fuzz_u8(&in);
	dev.zeros = flags & 1;
	dev.fail_after = flags & 2 ? fuzz_u8(&in) + 1 : 0;
	dev.reads = 0;
	dev.start = (flags >> 2 & 3) < 3 ? starts[flags >> 2 & 3] : fuzz_u16(&in);
	if (flags & 16 && strcmp(cfg.driver, "sunspec") == 0)
		cfg.base = dev.start;
	if (strcmp(cfg.driver, "generic") == 0) {
		cfg.n_registers = fuzz_u8(&in) % 9;
		if (cfg.n_registers > 8)
			cfg.n_registers = 8;
		for (size_t i = 0; i < cfg.n_registers; i++) {
			const struct reading_field *fld = reading_field_at(fuzz_u8(&in) % 13);
			unsigned kind = fuzz_u8(&in);
			int8_t scale = (int8_t)fuzz_u8(&in);
			regs[i] = (struct cfg_register){
				.name = (char *)(fld ? fld->name : "bogus"),
				.address = (dev.start + fuzz_u16(&in)) & 0xFFFF,
				.type = (char *)types[kind % 5],
				.function = kind & 8 ? "input" : "holding",
				.word_order = kind & 16 ? "little" : "big",
				.scale = pow(10.0, scale % 7 - 3),
			};
		}
		cfg.registers = regs;
	}
	for (dev.n = 0; dev.n < WINDOW_MAX && in.left >= 2; dev.n++)
		dev.regs[dev.n] = fuzz_u16(&in);

	if (driver_check_config(&cfg, err, sizeof(err), NULL) < 0 || drv_dev_init(&d, &cfg) < 0) {
		drv_dev_fini(&d);
		return 0;
	}
	if (d.ops->probe(&d, &io, 1000) == 0) {
		for (int i = 0; i < 2; i++) {
			reading_clear(&r);
			if (d.ops->poll(&d, &io, 2000 + (uint64_t)i, &r) == 0)
				reading_format(&r, d.role, text, sizeof(text));
		}
		if (d.ops->write_setpoint) {
			struct device_setpoint sp = { .max_charge_w = 5000, .max_discharge_w = NAN, .revert_s = 60 };
			d.ops->write_setpoint(&d, &io, &sp);
			sp = (struct device_setpoint){ .max_charge_w = NAN, .max_discharge_w = 1e12, .revert_s = 0 };
			d.ops->write_setpoint(&d, &io, &sp);
		}
	}
	d.ops->describe(&d, text, sizeof(text));
	drv_dev_fini(&d);
	return 0;
}
