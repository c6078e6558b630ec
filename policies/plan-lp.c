/* The charging linear programme; see plan-lp.h.
 *
 * Key design decision: one builder for the planner and the offline optimum, so the optimum a
 * replay prints and the plan the daemon follows are the same model of the site (same rows, same
 * headroom arithmetic) and differ only in what they are told: the optimum gets every session's
 * true window and the building load as it was, the plan what drivers said and the last reading.
 * An EV plugged in for part of an interval gets energy for that part only, while its current
 * counts against the limits for the whole interval: coarse intervals are safe, never optimistic.
 * GLPK's simplex solves it; matrix entries are collected first and loaded at once. A job with a
 * share_a has two columns in the first interval (up to share_a, worth PLAN_LP_SHARE more, and the
 * rest): a concave reward, still a linear programme. */
#include "policies/plan-lp.h"

#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_KW = 3, SLOTS = 4 };        /* per node: L1..L3 in A, the kW limit in W */

struct triplets {
	int *ia, *ja;
	double *ar;
	size_t nz, cap;
};

static int push(struct triplets *m, int row, int col, double v)
{
	if (m->nz + 1 >= m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1 << 12;
		int *ia = realloc(m->ia, cap * sizeof(int)), *ja = ia ? realloc(m->ja, cap * sizeof(int)) : NULL;
		double *ar = ja ? realloc(m->ar, cap * sizeof(double)) : NULL;

		if (ia)
			m->ia = ia;
		if (ja)
			m->ja = ja;
		if (!ar)
			return -ENOMEM;
		m->ar = ar;
		m->cap = cap;
	}
	m->nz++;                /* GLPK's arrays start at 1 */
	m->ia[m->nz] = row;
	m->ja[m->nz] = col;
	m->ar[m->nz] = v;
	return 0;
}

/* Headroom of node k's slot as edge/site/solver.c computes it (limit - margin - non-EV load, plus
 * what a battery can add at the grid node); HUGE_VAL when the slot is not limited. */
static double headroom(const struct solver_input *in, size_t k, int slot, const double *nv)
{
	const struct solver_node *nd = &in->nodes[k];
	const double *n3 = &nv[k * 3];
	double v = in->voltage_v, extra_w = k == 0 ? fmax(0, in->grid_extra_w) : 0;

	if (slot == SLOT_KW)
		return nd->limit_kw > 0 ? nd->limit_kw * 1000.0 + extra_w - v * (n3[0] + n3[1] + n3[2] + 3 * in->margin_a)
					: HUGE_VAL;
	return nd->limit_a[slot] > 0 ? nd->limit_a[slot] - in->margin_a - n3[slot] + extra_w / (3 * v) : HUGE_VAL;
}

/* Column `col` of job jb into every limited node-phase and kW row on its path for this interval
 * (rows made on first use: row[] per node x slot, -1 = not limited). */
static int add_path(const struct solver_input *in, const struct plan_lp_job *jb, struct triplets *m, glp_prob *lp,
		    int *row, const double *nv, int col, struct plan_lp_result *out)
{
	double v = in->voltage_v;
	int nph = solver_mask_width(jb->mask), rc;

	for (int k = jb->node; k >= 0; k = in->nodes[k].parent)
		for (int slot = 0; slot < SLOTS; slot++) {
			int *r = &row[(size_t)k * SLOTS + slot];
			double head;

			if (slot != SLOT_KW && !(jb->mask & (1u << slot)))
				continue;
			if (!*r) {
				if ((head = headroom(in, (size_t)k, slot, nv)) == HUGE_VAL) {
					*r = -1;
					continue;
				}
				*r = glp_add_rows(lp, 1);
				out->rows++;
				glp_set_row_bnds(lp, *r, GLP_UP, 0.0, fmax(0.0, head));
			}
			if (*r > 0 && (rc = push(m, *r, col, slot == SLOT_KW ? v * nph : 1.0)) < 0)
				return rc;
		}
	return 0;
}

