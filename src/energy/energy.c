/* teq energy: operation counts, traffic and energy of the exponential datapath against an INT8
 * multiply-accumulate datapath, layer by layer (METHOD sections 5 and 6).
 *
 * How the counts are obtained. The model runs once per sample with an executor hook. At each
 * quantized dot-product layer the hook sees the layer's real inputs: the activation is the output
 * of its TeqQuantize node (dequantized codes, so an exact 0 is the zero code) and the weight is the
 * decoded constant. The hook then runs the layer's own operator twice more on 0/1 tensors:
 *   all ones              -> each output holds the number of taps whose input lies inside the
 *                            tensor (padding excluded): the multiply-accumulates a datapath that
 *                            skips padding performs, and per output the counter range;
 *   (x != 0) and (w != 0) -> each output holds the number of element pairs with neither operand
 *                            zero: what the exponential datapath does after skipping zeros.
 * Reusing the operator keeps every geometry rule (pads, auto_pad, strides, dilations, groups,
 * ConvTranspose cropping, Gemm transposes, MatMul broadcasting) in one place, ops/nn.c; sums of 0/1
 * products are exact in float32 up to 2^24 per output, far above any layer's K here.
 *
 * The energy model itself (which operation each count costs, widths, traffic) is in finish_layer
 * and is stated, with numbers, in the report's assumptions; docs/DECISIONS.md says why. */
#include "teq.h"
#include "../api/model_internal.h"
#include "../core/fileio.h"
#include "../core/json.h"
#include "../ops/quant_ops.h"
#include "../quant/quant.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the table */

/* The one place the default energies live. Horowitz, "Computing's energy problem (and what we can
 * do about it)", ISSCC 2014, 45 nm, as quoted in METHOD section 6. DRAM: the low end of the quoted
 * 1.3-2.6 nJ per 64 bits, which is the conservative end for teq (its narrower codes save DRAM
 * traffic, so a cheaper DRAM makes that saving smaller). */
typedef struct table_row {
    const char *name;
    size_t off;
    double dflt;
    const char *what;
} table_row;

static const table_row TABLE[] = {
    {"int_add_8", offsetof(teq_energy_table, int_add_8), 0.03, "8-bit integer add"},
    {"int_add_32", offsetof(teq_energy_table, int_add_32), 0.1, "32-bit integer add"},
    {"int_mul_8", offsetof(teq_energy_table, int_mul_8), 0.2, "8-bit integer multiply"},
    {"int_mul_32", offsetof(teq_energy_table, int_mul_32), 3.1, "32-bit integer multiply"},
    {"fp_add_32", offsetof(teq_energy_table, fp_add_32), 0.9, "float32 add"},
    {"fp_mul_32", offsetof(teq_energy_table, fp_mul_32), 3.7, "float32 multiply"},
    {"sram_64b", offsetof(teq_energy_table, sram_64b), 10.0, "64-bit read/write of an 8 KB on-chip SRAM"},
    {"dram_64b", offsetof(teq_energy_table, dram_64b), 1300.0, "64-bit DRAM access (1.3-2.6 nJ quoted; low end)"},
};
#define N_TABLE ((int)(sizeof TABLE / sizeof TABLE[0]))

static double *tfield(teq_energy_table *t, int i) { return (double *)((char *)t + TABLE[i].off); }
static double tget(const teq_energy_table *t, int i) { return *(const double *)((const char *)t + TABLE[i].off); }

void teq_energy_table_default(teq_energy_table *t) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < N_TABLE; i++) *tfield(t, i) = TABLE[i].dflt;
    snprintf(t->source, sizeof t->source,
             "Horowitz, ISSCC 2014, 45 nm (METHOD section 6); DRAM at the low end of 1.3-2.6 nJ per 64 bits");
}

teq_status teq_energy_table_read(const char *path, teq_energy_table *t, teq_error *err) {
    unsigned char *buf = NULL;
    size_t len = 0;
    teq_status s = teq_file_read_all(path, 1 << 20, &buf, &len, err);
    if (s) return s;
    teq_energy_table out;
    memset(&out, 0, sizeof out);
    int seen[N_TABLE] = {0};
    int line = 0;
    size_t pos = 0;
    while (pos < len && !s) {
        line++;
        size_t end = pos;
        while (end < len && buf[end] != '\n') end++;
        char text[256];
        size_t n = end - pos;
        if (n >= sizeof text) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s:%d: line too long", path, line);
            break;
        }
        memcpy(text, buf + pos, n);
        text[n] = 0;
        pos = end + 1;
        for (size_t k = 0; k < n; k++)
            if (text[k] == '#' || text[k] == '\r') text[k] = 0;
            else if (text[k] == 0 || (!isprint((unsigned char)text[k]) && text[k] != '\t')) {
                s = teq_error_set(err, TEQ_ERR_FORMAT, "%s:%d: not a text line", path, line);
                break;
            }
        if (s) break;
        char name[64], value[64], extra[8];
        int got = sscanf(text, "%63s %63s %7s", name, value, extra);
        if (got <= 0) continue; /* blank or comment */
        if (got != 2) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s:%d: expected `name value_pj`", path, line);
            break;
        }
        int k = 0;
        while (k < N_TABLE && strcmp(TABLE[k].name, name) != 0) k++;
        if (k == N_TABLE) {
            s = teq_error_set(err, TEQ_ERR_FORMAT,
                              "%s:%d: unknown entry '%s' (entries: int_add_8 int_add_32 int_mul_8 int_mul_32 "
                              "fp_add_32 fp_mul_32 sram_64b dram_64b)",
                              path, line, name);
            break;
        }
        if (seen[k]) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s:%d: entry '%s' given twice", path, line, name);
            break;
        }
        char *e;
        errno = 0;
        double v = strtod(value, &e);
        if (*e || errno || !isfinite(v) || v < 0) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s:%d: '%s' is not an energy in pJ (a finite number >= 0)", path,
                              line, value);
            break;
        }
        seen[k] = 1;
        *tfield(&out, k) = v;
    }
    free(buf);
    if (s) return s;
    for (int k = 0; k < N_TABLE; k++)
        if (!seen[k])
            return teq_error_set(err, TEQ_ERR_FORMAT, "%s: entry '%s' missing (a table gives all %d entries)", path,
                                 TABLE[k].name, N_TABLE);
    snprintf(out.source, sizeof out.source, "table file %s", path);
    *t = out;
    return TEQ_OK;
}

