/* Site controller; see site.h. The solver is pure; everything it needs is gathered here, on the
 * loop thread, from the configuration and the charger objects. A grid meter that is configured
 * but has no fresh reading makes the whole site fall back to safe currents (the solver's
 * meter_stale), never to nominal limits. */
#include "edge/site.h"
#include "edge/daemon.h"
#include "edge/log.h"
#include "edge/profiles.h"
#include "edge/proxy.h"
#include "edge/solver.h"
#include "policies/policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct site {
	struct ag_daemon *d;
	uv_timer_t timer;
	struct solver *solver;
	struct solver_node *nodes;
	size_t n_nodes;
	struct solver_charger *in;
	struct solver_rotation *rot;
	struct solver_result *out;
	size_t cap;
	uint64_t solves;
};

/* Nodes parents first: the grid, then circuits whose parent is already placed. */
static int build_nodes(struct site *s, const struct ag_config *cfg)
{
	size_t n = cfg->site.n_circuits + 1;
	struct solver_node *nodes = calloc(n, sizeof(*nodes));

	if (!nodes)
		return -ENOMEM;
	nodes[0] = (struct solver_node){ .id = "grid", .parent = -1, .limit_kw = cfg->site.grid.limit_kw };
	memcpy(nodes[0].limit_a, cfg->site.grid.limit_a, sizeof(nodes[0].limit_a));
	size_t placed = 1;
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
	free(s->nodes);
	s->nodes = nodes;
	s->n_nodes = n;
	return 0;
}

static int node_index(const struct site *s, const char *id)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (strcmp(s->nodes[i].id, id) == 0)
			return (int)i;
	return 0;
}

static bool ev_present(const struct charger *ch)
{
	static const char *const busy[] = { "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Occupied", NULL };

	if (charger_active_tx(ch))
		return true;
	for (int i = 0; i < ch->n_connectors; i++)
		for (const char *const *b = busy; *b; b++)
			if (strcmp(ch->connectors[i].status, *b) == 0)
				return true;
	return false;
}

static void describe(struct site *s, const struct charger *ch, struct solver_charger *c)
{
	const struct cfg_charger *cfg = ch->cfg;
	const char *rot = cfg ? cfg->rotation : "L1L2L3";

	memset(c, 0, sizeof(*c));
	c->id = ch->id;
	c->node = cfg ? node_index(s, cfg->circuit) : 0;
	c->phases = cfg ? cfg->phases : 3;
	for (int i = 0; i < c->phases && rot[2 * i]; i++)
		c->rotation[i] = (unsigned char)(rot[2 * i + 1] - '1');
	c->min_a = cfg ? cfg->min_a : 6;
	c->max_a = cfg ? cfg->max_a : 16;
	if (ch->csms_limit_a > 0 && ch->csms_limit_a < c->max_a)
		c->max_a = ch->csms_limit_a;
	c->fallback_a = cfg ? cfg->fallback_a : 0;
	memcpy(c->draw_a, ch->meter.current_a, sizeof(c->draw_a));
	c->link = !charger_online(ch) ? SOLVER_OFFLINE : ch->not_controllable ? SOLVER_UNCONTROLLED : SOLVER_ONLINE;
	c->ev = charger_online(ch) && ev_present(ch);
	c->priority = cfg ? 10 - cfg->priority : 9;
}

static void solve(struct site *s)
{
	struct ag_daemon *d = s->d;
	const struct ag_config *cfg = d->cfg;
	struct proxy *p = d->proxy;

	if (!p || p->n_chargers == 0)
		return;
	if (p->n_chargers > s->cap) {
		size_t cap = p->n_chargers * 2;
		solver_free(s->solver);
		free(s->in);
		free(s->rot);
		free(s->out);
		s->solver = solver_new(s->n_nodes, cap);
		s->in = calloc(cap, sizeof(*s->in));
		s->rot = calloc(cap, sizeof(*s->rot));
		s->out = calloc(cap, sizeof(*s->out));
		s->cap = s->solver && s->in && s->rot && s->out ? cap : 0;
		if (!s->cap)
			return;
	}
	for (size_t i = 0; i < p->n_chargers; i++)
		describe(s, p->chargers[i], &s->in[i]);
	struct solver_input in = {
		.nodes = s->nodes,
		.n_nodes = s->n_nodes,
		.chargers = s->in,
		.n_chargers = p->n_chargers,
		.voltage_v = cfg->site.voltage_v,
		.margin_a = cfg->site.margin_a,
		.fallback_a = cfg->site.fallback_a,
		.ev_slack_a = 2.0,
		/* No device layer reading yet: a configured grid meter has no fresh value. */
		.meter_stale = cfg->site.grid.meter != NULL,
		.policy = policy_find(cfg->site.policy),
		.max_wait_ms = 15 * 60 * 1000,
		.min_run_ms = 5 * 60 * 1000,
	};
	int rc = solver_run(s->solver, &in, s->rot, (int64_t)now_ms(), s->out);
	if (rc < 0) {
		log_msg(LL_ERROR, "solver: %s; chargers keep their last limits", strerror(-rc));
		return;
	}
	s->solves++;
	for (size_t i = 0; i < p->n_chargers; i++) {
		struct charger *ch = p->chargers[i];
		if (strcmp(ch->binding, s->out[i].binding) != 0 || ch->limit_a != s->out[i].limit_a)
			log_msg(LL_DEBUG, "charger %s: %.1f A (%s)", ch->id, s->out[i].limit_a, s->out[i].binding);
		profiles_set_limit(p, ch, s->out[i].limit_a, s->out[i].binding);
	}
}

static void on_timer(uv_timer_t *t)
{
	solve(t->data);
}

int site_start(struct ag_daemon *d)
{
	struct site *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->d = d;
	d->site = s;
	if ((rc = build_nodes(s, d->cfg)) < 0)
		return rc;
	if (d->cfg->site.grid.meter)
		log_msg(LL_WARN, "site: grid meter \"%s\" has no reading yet; chargers held at their fallback current",
			d->cfg->site.grid.meter);
	uv_timer_init(&d->loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, on_timer, 0, (uint64_t)d->cfg->site.control_period_ms);
	return 0;
}

static void free_site(uv_handle_t *h)
{
	struct site *s = h->data;

	solver_free(s->solver);
	free(s->nodes);
	free(s->in);
	free(s->rot);
	free(s->out);
	free(s);
}

void site_stop(struct ag_daemon *d)
{
	struct site *s = d->site;

	if (!s)
		return;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, free_site);
	d->site = NULL;
}

int site_reload(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	struct site *s = d->site;
	int rc;

	if (!s)
		return 0;
	if ((rc = build_nodes(s, new_cfg)) < 0)
		return rc;
	s->cap = 0; /* the tree may have grown: size the solver's scratch again at the next solve */
	uv_timer_set_repeat(&s->timer, (uint64_t)new_cfg->site.control_period_ms);
	return 0;
}
