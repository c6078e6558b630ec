/* SunSpec model definitions the driver and the simulator use: for each model, its length and
 * the points Ampgate reads or writes, with offsets from the model's ID register.
 *
 * These are const data transcribed from the official model definitions (SunSpec JSON,
 * shared/data/sunspec); tests/unit/test_sunspec_models.c checks every row against them. */
#ifndef AG_SUNSPEC_MODELS_H
#define AG_SUNSPEC_MODELS_H

#include "drivers/regs.h"

#include <stddef.h>
#include <stdint.h>

#define SUNSPEC_MARKER_HI 0x5375        /* "Su" */
#define SUNSPEC_MARKER_LO 0x6e53        /* "nS" */
#define SUNSPEC_END_ID 0xFFFF

struct ss_point {
	const char *name;
	uint16_t offset;                /* from the model's ID register */
	enum reg_type type;
	uint16_t size;                  /* registers (strings: 8 or 16) */
	const char *sf;                 /* scale factor point's name, or NULL */
};

struct ss_model {
	uint16_t id;
	uint16_t length;                /* L: registers after ID and L */
	const char *name;
	const struct ss_point *points;  /* terminated by { NULL } */
};

/* The model with this id, or NULL when Ampgate does not use it. */
const struct ss_model *sunspec_model_find(uint16_t id);
/* The i-th model of the table (NULL past the last). */
const struct ss_model *sunspec_model_at(size_t i);
/* A point of the model by name, or NULL. */
const struct ss_point *sunspec_point(const struct ss_model *m, const char *name);

/* Decode point `name` from a model block `regs` (regs[0] is the ID register) into SI units:
 * raw value, not-implemented -> NAN, times its scale factor (NAN when the factor is not
 * implemented). NAN when the point is unknown or outside `nregs`. */
double sunspec_get(const uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name);
/* Encode `value` into point `name` using the scale factor already stored in `regs`; NAN stores
 * the type's not-implemented marker. 0 or -EINVAL (unknown point), -ERANGE (does not fit). */
int sunspec_put(uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name, double value);
/* Store a string point (space padded is not required; NUL padded). */
int sunspec_put_string(uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name, const char *s);
/* Read a string point into buf (NUL-terminated, trailing spaces and NULs trimmed). */
void sunspec_get_string(const uint16_t *regs, size_t nregs, const struct ss_model *m, const char *name, char *buf,
			size_t len);

#endif
