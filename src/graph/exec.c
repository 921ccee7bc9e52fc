/* Execution context (buffer pool, scratch, threads, errors), planning and the run loop.
 *
 * Memory: every intermediate value gets storage from teq_ctx_alloc, which takes the smallest
 * pooled buffer that fits; when a value's last reader has run, its buffer goes back to the pool.
 * So peak memory follows the widest cut of the graph, not the sum of all activations. */
#include "exec.h"
#include "../ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pool_buf {
    void *p;
    size_t cap;
} pool_buf;

enum { CTX_TAKE = 4 };

struct teq_exec_ctx {
    int n_threads;
    teq_error *err;
    teq_error own_err;
    void *scratch[TEQ_CTX_SCRATCH_SLOTS];
    size_t scratch_cap[TEQ_CTX_SCRATCH_SLOTS];
    pool_buf *pool;
    int n_pool, cap_pool;
    teq_node_hook hook;
    void *hook_user;
    /* Per-node timing (teq_ctx_set_profile): prof[i] += node i's wall seconds, prof_shape[i] its first
     * output's shape of the last run; NULL: not timed */
    double *prof;
    teq_tensor *prof_shape;
    /* Planning only: largest tensor folding may make (0: TEQ_MAX_TENSOR_BYTES), and whether an allocation
     * was refused for it (the node then runs at run time instead of being folded). */
    size_t fold_cap;
    int fold_capped;
    /* the running node's first CTX_TAKE inputs whose storage it may take (teq_ctx_take_input), NULL where not */
    teq_tensor *take[CTX_TAKE];
    /* teq_ctx_pass_input inside a graph run (-2 while a node runs): the input whose storage the node's output 0
     * now shares (a view), else -1 */
    int view_in;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void teq_ctx_set_profile(teq_exec_ctx *c, double *node_seconds, teq_tensor *node_shapes) {
    c->prof = node_seconds;
    c->prof_shape = node_shapes;
}

bool teq_ctx_take_input(teq_exec_ctx *c, int k, teq_tensor *out) {
    if (k < 0 || k >= CTX_TAKE || !c->take[k] || !c->take[k]->capacity) return false;
    *out = *c->take[k];
    c->take[k]->capacity = 0; /* the value is now borrowed: pool_put after the node lets it go */
    c->take[k] = NULL;
    return true;
}

teq_status teq_ctx_pass_input(teq_exec_ctx *c, int k, const teq_tensor *x, teq_tensor *out) {
    if (teq_ctx_take_input(c, k, out)) return TEQ_OK;
    if (c->view_in == -2 && out->capacity == 0) {
        /* a view of x (borrowed storage); the executor keeps x alive while the view has readers. A TeqQuantize
         * in front of an INT8 layer whose input is also read by a residual Add copied it: 1.08 M floats a run
         * on BlazeFace INT8, 7% of its time */
        *out = *x;
        out->capacity = 0;
        c->view_in = k;
        return TEQ_OK;
    }
    teq_status s = teq_ctx_alloc(c, out, x->dtype, x->ndim, x->dims);
    if (!s) memcpy(out->data, x->data, teq_dtype_size(x->dtype) * (size_t)teq_tensor_numel(x));
    return s;
}

void teq_ctx_set_hook(teq_exec_ctx *c, teq_node_hook hook, void *user) {
    c->hook = hook;
    c->hook_user = user;
}

teq_exec_ctx *teq_ctx_new(int n_threads, teq_error *err) {
    teq_exec_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->n_threads = n_threads > 0 ? n_threads : 1;
    c->err = err ? err : &c->own_err;
    c->view_in = -1;
    return c;
}

void teq_ctx_free(teq_exec_ctx *c) {
    if (!c) return;
    for (int i = 0; i < c->n_pool; i++) free(c->pool[i].p);
    free(c->pool);
    for (int i = 0; i < TEQ_CTX_SCRATCH_SLOTS; i++) free(c->scratch[i]);
    free(c);
}

int teq_ctx_threads(const teq_exec_ctx *c) { return c->n_threads; }

void *teq_ctx_scratch_slot(teq_exec_ctx *c, int slot, size_t bytes) {
    if (slot < 0 || slot >= TEQ_CTX_SCRATCH_SLOTS) return NULL;
    if (bytes > c->scratch_cap[slot]) {
        free(c->scratch[slot]);
        c->scratch[slot] = malloc(bytes);
        c->scratch_cap[slot] = c->scratch[slot] ? bytes : 0;
        if (!c->scratch[slot])
            teq_error_set(c->err, TEQ_ERR_NOMEM, "out of memory allocating %zu bytes of scratch", bytes);
    }
    return c->scratch[slot];
}

void *teq_ctx_scratch(teq_exec_ctx *c, size_t bytes) { return teq_ctx_scratch_slot(c, 0, bytes); }

/* Give a buffer back to the pool (or free it when the pool cannot grow). */
static void pool_put(teq_exec_ctx *c, teq_tensor *t) {
    if (!t->capacity) {
        t->data = NULL;
        return;
    }
    if (c->n_pool == c->cap_pool) {
        int nc = c->cap_pool ? c->cap_pool * 2 : 32;
        pool_buf *np = realloc(c->pool, sizeof *np * (size_t)nc);
        if (!np) {
            teq_tensor_release(t);
            return;
        }
        c->pool = np;
        c->cap_pool = nc;
    }
    c->pool[c->n_pool++] = (pool_buf){t->data, t->capacity};
    t->data = NULL;
    t->capacity = 0;
}

teq_status teq_ctx_alloc(teq_exec_ctx *c, teq_tensor *t, teq_dtype dtype, int ndim, const int64_t *dims) {
    int64_t numel;
    size_t es = teq_dtype_size(dtype), bytes;
    if (es == 0) return teq_error_set(c->err, TEQ_ERR_UNSUPPORTED, "data type %d is not supported", (int)dtype);
    if (ndim < 0 || ndim > TEQ_MAX_DIMS)
        return teq_error_set(c->err, TEQ_ERR_SHAPE, "rank %d is outside 0..%d", ndim, TEQ_MAX_DIMS);
    if (teq_dims_numel(ndim, dims, &numel) && teq_mul_size((size_t)numel, es, &bytes) && c->fold_cap &&
        bytes > c->fold_cap && bytes <= TEQ_MAX_TENSOR_BYTES) {
        c->fold_capped = 1;
        return teq_error_set(c->err, TEQ_ERR_NOMEM, "folded tensor of %zu bytes left to run time", bytes);
    }
    if (!teq_dims_numel(ndim, dims, &numel) || !teq_mul_size((size_t)numel, es, &bytes) ||
        bytes > TEQ_MAX_TENSOR_BYTES) {
        char sb[160];
        return teq_error_set(c->err, TEQ_ERR_NOMEM, "tensor of shape %s is invalid or too large",
                             teq_shape_str(ndim, dims, sb, sizeof sb));
    }
    if (t->capacity < bytes || t->data == NULL) {
        pool_put(c, t);
        int best = -1;
        for (int i = 0; i < c->n_pool; i++)
            if (c->pool[i].cap >= bytes && (best < 0 || c->pool[i].cap < c->pool[best].cap)) best = i;
        /* Take a pooled buffer only when it is not wastefully large (at most 4x the need). */
        if (best >= 0 && c->pool[best].cap / 4 <= bytes + 4096) {
            t->data = c->pool[best].p;
            t->capacity = c->pool[best].cap;
            c->pool[best] = c->pool[--c->n_pool];
        } else {
            size_t cap = bytes ? bytes : 1;
            t->data = malloc(cap);
            if (!t->data) return teq_error_set(c->err, TEQ_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
            t->capacity = cap;
        }
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    return TEQ_OK;
}

teq_status teq_op_fail(teq_exec_ctx *c, const teq_node *node, teq_status status, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return teq_error_set(c->err, status, "node '%s' (%s): %s", node->name, node->op_type, msg);
}

teq_status teq_ctx_run_node(teq_exec_ctx *c, const teq_node *node, const teq_tensor *const *in, teq_tensor *const *out) {
    const teq_op *op = node->op ? node->op : teq_op_find(node->op_type);
    if (!op) return teq_error_set(c->err, TEQ_ERR_UNSUPPORTED, "unsupported operator '%s'", node->op_type);
    int present = 0;
    for (int i = 0; i < node->n_in; i++) present += in[i] != NULL;
    if (present < op->min_inputs)
        return teq_op_fail(c, node, TEQ_ERR_FORMAT, "has %d inputs, needs at least %d", present, op->min_inputs);
    /* ONNX puts required inputs first; an empty name may only skip an optional one. Operators rely on
     * in[0 .. min_inputs) being there (found by fuzzing: Reshape with an empty data name). */
    for (int i = 0; i < op->min_inputs; i++)
        if (!in[i]) return teq_op_fail(c, node, TEQ_ERR_FORMAT, "required input %d is missing (empty name)", i);
    /* Every operator writes out[0]; a node without outputs would hand it a slot that does not exist
     * (found by fuzzing: a Size node with no output, folded at load). */
    if (node->n_out < 1) return teq_op_fail(c, node, TEQ_ERR_FORMAT, "has no outputs");
    return op->run(c, node, in, out);
}

/* ---------------------------------------------------------------- planning */

static bool is_onnx_domain(const char *d) { return d[0] == 0 || strcmp(d, "ai.onnx") == 0; }

teq_status teq_graph_resolve_ops(teq_graph *g, const char *path, teq_error *err) {
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        /* teq's own operators (TeqQuantize, ...) live in domain "teq" and are named Teq*; the two
         * sets share one table but never stand in for each other. */
        bool own = strncmp(n->op_type, "Teq", 3) == 0;
        bool ok_domain = own ? strcmp(n->domain, "teq") == 0 : is_onnx_domain(n->domain);
        if (!ok_domain)
            return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: unsupported operator '%s' of domain '%s' (node '%s')",
                                 path, n->op_type, n->domain, n->name);
        n->op = teq_op_find(n->op_type);
        if (!n->op)
            return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: unsupported operator '%s' (node '%s')", path,
                                 n->op_type, n->name);
    }
    return TEQ_OK;
}

