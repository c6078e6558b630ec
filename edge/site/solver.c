/* The allocation solver (see solver.h): weighted max-min fair progressive filling over a tree of
 * per-phase current and kW limits, with min-current admission and rotation.
 *
 * Key design decision: the solve is event driven, never a scan of every constraint per step.
 * Chargers are laid out in depth-first order of their node, so a node's subtree is one
 * contiguous range; constraints (node x {L1, L2, L3, kW}) sit in a binary heap keyed by the
 * water level at which they fill up, kept lazily (a charger that stops rising only raises the
 * levels of the constraints above it, so stale keys are lower bounds, fixed when popped); charger
 * events (leaving its minimum floor, reaching its cap) are one sorted list. A solve is then
 * O(n log n + n * depth * log m) for n chargers and m nodes, with no allocation. */
#include "edge/site/solver.h"
#include "edge/site/skey.h"
#include "policies/policy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NK 4                    /* constraints per node: L1, L2, L3, kW */
#define KW 3
#define LEVEL_EPS 1e-9

enum { ST_OUT, ST_PENDING, ST_FLOORED, ST_RISING, ST_FROZEN };
enum { EV_UNFLOOR, EV_CAP };

struct solver {
	size_t max_nodes, max_chargers;
	/* per node */
	int *pos, *size, *next;
	size_t *cstart;                 /* max_nodes + 1: first layout slot of a DFS position */
	double *nonev;                  /* effective non-EV load through the node, x3 */
	unsigned *limited;              /* bit j: constraint j of the node is a real limit */
	/* per constraint (node * NK + j) */
	double *head, *fixed, *slope, *key;
	int *count, *nrise, *hpos, *heap, *dirty;
	unsigned char *isdirty;
	size_t heap_n, n_dirty;
	/* per charger */
	int *layout;
	unsigned *mask;
	double *cap, *coefw, *x;
	unsigned char *st;
	struct solver_result *res;      /* the caller's out, while solving */
	struct policy_decision *dec;
	struct skey *keys, *tmp;        /* 2 * max_chargers */
};

struct solver *solver_new(size_t max_nodes, size_t max_chargers)
{
	struct solver *s;
	size_t m = max_nodes ? max_nodes : 1, n = max_chargers ? max_chargers : 1, mk = m * NK;

