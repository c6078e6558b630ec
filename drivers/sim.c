/* Simulated devices: the site model (base load profile, PV day curve, battery SoC) and the
 * `sim` driver that reads it in-process, without Modbus, for the demo and tests.
 *
 * Design decision: one model serves both the `sim` driver and `ampgate-sim modbus`, which
 * encodes the same values as real SunSpec and SDM630 registers; so the demo with or without
 * a real Modbus hop shows the same site. */
#include "drivers/driver.h"
#include "drivers/sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

void sim_model_init(struct sim_model *m, uint32_t seed, uint64_t now_ms)
{
	memset(m, 0, sizeof(*m));
	m->start_ms = m->last_ms = now_ms;
	m->day_ms = 20 * 60 * 1000;
	m->rng = seed ? seed : 0x2545F491u;
	m->base_a = 40;
	m->pv_peak_w = 20000;
	m->bat_capacity_wh = 50000;
	m->bat_max_w = 25000;
	m->bat_limit_charge_w = m->bat_limit_discharge_w = NAN;
	m->bat_ramp_w_per_s = 20000;
	m->fixed_base_a = m->fixed_pv_w = NAN;
	m->v.bat_soc_pct = 60;
	m->v.import_wh = 1234567;
	m->v.export_wh = 23456;
	m->v.pv_energy_wh = 345678;
	sim_model_step(m, now_ms);
}

/* Uniform noise in [-1, 1] (xorshift32). */
static double noise(struct sim_model *m)
{
	uint32_t x = m->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	m->rng = x;
	return (double)x / 2147483647.5 - 1.0;
}

void sim_model_set_battery(struct sim_model *m, double charge_w, double discharge_w, int revert_s, uint64_t now_ms)
{
	m->bat_limit_charge_w = charge_w;
	m->bat_limit_discharge_w = discharge_w;
	m->bat_revert_at_ms = revert_s > 0 ? now_ms + (uint64_t)revert_s * 1000 : 0;
}

const struct sim_values *sim_model_step(struct sim_model *m, uint64_t now_ms)
{
	struct sim_values *v = &m->v;
	double dt_h = now_ms > m->last_ms ? (double)(now_ms - m->last_ms) / 3600000.0 : 0;
	double day = (double)((now_ms - m->start_ms + m->day_ms / 3) % m->day_ms) / (double)m->day_ms; /* 0..1, start 08:00 */
	static const double imbalance[3] = { 1.0, 0.85, 1.1 };

	m->last_ms = now_ms;
	/* Depot base load: low at night, a morning and an afternoon peak. */
	double profile = 0.55 + 0.35 * sin(2 * PI * (day - 0.3)) + 0.1 * sin(4 * PI * day);
	/* A given PV power (a test's, a profile's) jitters like a measurement (0.5 %), the day curve
	 * like passing haze (up to 10 % down). */
	if (!isnan(m->fixed_pv_w))
		v->pv_power_w = fmax(0, m->fixed_pv_w * (1 + 0.005 * noise(m)));
	else
		v->pv_power_w = day > 0.25 && day < 0.8 ? m->pv_peak_w * sin(PI * (day - 0.25) / 0.55) : 0;
	if (isnan(m->fixed_pv_w))
		v->pv_power_w = fmax(0, v->pv_power_w * (0.95 + 0.05 * noise(m)));
	v->pv_energy_wh += v->pv_power_w * dt_h;
	/* Battery: covers evening load, charges from PV (its own control); within the setpoints,
	 * its rating and SoC; moves towards that target at its ramp rate. */
	if (m->bat_revert_at_ms && now_ms >= m->bat_revert_at_ms) {
		m->bat_limit_charge_w = m->bat_limit_discharge_w = NAN;        /* the edge went quiet */
		m->bat_revert_at_ms = 0;
	}
	bool fixed = !isnan(m->fixed_base_a);
	double bat = v->pv_power_w > 5000 ? -(v->pv_power_w - 5000) : (!fixed && profile > 0.7 ? 8000 : 0);
	double lo = isnan(m->bat_limit_charge_w) ? -m->bat_max_w : -m->bat_limit_charge_w;
	double hi = isnan(m->bat_limit_discharge_w) ? m->bat_max_w : m->bat_limit_discharge_w;
	bat = fmin(hi, fmax(lo, bat));
	bat = fmax(-m->bat_max_w, fmin(m->bat_max_w, bat));
	if ((bat < 0 && v->bat_soc_pct >= 100) || (bat > 0 && v->bat_soc_pct <= 5) || m->bat_tripped)
		bat = 0;
	double step = m->bat_ramp_w_per_s * dt_h * 3600.0;
	if (m->bat_tripped)
		step = INFINITY;        /* a trip opens the contactor at once */
	bat = v->bat_power_w + fmax(-step, fmin(step, bat - v->bat_power_w));
	v->bat_power_w = bat;
	v->bat_soc_pct = fmin(100, fmax(0, v->bat_soc_pct - bat * dt_h / m->bat_capacity_wh * 100));
	v->bat_max_charge_w = v->bat_soc_pct >= 100 ? 0 : m->bat_max_w;
	v->bat_max_discharge_w = v->bat_soc_pct <= 5 ? 0 : m->bat_max_w;
	v->bat_capacity_wh = m->bat_capacity_wh;
	v->frequency_hz = 50.0 + 0.02 * noise(m);
	v->grid_power_w = 0;
	for (int ph = 0; ph < 3; ph++) {
		v->voltage_v[ph] = 230.0 + 2.0 * sin(2 * PI * day + ph) + 0.3 * noise(m);
		double load_a = (fixed ? m->fixed_base_a : m->base_a * profile * imbalance[ph]) + 0.5 * noise(m) +
				m->extra_a[ph];
		v->pv_current_a[ph] = v->pv_power_w / 3 / v->voltage_v[ph];
		v->grid_current_a[ph] = load_a - v->pv_current_a[ph] - bat / 3 / v->voltage_v[ph];
		v->grid_power_w += v->grid_current_a[ph] * v->voltage_v[ph];
	}
	if (v->grid_power_w > 0)
		v->import_wh += v->grid_power_w * dt_h;
	else
		v->export_wh -= v->grid_power_w * dt_h;
	return v;
}