/* Energy of an n-bit integer add: linear in n through the table's 8- and 32-bit points (a ripple
 * adder's energy grows with its width), proportional to n below 8 bits and above 32. */
static double e_add(const teq_energy_table *t, int n) {
    if (n <= 8) return t->int_add_8 * n / 8.0;
    if (n <= 32) return t->int_add_8 + (t->int_add_32 - t->int_add_8) * (n - 8) / 24.0;
    return t->int_add_32 * n / 32.0;
}

/* Energy of an n x n-bit integer multiply: linear in n^2 through the 8- and 32-bit points (an array
 * multiplier has n^2 cells; Horowitz's 0.2 and 3.1 pJ are 15.5x apart for 16x the cells). */
static double e_mul(const teq_energy_table *t, int n) {
    if (n <= 8) return t->int_mul_8 * (n * n) / 64.0;
    if (n <= 32) return t->int_mul_8 + (t->int_mul_32 - t->int_mul_8) * (n * n - 64) / 960.0;
    return t->int_mul_32 * (n * n) / 1024.0;
}

/* Bits to write the unsigned value v (at least 1). */
static int bits_for(int64_t v) {
    int b = 1;
    while (b < 62 && (v >> b) != 0) b++;
    return b;
}

/* ---------------------------------------------------------------- layers */

typedef struct elayer {
    int node;                 /* index in plan order */
    int slot_w, slot_a;       /* "W": the constant (or the second activation, as the quantizer names it) */
    int w_is_weight;
    teq_qparams qw, qa;
    double shift;             /* the activation's shift c (quant_ops.h), 0 for none */
    int64_t w_scales;         /* per-channel scale count of the weight (1: per tensor) */
    double w_packed_bytes;    /* packed codes of the weight constant */
    double w_numel;
    /* accumulated over the samples run */
    double outputs, macs, taps, pairs, w_zero, w_n, a_zero, a_n, a_numel, w_act_numel;
    double max_taps;
    teq_energy_layer r;
} elayer;

typedef struct ectx {
    teq_model *m;
    elayer *L;
    int n;
    int *node_layer;          /* plan index -> layer or -1 */
    teq_exec_ctx *ctx;        /* runs the 0/1 copies of a layer */
    teq_tensor ind[2], y;     /* scratch: 0/1 inputs and the output, reused across layers */
    teq_tensor wdec;          /* scratch: a weight decoded from its codes when the model keeps codes only */
    teq_error *err;
} ectx;

static int is_dot_op(const char *op) {
    return !strcmp(op, "Conv") || !strcmp(op, "ConvTranspose") || !strcmp(op, "Gemm") || !strcmp(op, "MatMul");
}

/* The code an input slot of a dot-product node is quantized with: a constant's teq_qweight, or the
 * qparams of the TeqQuantize node producing it. 0 when the slot is not quantized. */
static int slot_code(const teq_graph *g, int v, teq_qparams *q, double *shift) {
    if (v < 0) return 0;
    const teq_value *val = &g->values[v];
    if (val->constant) {
        if (!val->qweight) return 0;
        *q = val->qweight->q;
        return 1;
    }
    if (val->producer < 0) return 0;
    const teq_node *p = &g->nodes[val->producer];
    if (strcmp(p->op_type, "TeqQuantize") != 0) return 0;
    const teq_attr *a = teq_node_attr(p, "qparams");
    char why[160];
    if (!a || a->type != TEQ_ATTR_TENSOR || !a->t || teq_qparams_from_tensor_shift(a->t, q, shift, why, sizeof why) != TEQ_OK)
        return 0;
    return 1;
}

