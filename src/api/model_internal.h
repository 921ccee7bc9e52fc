/* What the library's own layers above the executor (eval, quantizer) see of a teq_model. */
#ifndef TEQ_MODEL_INTERNAL_H
#define TEQ_MODEL_INTERNAL_H

#include "../graph/exec.h"

struct teq_model {
    teq_graph *g;
    char *path;
    teq_exec_ctx *ctx; /* buffer pool and scratch, kept across runs */
};

#endif