	if (m > INT32_MAX / NK || n > INT32_MAX / 2) {
		errno = E2BIG;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->max_nodes = m;
	s->max_chargers = n;
	s->pos = calloc(m, sizeof(int));
	s->size = calloc(m, sizeof(int));
	s->next = calloc(m, sizeof(int));
	s->cstart = calloc(m + 1, sizeof(size_t));
	s->nonev = calloc(m * SOLVER_PHASES, sizeof(double));
	s->limited = calloc(m, sizeof(unsigned));
	s->head = calloc(mk, sizeof(double));
	s->fixed = calloc(mk, sizeof(double));
	s->slope = calloc(mk, sizeof(double));
	s->key = calloc(mk, sizeof(double));
	s->count = calloc(mk, sizeof(int));
	s->nrise = calloc(mk, sizeof(int));
	s->hpos = calloc(mk, sizeof(int));
	s->heap = calloc(mk, sizeof(int));
	s->dirty = calloc(mk, sizeof(int));
	s->isdirty = calloc(mk, 1);
	s->layout = calloc(n, sizeof(int));
	s->mask = calloc(n, sizeof(unsigned));
	s->cap = calloc(n, sizeof(double));
	s->coefw = calloc(n, sizeof(double));
	s->x = calloc(n, sizeof(double));
	s->st = calloc(n, 1);
	s->dec = calloc(n, sizeof(struct policy_decision));
	s->keys = calloc(2 * n, sizeof(struct skey));
	s->tmp = calloc(2 * n, sizeof(struct skey));
	if (!s->pos || !s->size || !s->next || !s->cstart || !s->nonev || !s->limited || !s->head ||
	    !s->fixed || !s->slope || !s->key || !s->count || !s->nrise || !s->hpos || !s->heap ||
	    !s->dirty || !s->isdirty || !s->layout || !s->mask || !s->cap || !s->coefw || !s->x ||
	    !s->st || !s->dec || !s->keys || !s->tmp) {
		solver_free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void solver_free(struct solver *s)
{
	if (!s)
		return;
	free(s->pos); free(s->size); free(s->next); free(s->cstart); free(s->nonev);
	free(s->limited); free(s->head); free(s->fixed); free(s->slope); free(s->key);
	free(s->count); free(s->nrise); free(s->hpos); free(s->heap); free(s->dirty);
	free(s->isdirty); free(s->layout); free(s->mask); free(s->cap); free(s->coefw);
	free(s->x); free(s->st); free(s->dec); free(s->keys); free(s->tmp);
	free(s);
}

/* Site phases of charger c; with use_draw, only those an EV-limited car, or a car whose draw is
 * a fresh reading, draws on (if any). Before a fresh reading counted, a single-phase car on a
 * 3-phase charger held its current on all three phases, and the two it never drew on were lost
 * to everyone: on a generated workplace day on the demo depot (80 % single-phase staff cars) every
 * policy delivered 72-76 % of the request where 99.8 % was possible, bound by a grid phase that
 * never read above 190 of its 250 A. Without such a reading, the phases the car has shown in its
 * session (ev_phases_seen): a single-phase car paused at 0 A counted on all three, and could start
 * again only when all three had room (bench_replay, demo workplace day at 0.45 of the grid: plan
 * 1.56 -> 0.52 points from the optimum). */
static unsigned phase_mask(const struct solver_charger *c, int use_draw)
{
	unsigned full = 0, drawn = 0;

	for (int i = 0; i < c->phases && i < SOLVER_PHASES; i++) {
		full |= 1u << (c->rotation[i] % SOLVER_PHASES);
		if (c->draw_a[i] >= SOLVER_PHASE_IDLE_A)
			drawn |= 1u << (c->rotation[i] % SOLVER_PHASES);
	}
	if (!use_draw)
		return full;
	if ((c->ev_limited || c->draw_fresh) && drawn)
		return drawn;
	return c->ev_phases_seen & full ? c->ev_phases_seen & full : full;
}

unsigned solver_phase_mask(const struct solver_charger *c)
{
	return phase_mask(c, 1);
}

unsigned solver_load_mask(const struct solver_charger *c)
{
	return phase_mask(c, c->link == SOLVER_ONLINE);
}

unsigned solver_phases_learn(unsigned seen, const struct solver_charger *c)
{
	bool charging = false;

	if (!c->ev)
		return 0;
	for (int i = 0; i < c->phases && i < SOLVER_PHASES; i++)
		charging |= c->draw_a[i] >= SOLVER_PHASES_SEEN_A;
	/* a fresh reading with a phase drawing: phase_mask gives the phases that draw */
	return c->draw_fresh && charging ? seen | phase_mask(c, 1) : seen;
}

double solver_cap_a(const struct solver_input *in, const struct solver_charger *c)
{
	double m = 0;

	if (!c->ev_limited)
		return c->max_a;
	if (c->ev_cap_a > 0)
		return fmin(c->max_a, c->ev_cap_a);
	for (int i = 0; i < c->phases && i < SOLVER_PHASES; i++)
		m = fmax(m, c->draw_a[i]);
	return fmin(c->max_a, m + in->ev_slack_a);
}

double solver_cap_slack_a(const struct solver_input *in, const struct solver_charger *c)
{
	return c->ev_cap_a > 0 && c->ev_cap_slack_a > 0 ? c->ev_cap_slack_a : in->ev_slack_a;
}

/* ---- the constraint heap: min by (key, index); keys of live entries are lower bounds ---- */

static int heap_less(const struct solver *s, int a, int b)
{
	return s->key[a] < s->key[b] || (s->key[a] == s->key[b] && a < b);
}

static void heap_place(struct solver *s, size_t i, int k)
{
	s->heap[i] = k;
	s->hpos[k] = (int)i;
}

static void heap_up(struct solver *s, size_t i)
{
	int k = s->heap[i];

	while (i > 0 && heap_less(s, k, s->heap[(i - 1) / 2])) {
		heap_place(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(s, i, k);
}

static void heap_down(struct solver *s, size_t i)
{
	int k = s->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->heap_n)
			break;
		if (c + 1 < s->heap_n && heap_less(s, s->heap[c + 1], s->heap[c]))
			c++;
		if (!heap_less(s, s->heap[c], k))
			break;
		heap_place(s, i, s->heap[c]);
		i = c;
	}
	heap_place(s, i, k);
}

static void heap_pop(struct solver *s)
{
	s->hpos[s->heap[0]] = -1;
	if (--s->heap_n) {
		heap_place(s, 0, s->heap[s->heap_n]);
		heap_down(s, 0);
	}
}

/* The water level at which constraint k fills up, never below the current level t. */
static double level_of(const struct solver *s, int k, double t)
{
	double l;

	if (!s->nrise[k])
		return HUGE_VAL;
	l = (s->head[k] - s->fixed[k]) / s->slope[k];
	return l > t ? l : t;
}

/* The constraint that fills up next (its key made exact), or -1 when none is live. */
static int heap_top(struct solver *s, double t)
{
	while (s->heap_n) {
		int k = s->heap[0];
		double l;

		if (!s->count[k]) {
			heap_pop(s);
			continue;
		}
		l = level_of(s, k, t);
		if (l <= s->key[k])
			return l == HUGE_VAL ? -1 : k;
		s->key[k] = l;
		heap_down(s, 0);
	}
	return -1;
}

/* Bring the keys of constraints whose level may have dropped (an EV left its floor) up to date. */
static void refresh_dirty(struct solver *s, double t)
{
	for (size_t i = 0; i < s->n_dirty; i++) {
		int k = s->dirty[i];
		double l = level_of(s, k, t);

		s->isdirty[k] = 0;
		if (s->hpos[k] >= 0 && l < s->key[k]) {
			s->key[k] = l;
			heap_up(s, (size_t)s->hpos[k]);
		}
	}
	s->n_dirty = 0;
}

/* ---- walking a charger's path: every limited constraint it loads, with its coefficient ---- */

#define PATH_FOR_EACH(s, in, c, k, coef, body)                                                  \
	for (int a_ = (in)->chargers[c].node; a_ >= 0; a_ = (in)->nodes[a_].parent) {         \
		unsigned bits_ = (s)->limited[a_] & ((s)->mask[c] | (1u << KW));               \
		while (bits_) {                                                                \
			int j_ = __builtin_ctz(bits_);                                         \
			int k = a_ * NK + j_;                                                  \
			double coef = j_ == KW ? (s)->coefw[c] : 1.0;                          \
			bits_ &= bits_ - 1;                                                    \
			body                                                                   \
		}                                                                              \
	}

/* Move charger c's share on its path: fixed load by dfixed, slope by dslope, counts by dcount
 * and drise (all per unit of coefficient). Dropped levels are queued for refresh_dirty. */
static void path_apply(struct solver *s, const struct solver_input *in, int c, double dfixed,
		       double dslope, int dcount, int drise)
{
	PATH_FOR_EACH(s, in, c, k, coef, {
		s->fixed[k] += dfixed * coef;
		s->count[k] += dcount;
		s->nrise[k] += drise;
		s->slope[k] = s->nrise[k] ? s->slope[k] + dslope * coef : 0.0;
		if (dslope > 0 && !s->isdirty[k]) {
			s->isdirty[k] = 1;
			s->dirty[s->n_dirty++] = k;
		}
	})
}

/* The first constraint on c's path that `amount` more does not fit under, or -1. */
static int path_misfit(const struct solver *s, const struct solver_input *in, int c, double amount,
		       const double *load)
{
	PATH_FOR_EACH(s, in, c, k, coef, {
		double h = s->head[k];

		if (load[k] + amount * coef > h + LEVEL_EPS * (1.0 + fabs(h)))
			return k;
	})
	return -1;
}

static void set_bind(struct solver_result *r, enum solver_bind b, int k)
{
	r->bind = b;
	r->node = k >= 0 ? k / NK : -1;
	r->phase = k >= 0 && k % NK != KW ? k % NK : -1;
}

static void freeze(struct solver *s, const struct solver_input *in, int c, double t,
		   enum solver_bind b, int k)
{
	double min = in->chargers[c].min_a;

	if (s->st[c] == ST_RISING) {
		double x = s->dec[c].weight * t;

		x = x < min ? min : x > s->cap[c] ? s->cap[c] : x;
		s->x[c] = x;
		path_apply(s, in, c, x, -s->dec[c].weight, -1, -1);
	} else {
		s->x[c] = min;
		path_apply(s, in, c, 0, 0, -1, 0);
	}
	s->st[c] = ST_FROZEN;
	set_bind(&s->res[c], b, k);
}

static enum solver_bind cap_bind(const struct solver_charger *ch, double cap)
{
	return ch->ev_limited && cap < ch->max_a ? BIND_EV_LIMITED : ch->max_from_ev ? BIND_EV_MAX : BIND_CHARGER_MAX;
}

/* Probed EVs (ev_probe) get what the others left on their path, up to their maximum, in index
 * order. s->fixed holds every allocation on each limited constraint once the classes are filled. */
static void top_up_probes(struct solver *s, const struct solver_input *in)
{
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *ch = &in->chargers[i];
		double room = ch->max_a - s->x[i];
		int c = (int)i, at = -1;

		if (!ch->ev_probe || !ch->ev_limited || s->st[i] != ST_FROZEN || s->x[i] <= 0 || room <= 0)
			continue;
		PATH_FOR_EACH(s, in, c, k, coef, {
			double left = (s->head[k] - s->fixed[k]) / coef;

			if (left < room) {
				room = left;
				at = k;
			}
		})
		if (room <= LEVEL_EPS)
			continue;
		s->x[i] += room;
		PATH_FOR_EACH(s, in, c, k, coef, { s->fixed[k] += room * coef; })
		set_bind(&s->res[i], at >= 0 ? BIND_NODE : BIND_CHARGER_MAX, at);
	}
}

/* Fill the admitted chargers of class `cls` (their minimum is already in s->fixed). */
static void fill_class(struct solver *s, const struct solver_input *in, int cls)
{
	size_t ne = 0, e = 0, n = in->n_chargers;
	double t;

	s->heap_n = 0;
	s->n_dirty = 0;
	/* Start at the lowest floor: those whose minimum is that level rise from the start. */
	t = HUGE_VAL;
	for (size_t i = 0; i < n; i++)
		if (s->st[i] == ST_PENDING && s->dec[i].cls == cls)
			t = fmin(t, in->chargers[i].min_a / s->dec[i].weight);
	for (size_t i = 0; i < n; i++) {
		const struct solver_charger *ch = &in->chargers[i];
		double w = s->dec[i].weight;
		int c = (int)i, rising;

		if (s->st[i] != ST_PENDING || s->dec[i].cls != cls)
			continue;
		if (s->cap[i] <= ch->min_a + LEVEL_EPS) {
			s->x[i] = ch->min_a;
			s->st[i] = ST_FROZEN;
			set_bind(&s->res[i], cap_bind(ch, s->cap[i]), -1);
			continue;
		}
		rising = ch->min_a / w <= t + LEVEL_EPS;
		s->st[i] = rising ? ST_RISING : ST_FLOORED;
		if (!rising)
			s->keys[ne++] = (struct skey){ { ch->min_a / w, EV_UNFLOOR, 0 }, (uint32_t)i };
		s->keys[ne++] = (struct skey){ { s->cap[i] / w, EV_CAP, 0 }, (uint32_t)i };
		PATH_FOR_EACH(s, in, c, k, coef, {
			if (!s->count[k]++) {
				s->hpos[k] = (int)s->heap_n;
				s->heap[s->heap_n++] = k;
			}
			if (rising) {
				s->nrise[k]++;
				s->slope[k] += w * coef;
				s->fixed[k] -= ch->min_a * coef;
			}
		})
	}
	for (size_t i = 0; i < s->heap_n; i++)
		s->key[s->heap[i]] = level_of(s, s->heap[i], t);
	for (size_t i = s->heap_n / 2; i-- > 0;)
		heap_down(s, i);
	skey_sort(s->keys, s->tmp, ne);

	for (;;) {
		double te, tk;
		int k;

		while (e < ne && (s->st[s->keys[e].idx] == ST_FROZEN ||
				  (s->keys[e].k[1] == EV_UNFLOOR && s->st[s->keys[e].idx] != ST_FLOORED)))
			e++;
		te = e < ne ? s->keys[e].k[0] : HUGE_VAL;
		k = heap_top(s, t);
		tk = k >= 0 ? s->key[k] : HUGE_VAL;
		if (k < 0 && e >= ne)
			break;
		if (te <= tk) {
			t = te > t ? te : t;
			for (; e < ne && s->keys[e].k[0] <= te + LEVEL_EPS; e++) {
				int c = (int)s->keys[e].idx;
				double w = s->dec[c].weight;

				if (s->st[c] == ST_FROZEN)
					continue;
				if (s->keys[e].k[1] == EV_CAP) {
					freeze(s, in, c, t, cap_bind(&in->chargers[c], s->cap[c]), -1);
				} else if (s->st[c] == ST_FLOORED) {
					s->st[c] = ST_RISING;
					path_apply(s, in, c, -in->chargers[c].min_a, w, 0, 1);
				}
			}
			refresh_dirty(s, t);
		} else {
			int a = k / NK, j = k % NK;
			size_t lo = s->cstart[s->pos[a]], hi = s->cstart[s->pos[a] + s->size[a]];

			t = tk > t ? tk : t;
			for (size_t p = lo; p < hi; p++) {
				int c = s->layout[p];

				if ((s->st[c] == ST_FLOORED || s->st[c] == ST_RISING) &&
				    (j == KW || (s->mask[c] >> j & 1u)))
					freeze(s, in, c, t, BIND_NODE, k);
			}
			refresh_dirty(s, t);
		}
	}
}

/* ---- set-up: layout, headroom, fixed loads ---- */

static int check_input(const struct solver *s, const struct solver_input *in, int64_t now_ms)
{
	if (in->n_nodes > s->max_nodes || in->n_chargers > s->max_chargers)
		return -E2BIG;
	if (!in->n_nodes || !in->nodes || (in->n_chargers && !in->chargers) || now_ms <= 0 ||
	    !(in->voltage_v > 0) || in->nodes[0].parent != -1)
		return -EINVAL;
	for (size_t i = 1; i < in->n_nodes; i++)
		if (in->nodes[i].parent < 0 || (size_t)in->nodes[i].parent >= i)
			return -EINVAL;
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];
		unsigned m = 0;

		if (c->node < 0 || (size_t)c->node >= in->n_nodes || (c->phases != 1 && c->phases != 3) ||
		    !(c->min_a >= 0) || isnan(c->max_a))
			return -EINVAL;
		for (int p = 0; p < c->phases; p++) {
			if (c->rotation[p] >= SOLVER_PHASES || (m >> c->rotation[p] & 1u))
				return -EINVAL;
			m |= 1u << c->rotation[p];
		}
	}
	return 0;
}

