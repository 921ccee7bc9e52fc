/* What the library's own layers above the executor (eval, quantizer) see of a teq_model. */
#ifndef TEQ_MODEL_INTERNAL_H
#define TEQ_MODEL_INTERNAL_H

#include "../graph/exec.h"

struct teq_model {
    teq_graph *g;
    char *path;
    teq_exec_ctx *ctx; /* buffer pool and scratch, kept across runs */
    /* teq_model_profile: per node of g (plan order) the seconds summed over prof_runs runs, and the
     * first output's shape; NULL while off */
    double *prof;
    teq_tensor *prof_shape;
    int64_t prof_runs;
};

/* teq_model_load with choices for the library's own callers:
 * TEQ_LOAD_KEEP_FLOATS: weight constants keep their float data beside any packed copy (callers that read them);
 * TEQ_LOAD_NO_PACK: no packed copies at all (callers that overwrite weight constants between runs). */
enum { TEQ_LOAD_KEEP_FLOATS = 1, TEQ_LOAD_NO_PACK = 2 };
teq_status teq_model_load_as(const char *path, unsigned flags, teq_model **out, teq_error *err);

#endif
