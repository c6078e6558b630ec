/* Register decoding shared by the drivers and the device simulator: 32-bit values from two
 * registers in either word order, IEEE floats, and SunSpec's scale factors and
 * not-implemented markers. Pure functions. */
#ifndef AG_REGS_H
#define AG_REGS_H

#include <stdbool.h>
#include <stdint.h>

/* Value types of a register map entry (SunSpec's and the generic driver's). */
enum reg_type {
	RT_INT16, RT_UINT16, RT_ACC16, RT_ENUM16, RT_BITFIELD16, RT_SUNSSF,
	RT_INT32, RT_UINT32, RT_ACC32, RT_FLOAT32,
};

/* How many registers a value of `t` takes (1 or 2). */
int reg_type_words(enum reg_type t);
/* "int16", "uint16", "int32", "uint32", "float32" (the generic driver's names); -EINVAL. */
int reg_type_parse(const char *s);

/* 32-bit value: big = high word first (Modbus's usual order), little = low word first. */
uint32_t regs_u32(const uint16_t *r, bool little);
void regs_put_u32(uint16_t *r, uint32_t v, bool little);
float regs_f32(const uint16_t *r, bool little);
void regs_put_f32(uint16_t *r, float v, bool little);

/* The raw value of type t at r, as a double; NAN when it holds SunSpec's not-implemented
 * marker for that type (int16 0x8000, uint16/enum16 0xFFFF, acc 0, int32 0x80000000,
 * uint32 0xFFFFFFFF, float NaN). */
double regs_value_sunspec(const uint16_t *r, enum reg_type t);
/* The raw value without not-implemented handling (generic maps: 0xFFFF is a real value). */
double regs_value(const uint16_t *r, enum reg_type t, bool little);

/* A SunSpec scale factor register: 10^sf as a multiplier, or NAN when not implemented or out of
 * the specified range -10..10 (0x8000, and 0x7FFF that some devices send, included). */
double sunssf_multiplier(uint16_t raw);

#endif