/* A tapering job's energy so far: the columns it had before this interval with their kWh per A,
 * as entries of no row (a column of its energy up to then stands for the ones before it,
 * coefficient 1), and the most that energy can be. */
struct taper_track {
	struct triplets sum;
	double max_kwh;
};

/* Past this many columns, a job's energy so far becomes a column of its own (one equality row):
 * a plan's dozen intervals rarely reach it, a month's optimum would otherwise sum hundreds of
 * columns in each row. */
#define TAPER_SUM_MAX 8

double plan_lp_taper_per_h(double voltage_v, const struct plan_lp_job *jb)
{
	return voltage_v * solver_mask_width(jb->mask) * jb->max_a / (jb->taper_zero_wh - jb->taper_from_wh);
}

static bool tapers(const struct plan_lp_job *jb)
{
	return jb->taper_zero_wh > jb->taper_from_wh && jb->need_wh > jb->taper_from_wh;
}

/* The taper's row for one interval of dt_ms: the energy e the job takes in it is at most what it
 * takes charging on its taper line all along from E0, its energy before: the line's current is
 * proportional to zero - E, so dE/dt = beta (zero - E) (plan_lp_taper_per_h) and
 * e <= (zero - E0)(1 - exp(-beta dt)). That is linear in E0: e + phi E0 <= phi zero. Left out
 * while the job cannot have reached the line's start by the interval's end (the column's bound
 * binds first), so most of a long stay's intervals have none. */
static int add_taper(const struct solver_input *in, const struct plan_lp_job *jb, glp_prob *lp, struct triplets *m,
		     struct taper_track *t, const int *col, int n_col, double kwh_per_a, int64_t dt_ms,
		     struct plan_lp_result *out)
{
	double phi = 1.0 - exp(-plan_lp_taper_per_h(in->voltage_v, jb) * (double)dt_ms / 3.6e6);
	double most = t->max_kwh + jb->max_a * kwh_per_a;
	int r, rc = 0;

	if (most * 1000.0 > jb->taper_from_wh) {
		struct triplets *e = &t->sum;

		if (e->nz > TAPER_SUM_MAX) {    /* the energy so far as one column */
			int sum = glp_add_cols(lp, 1);

			r = glp_add_rows(lp, 1);
			out->variables++;
			out->rows++;
			glp_set_col_bnds(lp, sum, GLP_LO, 0.0, 0.0);
			glp_set_row_bnds(lp, r, GLP_FX, 0.0, 0.0);
			if ((rc = push(m, r, sum, 1.0)) < 0)
				return rc;
			for (size_t k = 1; k <= e->nz; k++)
				if ((rc = push(m, r, e->ja[k], -e->ar[k])) < 0)
					return rc;
			e->nz = 0;
			if ((rc = push(e, 0, sum, 1.0)) < 0)
				return rc;
		}
		r = glp_add_rows(lp, 1);
		out->rows++;
		glp_set_row_bnds(lp, r, GLP_UP, 0.0, phi * jb->taper_zero_wh / 1000.0);
		for (size_t k = 1; k <= e->nz; k++)
			if ((rc = push(m, r, e->ja[k], phi * e->ar[k])) < 0)
				return rc;
		for (int k = 0; k < n_col; k++)
			if ((rc = push(m, r, col[k], kwh_per_a)) < 0)
				return rc;
	}
	for (int k = 0; k < n_col; k++)
		if ((rc = push(&t->sum, 0, col[k], kwh_per_a)) < 0)
			return rc;
	t->max_kwh = most;
	return 0;
}

/* Pricing: on a horizon this short (a plan's: a dozen intervals of many EVs, each column a box
 * that most pivots merely move to its other bound) Dantzig's textbook rule takes more, cheaper
 * pivots than GLPK's default steepest edge, and wins: the 1,000-charger plan of bench_solver
 * 90-93 -> 71-73 ms median. On the optimum's long horizons steepest edge wins (bench_replay's
 * 300-session day 1.3 s, 2.3 s by Dantzig's). */
