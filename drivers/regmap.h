/* Flat register maps: a list of (quantity, address, kind, type, word order, scale) rows, read
 * into a device_reading. The SDM630 driver's map is const data; the generic driver builds its
 * map from the configuration. */
#ifndef AG_REGMAP_H
#define AG_REGMAP_H

#include "drivers/driver.h"
#include "drivers/regs.h"

struct regmap_entry {
	const char *field;              /* reading field name (reading_field_find) */
	uint16_t address;               /* 0-based register address */
	enum reg_kind kind;
	enum reg_type type;
	bool little;                    /* low word first */
	double scale;                   /* raw * scale = SI value */
};

/* Read every entry into r, batching neighbouring registers of one kind into one request.
 * 0 or the first read error. */
int regmap_read(const struct regmap_entry *map, size_t n, const struct reg_io *io, struct device_reading *r);

/* Encode `value` (SI units) of entry e into a register image (the simulator's side). */
void regmap_put(const struct regmap_entry *e, uint16_t *regs, double value);

/* The SDM630's input-register map (float32, high word first); *n gets the count. */
const struct regmap_entry *sdm630_map(size_t *n);

#endif