static bool value_is_source(const teq_graph *g, int v, const char *is_input) {
    return g->values[v].constant != NULL || is_input[v];
}

/* Fold node n (all inputs constant) into constant values. */
static teq_status fold_node(teq_graph *g, teq_exec_ctx *c, teq_node *n) {
    const teq_tensor *in[64];
    teq_tensor *out[64];
    if (n->n_in > 64 || n->n_out > 64) return TEQ_OK; /* not worth folding */
    for (int i = 0; i < n->n_in; i++) in[i] = n->in[i] >= 0 ? g->values[n->in[i]].constant : NULL;
    for (int i = 0; i < n->n_out; i++) {
        out[i] = calloc(1, sizeof(teq_tensor));
        if (!out[i]) {
            for (int k = 0; k < i; k++) teq_tensor_free(out[k]);
            return teq_error_set(c->err, TEQ_ERR_NOMEM, "out of memory");
        }
    }
    teq_status s = teq_ctx_run_node(c, n, in, out);
    for (int i = 0; i < n->n_out; i++) {
        if (s == TEQ_OK && n->out[i] >= 0 && out[i]->data) {
            /* Detach from the pool: constants own their storage. */
            teq_tensor *t = NULL;
            s = teq_tensor_create(out[i]->dtype, out[i]->ndim, out[i]->dims, &t, c->err);
            if (s == TEQ_OK) {
                memcpy(t->data, out[i]->data, (size_t)teq_tensor_numel(t) * teq_dtype_size(t->dtype));
                g->values[n->out[i]].constant = t;
            }
        }
        pool_put(c, out[i]);
        free(out[i]);
    }
    return s;
}

