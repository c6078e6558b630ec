/* The table-driven configuration parser: walks the key tables of config-keys.c over a
 * libconfig tree and fills struct ag_config.
 *
 * Design: every key lives in exactly one table row, and parsing, defaults, range checks,
 * unknown-key detection, freeing, reload diffs and `--keys` documentation are all generic walks
 * of those rows. Adding a key is adding a row (and a struct field), nothing else. */
#include "edge/core/config-private.h"
#include "edge/core/log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(base, off, T) ((T *)((char *)(base) + (off)))
#define CFIELD(base, off, T) ((const T *)((const char *)(base) + (off)))

static void __attribute__((format(printf, 5, 0))) report(struct cfg_report *r, const char *what, int line,
								const char *key, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_one_line(msg); /* a value with "\n" must not split the message or forge a file:line */
	fprintf(r->out, "%s:%d: %s: %s%s\n", r->file, line, key, what, msg);
}

void cfg_error(struct cfg_report *r, int line, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(r, "", line, key, fmt, ap);
	va_end(ap);
	r->errors++;
}

void cfg_warn(struct cfg_report *r, int line, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(r, "warning: ", line, key, fmt, ap);
	va_end(ap);
	r->warnings++;
}

/* Edit distance, for "did you mean" on a misspelt key. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (lb >= 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const struct cfg_key *find_key(const struct cfg_key *table, const char *name)
{
	for (const struct cfg_key *k = table; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void path_join(char *out, size_t size, const char *parent, const char *name)
{
	if (parent[0])
		snprintf(out, size, "%s.%s", parent, name);
	else
		snprintf(out, size, "%s", name);
}

static const char *type_name(enum cfg_type t)
{
	switch (t) {
	case CT_INT: return "an integer";
	case CT_DOUBLE: return "a number";
	case CT_BOOL: return "true or false";
	case CT_STRING: return "a string";
	case CT_ENUM: return "one of the listed words";
	case CT_PHASES: return "a number or [L1, L2, L3]";
	case CT_GROUP: return "a group { ... }";
	case CT_LIST: return "a list ( { ... }, ... )";
	}
	return "?";
}

static bool is_number(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static double number_of(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT: return config_setting_get_int(s);
	case CONFIG_TYPE_INT64: return (double)config_setting_get_int64(s);
	default: return config_setting_get_float(s);
	}
}

/* False (and reported) when v is outside the key's range. */
static bool check_range(struct cfg_report *r, const struct cfg_key *k, int line, const char *path, double v)
{
	if (v >= k->min && v <= k->max)
		return true;
	cfg_error(r, line, path, "%g%s%s is out of range (%g .. %g%s%s)", v, k->unit ? " " : "",
		  k->unit ? k->unit : "", k->min, k->max, k->unit ? " " : "", k->unit ? k->unit : "");
	return false;
}

static void parse_table(const struct cfg_key *table, const config_setting_t *group, void *base,
			const char *parent, struct cfg_report *r);

static void set_default(const struct cfg_key *k, void *base, const char *path, int line, struct cfg_report *r)
{
	if (k->flags & CK_REQUIRED) {
		cfg_error(r, line, path, "missing required key (%s)", k->help);
		return;
	}
	switch (k->type) {
	case CT_INT: *FIELD(base, k->offset, int) = (int)k->def_num; break;
	case CT_DOUBLE: *FIELD(base, k->offset, double) = k->def_num; break;
	case CT_BOOL: *FIELD(base, k->offset, bool) = k->def_num != 0; break;
	case CT_STRING:
	case CT_ENUM:
		*FIELD(base, k->offset, char *) = k->def_str ? strdup(k->def_str) : NULL;
		break;
	case CT_PHASES:
		for (int p = 0; p < AG_PHASES; p++)
			FIELD(base, k->offset, double)[p] = k->def_num;
		break;
	case CT_GROUP:
		parse_table(k->sub, NULL, FIELD(base, k->offset, char), path, r);
		break;
	case CT_LIST:
		*FIELD(base, k->count_offset, size_t) = 0;
		break;
	}
}

