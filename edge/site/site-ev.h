/* How the site controller (site.c) sees one charger at a solve: the solver's view of it
 * (struct solver_charger) from the charger object the proxy keeps, and what the site learns of its
 * EV from solve to solve (struct site_ev): the EV-limited cap and its probe (ev-cap.h), the phases
 * its EV has drawn on, what it may draw while it ramps (ev-ramp.h), and a charger held at what
 * it last accepted. The OCPP core knows nothing of these. */
#ifndef AG_SITE_EV_H
#define AG_SITE_EV_H

#include "edge/core/config.h"
#include "edge/core/store.h"
#include "edge/site/ev-cap.h"
#include "edge/site/ev-ramp.h"
#include "edge/site/solver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct charger;

/* A metered phase above its limit makes every EV count on all of its charger's phases for this
 * long (site.c sets site_ev_view.phases_trusted_ms; see draw_fresh in site-ev.c). */
#define SITE_PHASES_DISTRUST_S 600

/* The site's own record of one charger, at the charger's index in proxy->chargers. A record found
 * holding another charger (one was added or removed since) starts afresh: the cap is learnt again. */
struct site_ev {
	const struct charger *ch;
	struct ev_cap cap;              /* the cap and its probe (ev-cap.h) */
	double held_a;                  /* > 0: counted at this until it takes its decrease */
	bool held_said;                 /* the site manager was told, this time */
	unsigned phases_seen;           /* the phases its EV has drawn on (solver_phases_learn) */
	uint64_t plugged_ms;            /* the first solve that saw its EV plugged in (0: none now) */
	struct ev_ramp ramp;            /* what it may draw while its EV ramps, and its pin (ev-ramp.h) */
};

/* What describing a charger reads of the site, and the one thing it writes: the site's one probe
 * at a time (ev_cap_judge's site_probing). */
struct site_ev_view {
	const struct ag_config *cfg;
	struct store *store;            /* NULL: no event for the site manager */
	const struct solver_node *nodes;
	size_t n_nodes;
	uint64_t phases_trusted_ms;     /* before this, every EV counts on all its charger's phases */
	bool *probing;
};

/* Charger ch as the solver sees it at `now` (the solve's one clock reading) into c, its record e
 * updated. */
void site_ev_describe(const struct site_ev_view *v, struct charger *ch, struct site_ev *e, struct solver_charger *c,
		      uint64_t now);

#endif
