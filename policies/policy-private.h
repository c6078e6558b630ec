/* What the policies share inside policies/: the accessors the table in policy.c lists, and the
 * least-laxity ordering that `deadline` and `cost` both use. */
#ifndef AG_POLICY_PRIVATE_H
#define AG_POLICY_PRIVATE_H

#include "policies/policy.h"

const struct policy_ops *policy_fair_ops(void);
const struct policy_ops *policy_priority_ops(void);
const struct policy_ops *policy_deadline_ops(void);
const struct policy_ops *policy_cost_ops(void);
const struct policy_ops *policy_plan_ops(void);

/* Least laxity first: an EV that must charge at its cap without pause to make its departure
 * (laxity <= 0) goes to class 0, everyone else to class 1, ranked by laxity. Sets d->cls and
 * d->rank for charger i; returns 1 when the EV has a deadline, 0 when it has none. */
int policy_by_laxity(const struct solver_input *in, int64_t now_ms, size_t i, struct policy_decision *d);

/* policy_laxity_ms of EV c charging at power_w (its cap on its phases, in W). */
int64_t policy_laxity_at_ms(const struct solver_charger *c, double power_w, int64_t now_ms);

/* An EV that has yet to show what it takes (solver_input.show_max_ms, site.plan_show_max_s): it
 * plugged in within that time, has not drawn less than offered, and either has not told its
 * maximum or, on a 3-phase charger, has not shown its phases. `plan` and `deadline` give it its
 * cap whatever else they decide, so the site learns at once that a car takes 16 A of a 32 A
 * charger: planned or ranked at 32 A, it showed it only when its turn came, too late. */
bool policy_showing_max(const struct solver_input *in, const struct solver_charger *c, int64_t now_ms);

/* Of what EV c asked for (energy_done_wh + energy_need_wh), the share it will have at its
 * departure charging at its cap from now on, given its laxity lax_ms at that cap (a finite one:
 * the EV has a departure and a need); 1 when it can finish. */
double policy_share_at_departure(const struct solver_charger *c, int64_t lax_ms, int64_t now_ms);

#endif
