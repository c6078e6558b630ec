/* Generic driver: a register map written in the configuration (`registers`), so an installer
 * can add a meter or a battery Ampgate has no driver for without writing C.
 *
 * Design decision: the configuration rows are turned into the same regmap_entry table the
 * SDM630 uses, once at init; polling is then identical to a built-in map. Two rows are written,
 * not read: `setpoint_w` (a battery's power command, one signed register) and `revert_s` (the
 * device's own fallback timer). A single power register cannot express "free within limits",
 * so any setpoint that forces no direction is written as 0 W, and a value beyond the register's
 * type is clamped, never wrapped (a wrapped int16 would turn a discharge into a charge). */
#include "drivers/driver.h"
#include "drivers/regmap.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETPOINT "setpoint_w"
#define REVERT "revert_s"

struct gen_state {
	size_t n;                       /* rows read by poll */
	bool has_setpoint, has_revert;
	bool charge_positive;           /* setpoint_w: a positive value commands a charge */
	struct regmap_entry setpoint, revert;
	struct regmap_entry map[];
};

static bool written_row(const char *name)
{
	return strcmp(name, SETPOINT) == 0 || strcmp(name, REVERT) == 0;
}

static int gen_check(const struct cfg_device *cfg, char *err, size_t errlen, int *line)
{
	const struct cfg_register *sp = NULL, *rv = NULL;

	if (cfg->n_registers == 0) {
		snprintf(err, errlen, "driver \"generic\" needs a register map (registers = ( ... ))");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_registers; i++) {
		const struct cfg_register *g = &cfg->registers[i];
		bool written = written_row(g->name);
		int t = reg_type_parse(g->type);
		if (g->line > 0)
			*line = g->line;
		if (!written && !reading_field_find(g->name)) {
			snprintf(err, errlen, "registers[%zu]: unknown quantity \"%s\" (current_l1..3, voltage_l1..3, "
				 "power_w, frequency_hz, import_wh, export_wh, soc_pct, max_charge_w, max_discharge_w; "
				 "written: setpoint_w, revert_s)", i, g->name);
			return -EINVAL;
		}
		if (t < 0) {
			snprintf(err, errlen, "registers[%zu]: unknown type \"%s\"", i, g->type);
			return -EINVAL;
		}
		if (g->address + reg_type_words((enum reg_type)t) > 0x10000) {
			snprintf(err, errlen, "registers[%zu]: address %d is past the last register", i, g->address);
			return -EINVAL;
		}
		if (g->positive && strcmp(g->name, SETPOINT) != 0) {
			snprintf(err, errlen, "registers[%zu]: \"positive\" is for the setpoint_w row only", i);
			return -EINVAL;
		}
		if (!written)
			continue;
		const struct cfg_register **slot = strcmp(g->name, SETPOINT) == 0 ? &sp : &rv;
		if (*slot) {
			snprintf(err, errlen, "registers[%zu]: a second %s row (one register is written)", i, g->name);
			return -EINVAL;
		}
		*slot = g;
		if (strcmp(cfg->role, "battery") != 0) {
			snprintf(err, errlen, "registers[%zu]: %s is written to a battery; this device is a %s", i, g->name,
				 cfg->role);
			return -EINVAL;
		}
		if (strcmp(g->function, "holding") != 0) {
			snprintf(err, errlen, "registers[%zu]: %s is written, so it is a holding register, not %s", i,
				 g->name, g->function);
			return -EINVAL;
		}
		if (g->scale == 0) {
			snprintf(err, errlen, "registers[%zu]: %s with scale 0 cannot carry a value", i, g->name);
			return -EINVAL;
		}
		if (g == sp && (t == RT_UINT16 || t == RT_UINT32)) {
			snprintf(err, errlen, "registers[%zu]: setpoint_w is signed (charge and discharge): int16, int32 "
				 "or float32, not %s", i, g->type);
			return -EINVAL;
		}
	}
	if (rv && !sp) {
		*line = rv->line > 0 ? rv->line : cfg->line;
		snprintf(err, errlen, "a revert_s row without a setpoint_w row: nothing to revert");
		return -EINVAL;
	}
	*line = cfg->line;
	return 0;
}