#define PLAN_LP_SHORT_CUTS 16

/* A column in [0, most] worth `worth` a kWh, taken off energy row `row` (the floor, the tail). */
static int aside(glp_prob *lp, struct triplets *m, int row, double most, double worth, int *col,
		 struct plan_lp_result *out)
{
	*col = glp_add_cols(lp, 1);
	out->variables++;
	glp_set_col_bnds(lp, *col, GLP_DB, 0.0, most);
	glp_set_obj_coef(lp, *col, worth);
	return push(m, row, *col, -1.0);
}

static int build(const struct solver_input *in, const struct plan_lp_job *jobs, size_t n, const int64_t *cuts,
		 size_t n_cuts, plan_lp_load_fn load, void *arg, double early, glp_prob *lp, struct triplets *m,
		 int *first_col, int *floor_col, int *tail_col, struct plan_lp_result *out)
{
	double v = in->voltage_v, span_ms = n_cuts > 1 ? (double)(cuts[n_cuts - 1] - cuts[0]) : 1.0;
	double *nv = calloc(in->n_nodes * 3 + 1, sizeof(double));
	int *row = calloc(in->n_nodes * SLOTS + 1, sizeof(int)), rc = 0;
	struct taper_track *track = calloc(n + 1, sizeof(*track));

	if (!nv || !row || !track) {
		rc = -ENOMEM;
		goto out;
	}
	if (n)          /* one row per job: its energy, in kWh, less its floor column (below) */
		glp_add_rows(lp, (int)n);
	out->rows = n;
	/* A job with a floor: a column f in [0, floor] worth PLAN_LP_FLOOR, taken off its energy row,
	 * which then holds E - f in [0, need - floor]. Of what satisfies both, f = min(E, floor) pays
	 * best, and E is held within [0, need] as without a floor: one row per job, not two (a row
	 * "f <= E" of its own made the 1,000-charger plan's basis a fifth larger). A job with a tail
	 * has a column g in [0, tail] taken off the same row, which costs what the energy beyond the
	 * need is not worth: E may reach need + tail, and what passes the need is worth PLAN_LP_TAIL. */
	for (size_t i = 0; i < n; i++) {
		const struct plan_lp_job *jb = &jobs[i];
		double need = fmax(0.0, jb->need_wh) / 1000.0, floor = fmax(fmin(jb->floor_wh / 1000.0, need), 0.0);
		double not_worth = (1.0 - PLAN_LP_TAIL) * (jb->worth > 0 ? jb->worth : 1.0);

		glp_set_row_bnds(lp, (int)i + 1, !(floor > 0) ? GLP_UP : need > floor ? GLP_DB : GLP_FX, 0.0, need - floor);
		if (floor > 0 && (rc = aside(lp, m, (int)i + 1, floor, PLAN_LP_FLOOR, &floor_col[i], out)) < 0)
			goto out;
		if (jb->tail_wh > 0 && need > 0 &&
		    (rc = aside(lp, m, (int)i + 1, jb->tail_wh / 1000.0, -not_worth, &tail_col[i], out)) < 0)
			goto out;
	}
	for (size_t j = 0; j + 1 < n_cuts; j++) {
		int64_t t0 = cuts[j], t1 = cuts[j + 1];
		double worth = 1.0 - early * ((double)(t0 + t1) / 2 - (double)cuts[0]) / span_ms;

		if (t1 <= t0)
			continue;
		load(arg, t0, nv);
		out->intervals++;
		memset(row, 0, in->n_nodes * SLOTS * sizeof(int));
		for (size_t i = 0; i < n; i++) {
			const struct plan_lp_job *jb = &jobs[i];
			int64_t a = jb->from_ms > t0 ? jb->from_ms : t0, b = jb->until_ms < t1 ? jb->until_ms : t1;
			int nph = solver_mask_width(jb->mask), col, cols[2], n_col = 0;
			double kwh_per_a, split;

			if (b <= a || !(jb->max_a > 0) || !(jb->need_wh > 0) || !nph)
				continue;
			kwh_per_a = v * nph * (double)(b - a) / 3.6e9;
			split = j == 0 && jb->share_a > 0 && jb->share_a < jb->max_a ? jb->share_a : 0;
			for (int part = split > 0; part >= 0; part--) {
				col = glp_add_cols(lp, 1);
				out->variables++;
				if (j == 0 && first_col)
					first_col[i * 2 + (size_t)part] = col;
				glp_set_col_bnds(lp, col, GLP_DB, 0.0, part ? split : jb->max_a - split);
				glp_set_obj_coef(lp, col, kwh_per_a * (worth * (jb->worth > 0 ? jb->worth : 1.0) +
								      (part ? PLAN_LP_SHARE : 0)));
				cols[n_col++] = col;
				if ((rc = push(m, (int)i + 1, col, kwh_per_a)) < 0 ||
				    (rc = add_path(in, jb, m, lp, row, nv, col, out)) < 0)
					goto out;
			}
			if (tapers(jb) && (rc = add_taper(in, jb, lp, m, &track[i], cols, n_col, kwh_per_a, b - a, out)) < 0)
				goto out;
		}
	}
	glp_load_matrix(lp, (int)m->nz, m->ia, m->ja, m->ar);
out:
	free(nv);
	free(row);
	for (size_t i = 0; track && i < n; i++) {
		free(track[i].sum.ia);
		free(track[i].sum.ja);
		free(track[i].sum.ar);
	}
	free(track);
	return rc;
}

