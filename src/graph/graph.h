/* The graph IR: what the ONNX loader produces (and later the .teq reader), what the planner
 * folds and orders, and what the executor runs. It knows nothing of protobuf.
 *
 * Values are numbered 0..n_values-1; nodes name their inputs and outputs by value id.
 * An absent optional input or output is id -1. */
#ifndef TEQ_GRAPH_H
#define TEQ_GRAPH_H

#include "../core/core.h"
#include "../quant/quant.h"

typedef enum teq_attr_type {
    TEQ_ATTR_FLOAT = 1,
    TEQ_ATTR_INT = 2,
    TEQ_ATTR_STRING = 3,
    TEQ_ATTR_TENSOR = 4,
    TEQ_ATTR_FLOATS = 6,
    TEQ_ATTR_INTS = 7,
    TEQ_ATTR_STRINGS = 8,
} teq_attr_type; /* numbers follow ONNX AttributeProto.AttributeType */

typedef struct teq_attr {
    char *name;
    teq_attr_type type;
    float f;
    int64_t i;
    char *s;          /* STRING (NUL-terminated; ONNX strings used as attributes are text) */
    teq_tensor *t;    /* TENSOR */
    int64_t n;        /* element count of floats / ints / strings */
    float *floats;
    int64_t *ints;
    char **strings;
} teq_attr;

struct teq_op;

typedef struct teq_node {
    char *name;    /* may be "" in the file; the loader makes it unique and non-empty */
    char *op_type;
    char *domain;  /* "" for the default ONNX domain */
    int opset;     /* opset version of the node's domain, for version-dependent semantics */
    int n_in, n_out;
    int *in;       /* value ids, -1 = absent optional input */
    int *out;      /* value ids, -1 = absent optional output */
    int n_attr;
    teq_attr *attr;
    const struct teq_op *op; /* resolved by teq_graph_resolve_ops */
    /* Data an operator prepared for this node once, before any run (the kernel layout of a quantized
     * layer's weights, a prepared activation quantizer), freed with kern_free; NULL when none. Only the
     * node's own operator reads it, so its type is that operator's business. */
    void *kern;
    void (*kern_free)(void *kern);
    /* An FP32 Conv with constant weights: the weights packed once for the FP32 convolution kernel, and the
     * elementwise chain fused after it (ops/qlayer.h, teq_fconv); NULL when none. Freed with fpack_free. */
    void *fpack;
    void (*fpack_free)(void *fpack);
    /* With the fast kernels, this node's output is its input unchanged (teq_ops_bind_quantized):
     * TeqQuantize: every reader of its output quantizes that input itself to the same codes (INT8 products);
     * TeqElementwise: the INT8 convolution in front applied its steps to its own output already. */
    bool pass_fast;
    /* With the fast kernels, an Add, Mul or Concat whose output only a pass-through TeqQuantize reads, whose
     * readers all take INT8 codes: that quantizer (a const struct teq_kq *, set by ops/qlayer.c), and the node
     * writes its output as those codes instead of floats; NULL otherwise. Not owned. */
    const void *codes_out;
} teq_node;

/* A quantized constant (weights): its code and its packed codes. The value's float constant holds
 * exactly dequantize(unpack(packed)), so any operator can read it; kernels that work on codes
 * read these. */
typedef struct teq_qweight {
    teq_qparams q;
    uint8_t *packed;      /* teq_packed_bytes(numel, q.bits) bytes, codes of the constant in C order */
    size_t packed_bytes;
    /* Per-channel scales: when per_channel, element i of the constant is
     * ch_scale[(i / inner) % n_ch] * decode(code_i), with n_ch = dims[ch_axis] and inner the product
     * of the dims after ch_axis (a float32 linear code: (q - zp) * (float)(scale * ch_scale), quant.h's
     * teq_q_dequantize_ch). One code (base, alpha, beta) serves the whole tensor; only the
     * output channel's scale differs, which a dot product applies once per output. */
    int per_channel;
    int ch_axis;
    int64_t n_ch;
    float *ch_scale;      /* n_ch values, finite and > 0 */
} teq_qweight;
/* Decode a quantized constant into out (numel floats): codes through the code table, then the
 * per-channel scales. */
