/* SunSpec and register decoding on arbitrary register contents: scale factors, not-implemented
 * values, word order, model-chain discovery at every base (and chains that end badly), meter and
 * battery decoding, a map that moves under us, battery control through model 124, and the
 * SDM630 and generic maps. A fake device stands in for Modbus: a register image in which
 * unmapped addresses answer "illegal data address", and which can stop answering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"
#include "drivers/regmap.h"
#include "drivers/regs.h"
#include "drivers/sunspec-models.h"

struct fake {
	uint16_t holding[65536];
	uint16_t input[65536];
	uint8_t mapped[65536];          /* holding register exists */
	int fail;                       /* return this (negative) for every request */
	int reads;
	uint16_t last_write_addr;
};

static int fake_read(void *ctx, enum reg_kind kind, uint16_t addr, uint16_t n, uint16_t *out)
{
	struct fake *f = ctx;

	f->reads++;
	if (f->fail)
		return f->fail;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = (uint32_t)addr + i;
		if (a > 0xFFFF || (kind == REG_HOLDING && !f->mapped[a]))
			return -EMBXILADD;
		out[i] = kind == REG_HOLDING ? f->holding[a] : f->input[a];
	}
	return 0;
}

static int fake_write(void *ctx, uint16_t addr, uint16_t n, const uint16_t *in)
{
	struct fake *f = ctx;

	if (f->fail)
		return f->fail;
	for (uint32_t i = 0; i < n; i++)
		f->holding[addr + i] = in[i];
	f->last_write_addr = addr;
	return 0;
}

static struct fake *fake_new(struct reg_io *io)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	io->ctx = f;
	io->read = fake_read;
	io->write = fake_write;
	return f;
}

static void map_range(struct fake *f, uint32_t from, uint32_t n)
{
	for (uint32_t i = 0; i < n && from + i <= 0xFFFF; i++)
		f->mapped[from + i] = 1;
}

/* Write "SunS" at base and return the address after it. */
static uint16_t put_marker(struct fake *f, uint16_t base)
{
	f->holding[base] = SUNSPEC_MARKER_HI;
	f->holding[base + 1] = SUNSPEC_MARKER_LO;
	return (uint16_t)(base + 2);
}

/* A model header with length L (registers after it zeroed); returns the next model's address. */
static uint16_t put_model(struct fake *f, uint16_t at, uint16_t id, uint16_t len)
{
	f->holding[at] = id;
	f->holding[at + 1] = len;
	memset(&f->holding[at + 2], 0, len * sizeof(uint16_t));
	return (uint16_t)(at + 2 + len);
}

static void put_end(struct fake *f, uint16_t at)
{
	f->holding[at] = 0xFFFF;
	f->holding[at + 1] = 0;
}

/* Set point `name` of model `id` stored at `at` to the raw register value. */
static void put_raw(struct fake *f, uint16_t at, uint16_t id, const char *name, uint16_t raw)
{
	const struct ss_point *p = sunspec_point(sunspec_model_find(id), name);

	assert_non_null(p);
	f->holding[at + p->offset] = raw;
}

static struct cfg_device dev_cfg(const char *driver, const char *role, int base)
{
	struct cfg_device c;

	memset(&c, 0, sizeof(c));
	c.id = (char *)"dut";
	c.driver = (char *)driver;
	c.role = (char *)role;
	c.modbus = (char *)"tcp://127.0.0.1:1502";
	c.unit = 1;
	c.poll_ms = 1000;
	c.timeout_ms = 500;
	c.base = base;
	return c;
}

/* ---- decoding ---- */

static void test_scale_factors(void **state)
{
	(void)state;
	assert_true(sunssf_multiplier(0) == 1.0);
	assert_true(fabs(sunssf_multiplier((uint16_t)-2) - 0.01) < 1e-12);
	assert_true(sunssf_multiplier(3) == 1000.0);
	assert_true(isnan(sunssf_multiplier(0x8000)));
	assert_true(isnan(sunssf_multiplier(0x7FFF)));
	assert_true(isnan(sunssf_multiplier(11)));
	assert_true(isnan(sunssf_multiplier((uint16_t)-11)));
}

