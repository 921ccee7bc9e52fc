/* The public model API: load (ONNX -> IR -> resolved ops -> plan), describe, run. */
#include "../format/teq_format.h"
#include "../onnx/onnx_load.h"
#include "../ops/qlayer.h"
#include "../ops/ops.h"
#include "model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when path starts with the .teq magic (otherwise it is handed to the ONNX loader, whose
 * messages cover unreadable files). */
static bool is_teq_file(const char *path) {
    uint8_t head[8];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return teq_format_sniff(head, n);
}

teq_status teq_model_load(const char *path, teq_model **out, teq_error *err) {
    return teq_model_load_as(path, 0, out, err);
}

teq_status teq_model_load_as(const char *path, unsigned flags, teq_model **out, teq_error *err) {
    *out = NULL;
    teq_error_clear(err);
    teq_model *m = calloc(1, sizeof *m);
    if (!m) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    m->path = teq_strdup(path);
    m->ctx = teq_ctx_new(1, NULL);
    teq_status s = m->path && m->ctx ? TEQ_OK : teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    if (!s) s = is_teq_file(path) ? teq_format_read_file(path, &m->g, err) : teq_onnx_load_file(path, &m->g, err);
    if (!s) s = teq_graph_resolve_ops(m->g, path, err);
    if (!s) s = teq_graph_plan(m->g, path, err);
    /* FP32 Convs onto the FP32 kernel (weights packed once; before the binding, whose fusions see them) */
    if (!s && !(flags & TEQ_LOAD_NO_PACK)) s = teq_ops_pack_fp32(m->g, !(flags & TEQ_LOAD_KEEP_FLOATS), err);
    /* quantized layers of a .teq onto the kernels (nothing to do for an ONNX model) */
    if (!s) s = teq_ops_bind_quantized(m->g, path, err);
    /* weights only as packed codes from here on, unless the float path may be asked for */
    if (!s && teq_kmode_get() != TEQ_KMODE_DEQUANT) teq_ops_release_bound_weights(m->g);
    if (s) {
        teq_model_free(m);
        return s;
    }
    *out = m;
    return TEQ_OK;
}

void teq_model_free(teq_model *m) {
    if (!m) return;
    teq_graph_free(m->g);
    teq_ctx_free(m->ctx);
    free(m->prof);
    free(m->prof_shape);
    free(m->path);
    free(m);
}

void teq_model_set_threads(teq_model *m, int n) { teq_ctx_set_threads(m->ctx, n); }

teq_status teq_model_profile(teq_model *m, int on, teq_error *err) {
    teq_error_clear(err);
    teq_ctx_set_profile(m->ctx, NULL, NULL);
    free(m->prof);
    free(m->prof_shape);
    m->prof = NULL, m->prof_shape = NULL, m->prof_runs = 0;
    if (!on) return TEQ_OK;
    const size_t n = (size_t)m->g->n_nodes + 1;
    m->prof = calloc(n, sizeof *m->prof);
    m->prof_shape = calloc(n, sizeof *m->prof_shape);
    if (!m->prof || !m->prof_shape) {
        free(m->prof);
        free(m->prof_shape);
        m->prof = NULL, m->prof_shape = NULL;
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory for the profile", m->path);
    }
    teq_ctx_set_profile(m->ctx, m->prof, m->prof_shape);
    return TEQ_OK;
}

int teq_model_profile_nodes(const teq_model *m) { return m->prof ? m->g->n_nodes : 0; }

teq_status teq_model_profile_node(const teq_model *m, int i, teq_node_profile *out, teq_error *err) {
    teq_error_clear(err);
    memset(out, 0, sizeof *out);
    if (!m->prof) return teq_error_set(err, TEQ_ERR_ARG, "%s: profiling is off (teq_model_profile)", m->path);
    if (i < 0 || i >= m->g->n_nodes)
        return teq_error_set(err, TEQ_ERR_ARG, "%s: node %d of %d", m->path, i, m->g->n_nodes);
    const teq_node *n = &m->g->nodes[i];
    out->name = n->name;
    out->op_type = n->op_type;
    out->runs = m->prof_runs;
    out->seconds = m->prof[i];
    out->ndim = m->prof_shape[i].ndim;
    memcpy(out->dims, m->prof_shape[i].dims, sizeof out->dims);
    return TEQ_OK;
}

