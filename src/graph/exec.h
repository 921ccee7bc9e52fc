/* The executor: runs a planned graph on bound inputs. */
#ifndef TEQ_EXEC_H
#define TEQ_EXEC_H

#include "graph.h"

/* Run g (already resolved and planned). inputs[i] binds g->inputs[i] (borrowed, never modified);
 * outputs[j] receives a new tensor for g->outputs[j]. Checks input dtypes and shapes against the
 * declared ones first, naming path in messages. */
teq_status teq_graph_run(const teq_graph *g, const char *path, int n_threads, const teq_tensor *const *inputs,
                         teq_tensor **outputs, teq_error *err);

#endif
