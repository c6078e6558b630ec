/* Reference max-min fair allocation with GLPK (see maxmin-glpk.h), for tests and benchmarks.
 *
 * Key design decision: written apart from edge/site/solver.c on purpose (recursive tree walks, an LP
 * instead of progressive filling) so that agreement means something. Level by level: maximise
 * the common level t subject to x_c >= w_c * t for the chargers not yet fixed; every charger
 * whose level row has a positive dual cannot rise above w_c * t in any optimum (complementary
 * slackness), so it is fixed there; repeat until all are fixed. */
#include "tests/lib/maxmin-glpk.h"

#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

unsigned mm_mask(const struct solver_charger *c)
{
	unsigned all = 0, used = 0;

	for (int i = 0; i < c->phases; i++) {
		all |= 1u << c->rotation[i];
		if (c->ev_limited && c->draw_a[i] >= 1.0)
			used |= 1u << c->rotation[i];
	}
	return used ? used : all;
}

double mm_cap(const struct solver_input *in, const struct solver_charger *c)
{
	double cap = c->max_a;

	if (c->ev_limited) {
		double top = 0;

		for (int i = 0; i < c->phases; i++)
			if (c->draw_a[i] > top)
				top = c->draw_a[i];
		if (top + in->ev_slack_a < cap)
			cap = top + in->ev_slack_a;
	}
	return cap > c->min_a ? cap : c->min_a;
}

static bool is_under(const struct solver_input *in, int node, int ancestor)
{
	if (node == ancestor)
		return true;
	return node > 0 && is_under(in, in->nodes[node].parent, ancestor);
}

/* Non-EV load through a node: its own reading or, if more, what its children carry. */
static double through(const struct solver_input *in, int node, int p)
{
	double kids = 0;

	for (size_t i = 1; i < in->n_nodes; i++)
		if (in->nodes[i].parent == node)
			kids += through(in, (int)i, p);
	return in->nodes[node].non_ev_a[p] > kids ? in->nodes[node].non_ev_a[p] : kids;
}

/* Headroom of limit (node, phase) before any charger; phase 3 is the kW limit, in W. */
static double headroom(const struct solver_input *in, int node, int phase)
{
	const struct solver_node *nd = &in->nodes[node];
	double extra = node == 0 && in->grid_extra_w > 0 ? in->grid_extra_w : 0;

	if (phase < 3)
		return nd->limit_a[phase] - in->margin_a - through(in, node, phase) +
		       extra / (3 * in->voltage_v);
	return nd->limit_kw * 1000 + extra - in->voltage_v * (through(in, node, 0) + through(in, node, 1) +
							      through(in, node, 2) + 3 * in->margin_a);
}

static bool limited(const struct solver_input *in, int node, int phase)
{
	return phase < 3 ? in->nodes[node].limit_a[phase] > 0 : in->nodes[node].limit_kw > 0;
}

/* How much charger c drawing `amps` loads limit (node, phase), in A or W. */
static double loading(const struct solver_input *in, size_t c, int node, int phase, double amps)
{
	const struct solver_charger *ch = &in->chargers[c];
	unsigned mask = ch->link == SOLVER_ONLINE ? mm_mask(ch) : (unsigned)(ch->phases == 1 ? 1u << ch->rotation[0] : 7u);

	if (!is_under(in, ch->node, node))
		return 0;
	if (phase < 3)
		return mask >> phase & 1u ? amps : 0;
	return amps * in->voltage_v * __builtin_popcount(mask);
}

static double fixed_amps(const struct solver_input *in, const struct solver_charger *ch)
{
	if (ch->link == SOLVER_UNCONTROLLED)
		return ch->max_a;
	return ch->fallback_a > 0 ? ch->fallback_a : in->fallback_a;
}

double mm_worst_excess(const struct solver_input *in, const double *limit_a)
{
	double worst = -HUGE_VAL;

	for (size_t a = 0; a < in->n_nodes; a++)
		for (int ph = 0; ph < 4; ph++) {
			double alloc = 0, fixed = 0, ex;

			if (!limited(in, (int)a, ph))
				continue;
			for (size_t c = 0; c < in->n_chargers; c++) {
				if (in->chargers[c].link == SOLVER_ONLINE)
					alloc += loading(in, c, (int)a, ph, limit_a[c]);
				else
					fixed += loading(in, c, (int)a, ph, fixed_amps(in, &in->chargers[c]));
			}
			if (alloc <= 0)
				continue;
			ex = alloc + fixed - headroom(in, (int)a, ph);
			if (ph == 3)
				ex /= in->voltage_v;
			if (ex > worst)
				worst = ex;
		}
	return worst;
}

void mm_free(struct mm_problem *p)
{
	free(p->lo); free(p->hi); free(p->w); free(p->var_of);
	free(p->row_start); free(p->col); free(p->val); free(p->rhs);
	memset(p, 0, sizeof(*p));
}

int mm_build(const struct solver_input *in, const bool *admitted, const double *w_of,
	     struct mm_problem *p)
{
	size_t n = 0, max_rows = in->n_nodes * 4, max_vals;

