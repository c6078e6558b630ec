/* How much earlier than they said drivers leave, learned from the sessions that ended: the
 * planner finishes each EV that much before the departure it was told (plan.h, plan_params
 * early_ms). A site whose drivers leave when they say keeps the plan's small fixed hedge; one
 * whose drivers leave up to an hour early gets its EVs charged up to an hour early. On the
 * generated workplace day under 105 kW with departures told +-1 h off, planning to the told
 * departure lost 2.7 points against the exact run, most of it on short visits told an hour too
 * long (a 30-minute stay told 90 minutes waits behind everyone). */
#ifndef AG_PLAN_HEDGE_H
#define AG_PLAN_HEDGE_H

#include <stddef.h>
#include <stdint.h>

/* The last PLAN_HEDGE_SAMPLES sessions with a told departure count; the hedge is the
 * PLAN_HEDGE_QUANTILE of how early they left (0 for those that left at or after the time they
 * gave), so a few drivers who left hours early do not make the plan rush everyone. */
#define PLAN_HEDGE_SAMPLES 64
#define PLAN_HEDGE_QUANTILE 0.9

struct plan_hedge {
	int64_t early_ms[PLAN_HEDGE_SAMPLES];
	size_t n, next;
};

/* A session that said it would leave at told_ms left at left_ms (the same clock). */
void plan_hedge_note(struct plan_hedge *h, int64_t told_ms, int64_t left_ms);

/* How much earlier than told to plan each EV's finish; 0 until a session was noted. */
int64_t plan_hedge_early_ms(const struct plan_hedge *h);

#endif
