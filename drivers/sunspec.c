/* SunSpec driver: finds the SunSpec map ("SunS" at 40000, 0 or 50000), walks the model chain,
 * and reads meters (201-204, 211-214), inverters (101-103, 111-113), storage (124) and battery
 * (802) into a device_reading; controls a battery's charge/discharge rates through model 124.
 *
 * Design decision: discovery records where each model starts, and every poll re-checks the ID
 * register of the blocks it reads. A device that was replaced, re-mapped or answers for another
 * unit id fails that check with -ENODEV and is discovered again, instead of being decoded
 * with a stale map. */
#include "drivers/driver.h"
#include "drivers/sunspec-models.h"

#include <errno.h>
#include <modbus.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 32           /* models remembered from the chain */
#define MAX_CHAIN 256           /* models walked before giving up (a looping chain) */
#define MAX_READ 125            /* registers per Modbus read */
#define MAX_BLOCK 130           /* largest model block Ampgate decodes (ID + L + 124 + slack) */

struct ss_found {
	uint16_t id;
	uint16_t addr;          /* of the ID register */
	uint16_t length;        /* L as the device announced it */
};

struct ss_state {
	bool probed;
	uint16_t base;
	struct ss_found found[MAX_MODELS];
	size_t n_found;
	char maker[34], model[34], serial[34];
};

static const uint16_t bases[] = { 40000, 0, 50000 };

/* The device answered that these registers do not exist: try the next base. Any other
 * exception (server failure, busy) is the device's problem, not "no SunSpec here". */
static bool is_exception(int rc)
{
	return rc == -EMBXILADD || rc == -EMBXILFUN;
}

static int read_block(const struct reg_io *io, uint16_t addr, uint16_t n, uint16_t *out)
{
	for (uint16_t done = 0; done < n;) {
		uint16_t k = (uint16_t)(n - done > MAX_READ ? MAX_READ : n - done);
		int rc = io->read(io->ctx, REG_HOLDING, (uint16_t)(addr + done), k, out + done);
		if (rc < 0)
			return rc;
		done = (uint16_t)(done + k);
	}
	return 0;
}

static const struct ss_found *find_model(const struct ss_state *s, const uint16_t *ids, size_t n_ids)
{
	for (size_t i = 0; i < s->n_found; i++)
		for (size_t j = 0; j < n_ids; j++)
			if (s->found[i].id == ids[j])
				return &s->found[i];
	return NULL;
}

/* Walk the chain from base + 2. 0, -ENOENT (no models), or the read error. */
static int walk_chain(struct ss_state *s, const struct reg_io *io, uint16_t base)
{
	uint32_t addr = (uint32_t)base + 2;
	uint16_t hdr[2];

	s->n_found = 0;
	for (int i = 0; i < MAX_CHAIN && addr + 2 <= 0x10000; i++) {
		int rc = io->read(io->ctx, REG_HOLDING, (uint16_t)addr, 2, hdr);
		if (rc < 0)     /* some devices end the chain without the end model */
			return s->n_found > 0 ? 0 : rc;
		if (hdr[0] == SUNSPEC_END_ID || hdr[0] == 0)
			break;
		if (s->n_found < MAX_MODELS)
			s->found[s->n_found++] = (struct ss_found){ hdr[0], (uint16_t)addr, hdr[1] };
		addr += 2u + hdr[1];
	}
	return s->n_found > 0 ? 0 : -ENOENT;
}

static void read_common(struct ss_state *s, const struct reg_io *io)
{
	static const uint16_t common_id[] = { 1 };
	const struct ss_found *f = find_model(s, common_id, 1);
	const struct ss_model *m = sunspec_model_find(1);
	uint16_t regs[68];

	s->maker[0] = s->model[0] = s->serial[0] = '\0';
	if (!f || f->length < 65 || read_block(io, f->addr, 66, regs) < 0)
		return;
	sunspec_get_string(regs, 66, m, "Mn", s->maker, sizeof(s->maker));
	sunspec_get_string(regs, 66, m, "Md", s->model, sizeof(s->model));
	sunspec_get_string(regs, 66, m, "SN", s->serial, sizeof(s->serial));
}

