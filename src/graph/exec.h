/* The executor: runs a planned graph on bound inputs. */
#ifndef TEQ_EXEC_H
#define TEQ_EXEC_H

#include "graph.h"
#include "../ops/ops.h"

/* Run g (already resolved and planned) with ctx, whose buffer pool and scratch persist across runs
 * so that a second run does not fault fresh pages in. inputs[i] binds g->inputs[i] (borrowed, never
 * modified); outputs[j] receives a new tensor for g->outputs[j]. Checks input dtypes and shapes
 * against the declared ones first, naming path in messages. A ctx runs one graph at a time. */
teq_status teq_graph_run(const teq_graph *g, const char *path, teq_exec_ctx *ctx, const teq_tensor *const *inputs,
                         teq_tensor **outputs, teq_error *err);
void teq_ctx_set_threads(teq_exec_ctx *ctx, int n_threads);
/* The same from node `start` (plan order) on: the nodes before it are skipped, and every value they
 * would have produced that a later node reads must be in preset[v] (g->n_values entries, NULL where
 * absent; borrowed). The quantizer's distortion tables re-run only the part of the network after the
 * tensor they measure, from cached FP32 activations. */
teq_status teq_graph_run_from(const teq_graph *g, const char *path, teq_exec_ctx *ctx, int start,
                              const teq_tensor *const *preset, const teq_tensor *const *inputs, teq_tensor **outputs,
                              teq_error *err);

/* Called before node i (in plan order) runs, with its inputs (NULL for absent ones): calibration
 * collects statistics here. A non-zero return stops the run with that status. */
typedef teq_status (*teq_node_hook)(void *user, int i, const teq_node *node, const teq_tensor *const *in);
void teq_ctx_set_hook(teq_exec_ctx *ctx, teq_node_hook hook, void *user);

/* Time every node of later runs: node_seconds[i] (g->n_nodes entries, plan order) gets node i's wall
 * seconds added, node_shapes[i] its first output's dtype and shape (data NULL); NULL, NULL: stop. */
void teq_ctx_set_profile(teq_exec_ctx *ctx, double *node_seconds, teq_tensor *node_shapes);

#endif
