/* teq_export_onnx: a .teq model as a standard-operator ONNX model that computes what
 * `TEQ_KERNEL=dequant teq run` computes (docs/ARCHITECTURE.md, "Exporting to ONNX").
 *
 * Layer: export/ uses format/ (to read the .teq), graph/ (the IR), quant/ (code tables and levels)
 * and the ONNX protobuf-c code generated from Debian's onnx.proto; only the public API calls it.
 *
 * Mapping, node by node (the .teq graph is already planned: constants folded, execution order):
 *   - constants -> initializers (float32 constants as teq decoded them: exponential weights are their
 *     levels times the channel scales, bit for bit). An 8-bit symmetric linear weight (INT8 scheme)
 *     becomes int8 codes + DequantizeLinear (per-channel scale where it has channel scales), the
 *     weight half of a QDQ pair.
 *   - TeqQuantize, exponential code -> a branch-free binary search over teq's own thresholds, in
 *     standard operators (see emit_exp_quant): the same code as teq_q_quantize for every float input.
 *   - TeqQuantize, linear code -> QuantizeLinear + DequantizeLinear (uint8 / int8), with a Clip on the
 *     dequantized value where the code's range is narrower than the integer type's.
 *   - TeqElementwise -> its steps as Add/Sub/Mul/Div/Clip/Relu with scalar constants (same float
 *     operations in the same order).
 *   - Conv with teq's `pad_value` (shifted input codes) -> Pad(constant pad_value) + Conv without pads;
 *     `int_lanes` and `int_lanes_top` (speed hints) are dropped.
 *   - every other node is copied, converted to opset 13 where its form changed since the source
 *     opset (Clip < 11, Slice < 10, Pad < 11, Squeeze/Unsqueeze/ReduceSum/Split < 13, Softmax family
 *     < 13, Dropout); a node whose old form is not converted here is refused by name.
 * The model imports opset max(13, source opset): 13 is the first with per-axis DequantizeLinear. */
#include "teq.h"

#include "../core/fileio.h"
#include "../format/teq_format.h"
#include "../ops/quant_ops.h"
#include "../quant/qint.h"

#include "onnx/onnx.pb-c.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_OPSET 13
/* ONNX IR version 7 goes with opset 13; later opsets need a later IR. */
static int64_t ir_for_opset(int64_t opset) { return opset <= 13 ? 7 : opset <= 15 ? 8 : opset <= 20 ? 9 : 10; }

/* ------------------------------------------------------------------ builder: arena and lists */

typedef struct xb {
    void **blocks; /* every allocation, freed together */
    size_t n_blocks, cap_blocks;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    int64_t counter; /* fresh names */
    int n_exp_quant; /* exponential quantizers emitted (for the mutation hook) */
    bool int8_exact; /* TEQ_EXPORT_INT8=exact: linear codes as thresholds, weights as floats */
    int perturb;     /* TEQ_EXPORT_PERTURB: index of the exponential quantizer to damage, -1 none; the linear
                      * quantizer of that index (counted apart) gets its zero point one step off */
    int n_lin_quant; /* linear quantizers emitted so far (QDQ) */
    teq_status st;   /* sticky: the first failure */
    teq_error *err;
    const char *path;
} xb;

static void *xa(xb *b, size_t n) {
    if (b->st) return NULL;
    if (b->n_blocks == b->cap_blocks) {
        size_t c = b->cap_blocks ? 2 * b->cap_blocks : 1024;
        void **nb = realloc(b->blocks, c * sizeof *nb);
        if (!nb) goto oom;
        b->blocks = nb, b->cap_blocks = c;
    }
    void *p = calloc(1, n ? n : 1);
    if (!p) goto oom;
    b->blocks[b->n_blocks++] = p;
    return p;
oom:
    b->st = teq_error_set(b->err, TEQ_ERR_NOMEM, "%s: out of memory while exporting", b->path);
    return NULL;
}