static bool gen_controls(const struct cfg_device *cfg)
{
	for (size_t i = 0; i < cfg->n_registers; i++)
		if (strcmp(cfg->registers[i].name, SETPOINT) == 0)
			return true;
	return false;
}

static struct regmap_entry entry_of(const struct cfg_register *g)
{
	int t = reg_type_parse(g->type);

	return (struct regmap_entry){
		.field = g->name,
		.address = (uint16_t)g->address,
		.kind = strcmp(g->function, "input") == 0 ? REG_INPUT : REG_HOLDING,
		.type = t < 0 ? RT_UINT16 : (enum reg_type)t,
		.little = strcmp(g->word_order, "little") == 0,
		.scale = g->scale,
	};
}

static int gen_init(struct drv_dev *dev)
{
	const struct cfg_device *cfg = dev->cfg;
	struct gen_state *s = calloc(1, sizeof(*s) + cfg->n_registers * sizeof(struct regmap_entry));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_registers; i++) {
		const struct cfg_register *g = &cfg->registers[i];
		if (strcmp(g->name, SETPOINT) == 0) {
			s->setpoint = entry_of(g);
			s->has_setpoint = true;
			s->charge_positive = g->positive && strcmp(g->positive, "charge") == 0;
		} else if (strcmp(g->name, REVERT) == 0) {
			s->revert = entry_of(g);
			s->has_revert = true;
		} else {
			s->map[s->n++] = entry_of(g);
		}
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

/* The one power a setpoint commands, W, > 0 discharges: a negative charge limit forces a
 * discharge, a negative discharge limit forces a charge, anything else holds the battery at 0 W.
 * NAN when the setpoint leaves both limits as they are. */
static double generic_setpoint_w(const struct device_setpoint *sp)
{
	if (isnan(sp->max_charge_w) && isnan(sp->max_discharge_w))
		return NAN;
	if (sp->max_charge_w < 0)
		return -sp->max_charge_w;
	if (sp->max_discharge_w < 0)
		return sp->max_discharge_w;
	return 0;
}

/* raw = value / scale, rounded for integer types and clamped to the type's range. */
static void put_clamped(const struct regmap_entry *e, uint16_t *regs, double value)
{
	double raw = value / e->scale, lo, hi;

	switch (e->type) {
	case RT_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
	case RT_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
	case RT_UINT32: lo = 0; hi = UINT32_MAX; break;
	case RT_FLOAT32: lo = -FLT_MAX; hi = FLT_MAX; break;
	default: lo = 0; hi = UINT16_MAX; break;
	}
	regmap_put(e, regs, fmin(hi, fmax(lo, raw)) * e->scale);
}

/* revert_s first, so the device's own timer runs before it follows the new power. */
static int gen_write_setpoint(struct drv_dev *dev, const struct reg_io *io, const struct device_setpoint *sp)
{
	struct gen_state *s = dev->priv;
	double w = generic_setpoint_w(sp);
	uint16_t regs[2];
	int rc;

	if (dev->role != ROLE_BATTERY || !s->has_setpoint)
		return -ENOTSUP;
	if (s->has_revert) {
		put_clamped(&s->revert, regs, sp->revert_s);
		if ((rc = io->write(io->ctx, s->revert.address, (uint16_t)reg_type_words(s->revert.type), regs)) < 0)
			return rc;
	}
	if (isnan(w))
		return 0;
	put_clamped(&s->setpoint, regs, s->charge_positive ? -w : w);
	return io->write(io->ctx, s->setpoint.address, (uint16_t)reg_type_words(s->setpoint.type), regs);
}

static void gen_describe(const struct drv_dev *dev, char *buf, size_t len)
{
	const struct gen_state *s = dev->priv;

	snprintf(buf, len, "generic register map, %zu quantities%s", s->n,
		 s->has_setpoint ? (s->has_revert ? ", setpoint and revert timer" : ", setpoint") : "");
}

const struct driver_ops driver_generic = {
	.name = "generic",
	.summary = "register map from the configuration",
	.roles = ROLES_ALL,
	.options = DRV_OPT_REGISTERS,
	.check = gen_check,
	.controls = gen_controls,
	.init = gen_init,
	.fini = gen_fini,
	.probe = gen_probe,
	.poll = gen_poll,
	.write_setpoint = gen_write_setpoint,
	.describe = gen_describe,
};
