/* The configuration turned into solver input; see site-model.h.
 *
 * Key design decision: this is the one place that maps configuration to the solver (priority
 * "higher first" to the solver's class 1 first, rotation strings to phase indices), so the daemon
 * and the replay cannot drift apart. Nothing here reads a clock or a charger's live state. */
#include "edge/site/site-model.h"
#include "policies/policy.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int site_model_nodes(const struct ag_config *cfg, struct solver_node **out, size_t *n_out)
{
	size_t n = cfg->site.n_circuits + 1, placed = 1;
	struct solver_node *nodes = calloc(n, sizeof(*nodes));

	if (!nodes)
		return -ENOMEM;
	nodes[0] = (struct solver_node){ .id = "grid", .parent = -1, .limit_kw = cfg->site.grid.limit_kw };
	memcpy(nodes[0].limit_a, cfg->site.grid.limit_a, sizeof(nodes[0].limit_a));
	while (placed < n) {
		size_t before = placed;

		for (size_t i = 0; i < cfg->site.n_circuits; i++) {
			const struct cfg_circuit *c = &cfg->site.circuits[i];
			bool done = false;
			int parent = -1;

			for (size_t j = 0; j < placed; j++) {
				done |= strcmp(nodes[j].id, c->id) == 0;
				if (strcmp(nodes[j].id, c->parent) == 0)
					parent = (int)j;
			}
			if (done || parent < 0)
				continue;
			nodes[placed] = (struct solver_node){ .id = c->id, .parent = parent, .limit_kw = c->limit_kw };
			memcpy(nodes[placed].limit_a, c->limit_a, sizeof(c->limit_a));
			placed++;
		}
		if (placed == before) { /* config_check rules out cycles; be safe anyway */
			free(nodes);
			return -EINVAL;
		}
	}
	*out = nodes;
	*n_out = n;
	return 0;
}

int site_model_node_index(const struct solver_node *nodes, size_t n_nodes, const char *id)
{
	for (size_t i = 0; id && i < n_nodes; i++)
		if (strcmp(nodes[i].id, id) == 0)
			return (int)i;
	return 0;
}

void site_model_charger(const struct solver_node *nodes, size_t n_nodes, const struct cfg_charger *cfg,
			struct solver_charger *c)
{
	const char *rot = cfg ? cfg->rotation : "L1L2L3";

	memset(c, 0, sizeof(*c));
	c->node = cfg ? site_model_node_index(nodes, n_nodes, cfg->circuit) : 0;
	c->phases = cfg ? cfg->phases : 3;
	for (int i = 0; i < c->phases && rot[2 * i]; i++)
		c->rotation[i] = (unsigned char)(rot[2 * i + 1] - '1');
	c->min_a = cfg ? cfg->min_a : 6;
	c->max_a = cfg ? cfg->max_a : 16;
	c->fallback_a = cfg ? cfg->fallback_a : 0;
	c->priority = site_model_class(cfg ? cfg->priority : 1);
	c->link = SOLVER_ONLINE;
}

void site_model_ev_limits(struct solver_charger *c, double ev_min_a, double ev_max_a)
{
	double max_a = ev_max_a > 0 ? fmax(ev_max_a, c->min_a) : c->max_a;

	c->max_from_ev = max_a < c->max_a;
	c->ev_max_told = ev_max_a > 0;
	c->max_a = fmin(c->max_a, max_a);
	c->min_a = fmin(fmax(c->min_a, ev_min_a), c->max_a);
}

int site_model_class(int priority)
{
	return 10 - priority;
}

struct solver_input site_model_input(const struct ag_config *cfg)
{
	return (struct solver_input){
		.voltage_v = cfg->site.voltage_v,
		.margin_a = cfg->site.margin_a,
		.fallback_a = cfg->site.fallback_a,
		.ev_slack_a = SITE_EV_SLACK_A,
		.policy = policy_find(cfg->site.policy),
		.max_wait_ms = SITE_MAX_WAIT_MS,
		.min_run_ms = SITE_MIN_RUN_MS,
		.show_max_ms = (int64_t)cfg->site.plan_show_max_s * 1000,
	};
}