static void test_not_implemented(void **state)
{
	uint16_t r[2];
	(void)state;
	r[0] = 0x8000;
	assert_true(isnan(regs_value_sunspec(r, RT_INT16)));
	r[0] = 0xFFFF;
	assert_true(isnan(regs_value_sunspec(r, RT_UINT16)));
	assert_true(isnan(regs_value_sunspec(r, RT_ENUM16)));
	assert_true(regs_value_sunspec(r, RT_INT16) == -1);
	r[0] = 0;
	assert_true(isnan(regs_value_sunspec(r, RT_ACC16)));
	r[0] = 0x8000;
	r[1] = 0;
	assert_true(isnan(regs_value_sunspec(r, RT_INT32)));
	r[0] = r[1] = 0xFFFF;
	assert_true(isnan(regs_value_sunspec(r, RT_UINT32)));
	assert_true(regs_value_sunspec(r, RT_INT32) == -1);
	r[0] = r[1] = 0;
	assert_true(isnan(regs_value_sunspec(r, RT_ACC32)));
	r[0] = 0x7FC0;
	r[1] = 0;
	assert_true(isnan(regs_value_sunspec(r, RT_FLOAT32)));
	/* 0x7FFF int16 is a real value; only the scale factor rejects it. */
	r[0] = 0x7FFF;
	assert_true(regs_value_sunspec(r, RT_INT16) == 32767);
	/* generic maps: no markers. */
	r[0] = 0xFFFF;
	assert_true(regs_value(r, RT_UINT16, false) == 65535);
}

static void test_word_order(void **state)
{
	uint16_t r[2];
	(void)state;
	regs_put_u32(r, 0x12345678, false);
	assert_int_equal(r[0], 0x1234);
	assert_int_equal(r[1], 0x5678);
	assert_int_equal(regs_u32(r, false), 0x12345678);
	assert_int_equal(regs_u32(r, true), 0x56781234);
	regs_put_f32(r, 230.5f, false);
	assert_int_equal(r[0], 0x4366);         /* 230.5 = 0x43668000 */
	assert_int_equal(r[1], 0x8000);
	assert_true(regs_f32(r, false) == 230.5f);
	regs_put_f32(r, -12.25f, true);
	assert_true(regs_f32(r, true) == -12.25f);
	assert_true(regs_value(r, RT_FLOAT32, true) == -12.25);
	regs_put_u32(r, (uint32_t)-5, true);
	assert_true(regs_value(r, RT_INT32, true) == -5);
}

static void test_point_encode_decode(void **state)
{
	const struct ss_model *m = sunspec_model_find(203);
	uint16_t blk[107] = { 203, 105 };
	(void)state;
	assert_int_equal(sunspec_put(blk, 107, m, "A_SF", -2), 0);
	assert_int_equal(sunspec_put(blk, 107, m, "AphA", 12.34), 0);
	assert_int_equal(blk[3], 1234);
	assert_true(fabs(sunspec_get(blk, 107, m, "AphA") - 12.34) < 1e-9);
	assert_int_equal(sunspec_put(blk, 107, m, "AphB", 400.0), -ERANGE);    /* 40000 > int16 */
	assert_int_equal(sunspec_put(blk, 107, m, "AphC", NAN), 0);
	assert_int_equal(blk[5], 0x8000);
	assert_true(isnan(sunspec_get(blk, 107, m, "AphC")));
	assert_int_equal(sunspec_put(blk, 107, m, "NoSuchPoint", 1), -EINVAL);
	assert_true(isnan(sunspec_get(blk, 5, m, "A_SF")));     /* past the block */
	/* A value whose scale factor is not implemented is not a value. */
	blk[6] = 0x8000;
	assert_true(isnan(sunspec_get(blk, 107, m, "AphA")));
}

/* ---- discovery ---- */