/* Depth-first layout: node i's subtree is DFS positions [pos[i], pos[i] + size[i]) and its
 * chargers are layout[cstart[pos[i]] .. cstart[pos[i] + size[i]]). Parents come first. */
static void lay_out(struct solver *s, const struct solver_input *in)
{
	size_t m = in->n_nodes;

	for (size_t i = 0; i < m; i++)
		s->size[i] = 1;
	for (size_t i = m; i-- > 1;)
		s->size[in->nodes[i].parent] += s->size[i];
	s->pos[0] = 0;
	s->next[0] = 1;
	for (size_t i = 1; i < m; i++) {
		int p = in->nodes[i].parent;

		s->pos[i] = s->next[p];
		s->next[p] += s->size[i];
		s->next[i] = s->pos[i] + 1;
	}
	memset(s->cstart, 0, (m + 1) * sizeof(size_t));
	for (size_t i = 0; i < in->n_chargers; i++)
		s->cstart[s->pos[in->chargers[i].node] + 1]++;
	for (size_t i = 0; i < m; i++)
		s->cstart[i + 1] += s->cstart[i];
	for (size_t i = 0; i < m; i++)          /* next[] now: fill cursor per DFS position */
		s->next[i] = (int)s->cstart[i];
	for (size_t i = 0; i < in->n_chargers; i++)
		s->layout[s->next[s->pos[in->chargers[i].node]]++] = (int)i;
}