static teq_status find_layers(ectx *c) {
    const teq_graph *g = c->m->g;
    c->L = calloc((size_t)g->n_nodes + 1, sizeof *c->L);
    c->node_layer = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    if (!c->L || !c->node_layer) return teq_error_set(c->err, TEQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        c->node_layer[i] = -1;
        const teq_node *nd = &g->nodes[i];
        if (!is_dot_op(nd->op_type) || nd->n_in < 2 || nd->in[0] < 0 || nd->in[1] < 0) continue;
        const teq_value *v0 = &g->values[nd->in[0]], *v1 = &g->values[nd->in[1]];
        if (v0->constant && v1->constant) continue;
        elayer *l = &c->L[c->n];
        memset(l, 0, sizeof *l);
        l->node = i;
        l->slot_w = v1->constant || !v0->constant ? 1 : 0;
        l->slot_a = 1 - l->slot_w;
        l->w_is_weight = g->values[nd->in[l->slot_w]].constant != NULL;
        double wshift = 0;
        if (!slot_code(g, nd->in[l->slot_w], &l->qw, &wshift) || !slot_code(g, nd->in[l->slot_a], &l->qa, &l->shift)) {
            continue;
        }
        if (l->w_is_weight) {
            const teq_value *wv = &g->values[nd->in[l->slot_w]];
            l->w_packed_bytes = (double)wv->qweight->packed_bytes;
            l->w_scales = wv->qweight->per_channel ? wv->qweight->n_ch : 1;
            l->w_numel = (double)teq_tensor_numel(wv->constant);
        }
        teq_energy_layer *r = &l->r;
        snprintf(r->name, sizeof r->name, "%s", nd->name);
        snprintf(r->op, sizeof r->op, "%s", nd->op_type);
        c->node_layer[i] = c->n++;
    }
    if (c->n == 0)
        return teq_error_set(c->err, TEQ_ERR_ARG,
                             "%s: no quantized Conv, ConvTranspose, Gemm or MatMul layer (quantize it with teq quantize first)",
                             c->m->path);
    return TEQ_OK;
}

/* dst = 1 where src is non-zero (nonzero_only) or everywhere, as float32 of src's shape. */
static teq_status indicator(ectx *c, const teq_tensor *src, int nonzero_only, teq_tensor *dst, double *zeros) {
    teq_status s = teq_tensor_reshape_alloc(dst, TEQ_DTYPE_FLOAT, src->ndim, src->dims, c->err);
    if (s) return s;
    int64_t n = teq_tensor_numel(src);
    const float *x = src->data;
    float *d = dst->data;
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++) {
        int nz = x[i] != 0.0f;
        z += !nz;
        d[i] = nonzero_only ? (float)nz : 1.0f;
    }
    if (zeros) *zeros = (double)z;
    return TEQ_OK;
}

/* Run layer node nd on c->ind[] (in the node's slots; every other input absent) into c->y, and
 * return the sum and the maximum of the output. Gemm's alpha and beta are dropped so that the output
 * is the plain count. */
static teq_status run_counts(ectx *c, const teq_node *nd, const elayer *l, int pad_one, double *sum, double *max) {
    teq_node copy = *nd;
    teq_attr attrs[65];
    int na = 0;
    /* a shifted layer's pad_value (the quantized shift) is dropped: padded taps count 0, or 1 with pad_one
     * (they are operands of the exponential datapath there, see hook) */
    for (int k = 0; k < nd->n_attr && na < 64; k++)
        if (strcmp(nd->attr[k].name, "alpha") != 0 && strcmp(nd->attr[k].name, "beta") != 0 &&
            strcmp(nd->attr[k].name, "pad_value") != 0)
            attrs[na++] = nd->attr[k];
    if (nd->n_attr > 64) return teq_error_set(c->err, TEQ_ERR_UNSUPPORTED, "node '%s' has too many attributes", nd->name);
    if (pad_one) {
        memset(&attrs[na], 0, sizeof attrs[na]);
        attrs[na].name = (char *)"pad_value";
        attrs[na].type = TEQ_ATTR_FLOAT;
        attrs[na++].f = 1.0f;
    }
    copy.attr = attrs;
    copy.n_attr = na;
    /* the counting tensors replace the weights: the operator must read them, not the layer's prepared
     * kernel weights (node->kern, ops/qlayer.h) */
    copy.kern = NULL;
    copy.kern_free = NULL;
    const teq_tensor *in[8] = {NULL};
    if (nd->n_in > 8) return teq_error_set(c->err, TEQ_ERR_UNSUPPORTED, "node '%s' has too many inputs", nd->name);
    in[l->slot_w] = &c->ind[0];
    in[l->slot_a] = &c->ind[1];
    teq_tensor *out[1] = {&c->y};
    if (nd->n_out != 1) return teq_error_set(c->err, TEQ_ERR_UNSUPPORTED, "node '%s' has %d outputs", nd->name, nd->n_out);
    teq_status s = teq_ctx_run_node(c->ctx, &copy, in, out);
    if (s) return s;
    int64_t n = teq_tensor_numel(&c->y);
    const float *y = c->y.data;
    double acc = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += y[i];
        if (y[i] > mx) mx = y[i];
    }
    *sum = acc, *max = mx;
    return TEQ_OK;
}

/* Reduction length per output of a dense datapath (padding taps included). */
static double dense_macs(const teq_node *nd, const teq_tensor *w, const teq_tensor *a, double outputs, int slot_w) {
    if (!strcmp(nd->op_type, "Conv") && w->ndim >= 1 && w->dims[0] > 0) return outputs * (double)(teq_tensor_numel(w) / w->dims[0]);
    if (!strcmp(nd->op_type, "ConvTranspose") && w->ndim >= 1 && w->dims[0] > 0)
        return (double)teq_tensor_numel(a) * (double)(teq_tensor_numel(w) / w->dims[0]);
    return -1; /* Gemm, MatMul: no padding, dense = taps */
}