int teq_model_num_inputs(const teq_model *m) { return m->g->n_inputs; }
int teq_model_num_outputs(const teq_model *m) { return m->g->n_outputs; }

static void fill_info(const teq_value *v, teq_io_info *info) {
    memset(info, 0, sizeof *info);
    info->name = v->name;
    info->dtype = v->dtype;
    info->ndim = v->ndim;
    for (int d = 0; d < v->ndim && d < TEQ_MAX_DIMS; d++) {
        info->dims[d] = v->dims[d];
        info->dim_names[d] = v->dim_names[d] ? v->dim_names[d] : "";
    }
}

teq_status teq_model_input_info(const teq_model *m, int i, teq_io_info *info) {
    if (i < 0 || i >= m->g->n_inputs) return TEQ_ERR_ARG;
    fill_info(&m->g->values[m->g->inputs[i]], info);
    return TEQ_OK;
}

teq_status teq_model_output_info(const teq_model *m, int i, teq_io_info *info) {
    if (i < 0 || i >= m->g->n_outputs) return TEQ_ERR_ARG;
    fill_info(&m->g->values[m->g->outputs[i]], info);
    return TEQ_OK;
}

void teq_model_stats_get(const teq_model *m, teq_model_stats *st) {
    memset(st, 0, sizeof *st);
    const teq_graph *g = m->g;
    st->n_nodes = g->n_nodes;
    st->opset = g->opset;
    st->n_op_types = g->n_op_counts;
    for (int v = 0; v < g->n_values; v++) {
        const teq_tensor *t = g->values[v].constant;
        if (!t) continue;
        st->n_constants++;
        if (t->dtype == TEQ_DTYPE_FLOAT || t->dtype == TEQ_DTYPE_DOUBLE) st->n_params += teq_tensor_numel(t);
    }
}

const char *teq_model_metadata(const teq_model *m) { return m->g->meta_json; }

teq_status teq_model_op_type(const teq_model *m, int i, const char **op_type, int64_t *count) {
    if (i < 0 || i >= m->g->n_op_counts) return TEQ_ERR_ARG;
    *op_type = m->g->op_counts[i].op_type;
    *count = m->g->op_counts[i].count;
    return TEQ_OK;
}

teq_status teq_model_run(teq_model *m, int n_inputs, const char *const *names, const teq_tensor *const *inputs,
                         teq_tensor **outputs, teq_error *err) {
    teq_error_clear(err);
    const teq_graph *g = m->g;
    const teq_tensor **bound = calloc((size_t)g->n_inputs + 1, sizeof *bound);
    if (!bound) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    teq_status s = TEQ_OK;
    if (!names) {
        if (n_inputs != g->n_inputs)
            s = teq_error_set(err, TEQ_ERR_ARG, "%s: the model has %d inputs, %d given without names", m->path,
                              g->n_inputs, n_inputs);
        for (int i = 0; !s && i < n_inputs; i++) bound[i] = inputs[i];
    } else {
        for (int i = 0; !s && i < n_inputs; i++) {
            int k = 0;
            while (k < g->n_inputs && strcmp(g->values[g->inputs[k]].name, names[i]) != 0) k++;
            if (k == g->n_inputs) {
                s = teq_error_set(err, TEQ_ERR_ARG, "%s: the model has no input named '%s'", m->path, names[i]);
            } else if (bound[k]) {
                s = teq_error_set(err, TEQ_ERR_ARG, "%s: input '%s' given twice", m->path, names[i]);
            } else {
                bound[k] = inputs[i];
            }
        }
    }
    for (int k = 0; !s && k < g->n_inputs; k++)
        if (!bound[k]) s = teq_error_set(err, TEQ_ERR_ARG, "%s: input '%s' is missing", m->path, g->values[g->inputs[k]].name);
    if (!s) s = teq_graph_run(g, m->path, m->ctx, bound, outputs, err);
    if (!s && m->prof) m->prof_runs++;
    free(bound);
    return s;
}

const char *teq_kernels_name(void) { return teq_kset_best()->name; }
const char *teq_blas_name(void) { return teq_ops_blas_name(); }
