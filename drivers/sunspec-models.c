/* SunSpec model tables (the points Ampgate uses) and point encode/decode.
 *
 * Design decision: one table per register layout, shared by the models that have it (meters
 * 201-204 are one layout, 211-214 another, inverters 101-103 and 111-113 likewise), so a
 * layout is written once and checked once against the official definitions. */
#include "drivers/sunspec-models.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define P(N, O, T, SF) { .name = N, .offset = O, .type = T, .size = (T) >= RT_INT32 ? 2 : 1, .sf = SF }
#define S(N, O, SZ) { .name = N, .offset = O, .type = RT_UINT16, .size = SZ, .sf = NULL }
#define END { NULL, 0, 0, 0, NULL }

static const struct ss_point common_points[] = {
	P("ID", 0, RT_UINT16, NULL), P("L", 1, RT_UINT16, NULL),
	S("Mn", 2, 16), S("Md", 18, 16), S("Opt", 34, 8), S("Vr", 42, 8), S("SN", 50, 16),
	P("DA", 66, RT_UINT16, NULL),
	END
};

/* ac_meter 201 (single phase), 202 (split phase), 203 (wye), 204 (delta): integer + SF. */
static const struct ss_point meter_points[] = {
	P("A", 2, RT_INT16, "A_SF"), P("AphA", 3, RT_INT16, "A_SF"), P("AphB", 4, RT_INT16, "A_SF"),
	P("AphC", 5, RT_INT16, "A_SF"), P("A_SF", 6, RT_SUNSSF, NULL),
	P("PhVphA", 8, RT_INT16, "V_SF"), P("PhVphB", 9, RT_INT16, "V_SF"), P("PhVphC", 10, RT_INT16, "V_SF"),
	P("V_SF", 15, RT_SUNSSF, NULL), P("Hz", 16, RT_INT16, "Hz_SF"), P("Hz_SF", 17, RT_SUNSSF, NULL),
	P("W", 18, RT_INT16, "W_SF"), P("WphA", 19, RT_INT16, "W_SF"), P("WphB", 20, RT_INT16, "W_SF"),
	P("WphC", 21, RT_INT16, "W_SF"), P("W_SF", 22, RT_SUNSSF, NULL),
	P("TotWhExp", 38, RT_ACC32, "TotWh_SF"), P("TotWhImp", 46, RT_ACC32, "TotWh_SF"),
	P("TotWh_SF", 54, RT_SUNSSF, NULL),
	END
};

/* ac_meter 211-214: float32, no scale factors. */
static const struct ss_point meter_float_points[] = {
	P("A", 2, RT_FLOAT32, NULL), P("AphA", 4, RT_FLOAT32, NULL), P("AphB", 6, RT_FLOAT32, NULL),
	P("AphC", 8, RT_FLOAT32, NULL), P("PhVphA", 12, RT_FLOAT32, NULL), P("PhVphB", 14, RT_FLOAT32, NULL),
	P("PhVphC", 16, RT_FLOAT32, NULL), P("Hz", 26, RT_FLOAT32, NULL), P("W", 28, RT_FLOAT32, NULL),
	P("TotWhExp", 60, RT_FLOAT32, NULL), P("TotWhImp", 68, RT_FLOAT32, NULL),
	END
};

/* inverter 101 (single phase), 102 (split), 103 (three phase): integer + SF. */
static const struct ss_point inverter_points[] = {
	P("A", 2, RT_UINT16, "A_SF"), P("AphA", 3, RT_UINT16, "A_SF"), P("AphB", 4, RT_UINT16, "A_SF"),
	P("AphC", 5, RT_UINT16, "A_SF"), P("A_SF", 6, RT_SUNSSF, NULL),
	P("PhVphA", 10, RT_UINT16, "V_SF"), P("PhVphB", 11, RT_UINT16, "V_SF"), P("PhVphC", 12, RT_UINT16, "V_SF"),
	P("V_SF", 13, RT_SUNSSF, NULL), P("W", 14, RT_INT16, "W_SF"), P("W_SF", 15, RT_SUNSSF, NULL),
	P("Hz", 16, RT_UINT16, "Hz_SF"), P("Hz_SF", 17, RT_SUNSSF, NULL),
	P("WH", 24, RT_ACC32, "WH_SF"), P("WH_SF", 26, RT_SUNSSF, NULL),
	END
};