teq_status teq_graph_plan(teq_graph *g, const char *path, teq_error *err) {
    int nv = g->n_values, nn = g->n_nodes;
    teq_status s = TEQ_OK;
    char *is_input = calloc((size_t)nv + 1, 1);
    int *order = malloc(sizeof(int) * ((size_t)nn + 1));
    char *avail = calloc((size_t)nv + 1, 1);
    char *keep = calloc((size_t)nn + 1, 1);
    if (!is_input || !order || !avail || !keep) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory while planning", path);
        goto done;
    }
    for (int i = 0; i < g->n_inputs; i++) is_input[g->inputs[i]] = 1;

    /* Producers: each value is produced at most once, and never for a constant or graph input. */
    for (int v = 0; v < nv; v++) g->values[v].producer = -1;
    for (int i = 0; i < nn; i++) {
        teq_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v < 0) continue;
            if (g->values[v].producer >= 0 || value_is_source(g, v, is_input)) {
                s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: value '%s' is produced more than once (node '%s')", path,
                                  g->values[v].name, n->name);
                goto done;
            }
            g->values[v].producer = i;
        }
    }
    for (int i = 0; i < nn; i++) {
        teq_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0) continue;
            if (!value_is_source(g, v, is_input) && g->values[v].producer < 0) {
                s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: node '%s' reads '%s', which no node, input or initializer provides",
                                  path, n->name, g->values[v].name);
                goto done;
            }
        }
    }
    for (int j = 0; j < g->n_outputs; j++) {
        int v = g->outputs[j];
        if (!value_is_source(g, v, is_input) && g->values[v].producer < 0) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: graph output '%s' is not produced by any node", path,
                              g->values[v].name);
            goto done;
        }
    }

    /* Kahn's algorithm, keeping file order among ready nodes (stable, deterministic). Repeated
     * passes are O(n^2) worst case; real files are already topologically sorted, so one pass
     * schedules almost everything. */
    for (int v = 0; v < nv; v++) avail[v] = value_is_source(g, v, is_input);
    int n_done = 0;
    char *scheduled = keep; /* reuse as a flag array */
    for (bool progress = true; progress && n_done < nn;) {
        progress = false;
        for (int i = 0; i < nn; i++) {
            if (scheduled[i]) continue;
            teq_node *n = &g->nodes[i];
            bool ready = true;
            for (int k = 0; k < n->n_in && ready; k++) ready = n->in[k] < 0 || avail[n->in[k]];
            if (!ready) continue;
            scheduled[i] = 1;
            order[n_done++] = i;
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0) avail[n->out[k]] = 1;
            progress = true;
        }
    }
    if (n_done < nn) {
        for (int i = 0; i < nn; i++)
            if (!scheduled[i]) {
                s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: the graph has a cycle through node '%s'", path,
                                  g->nodes[i].name);
                goto done;
            }
    }
    /* Reorder the node array. */
    {
        teq_node *sorted = malloc(sizeof(teq_node) * ((size_t)nn + 1));
        if (!sorted) {
            s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory while planning", path);
            goto done;
        }
        for (int i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
        if (nn) memcpy(g->nodes, sorted, sizeof(teq_node) * (size_t)nn);
        free(sorted);
    }

    /* Constant folding: in order, any node whose present inputs are all constant. */
    memset(keep, 1, (size_t)nn);
    {
        teq_exec_ctx *c = teq_ctx_new(1, err);
        if (!c) {
            s = TEQ_ERR_NOMEM;
            goto done;
        }
        c->fold_cap = (size_t)64 << 20;
        for (int i = 0; i < nn; i++) {
            teq_node *n = &g->nodes[i];
            bool all_const = true;
            for (int k = 0; k < n->n_in && all_const; k++) all_const = n->in[k] < 0 || g->values[n->in[k]].constant;
            if (!all_const) continue;
            c->fold_capped = 0;
            s = fold_node(g, c, n);
            if (s && c->fold_capped) {
                /* A constant bigger than the cap (a few KB of file can ask ConstantOfShape for hundreds
                 * of MB): not folded, so loading stays quick; the node runs when the model runs. */
                teq_error_clear(err);
                s = TEQ_OK;
                continue;
            }
            if (s) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
                teq_error_set(err, s, "%s: %s", path, msg);
                teq_ctx_free(c);
                goto done;
            }
            keep[i] = 0;
        }
        teq_ctx_free(c);
    }

    /* Fuse elementwise chains (ops/fuse.c); their inner nodes become dead and go below. */
    if ((s = teq_ops_fuse_elementwise(g, keep))) {
        teq_error_set(err, s, "%s: out of memory while planning", path);
        goto done;
    }

    /* Dead-node elimination, backwards: a node is live when a graph output or a live node reads it. */
    {
        char *live = calloc((size_t)nv + 1, 1);
        if (!live) {
            s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory while planning", path);
            goto done;
        }
        for (int j = 0; j < g->n_outputs; j++) live[g->outputs[j]] = 1;
        for (int i = nn - 1; i >= 0; i--) {
            if (!keep[i]) continue;
            teq_node *n = &g->nodes[i];
            bool used = false;
            for (int k = 0; k < n->n_out; k++) used |= n->out[k] >= 0 && live[n->out[k]];
            if (!used) {
                keep[i] = 0;
                continue;
            }
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0) live[n->in[k]] = 1;
        }
        /* Constants nobody reads any more (folded intermediates, dead weights) are dropped. */
        for (int v = 0; v < nv; v++)
            if (!live[v] && g->values[v].constant) {
                teq_tensor_free(g->values[v].constant);
                g->values[v].constant = NULL;
                teq_qweight_free(g->values[v].qweight);
                g->values[v].qweight = NULL;
            }
        free(live);
    }

    /* Compact the node list and count uses. */
    teq_graph_compact(g, keep);