static int probe(struct reg_io *io, const char *role, int base, struct drv_dev *dev, struct cfg_device *c)
{
	*c = dev_cfg("sunspec", role, base);
	assert_int_equal(drv_dev_init(dev, c), 0);
	return dev->ops->probe(dev, io, 1);
}

static void test_discovery_bases(void **state)
{
	static const uint16_t bases[] = { 40000, 0, 50000 };
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct reg_io io;
		struct fake *f = fake_new(&io);
		struct drv_dev dev;
		struct cfg_device c;
		char desc[200];
		map_range(f, bases[i], 400);
		uint16_t at = put_marker(f, bases[i]);
		at = put_model(f, at, 1, 66);
		at = put_model(f, at, 203, 105);
		put_end(f, at);
		assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), 0);
		dev.ops->describe(&dev, desc, sizeof(desc));
		char want[64];
		snprintf(want, sizeof(want), "SunSpec at %u", bases[i]);
		assert_non_null(strstr(desc, want));
		assert_non_null(strstr(desc, "models 1 203"));
		drv_dev_fini(&dev);
		free(f);
	}
}

static void test_discovery_chain(void **state)
{
	struct reg_io io;
	struct fake *f = fake_new(&io);
	struct drv_dev dev;
	struct cfg_device c;
	char desc[200];
	(void)state;
	map_range(f, 40000, 600);
	uint16_t at = put_marker(f, 40000);
	at = put_model(f, at, 1, 65);           /* common without the pad register */
	at = put_model(f, at, 999, 17);         /* vendor model Ampgate does not know */
	at = put_model(f, at, 124, 24);
	at = put_model(f, at, 802, 62);
	/* no end model: the map just stops (illegal address) */
	assert_int_equal(probe(&io, "battery", -1, &dev, &c), 0);
	dev.ops->describe(&dev, desc, sizeof(desc));
	assert_non_null(strstr(desc, "models 1 999 124 802"));
	drv_dev_fini(&dev);
	/* The same chain cannot serve a meter. */
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), -ENOTSUP);
	drv_dev_fini(&dev);
	(void)at;
	free(f);
}

static void test_discovery_failures(void **state)
{
	struct reg_io io;
	struct fake *f = fake_new(&io);
	struct drv_dev dev;
	struct cfg_device c;
	(void)state;
	/* Nothing mapped: every base answers "illegal address" -> not SunSpec. */
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), -ENOENT);
	drv_dev_fini(&dev);
	/* Registers there, but no marker. */
	map_range(f, 0, 65535);
	f->holding[40000] = 0x1234;
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), -ENOENT);
	drv_dev_fini(&dev);
	/* Marker but an empty chain. */
	put_end(f, put_marker(f, 40000));
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), -ENOENT);
	drv_dev_fini(&dev);
	/* A chain whose lengths run off the end of the address space terminates. */
	uint16_t at = put_marker(f, 40000);
	f->holding[at] = 203;
	f->holding[at + 1] = 30000;
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), 0);
	drv_dev_fini(&dev);
	/* A device that does not answer is not "not SunSpec": the timeout comes back. */
	f->fail = -ETIMEDOUT;
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), -ETIMEDOUT);
	drv_dev_fini(&dev);
	/* A configured base is the only one tried. */
	f->fail = 0;
	memset(f->holding, 0, sizeof(f->holding));
	at = put_marker(f, 0);
	put_end(f, put_model(f, at, 201, 105));
	f->reads = 0;
	assert_int_equal(probe(&io, "grid-meter", 40000, &dev, &c), -ENOENT);
	assert_int_equal(f->reads, 1);
	drv_dev_fini(&dev);
	assert_int_equal(probe(&io, "grid-meter", 0, &dev, &c), 0);
	drv_dev_fini(&dev);
	free(f);
}

/* ---- polling ---- */