static void parse_phases(const struct cfg_key *k, const config_setting_t *s, double *out, const char *path,
			 int line, struct cfg_report *r)
{
	if (is_number(s)) {
		for (int p = 0; p < AG_PHASES; p++)
			out[p] = number_of(s);
		check_range(r, k, line, path, out[0]);
		return;
	}
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY || config_setting_length(s) != AG_PHASES) {
		cfg_error(r, line, path, "expected %s", type_name(k->type));
		return;
	}
	for (int p = 0; p < AG_PHASES; p++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)p);
		if (!is_number(e)) {
			cfg_error(r, line, path, "expected %s", type_name(k->type));
			return;
		}
		out[p] = number_of(e);
		check_range(r, k, line, path, out[p]);
	}
}

static void parse_list(const struct cfg_key *k, const config_setting_t *s, void *base, const char *path,
		       int line, struct cfg_report *r)
{
	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_error(r, line, path, "expected %s", type_name(k->type));
		return;
	}
	size_t n = (size_t)config_setting_length(s);
	if (n > (size_t)k->max) {
		cfg_error(r, line, path, "%zu entries, at most %g allowed", n, k->max);
		return;
	}
	char *elems = calloc(n ? n : 1, k->elem_size);
	if (!elems) {
		cfg_error(r, line, path, "out of memory");
		return;
	}
	*FIELD(base, k->offset, void *) = elems;
	*FIELD(base, k->count_offset, size_t) = n;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char epath[300];
		snprintf(epath, sizeof(epath), "%s[%zu]", path, i);
		*FIELD(elems + i * k->elem_size, k->line_offset, int) = (int)config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			cfg_error(r, (int)config_setting_source_line(e), epath, "expected a group { ... }");
			continue;
		}
		parse_table(k->sub, e, elems + i * k->elem_size, epath, r);
	}
}

static void parse_value(const struct cfg_key *k, const config_setting_t *s, void *base, const char *path,
			struct cfg_report *r)
{
	int line = (int)config_setting_source_line(s);

	switch (k->type) {
	case CT_INT:
		if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
			cfg_error(r, line, path, "expected %s", type_name(k->type));
			return;
		}
		/* An int64 beyond int (99999999999L) must not reach the cast. */
		if (check_range(r, k, line, path, number_of(s)))
			*FIELD(base, k->offset, int) = (int)number_of(s);
		return;
	case CT_DOUBLE:
		if (!is_number(s)) {
			cfg_error(r, line, path, "expected %s", type_name(k->type));
			return;
		}
		check_range(r, k, line, path, number_of(s));
		*FIELD(base, k->offset, double) = number_of(s);
		return;
	case CT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			cfg_error(r, line, path, "expected %s", type_name(k->type));
			return;
		}
		*FIELD(base, k->offset, bool) = config_setting_get_bool(s);
		return;
	case CT_STRING:
	case CT_ENUM: {
		const char *v = config_setting_get_string(s);
		if (!v) {
			cfg_error(r, line, path, "expected a string in quotes");
			return;
		}
		if (k->type == CT_ENUM) {
			bool ok = false;
			char all[256] = "";
			for (const char *const *c = k->choices; *c; c++) {
				ok |= strcmp(*c, v) == 0;
				snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", c == k->choices ? "" : ", ", *c);
			}
			if (!ok) {
				cfg_error(r, line, path, "\"%s\" is not one of: %s", v, all);
				return;
			}
		} else if (strlen(v) < (size_t)k->min || strlen(v) > (size_t)k->max) {
			cfg_error(r, line, path, "length %zu is out of range (%g .. %g characters)", strlen(v), k->min, k->max);
			return;
		}
		*FIELD(base, k->offset, char *) = strdup(v);
		return;
	}
	case CT_PHASES:
		parse_phases(k, s, FIELD(base, k->offset, double), path, line, r);
		return;
	case CT_GROUP:
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			cfg_error(r, line, path, "expected %s", type_name(k->type));
			return;
		}
		parse_table(k->sub, s, FIELD(base, k->offset, char), path, r);
		return;
	case CT_LIST:
		parse_list(k, s, base, path, line, r);
		return;
	}
}

