/* Generic driver: a register map written in the configuration (`registers`), so an installer
 * can add a meter Ampgate has no driver for without writing C.
 *
 * Design decision: the configuration rows are turned into the same regmap_entry table the
 * SDM630 uses, once at init; polling is then identical to a built-in map. */
#include "drivers/driver.h"
#include "drivers/regmap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gen_state {
	size_t n;
	struct regmap_entry map[];
};

static int gen_check(const struct cfg_device *cfg, char *err, size_t errlen)
{
	if (cfg->n_registers == 0) {
		snprintf(err, errlen, "driver \"generic\" needs a register map (registers = ( ... ))");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_registers; i++) {
		const struct cfg_register *g = &cfg->registers[i];
		if (!reading_field_find(g->name)) {
			snprintf(err, errlen, "registers[%zu]: unknown quantity \"%s\" (current_l1..3, voltage_l1..3, "
				 "power_w, frequency_hz, import_wh, export_wh, soc_pct, max_charge_w, max_discharge_w)",
				 i, g->name);
			return -EINVAL;
		}
		if (reg_type_parse(g->type) < 0) {
			snprintf(err, errlen, "registers[%zu]: unknown type \"%s\"", i, g->type);
			return -EINVAL;
		}
		if (g->address + reg_type_words((enum reg_type)reg_type_parse(g->type)) > 0x10000) {
			snprintf(err, errlen, "registers[%zu]: address %d is past the last register", i, g->address);
			return -EINVAL;
		}
	}
	return 0;
}

static int gen_init(struct drv_dev *dev)
{
	const struct cfg_device *cfg = dev->cfg;
	struct gen_state *s = calloc(1, sizeof(*s) + cfg->n_registers * sizeof(struct regmap_entry));

	if (!s)
		return -ENOMEM;
	s->n = cfg->n_registers;
	for (size_t i = 0; i < s->n; i++) {
		const struct cfg_register *g = &cfg->registers[i];
		int t = reg_type_parse(g->type);
		s->map[i] = (struct regmap_entry){
			.field = g->name,
			.address = (uint16_t)g->address,
			.kind = strcmp(g->function, "input") == 0 ? REG_INPUT : REG_HOLDING,
			.type = t < 0 ? RT_UINT16 : (enum reg_type)t,
			.little = strcmp(g->word_order, "little") == 0,
			.scale = g->scale,
		};
	}
	dev->priv = s;
	return 0;
}

static void gen_fini(struct drv_dev *dev)
{
	free(dev->priv);
}

static int gen_poll(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms, struct device_reading *r)
{
	struct gen_state *s = dev->priv;
	int rc;

	(void)now_ms;
	if ((rc = regmap_read(s->map, s->n, io, r)) < 0)
		return rc;
	r->quality = RQ_GOOD;
	return 0;
}

static int gen_probe(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms)
{
	struct device_reading r;

	reading_clear(&r);
	return gen_poll(dev, io, now_ms, &r);
}

static void gen_describe(const struct drv_dev *dev, char *buf, size_t len)
{
	const struct gen_state *s = dev->priv;

	snprintf(buf, len, "generic register map, %zu quantities", s->n);
}

const struct driver_ops driver_generic = {
	.name = "generic",
	.summary = "register map from the configuration",
	.roles = ROLES_ALL,
	.options = DRV_OPT_REGISTERS,
	.check = gen_check,
	.init = gen_init,
	.fini = gen_fini,
	.probe = gen_probe,
	.poll = gen_poll,
	.describe = gen_describe,
};