/* Headroom of every constraint: limit - margin - non-EV load through it (max of its own meter
 * and its children's), plus the battery/PV extra at the grid. Constraint loads start at 0. */
static void set_headroom(struct solver *s, const struct solver_input *in)
{
	size_t m = in->n_nodes;
	double v = in->voltage_v, *nv = s->nonev;

	memset(nv, 0, m * SOLVER_PHASES * sizeof(double));
	for (size_t i = m; i-- > 0;) {
		const struct solver_node *nd = &in->nodes[i];

		for (int p = 0; p < SOLVER_PHASES; p++) {
			nv[i * 3 + p] = fmax(nd->non_ev_a[p], nv[i * 3 + p]);
			if (i)
				nv[nd->parent * 3 + p] += nv[i * 3 + p];
		}
	}
	for (size_t i = 0; i < m; i++) {
		const struct solver_node *nd = &in->nodes[i];
		double extra_w = i == 0 ? fmax(0, in->grid_extra_w) : 0;
		double *h = &s->head[i * NK];

		s->limited[i] = 0;
		for (int p = 0; p < SOLVER_PHASES; p++) {
			h[p] = HUGE_VAL;
			if (nd->limit_a[p] > 0) {
				h[p] = nd->limit_a[p] - in->margin_a - nv[i * 3 + p] + extra_w / (3 * v);
				s->limited[i] |= 1u << p;
			}
		}
		h[KW] = HUGE_VAL;
		if (nd->limit_kw > 0) {
			h[KW] = nd->limit_kw * 1000.0 + extra_w -
				v * (nv[i * 3] + nv[i * 3 + 1] + nv[i * 3 + 2] + 3 * in->margin_a);
			s->limited[i] |= 1u << KW;
		}
		for (int j = 0; j < NK; j++) {
			s->fixed[i * NK + j] = 0;
			s->slope[i * NK + j] = 0;
			s->count[i * NK + j] = 0;
			s->nrise[i * NK + j] = 0;
			s->hpos[i * NK + j] = -1;
			s->isdirty[i * NK + j] = 0;
		}
	}
}