	memset(p, 0, sizeof(*p));
	for (size_t c = 0; c < in->n_chargers; c++)
		n += admitted[c];
	max_vals = max_rows * (n ? n : 1);
	p->lo = calloc(n + 1, sizeof(double));
	p->hi = calloc(n + 1, sizeof(double));
	p->w = calloc(n + 1, sizeof(double));
	p->var_of = calloc(n + 1, sizeof(int));
	p->row_start = calloc(max_rows + 1, sizeof(size_t));
	p->col = calloc(max_vals, sizeof(int));
	p->val = calloc(max_vals, sizeof(double));
	p->rhs = calloc(max_rows, sizeof(double));
	if (!p->lo || !p->hi || !p->w || !p->var_of || !p->row_start || !p->col || !p->val || !p->rhs) {
		mm_free(p);
		return -ENOMEM;
	}
	for (size_t c = 0; c < in->n_chargers; c++) {
		if (!admitted[c])
			continue;
		p->lo[p->n] = in->chargers[c].min_a;
		p->hi[p->n] = mm_cap(in, &in->chargers[c]);
		p->w[p->n] = w_of[c];
		p->var_of[p->n++] = (int)c;
	}
	for (size_t a = 0; a < in->n_nodes; a++)
		for (int ph = 0; ph < 4; ph++) {
			double fixed = 0;
			size_t start = p->n_vals;

			if (!limited(in, (int)a, ph))
				continue;
			for (size_t v = 0; v < p->n; v++) {
				double coef = loading(in, (size_t)p->var_of[v], (int)a, ph, 1.0);

				if (coef > 0) {
					p->col[p->n_vals] = (int)v;
					p->val[p->n_vals++] = coef;
				}
			}
			if (p->n_vals == start)
				continue;
			for (size_t c = 0; c < in->n_chargers; c++)
				if (in->chargers[c].link != SOLVER_ONLINE)
					fixed += loading(in, c, (int)a, ph, fixed_amps(in, &in->chargers[c]));
			p->rhs[p->n_rows] = headroom(in, (int)a, ph) - fixed;
			p->row_start[++p->n_rows] = p->n_vals;
		}
	return 0;
}

int mm_solve_glpk(const struct mm_problem *p, double *x)
{
	glp_prob *lp = glp_create_prob();
	glp_smcp parm;
	int *ind = calloc(p->n + 2, sizeof(int)), n = (int)p->n, rows = (int)p->n_rows, tcol = n + 1;
	double *vals = calloc(p->n + 2, sizeof(double));
	bool *fixed = calloc(p->n + 1, sizeof(bool));
	size_t left = p->n;
	int rc = 0;

	if (!ind || !vals || !fixed) {
		rc = -ENOMEM;
		goto out;
	}
	glp_init_smcp(&parm);
	parm.msg_lev = GLP_MSG_OFF;
	glp_set_obj_dir(lp, GLP_MAX);
	glp_add_cols(lp, n + 1);
	for (int v = 0; v < n; v++)
		glp_set_col_bnds(lp, v + 1, p->hi[v] > p->lo[v] ? GLP_DB : GLP_FX, p->lo[v], p->hi[v]);
	glp_set_col_bnds(lp, tcol, GLP_LO, 0, 0);
	glp_set_obj_coef(lp, tcol, 1);
	if (rows)
		glp_add_rows(lp, rows);
	for (int r = 0; r < rows; r++) {
		int len = 0;

		for (size_t e = p->row_start[r]; e < p->row_start[r + 1]; e++) {
			ind[++len] = p->col[e] + 1;
			vals[len] = p->val[e];
		}
		glp_set_mat_row(lp, r + 1, len, ind, vals);
		glp_set_row_bnds(lp, r + 1, GLP_UP, 0, p->rhs[r]);
	}
	if (n)
		glp_add_rows(lp, n);
	for (int v = 0; v < n; v++) {           /* level rows: x_v - w_v t >= 0 */
		ind[1] = v + 1, vals[1] = 1;
		ind[2] = tcol, vals[2] = -p->w[v];
		glp_set_mat_row(lp, rows + v + 1, 2, ind, vals);
		glp_set_row_bnds(lp, rows + v + 1, GLP_LO, 0, 0);
	}
	while (left) {
		double low = HUGE_VAL;
		int pick = -1, got = 0;

		if (glp_simplex(lp, &parm) || glp_get_status(lp) != GLP_OPT) {
			rc = -EDOM;
			goto out;
		}
		for (int v = 0; v < n; v++) {
			double d = fabs(glp_get_row_dual(lp, rows + v + 1));

			if (fixed[v])
				continue;
			if (d > 1e-9) {
				x[v] = glp_get_col_prim(lp, v + 1);
				fixed[v] = true;
				got++;
			} else if (glp_get_col_prim(lp, v + 1) / p->w[v] < low) {
				low = glp_get_col_prim(lp, v + 1) / p->w[v];
				pick = v;
			}
		}
		if (!got) {             /* numerically flat duals: fix the lowest level */
			x[pick] = glp_get_col_prim(lp, pick + 1);
			fixed[pick] = true;
			got = 1;
		}
		for (int v = 0; v < n; v++)
			if (fixed[v]) {
				glp_set_col_bnds(lp, v + 1, GLP_FX, x[v], x[v]);
				glp_set_row_bnds(lp, rows + v + 1, GLP_FR, 0, 0);
			}
		left -= (size_t)got;
	}
out:
	glp_delete_prob(lp);
	free(ind);
	free(vals);
	free(fixed);
	return rc;
}