static teq_status hook(void *user, int i, const teq_node *nd, const teq_tensor *const *in) {
    ectx *c = user;
    int li = c->node_layer[i];
    if (li < 0) return TEQ_OK;
    elayer *l = &c->L[li];
    const teq_tensor *w = in[l->slot_w], *a = in[l->slot_a];
    if (!w || !a || w->dtype != TEQ_DTYPE_FLOAT || a->dtype != TEQ_DTYPE_FLOAT)
        return teq_error_set(c->err, TEQ_ERR_UNSUPPORTED, "%s: layer '%s' does not have two float32 inputs", c->m->path,
                             nd->name);
    double wz = 0, az = 0, taps, max_taps, pairs, dummy;
    teq_status s;
    const teq_value *wv = &c->m->g->values[nd->in[l->slot_w]];
    if (!w->data && wv->qweight) {
        /* a loaded .teq keeps bound weights as packed codes only (ops/qlayer.h): decode them here */
        if ((s = teq_tensor_reshape_alloc(&c->wdec, TEQ_DTYPE_FLOAT, w->ndim, w->dims, c->err))) return s;
        teq_qweight_decode(wv->qweight, w->ndim, w->dims, c->wdec.data);
        w = &c->wdec;
    }
    if ((s = indicator(c, w, 0, &c->ind[0], NULL)) || (s = indicator(c, a, 0, &c->ind[1], NULL)) ||
        (s = run_counts(c, nd, l, 0, &taps, &max_taps)))
        return s;
    double outputs = (double)teq_tensor_numel(&c->y);
    /* A shifted activation pads with the code of its shift, not with 0: the exponential datapath reads those
     * taps as operands (pairs with a non-zero weight) and its counters span them too. The INT8 datapath
     * still skips padding (its zero point stands for 0). */
    if ((s = indicator(c, w, 1, &c->ind[0], &wz)) || (s = indicator(c, a, 1, &c->ind[1], &az)) ||
        (s = run_counts(c, nd, l, l->shift > 0, &pairs, &dummy)))
        return s;
    if (l->shift > 0) {
        double pad_taps, pad_max;
        if ((s = indicator(c, a, 0, &c->ind[1], NULL)) || (s = run_counts(c, nd, l, 1, &pad_taps, &pad_max))) return s;
        if (pad_max > max_taps) max_taps = pad_max;
    }
    double dm = dense_macs(nd, w, a, outputs, l->slot_w);
    l->outputs += outputs;
    l->taps += taps;
    l->macs += dm >= 0 ? dm : taps;
    l->pairs += pairs;
    if (max_taps > l->max_taps) l->max_taps = max_taps;
    l->w_zero += wz;
    l->w_n += (double)teq_tensor_numel(w);
    l->a_zero += az;
    l->a_n += (double)teq_tensor_numel(a);
    l->a_numel += (double)teq_tensor_numel(a);
    if (!l->w_is_weight) l->w_act_numel += (double)teq_tensor_numel(w);
    return TEQ_OK;
}

/* Exponent values of an exponential code (METHOD section 1): a signed code has 2^(n-1) (its zero
 * pattern borrows the negative e = 0), an unsigned one 2^n, less the zero code. */
static int levels(const teq_qparams *q) {
    if (q->is_signed) return 1 << (q->bits - 1);
    return (1 << q->bits) - (q->zero_code ? 1 : 0);
}