/* ---- binding strings, made without printf (a thousand of them per solve) ---- */

static void bind_text(char *buf, const char *prefix, const char *id, const char *suffix)
{
	size_t n = 0, l;

	l = strlen(prefix);
	memcpy(buf, prefix, l);
	n = l;
	if (id) {
		l = strnlen(id, SOLVER_BINDING_LEN - 1 - n - 8);
		memcpy(buf + n, id, l);
		n += l;
	}
	l = strlen(suffix);
	memcpy(buf + n, suffix, l);
	buf[n + l] = '\0';
}

static void format_binding(const struct solver_input *in, struct solver_result *r)
{
	static const char *const fixed_text[] = {
		[BIND_NONE] = "no EV",
		[BIND_CHARGER_MAX] = "charger max",
		[BIND_EV_LIMITED] = "EV-limited",
		[BIND_PAUSED_ROTATION] = "paused: rotation",
		[BIND_PAUSED_PRICE] = "paused: price",
		[BIND_FALLBACK_STALE] = "fallback: meter stale",
		[BIND_FALLBACK_SILENT] = "fallback: silent",
		[BIND_FALLBACK_OFFLINE] = "fallback: offline",
		[BIND_UNCONTROLLED] = "not controllable",
		[BIND_EV_MAX] = "EV max",
	};
	static const char *const suffix[] = { " L1", " L2", " L3", " kW" };

	if (r->bind == BIND_NODE || r->bind == BIND_PAUSED_NODE) {
		const char *id = in->nodes[r->node].id ? in->nodes[r->node].id : "?";

		bind_text(r->binding, r->bind == BIND_NODE ? "" : "paused: ", id,
			  suffix[r->phase < 0 ? KW : r->phase]);
	} else {
		bind_text(r->binding, fixed_text[r->bind], NULL, "");
	}
}