/* inverter 111-113: float32. */
static const struct ss_point inverter_float_points[] = {
	P("A", 2, RT_FLOAT32, NULL), P("AphA", 4, RT_FLOAT32, NULL), P("AphB", 6, RT_FLOAT32, NULL),
	P("AphC", 8, RT_FLOAT32, NULL), P("PhVphA", 16, RT_FLOAT32, NULL), P("PhVphB", 18, RT_FLOAT32, NULL),
	P("PhVphC", 20, RT_FLOAT32, NULL), P("W", 22, RT_FLOAT32, NULL), P("Hz", 24, RT_FLOAT32, NULL),
	P("WH", 32, RT_FLOAT32, NULL),
	END
};

/* storage 124 (basic storage controls). */
static const struct ss_point storage_points[] = {
	P("WChaMax", 2, RT_UINT16, "WChaMax_SF"), P("StorCtl_Mod", 5, RT_BITFIELD16, NULL),
	P("ChaState", 8, RT_UINT16, "ChaState_SF"), P("InBatV", 10, RT_UINT16, "InBatV_SF"),
	P("ChaSt", 11, RT_ENUM16, NULL), P("OutWRte", 12, RT_INT16, "InOutWRte_SF"),
	P("InWRte", 13, RT_INT16, "InOutWRte_SF"), P("InOutWRte_WinTms", 14, RT_UINT16, NULL),
	P("InOutWRte_RvrtTms", 15, RT_UINT16, NULL), P("InOutWRte_RmpTms", 16, RT_UINT16, NULL),
	P("WChaMax_SF", 18, RT_SUNSSF, NULL), P("ChaState_SF", 22, RT_SUNSSF, NULL),
	P("InBatV_SF", 24, RT_SUNSSF, NULL), P("InOutWRte_SF", 25, RT_SUNSSF, NULL),
	END
};

/* battery 802. */
static const struct ss_point battery_points[] = {
	P("WHRtg", 3, RT_UINT16, "WHRtg_SF"), P("WChaRteMax", 4, RT_UINT16, "WChaDisChaMax_SF"),
	P("WDisChaRteMax", 5, RT_UINT16, "WChaDisChaMax_SF"), P("SoC", 11, RT_UINT16, "SoC_SF"),
	P("ChaSt", 16, RT_ENUM16, NULL), P("V", 34, RT_UINT16, "V_SF"), P("A", 44, RT_INT16, "A_SF"),
	P("W", 47, RT_INT16, "W_SF"), P("WHRtg_SF", 53, RT_SUNSSF, NULL),
	P("WChaDisChaMax_SF", 54, RT_SUNSSF, NULL), P("SoC_SF", 56, RT_SUNSSF, NULL),
	P("V_SF", 59, RT_SUNSSF, NULL), P("A_SF", 61, RT_SUNSSF, NULL), P("W_SF", 63, RT_SUNSSF, NULL),
	END
};

static const struct ss_model models[] = {
	{ 1, 66, "common", common_points },
	{ 101, 50, "inverter_single_phase", inverter_points },
	{ 102, 50, "inverter_split_phase", inverter_points },
	{ 103, 50, "inverter_three_phase", inverter_points },
	{ 111, 60, "inverter_single_phase_float", inverter_float_points },
	{ 112, 60, "inverter_split_phase_float", inverter_float_points },
	{ 113, 60, "inverter_three_phase_float", inverter_float_points },
	{ 124, 24, "storage_basic", storage_points },
	{ 201, 105, "ac_meter_an_or_ab", meter_points },
	{ 202, 105, "ac_meter_abn", meter_points },
	{ 203, 105, "ac_meter_abcn", meter_points },
	{ 204, 105, "ac_meter_abc", meter_points },
	{ 211, 124, "ac_meter_an_or_ab_float", meter_float_points },
	{ 212, 124, "ac_meter_abn_float", meter_float_points },
	{ 213, 124, "ac_meter_abcn_float", meter_float_points },
	{ 214, 124, "ac_meter_abc_float", meter_float_points },
	{ 802, 62, "battery", battery_points },
};
#define N_MODELS (sizeof(models) / sizeof(models[0]))