/* Per-inference counts -> operations, traffic and energy (the model; see the file comment). */
static void finish_layer(elayer *l, double samples, const teq_energy_table *t, int zero_skip, int final_bits) {
    teq_energy_layer *r = &l->r;
    /* the per-output stage: float32 (the reference kernel's arithmetic) or fixed point */
    const double fmul = final_bits ? e_mul(t, final_bits) : t->fp_mul_32;
    const double fadd = final_bits ? t->int_add_32 : t->fp_add_32;
    const double S = samples > 0 ? samples : 1;
    r->outputs = l->outputs / S;
    r->macs = l->macs / S;
    r->taps = l->taps / S;
    r->pairs_nonzero = l->pairs / S;
    r->zero_w = l->w_n > 0 ? l->w_zero / l->w_n : 0;
    r->zero_a = l->a_n > 0 ? l->a_zero / l->a_n : 0;
    r->bits_w = l->qw.bits;
    r->bits_a = l->qa.bits;
    r->shift = l->shift;
    const int exp = l->qw.kind == TEQ_CODE_EXP && l->qa.kind == TEQ_CODE_EXP;
    snprintf(r->code, sizeof r->code, "%s", exp ? "exponential" : "linear");
    r->counter_bits = bits_for((int64_t)ceil(l->max_taps)) + 1; /* signed: +-K */

    if (exp) {
        r->levels_w = levels(&l->qw);
        r->levels_a = levels(&l->qa);
        r->exp_add_bits = (bits_for(r->levels_w - 1) > bits_for(r->levels_a - 1) ? bits_for(r->levels_w - 1)
                                                                                 : bits_for(r->levels_a - 1)) + 1;
        const int bw = l->qw.beta != 0, ba = l->qa.beta != 0;
        /* C1 always; C2[i] (indexed by the weight exponent) carries beta_a, C3[j] beta_w, C4 both. */
        r->n_counters = 1 + ba + bw + (ba && bw);
        const double pairs = zero_skip ? r->pairs_nonzero : r->taps;
        r->teq_exp_adds = pairs;
        r->teq_counter_updates = pairs * r->n_counters;
        /* Per output: one multiply by a power of b and one add per counter entry (C1 has
         * E_W + E_A - 1 entries, C2 E_W, C3 E_A; C4 is a scalar), then one multiply per term by its
         * constant (alpha_w alpha_a and the channel scale, folded offline) and one add per term
         * (joining the terms, then the bias). */
        const double entries = (r->levels_w + r->levels_a - 1) + ba * r->levels_w + bw * r->levels_a;
        r->teq_final_muls = r->outputs * (entries + r->n_counters);
        r->teq_final_adds = r->outputs * (entries + r->n_counters);
        r->pj_teq_compute = r->teq_exp_adds * e_add(t, r->exp_add_bits) +
                            r->teq_counter_updates * e_add(t, r->counter_bits) + r->teq_final_muls * fmul +
                            r->teq_final_adds * fadd;
    } else {
        /* A linear code runs on a MAC datapath at its own widths (no zero skipping), then the same
         * requantization as INT8. */
        const int nb = r->bits_w > r->bits_a ? r->bits_w : r->bits_a;
        r->teq_macs = r->taps;
        r->teq_final_muls = r->outputs;
        r->teq_final_adds = r->outputs;
        r->pj_teq_compute = r->taps * (e_mul(t, nb) + t->int_add_32) + r->outputs * (fmul + fadd);
    }
    r->int8_macs = r->taps;
    r->int8_requant_muls = r->outputs;
    r->int8_requant_adds = r->outputs;
    r->pj_int8_compute = r->taps * (t->int_mul_8 + t->int_add_32) + r->outputs * (fmul + fadd);

    /* DRAM: the weight once per inference (packed codes + one float32 scale per channel), every
     * activation input once per inference at its width. */
    const double a_elems = l->a_numel / S, w_act = l->w_act_numel / S;
    if (l->w_is_weight) {
        r->teq_dram_bytes = l->w_packed_bytes + 4.0 * (double)l->w_scales;
        r->int8_dram_bytes = l->w_numel + 4.0 * (double)l->w_scales;
    } else {
        r->teq_dram_bytes = w_act * r->bits_w / 8.0;
        r->int8_dram_bytes = w_act;
    }
    r->teq_dram_bytes += a_elems * r->bits_a / 8.0;
    r->int8_dram_bytes += a_elems;
    /* SRAM: both operands of every tap read from the buffer at their widths (no register reuse),
     * every output written once as 32 bits. */
    r->teq_sram_bytes = r->taps * (r->bits_w + r->bits_a) / 8.0 + 4.0 * r->outputs;
    r->int8_sram_bytes = r->taps * 2.0 + 4.0 * r->outputs;
    r->pj_teq_dram = r->teq_dram_bytes / 8.0 * t->dram_64b;
    r->pj_int8_dram = r->int8_dram_bytes / 8.0 * t->dram_64b;
    r->pj_teq_sram = r->teq_sram_bytes / 8.0 * t->sram_64b;
    r->pj_int8_sram = r->int8_sram_bytes / 8.0 * t->sram_64b;
    r->pj_teq = r->pj_teq_compute + r->pj_teq_sram + r->pj_teq_dram;
    r->pj_int8 = r->pj_int8_compute + r->pj_int8_sram + r->pj_int8_dram;
}

