/* Shifted activation codes (quant_ops.h; docs/DECISIONS.md "Shifted codes"): an activation bounded below by
 * -c is quantized as u = q(x + c) with an unsigned exponential code, the consumer adds -c * sum(w) to its
 * bias and pads with q(c).
 *
 *  1. the reference counting kernel with a shift against brute force in double (the definition:
 *     sum_k w_k (q(x_k + c) - c) + b, padded taps q(c) - c), and the fast kernels against the reference;
 *  2. a model with the shift folded (TeqQuantize with shift -> Conv with pads, pad_value, folded bias) equals
 *     the same model with the shift spelled out (Pad(0) -> Add(c) -> TeqQuantize -> Add(-c) -> Conv without
 *     pads), in the float, reference and fast paths;
 *  3. the .teq format: round trip of the new field (version 1.1, flag 1), files without it stay 1.0, and
 *     refusals of every bad form of it.
 *
 * Usage: test_shift [SEED]. */
#include "check.h"
#include "teq.h"
#include "core/fileio.h"
#include "format/teq_format.h"
#include "graph/exec.h"
#include "kernels/kernels.h"
#include "ops/ops.h"
#include "ops/qlayer.h"
#include "ops/quant_ops.h"
#include "quant/qint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng;
static uint64_t next(void) { return teq_qi_rng_next(&rng); }
static double unit(void) { return teq_qi_rng_unit(&rng); }

static teq_qparams exp_code(int bits, int is_signed, int zero_code, double base, double alpha, double beta) {
    teq_qparams q = {0};
    q.kind = TEQ_CODE_EXP, q.bits = bits, q.is_signed = is_signed, q.zero_code = zero_code, q.base = base;
    q.alpha = alpha, q.beta = beta;
    return q;
}

/* ---------------------------------------------------------------- 1. kernels */

/* M x K weights (signed exponential), K x N activations x >= -c shifted by c and coded unsigned; some taps are
 * padding (value q(c) in the shifted domain). */
static void kernel_case(int64_t M, int64_t K, int64_t N, int bw, int ba, double c, int *worst_ok, double *worst) {
    static const double bases[] = {1.01, 1.05, 1.189, 1.414213562373095, 2.0};
    const double base = bases[next() % 5];
    const teq_qparams qw = exp_code(bw, 1, (int)(next() & 1), base, 0.001 + unit() * 0.05, 0);
    /* the activation code covers 0 .. ~ (x max + c) */
    const double aa = 0.002 + unit() * 0.02;
    const teq_qparams qa = exp_code(ba, 0, (int)(next() & 1), base, aa, -aa * 0.5 * unit());
    char m1[100], m2[100];
    if (teq_qparams_check(&qw, m1, sizeof m1) || teq_qparams_check(&qa, m2, sizeof m2)) return;
    if (log(qw.alpha) + log(qa.alpha) + log(base) * ((1 << (bw - 1)) + (1 << ba)) + log((double)K) > 80.0) return;
    const int ncw = 1 << bw;
    uint8_t *wc = malloc((size_t)(M * K + 1));
    float *U = malloc(sizeof(float) * (size_t)(K * N + 1)), *Y = malloc(sizeof(float) * (size_t)(M * N + 1));
    float *Yf = malloc(sizeof(float) * (size_t)(M * N + 1)), *bias = malloc(sizeof(float) * (size_t)(M + 1));
    float *rs = malloc(sizeof(float) * (size_t)(M + 1)), *Wd = malloc(sizeof(float) * (size_t)(M * K + 1));
    float *col = malloc(sizeof(float) * (size_t)(K + 1)), *y1 = malloc(sizeof(float) * (size_t)(M + 1));
    double *b0 = malloc(sizeof(double) * (size_t)(M + 1));
    float tw[256];
    teq_q_code_table(&qw, tw);
    for (int64_t i = 0; i < M * K; i++) wc[i] = (uint8_t)(next() % (uint64_t)ncw);
    for (int64_t m = 0; m < M; m++) rs[m] = (float)(0.5 + unit());
    /* the shifted domain value of the padding: q(0 + c), as TeqQuantize computes it for x = 0 */
    const float cf = (float)c;
    float pad;
    teq_q_fake(&qa, &cf, 1, &pad);
    const double top = qa.alpha * pow(base, (1 << ba) - 2) + qa.beta;
    for (int64_t i = 0; i < K * N; i++) {
        if (next() % 6 == 0) {
            U[i] = pad;
        } else {
            float x = (float)(-c + unit() * (top * 1.1)); /* x >= -c (a little past the top: clamps) */
            if (next() % 9 == 0) x = -cf;                    /* the bound itself */
            if (next() % 9 == 0) x = 0;                      /* an exact 0 of the original domain */
            const float xs = x + cf;
            teq_q_fake(&qa, &xs, 1, &U[i]);
        }
    }
    teq_kw w;
    teq_error err;
    CHECK(teq_kw_init(&w, &qw, M, K, wc, rs, &err) == TEQ_OK, "kw_init: %s", err.msg);
    /* the folded bias as the quantizer computes it: b - c * sum_k of the row's decoded weights */
    teq_k_decode(&w, Wd, 1);
    for (int64_t m = 0; m < M; m++) {
        b0[m] = (unit() - 0.5) * 0.1;
        double sw = 0;
        for (int64_t k = 0; k < K; k++) sw += Wd[m * K + k];
        bias[m] = (float)(b0[m] - c * sw);
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) Y[m * N + n] = bias[m];
    CHECK(teq_kref_exp_gemm(&w, &qa, U, N, 1, N, Y, N, 1, 1, 2) == TEQ_OK, "ref exp gemm failed");
    /* fast: the GEMV per column (decodes in registers), plus the bias */
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) col[k] = U[k * N + n];
        teq_k_gemv(&w, col, y1, 1);
        for (int64_t m = 0; m < M; m++) Yf[m * N + n] = y1[m] + bias[m];
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            /* brute force in double: dequantized weights times (shifted value - c), plus the original bias */
            double s = 0, abs = 0, cw = 0;
            for (int64_t k = 0; k < K; k++) {
                const double wv = (double)rs[m] * tw[wc[m * K + k]], u = U[k * N + n];
                s += wv * (u - c);
                abs += fabs(wv * u);
                cw += fabs(wv);
            }
            s += b0[m];
            /* the kernel's own rounding (teq_ktol), the float bias (one rounding of b - c*sum w, whose sum was
             * accumulated in double from float weights) and the final add */
            const double tol = teq_ktol(K, abs) + 2.0 * (fabs(b0[m]) + c * cw + abs) / 16777216.0 + 1e-30;
            const double d = fabs((double)Y[m * N + n] - s), df = fabs((double)Yf[m * N + n] - Y[m * N + n]);
            if (d / (tol + 1e-300) > *worst) *worst = d / tol;
            if (d > tol) *worst_ok = 0;
            if (df > teq_ktol(K, abs) + 2.0 * fabs(bias[m]) / 16777216.0 + 1e-30) *worst_ok = 0;
        }
    teq_kw_free(&w);
    free(wc), free(U), free(Y), free(Yf), free(bias), free(rs), free(Wd), free(col), free(y1), free(b0);
}