static double fallback_of(const struct solver_input *in, const struct solver_charger *c)
{
	return c->fallback_a > 0 ? c->fallback_a : in->fallback_a;
}

/* ---- admission: who gets its minimum ---- */

/* Order for admission: EVs waiting longer than max_wait_ms first (oldest first), then EVs still
 * inside their min_run_ms slot, then by policy class and rank, the longest waiting first and the
 * longest running last. */
static struct skey admit_key(const struct solver_input *in, const struct solver_rotation *r,
			     const struct policy_decision *d, int64_t now_ms, uint32_t i)
{
	double tier = 2, tkey = (double)now_ms;

	if (r && r->waiting_since_ms) {
		tkey = (double)r->waiting_since_ms;
		if (in->max_wait_ms > 0 && now_ms - r->waiting_since_ms >= in->max_wait_ms)
			tier = 0;
	} else if (r && r->running_since_ms) {
		tkey = (double)now_ms + (double)(now_ms - r->running_since_ms);
		if (now_ms - r->running_since_ms < in->min_run_ms) {
			tier = 1;
			tkey = (double)r->running_since_ms;
		}
	}
	return (struct skey){ { tier * 1e9 + d->cls, tier == 2 ? d->rank : 0, tkey }, i };
}

/* Admit candidates (st == ST_PENDING) in order while their minimum fits; the rest pause. The
 * admitted minimums are left in s->fixed. */