/* ---- the `sim` driver: each device has its own model and reports its role's part ---- */

static int sim_init(struct drv_dev *dev)
{
	struct sim_model *m = calloc(1, sizeof(*m));
	uint32_t seed = 0x9E3779B9u;

	if (!m)
		return -ENOMEM;
	for (const char *p = dev->cfg->id; *p; p++)
		seed = seed * 31 + (unsigned char)*p;
	sim_model_init(m, seed, 0);
	dev->priv = m;
	return 0;
}

static void sim_fini(struct drv_dev *dev)
{
	free(dev->priv);
}

static int sim_probe(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms)
{
	struct sim_model *m = dev->priv;

	(void)io;
	if (m->start_ms == 0)
		sim_model_init(m, m->rng, now_ms);
	return 0;
}

static int sim_poll(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms, struct device_reading *r)
{
	struct sim_model *m = dev->priv;
	const struct sim_values *v;

	sim_probe(dev, io, now_ms);
	v = sim_model_step(m, now_ms);
	switch (dev->role) {
	case ROLE_GRID_METER:
	case ROLE_SUBMETER:
		memcpy(r->current_a, v->grid_current_a, sizeof(r->current_a));
		memcpy(r->voltage_v, v->voltage_v, sizeof(r->voltage_v));
		r->power_w = v->grid_power_w;
		r->frequency_hz = v->frequency_hz;
		r->import_wh = v->import_wh;
		r->export_wh = v->export_wh;
		break;
	case ROLE_PV:
		memcpy(r->current_a, v->pv_current_a, sizeof(r->current_a));
		memcpy(r->voltage_v, v->voltage_v, sizeof(r->voltage_v));
		r->power_w = v->pv_power_w;
		r->export_wh = v->pv_energy_wh;
		break;
	case ROLE_BATTERY:
		r->soc_pct = v->bat_soc_pct;
		r->power_w = v->bat_power_w;
		r->max_charge_w = v->bat_max_charge_w;
		r->max_discharge_w = v->bat_max_discharge_w;
		break;
	default:
		return -EINVAL;
	}
	r->quality = RQ_GOOD;
	return 0;
}

static int sim_write_setpoint(struct drv_dev *dev, const struct reg_io *io, const struct device_setpoint *sp)
{
	struct sim_model *m = dev->priv;

	(void)io;
	if (dev->role != ROLE_BATTERY)
		return -ENOTSUP;
	sim_model_set_battery(m, sp->max_charge_w, sp->max_discharge_w, sp->revert_s, m->last_ms);
	return 0;
}

static void sim_describe(const struct drv_dev *dev, char *buf, size_t len)
{
	snprintf(buf, len, "simulated %s (no Modbus)", role_name(dev->role));
}

const struct driver_ops driver_sim = {
	.name = "sim",
	.summary = "simulated grid meter, battery and PV (demo and tests)",
	.roles = ROLES_ALL,
	.options = DRV_NO_BUS,
	.init = sim_init,
	.fini = sim_fini,
	.probe = sim_probe,
	.poll = sim_poll,
	.write_setpoint = sim_write_setpoint,
	.describe = sim_describe,
};
