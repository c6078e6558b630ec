/* The planner off the event loop; see site-plan.h.
 *
 * Key design decision: the work gets its own copy of the nodes and chargers (ids dropped: a
 * charger may disconnect while the plan runs) and writes only its own output; the loop thread
 * takes the result in the after-work callback. One plan at a time: a kick while one runs waits for
 * the next solve after it. */
#include "edge/site/site-plan.h"
#include "edge/core/log.h"
#include "edge/site/site-learn.h"
#include "policies/plan.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
	uv_work_t req;
	struct site_plan *owner;
	struct solver_input in;
	struct solver_node *nodes;
	struct solver_charger *ch;
	double *target_a;
	struct plan_params params;
	struct plan_stats stats;
	int64_t now_ms;
	int rc;
	double took_ms;
	unsigned delay_ms;
};

struct site_plan {
	uv_loop_t *loop;
	struct job *running;            /* NULL = none */
	bool freed;                     /* site_plan_free while a plan ran: the job frees it */
	double *target_a;               /* the last finished plan */
	size_t n;
	int64_t planned_ms;             /* when it was started; 0 = none */
	int64_t next_ms;                /* next periodic plan */
	uint64_t sig;                   /* what the EVs looked like when the last plan started */
	bool failed;                    /* the last plan failed (logged once) */
	unsigned delay_ms;              /* AMPGATE_PLAN_DELAY_MS */
	struct store *store;            /* NULL = nothing to learn from */
	struct site_learned learned;    /* from the finished sessions (site-learn.h) */
	int64_t learned_ms;             /* when the database was last read for it; 0 = never */
};

struct site_plan *site_plan_new(uv_loop_t *loop, struct store *store)
{
	struct site_plan *p = calloc(1, sizeof(*p));
	const char *delay = getenv("AMPGATE_PLAN_DELAY_MS");

	if (!p)
		return NULL;
	p->loop = loop;
	p->store = store;
	p->delay_ms = delay ? (unsigned)strtoul(delay, NULL, 10) : 0;
	if (p->delay_ms)
		log_msg(LL_WARN, "plan: every plan delayed by %u ms (AMPGATE_PLAN_DELAY_MS, a test hook)", p->delay_ms);
	return p;
}

static void job_free(struct job *j)
{
	free(j->nodes);
	free(j->ch);
	free(j->target_a);
	free(j);
}

void site_plan_free(struct site_plan *p)
{
	if (!p)
		return;
	if (p->running) {
		p->freed = true;
		return;
	}
	free(p->target_a);
	site_learned_free(&p->learned);
	free(p);
}

