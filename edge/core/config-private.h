/* Shared between config.c (the table-driven parser), config-keys.c (the tables) and
 * config-check.c (cross-reference checks). Not for other modules. */
#ifndef AG_CONFIG_PRIVATE_H
#define AG_CONFIG_PRIVATE_H

#include "edge/core/config.h"

#include <libconfig.h>
#include <stddef.h>

enum cfg_type { CT_INT, CT_DOUBLE, CT_BOOL, CT_STRING, CT_ENUM, CT_PHASES, CT_GROUP, CT_LIST };

enum { CK_REQUIRED = 1u, CK_SECRET = 2u };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;
	unsigned flags;
	double min, max;                /* numbers; CT_STRING: min/max length */
	double def_num;                 /* CT_INT, CT_DOUBLE, CT_BOOL, CT_PHASES */
	const char *def_str;            /* CT_STRING, CT_ENUM; NULL = unset */
	const char *const *choices;     /* CT_ENUM: NULL-terminated */
	const struct cfg_key *sub;      /* CT_GROUP, CT_LIST: {0}-terminated table */
	size_t elem_size;               /* CT_LIST */
	size_t count_offset;            /* CT_LIST: offset of the size_t count */
	size_t line_offset;             /* CT_LIST: offset of the element's `int line` */
	const char *unit;               /* shown in errors and --keys: "A", "ms", ... */
	const char *help;
};

/* The root table: groups site, devices, chargers, ocpp, upstream, web, mqtt, health, storage. */
const struct cfg_key *config_root_keys(void);

/* Error sink shared by the parser and the checks. */
struct cfg_report {
	const char *file;
	FILE *out;
	int errors;
	int warnings;
};

void cfg_error(struct cfg_report *r, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void cfg_warn(struct cfg_report *r, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Cross-reference and consistency checks after the tables have parsed; `root` is the libconfig
 * tree, still alive, to give line numbers. */
void config_check(const struct ag_config *cfg, const config_t *root, struct cfg_report *r);

#endif