static const uint16_t meter_ids[] = { 203, 204, 202, 201, 213, 214, 212, 211 };
static const uint16_t inverter_ids[] = { 103, 113, 102, 112, 101, 111 };
static const uint16_t storage_id[] = { 124 };
static const uint16_t battery_id[] = { 802 };

/* Does the chain hold what the role needs? */
static bool serves_role(const struct ss_state *s, enum device_role role)
{
	switch (role) {
	case ROLE_GRID_METER:
	case ROLE_SUBMETER: return find_model(s, meter_ids, sizeof(meter_ids) / 2) != NULL;
	case ROLE_PV: return find_model(s, inverter_ids, sizeof(inverter_ids) / 2) != NULL;
	case ROLE_BATTERY: return find_model(s, storage_id, 1) || find_model(s, battery_id, 1);
	default: return false;
	}
}

static int ss_probe(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms)
{
	struct ss_state *s = dev->priv;
	int rc = -ENOENT;
	uint16_t marker[2];

	(void)now_ms;
	s->probed = false;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		uint16_t base = dev->cfg->base >= 0 ? (uint16_t)dev->cfg->base : bases[i];
		rc = io->read(io->ctx, REG_HOLDING, base, 2, marker);
		if (rc == 0 && marker[0] == SUNSPEC_MARKER_HI && marker[1] == SUNSPEC_MARKER_LO) {
			if ((rc = walk_chain(s, io, base)) < 0)
				return rc;
			s->base = base;
			read_common(s, io);
			if (!serves_role(s, dev->role))
				return -ENOTSUP;
			s->probed = true;
			return 0;
		}
		/* No answer at all is not "no SunSpec here": let the caller tell the installer. */
		if (rc < 0 && !is_exception(rc))
			return rc;
		if (dev->cfg->base >= 0)
			break;
	}
	return -ENOENT;
}

/* Read the block of model f into regs (at most MAX_BLOCK registers) after checking its ID. */
static int read_model(const struct reg_io *io, const struct ss_found *f, const struct ss_model *m, uint16_t *regs,
		      size_t *nregs)
{
	size_t n = (size_t)f->length + 2;
	int rc;

	if (n > (size_t)m->length + 2)
		n = (size_t)m->length + 2;      /* vendor extensions past the standard points */
	if (n > MAX_BLOCK)
		n = MAX_BLOCK;
	if ((rc = read_block(io, f->addr, (uint16_t)n, regs)) < 0)
		return rc;
	if (regs[0] != f->id)
		return -ENODEV;
	*nregs = n;
	return 0;
}

static void decode_phases(const uint16_t *regs, size_t n, const struct ss_model *m, struct device_reading *r)
{
	static const char *const amps[3] = { "AphA", "AphB", "AphC" };
	static const char *const volts[3] = { "PhVphA", "PhVphB", "PhVphC" };

	for (int ph = 0; ph < 3; ph++) {
		r->current_a[ph] = sunspec_get(regs, n, m, amps[ph]);
		r->voltage_v[ph] = sunspec_get(regs, n, m, volts[ph]);
	}
	r->power_w = sunspec_get(regs, n, m, "W");
	r->frequency_hz = sunspec_get(regs, n, m, "Hz");
}

/* Meters and inverters: per-phase currents and voltages, power, frequency, energy counters
 * (an inverter's WH is what it produced, so it counts as export). */
static int poll_ac(const struct ss_state *s, const struct reg_io *io, const uint16_t *ids, size_t n_ids,
		   struct device_reading *r)
{
	const struct ss_found *f = find_model(s, ids, n_ids);
	const struct ss_model *m = sunspec_model_find(f->id);
	uint16_t regs[MAX_BLOCK];
	size_t n;
	int rc;