static char *xstr(xb *b, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xa(b, n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *xfmt(xb *b, const char *fmt, ...) TEQ_PRINTF(2, 3);
static char *xfmt(xb *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return xstr(b, tmp);
}

static bool push(xb *b, void ***arr, size_t *n, size_t *cap, void *item) {
    if (b->st || !item) return false;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        void **na = realloc(*arr, c * sizeof *na);
        if (!na) {
            b->st = teq_error_set(b->err, TEQ_ERR_NOMEM, "%s: out of memory while exporting", b->path);
            return false;
        }
        *arr = na, *cap = c;
    }
    (*arr)[(*n)++] = item;
    return true;
}

static void xb_free(xb *b) {
    for (size_t i = 0; i < b->n_blocks; i++) free(b->blocks[i]);
    free(b->blocks);
    free(b->nodes);
    free(b->inits);
}

/* A name no value of the source graph has: teq's graphs come from paddle2onnx, tf2onnx and PyTorch,
 * none of which writes "teqx:". */
static char *fresh(xb *b, const char *hint) { return xfmt(b, "teqx:%s:%lld", hint, (long long)b->counter++); }

/* ------------------------------------------------------------------ builder: tensors and nodes */

/* An initializer named name holding a copy of nbytes at data (little-endian host: teq only runs on
 * one, see core). */
static const char *add_init(xb *b, const char *name, teq_dtype dt, int ndim, const int64_t *dims, const void *data,
                            size_t nbytes) {
    Onnx__TensorProto *t = xa(b, sizeof *t);
    int64_t *d = xa(b, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    void *raw = xa(b, nbytes);
    if (!t || !d || !raw) return NULL;
    onnx__tensor_proto__init(t);
    t->name = xstr(b, name);
    t->n_dims = (size_t)ndim;
    t->dims = d;
    for (int i = 0; i < ndim; i++) d[i] = dims[i];
    t->has_data_type = 1, t->data_type = (int32_t)dt;
    t->has_raw_data = 1, t->raw_data.len = nbytes, t->raw_data.data = raw;
    if (nbytes) memcpy(raw, data, nbytes);
    if (!push(b, (void ***)&b->inits, &b->n_inits, &b->cap_inits, t)) return NULL;
    return t->name;
}

static const char *c_f32(xb *b, float v) { return add_init(b, fresh(b, "f"), TEQ_DTYPE_FLOAT, 0, NULL, &v, 4); }
static const char *c_i64(xb *b, int64_t v) { return add_init(b, fresh(b, "i"), TEQ_DTYPE_INT64, 0, NULL, &v, 8); }
static const char *c_f32v(xb *b, const float *v, int64_t n) {
    return add_init(b, fresh(b, "fv"), TEQ_DTYPE_FLOAT, 1, &n, v, (size_t)n * 4);
}
static const char *c_i64v(xb *b, const int64_t *v, int64_t n) {
    return add_init(b, fresh(b, "iv"), TEQ_DTYPE_INT64, 1, &n, v, (size_t)n * 8);
}

/* A node; inputs may contain NULL for an absent optional input (written as ""). */
static Onnx__NodeProto *add_node(xb *b, const char *op, const char *name, int nin, const char *const *in, int nout,
                                 const char *const *out) {
    Onnx__NodeProto *n = xa(b, sizeof *n);
    char **ii = xa(b, sizeof(char *) * (size_t)(nin ? nin : 1));
    char **oo = xa(b, sizeof(char *) * (size_t)(nout ? nout : 1));
    if (!n || !ii || !oo) return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < nin; i++) {
        if (!in[i] && !b->st) ii[i] = xstr(b, "");
        else ii[i] = in[i] ? xstr(b, in[i]) : NULL;
    }
    for (int i = 0; i < nout; i++) oo[i] = xstr(b, out[i] ? out[i] : "");
    n->n_input = (size_t)nin, n->input = ii;
    n->n_output = (size_t)nout, n->output = oo;
    n->op_type = xstr(b, op);
    n->name = xstr(b, name ? name : "");
    n->domain = xstr(b, "");
    if (b->st || !push(b, (void ***)&b->nodes, &b->n_nodes, &b->cap_nodes, n)) return NULL;
    return n;
}

/* One-output node with a fresh output name (or out when given); returns the output's name. */
static const char *op1(xb *b, const char *op, const char *out, int nin, const char *const *in) {
    const char *o = out ? out : fresh(b, op);
    if (!o) return NULL;
    return add_node(b, op, fresh(b, op), nin, in, 1, &o) ? o : NULL;
}
static const char *op2(xb *b, const char *op, const char *x, const char *y, const char *out) {
    const char *in[2] = {x, y};
    return op1(b, op, out, 2, in);
}

static Onnx__AttributeProto *new_attr(xb *b, Onnx__NodeProto *n, const char *name) {
    if (!n) return NULL;
    Onnx__AttributeProto *a = xa(b, sizeof *a);
    Onnx__AttributeProto **arr = xa(b, sizeof *arr * (n->n_attribute + 1));
    if (!a || !arr) return NULL;
    onnx__attribute_proto__init(a);
    a->name = xstr(b, name);
    a->has_type = 1;
    for (size_t i = 0; i < n->n_attribute; i++) arr[i] = n->attribute[i];
    arr[n->n_attribute++] = a;
    n->attribute = arr;
    return a;
}

static void attr_int(xb *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = new_attr(b, n, name);
    if (a) a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, a->has_i = 1, a->i = v;
}

/* ------------------------------------------------------------------ copying teq's IR */

static Onnx__TensorProto *tensor_proto(xb *b, const char *name, const teq_tensor *t) {
    size_t es = teq_dtype_size(t->dtype);
    if (!es) {
        b->st = teq_error_set(b->err, TEQ_ERR_UNSUPPORTED, "%s: constant '%s' has a type ONNX export does not take",
                              b->path, name);
        return NULL;
    }
    const char *nm = add_init(b, name, t->dtype, t->ndim, t->dims, t->data, (size_t)teq_tensor_numel(t) * es);
    return nm ? b->inits[b->n_inits - 1] : NULL;
}

static void copy_attr(xb *b, Onnx__NodeProto *n, const teq_attr *s) {
    Onnx__AttributeProto *a = new_attr(b, n, s->name);
    if (!a) return;
    switch (s->type) {
    case TEQ_ATTR_FLOAT: a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, a->has_f = 1, a->f = s->f; break;
    case TEQ_ATTR_INT: a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, a->has_i = 1, a->i = s->i; break;
    case TEQ_ATTR_STRING:
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, a->has_s = 1;
        a->s.data = (uint8_t *)xstr(b, s->s ? s->s : ""), a->s.len = s->s ? strlen(s->s) : 0;
        break;
    case TEQ_ATTR_TENSOR: {
        /* an attribute tensor is not an initializer: build it, then take it back off the list */
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
        a->t = tensor_proto(b, "", s->t);
        if (a->t) b->n_inits--;
        break;
    }
    case TEQ_ATTR_FLOATS:
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS, a->n_floats = (size_t)s->n;
        if ((a->floats = xa(b, 4 * (size_t)s->n)) && s->n) memcpy(a->floats, s->floats, 4 * (size_t)s->n);
        break;
    case TEQ_ATTR_INTS:
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, a->n_ints = (size_t)s->n;
        if ((a->ints = xa(b, 8 * (size_t)s->n)) && s->n) memcpy(a->ints, s->ints, 8 * (size_t)s->n);
        break;
    case TEQ_ATTR_STRINGS:
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS, a->n_strings = (size_t)s->n;
        a->strings = xa(b, sizeof(ProtobufCBinaryData) * (size_t)(s->n ? s->n : 1));
        for (int64_t i = 0; a->strings && i < s->n; i++) {
            const char *v = s->strings[i] ? s->strings[i] : "";
            a->strings[i].data = (uint8_t *)xstr(b, v), a->strings[i].len = strlen(v);
        }
        break;
    }
}

static Onnx__ValueInfoProto *value_info(xb *b, const teq_value *v) {
    Onnx__ValueInfoProto *vi = xa(b, sizeof *vi);
    Onnx__TypeProto *tp = xa(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = xa(b, sizeof *tt);
    if (!vi || !tp || !tt) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    vi->name = xstr(b, v->name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp->tensor_type = tt;
    tt->has_elem_type = 1, tt->elem_type = v->dtype ? (int32_t)v->dtype : (int32_t)TEQ_DTYPE_FLOAT;
    if (v->ndim >= 0) {
        Onnx__TensorShapeProto *sh = xa(b, sizeof *sh);
        Onnx__TensorShapeProto__Dimension **dd = xa(b, sizeof *dd * (size_t)(v->ndim ? v->ndim : 1));
        if (!sh || !dd) return NULL;
        onnx__tensor_shape_proto__init(sh);
        sh->n_dim = (size_t)v->ndim, sh->dim = dd;
        for (int d = 0; d < v->ndim; d++) {
            Onnx__TensorShapeProto__Dimension *dim = xa(b, sizeof *dim);
            if (!dim) return NULL;
            onnx__tensor_shape_proto__dimension__init(dim);
            if (v->dims[d] >= 0) {
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dim->dim_value = v->dims[d];
            } else if (v->dim_names[d]) {
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                dim->dim_param = xstr(b, v->dim_names[d]);
            }
            dd[d] = dim;
        }
        tt->shape = sh;
    }
    return vi;
}

/* ------------------------------------------------------------------ activation quantizers */

/* y = val[idx] with idx = the number of thresholds below m (|x| when signed, then on side x < 0 from P on):
 * teq's branch-free binary search (qsearch_find) in standard operators. thr_flat / val_flat [S = sides*P]. */
static void emit_search(xb *b, const char *x1, int sg, const float *thr_flat, const float *val_flat, int P, int64_t S,
                        const char *y) {
    float *shifted = xa(b, sizeof(float) * (size_t)S);
    if (!shifted) return;
    const char *m = x1, *idx = NULL;
    if (sg) {
        const char *in[1] = {x1};
        m = op1(b, "Abs", NULL, 1, in);
        const char *neg = op2(b, "Less", x1, c_f32(b, 0.0f), NULL);
        const char *w[3] = {neg, c_i64(b, P), c_i64(b, 0)};
        idx = op1(b, "Where", NULL, 3, w);
    }
    for (int s = P / 2; s >= 1; s /= 2) {
        const char *t, *c;
        if (!idx) {
            /* one side, first step: idx is 0 everywhere, the threshold a constant */
            t = c_f32(b, thr_flat[s - 1]);
            c = op2(b, "Greater", m, t, NULL);
            const char *w[3] = {c, c_i64(b, s), c_i64(b, 0)};
            idx = op1(b, "Where", NULL, 3, w);
            continue;
        }
        for (int64_t i = 0; i < S; i++) shifted[i] = i + s - 1 < S ? thr_flat[i + s - 1] : INFINITY;
        t = op2(b, "Gather", c_f32v(b, shifted, S), idx, NULL);
        c = op2(b, "Greater", m, t, NULL);
        const char *w[3] = {c, op2(b, "Add", idx, c_i64(b, s), NULL), idx};
        idx = op1(b, "Where", NULL, 3, w);
    }
    op2(b, "Gather", c_f32v(b, val_flat, S), idx, y);
}

/* Exponential TeqQuantize: y = teq_q_fake(x (+ shift)) with standard operators.
 *
 * teq picks a code by nearest magnitude (src/quant/code.c, qsearch): for the candidate magnitudes mag[K]
 * of the element's side (sign, zero code: quant.h), the index is the number of thresholds thr[j] < |x|,
 * where thr[j] is the largest float32 <= the midpoint of mag[j] and mag[j+1] computed in double. Since
 * |x| and thr[j] are both float32, `|x| > thr[j]` is an exact float32 comparison: ONNX Runtime's
 * Greater on float gives teq's answer for every input (ties go to the lower level in both).
 *
 * Both sides share one flat table of 2P entries (P = the power of two >= K; side 1, x < 0, at P..2P-1;
 * unused thresholds +inf), and the index is found by teq's branch-free binary search:
 *     idx = side * P;  for s = P/2, P/4, ..., 1:  idx += s if |x| > thr[idx + s - 1]
 * one Gather (from a copy of the table shifted by s - 1), Greater, Add and Where per step: log2(P)
 * steps over tensors of x's shape, no [numel x K] intermediate. Then y = Gather(value[2P], idx), the
 * value of each candidate's code in teq's own code table (the zero code is +0, negatives negative).
 * Unsigned codes have one side, and compare x itself (x < 0 and NaN are below every threshold, as in
 * teq, where they become the smallest magnitude). A shift c adds (float)c first, in float32, as teq. */
static void emit_exp_quant(xb *b, const teq_qparams *p, double shift, const char *x, const char *y) {
    float lv[256], table[256], mag[2][257], thr[2][256];
    uint8_t code[2][257];
    int K[2] = {0, 0};
    const int L = teq_qi_exp_levels(p, lv);
    const int nc = 1 << p->bits, E = nc / 2, sg = p->is_signed != 0, zc = p->zero_code != 0;
    teq_q_code_table(p, table);
    /* the candidates of each side, as qplan_init (code.c) lists them */
    if (zc) mag[0][K[0]] = 0, code[0][K[0]++] = (uint8_t)(sg ? E : 0);
    for (int e = 0; e < L; e++) mag[0][K[0]] = lv[e], code[0][K[0]++] = (uint8_t)(sg || !zc ? e : e + 1);
    if (sg) {
        if (!zc)
            for (int e = 0; e < E; e++) mag[1][K[1]] = lv[e], code[1][K[1]++] = (uint8_t)(E + e);
        else {
            mag[1][K[1]] = 0, code[1][K[1]++] = (uint8_t)E;
            for (int e = 1; e < E; e++) mag[1][K[1]] = lv[e], code[1][K[1]++] = (uint8_t)(E + e);
        }
    }
    const int sides = sg ? 2 : 1;
    int P = 1;
    while (P < K[0] || P < K[1]) P *= 2;
    float *thr_flat = xa(b, sizeof(float) * 2 * (size_t)P), *val_flat = xa(b, sizeof(float) * 2 * (size_t)P);
    if (!thr_flat || !val_flat) return;
    for (int s = 0; s < sides; s++) {
        for (int j = 0; j + 1 < K[s]; j++) {
            double mid = 0.5 * ((double)mag[s][j] + (double)mag[s][j + 1]);
            float f = (float)mid;
            /* the float just below when rounding went up */
            thr[s][j] = teq_qi_bitsf(teq_qi_fbits(f) - ((double)f > mid));
        }
        /* mutation hook for the export check (tests/export_compare.mjs): this quantizer's middle threshold
         * moved up to the next candidate, so the band between them rounds down: a wrong export that the
         * check must catch */
        if (b->perturb == b->n_exp_quant && s == 0 && K[s] >= 3) thr[s][(K[s] - 1) / 2] = mag[s][(K[s] - 1) / 2 + 1];
        for (int j = 0; j < P; j++) {
            thr_flat[s * P + j] = j + 1 < K[s] ? thr[s][j] : INFINITY;
            val_flat[s * P + j] = table[code[s][j < K[s] ? j : K[s] - 1]];
        }
    }
    b->n_exp_quant++;
    const int64_t S = (int64_t)sides * P;

    const char *x1 = x;
    if (shift != 0) x1 = op2(b, "Add", x, c_f32(b, (float)shift), NULL);
    emit_search(b, x1, sg, thr_flat, val_flat, P, S, y);
}

/* float -> a key that orders like the float (for bisection over all floats) and back */
static uint32_t fkey(float f) {
    uint32_t u = teq_qi_fbits(f);
    return u >> 31 ? ~u : u | 0x80000000u;
}
static float fkey_inv(uint32_t k) { return teq_qi_bitsf(k >> 31 ? k & 0x7FFFFFFFu : ~k); }

/* TEQ_EXPORT_INT8=exact: a linear activation code as the same threshold search as the exponential ones,
 * with thresholds found by bisection over the floats on teq_q_quantize itself (its double division
 * included), so that the codes are teq's for every finite input; no QuantizeLinear, so no integer kernels
 * in ONNX Runtime. For measuring what the float32 division of QuantizeLinear changes. */
static void emit_linear_exact(xb *b, const teq_qparams *p, const char *x, const char *y) {
    float table[256];
    teq_q_code_table(p, table);
    uint8_t c;
    float v = -FLT_MAX;
    teq_q_quantize(p, &v, 1, &c);
    const int c_lo = c;
    v = FLT_MAX;
    teq_q_quantize(p, &v, 1, &c);
    const int K = c - c_lo + 1;
    int P = 1;
    while (P < K) P *= 2;
    float *thr = xa(b, sizeof(float) * (size_t)P), *val = xa(b, sizeof(float) * (size_t)P);
    if (!thr || !val) return;
    for (int j = 0; j < P; j++) {
        val[j] = table[c_lo + (j < K ? j : K - 1)];
        if (j + 1 >= K) {
            thr[j] = INFINITY;
            continue;
        }
        /* the largest float whose code index is <= j */
        uint32_t lo = fkey(-FLT_MAX), hi = fkey(FLT_MAX);
        while (lo < hi) {
            const uint32_t mid = lo + (hi - lo + 1) / 2;
            v = fkey_inv(mid);
            teq_q_quantize(p, &v, 1, &c);
            if (c - c_lo <= j) lo = mid;
            else hi = mid - 1;
        }
        thr[j] = fkey_inv(lo);
    }
    /* teq quantizes NaN like 0 (quant.h); the search would send it to the lowest code */
    const char *self = op2(b, "Equal", x, x, NULL); /* false only for NaN */
    const char *w[3] = {self, x, c_f32(b, 0.0f)};
    emit_search(b, op1(b, "Where", NULL, 3, w), 0, thr, val, P, P, y);
}

/* Linear TeqQuantize: QuantizeLinear + DequantizeLinear (the activation half of a QDQ pair).
 * A float32 linear code (lin_f32, every code teq's quantizer makes) is defined as these two operators: the
 * same codes and values for every input, NaN aside (teq gives NaN the zero point; ONNX leaves it open).
 * An older double-rule code (q = clamp(round_half_even(x / scale) + zp) with x / scale in double, y =
 * (float)(scale * (q - zp))) differs where x / scale lies within float rounding of a half-integer
 * (docs/DECISIONS.md measures it).
 * Codes narrower than the integer type (bits < 8; signed codes stop at -(2^(n-1)-1)) clip the
 * dequantized value to the code's range, which is where teq's clamp puts those codes. */
static void emit_linear_quant(xb *b, const teq_qparams *p, const char *x, const char *y) {
    const float s = (float)p->scale;
    const int sg = p->is_signed != 0, nc = 1 << p->bits;
    const int zp = sg ? 0 : p->zero_point;
    const int qlo = sg ? -(nc / 2 - 1) : 0, qhi = sg ? nc / 2 - 1 : nc - 1; /* q - zp range: zp added below */
    const bool damage = b->perturb == b->n_lin_quant++; /* the mutation check: the zero point one step off */
    const uint8_t zpu = (uint8_t)(damage ? (zp < 255 ? zp + 1 : zp - 1) : zp);
    const int8_t zps = damage ? 1 : 0;
    const char *zpn = add_init(b, fresh(b, "zp"), sg ? TEQ_DTYPE_INT8 : TEQ_DTYPE_UINT8, 0, NULL,
                               sg ? (const void *)&zps : (const void *)&zpu, 1);
    const char *sn = c_f32(b, s);
    const char *qin[3] = {x, sn, zpn};
    const char *q = op1(b, "QuantizeLinear", NULL, 3, qin);
    const bool narrow = sg ? qlo != -128 : qhi != 255;
    const char *din[3] = {q, sn, zpn};
    if (!narrow) {
        op1(b, "DequantizeLinear", y, 3, din);
        return;
    }
    const char *d = op1(b, "DequantizeLinear", NULL, 3, din);
    /* DequantizeLinear computes (float)(q - zp) * scale: the bounds the same way */
    const float lo = (float)(qlo - (sg ? 0 : zp)) * s, hi = (float)(qhi - (sg ? 0 : zp)) * s;
    const char *cin[3] = {d, c_f32(b, lo), c_f32(b, hi)};
    op1(b, "Clip", y, 3, cin);
}

/* ------------------------------------------------------------------ nodes */

static const char *vname(const teq_graph *g, int id) { return id >= 0 ? g->values[id].name : NULL; }

static teq_status refuse(xb *b, const teq_node *n, const char *why) {
    if (!b->st)
        b->st = teq_error_set(b->err, TEQ_ERR_UNSUPPORTED, "%s: node '%s' (%s, opset %d): %s", b->path, n->name,
                              n->op_type, n->opset, why);
    return b->st;
}

/* Copy node n as is (inputs, outputs, attributes but the ones in skip); extra inputs appended. */
static Onnx__NodeProto *copy_node(xb *b, const teq_graph *g, const teq_node *n, const char *op, const char *const *skip,
                                  int n_extra, const char *const *extra) {
    const char *in[64], *out[16];
    if (n->n_in + n_extra > 64 || n->n_out > 16) {
        refuse(b, n, "too many inputs or outputs");
        return NULL;
    }
    for (int i = 0; i < n->n_in; i++) in[i] = vname(g, n->in[i]);
    for (int i = 0; i < n_extra; i++) in[n->n_in + i] = extra[i];
    for (int i = 0; i < n->n_out; i++) out[i] = vname(g, n->out[i]);
    Onnx__NodeProto *o = add_node(b, op ? op : n->op_type, n->name, n->n_in + n_extra, in, n->n_out, out);
    for (int a = 0; o && a < n->n_attr; a++) {
        bool drop = false;
        for (int k = 0; skip && skip[k]; k++) drop |= !strcmp(n->attr[a].name, skip[k]);
        if (!drop) copy_attr(b, o, &n->attr[a]);
    }
    return o;
}

static const char *ints_const(xb *b, const teq_node *n, const char *attr) {
    int64_t len = 0;
    const int64_t *v = teq_node_attr_ints(n, attr, &len);
    return v ? c_i64v(b, v, len) : NULL;
}

static void emit_elementwise(xb *b, const teq_graph *g, const teq_node *n) {
    int64_t ni = 0, nf = 0;
    const int64_t *iv = teq_node_attr_ints(n, "steps", &ni);
    const float *fv = teq_node_attr_floats(n, "consts", &nf);
    if (!iv || !fv || ni % 3 || ni == 0 || nf != 2 * (ni / 3)) {
        refuse(b, n, "malformed steps/consts");
        return;
    }
    static const char *const ops[] = {NULL, "Add", "Sub", "Mul", "Div", "Clip", "Relu"};
    const char *x = vname(g, n->in[0]), *acc = x;
    const int ns = (int)(ni / 3);
    for (int i = 0; i < ns && !b->st; i++) {
        const int op = (int)iv[3 * i], opnd = (int)iv[3 * i + 1], order = (int)iv[3 * i + 2];
        const char *out = i == ns - 1 ? vname(g, n->out[0]) : NULL;
        if (op < 1 || op > 6) {
            refuse(b, n, "unknown step");
            return;
        }
        if (op == 5) {
            const char *in[3] = {acc, c_f32(b, fv[2 * i]), c_f32(b, fv[2 * i + 1])};
            acc = op1(b, "Clip", out, 3, in);
        } else if (op == 6) {
            acc = op1(b, "Relu", out, 1, &acc);
        } else {
            const char *r = opnd == 2 ? x : c_f32(b, fv[2 * i]);
            acc = order == 0 ? op2(b, ops[op], acc, r, out) : op2(b, ops[op], r, acc, out);
        }
    }
}

static void emit_quantize(xb *b, const teq_graph *g, const teq_node *n) {
    const teq_attr *a = teq_node_attr(n, "qparams");
    teq_qparams p;
    double c = 0;
    char msg[200];
    if (!a || a->type != TEQ_ATTR_TENSOR || teq_qparams_from_tensor_shift(a->t, &p, &c, msg, sizeof msg)) {
        refuse(b, n, "bad qparams");
        return;
    }
    const char *x = vname(g, n->in[0]), *y = vname(g, n->out[0]);
    if (p.kind == TEQ_CODE_EXP) emit_exp_quant(b, &p, c, x, y);
    else if (p.kind == TEQ_CODE_LINEAR && b->int8_exact) emit_linear_exact(b, &p, x, y);
    else if (p.kind == TEQ_CODE_LINEAR) emit_linear_quant(b, &p, x, y);
    else op1(b, "Identity", y, 1, &x);
}

/* Conv with teq's pad_value: pad explicitly with that value, then convolve without padding. */
static void emit_conv(xb *b, const teq_graph *g, const teq_node *n) {
    static const char *const skip[] = {"pad_value", "int_lanes", "int_lanes_top", NULL};
    static const char *const skip_pads[] = {"pad_value", "int_lanes", "int_lanes_top", "pads", NULL};
    const float pv = teq_node_attr_float(n, "pad_value", 0.0f);
    int64_t np = 0;
    const int64_t *pads = teq_node_attr_ints(n, "pads", &np);
    bool any = false;
    for (int64_t i = 0; i < np; i++) any |= pads[i] != 0;
    if (pv == 0 || !any) {
        copy_node(b, g, n, NULL, skip, 0, NULL);
        return;
    }
    const char *ap = teq_node_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") || np % 2 || np > 16) {
        refuse(b, n, "pad_value with auto_pad is not exported");
        return;
    }
    /* ONNX Pad wants [x1_begin, x2_begin, ..., x1_end, ...] over all dims: N and C unpadded */
    const int64_t nsp = np / 2, rank = nsp + 2;
    int64_t pp[20] = {0};
    for (int64_t i = 0; i < nsp; i++) pp[2 + i] = pads[i], pp[rank + 2 + i] = pads[nsp + i];
    const char *pin[3] = {vname(g, n->in[0]), c_i64v(b, pp, 2 * rank), c_f32(b, pv)};
    const char *xp = op1(b, "Pad", NULL, 3, pin);
    const char *in[3] = {xp, n->n_in > 1 ? vname(g, n->in[1]) : NULL, n->n_in > 2 ? vname(g, n->in[2]) : NULL};
    const char *out = vname(g, n->out[0]);
    Onnx__NodeProto *o = add_node(b, "Conv", n->name, n->n_in, in, 1, &out);
    for (int a = 0; o && a < n->n_attr; a++) {
        bool drop = false;
        for (int k = 0; skip_pads[k]; k++) drop |= !strcmp(n->attr[a].name, skip_pads[k]);
        if (!drop) copy_attr(b, o, &n->attr[a]);
    }
}

/* Softmax family before opset 13: x coerced to 2-D at `axis` (default 1). Flatten there, apply over
 * axis 1, and reshape back, which is exactly the old definition at any rank. */
static void emit_softmax_old(xb *b, const teq_graph *g, const teq_node *n) {
    const int64_t axis = teq_node_attr_int(n, "axis", 1);
    const char *x = vname(g, n->in[0]), *y = vname(g, n->out[0]);
    if (axis == -1) {
        /* the last axis: the same in both definitions */
        Onnx__NodeProto *o = add_node(b, n->op_type, n->name, 1, &x, 1, &y);
        attr_int(b, o, "axis", -1);
        return;
    }
    const char *fx = fresh(b, "flat");
    Onnx__NodeProto *f = add_node(b, "Flatten", fresh(b, "Flatten"), 1, &x, 1, &fx);
    attr_int(b, f, "axis", axis);
    const char *sy = fresh(b, "soft");
    Onnx__NodeProto *s = add_node(b, n->op_type, n->name, 1, &fx, 1, &sy);
    attr_int(b, s, "axis", 1);
    const char *shape = op1(b, "Shape", NULL, 1, &x);
    op2(b, "Reshape", sy, shape, y);
}

static void emit_node(xb *b, const teq_graph *g, const teq_node *n) {
    const char *op = n->op_type;
    const int v = n->opset;
    if (n->domain && !strcmp(n->domain, "teq")) {
        if (!strcmp(op, "TeqQuantize")) emit_quantize(b, g, n);
        else if (!strcmp(op, "TeqElementwise")) emit_elementwise(b, g, n);
        else refuse(b, n, "teq operator without an ONNX mapping");
        return;
    }
    if (n->domain && n->domain[0]) {
        refuse(b, n, "operator of a domain other than ONNX's");
        return;
    }
    if (!strcmp(op, "Conv")) {
        emit_conv(b, g, n);
    } else if (!strcmp(op, "Clip") && v < 11) {
        static const char *const skip[] = {"min", "max", NULL};
        const teq_attr *lo = teq_node_attr(n, "min"), *hi = teq_node_attr(n, "max");
        const char *extra[2] = {lo ? c_f32(b, lo->f) : NULL, hi ? c_f32(b, hi->f) : NULL};
        copy_node(b, g, n, NULL, skip, 2, extra);
    } else if ((!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze") || !strcmp(op, "ReduceSum")) && v < 13) {
        static const char *const skip[] = {"axes", NULL};
        const char *axes = ints_const(b, n, "axes");
        copy_node(b, g, n, NULL, skip, axes ? 1 : 0, &axes);
    } else if (!strcmp(op, "Split") && v < 13) {
        static const char *const skip[] = {"split", NULL};
        const char *sp = ints_const(b, n, "split");
        copy_node(b, g, n, NULL, skip, sp ? 1 : 0, &sp);
    } else if (!strcmp(op, "Slice") && v < 10) {
        static const char *const skip[] = {"starts", "ends", "axes", NULL};
        const char *extra[3] = {ints_const(b, n, "starts"), ints_const(b, n, "ends"), ints_const(b, n, "axes")};
        copy_node(b, g, n, NULL, skip, extra[2] ? 3 : 2, extra);
    } else if (!strcmp(op, "Pad") && v < 11) {
        static const char *const skip[] = {"pads", "value", NULL};
        const char *extra[2] = {ints_const(b, n, "pads"), c_f32(b, teq_node_attr_float(n, "value", 0.0f))};
        copy_node(b, g, n, NULL, skip, 2, extra);
    } else if ((!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax")) && v < 13) {
        emit_softmax_old(b, g, n);
    } else if (!strcmp(op, "Dropout")) {
        /* inference: the identity; a mask output someone reads is not exported */
        bool mask_read = false;
        for (int i = 0; n->n_out > 1 && n->out[1] >= 0 && i < g->n_nodes; i++)
            for (int k = 0; k < g->nodes[i].n_in; k++) mask_read |= g->nodes[i].in[k] == n->out[1];
        if (mask_read) refuse(b, n, "Dropout mask is read");
        else {
            const char *x = vname(g, n->in[0]);
            op1(b, "Identity", vname(g, n->out[0]), 1, &x);
        }
    } else if ((!strcmp(op, "Upsample") || (!strcmp(op, "Resize") && v < 11)) ||
               ((!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div")) && v < 7)) {
        refuse(b, n, "this operator's old form is not converted to opset 13");
    } else {
        copy_node(b, g, n, NULL, NULL, 0, NULL);
    }
}

/* ------------------------------------------------------------------ constants */

/* A constant value: an initializer with its float32 data, or (8-bit symmetric linear code: the INT8
 * scheme's weights) int8 codes q = code - 128 and DequantizeLinear with scale (float)(scale * ch_scale[o]):
 * q times it is a float32 linear code's value (quant.h, one rounding). An older double-rule code's value is
 * (float)(scale * q) * ch_scale[o] (two roundings), which may differ in the last bit of a weight. */
static void emit_constant(xb *b, const teq_value *v) {
    const teq_qweight *w = v->qweight;
    const teq_tensor *t = v->constant;
    if (b->int8_exact || !w || w->q.kind != TEQ_CODE_LINEAR || w->q.bits != 8 || !w->q.is_signed ||
        t->dtype != TEQ_DTYPE_FLOAT) {
        tensor_proto(b, v->name, t);
        return;
    }
    const int64_t n = teq_tensor_numel(t);
    uint8_t *codes = xa(b, (size_t)n);
    int8_t *q = xa(b, (size_t)n);
    const int64_t nch = w->per_channel ? w->n_ch : 1;
    float *sc = xa(b, sizeof(float) * (size_t)nch);
    int8_t *zp = xa(b, (size_t)nch);
    if (!codes || !q || !sc || !zp) return;
    teq_unpack_bits(w->packed, n, 8, codes);
    for (int64_t i = 0; i < n; i++) q[i] = (int8_t)((int)codes[i] - 128);
    for (int64_t c = 0; c < nch; c++) sc[c] = (float)(w->q.scale * (w->per_channel ? (double)w->ch_scale[c] : 1.0));
    const char *qn = add_init(b, fresh(b, "w_int8"), TEQ_DTYPE_INT8, t->ndim, t->dims, q, (size_t)n);
    const char *sn = w->per_channel ? c_f32v(b, sc, nch) : c_f32(b, sc[0]);
    const char *zn = w->per_channel ? add_init(b, fresh(b, "w_zp"), TEQ_DTYPE_INT8, 1, &nch, zp, (size_t)nch)
                                    : add_init(b, fresh(b, "w_zp"), TEQ_DTYPE_INT8, 0, NULL, zp, 1);
    const char *in[3] = {qn, sn, zn};
    const char *out = v->name;
    Onnx__NodeProto *d = add_node(b, "DequantizeLinear", fresh(b, "DequantizeLinear"), 3, in, 1, &out);
    if (w->per_channel) attr_int(b, d, "axis", w->ch_axis);
}

/* ------------------------------------------------------------------ the model */

teq_status teq_export_onnx(const char *teq_path, const char *onnx_path, teq_error *err) {
    teq_error_clear(err);
    if (!teq_path || !onnx_path) return teq_error_set(err, TEQ_ERR_ARG, "teq_export_onnx: a path is NULL");
    teq_graph *g = NULL;
    teq_status s = teq_format_read_file(teq_path, &g, err);
    if (s) return s;
    xb b = {0};
    b.err = err, b.path = teq_path, b.perturb = -1;
    const char *pe = getenv("TEQ_EXPORT_PERTURB");
    if (pe && *pe) b.perturb = atoi(pe);
    const char *ie = getenv("TEQ_EXPORT_INT8");
    b.int8_exact = ie && !strcmp(ie, "exact");
    const int64_t opset = g->opset > OUT_OPSET ? g->opset : OUT_OPSET;

    /* constants that a node or the graph reads, in value order (the DequantizeLinear of INT8 weights
     * come first among the nodes, which keeps the node list topologically sorted) */
    char *used = calloc((size_t)g->n_values + 1, 1);
    if (!used) {
        teq_graph_free(g);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory while exporting", teq_path);
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0) used[g->nodes[i].in[k]] = 1;
    for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_values && !b.st; i++)
        if (used[i] && g->values[i].constant) emit_constant(&b, &g->values[i]);
    free(used);
    for (int i = 0; i < g->n_nodes && !b.st; i++) emit_node(&b, g, &g->nodes[i]);

    /* TEQ_EXPORT_PROBE=1 (for measuring, never for a model to keep): every quantizer's output becomes a
     * graph output too, so that ONNX Runtime's codes can be compared with teq's layer by layer */
    const char *probe = getenv("TEQ_EXPORT_PROBE");
    int n_out = g->n_outputs;
    int *out_ids = malloc(sizeof(int) * (size_t)(g->n_outputs + g->n_nodes + 1));
    if (!out_ids && !b.st) b.st = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory while exporting", teq_path);
    for (int i = 0; out_ids && i < g->n_outputs; i++) out_ids[i] = g->outputs[i];
    for (int i = 0; out_ids && probe && *probe == '1' && i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, "TeqQuantize")) out_ids[n_out++] = g->nodes[i].out[0];
    Onnx__ValueInfoProto **ins = xa(&b, sizeof *ins * (size_t)(g->n_inputs + 1));
    Onnx__ValueInfoProto **outs = xa(&b, sizeof *outs * (size_t)(n_out + 1));
    for (int i = 0; ins && i < g->n_inputs; i++) ins[i] = value_info(&b, &g->values[g->inputs[i]]);
    for (int i = 0; outs && out_ids && i < n_out; i++) {
        teq_value v = g->values[out_ids[i]];
        if (i >= g->n_outputs) v.ndim = -1, v.dtype = TEQ_DTYPE_FLOAT;
        outs[i] = value_info(&b, &v);
    }
    free(out_ids);

    Onnx__GraphProto gp;
    Onnx__ModelProto mp;
    Onnx__OperatorSetIdProto os;
    Onnx__OperatorSetIdProto *osp = &os;
    onnx__graph_proto__init(&gp);
    onnx__model_proto__init(&mp);
    onnx__operator_set_id_proto__init(&os);
    os.domain = "", os.has_version = 1, os.version = opset;
    gp.name = "teq_export";
    gp.n_node = b.n_nodes, gp.node = b.nodes;
    gp.n_initializer = b.n_inits, gp.initializer = b.inits;
    gp.n_input = (size_t)g->n_inputs, gp.input = ins;
    gp.n_output = (size_t)n_out, gp.output = outs;
    mp.has_ir_version = 1, mp.ir_version = ir_for_opset(opset);
    mp.n_opset_import = 1, mp.opset_import = &osp;
    mp.producer_name = "teq", mp.producer_version = TEQ_VERSION_STRING;
    mp.graph = &gp;

    if (!b.st) {
        const size_t len = onnx__model_proto__get_packed_size(&mp);
        uint8_t *buf = len < ((size_t)2 << 30) ? malloc(len ? len : 1) : NULL;
        if (!buf)
            b.st = teq_error_set(err, len < ((size_t)2 << 30) ? TEQ_ERR_NOMEM : TEQ_ERR_UNSUPPORTED,
                                 "%s: the ONNX model would take %zu bytes (protobuf's limit is 2 GiB)", onnx_path, len);
        else {
            onnx__model_proto__pack(&mp, buf);
            teq_file_out fo;
            if (!(b.st = teq_file_out_open(&fo, onnx_path, err))) {
                if ((b.st = teq_file_out_write(&fo, buf, len, err))) teq_file_out_abort(&fo);
                else b.st = teq_file_out_commit(&fo, err);
            }
            free(buf);
        }
    }
    s = b.st;
    xb_free(&b);
    teq_graph_free(g);
    return s;
}