done:
    free(is_input);
    free(order);
    free(avail);
    free(keep);
    return s;
}

/* ---------------------------------------------------------------- running */

/* Check bound inputs against declared types and shapes; symbolic dims must agree across inputs. */
static teq_status check_inputs(const teq_graph *g, const char *path, const teq_tensor *const *inputs, teq_error *err) {
    const char *sym_name[64];
    int64_t sym_val[64];
    int n_sym = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        const teq_value *v = &g->values[g->inputs[i]];
        const teq_tensor *t = inputs[i];
        char got[160], want[200];
        if (!t || (!t->data && teq_tensor_numel(t) > 0))
            return teq_error_set(err, TEQ_ERR_ARG, "%s: input '%s' is missing", path, v->name);
        if (v->dtype != TEQ_DTYPE_UNDEFINED && t->dtype != v->dtype)
            return teq_error_set(err, TEQ_ERR_SHAPE, "%s: input '%s' is %s, the model expects %s", path, v->name,
                                 teq_dtype_name(t->dtype), teq_dtype_name(v->dtype));
        if (v->ndim < 0) continue;
        bool ok = t->ndim == v->ndim;
        for (int d = 0; ok && d < v->ndim; d++) {
            if (v->dims[d] >= 0) {
                ok = t->dims[d] == v->dims[d];
            } else if (v->dim_names[d] && v->dim_names[d][0]) {
                int k = 0;
                while (k < n_sym && strcmp(sym_name[k], v->dim_names[d]) != 0) k++;
                if (k < n_sym) ok = sym_val[k] == t->dims[d];
                else if (n_sym < 64) sym_name[n_sym] = v->dim_names[d], sym_val[n_sym++] = t->dims[d];
            }
        }
        if (!ok) {
            size_t k = 0;
            k += snprintf(want + k, sizeof want - k, "[");
            for (int d = 0; d < v->ndim && k < sizeof want; d++) {
                if (v->dims[d] >= 0) k += snprintf(want + k, sizeof want - k, d ? ",%lld" : "%lld", (long long)v->dims[d]);
                else k += snprintf(want + k, sizeof want - k, d ? ",%s" : "%s", v->dim_names[d] && v->dim_names[d][0] ? v->dim_names[d] : "?");
            }
            if (k < sizeof want) snprintf(want + k, sizeof want - k, "]");
            return teq_error_set(err, TEQ_ERR_SHAPE, "%s: input '%s' has shape %s, the model expects %s", path, v->name,
                                 teq_shape_str(t->ndim, t->dims, got, sizeof got), want);
        }
    }
    return TEQ_OK;
}