static uint16_t meter_fixture(struct fake *f)
{
	map_range(f, 40000, 400);
	uint16_t at = put_marker(f, 40000);
	at = put_model(f, at, 1, 66);
	uint16_t m = at;
	put_end(f, put_model(f, at, 203, 105));
	put_raw(f, m, 203, "A_SF", (uint16_t)-2);
	put_raw(f, m, 203, "AphA", 1234);          /* 12.34 A */
	put_raw(f, m, 203, "AphB", (uint16_t)-250); /* -2.50 A (exporting phase) */
	put_raw(f, m, 203, "AphC", 0x8000);        /* not implemented */
	put_raw(f, m, 203, "V_SF", (uint16_t)-1);
	put_raw(f, m, 203, "PhVphA", 2305);
	put_raw(f, m, 203, "PhVphB", 2311);
	put_raw(f, m, 203, "PhVphC", 0x8000);
	put_raw(f, m, 203, "W_SF", 1);
	put_raw(f, m, 203, "W", 284);              /* 2840 W */
	put_raw(f, m, 203, "Hz_SF", (uint16_t)-2);
	put_raw(f, m, 203, "Hz", 5001);
	put_raw(f, m, 203, "TotWh_SF", 3);         /* kWh counters */
	const struct ss_point *imp = sunspec_point(sunspec_model_find(203), "TotWhImp");
	regs_put_u32(&f->holding[m + imp->offset], 123456, false);
	return m;
}

static void test_meter_poll(void **state)
{
	struct reg_io io;
	struct fake *f = fake_new(&io);
	struct drv_dev dev;
	struct cfg_device c;
	struct device_reading r;
	(void)state;
	uint16_t m = meter_fixture(f);
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), 0);
	reading_clear(&r);
	assert_int_equal(dev.ops->poll(&dev, &io, 2, &r), 0);
	assert_int_equal(r.quality, RQ_GOOD);
	assert_true(fabs(r.current_a[0] - 12.34) < 1e-9);
	assert_true(fabs(r.current_a[1] + 2.5) < 1e-9);
	assert_true(isnan(r.current_a[2]));
	assert_true(fabs(r.voltage_v[0] - 230.5) < 1e-9);
	assert_true(isnan(r.voltage_v[2]));
	assert_true(r.power_w == 2840);
	assert_true(fabs(r.frequency_hz - 50.01) < 1e-9);
	assert_true(r.import_wh == 123456000.0);
	assert_true(isnan(r.export_wh));           /* acc32 0 = not accumulated */
	/* Power not implemented: the meter answers but cannot serve the role fully. */
	put_raw(f, m, 203, "W", 0x8000);
	reading_clear(&r);
	assert_int_equal(dev.ops->poll(&dev, &io, 3, &r), 0);
	assert_int_equal(r.quality, RQ_PARTIAL);
	/* The map moved (another device now answers there): -ENODEV, then rediscovery. */
	f->holding[m] = 101;
	reading_clear(&r);
	assert_int_equal(dev.ops->poll(&dev, &io, 4, &r), -ENODEV);
	f->holding[m] = 203;
	put_raw(f, m, 203, "W", 10);
	reading_clear(&r);
	assert_int_equal(dev.ops->poll(&dev, &io, 5, &r), 0);
	assert_true(r.power_w == 100);
	drv_dev_fini(&dev);
	free(f);
}