static void test_kernels(void) {
    printf("reference and fast kernels with a shift\n");
    int ok = 1;
    double worst = 0;
    static const double shifts[] = {0.375, 0.2785, 0.0627849, 1.32742};
    for (int t = 0; t < 60; t++) {
        const int64_t M = 1 + (int64_t)(next() % 9), K = 1 + (int64_t)(next() % 70), N = 1 + (int64_t)(next() % 7);
        const int bw = 3 + (int)(next() % 4), ba = 3 + (int)(next() % 5);
        kernel_case(M, K, N, bw, ba, shifts[t % 4], &ok, &worst);
    }
    CHECK(ok, "shifted products outside the tolerance (worst %.3g of it)", worst);
    printf("  worst |ref - brute force| = %.3g of the tolerance\n", worst);
}

/* ---------------------------------------------------------------- 2. folded vs explicit */

static int add_value(teq_graph *g, const char *name) { return teq_graph_add_value(g, name); }

static int add_const(teq_graph *g, const char *name, teq_dtype dt, int ndim, const int64_t *dims, const void *data) {
    const int v = add_value(g, name);
    teq_tensor *t = NULL;
    teq_error e;
    if (teq_tensor_create(dt, ndim, dims, &t, &e)) exit(2);
    memcpy(t->data, data, (size_t)teq_tensor_numel(t) * teq_dtype_size(dt));
    g->values[v].constant = t;
    return v;
}

static void set_attrs(teq_graph *g, int node, int n) {
    g->nodes[node].attr = calloc((size_t)n, sizeof(teq_attr));
    g->nodes[node].n_attr = n;
}
static void attr_ints(teq_attr *a, const char *name, int n, const int64_t *v) {
    a->name = teq_strdup(name);
    a->type = TEQ_ATTR_INTS;
    a->n = n;
    a->ints = malloc(sizeof(int64_t) * (size_t)n);
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}
static void attr_qparams(teq_attr *a, const teq_qparams *q, double shift, int len) {
    teq_error e;
    a->name = teq_strdup("qparams");
    a->type = TEQ_ATTR_TENSOR;
    int64_t d = len;
    if (teq_tensor_create(TEQ_DTYPE_DOUBLE, 1, &d, &a->t, &e)) exit(2);
    double *v = a->t->data;
    v[0] = q->kind, v[1] = q->bits, v[2] = q->is_signed, v[3] = q->zero_code;
    v[4] = q->base, v[5] = q->alpha, v[6] = q->beta, v[7] = q->scale, v[8] = q->zero_point;
    if (len == 10) v[9] = shift;
}