void teq_ctx_set_threads(teq_exec_ctx *c, int n_threads) { c->n_threads = n_threads > 0 ? n_threads : 1; }

teq_status teq_graph_run(const teq_graph *g, const char *path, teq_exec_ctx *c, const teq_tensor *const *inputs,
                         teq_tensor **outputs, teq_error *err) {
    return teq_graph_run_from(g, path, c, 0, NULL, inputs, outputs, err);
}

teq_status teq_graph_run_from(const teq_graph *g, const char *path, teq_exec_ctx *c, int start, const teq_tensor *const *preset,
                              const teq_tensor *const *inputs, teq_tensor **outputs, teq_error *err) {
    teq_status s = check_inputs(g, path, inputs, err);
    if (s) return s;
    int nv = g->n_values;
    teq_tensor *vals = calloc((size_t)nv + 1, sizeof(teq_tensor));
    int *uses = malloc(sizeof(int) * ((size_t)nv + 1));
    char *pinned = calloc((size_t)nv + 1, 1); /* storage not ours to recycle */
    int *view_of = malloc(sizeof(int) * ((size_t)nv + 1)); /* a view's source value (teq_ctx_pass_input), or -1 */
    const teq_tensor **in = NULL;
    teq_tensor **out = NULL;
    teq_tensor dummy = {0};
    int max_io = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].n_in > max_io) max_io = g->nodes[i].n_in;
        if (g->nodes[i].n_out > max_io) max_io = g->nodes[i].n_out;
    }
    in = malloc(sizeof *in * (size_t)max_io);
    out = malloc(sizeof *out * (size_t)max_io);
    teq_error own;
    if (!err) err = &own;
    c->err = err; /* this run's messages go to this run's caller */
    for (int j = 0; j < g->n_outputs; j++) outputs[j] = NULL;
    if (!vals || !uses || !pinned || !in || !out || !view_of) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        uses[v] = g->values[v].n_uses;
        view_of[v] = -1;
        if (g->values[v].constant) {
            vals[v] = *g->values[v].constant;
            vals[v].capacity = 0; /* borrowed */
            pinned[v] = 1;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        vals[g->inputs[i]] = *inputs[i];
        vals[g->inputs[i]].capacity = 0;
        pinned[g->inputs[i]] = 1;
    }
    for (int j = 0; j < g->n_outputs; j++) pinned[g->outputs[j]] = 1;
    /* values the skipped nodes would have produced: borrowed from the caller, never recycled */
    if (preset)
        for (int v = 0; v < nv; v++)
            if (preset[v] && !g->values[v].constant) {
                vals[v] = *preset[v];
                vals[v].capacity = 0;
                pinned[v] = 1;
            }

    for (int i = start > 0 ? start : 0; i < g->n_nodes; i++) {
        const teq_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) in[k] = n->in[k] >= 0 ? &vals[n->in[k]] : NULL;
        for (int k = 0; k < CTX_TAKE; k++) {
            /* uses counts input slots: 1 left means this slot is the value's last (and only) read here */
            int v = k < n->n_in ? n->in[k] : -1;
            c->take[k] = v >= 0 && uses[v] == 1 && !pinned[v] && vals[v].capacity ? &vals[v] : NULL;
        }
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] >= 0) {
                out[k] = &vals[n->out[k]];
            } else {
                out[k] = &dummy; /* an optional output nobody reads: computed, then recycled */
            }
        }
        if (c->hook) {
            s = c->hook(c->hook_user, i, n, in);
            if (s) {
                if (!err->msg[0]) teq_error_set(err, s, "%s: stopped at node '%s'", path, n->name);
                goto done;
            }
        }
        c->view_in = -2;
        if (c->prof) {
            const double t0 = now_s();
            s = teq_ctx_run_node(c, n, in, out);
            c->prof[i] += now_s() - t0;
            if (!s && n->n_out > 0) {
                teq_tensor *ps = &c->prof_shape[i];
                ps->dtype = out[0]->dtype, ps->ndim = out[0]->ndim;
                memcpy(ps->dims, out[0]->dims, sizeof ps->dims);
            }
        } else {
            s = teq_ctx_run_node(c, n, in, out);
        }
        for (int k = 0; k < CTX_TAKE; k++) c->take[k] = NULL;
        const int vk = c->view_in;
        c->view_in = -1;
        if (!s && vk >= 0 && vk < n->n_in && n->in[vk] >= 0 && n->n_out > 0 && n->out[0] >= 0) {
            /* output 0 is a view of input vk: that value keeps one more use until the view's readers are done */
            view_of[n->out[0]] = n->in[vk];
            uses[n->in[vk]]++;
        }
        if (s) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            teq_error_set(err, s, "%s: %s", path, msg);
            if (dummy.capacity) teq_tensor_release(&dummy);
            goto done;
        }
        if (dummy.capacity) pool_put(c, &dummy);
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0 && --uses[v] == 0 && !pinned[v]) {
                pool_put(c, &vals[v]);
                /* a view let go: its source's extra use too (a view of a view: along the chain) */
                for (int src = view_of[v]; src >= 0 && --uses[src] == 0 && !pinned[src]; src = view_of[src])
                    pool_put(c, &vals[src]);
            }
        }
    }
    for (int j = 0; j < g->n_outputs; j++) {
        int v = g->outputs[j];
        teq_tensor *t = calloc(1, sizeof *t);
        if (!t) {
            s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (vals[v].capacity && g->values[v].producer >= 0) {
            /* Move the storage out; another output slot naming the same value copies instead. */
            *t = vals[v];
            vals[v].capacity = 0;
        } else {
            s = teq_tensor_copy(t, &vals[v], err);
            if (s) {
                free(t);
                goto done;
            }
        }
        outputs[j] = t;
    }
done:
    if (s)
        for (int j = 0; j < g->n_outputs; j++) {
            teq_tensor_free(outputs[j]);
            outputs[j] = NULL;
        }
    if (vals)
        for (int v = 0; v < nv; v++)
            if (vals[v].capacity) teq_tensor_release(&vals[v]);
    free(vals);
    free(uses);
    free(pinned);
    free(view_of);
    free(in);
    free(out);
    c->err = &c->own_err;
    return s;
}