static uint16_t battery_fixture(struct fake *f, bool with_802, uint16_t *m124)
{
	map_range(f, 40000, 400);
	uint16_t at = put_marker(f, 40000);
	at = put_model(f, at, 1, 66);
	*m124 = at;
	at = put_model(f, at, 124, 24);
	put_raw(f, *m124, 124, "WChaMax_SF", 2);
	put_raw(f, *m124, 124, "WChaMax", 250);    /* 25 kW */
	put_raw(f, *m124, 124, "ChaState_SF", (uint16_t)-1);
	put_raw(f, *m124, 124, "ChaState", 555);   /* 55.5 % */
	put_raw(f, *m124, 124, "InOutWRte_SF", (uint16_t)-1);
	put_raw(f, *m124, 124, "StorCtl_Mod", 0);
	uint16_t m802 = at;
	if (with_802) {
		at = put_model(f, at, 802, 62);
		put_raw(f, m802, 802, "SoC_SF", (uint16_t)-2);
		put_raw(f, m802, 802, "SoC", 6123);        /* 61.23 % */
		put_raw(f, m802, 802, "WChaDisChaMax_SF", 1);
		put_raw(f, m802, 802, "WChaRteMax", 2000); /* 20 kW */
		put_raw(f, m802, 802, "WDisChaRteMax", 1500);
		put_raw(f, m802, 802, "W_SF", 0);
		put_raw(f, m802, 802, "W", (uint16_t)-4200);
	}
	put_end(f, at);
	return m802;
}

static void test_battery_poll(void **state)
{
	struct reg_io io;
	struct drv_dev dev;
	struct cfg_device c;
	struct device_reading r;
	uint16_t m124;
	(void)state;

	struct fake *f = fake_new(&io);
	battery_fixture(f, true, &m124);
	assert_int_equal(probe(&io, "battery", -1, &dev, &c), 0);
	reading_clear(&r);
	assert_int_equal(dev.ops->poll(&dev, &io, 2, &r), 0);
	assert_int_equal(r.quality, RQ_GOOD);
	assert_true(fabs(r.soc_pct - 61.23) < 1e-9);
	assert_true(r.max_charge_w == 20000);
	assert_true(r.max_discharge_w == 15000);
	assert_true(r.power_w == -4200);
	drv_dev_fini(&dev);
	free(f);

	/* Without 802, model 124 alone serves. */
	f = fake_new(&io);
	battery_fixture(f, false, &m124);
	assert_int_equal(probe(&io, "battery", -1, &dev, &c), 0);
	reading_clear(&r);
	assert_int_equal(dev.ops->poll(&dev, &io, 2, &r), 0);
	assert_true(fabs(r.soc_pct - 55.5) < 1e-9);
	assert_true(r.max_charge_w == 25000);
	assert_true(r.max_discharge_w == 25000);
	assert_true(isnan(r.power_w));
	drv_dev_fini(&dev);
	free(f);
}

