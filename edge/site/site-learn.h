/* What the planner (site-plan.c) learns from the finished sessions in the database, read at most
 * every SITE_PLAN_LEARN_S: how much earlier than the departure they gave drivers left
 * (policies/plan-hedge.h: each EV is planned to finish that much early), and how long the EVs at
 * each charger stayed, for an EV that gives no departure: it is planned to leave when the EVs
 * there usually did, not after site.default_dwell_s. Only sessions the charger stopped count (a
 * record the edge closed itself, after a restart say, has no real departure). */
#ifndef AG_SITE_LEARN_H
#define AG_SITE_LEARN_H

#include "edge/core/store.h"
#include "policies/plan-hedge.h"

#include <stddef.h>
#include <stdint.h>

/* A charger's stay is the median of its last SITE_STAY_SAMPLES sessions, once it has
 * SITE_STAY_MIN of them. */
#define SITE_STAY_SAMPLES 20
#define SITE_STAY_MIN 5

struct site_stay {
	char *charger_id;
	int64_t stay_ms;
	size_t sessions;                /* how many it is the median of */
};

struct site_learned {
	struct plan_hedge hedge;        /* how early drivers left */
	int64_t early_ms;               /* the hedge last logged */
	struct site_stay *stay;         /* per charger with SITE_STAY_MIN sessions or more, by id */
	size_t n_stay;
};

/* Reads the database again (store NULL: nothing learnt); logs what moved for the site manager. */
void site_learn(struct site_learned *l, struct store *store);
/* How long EVs stay at charger_id, from how many sessions (NULL: not learnt). */
const struct site_stay *site_learned_stay(const struct site_learned *l, const char *charger_id);
/* Its stay_ms (0: not learnt). */
int64_t site_learned_stay_ms(const struct site_learned *l, const char *charger_id);
/* The median of ms[0..n), sorted ascending; 0 when n is 0. */
int64_t site_median_ms(const int64_t *ms, size_t n);
void site_learned_free(struct site_learned *l);

#endif