	if ((rc = read_model(io, f, m, regs, &n)) < 0)
		return rc;
	decode_phases(regs, n, m, r);
	if (sunspec_point(m, "WH")) {
		r->export_wh = sunspec_get(regs, n, m, "WH");
	} else {
		r->import_wh = sunspec_get(regs, n, m, "TotWhImp");
		r->export_wh = sunspec_get(regs, n, m, "TotWhExp");
	}
	return 0;
}

/* Battery: 802 for SoC, power and its limits; 124 for what 802 lacks (or all, without 802). */
static int poll_battery(const struct ss_state *s, const struct reg_io *io, struct device_reading *r)
{
	const struct ss_found *f124 = find_model(s, storage_id, 1), *f802 = find_model(s, battery_id, 1);
	uint16_t regs[MAX_BLOCK];
	size_t n;
	int rc;

	if (f802) {
		const struct ss_model *m = sunspec_model_find(802);
		if ((rc = read_model(io, f802, m, regs, &n)) < 0)
			return rc;
		r->soc_pct = sunspec_get(regs, n, m, "SoC");
		r->power_w = sunspec_get(regs, n, m, "W");
		r->max_charge_w = sunspec_get(regs, n, m, "WChaRteMax");
		r->max_discharge_w = sunspec_get(regs, n, m, "WDisChaRteMax");
	}
	if (f124) {
		const struct ss_model *m = sunspec_model_find(124);
		if ((rc = read_model(io, f124, m, regs, &n)) < 0)
			return rc;
		double wchamax = sunspec_get(regs, n, m, "WChaMax");
		if (isnan(r->soc_pct))
			r->soc_pct = sunspec_get(regs, n, m, "ChaState");
		if (isnan(r->max_charge_w))
			r->max_charge_w = wchamax;
		if (isnan(r->max_discharge_w))
			r->max_discharge_w = wchamax;   /* 124 has one rating for both */
	}
	return 0;
}

static bool role_complete(enum device_role role, const struct device_reading *r)
{
	switch (role) {
	case ROLE_GRID_METER:
	case ROLE_SUBMETER: return !isnan(r->current_a[0]) && !isnan(r->power_w);
	case ROLE_BATTERY: return !isnan(r->soc_pct);
	case ROLE_PV: return !isnan(r->power_w);
	default: return false;
	}
}

static int ss_poll(struct drv_dev *dev, const struct reg_io *io, uint64_t now_ms, struct device_reading *r)
{
	struct ss_state *s = dev->priv;
	int rc;

	if (!s->probed && (rc = ss_probe(dev, io, now_ms)) < 0)
		return rc;
	switch (dev->role) {
	case ROLE_GRID_METER:
	case ROLE_SUBMETER: rc = poll_ac(s, io, meter_ids, sizeof(meter_ids) / 2, r); break;
	case ROLE_PV: rc = poll_ac(s, io, inverter_ids, sizeof(inverter_ids) / 2, r); break;
	case ROLE_BATTERY: rc = poll_battery(s, io, r); break;
	default: rc = -EINVAL; break;
	}
	if (rc == -ENODEV)
		s->probed = false;      /* the map moved: discover again next time */
	if (rc < 0)
		return rc;
	r->quality = role_complete(dev->role, r) ? RQ_GOOD : RQ_PARTIAL;
	return 0;
}

static int write_point(const struct reg_io *io, const struct ss_found *f, uint16_t *regs, size_t n,
		       const struct ss_model *m, const char *name, double value)
{
	const struct ss_point *p = sunspec_point(m, name);
	int rc = sunspec_put(regs, n, m, name, value);

	if (rc < 0)
		return rc;
	return io->write(io->ctx, (uint16_t)(f->addr + p->offset), p->size, regs + p->offset);
}

