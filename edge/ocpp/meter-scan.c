/* MeterValues read in place; see meter-scan.h. One recursive-descent pass validates the whole
 * payload (the rules of RFC 8259 as jansson applies them, plus its refusal of duplicate keys) and
 * extracts at fixed paths: transactionId, meterValue[].sampledValue[].{measurand, phase, value,
 * unit, unitOfMeasure.unit}. The design decision: the scanner only ever says "sure" for text it
 * handles completely; every string with an escape or a byte outside printable ASCII, every
 * integer of 19 digits or more, every real that overflows, every object of more than KEYS_MAX
 * members is "unsure", and the caller falls back to jansson. */
#include "edge/ocpp/meter-scan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX 32    /* the frame parser refused deeper text already; this guards other callers */
#define KEYS_MAX 32     /* members of one object checked for duplicates */
#define NUM_MAX 40      /* characters of a number (or a numeric string) converted */

enum kind { K_STRING, K_INT, K_REAL, K_OTHER };

/* A scalar value just scanned: strings by their content (no escapes), numbers by their text. */
struct tok {
	enum kind kind;
	const char *s;
	size_t n;
};

struct scan {
	const char *t;
	size_t i, len;
	struct meter_reading *out;
};

/* Where a value sits: the payload (TOP), the meterValue array (MV_LIST) and its elements (MV),
 * a sampledValue array (SV_LIST) and its elements (SV), an SV's unitOfMeasure (UOM); ANY for
 * everything the edge does not read (only validated). */
enum ctx { C_ANY, C_TOP, C_MV_LIST, C_MV, C_SV_LIST, C_SV, C_UOM };

/* What one sampledValue object says, resolved when it closes (members come in any order). */
struct sv {
	struct tok measurand, phase, value, unit, uom_unit;
	bool has_measurand, has_phase, has_value, has_unit, has_uom_unit;
};

static void ws(struct scan *s)
{
	while (s->i < s->len && (s->t[s->i] == ' ' || s->t[s->i] == '\t' || s->t[s->i] == '\n' || s->t[s->i] == '\r'))
		s->i++;
}

/* A string of printable ASCII without escapes. */
static int string(struct scan *s, struct tok *tk)
{
	size_t b = ++s->i;

	while (s->i < s->len && s->t[s->i] != '"') {
		unsigned char c = (unsigned char)s->t[s->i];
		if (c < 0x20 || c > 0x7e || c == '\\')
			return -EINVAL;
		s->i++;
	}
	if (s->i >= s->len)
		return -EINVAL;
	tk->kind = K_STRING;
	tk->s = s->t + b;
	tk->n = s->i - b;
	s->i++;
	return 0;
}

static bool digit(const struct scan *s)
{
	return s->i < s->len && s->t[s->i] >= '0' && s->t[s->i] <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(struct scan *s, struct tok *tk)
{
	size_t b = s->i;
	bool real = false;

	if (s->t[s->i] == '-')
		s->i++;
	if (!digit(s))
		return -EINVAL;
	if (s->t[s->i] == '0')
		s->i++;
	else
		while (digit(s))
			s->i++;
	if (s->i < s->len && s->t[s->i] == '.') {
		s->i++;
		real = true;
		if (!digit(s))
			return -EINVAL;
		while (digit(s))
			s->i++;
	}
	if (s->i < s->len && (s->t[s->i] == 'e' || s->t[s->i] == 'E')) {
		s->i++;
		real = true;
		if (s->i < s->len && (s->t[s->i] == '+' || s->t[s->i] == '-'))
			s->i++;
		if (!digit(s))
			return -EINVAL;
		while (digit(s))
			s->i++;
	}
	tk->kind = real ? K_REAL : K_INT;
	tk->s = s->t + b;
	tk->n = s->i - b;
	if (tk->n >= NUM_MAX || (!real && tk->n - (tk->s[0] == '-') > 18))
		return -EINVAL; /* jansson's range checks: leave them to it */
	if (real) {
		char buf[NUM_MAX];
		memcpy(buf, tk->s, tk->n);
		buf[tk->n] = '\0';
		if (!isfinite(strtod(buf, NULL)))
			return -EINVAL;
	}
	return 0;
}

static int literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);

	if (s->len - s->i < n || memcmp(s->t + s->i, word, n) != 0)
		return -EINVAL;
	s->i += n;
	return 0;
}

static int value(struct scan *s, int depth, enum ctx ctx, struct tok *tk, struct sv *sv);

static bool key_is(const struct tok *k, const char *name)
{
	return k->n == strlen(name) && memcmp(k->s, name, k->n) == 0;
}