static void admit(struct solver *s, const struct solver_input *in, const struct solver_rotation *rot,
		  int64_t now_ms)
{
	size_t n = in->n_chargers, nc = 0, mk = in->n_nodes * NK;
	int all_fit = 1;

	for (size_t i = 0; i < n; i++) {
		if (s->st[i] != ST_PENDING)
			continue;
		PATH_FOR_EACH(s, in, (int)i, k, coef, { s->fixed[k] += in->chargers[i].min_a * coef; })
	}
	for (size_t k = 0; k < mk && all_fit; k++)
		all_fit = s->fixed[k] <= s->head[k] + LEVEL_EPS * (1.0 + fabs(s->head[k]));
	if (all_fit)
		return;
	memset(s->fixed, 0, mk * sizeof(double));
	for (size_t i = 0; i < n; i++)
		if (s->st[i] == ST_PENDING)
			s->keys[nc++] = admit_key(in, rot ? &rot[i] : NULL, &s->dec[i], now_ms, (uint32_t)i);
	skey_sort(s->keys, s->tmp, nc);
	for (size_t q = 0; q < nc; q++) {
		int c = (int)s->keys[q].idx, k;
		double min = in->chargers[c].min_a;

		if (path_misfit(s, in, c, min, s->fixed) < 0) {
			PATH_FOR_EACH(s, in, c, kk, coef, { s->fixed[kk] += min * coef; })
			continue;
		}
		/* Paused. Name the limit when even an empty site could not take its minimum. */
		s->st[c] = ST_OUT;
		s->x[c] = 0;
		k = path_misfit(s, in, c, min, s->slope);       /* slope[] is all zero here */
		set_bind(&s->res[c], k >= 0 ? BIND_PAUSED_NODE : BIND_PAUSED_ROTATION, k);
	}
}

static void update_rotation(const struct solver *s, const struct solver_input *in,
			    struct solver_rotation *rot, int64_t now_ms)
{
	for (size_t i = 0; i < in->n_chargers; i++) {
		struct solver_rotation *r = &rot[i];
		enum solver_bind b = s->res[i].bind;

		if (s->st[i] == ST_FROZEN) {
			r->waiting_since_ms = 0;
			if (!r->running_since_ms)
				r->running_since_ms = now_ms;
		} else if (b == BIND_PAUSED_ROTATION || b == BIND_PAUSED_NODE) {
			r->running_since_ms = 0;
			if (!r->waiting_since_ms)
				r->waiting_since_ms = now_ms;
		} else {
			r->waiting_since_ms = 0;
			r->running_since_ms = 0;
		}
	}
}

