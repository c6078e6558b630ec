/* The configuration loader: libconfig text -> parse_table (types, ranges, unknown keys) ->
 * config_check (references, the circuit tree, addresses, drivers). Beyond "no crash, no leak, no
 * UB": every message is a `file:line: ` line, a loaded configuration diffs cleanly against itself
 * and its lookups find every id it holds.
 *
 * `@include` is skipped: it reads other files by name, which is the trusted installer's feature,
 * not something a typo can trigger. */
#include "tests/fuzz/fuzz.h"

#include <stdio.h>

FUZZ_DEFAULT_INIT

static void check_messages(const char *errs)
{
	for (const char *l = errs; *l;) {
		int fd, line, n = 0;
		if (sscanf(l, "/proc/self/fd/%d:%d: %n", &fd, &line, &n) != 2 || n == 0) {
			fprintf(stderr, "message not in file:line: form: %s\n", l);
			abort();
		}
		const char *nl = strchr(l, '\n');
		if (!nl)
			break;
		l = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *errs = NULL;
	size_t errs_len = 0;
	FILE *out;
	struct ag_config *cfg;

	if (memmem(data, size, "@include", 8))
		return 0;
	out = open_memstream(&errs, &errs_len);
	if (!out)
		abort();
	cfg = fuzz_load_config((const char *)data, size, out);
	fclose(out);
	check_messages(errs);
	free(errs);
	if (!cfg)
		return 0;
	config_log_diff(cfg, cfg);
	for (size_t i = 0; i < cfg->n_chargers; i++) {
		const struct cfg_charger *c = &cfg->chargers[i];
		fuzz_check(config_charger(cfg, c->id) && (strcmp(c->circuit, "grid") == 0 || config_circuit(cfg, c->circuit)),
			   "a loaded charger and its circuit are found by id");
	}
	for (size_t i = 0; i < cfg->n_devices; i++)
		fuzz_check(config_device(cfg, cfg->devices[i].id) != NULL, "a loaded device is found by id");
	config_free(cfg);
	return 0;
}