/* Parse `group` (NULL: absent, defaults apply) against `table` into `base`. */
static void parse_table(const struct cfg_key *table, const config_setting_t *group, void *base,
			const char *parent, struct cfg_report *r)
{
	int gline = group ? (int)config_setting_source_line(group) : 0;
	char path[256];

	for (const struct cfg_key *k = table; k->name; k++) {
		const config_setting_t *s = group ? config_setting_get_member(group, k->name) : NULL;
		path_join(path, sizeof(path), parent, k->name);
		if (s)
			parse_value(k, s, base, path, r);
		else
			set_default(k, base, path, gline, r);
	}
	for (int i = 0; group && i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		if (!name || find_key(table, name))
			continue;
		const char *best = NULL;
		size_t best_d = 3;
		for (const struct cfg_key *k = table; k->name; k++) {
			size_t d = distance(name, k->name);
			/* "max_amps" for "max_a": a key spelt out further is one slip, not three */
			if (strlen(k->name) >= 4 && strncmp(name, k->name, strlen(k->name)) == 0)
				d = d < 2 ? d : 2;
			if (d < best_d) {
				best_d = d;
				best = k->name;
			}
		}
		path_join(path, sizeof(path), parent, name);
		if (best)
			cfg_error(r, (int)config_setting_source_line(s), path, "unknown key (did you mean \"%s\"?)", best);
		else
			cfg_error(r, (int)config_setting_source_line(s), path, "unknown key");
	}
}

static void free_table(const struct cfg_key *table, void *base)
{
	for (const struct cfg_key *k = table; k->name; k++) {
		switch (k->type) {
		case CT_STRING:
		case CT_ENUM:
			free(*FIELD(base, k->offset, char *));
			break;
		case CT_GROUP:
			free_table(k->sub, FIELD(base, k->offset, char));
			break;
		case CT_LIST: {
			char *elems = *FIELD(base, k->offset, char *);
			size_t n = *FIELD(base, k->count_offset, size_t);
			for (size_t i = 0; elems && i < n; i++)
				free_table(k->sub, elems + i * k->elem_size);
			free(elems);
			break;
		}
		default:
			break;
		}
	}
}

void config_free(struct ag_config *cfg)
{
	if (!cfg)
		return;
	free_table(config_root_keys(), cfg);
	free(cfg->charger_by_id);
	free(cfg->file);
	free(cfg);
}

/* Line `line` of `path` as libconfig saw it, trimmed and shortened, into `out` ("" if unread). */
static void source_line(const char *path, int line, char *out, size_t size)
{
	char buf[4096];
	FILE *f = fopen(path, "r");

	out[0] = '\0';
	for (int n = 1; f && fgets(buf, sizeof(buf), f); n++) {
		if (n < line)
			continue;
		char *p = buf + strspn(buf, " \t");
		p[strcspn(p, "\r\n")] = '\0';
		if (strlen(p) >= size && size > 4)
			memcpy(p + size - 4, "...", 4);
		snprintf(out, size, "%s", p);
		log_one_line(out);
		break;
	}
	if (f)
		fclose(f);
}

static int by_id(const void *a, const void *b)
{
	return strcmp((*(const struct cfg_charger *const *)a)->id, (*(const struct cfg_charger *const *)b)->id);
}

/* The index config_charger searches; without it (no memory) config_charger scans. */
static void index_chargers(struct ag_config *cfg)
{
	const struct cfg_charger **index;

	if (!cfg->n_chargers || !(index = malloc(cfg->n_chargers * sizeof(*index))))
		return;
	for (size_t i = 0; i < cfg->n_chargers; i++) {
		index[i] = &cfg->chargers[i];
		cfg->n_pv_chargers += config_charger_pv(&cfg->chargers[i]);
	}
	qsort(index, cfg->n_chargers, sizeof(*index), by_id);
	cfg->charger_by_id = index;
}

struct ag_config *config_load(const char *path, FILE *errs)
{
	struct cfg_report r = { .file = path, .out = errs };
	struct ag_config *cfg = calloc(1, sizeof(*cfg));
	config_t root;