int plan_lp_solve(const struct solver_input *in, const struct plan_lp_job *jobs, size_t n, const int64_t *cuts,
		  size_t n_cuts, plan_lp_load_fn load, void *arg, double early, double *first_a,
		  struct plan_lp_result *out)
{
	struct triplets m = { 0 };
	int *first_col = first_a ? calloc(2 * n + 1, sizeof(int)) : NULL, *floor_col = calloc(n + 1, sizeof(int));
	int *tail_col = calloc(n + 1, sizeof(int));
	glp_prob *lp;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((first_a && !first_col) || !floor_col || !tail_col) {
		free(first_col);
		free(floor_col);
		free(tail_col);
		return -ENOMEM;
	}
	glp_term_out(GLP_OFF);
	lp = glp_create_prob();
	glp_set_obj_dir(lp, GLP_MAX);
	rc = build(in, jobs, n, cuts, n_cuts, load, arg, early, lp, &m, first_col, floor_col, tail_col, out);
	if (rc == 0 && out->variables) {
		glp_smcp parm;

		glp_init_smcp(&parm);
		parm.presolve = GLP_ON;
		parm.msg_lev = GLP_MSG_OFF;
		if (n_cuts <= PLAN_LP_SHORT_CUTS)
			parm.pricing = GLP_PT_STD;
		if (glp_simplex(lp, &parm) != 0 || glp_get_status(lp) != GLP_OPT)
			rc = -EIO;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		double wh = out->variables ? (glp_get_row_prim(lp, (int)i + 1) +
					      (floor_col[i] ? glp_get_col_prim(lp, floor_col[i]) : 0) +
					      (tail_col[i] ? glp_get_col_prim(lp, tail_col[i]) : 0)) * 1000.0 : 0;

		out->delivered_wh += wh;
		if (first_a)
			first_a[i] = (first_col[2 * i] && out->variables ? glp_get_col_prim(lp, first_col[2 * i]) : 0) +
				     (first_col[2 * i + 1] && out->variables ? glp_get_col_prim(lp, first_col[2 * i + 1]) : 0);
	}
	glp_delete_prob(lp);
	free(m.ia);
	free(m.ja);
	free(m.ar);
	free(first_col);
	free(floor_col);
	free(tail_col);
	return rc;
}