enum { C_IN = 5, M_OUT = 4, HW = 7 };

/* The weight constant [M, C, 3, 3] with packed codes (per-channel scales), as the quantizer leaves it
 * (M = M_OUT, C = C_IN; a depthwise Conv's [C_IN, 1, 3, 3]). */
static int add_weight_mc(teq_graph *g, const teq_qparams *qw, const uint8_t *codes, const float *chs, int64_t M,
                         int64_t C) {
    const int64_t dims[4] = {M, C, 3, 3}, n = M * C * 9;
    float *zero = calloc((size_t)n, sizeof(float));
    const int v = add_const(g, "W", TEQ_DTYPE_FLOAT, 4, dims, zero);
    free(zero);
    teq_qweight *w = calloc(1, sizeof *w);
    w->q = *qw;
    w->packed_bytes = teq_packed_bytes(n, qw->bits);
    w->packed = calloc(1, w->packed_bytes);
    teq_pack_bits(codes, n, qw->bits, w->packed);
    w->per_channel = 1, w->ch_axis = 0, w->n_ch = M;
    w->ch_scale = malloc(sizeof(float) * (size_t)M);
    memcpy(w->ch_scale, chs, sizeof(float) * (size_t)M);
    teq_qweight_decode(w, 4, dims, g->values[v].constant->data);
    g->values[v].qweight = w;
    return v;
}
static int add_weight(teq_graph *g, const teq_qparams *qw, const uint8_t *codes, const float *chs) {
    return add_weight_mc(g, qw, codes, chs, M_OUT, C_IN);
}

/* folded: x -> TeqQuantize(qa, shift c) -> Conv(W, b - c sum w, pads 1, pad_value q(c)) -> y; dw: the Conv
 * depthwise (C_IN outputs, one input channel each, group C_IN) */
static teq_graph *build_folded_dw(const teq_qparams *qw, const uint8_t *codes, const float *chs, const teq_qparams *qa,
                                  double c, const float *b, bool dw) {
    teq_graph *g = teq_graph_new();
    g->opset = 13;
    const int x = add_value(g, "x"), u = add_value(g, "u"), y = add_value(g, "y");
    const int64_t M = dw ? C_IN : M_OUT, K = dw ? 9 : C_IN * 9;
    const int w = add_weight_mc(g, qw, codes, chs, M, K / 9);
    const float *wd = g->values[w].constant->data;
    float bf[C_IN > M_OUT ? C_IN : M_OUT];
    for (int m = 0; m < M; m++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += wd[m * K + k];
        bf[m] = (float)((double)b[m] - c * s);
    }
    const int64_t mb = M;
    const int bv = add_const(g, "B", TEQ_DTYPE_FLOAT, 1, &mb, bf);
    g->inputs = malloc(sizeof(int)), g->inputs[0] = x, g->n_inputs = 1;
    g->outputs = malloc(sizeof(int)), g->outputs[0] = y, g->n_outputs = 1;
    int nq = teq_graph_add_node(g, "quant", "TeqQuantize", "teq", 1, 1, &x, 1, &u);
    set_attrs(g, nq, 1);
    attr_qparams(&g->nodes[nq].attr[0], qa, c, 10);
    const int cin[3] = {u, w, bv};
    int nc = teq_graph_add_node(g, "conv", "Conv", "", 13, 3, cin, 1, &y);
    set_attrs(g, nc, dw ? 3 : 2);
    const int64_t pads[4] = {1, 1, 1, 1};
    attr_ints(&g->nodes[nc].attr[0], "pads", 4, pads);
    const float cf = (float)c;
    float pv;
    teq_q_fake(qa, &cf, 1, &pv);
    g->nodes[nc].attr[1].name = teq_strdup("pad_value");
    g->nodes[nc].attr[1].type = TEQ_ATTR_FLOAT;
    g->nodes[nc].attr[1].f = pv;
    if (dw) {
        g->nodes[nc].attr[2].name = teq_strdup("group");
        g->nodes[nc].attr[2].type = TEQ_ATTR_INT;
        g->nodes[nc].attr[2].i = C_IN;
    }
    return g;
}
static teq_graph *build_folded(const teq_qparams *qw, const uint8_t *codes, const float *chs, const teq_qparams *qa,
                               double c, const float *b) {
    return build_folded_dw(qw, codes, chs, qa, c, b, false);
}

