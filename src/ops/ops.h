/* The operator interface. An operator is a row in a table (name + run function); the executor
 * finds it by ONNX op_type and calls run with the node's input and output tensors.
 *
 * run() computes the output shapes from the inputs, then gets storage for each output with
 * teq_ctx_alloc (the executor reuses freed buffers). Inputs are never modified. Absent optional
 * inputs are NULL. Errors go through teq_op_fail, which names the node. */
#ifndef TEQ_OPS_H
#define TEQ_OPS_H

#include "../graph/graph.h"

#include <math.h>

typedef struct teq_exec_ctx teq_exec_ctx;

/* TEQ_CLONES (core.h): the AVX2+FMA clones of hot loops */

typedef teq_status (*teq_op_run_fn)(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                    teq_tensor *const *out);

typedef struct teq_op {
    const char *name;      /* ONNX op_type, default domain */
    teq_op_run_fn run;
    int min_inputs;        /* fewer present inputs is a model error */
} teq_op;

/* The tables, each ending with a {NULL} row. One per source file group. */
extern const teq_op teq_ops_nn[];          /* ops/nn.c: Conv, ConvTranspose, Gemm, MatMul, pools, norms */
extern const teq_op teq_ops_elementwise[]; /* ops/elementwise.c: arithmetic, activations, reductions */
extern const teq_op teq_ops_shape[];       /* ops/shape.c: Shape, Reshape, Transpose, Concat, Slice, ... */
extern const teq_op teq_ops_quant[];       /* ops/quant_ops.c: TeqQuantize ("teq"), Quantize/DequantizeLinear */
/* ops/blas.c: the BLAS's kernels, as teq_blas_name gives them (OpenBLAS's choice checked at load). */
const char *teq_ops_blas_name(void);
extern const teq_op teq_ops_fused[];       /* ops/fuse.c: TeqElementwise (fused elementwise chains) */

/* Planning pass (ops/fuse.c): replace each chain of float32 elementwise nodes with scalar-constant operands
 * (HardSwish's Add -> Clip -> Div -> Mul) by one TeqElementwise node computing the same values bit for bit.
 * keep[i] marks the nodes still to run; the chain's inner nodes are left unread, for dead-node removal. */
teq_status teq_ops_fuse_elementwise(teq_graph *g, const char *keep);

/* a step's operation, operand and order (the TeqElementwise node form, fuse.c) */
enum { TEQ_EOP_ADD = 1, TEQ_EOP_SUB = 2, TEQ_EOP_MUL = 3, TEQ_EOP_DIV = 4, TEQ_EOP_CLIP = 5, TEQ_EOP_RELU = 6 };
enum { TEQ_EOPND_NONE = 0, TEQ_EOPND_CONST = 1, TEQ_EOPND_ROOT = 2 };

/* The steps of a run of elementwise nodes, each reading the one before (the first reads a convolution's
 * output), for convolutions that apply them to their own output while it is in cache (qlayer.h).
 * teq_echain_add: append node's steps as the next link; false (c unchanged) when node is not a well-formed
 * TeqElementwise, a Relu, a Clip with constant bounds, or an inference BatchNormalization over `channels`
 * channels (a per-channel link), or the chain is full. teq_echain_apply: y = chain(y) in place, link by
 * link, the same bits as the nodes compute (serial; callers split); y holds consecutive planes of `plane`
 * values, the first of channel ch0 (channels count on modulo the chain's). teq_echain_free: the chain and
 * what its links own. */
typedef struct teq_estep {
    int op, opnd, order;
    float c, lo, hi;
} teq_estep;
enum { TEQ_ECHAIN_MAX = 16, TEQ_ECHAIN_LINKS = 4 };
typedef struct teq_echain {
    int nlinks;
    unsigned root_links; /* bit l: a step of link l reads the link's root x (so it cannot run in place on y) */
    int ns[TEQ_ECHAIN_LINKS];
    teq_estep st[TEQ_ECHAIN_LINKS][TEQ_ECHAIN_MAX];
    /* a per-channel link (ns 0): y = fl(fl(y * chan[c]) + chan[C + c]) for channel c (teq_bn_affine's
     * coefficients), owned; NULL for a link of steps */
    float *chan[TEQ_ECHAIN_LINKS];
    int64_t C;
} teq_echain;
/* rank: the producer's output rank (its channels on axis 1), for a per-channel Add's broadcast */
bool teq_echain_add(const teq_graph *g, const teq_node *node, teq_echain *c, int64_t channels, int rank);
void teq_echain_apply(const teq_echain *c, float *y, int64_t n, int64_t plane, int64_t ch0);
void teq_echain_free(teq_echain *c);
/* For tests: which one-pass form a link's steps take (0: none, step by step; else its step count), and the
 * link on x[0 .. n) into y (not aliased), in that form or (stepwise) step by step; the two must agree bit for
 * bit. */
int teq_echain_link_form(const teq_estep *st, int ns);
void teq_echain_link_run(const teq_estep *st, int ns, const float *x, float *y, int64_t n, bool stepwise);
/* The chain over rows of a block, Y[m * ldy + j] for m < M, j < nb (nb <= 1024), row m being channel m:
 * rows gathered into runs of up to 1024 floats, one pass of the steps per run (per short row, the steps'
 * loop overhead cost as much as the pass over memory a fusion saves). codes: not NULL, the results go
 * there as q's codes, row m at codes + m * ldc (teq_kq_codes; q is a const struct teq_kq *), and Y is
 * left as it was. */