	if (!cfg)
		return NULL;
	cfg->file = strdup(path);
	config_init(&root);
	if (!config_read_file(&root, path)) {
		if (config_error_type(&root) == CONFIG_ERR_FILE_IO)
			fprintf(errs, "%s:0: (file): cannot read: %s\n", path, strerror(errno));
		else {
			const char *text = config_error_text(&root);
			const char *file = config_error_file(&root) ? config_error_file(&root) : path;
			char seen[160];
			source_line(file, config_error_line(&root), seen, sizeof(seen));
			fprintf(errs, "%s:%d: (syntax): %s%s%s%s%s\n", file, config_error_line(&root), text,
				strstr(text, "mismatched element type")
					? " (write every number of a list the same way: 32.0, not 32)"
				: strstr(text, "syntax error")
					? " (each setting is name = value; a group { ... }, a list ( ... ), an array [ ... ], "
					  "text in double quotes)"
					: "",
				seen[0] ? "; the line reads `" : "", seen, seen[0] ? "`" : "");
		}
		config_destroy(&root);
		config_free(cfg);
		errno = EINVAL;
		return NULL;
	}
	parse_table(config_root_keys(), config_root_setting(&root), cfg, "", &r);
	if (r.errors == 0)
		config_check(cfg, &root, &r);
	config_destroy(&root);
	if (r.errors) {
		config_free(cfg);
		errno = EINVAL;
		return NULL;
	}
	index_chargers(cfg);
	return cfg;
}

static void format_value(const struct cfg_key *k, const void *base, char *out, size_t size)
{
	switch (k->type) {
	case CT_INT: snprintf(out, size, "%d", *CFIELD(base, k->offset, int)); break;
	case CT_DOUBLE: snprintf(out, size, "%g", *CFIELD(base, k->offset, double)); break;
	case CT_BOOL: snprintf(out, size, "%s", *CFIELD(base, k->offset, bool) ? "true" : "false"); break;
	case CT_STRING:
	case CT_ENUM: {
		const char *v = *CFIELD(base, k->offset, char *);
		snprintf(out, size, v ? "\"%s\"" : "(unset)", v);
		break;
	}
	case CT_PHASES: {
		const double *p = CFIELD(base, k->offset, double);
		snprintf(out, size, "[%g, %g, %g]", p[0], p[1], p[2]);
		break;
	}
	default:
		out[0] = 0;
	}
}

/* Walk two configurations' keys below `table`; call `changed` for every leaf whose value
 * differs (a list whose length differs is one change, named by the list's path). */
typedef void (*diff_cb)(void *arg, const struct cfg_key *k, const char *path, const char *va, const char *vb);

static void diff_table(const struct cfg_key *table, const void *a, const void *b, const char *parent,
		       diff_cb changed, void *arg)
{
	char path[256], va[256], vb[256];

	for (const struct cfg_key *k = table; k->name; k++) {
		path_join(path, sizeof(path), parent, k->name);
		if (k->type == CT_GROUP) {
			diff_table(k->sub, CFIELD(a, k->offset, char), CFIELD(b, k->offset, char), path, changed, arg);
			continue;
		}
		if (k->type == CT_LIST) {
			size_t na = *CFIELD(a, k->count_offset, size_t), nb = *CFIELD(b, k->count_offset, size_t);
			const char *ea = *CFIELD(a, k->offset, char *), *eb = *CFIELD(b, k->offset, char *);
			if (na != nb) {
				snprintf(va, sizeof(va), "%zu entries", na);
				snprintf(vb, sizeof(vb), "%zu entries", nb);
				changed(arg, k, path, va, vb);
				continue;
			}
			for (size_t i = 0; i < na; i++) {
				char epath[300];
				snprintf(epath, sizeof(epath), "%s[%zu]", path, i);
				diff_table(k->sub, ea + i * k->elem_size, eb + i * k->elem_size, epath, changed, arg);
			}
			continue;
		}
		format_value(k, a, va, sizeof(va));
		format_value(k, b, vb, sizeof(vb));
		if (strcmp(va, vb) != 0)
			changed(arg, k, path, va, vb);
	}
}

static void log_change(void *arg, const struct cfg_key *k, const char *path, const char *va, const char *vb)
{
	(void)arg;
	if (k->flags & CK_SECRET)
		log_msg(LL_NOTICE, "config: %s changed", path);
	else
		log_msg(LL_NOTICE, "config: %s: %s -> %s", path, va, vb);
}

void config_log_diff(const struct ag_config *old_cfg, const struct ag_config *new_cfg)
{
	diff_table(config_root_keys(), old_cfg, new_cfg, "", log_change, NULL);
}