const struct ss_model *sunspec_model_find(uint16_t id)
{
	for (size_t i = 0; i < N_MODELS; i++)
		if (models[i].id == id)
			return &models[i];
	return NULL;
}

const struct ss_model *sunspec_model_at(size_t i)
{
	return i < N_MODELS ? &models[i] : NULL;
}

const struct ss_point *sunspec_point(const struct ss_model *m, const char *name)
{
	for (const struct ss_point *p = m->points; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static const struct ss_point *point_in(const struct ss_model *m, const char *name, size_t nregs)
{
	const struct ss_point *p = sunspec_point(m, name);

	return p && (size_t)p->offset + p->size <= nregs ? p : NULL;
}

double sunspec_get(const uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name)
{
	const struct ss_point *p = point_in(m, name, nregs), *sf;
	double v;

	if (!p)
		return NAN;
	v = regs_value_sunspec(regs + p->offset, p->type);
	if (!p->sf)
		return v;
	sf = point_in(m, p->sf, nregs);
	return sf ? v * sunssf_multiplier(regs[sf->offset]) : NAN;
}

int sunspec_put(uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name, double value)
{
	const struct ss_point *p = point_in(m, name, nregs), *sf;
	double raw = value;

	if (!p)
		return -EINVAL;
	if (p->sf) {
		if (!(sf = point_in(m, p->sf, nregs)) || isnan(sunssf_multiplier(regs[sf->offset])))
			return -EINVAL;
		raw = round(value / sunssf_multiplier(regs[sf->offset]));
	}
	switch (p->type) {
	case RT_FLOAT32:
		regs_put_f32(regs + p->offset, (float)value, false);
		return 0;
	case RT_INT16:
	case RT_SUNSSF:
		if (isnan(raw))
			raw = -32768;
		else if (raw < -32767 || raw > 32767)
			return -ERANGE;
		regs[p->offset] = (uint16_t)(int16_t)raw;
		return 0;
	case RT_INT32:
		if (isnan(raw))
			raw = -2147483648.0;
		else if (raw < -2147483647.0 || raw > 2147483647.0)
			return -ERANGE;
		regs_put_u32(regs + p->offset, (uint32_t)(int32_t)raw, false);
		return 0;
	case RT_UINT32:
	case RT_ACC32:
		if (isnan(raw))
			raw = p->type == RT_ACC32 ? 0 : 4294967295.0;
		else if (raw < 0 || raw > 4294967294.0)
			return -ERANGE;
		regs_put_u32(regs + p->offset, (uint32_t)raw, false);
		return 0;
	default:
		if (isnan(raw))
			raw = p->type == RT_ACC16 ? 0 : 65535;
		else if (raw < 0 || raw > 65534)
			return -ERANGE;
		regs[p->offset] = (uint16_t)raw;
		return 0;
	}
}

int sunspec_put_string(uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name, const char *s)
{
	const struct ss_point *p = point_in(m, name, nregs);
	size_t n = strlen(s);

	if (!p)
		return -EINVAL;
	for (size_t i = 0; i < p->size; i++) {
		unsigned char hi = 2 * i < n ? (unsigned char)s[2 * i] : 0;
		unsigned char lo = 2 * i + 1 < n ? (unsigned char)s[2 * i + 1] : 0;
		regs[p->offset + i] = (uint16_t)(hi << 8 | lo);
	}
	return 0;
}

void sunspec_get_string(const uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name, char *buf,
			size_t len)
{
	const struct ss_point *p = point_in(m, name, nregs);
	size_t n = 0;

	if (len == 0)
		return;
	for (size_t i = 0; p && i < p->size && n + 2 < len; i++) {
		buf[n++] = (char)(regs[p->offset + i] >> 8);
		buf[n++] = (char)(regs[p->offset + i] & 0xFF);
	}
	buf[n] = '\0';
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == ' ' || (unsigned char)buf[n - 1] < 0x20))
		buf[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
			buf[i] = '?';
}