void teq_echain_rows(const teq_echain *c, float *Y, int64_t ldy, int64_t M, int64_t nb, const void *q, uint8_t *codes,
                     int64_t ldc);
/* Fusions into an Add, in the fast mode: qlayer.c's fast passes set node->kern to a teq_add_fuse (kern_free
 * teq_add_fuse_free, by which it is known):
 * - relu: its output is read only by a Relu, which passes its input on; the Add applies Relu's expression to
 *   its float output itself (in the same pass where both inputs have the output's shape);
 * - zp = k + 1: its input k comes from a Concat of a value A and a float constant of +0.0 along axis 1, read
 *   by this Add alone (BlazeFace widens its shortcuts so). That Concat (node->kern &teq_concat_zpad_mark)
 *   hands A on unchanged, and the Add, given A where the Concat's output was, adds +0.0 (as given) to the
 *   other input's channels past A's: the same IEEE sums (x + 0 turns -0 into +0, as the Concat's zeros did),
 *   without the widened copy. Where the other input does not have the Concat's shape (it broadcasts), the
 *   Add makes the Concat's output itself (cz zero channels after A's) and adds as usual. */
typedef struct teq_add_fuse {
    int relu;
    int zp;
    int64_t cz;
} teq_add_fuse;
void teq_add_fuse_free(void *p);
bool teq_is_add_fuse(const teq_node *node);
const teq_add_fuse *teq_add_fuse_of(const teq_node *node); /* NULL unless so marked and in the fast mode */
bool teq_add_relu(const teq_node *node);
extern const char teq_concat_zpad_mark;
/* An Add that is a per-channel link of a chain fused into the convolution in front (qlayer.c fast_passes):
 * node->kern is &teq_add_link_mark[k], k the slot of its non-constant input, which it passes on in the fast
 * mode (teq_passes_input); teq_add_link_slot: that k, or -1 */
extern const char teq_add_link_mark[2];
int teq_add_link_slot(const teq_node *node);
bool teq_concat_zpad(const teq_node *node);
/* Whether a node of a fused chain hands its input x on unchanged: in the fast mode the operator in
 * front applied the node already (qlayer.c's fast passes set node->pass_fast), and may have written x as
 * the next layer's codes (uint8). */
bool teq_passes_input(const teq_node *node, const teq_tensor *x);
/* Inference BatchNormalization of one channel as y = x * a + sh: the coefficients, computed in float
 * exactly as op_batchnorm computes them (one definition, so a fused link gives the node's bits). */
static inline void teq_bn_affine(float scale, float bias, float mean, float var, float eps, float *a, float *sh) {
    const float t = scale / sqrtf(var + eps);
    *a = t;
    *sh = bias - mean * t;
}

const teq_op *teq_op_find(const char *op_type);
/* Call fn(name) for every supported operator (for listings and the conformance runner). */
void teq_op_foreach(void (*fn)(const char *name, void *user), void *user);

/* ---- what an operator may ask of the executor ---- */

/* Give out[i] storage for dtype x dims. Fails with TEQ_ERR_NOMEM (message recorded) on overflow. */
teq_status teq_ctx_alloc(teq_exec_ctx *ctx, teq_tensor *t, teq_dtype dtype, int ndim, const int64_t *dims);
/* Move input k's storage into *out unchanged (out takes the data, shape and type; the input slot keeps
 * its view but no longer owns it), when this node is its last reader and the executor owns it (not a
 * graph input, output, constant or preset). Returns false, changing nothing, otherwise. For an op
 * whose output equals its input (a pass-through): no copy. */
bool teq_ctx_take_input(teq_exec_ctx *ctx, int k, teq_tensor *out);
/* out = input k (x) unchanged: its storage when teq_ctx_take_input may take it; else, inside a graph run, a
 * view of it (out borrows x's storage and the executor keeps x alive until the view's readers are done);
 * else a copy (new storage of x's type and shape). For the pass-throughs of the fast mode (teq_node.pass_fast). */
teq_status teq_ctx_pass_input(teq_exec_ctx *ctx, int k, const teq_tensor *x, teq_tensor *out);
/* Scratch memory valid until the op returns (im2col buffers, ...); NULL when out of memory. */
void *teq_ctx_scratch(teq_exec_ctx *ctx, size_t bytes);
/* Independent scratch buffers (slot 0 is teq_ctx_scratch's): an op that needs two at once (decoded
 * weights beside an im2col buffer) takes a different slot for each. */
#define TEQ_CTX_SCRATCH_SLOTS 3
void *teq_ctx_scratch_slot(teq_exec_ctx *ctx, int slot, size_t bytes);
/* Number of threads the op may use. */
int teq_ctx_threads(const teq_exec_ctx *ctx);
/* Record "node NAME (OP): message" and return status. */
teq_status teq_op_fail(teq_exec_ctx *ctx, const teq_node *node, teq_status status, const char *fmt, ...)
    TEQ_PRINTF(4, 5);

/* Run a single node outside any model (constant folding, tests). ctx may be made with
 * teq_ctx_new and freed with teq_ctx_free. */
teq_exec_ctx *teq_ctx_new(int n_threads, teq_error *err);
void teq_ctx_free(teq_exec_ctx *ctx);
/* Run node with the given inputs (n_in of them, NULL for absent) into freshly allocated outputs
 * (out[i] must point at empty tensors owned by the caller). */
teq_status teq_ctx_run_node(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in, teq_tensor *const *out);

/* Broadcasting helper shared by elementwise ops: the numpy-style result shape of a and b. */
teq_status teq_broadcast_shape(int na, const int64_t *da, int nb, const int64_t *db, int *nout, int64_t *dout);

#endif
