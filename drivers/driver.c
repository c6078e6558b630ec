/* The driver table, reading helpers and the configuration check every driver shares.
 *
 * Design decision: the table is the only place that knows which drivers exist; the bus layer,
 * the config check and `ampgatectl devices` all go through driver_find(). */
#include "drivers/driver.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct driver_ops *const drivers_table[] = {
	&driver_sunspec, &driver_sdm630, &driver_generic, &driver_sim, NULL,
};

static const char *const role_names[ROLE_COUNT] = {
	[ROLE_GRID_METER] = "grid-meter", [ROLE_SUBMETER] = "submeter",
	[ROLE_BATTERY] = "battery", [ROLE_PV] = "pv",
};

#define F(name, unit) { #name, offsetof(struct device_reading, name), unit }
#define FA(name, field, i, unit) { name, offsetof(struct device_reading, field) + (i) * sizeof(double), unit }
static const struct reading_field fields[] = {
	FA("current_l1", current_a, 0, "A"), FA("current_l2", current_a, 1, "A"), FA("current_l3", current_a, 2, "A"),
	FA("voltage_l1", voltage_v, 0, "V"), FA("voltage_l2", voltage_v, 1, "V"), FA("voltage_l3", voltage_v, 2, "V"),
	F(power_w, "W"), F(frequency_hz, "Hz"), F(import_wh, "Wh"), F(export_wh, "Wh"), F(soc_pct, "%"),
	F(max_charge_w, "W"), F(max_discharge_w, "W"),
	{ NULL, 0, NULL },
};

int role_parse(const char *s)
{
	for (int r = 0; r < ROLE_COUNT; r++)
		if (strcmp(s, role_names[r]) == 0)
			return r;
	return -EINVAL;
}

const char *role_name(enum device_role r)
{
	return (unsigned)r < ROLE_COUNT ? role_names[r] : "?";
}

const struct reading_field *reading_field_at(size_t i)
{
	return i < sizeof(fields) / sizeof(fields[0]) - 1 ? &fields[i] : NULL;
}

const struct reading_field *reading_field_find(const char *name)
{
	for (const struct reading_field *f = fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

void reading_clear(struct device_reading *r)
{
	memset(r, 0, sizeof(*r));
	for (const struct reading_field *f = fields; f->name; f++)
		*(double *)((char *)r + f->offset) = NAN;
}

bool reading_same_values(const struct device_reading *a, const struct device_reading *b)
{
	for (const struct reading_field *f = fields; f->name; f++) {
		double x = *(const double *)((const char *)a + f->offset);
		double y = *(const double *)((const char *)b + f->offset);
		if (!(x == y || (isnan(x) && isnan(y))))
			return false;
	}
	return true;
}

static const char *num(char *buf, size_t len, double v, int decimals)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", decimals, v);
	return buf;
}

void reading_format(const struct device_reading *r, enum device_role role, char *buf, size_t len)
{
	char a[6][24], p[32], x[3][32];

	if (role == ROLE_BATTERY) {
		snprintf(buf, len, "SoC %s %%, power %s W, max charge %s W, max discharge %s W",
			 num(x[0], sizeof(x[0]), r->soc_pct, 1), num(p, sizeof(p), r->power_w, 0),
			 num(x[1], sizeof(x[1]), r->max_charge_w, 0), num(x[2], sizeof(x[2]), r->max_discharge_w, 0));
		return;
	}
	for (int ph = 0; ph < 3; ph++) {
		num(a[ph], sizeof(a[ph]), r->current_a[ph], 2);
		num(a[3 + ph], sizeof(a[3 + ph]), r->voltage_v[ph], 1);
	}
	snprintf(buf, len, "L1 %s A, L2 %s A, L3 %s A, %s/%s/%s V, power %s W", a[0], a[1], a[2], a[3], a[4], a[5],
		 num(p, sizeof(p), r->power_w, 0));
}

const struct driver_ops *driver_at(size_t i)
{
	return i < sizeof(drivers_table) / sizeof(drivers_table[0]) ? drivers_table[i] : NULL;
}

const struct driver_ops *driver_find(const char *name)
{
	for (size_t i = 0; drivers_table[i]; i++)
		if (strcmp(drivers_table[i]->name, name) == 0)
			return drivers_table[i];
	return NULL;
}

int driver_check_config(const struct cfg_device *cfg, char *err, size_t errlen, int *line)
{
	const struct driver_ops *ops = driver_find(cfg->driver);
	int role = role_parse(cfg->role);
	int dummy;

	if (!line)
		line = &dummy;
	*line = cfg->line;

	if (!ops) {
		snprintf(err, errlen, "unknown driver \"%s\"", cfg->driver);
		return -EINVAL;
	}
	if (role < 0 || !(ops->roles & ROLE_BIT(role))) {
		snprintf(err, errlen, "driver \"%s\" cannot serve role \"%s\"", ops->name, cfg->role);
		return -EINVAL;
	}
	if (cfg->base >= 0 && !(ops->options & DRV_OPT_BASE)) {
		snprintf(err, errlen, "driver \"%s\" does not use \"base\" (only sunspec does)", ops->name);
		return -EINVAL;
	}
	if (cfg->n_registers > 0 && !(ops->options & DRV_OPT_REGISTERS)) {
		snprintf(err, errlen, "driver \"%s\" has its own register map; \"registers\" is for driver \"generic\"",
			 ops->name);
		return -EINVAL;
	}
	return ops->check ? ops->check(cfg, err, errlen, line) : 0;
}

bool driver_can_control(const struct cfg_device *cfg)
{
	const struct driver_ops *ops = driver_find(cfg->driver);

	if (!ops || !ops->write_setpoint)
		return false;
	return ops->controls ? ops->controls(cfg) : true;
}

int drv_dev_init(struct drv_dev *dev, const struct cfg_device *cfg)
{
	memset(dev, 0, sizeof(*dev));
	dev->cfg = cfg;
	dev->ops = driver_find(cfg->driver);
	if (!dev->ops || role_parse(cfg->role) < 0)
		return -EINVAL;
	dev->role = (enum device_role)role_parse(cfg->role);
	return dev->ops->init ? dev->ops->init(dev) : 0;
}

void drv_dev_fini(struct drv_dev *dev)
{
	if (dev->ops && dev->ops->fini)
		dev->ops->fini(dev);
	dev->priv = NULL;
}
