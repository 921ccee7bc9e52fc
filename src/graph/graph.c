/* Graph IR storage: values, nodes, attributes. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

teq_graph *teq_graph_new(void) { return calloc(1, sizeof(teq_graph)); }

void teq_qweight_free(teq_qweight *w) {
    if (!w) return;
    free(w->packed);
    free(w->ch_scale);
    free(w);
}

void teq_qweight_decode(const teq_qweight *w, int ndim, const int64_t *dims, float *out) {
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= dims[d];
    int64_t inner = 1;
    if (w->per_channel)
        for (int d = w->ch_axis + 1; d < ndim; d++) inner *= dims[d];
    uint8_t buf[4096];
    /* Decode in blocks: codes -> values, without a numel-sized code buffer. */
    for (int64_t b = 0; b < numel; b += (int64_t)sizeof buf) {
        int64_t n = numel - b < (int64_t)sizeof buf ? numel - b : (int64_t)sizeof buf;
        /* unpack needs a byte-aligned start: blocks of 4096 codes start at bit 4096*bits*k */
        teq_unpack_bits(w->packed + (size_t)(b / 8) * (size_t)w->q.bits, n, w->q.bits, buf);
        teq_q_dequantize_ch(&w->q, buf, n, b, w->per_channel ? w->ch_scale : NULL, w->n_ch, inner, out + b);
    }
}

void teq_attr_free(teq_attr *a) {
    if (!a) return;
    free(a->name);
    free(a->s);
    teq_tensor_free(a->t);
    free(a->floats);
    free(a->ints);
    if (a->strings)
        for (int64_t i = 0; i < a->n; i++) free(a->strings[i]);
    free(a->strings);
}

void teq_graph_free(teq_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) {
        teq_value *v = &g->values[i];
        free(v->name);
        teq_tensor_free(v->constant);
        teq_qweight_free(v->qweight);
        for (int d = 0; d < TEQ_MAX_DIMS; d++) free(v->dim_names[d]);
    }
    free(g->values);
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->in);
        free(n->out);
        for (int a = 0; a < n->n_attr; a++) teq_attr_free(&n->attr[a]);
        free(n->attr);
        if (n->kern && n->kern_free) n->kern_free(n->kern);
        if (n->fpack && n->fpack_free) n->fpack_free(n->fpack);
    }
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    for (int i = 0; i < g->n_op_counts; i++) free(g->op_counts[i].op_type);
    free(g->op_counts);
    free(g->meta_json);
    free(g);
}

static bool grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return false;
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return true;
}

int teq_graph_add_value(teq_graph *g, const char *name) {
    if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(teq_value))) return -1;
    teq_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = teq_strdup(name);
    if (!v->name) return -1;
    v->ndim = -1;
    v->producer = -1;
    return g->n_values++;
}

int teq_graph_find_value(const teq_graph *g, const char *name) {
    /* Linear scan: loaders keep their own hash when they need one; graphs here have < 10^4 values. */
    for (int i = g->n_values - 1; i >= 0; i--)
        if (strcmp(g->values[i].name, name) == 0) return i;
    return -1;
}

int teq_graph_add_node(teq_graph *g, const char *name, const char *op_type, const char *domain, int opset,
                       int n_in, const int *in, int n_out, const int *out) {
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(teq_node))) return -1;
    teq_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = teq_strdup(name);
    n->op_type = teq_strdup(op_type);
    n->domain = teq_strdup(domain);
    n->in = malloc(sizeof(int) * (size_t)(n_in ? n_in : 1));
    n->out = malloc(sizeof(int) * (size_t)(n_out ? n_out : 1));
    if (!n->name || !n->op_type || !n->domain || !n->in || !n->out) {
        free(n->name), free(n->op_type), free(n->domain), free(n->in), free(n->out);
        return -1;
    }
    n->opset = opset;
    n->n_in = n_in;
    n->n_out = n_out;
    if (n_in) memcpy(n->in, in, sizeof(int) * (size_t)n_in);
    if (n_out) memcpy(n->out, out, sizeof(int) * (size_t)n_out);
    return g->n_nodes++;
}

const teq_attr *teq_node_attr(const teq_node *n, const char *name) {
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0) return &n->attr[i];
    return NULL;
}

int64_t teq_node_attr_int(const teq_node *n, const char *name, int64_t dflt) {
    const teq_attr *a = teq_node_attr(n, name);
    return a && a->type == TEQ_ATTR_INT ? a->i : dflt;
}

float teq_node_attr_float(const teq_node *n, const char *name, float dflt) {
    const teq_attr *a = teq_node_attr(n, name);
    if (a && a->type == TEQ_ATTR_FLOAT) return a->f;
    if (a && a->type == TEQ_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *teq_node_attr_string(const teq_node *n, const char *name, const char *dflt) {
    const teq_attr *a = teq_node_attr(n, name);
    return a && a->type == TEQ_ATTR_STRING && a->s ? a->s : dflt;
}

const int64_t *teq_node_attr_ints(const teq_node *n, const char *name, int64_t *len) {
    const teq_attr *a = teq_node_attr(n, name);
    if (a && a->type == TEQ_ATTR_INTS) {
        *len = a->n;
        return a->ints;
    }
    *len = 0;
    return NULL;
}

const float *teq_node_attr_floats(const teq_node *n, const char *name, int64_t *len) {
    const teq_attr *a = teq_node_attr(n, name);
    if (a && a->type == TEQ_ATTR_FLOATS) {
        *len = a->n;
        return a->floats;
    }
    *len = 0;
    return NULL;
}

void teq_graph_compact(teq_graph *g, const char *keep) {
    const int nn = g->n_nodes, nv = g->n_values;
    int w = 0;
    for (int i = 0; i < nn; i++) {
        if (keep[i]) {
            g->nodes[w++] = g->nodes[i];
        } else {
            teq_node *n = &g->nodes[i];
            free(n->name), free(n->op_type), free(n->domain), free(n->in), free(n->out);
            for (int a = 0; a < n->n_attr; a++) teq_attr_free(&n->attr[a]);
            free(n->attr);
            if (n->kern && n->kern_free) n->kern_free(n->kern);
            if (n->fpack && n->fpack_free) n->fpack_free(n->fpack);
        }
    }
    g->n_nodes = w;
    for (int v = 0; v < nv; v++) {
        g->values[v].n_uses = 0;
        g->values[v].producer = -1;
    }
    for (int i = 0; i < w; i++) {
        teq_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) g->values[n->in[k]].n_uses++;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0) g->values[n->out[k]].producer = i;
    }
    for (int j = 0; j < g->n_outputs; j++) g->values[g->outputs[j]].n_uses++;
}

teq_node *teq_graph_sole_reader(teq_graph *g, int v) {
    if (v < 0 || g->values[v].n_uses != 1) return NULL;
    for (int j = 0; j < g->n_outputs; j++)
        if (g->outputs[j] == v) return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == v) return k == 0 ? &g->nodes[i] : NULL;
    return NULL;
}