/* Model 124: InWRte/OutWRte are percentages of WChaMax (WDisChaMax is not in 124; 802's
 * WDisChaRteMax is used when present); StorCtl_Mod bit 0 enables the charge limit, bit 1 the
 * discharge limit; InOutWRte_RvrtTms makes the device drop the limits if we stop renewing.
 * The rates are signed (-100..100 %): a negative charge limit forces discharge and a negative
 * discharge limit forces charge, which is how storage that follows 124 (Fronius, the simulator)
 * is dispatched rather than only capped. */
static int ss_write_setpoint(struct drv_dev *dev, const struct reg_io *io, const struct device_setpoint *sp)
{
	struct ss_state *s = dev->priv;
	const struct ss_found *f = find_model(s, storage_id, 1);
	const struct ss_model *m = sunspec_model_find(124);
	struct device_reading cur;
	uint16_t regs[MAX_BLOCK];
	size_t n;
	int rc;

	if (dev->role != ROLE_BATTERY || !s->probed || !f)
		return -ENOTSUP;
	reading_clear(&cur);
	if ((rc = poll_battery(s, io, &cur)) < 0 || (rc = read_model(io, f, m, regs, &n)) < 0)
		return rc;
	double wchamax = sunspec_get(regs, n, m, "WChaMax");
	double wdischamax = isnan(cur.max_discharge_w) ? wchamax : cur.max_discharge_w;
	unsigned mode = (unsigned)regs[sunspec_point(m, "StorCtl_Mod")->offset];
	if (mode == 0xFFFF)
		mode = 0;
	if (!isnan(sp->max_charge_w)) {
		if (!(wchamax > 0))
			return -ENOTSUP;
		double pct = fmin(100.0, fmax(-100.0, sp->max_charge_w / wchamax * 100.0));
		if ((rc = write_point(io, f, regs, n, m, "InWRte", pct)) < 0)
			return rc;
		mode |= 0x1;
	}
	if (!isnan(sp->max_discharge_w)) {
		if (!(wdischamax > 0))
			return -ENOTSUP;
		double pct = fmin(100.0, fmax(-100.0, sp->max_discharge_w / wdischamax * 100.0));
		if ((rc = write_point(io, f, regs, n, m, "OutWRte", pct)) < 0)
			return rc;
		mode |= 0x2;
	}
	if ((rc = write_point(io, f, regs, n, m, "InOutWRte_RvrtTms", sp->revert_s)) < 0)
		return rc;
	return write_point(io, f, regs, n, m, "StorCtl_Mod", mode);
}

static void ss_describe(const struct drv_dev *dev, char *buf, size_t len)
{
	const struct ss_state *s = dev->priv;
	size_t off;

	if (!s->probed) {
		snprintf(buf, len, "SunSpec (not discovered yet)");
		return;
	}
	off = (size_t)snprintf(buf, len, "SunSpec at %u: %s%s%s%s%s, models", s->base, s->maker[0] ? s->maker : "?",
			       s->model[0] ? " " : "", s->model, s->serial[0] ? " SN " : "", s->serial);
	for (size_t i = 0; i < s->n_found && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, " %u", s->found[i].id);
}

static int ss_init(struct drv_dev *dev)
{
	dev->priv = calloc(1, sizeof(struct ss_state));
	return dev->priv ? 0 : -ENOMEM;
}

static void ss_fini(struct drv_dev *dev)
{
	free(dev->priv);
}

const struct driver_ops driver_sunspec = {
	.name = "sunspec",
	.summary = "SunSpec meters (201-204, 211-214), inverters (101-103, 111-113), storage (124, 802)",
	.roles = ROLES_ALL,
	.options = DRV_OPT_BASE,
	.init = ss_init,
	.fini = ss_fini,
	.probe = ss_probe,
	.poll = ss_poll,
	.write_setpoint = ss_write_setpoint,
	.describe = ss_describe,
};