/* ---------------------------------------------------------------- inputs */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static teq_status synth_input(teq_model *m, const teq_energy_opts *o, teq_tensor **out, char *desc, size_t dn,
                              teq_error *err) {
    const teq_value *v = &m->g->values[m->g->inputs[0]];
    int64_t dims[TEQ_MAX_DIMS];
    int nd;
    if (o->shape_ndim > 0) {
        nd = o->shape_ndim;
        memcpy(dims, o->shape, sizeof(int64_t) * (size_t)nd);
    } else {
        if (v->ndim < 0)
            return teq_error_set(err, TEQ_ERR_ARG, "%s: input '%s' declares no shape: give --shape or --input", m->path,
                                 v->name);
        nd = v->ndim;
        for (int d = 0; d < nd; d++) {
            dims[d] = v->dims[d];
            if (dims[d] < 0 && d == 0) dims[d] = 1;
            if (dims[d] < 0) {
                char sb[160];
                return teq_error_set(err, TEQ_ERR_ARG, "%s: input '%s' has dynamic dims %s: give --shape or --input",
                                     m->path, v->name, teq_shape_str(v->ndim, v->dims, sb, sizeof sb));
            }
        }
    }
    if (v->dtype != TEQ_DTYPE_FLOAT && v->dtype != TEQ_DTYPE_UNDEFINED)
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: input '%s' is %s; a synthetic input is float32 (give --input)",
                             m->path, v->name, teq_dtype_name(v->dtype));
    teq_tensor *x = NULL;
    teq_status s = teq_tensor_create(TEQ_DTYPE_FLOAT, nd, dims, &x, err);
    if (s) return s;
    uint64_t st = o->seed;
    float *p = x->data;
    int64_t n = teq_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) p[i] = (float)((double)(splitmix(&st) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    char sb[160];
    snprintf(desc, dn, "synthetic: uniform in [-1, 1], seed %llu, shape %s", (unsigned long long)o->seed,
             teq_shape_str(nd, dims, sb, sizeof sb));
    *out = x;
    return TEQ_OK;
}

/* ---------------------------------------------------------------- the report */

static void add_assumption(teq_energy_report *r, const char *fmt, ...) TEQ_PRINTF(2, 3);
static void add_assumption(teq_energy_report *r, const char *fmt, ...) {
    if (r->n_assumptions >= TEQ_ENERGY_MAX_ASSUMPTIONS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->assumptions[r->n_assumptions++], sizeof r->assumptions[0], fmt, ap);
    va_end(ap);
}

static double saving(double teq, double int8) { return int8 > 0 ? 1.0 - teq / int8 : 0.0; }

static void totals(teq_energy_report *r, int zero_skip, int final_bits) {
    r->total_pj_teq = r->total_pj_int8 = 0;
    r->pj_teq_compute = r->pj_int8_compute = r->pj_teq_sram = r->pj_int8_sram = r->pj_teq_dram = r->pj_int8_dram = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const teq_energy_layer *l = &r->layers[i];
        r->pj_teq_compute += l->pj_teq_compute;
        r->pj_int8_compute += l->pj_int8_compute;
        r->pj_teq_sram += l->pj_teq_sram;
        r->pj_int8_sram += l->pj_int8_sram;
        r->pj_teq_dram += l->pj_teq_dram;
        r->pj_int8_dram += l->pj_int8_dram;
        r->total_pj_teq += l->pj_teq;
        r->total_pj_int8 += l->pj_int8;
    }
    r->pj_teq_memory = r->pj_teq_sram + r->pj_teq_dram;
    r->pj_int8_memory = r->pj_int8_sram + r->pj_int8_dram;
    r->saving_vs_int8 = saving(r->total_pj_teq, r->total_pj_int8);
    r->saving_compute = saving(r->pj_teq_compute, r->pj_int8_compute);
    r->saving_memory = saving(r->pj_teq_memory, r->pj_int8_memory);

    const teq_energy_table *t = &r->table;
    r->n_assumptions = 0;
    add_assumption(r, "energies per operation: %s", t->source);
    add_assumption(r, "counts per inference, averaged over %lld sample(s) of the input (%s); only the quantized "
                      "Conv/ConvTranspose/Gemm/MatMul layers are counted (%d left in float32 are not)",
                   (long long)r->samples, r->input, r->n_unquantized);
    add_assumption(r, "shifted activations (x + c coded unsigned): -c*sum(w) is in the bias, one add per output "
                      "(the bias add counted below); such a layer pads with the code of c, so there the exponential "
                      "datapath counts padded taps as operands (INT8 still skips them)");
    add_assumption(r, "both datapaths skip padding taps (address generation); the exponential datapath %s",
                   zero_skip ? "also skips every element pair with a zero operand (zero code, exact zero weight), "
                               "counted on this input; the INT8 datapath is dense"
                             : "does not skip zero operands (--zero-skip off)");
    add_assumption(r, "exponential datapath, per non-skipped element pair: one exponent add i+j at max(bits(E_W-1), "
                      "bits(E_A-1))+1 bits, and one +-1 update of each counter the layer needs: C1 always, C2 when "
                      "beta_A != 0, C3 when beta_W != 0, C4 when both; a counter update costs an add at the counter "
                      "width, bits(max taps per output)+1");
    char fin[96];
    if (final_bits) snprintf(fin, sizeof fin, "%d-bit integer multiply and 32-bit add (fixed point)", final_bits);
    else snprintf(fin, sizeof fin, "float32 multiply and float32 add");
    add_assumption(r, "exponential datapath, per output: one multiply (by the power of b) and one add per counter entry "
                      "(C1: E_W+E_A-1, C2: E_W, C3: E_A), plus one multiply and add per term (its alpha product with "
                      "the channel scale folded in offline, then the bias), whatever K is; each a %s (--final)", fin);
    add_assumption(r, "INT8 datapath: one 8-bit multiply (%.3g pJ) and one 32-bit add (%.3g pJ) per tap; per output "
                      "one multiply and add (%s) for requantization and bias; a linear-coded layer of a teq model "
                      "runs the same MAC datapath at its own width",
                   t->int_mul_8, t->int_add_32, fin);
    add_assumption(r, "integer add of n bits: linear in n through int_add_8 and int_add_32; an n x n multiply: "
                      "linear in n^2 through int_mul_8 and int_mul_32");
    add_assumption(r, "DRAM (%.4g pJ per 64 bits): each weight tensor read once per inference (packed codes at "
                      "n_W bits, INT8 at 8 bits, plus one float32 scale per channel), each layer input activation "
                      "read once at n_A bits (INT8: 8); layer outputs are not counted again (they are the next "
                      "layers' inputs)",
                   t->dram_64b);
    add_assumption(r, "SRAM buffer (%.4g pJ per 64 bits): both operands of every tap read at their widths (no reuse "
                      "in registers), every output written once as 32 bits, in both datapaths",
                   t->sram_64b);
    add_assumption(r, "not counted: zero detection, sign XOR, address generation, control, leakage, and the "
                      "operators between dot-product layers (the same for both datapaths)");
}