/* An integer token (at most 18 digits, so no overflow), read within its bounds: the text need
 * not be NUL-terminated where it ends. */
static long long int_of(const struct tok *tk)
{
	long long v = 0;
	size_t k = tk->s[0] == '-';

	for (; k < tk->n; k++)
		v = v * 10 + (tk->s[k] - '0');
	return tk->s[0] == '-' ? -v : v;
}

static double to_double(const struct tok *tk)
{
	char buf[NUM_MAX];
	size_t n = tk->n < NUM_MAX - 1 ? tk->n : NUM_MAX - 1;

	if (tk->kind == K_INT)
		return (double)int_of(tk);
	if (tk->kind != K_REAL && tk->kind != K_STRING)
		return 0;
	memcpy(buf, tk->s, n);  /* a string value: "1.6 sends values as strings" */
	buf[n] = '\0';
	return strtod(buf, NULL);
}

static enum meter_what what_of(const char *m, size_t n)
{
	static const struct {
		const char *name;
		enum meter_what what;
	} names[] = { { "Energy.Active.Import.Register", METER_ENERGY }, { "Current.Import", METER_CURRENT },
		      { "Voltage", METER_VOLTAGE }, { "Power.Active.Import", METER_POWER }, { "SoC", METER_SOC } };

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (n == strlen(names[k].name) && memcmp(m, names[k].name, n) == 0)
			return names[k].what;
	return METER_OTHER;
}

static int phase_of(const char *p, size_t n)
{
	if (n >= 2 && p[0] == 'L' && p[1] >= '1' && p[1] <= '3')
		return p[1] - '1';
	return -1;
}

/* The sample a sampledValue says, by the rules of meter_value_of. */
static void resolve(const struct sv *v, struct meter_value *out)
{
	const struct tok *unit = v->has_unit && v->unit.kind == K_STRING ? &v->unit
				 : v->has_uom_unit && v->uom_unit.kind == K_STRING ? &v->uom_unit
										   : NULL;
	bool m = v->has_measurand && v->measurand.kind == K_STRING;

	out->what = (unsigned char)(m ? what_of(v->measurand.s, v->measurand.n) : METER_ENERGY);
	out->phase = (signed char)(v->has_phase && v->phase.kind == K_STRING ? phase_of(v->phase.s, v->phase.n) : -1);
	out->value = v->has_value ? to_double(&v->value) : 0;
	out->kilo = unit && unit->n > 0 && unit->s[0] == 'k';
}

/* Past the opening bracket at s->i: true when the container closes right away. */
static bool opened_empty(struct scan *s, char close)
{
	s->i++;
	ws(s);
	if (s->i < s->len && s->t[s->i] == close) {
		s->i++;
		return true;
	}
	return false;
}

/* After a member or element: 1 when a ',' says another follows, 0 past the `close` bracket,
 * -EINVAL for anything else. */
static int after_element(struct scan *s, char close)
{
	ws(s);
	if (s->i < s->len && s->t[s->i] == ',') {
		s->i++;
		ws(s);
		return 1;
	}
	if (s->i < s->len && s->t[s->i] == close) {
		s->i++;
		return 0;
	}
	return -EINVAL;
}

static int object(struct scan *s, int depth, enum ctx ctx, struct sv *sv)
{
	struct tok keys[KEYS_MAX], tk;
	size_t n = 0;
	int rc;

	if (opened_empty(s, '}'))
		return 0;
	for (;;) {
		struct tok *k = &keys[n];
		if (n == KEYS_MAX || s->i >= s->len || s->t[s->i] != '"' || (rc = string(s, k)) < 0)
			return -EINVAL;
		for (size_t j = 0; j < n; j++)
			if (keys[j].n == k->n && memcmp(keys[j].s, k->s, k->n) == 0)
				return -EINVAL; /* a duplicate: jansson refuses the frame */
		n++;
		ws(s);
		if (s->i >= s->len || s->t[s->i] != ':')
			return -EINVAL;
		s->i++;
		ws(s);
		enum ctx inner = C_ANY;
		if (ctx == C_TOP && key_is(k, "meterValue"))
			inner = C_MV_LIST;
		else if (ctx == C_MV && key_is(k, "sampledValue"))
			inner = C_SV_LIST;
		else if (ctx == C_SV && key_is(k, "unitOfMeasure"))
			inner = C_UOM;
		if ((rc = value(s, depth + 1, inner, &tk, sv)) < 0)
			return rc;
		if (ctx == C_TOP && key_is(k, "transactionId")) {
			struct meter_reading *o = s->out;
			o->has_tx = tk.kind == K_INT || tk.kind == K_STRING;
			o->tx_is_int = tk.kind == K_INT;
			if (o->tx_is_int)
				o->tx_int = int_of(&tk);
			size_t c = tk.n < sizeof(o->tx_id) - 1 ? tk.n : sizeof(o->tx_id) - 1;
			if (o->has_tx && !o->tx_is_int) {
				memcpy(o->tx_id, tk.s, c);
				o->tx_id[c] = '\0';
			} else if (o->tx_is_int) {
				snprintf(o->tx_id, sizeof(o->tx_id), "%lld", o->tx_int);
			}
		} else if (ctx == C_SV) {
			if (key_is(k, "measurand"))
				sv->measurand = tk, sv->has_measurand = true;
			else if (key_is(k, "phase"))
				sv->phase = tk, sv->has_phase = true;
			else if (key_is(k, "value") && tk.kind == K_STRING && tk.n >= NUM_MAX - 1)
				return -EINVAL; /* converted from a bounded copy: leave a long one to jansson */
			else if (key_is(k, "value"))
				sv->value = tk, sv->has_value = true;
			else if (key_is(k, "unit"))
				sv->unit = tk, sv->has_unit = true;
		} else if (ctx == C_UOM && key_is(k, "unit")) {
			sv->uom_unit = tk, sv->has_uom_unit = true;
		}
		if ((rc = after_element(s, '}')) <= 0)
			return rc;
	}
}