/* explicit: x -> Pad(1, 0) -> Add(c) -> TeqQuantize(qa) -> Add(-c) -> Conv(W, b, no pads) -> y */
static teq_graph *build_explicit(const teq_qparams *qw, const uint8_t *codes, const float *chs, const teq_qparams *qa,
                                 double c, const float *b) {
    teq_graph *g = teq_graph_new();
    g->opset = 13;
    const int x = add_value(g, "x"), xp = add_value(g, "xp"), xs = add_value(g, "xs"), u = add_value(g, "u"),
              v = add_value(g, "v"), y = add_value(g, "y");
    const int w = add_weight(g, qw, codes, chs);
    const int64_t mb = M_OUT, np = 8, one = 1;
    const int bv = add_const(g, "B", TEQ_DTYPE_FLOAT, 1, &mb, b);
    const int64_t pads[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    const int pv = add_const(g, "pads", TEQ_DTYPE_INT64, 1, &np, pads);
    const float cp = (float)c, cm = -(float)c;
    const int kc = add_const(g, "c", TEQ_DTYPE_FLOAT, 1, &one, &cp), km = add_const(g, "minus_c", TEQ_DTYPE_FLOAT, 1, &one, &cm);
    g->inputs = malloc(sizeof(int)), g->inputs[0] = x, g->n_inputs = 1;
    g->outputs = malloc(sizeof(int)), g->outputs[0] = y, g->n_outputs = 1;
    const int pin[2] = {x, pv}, ain[2] = {xp, kc}, sin_[2] = {u, km}, cin[3] = {v, w, bv};
    teq_graph_add_node(g, "pad", "Pad", "", 13, 2, pin, 1, &xp);
    teq_graph_add_node(g, "add_c", "Add", "", 13, 2, ain, 1, &xs);
    int nq = teq_graph_add_node(g, "quant", "TeqQuantize", "teq", 1, 1, &xs, 1, &u);
    set_attrs(g, nq, 1);
    attr_qparams(&g->nodes[nq].attr[0], qa, 0, 9);
    teq_graph_add_node(g, "sub_c", "Add", "", 13, 2, sin_, 1, &v);
    teq_graph_add_node(g, "conv", "Conv", "", 13, 3, cin, 1, &y);
    return g;
}

/* resolve and plan g (and bind its quantized layers where bind), failing the test loudly with name */
static teq_status prepare_graph(teq_graph *g, const char *name, bool bind) {
    teq_error e;
    teq_status s = teq_graph_resolve_ops(g, name, &e);
    if (!s) s = teq_graph_plan(g, name, &e);
    if (!s && bind) s = teq_ops_bind_quantized(g, name, &e);
    CHECK(s == TEQ_OK, "%s graph: %s", name, e.msg);
    return s;
}

static teq_status run_once(teq_graph *g, const teq_tensor *x, teq_tensor **y, teq_error *e) {
    teq_exec_ctx *ctx = teq_ctx_new(1, e);
    if (!ctx) return TEQ_ERR_NOMEM;
    const teq_tensor *ins[1] = {x};
    teq_status s = teq_graph_run(g, "shift-model", ctx, ins, y, e);
    teq_ctx_free(ctx);
    return s;
}

/* The bound Conv of gf on integer lanes of each width (fast mode, the pass-throughs that follow) against the
 * reference kernel on the same graph: every output within the layer's stated bound (qlayer.h,
 * teq_ql_lanes_bound * max row scale * K) plus float rounding. The padded taps are the border outputs' test:
 * they must read the padding value itself, as the reference does. */
static int lanes_vs_ref(teq_graph *gf, int conv, const teq_tensor *x, const char *label) {
    int widths = 0;
    teq_error e;
    teq_tensor *yr = NULL;
    teq_kmode_set(TEQ_KMODE_REF);
    CHECK(run_once(gf, x, &yr, &e) == TEQ_OK, "%s: reference run: %s", label, e.msg);
    teq_node *n = &gf->nodes[conv];
    for (int bits = 16; bits >= 8 && yr; bits -= 8) {
        if (!teq_ql_lanes_eligible(gf, n) || teq_ql_set_lanes(n, bits, -1, &e) || ((const teq_qlayer *)n->kern)->lanes != bits) {
            printf("  %s: no %d-bit lanes for this layer on this CPU\n", label, bits);
            continue;
        }
        widths++;
        teq_ops_fast_passes(gf, true);
        teq_kmode_set(TEQ_KMODE_FAST);
        teq_tensor *yl = NULL;
        CHECK(run_once(gf, x, &yl, &e) == TEQ_OK, "%s: lanes run: %s", label, e.msg);
        const teq_qlayer *ql = n->kern;
        double rs = 0, mx = 0, worst = 0, border = 0;
        for (int64_t m = 0; m < ql->w.M; m++) rs = fmax(rs, fabs(ql->w.scale[m]));
        const float *a = yl ? yl->data : NULL, *r = yr->data;
        for (int64_t i = 0; i < teq_tensor_numel(yr); i++) mx = fmax(mx, fabs(r[i]));
        const double tol = teq_ql_lanes_bound(ql) * rs * (double)ql->w.K + 1e-5 * mx;
        for (int64_t i = 0; a && i < teq_tensor_numel(yr); i++) {
            const double d = fabs((double)a[i] - r[i]);
            const int64_t p = i % (HW * HW), yy = p / HW, xx = p % HW;
            if (yy == 0 || xx == 0 || yy == HW - 1 || xx == HW - 1) border = fmax(border, d);
            worst = fmax(worst, d);
        }
        CHECK(a && worst <= tol, "%s, %d-bit lanes: %.3g from the reference kernel (border outputs %.3g), bound %.3g", label,
              bits, worst, border, tol);
        printf("  %s, %d-bit lanes: max |lanes - reference| %.3g (border outputs %.3g), stated bound %.3g\n", label, bits,
               worst, border, tol);
        teq_tensor_free(yl);
        teq_ql_set_lanes(n, 0, -1, &e);
        teq_ops_fast_passes(gf, true);
    }
    teq_kmode_set(TEQ_KMODE_FAST);
    teq_tensor_free(yr);
    return widths;
}

static void test_model(void) {
    printf("folded shift vs explicit Add, one Conv with padding\n");
    teq_error e;
    const double base = 1.05;
    const teq_qparams qw = exp_code(5, 1, 0, base, 0.03, 0.001);
    const double c = 0.375; /* HardSwish */
    const teq_qparams qa = exp_code(6, 0, 0, base, 0.02, -0.015);
    uint8_t codes[M_OUT * C_IN * 9];
    for (int i = 0; i < M_OUT * C_IN * 9; i++) codes[i] = (uint8_t)(next() % 32);
    float chs[C_IN > M_OUT ? C_IN : M_OUT], b[C_IN > M_OUT ? C_IN : M_OUT];
    for (int m = 0; m < (C_IN > M_OUT ? C_IN : M_OUT); m++) chs[m] = (float)(0.5 + unit()), b[m] = (float)(unit() - 0.5);
    /* HardSwish outputs of random inputs: x * clip(x + 3, 0, 6) / 6 >= -0.375 */
    const int64_t xd[4] = {1, C_IN, HW, HW};
    teq_tensor *x;
    if (teq_tensor_create(TEQ_DTYPE_FLOAT, 4, xd, &x, &e)) exit(2);
    float *xv = x->data;
    for (int64_t i = 0; i < teq_tensor_numel(x); i++) {
        const float z = (float)((unit() - 0.4) * 10);
        xv[i] = z * fminf(fmaxf(z + 3.0f, 0.0f), 6.0f) / 6.0f;
    }
    teq_graph *gf = build_folded(&qw, codes, chs, &qa, c, b), *ge = build_explicit(&qw, codes, chs, &qa, c, b);
    prepare_graph(gf, "folded", true);
    prepare_graph(ge, "explicit", false);
    int conv = -1;
    for (int i = 0; i < gf->n_nodes; i++)
        if (!strcmp(gf->nodes[i].op_type, "Conv")) conv = i;
    CHECK(conv >= 0 && gf->nodes[conv].kern != NULL, "the folded Conv is bound to the kernels");
    teq_tensor *ye = NULL;
    teq_kmode_set(TEQ_KMODE_DEQUANT);
    CHECK(run_once(ge, x, &ye, &e) == TEQ_OK, "explicit run: %s", e.msg);
    /* tolerance: float sums in another order; |sum| terms bounded by K * max|w| * max|u| */
    double wmax = 0;
    const float *wd = gf->values[gf->nodes[conv].in[1]].constant->data;
    for (int i = 0; i < M_OUT * C_IN * 9; i++) wmax = fmax(wmax, fabs(wd[i]));
    double umax = 0;
    for (int64_t i = 0; i < teq_tensor_numel(x); i++) umax = fmax(umax, fabs(xv[i]) + c);
    const double tol = 4.0 * (C_IN * 9 + 3) * wmax * (umax + 1) / 16777216.0 * 8;
    const teq_kmode modes[3] = {TEQ_KMODE_DEQUANT, TEQ_KMODE_REF, TEQ_KMODE_FAST};
    const char *names[3] = {"float path", "reference kernel", "fast kernels"};
    for (int mi = 0; mi < 3; mi++) {
        teq_kmode_set(modes[mi]);
        teq_tensor *yf = NULL;
        CHECK(run_once(gf, x, &yf, &e) == TEQ_OK, "folded run (%s): %s", names[mi], e.msg);
        if (!yf || !ye) continue;
        CHECK(teq_tensor_numel(yf) == teq_tensor_numel(ye), "output sizes");
        double worst = 0, border = 0;
        const float *a = yf->data, *r = ye->data;
        for (int64_t i = 0; i < teq_tensor_numel(ye); i++) {
            const double d = fabs((double)a[i] - r[i]);
            const int64_t p = i % (HW * HW), yy = p / HW, xx = p % HW;
            if (yy == 0 || xx == 0 || yy == HW - 1 || xx == HW - 1) border = fmax(border, d);
            worst = fmax(worst, d);
        }
        CHECK(worst <= tol, "%s: folded vs explicit differ by %.3g (tolerance %.3g)", names[mi], worst, tol);
        printf("  %s: max |folded - explicit| %.3g (border outputs %.3g), tolerance %.3g\n", names[mi], worst, border, tol);
        teq_tensor_free(yf);
    }
    /* without pad_value (padding 0 in the shifted domain) the border outputs are wrong: the test can see it */
    for (int a = 0; a < gf->nodes[conv].n_attr; a++)
        if (!strcmp(gf->nodes[conv].attr[a].name, "pad_value")) gf->nodes[conv].attr[a].f = 0;
    teq_kmode_set(TEQ_KMODE_DEQUANT);
    teq_tensor *y0 = NULL;
    CHECK(run_once(gf, x, &y0, &e) == TEQ_OK, "run without pad_value");
    if (y0 && ye) {
        double worst = 0;
        for (int64_t i = 0; i < teq_tensor_numel(ye); i++)
            worst = fmax(worst, fabs((double)((float *)y0->data)[i] - ((float *)ye->data)[i]));
        CHECK(worst > 100 * tol, "padding with 0 instead of q(c) should show (%.3g)", worst);
    }
    teq_kmode_set(TEQ_KMODE_FAST);
    teq_tensor_free(y0);
    teq_tensor_free(ye);
    teq_graph_free(gf);
    /* integer lanes on the folded Conv: the shifted code's padding value (a level), and a signed code without
     * the zero code and without a shift, whose padding value 0 is no level (its code's level is the smallest
     * one, which the lanes once padded with: 3x their bound on rec's first layer) */
    gf = build_folded(&qw, codes, chs, &qa, c, b);
    if (!prepare_graph(gf, "folded", true)) lanes_vs_ref(gf, conv, x, "shifted code, padding q(c)");
    teq_graph_free(gf);
    const teq_qparams qs = exp_code(6, 1, 0, base, 0.02, 0.001);
    gf = build_folded(&qw, codes, chs, &qs, 0.0, b);
    for (int a = 0; a < gf->nodes[conv].n_attr; a++)
        if (!strcmp(gf->nodes[conv].attr[a].name, "pad_value")) gf->nodes[conv].attr[a].f = 0;
    if (!prepare_graph(gf, "signed", true)) lanes_vs_ref(gf, conv, x, "signed code without zero code, padding 0");
    teq_graph_free(gf);
    /* a depthwise Conv on 8-bit lanes (nn.c's loop on the INT8 depthwise kernel): the shifted code added by the
     * layer itself (its quantizer passed through), the padding q(c); never int16 lanes. On a CPU whose set has
     * the depthwise kernel the 8-bit width must run. */
    gf = build_folded_dw(&qw, codes, chs, &qa, c, b, true);
    if (!prepare_graph(gf, "depthwise", true)) {
        const int widths = lanes_vs_ref(gf, conv, x, "depthwise, shifted code, padding q(c)");
        CHECK(widths == (teq_kset_best()->i8_dw != NULL), "depthwise: %d lane widths ran, want %d", widths,
              teq_kset_best()->i8_dw != NULL);
    }
    teq_tensor_free(x);
    teq_graph_free(gf);
    teq_graph_free(ge);
}

/* ---------------------------------------------------------------- 3. format */

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
/* the CRC-32 of FORMAT.md (zlib's), bitwise: the test needs no zlib of its own */
static uint32_t crc32_bytes(const uint8_t *b, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}
static void fix_crc(uint8_t *b, size_t len) { wr32(b + 8, crc32_bytes(b + 12, len - 12)); }

static void expect_bad(const uint8_t *b, size_t len, const char *want, const char *label) {
    teq_graph *g = NULL;
    teq_error e;
    teq_status s = teq_format_read_buffer(b, len, "bad.teq", &g, &e);
    CHECK(s == TEQ_ERR_FORMAT && !g, "%s: accepted (status %d)", label, (int)s);
    CHECK(strstr(e.msg, "bad.teq") == e.msg && strstr(e.msg, want), "%s: message '%s' lacks '%s'", label, e.msg, want);
    printf("  refused (%s): %s\n", label, e.msg);
    if (g) teq_graph_free(g);
}

/* write g to dir/name and read the bytes back */
static uint8_t *write_bytes(const teq_graph *g, const char *dir, const char *name, size_t *len) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    teq_error e;
    CHECK(teq_format_write(p, g, &e) == TEQ_OK, "write %s: %s", name, e.msg);
    unsigned char *b = NULL;
    if (teq_file_read_all(p, (size_t)1 << 30, &b, len, &e) != TEQ_OK) CHECK(0, "read %s back: %s", name, e.msg);
    return b;
}

