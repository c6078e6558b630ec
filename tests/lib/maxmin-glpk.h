/* An independent reference for the solver: the site rebuilt as a linear program by code that
 * shares nothing with edge/site/solver.c but the input struct, and its weighted max-min fair optimum
 * computed level by level with GLPK. Used by the property test and the benchmark. */
#ifndef AG_TEST_MAXMIN_GLPK_H
#define AG_TEST_MAXMIN_GLPK_H

#include "edge/site/solver.h"

#include <stdbool.h>
#include <stddef.h>

/* The LP data: variables x[0..n) with bounds [lo, hi] and weights w; rows sum(val * x[col]) <= rhs
 * in compressed form (row r spans row_start[r] .. row_start[r + 1]). */
struct mm_problem {
	size_t n, n_rows, n_vals;
	double *lo, *hi, *w;
	int *var_of;                    /* variable -> charger index */
	size_t *row_start;
	int *col;
	double *val, *rhs;
};

/* Build the LP of `in` for the chargers with admitted[i] (weights w_of[i]). 0 or -ENOMEM. */
int mm_build(const struct solver_input *in, const bool *admitted, const double *w_of,
	     struct mm_problem *p);
void mm_free(struct mm_problem *p);

/* The weighted max-min fair optimum into x[n] (per variable). 0, or -EDOM when GLPK finds no
 * optimum. */
int mm_solve_glpk(const struct mm_problem *p, double *x);

/* Largest excess of an allocation (limit_a per charger) over any node-phase or kW limit of `in`,
 * in A (kW rows converted per phase at the site voltage); <= 0 means every limit holds. Chargers
 * counted as fixed loads are included at their fallback/max. */
double mm_worst_excess(const struct solver_input *in, const double *limit_a);

/* The model's view of a charger, written apart from the solver's: loaded site phases and cap. */
unsigned mm_mask(const struct solver_charger *c);
double mm_cap(const struct solver_input *in, const struct solver_charger *c);

#endif
