/* Flat register maps: read a list of registers into a reading, and encode for the simulator.
 *
 * Design decision: reads are batched into spans of at most 100 registers of one kind, so a
 * meter's map costs one or two requests per poll, not one per quantity (RS-485 at 9600 baud
 * gives about 40 requests a second to share among every device on the line). */
#include "drivers/regmap.h"

#include <errno.h>
#include <math.h>

#define SPAN_MAX 100

int regmap_read(const struct regmap_entry *map, size_t n, const struct reg_io *io, struct device_reading *r)
{
	uint16_t regs[SPAN_MAX + 2];
	uint32_t start = 0, len = 0;
	enum reg_kind kind = REG_HOLDING;

	for (size_t i = 0; i < n; i++) {
		const struct regmap_entry *e = &map[i];
		uint32_t words = (uint32_t)reg_type_words(e->type);
		if (len == 0 || e->kind != kind || e->address < start || e->address + words > start + len) {
			/* New span: this entry and every later one of the same kind that fits. */
			uint32_t end = e->address + words;
			for (size_t j = i + 1; j < n; j++) {
				uint32_t jend = map[j].address + (uint32_t)reg_type_words(map[j].type);
				if (map[j].kind == e->kind && map[j].address >= e->address && jend - e->address <= SPAN_MAX &&
				    jend > end)
					end = jend;
			}
			if (end > 0x10000)
				return -EINVAL;
			start = e->address;
			len = end - start;
			kind = e->kind;
			int rc = io->read(io->ctx, kind, (uint16_t)start, (uint16_t)len, regs);
			if (rc < 0)
				return rc;
		}
		const struct reading_field *f = reading_field_find(e->field);
		if (f)
			*(double *)((char *)r + f->offset) = regs_value(regs + (e->address - start), e->type, e->little) * e->scale;
	}
	return 0;
}

void regmap_put(const struct regmap_entry *e, uint16_t *regs, double value)
{
	double raw = e->scale != 0 ? value / e->scale : 0;

	switch (e->type) {
	case RT_FLOAT32: regs_put_f32(regs, (float)raw, e->little); break;
	case RT_INT32: regs_put_u32(regs, (uint32_t)(int32_t)lround(raw), e->little); break;
	case RT_UINT32: regs_put_u32(regs, (uint32_t)llround(raw), e->little); break;
	case RT_INT16: regs[0] = (uint16_t)(int16_t)lround(raw); break;
	default: regs[0] = (uint16_t)lround(raw); break;
	}
}

/* Eastron SDM630 (Modbus V2): function 04, IEEE754 float32, high word first. Energies are kWh. */
static const struct regmap_entry sdm630[] = {
	{ "voltage_l1", 0x0000, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "voltage_l2", 0x0002, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "voltage_l3", 0x0004, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "current_l1", 0x0006, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "current_l2", 0x0008, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "current_l3", 0x000A, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "power_w", 0x0034, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "frequency_hz", 0x0046, REG_INPUT, RT_FLOAT32, false, 1 },
	{ "import_wh", 0x0048, REG_INPUT, RT_FLOAT32, false, 1000 },
	{ "export_wh", 0x004A, REG_INPUT, RT_FLOAT32, false, 1000 },
};

const struct regmap_entry *sdm630_map(size_t *n)
{
	*n = sizeof(sdm630) / sizeof(sdm630[0]);
	return sdm630;
}