static void test_battery_setpoint(void **state)
{
	struct reg_io io;
	struct fake *f = fake_new(&io);
	struct drv_dev dev;
	struct cfg_device c;
	uint16_t m124;
	const struct ss_model *m = sunspec_model_find(124);
	(void)state;
	battery_fixture(f, true, &m124);
	assert_int_equal(probe(&io, "battery", -1, &dev, &c), 0);
	struct device_setpoint sp = { .max_charge_w = 5000, .max_discharge_w = NAN, .revert_s = 60 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	/* 5 kW of 25 kW WChaMax = 20.0 % at InOutWRte_SF -1 = 200. */
	assert_int_equal(f->holding[m124 + sunspec_point(m, "InWRte")->offset], 200);
	assert_int_equal(f->holding[m124 + sunspec_point(m, "InOutWRte_RvrtTms")->offset], 60);
	assert_int_equal(f->holding[m124 + sunspec_point(m, "StorCtl_Mod")->offset], 1);
	/* Discharge: percent of 802's WDisChaRteMax (15 kW); 30 kW clamps to 100 %. */
	sp = (struct device_setpoint){ .max_charge_w = NAN, .max_discharge_w = 30000, .revert_s = 0 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_int_equal(f->holding[m124 + sunspec_point(m, "OutWRte")->offset], 1000);
	assert_int_equal(f->holding[m124 + sunspec_point(m, "StorCtl_Mod")->offset], 3);
	/* Dispatch: a discharge of 5 kW is a charge rate of -20 % and a discharge rate of 5/15 kW;
	 * signed, not clamped to 0 (which would only cap the battery, never make it discharge). */
	sp = (struct device_setpoint){ .max_charge_w = -5000, .max_discharge_w = 5000, .revert_s = 30 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_int_equal((int16_t)f->holding[m124 + sunspec_point(m, "InWRte")->offset], -200);
	assert_int_equal(f->holding[m124 + sunspec_point(m, "OutWRte")->offset], 333);
	assert_int_equal(f->holding[m124 + sunspec_point(m, "InOutWRte_RvrtTms")->offset], 30);
	drv_dev_fini(&dev);
	/* A meter cannot be controlled. */
	meter_fixture(f);
	assert_int_equal(probe(&io, "grid-meter", -1, &dev, &c), 0);
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), -ENOTSUP);
	drv_dev_fini(&dev);
	free(f);
}

/* ---- flat maps ---- */

static void test_sdm630(void **state)
{
	struct reg_io io;
	struct fake *f = fake_new(&io);
	struct drv_dev dev;
	struct cfg_device c = dev_cfg("sdm630", "grid-meter", -1);
	struct device_reading r;
	(void)state;
	regs_put_f32(&f->input[0x00], 231.5f, false);
	regs_put_f32(&f->input[0x02], 229.0f, false);
	regs_put_f32(&f->input[0x04], 230.0f, false);
	regs_put_f32(&f->input[0x06], 16.25f, false);
	regs_put_f32(&f->input[0x08], 8.5f, false);
	regs_put_f32(&f->input[0x0A], 0.0f, false);
	regs_put_f32(&f->input[0x34], 5720.0f, false);
	regs_put_f32(&f->input[0x46], 49.98f, false);
	regs_put_f32(&f->input[0x48], 1234.5f, false);     /* kWh */
	regs_put_f32(&f->input[0x4A], 10.0f, false);
	assert_int_equal(drv_dev_init(&dev, &c), 0);
	reading_clear(&r);
	f->reads = 0;
	assert_int_equal(dev.ops->poll(&dev, &io, 1, &r), 0);
	assert_int_equal(f->reads, 1);                      /* one request for the whole map */
	assert_true(r.voltage_v[0] == 231.5);
	assert_true(r.current_a[0] == 16.25 && r.current_a[1] == 8.5 && r.current_a[2] == 0);
	assert_true(r.power_w == 5720);
	assert_true(fabs(r.frequency_hz - 49.98) < 1e-4);
	assert_true(r.import_wh == 1234500);
	assert_true(r.export_wh == 10000);
	/* Implausible voltages: something else answers at this unit id. */
	regs_put_f32(&f->input[0x00], NAN, false);
	reading_clear(&r);
	assert_int_equal(dev.ops->poll(&dev, &io, 2, &r), -EBADMSG);
	drv_dev_fini(&dev);
	/* SDM630 is a meter: not a battery. */
	char err[200];
	c.role = (char *)"battery";
	assert_int_equal(driver_check_config(&c, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "cannot serve role"));
	free(f);
}

static void test_generic(void **state)
{
	struct reg_io io;
	struct fake *f = fake_new(&io);
	struct drv_dev dev;
	struct cfg_device c = dev_cfg("generic", "submeter", -1);
	struct cfg_register regs[] = {
		{ .name = (char *)"current_l1", .address = 100, .function = (char *)"holding", .type = (char *)"int16",
		  .word_order = (char *)"big", .scale = 0.01 },
		{ .name = (char *)"power_w", .address = 102, .function = (char *)"holding", .type = (char *)"int32",
		  .word_order = (char *)"little", .scale = 1 },
		{ .name = (char *)"import_wh", .address = 10, .function = (char *)"input", .type = (char *)"uint32",
		  .word_order = (char *)"big", .scale = 1000 },
	};
	struct device_reading r;
	char err[256];
	(void)state;
	c.registers = regs;
	c.n_registers = 3;
	map_range(f, 100, 10);
	f->holding[100] = (uint16_t)-1550;
	regs_put_u32(&f->holding[102], (uint32_t)-7000, true);
	regs_put_u32(&f->input[10], 42, false);
	assert_int_equal(driver_check_config(&c, err, sizeof(err), NULL), 0);
	assert_int_equal(drv_dev_init(&dev, &c), 0);
	reading_clear(&r);
	f->reads = 0;
	assert_int_equal(dev.ops->poll(&dev, &io, 1, &r), 0);
	assert_int_equal(f->reads, 2);                      /* holding 100..103 in one, input in another */
	assert_true(fabs(r.current_a[0] + 15.5) < 1e-9);
	assert_true(r.power_w == -7000);
	assert_true(r.import_wh == 42000);
	assert_true(isnan(r.current_a[1]));
	drv_dev_fini(&dev);
	regs[0].name = (char *)"curent_l1";
	assert_int_equal(driver_check_config(&c, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "unknown quantity \"curent_l1\""));
	/* "base" and "registers" belong to one driver each. */
	struct cfg_device s = dev_cfg("sdm630", "submeter", 40000);
	assert_int_equal(driver_check_config(&s, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "base"));
	free(f);
}

/* A battery on a generic map: setpoint_w (int32, charge positive, 10 W per count here) and
 * revert_s written, in that order; a discharge comes out negative, a value past the type is
 * clamped (never wrapped into the other direction), limits that force nothing write 0 W,
 * and the rows are refused where they cannot work, each with its register row's line. */
static void test_generic_setpoint(void **state)
{
	struct reg_io io;
	struct fake *f = fake_new(&io);
	struct drv_dev dev;
	struct cfg_device c = dev_cfg("generic", "battery", -1);
	struct cfg_register regs[] = {
		{ .name = (char *)"soc_pct", .address = 0, .function = (char *)"holding", .type = (char *)"uint16",
		  .word_order = (char *)"big", .scale = 0.1, .line = 10 },
		{ .name = (char *)"setpoint_w", .address = 20, .function = (char *)"holding", .type = (char *)"int32",
		  .word_order = (char *)"little", .scale = 10, .positive = (char *)"charge", .line = 11 },
		{ .name = (char *)"revert_s", .address = 30, .function = (char *)"holding", .type = (char *)"uint16",
		  .word_order = (char *)"big", .scale = 1, .line = 12 },
	};
	struct device_reading r;
	char err[256];
	int line = 0;
	(void)state;
	c.registers = regs;
	c.n_registers = 3;
	c.line = 9;
	map_range(f, 0, 40);
	f->holding[0] = 705;
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), 0);
	assert_true(driver_can_control(&c));
	assert_int_equal(drv_dev_init(&dev, &c), 0);
	reading_clear(&r);
	f->reads = 0;
	assert_int_equal(dev.ops->poll(&dev, &io, 1, &r), 0);
	assert_int_equal(f->reads, 1);                      /* the written rows are not polled */
	assert_true(fabs(r.soc_pct - 70.5) < 1e-9);

	/* Discharge 12.34 kW, as the site controller asks it: {-P, P}. Charge positive: -1234. */
	struct device_setpoint sp = { .max_charge_w = -12340, .max_discharge_w = 12340, .revert_s = 15 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_int_equal((int32_t)regs_u32(&f->holding[20], true), -1234);
	assert_int_equal(f->holding[30], 15);
	assert_int_equal(f->last_write_addr, 20);           /* the revert timer first, then the power */
	/* Charge 5 kW: {P, -P}. */
	sp = (struct device_setpoint){ .max_charge_w = 5000, .max_discharge_w = -5000, .revert_s = 0 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_int_equal((int32_t)regs_u32(&f->holding[20], true), 500);
	assert_int_equal(f->holding[30], 0);
	/* Limits that force no direction: held at 0 W. */
	sp = (struct device_setpoint){ .max_charge_w = 3000, .max_discharge_w = 3000, .revert_s = 15 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_int_equal((int32_t)regs_u32(&f->holding[20], true), 0);
	drv_dev_fini(&dev);

	/* int16 in W, discharge positive: 40 kW does not fit; clamped to 32767, not wrapped negative. */
	regs[1].type = (char *)"int16";
	regs[1].scale = 1;
	regs[1].positive = NULL;
	assert_int_equal(drv_dev_init(&dev, &c), 0);
	sp = (struct device_setpoint){ .max_charge_w = -40000, .max_discharge_w = 40000, .revert_s = 15 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_int_equal((int16_t)f->holding[20], 32767);
	sp = (struct device_setpoint){ .max_charge_w = 40000, .max_discharge_w = -40000, .revert_s = 15 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_int_equal((int16_t)f->holding[20], -32768);
	/* float32 with scale 1000 (kW on the wire). */
	drv_dev_fini(&dev);
	regs[1].type = (char *)"float32";
	regs[1].word_order = (char *)"big";
	regs[1].scale = 1000;
	assert_int_equal(drv_dev_init(&dev, &c), 0);
	sp = (struct device_setpoint){ .max_charge_w = -7500, .max_discharge_w = 7500, .revert_s = 15 };
	assert_int_equal(dev.ops->write_setpoint(&dev, &io, &sp), 0);
	assert_true(regs_f32(&f->holding[20], false) == 7.5f);
	drv_dev_fini(&dev);

	/* Refused, each on its register's line. */
	regs[1].type = (char *)"uint16";
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), -EINVAL);
	assert_non_null(strstr(err, "setpoint_w is signed"));
	assert_int_equal(line, 11);
	regs[1].type = (char *)"int32";
	regs[1].function = (char *)"input";
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), -EINVAL);
	assert_non_null(strstr(err, "holding register"));
	assert_int_equal(line, 11);
	regs[1].function = (char *)"holding";
	regs[0].positive = (char *)"charge";
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), -EINVAL);
	assert_non_null(strstr(err, "for the setpoint_w row only"));
	assert_int_equal(line, 10);
	regs[0].positive = NULL;
	regs[1].name = (char *)"revert_s";
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), -EINVAL);
	assert_non_null(strstr(err, "a second revert_s row"));
	assert_int_equal(line, 12);
	c.n_registers = 2;                                  /* soc_pct and a lone revert_s */
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), -EINVAL);
	assert_non_null(strstr(err, "without a setpoint_w row"));
	assert_int_equal(line, 11);
	c.n_registers = 1;                                  /* soc_pct only: readable, not controllable */
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), 0);
	assert_false(driver_can_control(&c));
	c.n_registers = 3;
	regs[1].name = (char *)"setpoint_w";
	c.role = (char *)"submeter";
	assert_int_equal(driver_check_config(&c, err, sizeof(err), &line), -EINVAL);
	assert_non_null(strstr(err, "written to a battery"));
	free(f);
}