static void free_ectx(ectx *c) {
    teq_tensor_release(&c->ind[0]);
    teq_tensor_release(&c->ind[1]);
    teq_tensor_release(&c->wdec);
    teq_tensor_release(&c->y);
    teq_ctx_free(c->ctx);
    free(c->L);
    free(c->node_layer);
}

teq_status teq_energy_analyze(teq_model *m, const teq_energy_opts *o, teq_energy_report **out, teq_error *err) {
    *out = NULL;
    teq_error_clear(err);
    teq_energy_opts dflt = {0};
    if (!o) o = &dflt;
    if (!m) return teq_error_set(err, TEQ_ERR_ARG, "energy: no model");
    if (m->g->n_inputs != 1)
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: energy needs a model with one input (this one has %d)",
                             m->path, m->g->n_inputs);
    ectx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.err = err;
    teq_energy_report *r = calloc(1, sizeof *r);
    teq_tensor *x = NULL;
    teq_tensor **outs = calloc((size_t)m->g->n_outputs + 1, sizeof *outs);
    teq_status s = r && outs ? TEQ_OK : teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    if (!s) {
        if (o->table) r->table = *o->table;
        else teq_energy_table_default(&r->table);
        c.ctx = teq_ctx_new(o->threads > 0 ? o->threads : 1, err);
        if (!c.ctx) s = TEQ_ERR_NOMEM;
    }
    if (!s) s = find_layers(&c);
    if (!s) {
        for (int i = 0; i < m->g->n_nodes; i++) {
            const teq_node *nd = &m->g->nodes[i];
            if (!is_dot_op(nd->op_type) || nd->n_in < 2 || nd->in[0] < 0 || nd->in[1] < 0) continue;
            const teq_value *v0 = &m->g->values[nd->in[0]], *v1 = &m->g->values[nd->in[1]];
            if (!(v0->constant && v1->constant) && c.node_layer[i] < 0) r->n_unquantized++;
        }
        if (o->input_path) {
            s = teq_npy_read(o->input_path, &x, err);
            if (!s && (x->ndim < 1 || x->dims[0] < 1))
                s = teq_error_set(err, TEQ_ERR_SHAPE, "%s: the input needs a batch axis with at least one sample",
                                  o->input_path);
        } else {
            s = synth_input(m, o, &x, r->input, sizeof r->input, err);
        }
    }
    if (!s) {
        teq_model_set_threads(m, o->threads > 0 ? o->threads : 1);
        teq_ctx_set_hook(m->ctx, hook, &c);
        /* Run sample by sample when the model declares a fixed batch (of 1, say) or when a data set is
         * given; a synthetic input runs as it is. */
        int64_t n = o->input_path ? x->dims[0] : 1;
        int64_t limit = o->limit > 0 ? o->limit : 8;
        if (o->input_path && n > limit) n = limit;
        const teq_value *iv = &m->g->values[m->g->inputs[0]];
        int64_t step = o->input_path ? (iv->ndim >= 1 && iv->dims[0] > 0 ? iv->dims[0] : 1) : 1;
        int64_t done = 0;
        for (int64_t b = 0; b + step <= n && !s; b += step) {
            teq_tensor view = *x;
            view.capacity = 0;
            const teq_tensor *xin = x;
            if (o->input_path) {
                int64_t row = teq_tensor_numel(x) / x->dims[0];
                view.dims[0] = step;
                view.data = (char *)x->data + (size_t)(b * row) * teq_dtype_size(x->dtype);
                xin = &view;
            }
            s = teq_graph_run(m->g, m->path, m->ctx, &xin, outs, err);
            for (int j = 0; j < m->g->n_outputs; j++) {
                teq_tensor_free(outs[j]);
                outs[j] = NULL;
            }
            done += o->input_path ? step : (x->ndim >= 1 && x->dims[0] > 0 ? x->dims[0] : 1);
        }
        teq_ctx_set_hook(m->ctx, NULL, NULL);
        if (!s && done == 0)
            s = teq_error_set(err, TEQ_ERR_SHAPE, "%s: fewer samples (%lld) than the model's batch (%lld)", o->input_path,
                              (long long)n, (long long)step);
        r->samples = done;
        if (!s && o->input_path) {
            char sb[160];
            int64_t d[TEQ_MAX_DIMS];
            memcpy(d, x->dims, sizeof d);
            d[0] = done;
            snprintf(r->input, sizeof r->input, "%s, %lld sample(s) of shape %s", o->input_path, (long long)done,
                     teq_shape_str(x->ndim, d, sb, sizeof sb));
        }
    }
    if (!s) {
        r->layers = calloc((size_t)c.n, sizeof *r->layers);
        if (!r->layers) s = teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        r->n_layers = c.n;
        for (int i = 0; i < c.n; i++) {
            finish_layer(&c.L[i], (double)r->samples, &r->table, !o->no_zero_skip, o->final_int_bits);
            r->layers[i] = c.L[i].r;
        }
        totals(r, !o->no_zero_skip, o->final_int_bits);
    }
    teq_tensor_free(x);
    free(outs);
    free_ectx(&c);
    if (s) {
        teq_energy_report_free(r);
        return s;
    }
    *out = r;
    return TEQ_OK;
}

