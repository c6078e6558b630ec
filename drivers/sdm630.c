/* Eastron SDM630 driver: a three-phase DIN-rail meter, float32 input registers.
 *
 * Design decision: the whole map (0x0000-0x004B) is one request; the probe is a poll whose
 * voltages must be plausible (0-500 V, not NaN), which tells an SDM630 apart from another
 * device answering at the same unit id with other registers. */
#include "drivers/driver.h"
#include "drivers/regmap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

static int sdm_poll(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms, struct device_reading *r)
{
	size_t n;
	const struct regmap_entry *map = sdm630_map(&n);
	int rc;

	(void)dev;
	(void)now_ms;
	if ((rc = regmap_read(map, n, io, r)) < 0)
		return rc;
	for (int ph = 0; ph < 3; ph++)
		if (!(r->voltage_v[ph] >= 0 && r->voltage_v[ph] < 500) || isnan(r->current_a[ph]))
			return -EBADMSG;
	r->quality = RQ_GOOD;
	return 0;
}

static int sdm_probe(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms)
{
	struct device_reading r;

	reading_clear(&r);
	return sdm_poll(dev, io, now_ms, &r);
}

static void sdm_describe(const struct drv_dev *dev, char *buf, size_t len)
{
	(void)dev;
	snprintf(buf, len, "Eastron SDM630 (input registers, float32)");
}

const struct driver_ops driver_sdm630 = {
	.name = "sdm630",
	.summary = "Eastron SDM630 three-phase meter",
	.roles = ROLES_METER,
	.probe = sdm_probe,
	.poll = sdm_poll,
	.describe = sdm_describe,
};