static void test_driver_table(void **state)
{
	(void)state;
	for (size_t i = 0; driver_at(i); i++) {
		const struct driver_ops *d = driver_at(i);
		assert_ptr_equal(driver_find(d->name), d);
		assert_non_null(d->poll);
		assert_non_null(d->describe);
	}
	assert_null(driver_find("modbus-magic"));
	assert_int_equal(role_parse("battery"), ROLE_BATTERY);
	assert_int_equal(role_parse("meter"), -EINVAL);
	assert_non_null(reading_field_find("max_discharge_w"));
	assert_null(reading_field_find("power"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scale_factors),     cmocka_unit_test(test_not_implemented),
		cmocka_unit_test(test_word_order),        cmocka_unit_test(test_point_encode_decode),
		cmocka_unit_test(test_discovery_bases),   cmocka_unit_test(test_discovery_chain),
		cmocka_unit_test(test_discovery_failures), cmocka_unit_test(test_meter_poll),
		cmocka_unit_test(test_battery_poll),      cmocka_unit_test(test_battery_setpoint),
		cmocka_unit_test(test_sdm630),            cmocka_unit_test(test_generic),
		cmocka_unit_test(test_generic_setpoint),
		cmocka_unit_test(test_driver_table),
	};
	return cmocka_run_group_tests_name("sunspec", tests, NULL, NULL);
}