static void count_change(void *arg, const struct cfg_key *k, const char *path, const char *va, const char *vb)
{
	(void)k, (void)path, (void)va, (void)vb;
	++*(int *)arg;
}

bool config_group_equal(const struct ag_config *a, const struct ag_config *b, const char *group)
{
	const struct cfg_key *k = find_key(config_root_keys(), group);
	int n = 0;

	if (!k || k->type != CT_GROUP)
		return false;
	diff_table(k->sub, CFIELD(a, k->offset, char), CFIELD(b, k->offset, char), group, count_change, &n);
	return n == 0;
}

static void print_table(FILE *out, const struct cfg_key *table, const char *parent)
{
	char path[256];

	for (const struct cfg_key *k = table; k->name; k++) {
		path_join(path, sizeof(path), parent, k->name);
		if (k->type == CT_LIST)
			strncat(path, "[]", sizeof(path) - strlen(path) - 1);
		fprintf(out, "%-34s %s", path, k->help);
		if (k->type == CT_INT || k->type == CT_DOUBLE || k->type == CT_PHASES)
			fprintf(out, " [%g .. %g%s%s]", k->min, k->max, k->unit ? " " : "", k->unit ? k->unit : "");
		if (k->type == CT_ENUM) {
			fputs(" [", out);
			for (const char *const *c = k->choices; *c; c++)
				fprintf(out, "%s%s", c == k->choices ? "" : " | ", *c);
			fputc(']', out);
		}
		if (k->flags & CK_REQUIRED)
			fputs(" (required)", out);
		else if (k->type == CT_STRING || k->type == CT_ENUM) {
			if (k->def_str)
				fprintf(out, " (default \"%s\")", k->def_str);
		} else if (k->type == CT_BOOL)
			fprintf(out, " (default %s)", k->def_num ? "true" : "false");
		else if (k->type != CT_GROUP && k->type != CT_LIST)
			fprintf(out, " (default %g)", k->def_num);
		fputc('\n', out);
		if (k->sub)
			print_table(out, k->sub, path);
	}
}

void config_print_keys(FILE *out)
{
	print_table(out, config_root_keys(), "");
}

bool config_charger_pv(const struct cfg_charger *cc)
{
	return cc->pv && strcmp(cc->pv, "off") != 0;
}

const struct cfg_charger *config_charger(const struct ag_config *cfg, const char *id)
{
	if (cfg->charger_by_id) {
		struct cfg_charger key = { .id = (char *)id };
		const struct cfg_charger *k = &key, *const *hit =
			bsearch(&k, cfg->charger_by_id, cfg->n_chargers, sizeof(*cfg->charger_by_id), by_id);
		return hit ? *hit : NULL;
	}
	for (size_t i = 0; i < cfg->n_chargers; i++)
		if (strcmp(cfg->chargers[i].id, id) == 0)
			return &cfg->chargers[i];
	return NULL;
}

const struct cfg_device *config_device(const struct ag_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_devices; i++)
		if (strcmp(cfg->devices[i].id, id) == 0)
			return &cfg->devices[i];
	return NULL;
}

int config_override_check(const struct ag_config *cfg, double limit_a, char *why, size_t size)
{
	const double *grid = cfg->site.grid.limit_a;
	double max_a = fmax(grid[0], fmax(grid[1], grid[2]));

	if (!isfinite(limit_a) || limit_a <= 0) {
		snprintf(why, size, "limit_a must be a number of amps per phase above 0");
		return -EINVAL;
	}
	if (max_a <= 0)
		max_a = CFG_LIMIT_MAX_A; /* no connection limit configured: the largest one could be */
	if (limit_a > max_a) {
		snprintf(why, size, "limit_a %.4g A is above the configured grid limit of %.1f A per phase; a temporary "
			 "limit can only lower it (no effect above %.1f A)", limit_a, max_a, max_a);
		return -EINVAL;
	}
	return 0;
}

const struct cfg_circuit *config_circuit(const struct ag_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->site.n_circuits; i++)
		if (strcmp(cfg->site.circuits[i].id, id) == 0)
			return &cfg->site.circuits[i];
	return NULL;
}