void teq_energy_report_free(teq_energy_report *r) {
    if (!r) return;
    free(r->layers);
    free(r);
}

teq_status teq_energy_write_json(const char *path, const teq_energy_report *r, teq_error *err) {
    teq_json j;
    teq_json_init(&j);
    teq_json_obj_begin(&j, NULL);
    teq_json_num(&j, "total_pj_teq", r->total_pj_teq);
    teq_json_num(&j, "total_pj_int8", r->total_pj_int8);
    teq_json_num(&j, "saving_vs_int8", r->saving_vs_int8);
    teq_json_num(&j, "pj_teq_compute", r->pj_teq_compute);
    teq_json_num(&j, "pj_int8_compute", r->pj_int8_compute);
    teq_json_num(&j, "saving_compute", r->saving_compute);
    teq_json_num(&j, "pj_teq_memory", r->pj_teq_memory);
    teq_json_num(&j, "pj_int8_memory", r->pj_int8_memory);
    teq_json_num(&j, "saving_memory", r->saving_memory);
    teq_json_num(&j, "pj_teq_sram", r->pj_teq_sram);
    teq_json_num(&j, "pj_int8_sram", r->pj_int8_sram);
    teq_json_num(&j, "pj_teq_dram", r->pj_teq_dram);
    teq_json_num(&j, "pj_int8_dram", r->pj_int8_dram);
    teq_json_str(&j, "input", r->input);
    teq_json_int(&j, "samples", r->samples);
    teq_json_int(&j, "unquantized_layers", r->n_unquantized);
    teq_json_obj_begin(&j, "table_pj");
    for (int i = 0; i < N_TABLE; i++) teq_json_num(&j, TABLE[i].name, tget(&r->table, i));
    teq_json_str(&j, "source", r->table.source);
    teq_json_obj_end(&j);
    teq_json_arr_begin(&j, "assumptions");
    for (int i = 0; i < r->n_assumptions; i++) teq_json_str(&j, NULL, r->assumptions[i]);
    teq_json_arr_end(&j);
    teq_json_arr_begin(&j, "layers");
    for (int i = 0; i < r->n_layers; i++) {
        const teq_energy_layer *l = &r->layers[i];
        teq_json_obj_begin(&j, NULL);
        teq_json_str(&j, "name", l->name);
        teq_json_str(&j, "op", l->op);
        teq_json_str(&j, "code", l->code);
        teq_json_int(&j, "bits_w", l->bits_w);
        teq_json_int(&j, "bits_a", l->bits_a);
        teq_json_int(&j, "levels_w", l->levels_w);
        teq_json_int(&j, "levels_a", l->levels_a);
        teq_json_int(&j, "counters", l->n_counters);
        teq_json_int(&j, "exp_add_bits", l->exp_add_bits);
        teq_json_int(&j, "counter_bits", l->counter_bits);
        teq_json_num(&j, "outputs", l->outputs);
        teq_json_num(&j, "macs", l->macs);
        teq_json_num(&j, "taps", l->taps);
        teq_json_num(&j, "pairs_nonzero", l->pairs_nonzero);
        teq_json_num(&j, "zero_fraction_w", l->zero_w);
        teq_json_num(&j, "zero_fraction_a", l->zero_a);
        teq_json_num(&j, "teq_exp_adds", l->teq_exp_adds);
        teq_json_num(&j, "teq_counter_updates", l->teq_counter_updates);
        teq_json_num(&j, "teq_final_muls", l->teq_final_muls);
        teq_json_num(&j, "teq_final_adds", l->teq_final_adds);
        teq_json_num(&j, "shift", l->shift);
        teq_json_num(&j, "teq_macs", l->teq_macs);
        teq_json_num(&j, "int8_macs", l->int8_macs);
        teq_json_num(&j, "int8_requant_muls", l->int8_requant_muls);
        teq_json_num(&j, "int8_requant_adds", l->int8_requant_adds);
        teq_json_num(&j, "teq_dram_bytes", l->teq_dram_bytes);
        teq_json_num(&j, "int8_dram_bytes", l->int8_dram_bytes);
        teq_json_num(&j, "teq_sram_bytes", l->teq_sram_bytes);
        teq_json_num(&j, "int8_sram_bytes", l->int8_sram_bytes);
        teq_json_num(&j, "pj_teq_compute", l->pj_teq_compute);
        teq_json_num(&j, "pj_teq_sram", l->pj_teq_sram);
        teq_json_num(&j, "pj_teq_dram", l->pj_teq_dram);
        teq_json_num(&j, "pj_teq", l->pj_teq);
        teq_json_num(&j, "pj_int8_compute", l->pj_int8_compute);
        teq_json_num(&j, "pj_int8_sram", l->pj_int8_sram);
        teq_json_num(&j, "pj_int8_dram", l->pj_int8_dram);
        teq_json_num(&j, "pj_int8", l->pj_int8);
        teq_json_obj_end(&j);
    }
    teq_json_arr_end(&j);
    teq_json_obj_end(&j);
    teq_status s = teq_json_write_file(&j, path, err);
    teq_json_free(&j);
    return s;
}