static void solve_stale(const struct solver_input *in, struct solver_rotation *rot, int64_t now_ms,
			struct solver_result *out)
{
	for (size_t i = 0; i < in->n_chargers; i++) {
		const struct solver_charger *c = &in->chargers[i];
		struct solver_result *r = &out[i];

		r->node = r->phase = -1;
		r->bind = c->link == SOLVER_UNCONTROLLED ? BIND_UNCONTROLLED : BIND_FALLBACK_STALE;
		r->limit_a = r->bind == BIND_UNCONTROLLED ? c->max_a : fallback_of(in, c);
		format_binding(in, r);
		if (rot) {
			rot[i].waiting_since_ms = 0;
			rot[i].running_since_ms = c->ev && !rot[i].running_since_ms ? now_ms
						  : c->ev ? rot[i].running_since_ms : 0;
		}
	}
}

int solver_run(struct solver *s, const struct solver_input *in, struct solver_rotation *rot,
	       int64_t now_ms, struct solver_result *out)
{
	const struct policy_ops *pol = in->policy ? in->policy : policy_find("fair");
	size_t n = in->n_chargers;
	int rc = check_input(s, in, now_ms), cls;

	if (rc)
		return rc;
	if (in->meter_stale) {
		solve_stale(in, rot, now_ms, out);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		s->dec[i] = (struct policy_decision){ .cls = 0, .weight = 1.0, .rank = 0, .defer = false };
	rc = pol->decide(in, now_ms, s->dec);
	if (rc)
		return rc;
	s->res = out;
	lay_out(s, in);
	set_headroom(s, in);

	/* Fixed loads first (they take headroom whatever we decide), then the candidates. */
	for (size_t i = 0; i < n; i++) {
		const struct solver_charger *ch = &in->chargers[i];
		struct solver_result *r = &out[i];
		int c = (int)i;

		s->mask[i] = solver_load_mask(ch);
		s->coefw[i] = in->voltage_v * solver_mask_width(s->mask[i]);
		s->st[i] = ST_OUT;
		s->x[i] = 0;
		set_bind(r, BIND_NONE, -1);
		if (ch->link != SOLVER_ONLINE) {
			s->x[i] = ch->link == SOLVER_UNCONTROLLED ? ch->max_a : fallback_of(in, ch);
			r->bind = ch->link == SOLVER_SILENT ? BIND_FALLBACK_SILENT :
				  ch->link == SOLVER_OFFLINE ? BIND_FALLBACK_OFFLINE : BIND_UNCONTROLLED;
			PATH_FOR_EACH(s, in, c, k, coef, { s->head[k] -= s->x[i] * coef; })
			continue;
		}
		if (!ch->ev)
			continue;
		if (!(s->dec[i].weight > 0) || !isfinite(s->dec[i].weight) || s->dec[i].cls < 0)
			return -EINVAL;
		s->cap[i] = fmax(solver_cap_a(in, ch), ch->min_a);
		if (ch->max_a <= 0 || ch->max_a < ch->min_a)
			r->bind = BIND_CHARGER_MAX;
		else if (s->dec[i].defer)
			r->bind = BIND_PAUSED_PRICE;
		else if (s->dec[i].hold)        /* the policy lets others go first */
			r->bind = BIND_PAUSED_ROTATION;
		else
			s->st[i] = ST_PENDING;
	}
	admit(s, in, rot, now_ms);
	/* Classes in ascending order, each filled on top of what the ones before it took. */
	for (cls = -1;;) {
		int next = -1;

		for (size_t i = 0; i < n; i++)
			if (s->st[i] == ST_PENDING && s->dec[i].cls > cls && (next < 0 || s->dec[i].cls < next))
				next = s->dec[i].cls;
		if (next < 0)
			break;
		fill_class(s, in, next);
		cls = next;
	}
	top_up_probes(s, in);
	for (size_t i = 0; i < n; i++) {
		out[i].limit_a = s->x[i];
		format_binding(in, &out[i]);
	}
	if (rot)
		update_rotation(s, in, rot, now_ms);
	s->res = NULL;
	return 0;
}