static void set_shift(teq_graph *g, double c, int is_signed) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, "TeqQuantize")) {
            double *v = g->nodes[i].attr[0].t->data;
            v[9] = c, v[2] = is_signed;
        }
}

static void test_format(void) {
    printf("format: the shift field\n");
    char dir[] = "/tmp/teq_test_shift_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    teq_error e;
    const teq_qparams qw = exp_code(4, 1, 0, 1.1, 0.03, 0.001), qa = exp_code(5, 0, 0, 1.1, 0.02, -0.01);
    uint8_t codes[M_OUT * C_IN * 9];
    for (int i = 0; i < M_OUT * C_IN * 9; i++) codes[i] = (uint8_t)(next() % 16);
    float chs[M_OUT] = {1, 0.5f, 2, 1.5f}, b[M_OUT] = {0.1f, -0.2f, 0.3f, 0};
    teq_graph *g = build_folded(&qw, codes, chs, &qa, 0.375, b);
    size_t len = 0;
    uint8_t *f = write_bytes(g, dir, "shift.teq", &len);
    CHECK(f && f[12] == 1 && f[13] == 0 && f[14] == 1 && f[15] == 0 && rd32(f + 16) == 1,
          "a shifted graph is written as version 1.1 with flag 1");
    /* TEQ_SHIFT_SEED=PATH keeps a copy: the fuzz corpus seed tests/fuzz/corpus/teq/seed-shift-conv */
    const char *seed_out = getenv("TEQ_SHIFT_SEED");
    if (seed_out && f) {
        FILE *o = fopen(seed_out, "wb");
        CHECK(o && fwrite(f, 1, len, o) == len && fclose(o) == 0, "writing %s", seed_out);
    }
    /* round trip: the same graph, the same bytes again */
    teq_graph *back = NULL;
    CHECK(f && teq_format_read_buffer(f, len, "shift.teq", &back, &e) == TEQ_OK, "read back: %s", e.msg);
    if (back) {
        int ok = back->n_nodes == g->n_nodes;
        for (int i = 0; ok && i < back->n_nodes; i++) {
            const teq_attr *q = teq_node_attr(&back->nodes[i], "qparams");
            if (q) ok = teq_tensor_numel(q->t) == 10 && ((double *)q->t->data)[9] == 0.375;
            const teq_attr *pv = teq_node_attr(&back->nodes[i], "pad_value");
            if (!strcmp(back->nodes[i].op_type, "Conv")) ok = ok && pv && pv->type == TEQ_ATTR_FLOAT && pv->f > 0.3f;
        }
        CHECK(ok, "shift and pad_value read back");
        size_t l2 = 0;
        uint8_t *f2 = write_bytes(back, dir, "shift_back.teq", &l2);
        CHECK(f2 && l2 == len && !memcmp(f, f2, len), "written again: the same bytes");
        free(f2);
        teq_graph_free(back);
    }
    /* teq energy on it: the shift is reported, and the padded taps (the code of c) are operands of the
     * exponential datapath: every tap with a non-zero weight is a pair, padding included */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/shift.teq", dir);
        teq_model *m = NULL;
        teq_energy_report *r = NULL;
        teq_energy_opts eo = {0};
        eo.shape_ndim = 4, eo.shape[0] = 1, eo.shape[1] = C_IN, eo.shape[2] = HW, eo.shape[3] = HW;
        eo.limit = 1;
        CHECK(teq_model_load(p, &m, &e) == TEQ_OK, "load %s: %s", p, e.msg);
        if (m) CHECK(teq_energy_analyze(m, &eo, &r, &e) == TEQ_OK, "energy: %s", e.msg);
        if (r && r->n_layers == 1) {
            const teq_energy_layer *l = &r->layers[0];
            const double want = l->macs * (1.0 - l->zero_w);
            CHECK(l->shift == 0.375, "energy reports the shift (%g)", l->shift);
            CHECK(fabs(l->pairs_nonzero - want) <= 1e-9 * want && l->pairs_nonzero > l->taps * (1.0 - l->zero_w),
                  "padded taps are pairs of a shifted layer: pairs %g, macs x non-zero weights %g, taps %g",
                  l->pairs_nonzero, want, l->taps);
        } else {
            CHECK(0, "energy: one layer expected");
        }
        teq_energy_report_free(r);
        teq_model_free(m);
    }
    /* without any shift: a 1.0 file with no flags, as before */
    {
        teq_graph *g0 = build_explicit(&qw, codes, chs, &qa, 0.375, b);
        size_t l0 = 0;
        uint8_t *f0 = write_bytes(g0, dir, "plain.teq", &l0);
        CHECK(f0 && f0[14] == 0 && rd32(f0 + 16) == 0, "a graph without shifts stays version 1.0, flags 0");
        /* a reader of 1.1 still reads it */
        teq_graph *b0 = NULL;
        CHECK(f0 && teq_format_read_buffer(f0, l0, "plain.teq", &b0, &e) == TEQ_OK, "1.0 file: %s", e.msg);
        if (b0) teq_graph_free(b0);
        free(f0);
        teq_graph_free(g0);
    }
    if (f) {
        uint8_t *m = malloc(len);
        /* the flag cleared: the shifted qparams (and pad_value) are refused */
        memcpy(m, f, len), wr32(m + 16, 0), fix_crc(m, len);
        expect_bad(m, len, "needs header flag 0x1", "flag cleared");
        /* the flag in a 1.0 file */
        memcpy(m, f, len), m[14] = 0, fix_crc(m, len);
        expect_bad(m, len, "need format version 1.1", "flag with version 1.0");
        /* a flag bit nobody defined */
        memcpy(m, f, len), wr32(m + 16, 5), fix_crc(m, len);
        expect_bad(m, len, "unknown header flags", "flag bit 2");
        free(m);
    }
    /* bad shifts, written as they are (the writer does not judge them) and refused by the reader */
    const struct {
        double c;
        int is_signed;
        const char *want, *label;
    } bad[] = {
        {-0.5, 0, "not finite in 0 .. 1e30", "negative shift"},
        {NAN, 0, "not finite in 0 .. 1e30", "NaN shift"},
        {INFINITY, 0, "not finite in 0 .. 1e30", "infinite shift"},
        {0.375, 1, "needs an unsigned exponential code", "shift on a signed code"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_shift(g, bad[i].c, bad[i].is_signed);
        size_t lb = 0;
        uint8_t *fb = write_bytes(g, dir, "bad_shift.teq", &lb);
        if (fb) expect_bad(fb, lb, bad[i].want, bad[i].label);
        free(fb);
    }
    /* a pad_value that is not a FLOAT */
    set_shift(g, 0.375, 0);
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attr; a++)
            if (!strcmp(g->nodes[i].attr[a].name, "pad_value")) {
                g->nodes[i].attr[a].type = TEQ_ATTR_INT;
                g->nodes[i].attr[a].i = 3;
            }
    {
        size_t lb = 0;
        uint8_t *fb = write_bytes(g, dir, "bad_pad.teq", &lb);
        if (fb) expect_bad(fb, lb, "pad_value must be a finite FLOAT", "pad_value of type INT");
        free(fb);
    }
    /* the operator refuses a shift on a signed code too, naming the node */
    {
        teq_qparams p;
        double sh;
        char msg[200];
        teq_tensor *t;
        int64_t d = 10;
        if (teq_tensor_create(TEQ_DTYPE_DOUBLE, 1, &d, &t, &e)) exit(2);
        double *v = t->data;
        v[0] = 1, v[1] = 4, v[2] = 1, v[3] = 0, v[4] = 1.1, v[5] = 0.02, v[6] = 0, v[7] = 0, v[8] = 0, v[9] = 0.3;
        CHECK(teq_qparams_from_tensor_shift(t, &p, &sh, msg, sizeof msg) != TEQ_OK && strstr(msg, "unsigned"),
              "signed code with a shift refused: %s", msg);
        v[2] = 0;
        CHECK(teq_qparams_from_tensor_shift(t, &p, &sh, msg, sizeof msg) == TEQ_OK && sh == 0.3, "shift read: %s", msg);
        CHECK(teq_qparams_from_tensor(t, &p, msg, sizeof msg) != TEQ_OK, "the plain reader refuses a shift");
        teq_tensor_free(t);
    }
    free(f);
    teq_graph_free(g);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
}

int main(int argc, char **argv) {
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
    printf("test_shift seed %llu (replay: test_shift %llu)\n", (unsigned long long)seed, (unsigned long long)seed);
    rng = seed;
    test_kernels();
    test_model();
    test_format();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