/* Elements of an array: in C_SV_LIST each one is a sample (a non-object reads as an empty one,
 * as json_object_get on it finds nothing), in C_MV_LIST a meterValue. */
static int array(struct scan *s, int depth, enum ctx ctx)
{
	struct tok tk;
	int rc;

	if (opened_empty(s, ']'))
		return 0;
	for (;;) {
		struct sv sv = { 0 };
		if ((rc = value(s, depth + 1, ctx == C_SV_LIST ? C_SV : ctx == C_MV_LIST ? C_MV : C_ANY, &tk, &sv)) < 0)
			return rc;
		if (ctx == C_SV_LIST) {
			struct meter_reading *o = s->out;
			if (o->n == METER_SAMPLES_MAX)
				return -E2BIG;
			resolve(&sv, &o->s[o->n++]);
		}
		if ((rc = after_element(s, ']')) <= 0)
			return rc;
	}
}

/* Any value at s->i; a scalar is described in *tk. An object in C_MV, C_SV or C_UOM is read as
 * such (C_SV and C_UOM into *sv), an array in C_MV_LIST or C_SV_LIST; anything else is only
 * validated. */
static int value(struct scan *s, int depth, enum ctx ctx, struct tok *tk, struct sv *sv)
{
	tk->kind = K_OTHER;
	tk->s = NULL;
	tk->n = 0;
	if (depth > DEPTH_MAX || s->i >= s->len)
		return -EINVAL;
	switch (s->t[s->i]) {
	case '{':
		return object(s, depth, ctx == C_MV || ctx == C_SV || ctx == C_UOM ? ctx : C_ANY, sv);
	case '[':
		return array(s, depth, ctx == C_MV_LIST || ctx == C_SV_LIST ? ctx : C_ANY);
	case '"':
		return string(s, tk);
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		return number(s, tk);
	}
}

int meter_scan(const char *text, size_t len, struct meter_reading *out)
{
	struct scan s = { .t = text, .len = len, .out = out };
	struct sv unused = { 0 };
	int rc;

	out->has_tx = out->tx_is_int = false;
	out->tx_int = 0;
	out->tx_id[0] = '\0';
	out->n = 0;
	ws(&s);
	if (s.i >= len || text[s.i] != '{')
		return -EINVAL;
	if ((rc = object(&s, 1, C_TOP, &unused)) < 0)
		return rc;
	ws(&s);
	return s.i == len ? 0 : -EINVAL;
}

void meter_value_of(const json_t *sv, struct meter_value *out)
{
	const char *measurand = json_string_value(json_object_get(sv, "measurand"));
	const char *phase = json_string_value(json_object_get(sv, "phase"));
	const char *unit = json_string_value(json_object_get(sv, "unit"));
	const json_t *v = json_object_get(sv, "value");

	if (!unit)
		unit = json_string_value(json_object_get(json_object_get(sv, "unitOfMeasure"), "unit"));
	out->what = (unsigned char)(measurand ? what_of(measurand, strlen(measurand)) : METER_ENERGY);
	out->phase = (signed char)(phase ? phase_of(phase, strlen(phase)) : -1);
	out->kilo = unit && unit[0] == 'k';
	out->value = json_is_number(v) ? json_number_value(v) : json_is_string(v) ? strtod(json_string_value(v), NULL) : 0;
}
