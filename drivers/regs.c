/* Register decoding: word order, floats, SunSpec scale factors and not-implemented values.
 *
 * Design decision: not-implemented is decided on the raw register bits before any scaling, and
 * comes out as NAN, so no driver can mistake 0x8000 * 10^-2 for a real -327.68 A. */
#include "drivers/regs.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int reg_type_words(enum reg_type t)
{
	return t >= RT_INT32 ? 2 : 1;
}

int reg_type_parse(const char *s)
{
	static const struct { const char *name; enum reg_type t; } names[] = {
		{ "int16", RT_INT16 }, { "uint16", RT_UINT16 }, { "int32", RT_INT32 },
		{ "uint32", RT_UINT32 }, { "float32", RT_FLOAT32 },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return (int)names[i].t;
	return -EINVAL;
}

uint32_t regs_u32(const uint16_t *r, bool little)
{
	return little ? ((uint32_t)r[1] << 16 | r[0]) : ((uint32_t)r[0] << 16 | r[1]);
}

void regs_put_u32(uint16_t *r, uint32_t v, bool little)
{
	r[little ? 1 : 0] = (uint16_t)(v >> 16);
	r[little ? 0 : 1] = (uint16_t)(v & 0xFFFF);
}

float regs_f32(const uint16_t *r, bool little)
{
	uint32_t u = regs_u32(r, little);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

void regs_put_f32(uint16_t *r, float v, bool little)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	regs_put_u32(r, u, little);
}

double regs_value(const uint16_t *r, enum reg_type t, bool little)
{
	switch (t) {
	case RT_INT16:
	case RT_SUNSSF: return (int16_t)r[0];
	case RT_UINT16:
	case RT_ACC16:
	case RT_ENUM16:
	case RT_BITFIELD16: return r[0];
	case RT_INT32: return (int32_t)regs_u32(r, little);
	case RT_UINT32:
	case RT_ACC32: return regs_u32(r, little);
	case RT_FLOAT32: return regs_f32(r, little);
	}
	return NAN;
}

double regs_value_sunspec(const uint16_t *r, enum reg_type t)
{
	uint32_t u32 = regs_u32(r, false);

	switch (t) {
	case RT_INT16:
	case RT_SUNSSF:
		if (r[0] == 0x8000)
			return NAN;
		break;
	case RT_UINT16:
	case RT_ENUM16:
	case RT_BITFIELD16:
		if (r[0] == 0xFFFF)
			return NAN;
		break;
	case RT_ACC16:
		if (r[0] == 0)
			return NAN;
		break;
	case RT_INT32:
		if (u32 == 0x80000000u)
			return NAN;
		break;
	case RT_UINT32:
		if (u32 == 0xFFFFFFFFu)
			return NAN;
		break;
	case RT_ACC32:
		if (u32 == 0)
			return NAN;
		break;
	case RT_FLOAT32:
		break;                  /* NaN stays NaN */
	}
	return regs_value(r, t, false);
}

double sunssf_multiplier(uint16_t raw)
{
	int16_t sf = (int16_t)raw;

	if (sf < -10 || sf > 10)
		return NAN;
	return pow(10.0, sf);
}