static void work(uv_work_t *req)
{
	struct job *j = req->data;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (j->delay_ms)
		nanosleep(&(struct timespec){ .tv_sec = j->delay_ms / 1000, .tv_nsec = (long)(j->delay_ms % 1000) * 1000000 },
			  NULL);
	j->rc = plan_compute(&j->in, j->now_ms, &j->params, j->target_a, &j->stats);
	clock_gettime(CLOCK_MONOTONIC, &b);
	j->took_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static void after_work(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct site_plan *p = j->owner;

	p->running = NULL;
	if (p->freed) {
		job_free(j);
		site_plan_free(p);
		return;
	}
	if (status == 0 && j->rc == 0) {
		double *t = j->target_a;

		j->target_a = p->target_a;
		p->target_a = t;
		p->n = j->in.n_chargers;
		p->planned_ms = j->now_ms;
		if (p->failed)
			log_msg(LL_NOTICE, "plan: planning works again");
		p->failed = false;
		log_msg(LL_DEBUG, "plan: %zu EVs, %.1f kWh planned over %zu intervals in %.1f ms", j->stats.evs,
			j->stats.planned_wh / 1000.0, j->stats.intervals, j->took_ms);
	} else if (!p->failed) {
		p->failed = true;
		log_msg(LL_WARN, "plan: planning failed (%s); chargers keep the last plan for %d periods, then share fairly",
			strerror(status ? -status : -j->rc), SITE_PLAN_STALE_PERIODS);
	}
	job_free(j);
}

/* An EV that gave no departure is planned to leave when the EVs at its charger usually did (plugged
 * in plus the charger's learnt stay), not site.default_dwell_s from now: a charger of short visits
 * gets its EVs charged before they go. Past that time, or with no stay learnt, the default holds. */
int64_t site_plan_departure_ms(const struct site_plan *p, const struct solver_charger *c, int64_t now_ms,
			       size_t *sessions)
{
	const struct site_stay *stay;

	if (!p || !c->ev || c->departure_ms > 0 || c->plugged_ms <= 0 || !(stay = site_learned_stay(&p->learned, c->id)) ||
	    c->plugged_ms + stay->stay_ms <= now_ms)
		return 0;
	if (sessions)
		*sessions = stay->sessions;
	return c->plugged_ms + stay->stay_ms;
}

static int start(struct site_plan *p, const struct solver_input *in, const struct ag_config *cfg, int64_t now_ms)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->nodes = malloc((in->n_nodes + 1) * sizeof(*j->nodes));
	j->ch = malloc((in->n_chargers + 1) * sizeof(*j->ch));
	j->target_a = calloc(in->n_chargers + 1, sizeof(double));
	if (!j->nodes || !j->ch || !j->target_a) {
		job_free(j);
		return -ENOMEM;
	}
	memcpy(j->nodes, in->nodes, in->n_nodes * sizeof(*j->nodes));
	memcpy(j->ch, in->chargers, in->n_chargers * sizeof(*j->ch));
	for (size_t i = 0; i < in->n_nodes; i++)
		j->nodes[i].id = NULL;
	for (size_t i = 0; i < in->n_chargers; i++) {
		j->ch[i].id = NULL;
		int64_t departure_ms = site_plan_departure_ms(p, &in->chargers[i], now_ms, NULL);

		if (departure_ms)
			j->ch[i].departure_ms = departure_ms;
	}
	/* The last plan's targets go in: EVs it served are kept on among equal schedules. */
	if (p->target_a && p->n == in->n_chargers)
		memcpy(j->target_a, p->target_a, p->n * sizeof(double));
	j->in = *in;
	j->in.nodes = j->nodes;
	j->in.chargers = j->ch;
	j->in.plan_a = NULL;
	j->in.prices = NULL;    /* not planned on (yet); the pointer is the loop's */
	j->in.n_prices = 0;
	j->params = (struct plan_params){ .period_ms = (int64_t)cfg->site.plan_period_s * 1000,
					  .default_dwell_ms = (int64_t)cfg->site.default_dwell_s * 1000,
					  .early_ms = plan_hedge_early_ms(&p->learned.hedge) };
	j->now_ms = now_ms;
	j->delay_ms = p->delay_ms;
	j->owner = p;
	j->req.data = j;
	if (uv_queue_work(p->loop, &j->req, work, after_work) < 0) {
		job_free(j);
		return -EAGAIN;
	}
	p->running = j;
	return 0;
}

const double *site_plan_targets(struct site_plan *p, const struct solver_input *in, const struct ag_config *cfg,
				int64_t now_ms)
{
	int64_t period_ms = (int64_t)cfg->site.plan_period_s * 1000;
	uint64_t sig;

	if (!p || !cfg->site.policy || strcmp(cfg->site.policy, "plan"))
		return NULL;
	sig = plan_signature(in);
	if (!p->running && (now_ms >= p->next_ms || sig != p->sig)) {
		int rc;

		if (!p->learned_ms || now_ms - p->learned_ms >= SITE_PLAN_LEARN_S * 1000) {
			site_learn(&p->learned, p->store);
			p->learned_ms = now_ms;
		}
		rc = start(p, in, cfg, now_ms);

		if (rc == 0) {
			p->sig = sig;
			p->next_ms = now_ms + period_ms;
		} else if (!p->failed) {
			p->failed = true;
			log_msg(LL_WARN, "plan: cannot start a plan (%s); chargers share fairly until one runs", strerror(-rc));
		}
	}
	if (!p->target_a || p->n != in->n_chargers || now_ms - p->planned_ms > SITE_PLAN_STALE_PERIODS * period_ms)
		return NULL;
	return p->target_a;
}
