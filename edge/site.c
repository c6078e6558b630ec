/* Site controller; see site.h. The solver is pure; everything it needs is gathered here, on the
 * loop thread, from the configuration and the charger objects. A grid meter that is configured
 * but has no fresh reading makes the whole site fall back to safe currents (the solver's
 * meter_stale), never to nominal limits. */
#include "edge/site.h"
#include "edge/daemon.h"
#include "edge/log.h"
#include "edge/profiles.h"
#include "edge/proxy.h"
#include "edge/site-model.h"
#include "edge/solver.h"

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

static int build_nodes(struct site *s, const struct ag_config *cfg)
{
	struct solver_node *nodes;
	size_t n;
	int rc = site_model_nodes(cfg, &nodes, &n);

	if (rc < 0)
		return rc;
	free(s->nodes);
	s->nodes = nodes;
	s->n_nodes = n;
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
	site_model_charger(s->nodes, s->n_nodes, ch->cfg, c);
	c->id = ch->id;
	if (ch->csms_limit_a > 0 && ch->csms_limit_a < c->max_a)
		c->max_a = ch->csms_limit_a;
	memcpy(c->draw_a, ch->meter.current_a, sizeof(c->draw_a));
	c->link = !charger_online(ch) ? SOLVER_OFFLINE : ch->not_controllable ? SOLVER_UNCONTROLLED : SOLVER_ONLINE;
	c->ev = charger_online(ch) && ev_present(ch);
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
	struct solver_input in = site_model_input(cfg);
	in.nodes = s->nodes;
	in.n_nodes = s->n_nodes;
	in.chargers = s->in;
	in.n_chargers = p->n_chargers;
	/* No device layer reading yet: a configured grid meter has no fresh value. */
	in.meter_stale = cfg->site.grid.meter != NULL;
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
