/* Bit allocation from measured distortion tables: pure numerics, no model (tests/test_alloc.c checks
 * it against an exact DP on synthetic tables).
 *
 * A tensor t has n_o options (its widths, cheapest first); option j costs cost[t * n_o + j] (bits x
 * elements) and, with that tensor alone quantized, distorts the outputs by dist[t * n_o + j]. Taking the
 * distortions as additive, the best allocation for a budget of total cost is a knapsack; the points on
 * each tensor's lower convex hull, taken in order of decreasing slope across all tensors, give the
 * allocations that are exactly optimal for their own cost (the Lagrangian points), in a nested sequence
 * of growing cost. That sequence is what the width search bisects. */
#ifndef TEQ_PIPELINE_ALLOC_H
#define TEQ_PIPELINE_ALLOC_H

#include "teq.h"

/* The lower convex hull of points (cost[j], dist[j]), j = 0..n-1 with cost increasing, from point 0
 * and only while the distortion keeps falling: vertices[] receives the hull's point indices in order
 * (vertices[0] = 0). Points above the hull are never worth their cost against a mix of the vertices
 * around them. Returns the number of vertices. */
int teq_alloc_hull(const double *cost, const double *dist, int n, int *vertices);

/* One move of the sequence: tensor `tensor` goes to option `option`; after it the configuration costs
 * `cost` in total and its summed distortion is `dist`; `slope` = distortion removed per unit of cost. */
typedef struct teq_alloc_step {
    int tensor, option;
    double cost, dist, slope;
} teq_alloc_step;

/* The nested allocation sequence: every tensor starts at option 0 (start_cost, start_dist: the totals
 * there); each step moves the tensor whose next hull segment removes the most distortion per unit of
 * cost. *steps is malloc'd (the caller frees it), *n_steps receives its length. */
teq_status teq_alloc_sequence(int n_t, int n_o, const double *cost, const double *dist, teq_alloc_step **steps,
                              int *n_steps, double *start_cost, double *start_dist, teq_error *err);

/* Options after the first k steps of a sequence (opt: n_t entries). */
void teq_alloc_config(int n_t, const teq_alloc_step *steps, int k, int *opt);

/* Exact optimum for integer costs (dynamic programming over the cost, for tests and small tables):
 * the least summed distortion with summed cost <= budget, options in opt; INFINITY when even the
 * cheapest options exceed the budget. O(n_t x budget x n_o) time, O(n_t x budget) memory. */
double teq_alloc_dp(int n_t, int n_o, const int64_t *cost, const double *dist, int64_t budget, int *opt);

#endif
