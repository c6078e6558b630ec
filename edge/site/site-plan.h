/* The `plan` policy's planner in the daemon: plan_compute (policies/plan.h) run off the event
 * loop on the libuv thread pool, kicked by the site controller at every solve when a plan is due
 * (site.plan_period_s) or the EVs changed (arrival, departure, new departure or need).
 *
 * The real-time solver never waits for a plan: each solve takes the last finished one. A plan
 * older than SITE_PLAN_STALE_PERIODS periods is dropped (the policy then shares as `fair`), so a
 * planner that hangs or fails is never unsafe: the solver enforces every limit each tick either
 * way. Each EV is planned to finish as early before its given departure as drivers at this site
 * left before theirs (policies/plan-hedge.h), and one that gave no departure to leave when the EVs
 * at its charger usually did, both learnt from the finished sessions in the database at most every
 * SITE_PLAN_LEARN_S (site-learn.h). Test hook: AMPGATE_PLAN_DELAY_MS in the environment delays
 * every plan by that much. */
#ifndef AG_SITE_PLAN_H
#define AG_SITE_PLAN_H

#include "edge/core/config.h"
#include "edge/core/store.h"
#include "edge/site/solver.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SITE_PLAN_STALE_PERIODS 3
#define SITE_PLAN_LEARN_S 600

struct site_plan;

/* store may be NULL (no database: the plan learns nothing of how early drivers leave). */
struct site_plan *site_plan_new(uv_loop_t *loop, struct store *store);  /* NULL with errno */
/* A plan still running is let finish and then dropped. NULL is fine. */
void site_plan_free(struct site_plan *p);
/* The targets for the chargers of `in` (NULL: the policy is not `plan`, no plan yet, or the last
 * one is too old or for another set of chargers); starts a plan when one is due and none runs.
 * Called on the loop thread; `in` is copied before the work leaves it. */
const double *site_plan_targets(struct site_plan *p, const struct solver_input *in, const struct ag_config *cfg,
				int64_t now_ms);

/* For the EV on charger c (its solver input at now_ms) that gave no departure: when it is planned
 * to leave, on the solve's clock (when the EVs at its charger usually left, site-learn.h), and
 * from how many sessions' stays (*sessions, may be NULL); 0 when it gave a departure, none is
 * learnt, or it stayed past that (the plan then counts on site.default_dwell_s from now). */
int64_t site_plan_departure_ms(const struct site_plan *p, const struct solver_charger *c, int64_t now_ms,
			       size_t *sessions);

#endif
