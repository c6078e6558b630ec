/* The offline optimum of a replay (`ampgate-sim replay --optimum`); see replay.h.
 *
 * Key design decision: time is cut only where something changes (an arrival, a departure, a
 * building-load row), not into control steps: between two such instants the set of EVs and every
 * headroom is constant, so with continuous rates one average current per session and interval is
 * exact, and a month of 1,000 sessions is a linear programme of tens of thousands of variables
 * rather than millions. GLPK's simplex solves it. Variables are currents per phase (A); rows are
 * each session's request (kWh) and, per interval, every limited node-phase (A) and node kW
 * limit (W), with the margin and the non-EV load taken off as the solver does. The EV taper,
 * the minimum current and the control step are left out on purpose: the result is an upper
 * bound no policy can beat, which is what a gap needs. */
#include "tools/sim/replay.h"
#include "edge/site-model.h"

#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OK_KW = 3, OK = 4 };

struct lp {
	int *ia, *ja;
	double *ar;
	size_t nz, cap;
};

static int push(struct lp *m, int row, int col, double v)
{
	if (m->nz + 1 >= m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1 << 16;
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

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct work {
	struct solver_node *nodes;
	size_t n_nodes;
	struct solver_charger *ch;
	int64_t *cut;
	double *nv;
	int *row;               /* per node x OK for the current interval; 0 = none yet */
	struct lp m;
};

static void work_fini(struct work *w)
{
	free(w->nodes);
	free(w->ch);
	free(w->cut);
	free(w->nv);
	free(w->row);
	free(w->m.ia);
	free(w->m.ja);
	free(w->m.ar);
}

static int build(const struct replay_input *in, const struct replay_result *assign, struct work *w, glp_prob *lp,
		 struct replay_optimum *out)
{
	const struct ag_config *cfg = in->cfg;
	struct solver_input sin = site_model_input(cfg);
	double v = sin.voltage_v;
	size_t n_cut = 0, next_load = 0;
	int rc, n_rows = 0, n_cols = 0;

	if ((rc = site_model_nodes(cfg, &w->nodes, &w->n_nodes)) < 0)
		return rc;
	w->ch = calloc(cfg->n_chargers + 1, sizeof(*w->ch));
	w->cut = calloc(2 * in->n_sessions + in->n_loads + 1, sizeof(*w->cut));
	w->nv = calloc(w->n_nodes * 3, sizeof(double));
	w->row = calloc(w->n_nodes * OK, sizeof(int));
	if (!w->ch || !w->cut || !w->nv || !w->row)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_chargers; i++)
		site_model_charger(w->nodes, w->n_nodes, &cfg->chargers[i], &w->ch[i]);
	for (size_t i = 0; i < in->n_sessions; i++) {
		if (assign->outcome[i].charger < 0)
			continue;
		w->cut[n_cut++] = in->sessions[i].arrival_ms;
		w->cut[n_cut++] = in->sessions[i].departure_ms;
		out->sessions++;
	}
	for (size_t i = 0; i < in->n_sessions; i++)     /* the runs' denominator: turned-away ones too */
		out->requested_wh += in->sessions[i].request_wh;
	for (size_t i = 0; i < in->n_loads; i++)
		w->cut[n_cut++] = in->loads[i].at_ms;
	qsort(w->cut, n_cut, sizeof(*w->cut), cmp_i64);
	/* One row per session: its request, in kWh. */
	glp_add_rows(lp, (int)in->n_sessions);
	for (size_t i = 0; i < in->n_sessions; i++)
		glp_set_row_bnds(lp, (int)i + 1, GLP_UP, 0.0, in->sessions[i].request_wh / 1000.0);
	n_rows = (int)in->n_sessions;
	for (size_t j = 0; j + 1 < n_cut; j++) {
		int64_t t0 = w->cut[j], t1 = w->cut[j + 1];
		double hours = (double)(t1 - t0) / 3.6e6;

		for (; next_load < in->n_loads && in->loads[next_load].at_ms <= t0; next_load++) {
			const struct replay_load *l = &in->loads[next_load];
			int k = site_model_node_index(w->nodes, w->n_nodes, l->node);

			if (!l->stale && !strcmp(w->nodes[k].id, l->node))
				memcpy(w->nodes[k].non_ev_a, l->a, sizeof(l->a));
		}
		if (t1 <= t0)
			continue;
		out->intervals++;
		replay_effective_load(w->nodes, w->n_nodes, w->nv);
		memset(w->row, 0, w->n_nodes * OK * sizeof(int));
		for (size_t i = 0; i < in->n_sessions; i++) {
			const struct replay_session *s = &in->sessions[i];
			const struct solver_charger *c;
			double max_a;
			int nph, col;

			if (assign->outcome[i].charger < 0 || s->arrival_ms > t0 || s->departure_ms < t1 || !(s->request_wh > 0))
				continue;
			c = &w->ch[assign->outcome[i].charger];
			nph = s->ev_phases > 0 && s->ev_phases < c->phases ? s->ev_phases : c->phases;
			max_a = s->ev_max_a > 0 ? fmin(s->ev_max_a, c->max_a) : c->max_a;
			if (!(max_a > 0))
				continue;
			col = glp_add_cols(lp, 1);
			n_cols = col;
			glp_set_col_bnds(lp, col, GLP_DB, 0.0, max_a);
			glp_set_obj_coef(lp, col, v * nph * hours / 1000.0);
			if ((rc = push(&w->m, (int)i + 1, col, v * nph * hours / 1000.0)) < 0)
				return rc;
			for (int k = c->node; k >= 0; k = w->nodes[k].parent) {
				const struct solver_node *nd = &w->nodes[k];
				double extra_w = k == 0 ? fmax(0, sin.grid_extra_w) : 0;

				for (int slot = 0; slot < OK; slot++) {
					int *r = &w->row[(size_t)k * OK + slot], on = slot == OK_KW;
					double head;

					for (int p = 0; p < nph && !on; p++)
						on = c->rotation[p] % 3 == slot;
					if (!on || !(slot == OK_KW ? nd->limit_kw > 0 : nd->limit_a[slot] > 0))
						continue;
					if (!*r) {
						const double *n3 = &w->nv[(size_t)k * 3];

						head = slot == OK_KW ? nd->limit_kw * 1000.0 + extra_w -
									v * (n3[0] + n3[1] + n3[2] + 3 * sin.margin_a)
								     : nd->limit_a[slot] - sin.margin_a - n3[slot] + extra_w / (3 * v);
						*r = glp_add_rows(lp, 1);
						n_rows = *r;
						glp_set_row_bnds(lp, *r, GLP_UP, 0.0, fmax(0.0, head));
					}
					if ((rc = push(&w->m, *r, col, slot == OK_KW ? v * nph : 1.0)) < 0)
						return rc;
				}
			}
		}
	}
	out->variables = (size_t)n_cols;
	out->rows = (size_t)n_rows;
	glp_load_matrix(lp, (int)w->m.nz, w->m.ia, w->m.ja, w->m.ar);
	return 0;
}

int replay_optimum(const struct replay_input *in, const struct replay_result *assign, struct replay_optimum *out,
		   FILE *errs)
{
	struct work w = { 0 };
	struct timespec a, b;
	glp_prob *lp;
	glp_smcp parm;
	int rc;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &a);
	glp_term_out(GLP_OFF);
	lp = glp_create_prob();
	glp_set_obj_dir(lp, GLP_MAX);
	rc = build(in, assign, &w, lp, out);
	if (rc == 0 && out->variables) {
		glp_init_smcp(&parm);
		parm.presolve = GLP_ON;
		parm.msg_lev = GLP_MSG_OFF;
		if (glp_simplex(lp, &parm) != 0 || glp_get_status(lp) != GLP_OPT) {
			fprintf(errs, "replay: the optimum's linear programme did not solve (%zu rates, %zu rows)\n",
				out->variables, out->rows);
			rc = -EIO;
		} else {
			out->delivered_wh = glp_get_obj_val(lp) * 1000.0;
		}
	}
	glp_delete_prob(lp);
	work_fini(&w);
	clock_gettime(CLOCK_MONOTONIC, &b);
	out->solve_s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	if (rc == -ENOMEM)
		fprintf(errs, "replay: out of memory building the optimum\n");
	return rc;
}