void teq_qweight_decode(const teq_qweight *w, int ndim, const int64_t *dims, float *out);
void teq_qweight_free(teq_qweight *w);

typedef struct teq_value {
    char *name;
    teq_tensor *constant; /* non-NULL for initializers, Constant outputs and folded values */
    teq_qweight *qweight; /* non-NULL when constant is quantized (see teq_qweight) */
    /* Declared type and shape (graph inputs/outputs/value_info); ndim -1 when not declared. */
    teq_dtype dtype;
    int ndim;
    int64_t dims[TEQ_MAX_DIMS];      /* -1 for a dynamic dim */
    char *dim_names[TEQ_MAX_DIMS];   /* symbolic name of a dynamic dim, or NULL */
    int producer;  /* node index, -1 for graph inputs and constants */
    int n_uses;    /* number of node input slots that read this value (+1 per graph output) */
} teq_value;

typedef struct teq_op_count {
    char *op_type;
    int64_t count;
} teq_op_count;

typedef struct teq_graph {
    int n_values, cap_values;
    teq_value *values;
    int n_nodes, cap_nodes;
    teq_node *nodes;       /* after teq_graph_plan: in execution order */
    int n_inputs;
    int *inputs;           /* value ids of real graph inputs (initializers excluded) */
    int n_outputs;
    int *outputs;
    int64_t opset;         /* default domain */
    /* Operator counts of the file as loaded (before folding), for `teq inspect`. */
    int n_op_counts;
    teq_op_count *op_counts;
    /* Free-form JSON text kept with a quantized model (the quantizer's report), or NULL. */
    char *meta_json;
} teq_graph;

teq_graph *teq_graph_new(void);
void teq_graph_free(teq_graph *g);

/* Append a value / node; return its index or -1 when out of memory. The graph takes no
 * ownership of the strings passed: it copies them. */
int teq_graph_add_value(teq_graph *g, const char *name);
int teq_graph_find_value(const teq_graph *g, const char *name); /* -1 when absent */
int teq_graph_add_node(teq_graph *g, const char *name, const char *op_type, const char *domain, int opset,
                       int n_in, const int *in, int n_out, const int *out);
/* Attribute storage for a node: attr must be allocated with malloc; the graph owns it after. */
void teq_attr_free(teq_attr *a);

/* Attribute lookups by name; return the default when absent. */
const teq_attr *teq_node_attr(const teq_node *n, const char *name);
int64_t teq_node_attr_int(const teq_node *n, const char *name, int64_t dflt);
float teq_node_attr_float(const teq_node *n, const char *name, float dflt);
const char *teq_node_attr_string(const teq_node *n, const char *name, const char *dflt);
/* Pointer to the INTS array and its length in *len; NULL (and *len = 0) when absent. */
const int64_t *teq_node_attr_ints(const teq_node *n, const char *name, int64_t *len);
const float *teq_node_attr_floats(const teq_node *n, const char *name, int64_t *len);

/* Look every node's operator up in the op table; refuse the first unsupported one with a message
 * naming it. */
teq_status teq_graph_resolve_ops(teq_graph *g, const char *path, teq_error *err);
/* Topological order (refusing cycles and values read before they are produced), use counts, and
 * folding of every node whose inputs are all constant. */
teq_status teq_graph_plan(teq_graph *g, const char *path, teq_error *err);
/* Drop the nodes with keep[i] == 0 (freeing what they own; the others keep their order) and recount
 * every value's uses and producer. */
void teq_graph_compact(teq_graph *g, const char *keep);
/* The only reader of value v, when it reads v at its input 0, or NULL (none, several, another input, or v
 * a graph output). Uses the counts of the last plan or compaction. */
teq_node *teq_graph_sole_reader(teq_graph *g, int v);

#endif
