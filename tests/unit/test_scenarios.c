/* Scenario files: tests/scenarios/NAME.scn, each a site (input) and the limit and binding constraint
 * every charger must get (expected), in a line format a site engineer can write without C.
 *
 *   site    voltage=230 margin=2 fallback=6 slack=1 extra_w=0 stale=0 policy=fair
 *   node    ID parent=ID|- limit=L1,L2,L3 kw=K nonev=L1,L2,L3
 *   charger ID node=ID phases=1|3 rot=L2L3L1 min=6 max=32 fallback=0 ev=1 limited=0
 *           draw=A,B,C link=online|silent|offline|uncontrolled prio=1 count=N
 *           dep_min=M need_kwh=K   (departure M minutes after the solve, energy still needed)
 *   expect  ID LIMIT_A BINDING...          (ID of a charger, or of a group made with count=N)
 *
 * `count=N` makes chargers ID-1 .. ID-N. Lines starting with # are comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/site/solver.h"
#include "policies/policy.h"

#define MAX_N 64
#define SCENARIO_NOW_MS 1000            /* every scenario is solved at this time */
#define MAX_C 256

struct scenario {
	char node_id[MAX_N][32], ch_id[MAX_C][40], group[MAX_C][32];
	struct solver_node nodes[MAX_N];
	struct solver_charger ch[MAX_C];
	struct solver_input in;
};

static void triple(const char *v, double *out)
{
	sscanf(v, "%lf,%lf,%lf", &out[0], &out[1], &out[2]);
}

static int node_index(const struct scenario *sc, const char *id)
{
	for (size_t i = 0; i < sc->in.n_nodes; i++)
		if (!strcmp(sc->node_id[i], id))
			return (int)i;
	return -1;
}

/* Apply one key=value of a `site`, `node` or `charger` line. */
static int apply(struct scenario *sc, const char *kind, void *obj, const char *key, const char *v)
{
	struct solver_node *nd = obj;
	struct solver_charger *c = obj;

	if (!strcmp(kind, "site")) {
		struct solver_input *in = obj;

		if (!strcmp(key, "voltage")) in->voltage_v = atof(v);
		else if (!strcmp(key, "margin")) in->margin_a = atof(v);
		else if (!strcmp(key, "fallback")) in->fallback_a = atof(v);
		else if (!strcmp(key, "slack")) in->ev_slack_a = atof(v);
		else if (!strcmp(key, "extra_w")) in->grid_extra_w = atof(v);
		else if (!strcmp(key, "stale")) in->meter_stale = atoi(v);
		else if (!strcmp(key, "policy")) in->policy = policy_find(v);
		else return -1;
	} else if (!strcmp(kind, "node")) {
		if (!strcmp(key, "parent")) nd->parent = node_index(sc, v);
		else if (!strcmp(key, "limit")) triple(v, nd->limit_a);
		else if (!strcmp(key, "kw")) nd->limit_kw = atof(v);
		else if (!strcmp(key, "nonev")) triple(v, nd->non_ev_a);
		else return -1;
	} else {
		if (!strcmp(key, "node")) c->node = node_index(sc, v);
		else if (!strcmp(key, "phases")) c->phases = atoi(v);
		else if (!strcmp(key, "rot")) for (int i = 0; i < 3 && v[2 * i]; i++) c->rotation[i] = (unsigned char)(v[2 * i + 1] - '1');
		else if (!strcmp(key, "min")) c->min_a = atof(v);
		else if (!strcmp(key, "max")) c->max_a = atof(v);
		else if (!strcmp(key, "fallback")) c->fallback_a = atof(v);
		else if (!strcmp(key, "ev")) c->ev = atoi(v);
		else if (!strcmp(key, "limited")) c->ev_limited = atoi(v);
		else if (!strcmp(key, "draw")) triple(v, c->draw_a);
		else if (!strcmp(key, "prio")) c->priority = atoi(v);
		else if (!strcmp(key, "dep_min")) c->departure_ms = SCENARIO_NOW_MS + (int64_t)(atof(v) * 60000.0);
		else if (!strcmp(key, "need_kwh")) c->energy_need_wh = atof(v) * 1000.0;
		else if (!strcmp(key, "link"))
			c->link = !strcmp(v, "silent") ? SOLVER_SILENT : !strcmp(v, "offline") ? SOLVER_OFFLINE
				  : !strcmp(v, "uncontrolled") ? SOLVER_UNCONTROLLED : SOLVER_ONLINE;
		else if (strcmp(key, "count")) return -1;
	}
	return 0;
}

