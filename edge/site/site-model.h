/* The site as the solver sees it, built from the configuration: the tree of limit nodes, each
 * configured charger's wiring and limits, and the solver settings the site controller uses.
 * Shared by the daemon's site controller (edge/site/site.c) and the what-if replay (ampgate-sim
 * replay), so a replay allocates exactly as the daemon would on the same configuration. */
#ifndef AG_SITE_MODEL_H
#define AG_SITE_MODEL_H

#include "edge/core/config.h"
#include "edge/site/solver.h"

#include <stddef.h>

/* Rotation and slack the site controller solves with. */
#define SITE_EV_SLACK_A 2.0
#define SITE_MAX_WAIT_MS (15 * 60 * 1000)
#define SITE_MIN_RUN_MS (5 * 60 * 1000)

/* The limit nodes, parents first: "grid" at index 0, then the circuits. *nodes is the caller's
 * to free; ids point into cfg. 0, -ENOMEM, or -EINVAL for a tree that does not hang together. */
int site_model_nodes(const struct ag_config *cfg, struct solver_node **nodes, size_t *n_nodes);
/* Index of node `id`, or 0 (the grid) when there is no such node. */
int site_model_node_index(const struct solver_node *nodes, size_t n_nodes, const char *id);
/* What the configuration says of a charger (NULL: an unknown charger, allowed with
 * ocpp.allow_unknown: 3-phase 6..16 A on the grid): node, phases, rotation, min/max, fallback
 * and priority class. Everything measured or learnt at run time is left zero. */
void site_model_charger(const struct solver_node *nodes, size_t n_nodes, const struct cfg_charger *cfg,
			struct solver_charger *c);
/* The EV's own minimum and maximum current per phase (2.0.1 evMinCurrent, evMaxCurrent; 0 = not
 * given) applied to charger c of an online EV: its max_a lowered to the EV's maximum, never below
 * min_a (the charger cannot offer less and still charge); then its min_a raised to the EV's
 * minimum, never above max_a (an offer below it leaves the EV idle with the current it was given).
 * Shared by the daemon's site controller and the replay. */
void site_model_ev_limits(struct solver_charger *c, double ev_min_a, double ev_max_a);
/* The solver's priority class (1 first) of a configured priority (0..9, higher first). */
int site_model_class(int priority);
/* The site-wide solver settings (voltage, margin, fallback, policy, slack, rotation); nodes and
 * chargers are the caller's to set. The policy is cfg's, NULL when unknown (config_check
 * rules that out). */
struct solver_input site_model_input(const struct ag_config *cfg);

#endif