/* Read `site`, `node` and `charger` lines (expect lines are checked after the solve). */
static void load(const char *path, struct scenario *sc)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int ln = 0;

	assert_non_null(f);
	memset(sc, 0, sizeof(*sc));
	sc->in = (struct solver_input){ .nodes = sc->nodes, .chargers = sc->ch, .voltage_v = 230 };
	while (fgets(line, sizeof(line), f)) {
		char *save, *kind = strtok_r(line, " \t\n", &save), *tok, *id;
		void *obj;
		int count = 1;

		ln++;
		if (!kind || *kind == '#' || !strcmp(kind, "expect"))
			continue;
		id = strcmp(kind, "site") ? strtok_r(NULL, " \t\n", &save) : NULL;
		if (!strcmp(kind, "node")) {
			snprintf(sc->node_id[sc->in.n_nodes], 32, "%s", id);
			sc->nodes[sc->in.n_nodes] = (struct solver_node){ .id = sc->node_id[sc->in.n_nodes],
									  .parent = -1 };
			obj = &sc->nodes[sc->in.n_nodes++];
		} else if (!strcmp(kind, "charger")) {
			sc->ch[sc->in.n_chargers] = (struct solver_charger){ .phases = 3, .rotation = { 0, 1, 2 },
									     .min_a = 6, .max_a = 32, .ev = true,
									     .priority = 1 };
			obj = &sc->ch[sc->in.n_chargers];
		} else if (!strcmp(kind, "site")) {
			obj = &sc->in;
		} else {
			fail_msg("%s:%d: unknown line kind %s", path, ln, kind);
			return;
		}
		while ((tok = strtok_r(NULL, " \t\n", &save))) {
			char *eq = strchr(tok, '=');

			if (!eq)
				fail_msg("%s:%d: %s: want key=value", path, ln, tok);
			*eq = '\0';
			if (apply(sc, kind, obj, tok, eq + 1))
				fail_msg("%s:%d: unknown key %s", path, ln, tok);
			if (!strcmp(tok, "count"))
				count = atoi(eq + 1);
		}
		for (int k = 0; !strcmp(kind, "charger") && k < count; k++) {
			size_t i = sc->in.n_chargers++;

			sc->ch[i] = sc->ch[i - (size_t)k];
			snprintf(sc->group[i], 32, "%s", id);
			if (count > 1)
				snprintf(sc->ch_id[i], 40, "%s-%d", id, k + 1);
			else
				snprintf(sc->ch_id[i], 40, "%s", id);
			sc->ch[i].id = sc->ch_id[i];
		}
	}
	fclose(f);
}

static int check(const char *path, const struct scenario *sc, const struct solver_result *out)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int ln = 0, checked = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char id[40], binding[SOLVER_BINDING_LEN];
		double limit;
		int hit = 0;

		ln++;
		if (sscanf(line, "expect %39s %lf %39[^\n]", id, &limit, binding) != 3)
			continue;
		for (size_t i = 0; i < sc->in.n_chargers; i++) {
			if (strcmp(sc->ch_id[i], id) && strcmp(sc->group[i], id))
				continue;
			hit++;
			if (fabs(out[i].limit_a - limit) > 1e-3 || strcmp(out[i].binding, binding))
				fail_msg("%s:%d: %s got %.4f A \"%s\", want %.4f A \"%s\"", path, ln,
					 sc->ch_id[i], out[i].limit_a, out[i].binding, limit, binding);
		}
		if (!hit)
			fail_msg("%s:%d: no charger %s", path, ln, id);
		checked += hit;
	}
	fclose(f);
	return checked;
}

static void test_scenario_files(void **state)
{
	glob_t g;

	(void)state;
	assert_int_equal(glob("../scenarios/*.scn", 0, NULL, &g), 0);
	for (size_t k = 0; k < g.gl_pathc; k++) {
		static struct scenario sc;
		struct solver_result out[MAX_C];
		struct solver *s;

		load(g.gl_pathv[k], &sc);
		s = solver_new(sc.in.n_nodes, sc.in.n_chargers);
		assert_non_null(s);
		if (solver_run(s, &sc.in, NULL, SCENARIO_NOW_MS, out))
			fail_msg("%s: solver_run failed", g.gl_pathv[k]);
		solver_free(s);
		/* Every charger of the scenario has an expectation. */
		assert_int_equal(check(g.gl_pathv[k], &sc, out), (int)sc.in.n_chargers);
	}
	assert_true(g.gl_pathc >= 3);
	globfree(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenario_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
