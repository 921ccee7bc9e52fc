/* Binding quantized layers to the kernels, and the products the operators call (qlayer.h). */
#include "qlayer.h"
#include "quant_ops.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static void ql_free(void *p) {
    teq_qlayer *q = p;
    teq_kw16_free(&q->wl);
    teq_kw_free(&q->w8);
    teq_kl8_free(q->kl8);
    teq_kq_free(q->kqe);
    teq_kw_free(&q->w);
    teq_kq_free(q->kqa);
    teq_echain_free(q->post);
    free(q);
}
static void kq_free(void *p) { teq_kq_free(p); }

static int32_t ql_zp(const teq_qlayer *ql);

bool teq_ql_is_quantize(const teq_node *n) {
    return !strcmp(n->op_type, "TeqQuantize") && n->domain && !strcmp(n->domain, "teq");
}

bool teq_ql_node_qparams(const teq_node *n, teq_qparams *q, double *shift) {
    const teq_attr *a = teq_node_attr(n, "qparams");
    char msg[160];
    return a && a->type == TEQ_ATTR_TENSOR && teq_qparams_from_tensor_shift(a->t, q, shift, msg, sizeof msg) == TEQ_OK;
}

/* The code of value v when a TeqQuantize node produces it. */
static bool input_code(const teq_graph *g, int v, teq_qparams *q) {
    if (v < 0 || g->values[v].producer < 0) return false;
    const teq_node *p = &g->nodes[g->values[v].producer];
    return teq_ql_is_quantize(p) && teq_ql_node_qparams(p, q, NULL) && q->kind != TEQ_CODE_NONE;
}

static bool kinds_match(const teq_qparams *w, const teq_qparams *a, teq_ql_kind *kind) {
    if (w->kind == TEQ_CODE_EXP && a->kind == TEQ_CODE_EXP && w->base == a->base) {
        *kind = TEQ_QL_EXP;
        return true;
    }
    if (w->kind == TEQ_CODE_LINEAR && w->is_signed && a->kind == TEQ_CODE_LINEAR) {
        *kind = TEQ_QL_INT8;
        return true;
    }
    return false;
}

/* Lay a weight constant out as kernel rows. rows x K codes: codes[r * K + k] = all[src(r, k)], and the
 * channel scale of each row, which must not change along k (else the layer stays on the float path). */
typedef struct {
    int64_t rows, K;
    int64_t (*src)(const void *geo, int64_t r, int64_t k);
    const void *geo;
} layout;

typedef struct {
    int64_t K, N;
} geo_t; /* [K, N] constant, rows n: transposed */
static int64_t src_direct(const void *geo, int64_t r, int64_t k) { return r * ((const geo_t *)geo)->K + k; }
static int64_t src_transposed(const void *geo, int64_t r, int64_t k) { return k * ((const geo_t *)geo)->N + r; }
typedef struct {
    int64_t Cg, Mg, KK;
} geo_ct;
static int64_t src_convt(const void *geo, int64_t r, int64_t k) {
    const geo_ct *q = geo;
    const int64_t t = r % q->KK, mg = (r / q->KK) % q->Mg, gi = r / (q->KK * q->Mg);
    return ((gi * q->Cg + k) * q->Mg + mg) * q->KK + t;
}

static teq_status build_rows(const teq_value *wv, const layout *L, double row_mul, teq_kw *kw, bool *ok,
                             teq_error *err) {
    const teq_qweight *qw = wv->qweight;
    const int64_t numel = teq_tensor_numel(wv->constant);
    *ok = false;
    if (L->rows * L->K != numel) return TEQ_OK;
    uint8_t *all = malloc((size_t)numel + 1), *codes = malloc((size_t)numel + 1);
    float *rs = malloc(sizeof(float) * (size_t)(L->rows + 1));
    if (!all || !codes || !rs) {
        free(all), free(codes), free(rs);
        return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory preparing quantized weights");
    }
    teq_unpack_bits(qw->packed, numel, qw->q.bits, all);
    int64_t inner = 1;
    if (qw->per_channel)
        for (int d = qw->ch_axis + 1; d < wv->constant->ndim; d++) inner *= wv->constant->dims[d];
    bool same = true;
    for (int64_t r = 0; r < L->rows && same; r++) {
        int64_t ch0 = -1;
        for (int64_t k = 0; k < L->K; k++) {
            const int64_t i = L->src(L->geo, r, k);
            codes[r * L->K + k] = all[i];
            if (qw->per_channel) {
                const int64_t ch = (i / inner) % qw->n_ch;
                if (ch0 >= 0 && ch != ch0) {
                    same = false;
                    break;
                }
                ch0 = ch;
            }
        }
        rs[r] = (float)((qw->per_channel && ch0 >= 0 ? (double)qw->ch_scale[ch0] : 1.0) * row_mul);
    }
    teq_status s = TEQ_OK;
    if (same && (s = teq_kw_init(kw, &qw->q, L->rows, L->K, codes, rs, err)) == TEQ_OK) *ok = true;
    free(all), free(codes), free(rs);
    return s;
}

/* The largest |level| of the weights' code (*mw) and of the activation code qa (*ma, its levels in la), and
 * whether qa has a negative level (*neg): the grids of both lane widths are set on these. False (with err set)
 * where no grid can be: a code without non-zero finite levels, or no terms. */
static bool lanes_extremes(const teq_kw *w, const teq_qparams *qa, float la[256], double *mw, double *ma, bool *neg,
                           teq_error *err) {
    *mw = *ma = 0, *neg = false;
    teq_q_code_table(qa, la);
    for (int c = 0; c < teq_q_num_codes(&w->q); c++) *mw = fmax(*mw, fabs(w->lut[c]));
    for (int c = 0; c < teq_q_num_codes(qa); c++) *ma = fmax(*ma, fabs(la[c])), *neg |= la[c] < 0;
    if (*mw > 0 && *ma > 0 && isfinite(*mw) && isfinite(*ma) && w->K >= 1) return true;
    if (err) teq_error_set(err, TEQ_ERR_ARG, "integer lanes: a code without non-zero levels");
    return false;
}

/* The integer lanes of an EXP layer's weights w and activation code qa (qlayer.h). */
teq_status teq_ql_lanes_prepare(const teq_kw *w, const teq_qparams *qa, teq_kw16 *wl, int16_t alut[256], double *dw,
                                double *da, teq_error *err) {
    memset(wl, 0, sizeof *wl);
    const int nw = teq_q_num_codes(&w->q), na = teq_q_num_codes(qa);
    double mw, ma;
    bool neg;
    float la[256];
    if (!lanes_extremes(w, qa, la, &mw, &ma, &neg, err)) return TEQ_ERR_ARG;
    const double L = fmin(32767.0, floor(sqrt(2147483647.0 / (double)w->K)));
    if (L < 1) return teq_error_set(err, TEQ_ERR_ARG, "integer lanes: K = %lld is too long", (long long)w->K);
    *dw = mw / L, *da = ma / L;
    memset(alut, 0, sizeof(int16_t) * 256);
    for (int c = 0; c < na; c++) alut[c] = (int16_t)lrint(la[c] / *da);
    int16_t wi[256] = {0};
    for (int c = 0; c < nw; c++) wi[c] = (int16_t)lrint(w->lut[c] / *dw);
    int16_t *vals = malloc(sizeof(int16_t) * (size_t)(w->M * w->K) + 2);
    float *rs = malloc(sizeof(float) * (size_t)(w->M + 1));
    if (!vals || !rs) {
        free(vals), free(rs);
        return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory preparing integer lanes");
    }
    for (int64_t m = 0; m < w->M; m++) {
        rs[m] = (float)(w->scale[m] * *dw); /* an exponential code's row scale (no step), times dw */
        for (int64_t k = 0; k < w->K; k++) vals[m * w->K + k] = wi[teq_kw_code(w, m, k)];
    }
    teq_status s = teq_kw16_init(wl, w->M, w->K, vals, rs, err);
    free(vals), free(rs);
    return s;
}

/* The activation side of 8-bit lanes: the grid's top is the |level| of code top (top < 0: the code's largest
 * |level|, ma); codes whose |level| is larger saturate at the grid's end (the quantizer chooses a top below
 * the code's largest level where the calibration data measured less error that way: teq_ql_lanes8_tops) */
static void lanes8_act(const teq_qparams *qa, const float la[256], double ma, bool neg, int top, uint8_t alut[256],
                       int32_t *zp, double *da) {
    const int na = teq_q_num_codes(qa);
    const double t = top >= 0 && top < na && fabs(la[top]) > 0 && fabs(la[top]) < ma ? fabs(la[top]) : ma;
    const double hi = neg ? 127 : 255;
    *zp = neg ? 128 : 0;
    *da = t / hi;
    memset(alut, (int)*zp, 256);
    for (int c = 0; c < na; c++) /* |level| <= t: in 0..255 as it is; beyond, the grid's end */
        alut[c] = (uint8_t)(fmin(fmax((double)lrint(la[c] / *da), neg ? -hi : 0), hi) + *zp);
}

teq_status teq_ql_lanes8_prepare(const teq_kw *w, const teq_qparams *qa, int top, teq_kw *w8, uint8_t alut[256],
                                 int32_t *zp, double *dw, double *da, teq_error *err) {
    memset(w8, 0, sizeof *w8);
    const int nw = teq_q_num_codes(&w->q);
    double mw, ma;
    bool neg;
    float la[256];
    if (!lanes_extremes(w, qa, la, &mw, &ma, &neg, err)) return TEQ_ERR_ARG;
    if (w->K > 65536) return teq_error_set(err, TEQ_ERR_ARG, "8-bit lanes: K = %lld is too long", (long long)w->K);
    *dw = mw / 127;
    lanes8_act(qa, la, ma, neg, top, alut, zp, da);
    uint8_t wi[256];
    memset(wi, 128, sizeof wi);
    for (int c = 0; c < nw; c++) wi[c] = (uint8_t)(lrint(w->lut[c] / *dw) + 128); /* a signed 8-bit code: q + 128 */
    uint8_t *codes = malloc((size_t)(w->M * w->K) + 1);
    float *rs = malloc(sizeof(float) * (size_t)(w->M + 1));
    teq_status s = TEQ_OK;
    if (!codes || !rs) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "out of memory preparing integer lanes");
    } else {
        for (int64_t m = 0; m < w->M; m++) {
            rs[m] = (float)(w->scale[m] * *dw);
            for (int64_t k = 0; k < w->K; k++) codes[m * w->K + k] = wi[teq_kw_code(w, m, k)];
        }
        const teq_qparams q8 = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = 1.0};
        if (!(s = teq_kw_init(w8, &q8, w->M, w->K, codes, rs, err))) teq_kw_trim(w8, true);
    }
    free(codes), free(rs);
    return s;
}

/* An 8-bit lanes layer's table of lane integers (teq_qlayer.kl8) for its current alut8, da8 and shift; made
 * again where those changed. Without one the layer quantizes and maps, with the same integers. */
static void kl8_refresh(teq_qlayer *ql, bool rebuild) {
    const float sh = ql->matmul ? 0.0f : ql->in_shift;
    if (ql->lanes != 8 || !ql->kqe || (ql->kl8 && !rebuild && teq_kl8_shift(ql->kl8) == sh)) return;
    teq_kl8_free(ql->kl8);
    ql->kl8 = teq_kl8_new(ql->kqe, ql->alut8, ql->da8, sh);
}

/* The lanes of a bound layer at width bits (8: the activation grid's top code top, < 0 for the code's largest
 * level); where they cannot be made it runs exact (lanes 0). */
static teq_status bind_lanes(teq_qlayer *ql, int bits, int top, teq_error *err) {
    teq_error e;
    ql->lanes = 0;
    if (bits == 16 && (ql->depthwise || ql->matmul)) return TEQ_OK; /* no int16 depthwise or MatMul path */
    if (bits == 16 && !ql->wl.M &&
        (!teq_k_i16_conv_ok() || teq_ql_lanes_prepare(&ql->w, &ql->qa, &ql->wl, ql->alut, &ql->dw, &ql->da, &e)))
        return TEQ_OK;
    if (bits == 8 && !ql->w8.M) {
        if (teq_ql_lanes8_prepare(&ql->w, &ql->qa, top, &ql->w8, ql->alut8, &ql->zp8, &ql->dw8, &ql->da8, &e))
            return TEQ_OK;
        /* a depthwise layer reads w8's rows (q8) on the depthwise kernel; the others the packed rows */
        if (ql->depthwise ? !teq_kset_best()->i8_dw || !ql->w8.q8 : !teq_k_i8_conv_ok(&ql->w8)) {
            teq_kw_free(&ql->w8);
            memset(&ql->w8, 0, sizeof ql->w8);
            return TEQ_OK;
        }
    } else if (bits == 8 && top != ql->top8) { /* built at another top: the weights stay, the table changes */
        float la[256];
        double mw, ma;
        bool neg;
        lanes_extremes(&ql->w, &ql->qa, la, &mw, &ma, &neg, NULL); /* built once: it holds */
        lanes8_act(&ql->qa, la, ma, neg, top, ql->alut8, &ql->zp8, &ql->da8);
    }
    if (bits == 8) ql->top8 = top;
    if (!ql->kqe) {
        teq_status s = teq_kq_new(&ql->qa, &ql->kqe, err);
        if (s) return s;
        teq_kq_trim(&ql->kqe);
    }
    ql->lanes = bits;
    kl8_refresh(ql, true);
    return TEQ_OK;
}

/* attribute a of n along its last axis (default 1): the depthwise kernel's row stride and dilation */
static int64_t last_of(const teq_node *n, const char *a) {
    int64_t len;
    const int64_t *v = teq_node_attr_ints(n, a, &len);
    return v && len > 0 ? v[len - 1] : 1;
}

bool teq_ql_lanes_eligible(const teq_graph *g, const teq_node *n) {
    const teq_qlayer *ql = n->kern;
    /* the kern of a Conv or MatMul is its layer (other nodes' are other things) */
    if ((strcmp(n->op_type, "Conv") && strcmp(n->op_type, "MatMul")) || !ql || (n->domain && n->domain[0]) ||
        ql->kind != TEQ_QL_EXP || n->n_in < 2 || n->in[1] < 0)
        return false;
    if (ql->matmul) return teq_kset_best()->i8_conv != NULL; /* B constant, 2-D (bind_layer) */
    if (strcmp(n->op_type, "Conv")) return false;
    const teq_tensor *W = g->values[n->in[1]].constant;
    if (!W || W->ndim < 3 || W->ndim > 4) return false;
    if (W->dims[1] == 1) { /* depthwise: nn.c's loop on the INT8 depthwise kernel */
        const int64_t KH = W->ndim == 4 ? W->dims[2] : 1, KW = W->dims[W->ndim - 1];
        return ql->depthwise && KH * KW * 127 * 255 < (1 << 24) && teq_k_i8_dw_ok(KH, KW, last_of(n, "strides"), last_of(n, "dilations"));
    }
    return teq_node_attr_int(n, "group", 1) == 1 && (teq_k_i16_conv_ok() || teq_kset_best()->i8_conv);
}

teq_status teq_ql_set_lanes(teq_node *n, int bits, int top, teq_error *err) {
    teq_qlayer *ql = n->kern;
    if (bits != 8 && bits != 16) {
        ql->lanes = 0; /* what was built stays, for turning it on again */
        return TEQ_OK;
    }
    return bind_lanes(ql, bits, top, err);
}

double teq_ql_lanes_bound(const teq_qlayer *ql) {
    if (!ql->lanes) return 0;
    float la[256];
    double mw, ma;
    bool neg;
    lanes_extremes(&ql->w, &ql->qa, la, &mw, &ma, &neg, NULL); /* made lanes: it holds */
    const double dw = ql->lanes == 8 ? ql->dw8 : ql->dw, da = ql->lanes == 8 ? ql->da8 : ql->da;
    if (ql->lanes == 8) ma = fmin(ma, da * (neg ? 127 : 255)); /* the grid's top: inputs up to it */
    return mw * da / 2 + ma * dw / 2 + dw * da / 4;
}

static teq_status bind_layer(teq_graph *g, teq_node *n, teq_error *err) {
    teq_qparams qa, qb;
    teq_ql_kind kind;
    const bool conv = !strcmp(n->op_type, "Conv"), convt = !strcmp(n->op_type, "ConvTranspose"),
               gemm = !strcmp(n->op_type, "Gemm"), matmul = !strcmp(n->op_type, "MatMul");
    if (n->domain && n->domain[0]) return TEQ_OK;
    if (!(conv || convt || gemm || matmul) || n->n_in < 2 || !input_code(g, n->in[0], &qa)) return TEQ_OK;
    const int wid = n->in[1];
    if (wid < 0) return TEQ_OK;
    const teq_value *wv = &g->values[wid];
    teq_qlayer *ql = calloc(1, sizeof *ql);
    if (!ql) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory preparing quantized layers");
    ql->qa = qa;
    if (matmul && !wv->constant && input_code(g, wid, &qb)) {
        /* two activations: only the reference kernel has something to do (both sides are codes) */
        if (qa.kind == TEQ_CODE_EXP && qb.kind == TEQ_CODE_EXP && qa.base == qb.base) {
            ql->kind = TEQ_QL_DYN, ql->qb = qb;
            n->kern = ql, n->kern_free = ql_free;
            return TEQ_OK;
        }
        free(ql);
        return TEQ_OK;
    }
    if (!wv->constant || !wv->qweight || !kinds_match(&wv->qweight->q, &qa, &kind)) {
        free(ql);
        return TEQ_OK;
    }
    ql->kind = kind;
    const teq_tensor *W = wv->constant;
    layout L = {0};
    geo_t gt;
    geo_ct gc;
    double mul = 1.0;
    if (conv && W->ndim >= 3) {
        gt.K = teq_tensor_numel(W) / (W->dims[0] ? W->dims[0] : 1), gt.N = W->dims[0];
        L = (layout){W->dims[0], gt.K, src_direct, &gt};
    } else if (convt && W->ndim >= 3) {
        const int64_t group = teq_node_attr_int(n, "group", 1);
        if (group < 1 || W->dims[0] % group) goto skip;
        gc.Cg = W->dims[0] / group, gc.Mg = W->dims[1], gc.KK = 1;
        for (int d = 2; d < W->ndim; d++) gc.KK *= W->dims[d];
        L = (layout){group * gc.Mg * gc.KK, gc.Cg, src_convt, &gc};
    } else if (gemm && W->ndim == 2) {
        if (teq_node_attr_int(n, "transA", 0)) goto skip;
        const bool tb = teq_node_attr_int(n, "transB", 0) != 0;
        mul = teq_node_attr_float(n, "alpha", 1.0f);
        gt.K = tb ? W->dims[1] : W->dims[0], gt.N = tb ? W->dims[0] : W->dims[1];
        L = (layout){gt.N, gt.K, tb ? src_direct : src_transposed, &gt};
    } else if (matmul && W->ndim == 2) {
        gt.K = W->dims[0], gt.N = W->dims[1];
        L = (layout){gt.N, gt.K, src_transposed, &gt};
    } else {
        goto skip;
    }
    bool ok;
    teq_status s = build_rows(wv, &L, mul, &ql->w, &ok, err);
    if (s) {
        free(ql);
        return s;
    }
    if (!ok) goto skip;
    /* the INT8 kernels accumulate in int32: |q_w * q_a| <= 127 * 255 per term, so K up to 66000 is safe;
     * a longer reduction stays on the float path */
    if (kind == TEQ_QL_INT8 && ql->w.K > 65536) {
        teq_kw_free(&ql->w);
        goto skip;
    }
    if (kind == TEQ_QL_INT8 && (s = teq_kq_new(&qa, &ql->kqa, err))) {
        ql_free(ql);
        return s;
    }
    /* INT8 weights as the kernels read them (teq_kw_trim): a Conv with one input channel per group (depthwise)
     * runs nn.c's depthwise loop or the float path, never the convolution kernel, so it keeps q8 alone */
    if (kind == TEQ_QL_INT8) teq_kw_trim(&ql->w, !(conv && W->ndim >= 3 && W->dims[1] == 1));
    n->kern = ql, n->kern_free = ql_free;
    ql->depthwise = conv && W->ndim >= 3 && W->dims[1] == 1;
    ql->matmul = matmul && W->ndim == 2;
    /* int_lanes: 1 for int16 lanes (the first files' value), 8 for 8-bit ones; readers before 8-bit lanes
     * run a layer marked 8 exactly */
    const int64_t il = teq_node_attr_int(n, "int_lanes", 0), top = teq_node_attr_int(n, "int_lanes_top", -1);
    ql->top8 = -1;
    if ((il == 1 || il == 8) && teq_ql_lanes_eligible(g, n) &&
        (s = bind_lanes(ql, il == 1 ? 16 : 8, top >= 0 && top < 256 ? (int)top : -1, err)))
        return s;
    return TEQ_OK;
skip:
    free(ql);
    return TEQ_OK;
}

/* Whether input k of node m quantizes itself, in the fast mode, with the code of the TeqQuantize in front
 * (bind_layer reads a layer's activation code from there):
 * - linear codes: INT8 Convs and ConvTransposes (teq_ql_conv_i8, teq_ql_gemm, and the depthwise integer
 *   path where its sums stay in float's exact range); a linear code is idempotent: the level
 *   (c - zp) * scale in float divides back to c - zp within 2^-16;
 * - exponential codes: Convs on integer lanes (teq_ql_conv_lanes; quantize(level(c)) = c too), which add
 *   the quantizer's shift first where it has one (teq_qlayer.in_shift). */
static bool quantizes_input(const teq_graph *g, const teq_node *m, int k, teq_code_kind kind) {
    const bool convt = !strcmp(m->op_type, "ConvTranspose");
    const teq_qlayer *ql = (strcmp(m->op_type, "Conv") && !convt) || k != 0 ? NULL : m->kern;
    if (!ql) return false;
    if (kind == TEQ_CODE_EXP) return !convt && ql->kind == TEQ_QL_EXP && ql->lanes;
    const teq_tensor *w = m->n_in > 1 && m->in[1] >= 0 ? g->values[m->in[1]].constant : NULL;
    /* depthwise: one input channel per group, 1-D or 2-D */
    const bool dw = !convt && w && w->ndim >= 3 && w->dims[1] == 1 && w->ndim - 2 <= 2;
    const int64_t KK = w && dw ? w->dims[2] * (w->ndim == 4 ? w->dims[3] : 1) : 0;
    return ql->kind == TEQ_QL_INT8 && w && (!dw || teq_ql_dw_ok(ql, KK));
}

/* A TeqQuantize whose output (not a graph output) is read only by inputs that quantize themselves with its
 * code: the fast mode hands its input on instead. Linear codes only without a shift (INT8 readers do not
 * add one). Any other reader takes the float levels, so the quantizer stays. */
static bool requantized_by_readers(const teq_graph *g, const teq_node *n) {
    teq_qparams q;
    double shift = 0;
    if (!teq_ql_is_quantize(n) || !n->kern || n->n_out < 1 || n->out[0] < 0 || !teq_ql_node_qparams(n, &q, &shift) ||
        !(q.kind == TEQ_CODE_EXP || (q.kind == TEQ_CODE_LINEAR && shift == 0)))
        return false;
    const int v = n->out[0];
    for (int j = 0; j < g->n_outputs; j++)
        if (g->outputs[j] == v) return false;
    int readers = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            if (g->nodes[i].in[k] != v) continue;
            if (!quantizes_input(g, &g->nodes[i], k, q.kind)) return false;
            readers++;
        }
    return readers > 0;
}

/* The INT8 fast paths of Conv (teq_ql_conv_i8 per block, the depthwise one per plane, op_conv after any
 * other), and the packed FP32 Conv (fconv.c), apply to the output in place the TeqElementwise, Relu and
 * constant-bound Clip nodes that follow it, each the sole reader of the one before (the first of the Conv's
 * output, none a graph output); those nodes then hand their input on. */

/* Whether INT8 layer m (Conv or ConvTranspose) runs on a path that takes its input as codes and, for a
 * Conv, can give its output as codes: teq_ql_conv_i8 (one group, 1-D or 2-D, the kernel on this CPU), or
 * the depthwise integer path. The same conditions as nn.c's choice of path, which fails loudly where they
 * would disagree. */
static bool int_path(const teq_graph *g, const teq_node *m) {
    const teq_qlayer *ql = m->kern;
    const bool conv = !strcmp(m->op_type, "Conv"), convt = !strcmp(m->op_type, "ConvTranspose");
    if ((!conv && !convt) || (m->domain && m->domain[0]) || !ql || ql->kind != TEQ_QL_INT8 || m->n_in < 2 || m->in[1] < 0)
        return false;
    const teq_tensor *w = g->values[m->in[1]].constant;
    if (!w || w->ndim < 3 || w->ndim > 4) return false;
    const int64_t group = teq_node_attr_int(m, "group", 1), KK = w->dims[2] * (w->ndim == 4 ? w->dims[3] : 1);
    if (convt) return group == 1 && teq_k_i8_conv_ok(&ql->w);
    if (w->dims[1] == 1) return teq_ql_dw_ok(ql, KK); /* one input channel per group: nn.c's depthwise loop */
    return group == 1 && teq_k_i8_conv_ok(&ql->w);
}


/* Whether ConvTranspose n's taps do not overlap and cover each output once, from its attributes: kernel =
 * strides, dilations 1, no padding of any kind, no output_shape (nn.c col2im_tiles_ok at run time; nn.c fails
 * loudly should the two disagree). Its INT8 path then writes each output once (convt_tile_fn) and can write
 * it as a code. */
static bool convt_tiles_attrs(const teq_graph *g, const teq_node *n) {
    const teq_tensor *w = n->n_in > 1 && n->in[1] >= 0 ? g->values[n->in[1]].constant : NULL;
    if (!w || w->ndim < 3 || teq_node_attr_ints(n, "output_shape", &(int64_t){0})) return false;
    const char *ap = teq_node_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID")) return false;
    const int nsp = w->ndim - 2;
    int64_t len;
    const int64_t *s = teq_node_attr_ints(n, "strides", &len);
    if (!s || len != nsp) return false;
    int64_t kk = 1;
    for (int i = 0; i < nsp; i++) {
        if (s[i] != w->dims[2 + i] || s[i] < 1 || s[i] > 64) return false;
        kk *= w->dims[2 + i];
    }
    if (kk > 64) return false; /* nn.c's scatter of codes takes kernels of up to 64 taps */
    const char *zero[] = {"pads", "output_padding"};
    for (int a = 0; a < 2; a++) {
        const int64_t *v = teq_node_attr_ints(n, zero[a], &len);
        for (int64_t i = 0; v && i < len; i++)
            if (v[i]) return false;
    }
    const int64_t *d = teq_node_attr_ints(n, "dilations", &len);
    for (int64_t i = 0; d && i < len; i++)
        if (d[i] != 1) return false;
    return true;
}

/* r's prepared quantizer when r is a pass-through TeqQuantize whose readers all take INT8 codes (int_path, input
 * 0), else NULL: the codes a producer whose output only r reads may write (codes_out, float_codes_out) */
static const teq_kq *int_readers_quantizer(teq_graph *g, const teq_node *r) {
    if (!r || !teq_ql_is_quantize(r) || !r->pass_fast || !r->kern || r->n_out != 1) return NULL;
    const int q = r->out[0];
    int readers = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == q) {
                if (k != 0 || !int_path(g, &g->nodes[i])) return NULL;
                readers++;
            }
    return readers ? r->kern : NULL;
}

/* The prepared quantizer whose codes INT8 Conv n (or ConvTranspose whose taps do not overlap) may write as its
 * output (teq_qlayer.outq), or NULL. */
static const teq_kq *codes_out(teq_graph *g, const teq_node *n) {
    const teq_qlayer *ql = n->kern;
    const bool convt = !strcmp(n->op_type, "ConvTranspose");
    if ((strcmp(n->op_type, "Conv") && !(convt && convt_tiles_attrs(g, n))) || !int_path(g, n) || n->n_out != 1)
        return NULL;
    int v = n->out[0];
    teq_node *r = teq_graph_sole_reader(g, v);
    for (int l = 0; r && ql->post && l < ql->post->nlinks; l++) r = teq_graph_sole_reader(g, r->out[0]); /* past the chain */
    return int_readers_quantizer(g, r);
}

/* The prepared quantizer whose codes a float producer n may write as its output (teq_node.codes_out): an Add
 * (with its Relu fused or none; not one that adds a zero-padded Concat), a Mul or a Concat (not one handed on to
 * such an Add), of the default domain, whose output (past the fused Relu) only a pass-through TeqQuantize reads,
 * whose readers all take INT8 codes (int_path, input 0). The quantization then happens as the values are made,
 * in cache, instead of in each reader after a pass over memory; the codes are the ones the readers would make. */
static const teq_kq *float_codes_out(teq_graph *g, const teq_node *n) {
    const bool add = !strcmp(n->op_type, "Add"), mul = !strcmp(n->op_type, "Mul"), cat = !strcmp(n->op_type, "Concat");
    if ((!add && !mul && !cat) || (n->domain && n->domain[0]) || n->n_out != 1 || n->pass_fast || n->out[0] < 0) return NULL;
    if (cat && n->kern) return NULL; /* a Concat marked for a zero-padded Add */
    if (add && n->kern && !teq_is_add_fuse(n)) return NULL; /* a link of a chain */
    const teq_add_fuse *f = add && n->kern ? n->kern : NULL;
    if (f && f->zp) return NULL;
    teq_node *r = teq_graph_sole_reader(g, n->out[0]);
    if (r && f && f->relu) r = r->pass_fast && !strcmp(r->op_type, "Relu") ? teq_graph_sole_reader(g, r->out[0]) : NULL;
    return int_readers_quantizer(g, r);
}

/* The Add that alone reads Concat n's output, when n is Concat(A, Z) along axis 1 with Z a float constant of
 * +0.0 only (every bit clear) and A not a constant (ops.h teq_add_fuse); *k: the Add's input slot. */
static teq_node *zero_pad_reader(teq_graph *g, const teq_node *n, int *k) {
    if (strcmp(n->op_type, "Concat") || (n->domain && n->domain[0]) || n->n_in != 2 || n->n_out != 1 || n->kern ||
        n->in[0] < 0 || n->in[1] < 0 || n->out[0] < 0 || g->values[n->in[0]].constant)
        return NULL;
    const teq_tensor *z = g->values[n->in[1]].constant;
    if (!z || z->dtype != TEQ_DTYPE_FLOAT || !z->data || z->ndim < 2) return NULL;
    const int64_t axis = teq_node_attr_int(n, "axis", 1);
    if (axis != 1 && axis != 1 - z->ndim) return NULL;
    const int64_t nz = teq_tensor_numel(z);
    const uint32_t *zb = z->data;
    for (int64_t i = 0; i < nz; i++)
        if (zb[i]) return NULL;
    const int v = n->out[0];
    if (g->values[v].n_uses != 1) return NULL;
    for (int j = 0; j < g->n_outputs; j++)
        if (g->outputs[j] == v) return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *a = &g->nodes[i];
        for (int s = 0; s < a->n_in; s++) {
            if (a->in[s] != v) continue;
            const bool add = !strcmp(a->op_type, "Add") && !(a->domain && a->domain[0]) && a->n_in == 2 &&
                             a->n_out == 1 && a->in[1 - s] != v && (!a->kern || teq_is_add_fuse(a));
            *k = s;
            return add ? a : NULL;
        }
    }
    return NULL;
}

static teq_status fast_passes(teq_graph *g, bool on) {
    for (int i = 0; i < g->n_nodes; i++) {
        if (teq_add_link_slot(&g->nodes[i]) >= 0) g->nodes[i].kern = NULL; /* set again below */
        g->nodes[i].pass_fast = on && requantized_by_readers(g, &g->nodes[i]);
    }
    /* a quantizer that computes its values reads them from its step table where the CPU has one */
    for (int i = 0; i < g->n_nodes; i++)
        if (teq_ql_is_quantize(&g->nodes[i]) && g->nodes[i].kern)
            teq_kq_value_table(g->nodes[i].kern, !g->nodes[i].pass_fast);
    /* lanes readers of a passed-through shifted quantizer add its shift themselves */
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        if (!strcmp(n->op_type, "Conv") && n->kern && ((teq_qlayer *)n->kern)->kind == TEQ_QL_EXP) {
            teq_qlayer *ql = n->kern;
            ql->in_shift = 0;
            const int v = n->in[0];
            const teq_node *p = v >= 0 && g->values[v].producer >= 0 ? &g->nodes[g->values[v].producer] : NULL;
            teq_qparams q;
            double c = 0;
            if (p && p->pass_fast && teq_ql_is_quantize(p) && teq_ql_node_qparams(p, &q, &c)) ql->in_shift = (float)c;
            kl8_refresh(ql, false);
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        teq_qlayer *ql = n->kern;
        /* a ConvTranspose takes its chain too (nn.c applies it as col2im writes; an exponential one none) */
        const bool convt = !strcmp(n->op_type, "ConvTranspose");
        if ((strcmp(n->op_type, "Conv") && !convt) || (n->domain && n->domain[0])) continue;
        /* where the chain goes: an INT8 or lanes layer's, or a packed FP32 layer's or an exponential layer's
         * on the FP32 kernel (fconv.c) */
        teq_fconv *fc = n->fpack;
        if (ql) teq_echain_free(ql->post), ql->post = NULL;
        if (fc) teq_echain_free(fc->post), fc->post = NULL;
        teq_echain **post = ql && (ql->kind == TEQ_QL_INT8 || ql->lanes)             ? &ql->post
                            : fc && (!ql || (!convt && ql->kind == TEQ_QL_EXP && fc->dec)) ? &fc->post
                                                                                        : NULL;
        if (!post) continue;
        teq_echain c = {0};
        teq_node *e = on && n->n_out == 1 ? teq_graph_sole_reader(g, n->out[0]) : NULL;
        teq_node *links[TEQ_ECHAIN_LINKS];
        /* output channels: the weights' first dimension, a ConvTranspose's second times its groups (the dims
         * stay when the data is released) */
        const teq_tensor *w = n->n_in > 1 && n->in[1] >= 0 ? g->values[n->in[1]].constant : NULL;
        const int64_t channels = !w || w->ndim < 2 ? 0
                                 : convt          ? w->dims[1] * teq_node_attr_int(n, "group", 1) /* (C, M/group, k...) */
                                                  : w->dims[0];
        while (e && teq_echain_add(g, e, &c, channels, w ? w->ndim : 0)) {
            links[c.nlinks - 1] = e;
            e = teq_graph_sole_reader(g, e->out[0]);
        }
        if (!c.nlinks) continue;
        if (!(*post = malloc(sizeof **post))) { /* without memory: unfused, still right */
            for (int l = 0; l < c.nlinks; l++) free(c.chan[l]);
            continue;
        }
        **post = c;
        for (int l = 0; l < c.nlinks; l++) {
            links[l]->pass_fast = true;
            /* an Add link passes on its non-constant input, whichever slot it is in */
            if (!strcmp(links[l]->op_type, "Add"))
                links[l]->kern = (void *)&teq_add_link_mark[g->values[links[l]->in[0]].constant ? 1 : 0],
                links[l]->kern_free = NULL;
        }
    }
    /* a Concat of A and zeros along the channels that one Add alone reads (ops.h teq_add_fuse): zs[add] = that
     * Concat (its node, and its input slot in the Add) */
    struct { int concat, slot; } *zs = on ? calloc((size_t)g->n_nodes + 1, sizeof *zs) : NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        if (n->kern == &teq_concat_zpad_mark) n->kern = NULL;
        int k;
        teq_node *a = zs ? zero_pad_reader(g, n, &k) : NULL; /* without memory: no such fusion, still right */
        if (!a) continue;
        n->kern = (void *)&teq_concat_zpad_mark, n->kern_free = NULL;
        zs[a - g->nodes].concat = i, zs[a - g->nodes].slot = k + 1;
    }
    /* an Add whose output only a Relu reads: the Add applies it (elementwise.c op_add) and the Relu passes its
     * input on; the same two IEEE results per value */
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        if (strcmp(n->op_type, "Add") || (n->domain && n->domain[0]) || n->n_in != 2 || n->n_out != 1) continue;
        if (teq_is_add_fuse(n)) teq_add_fuse_free(n->kern), n->kern = NULL, n->kern_free = NULL;
        if (n->pass_fast) continue; /* a link of a chain above: its producer adds it */
        const int z = zs ? zs[i].slot : 0;
        teq_add_fuse *f = NULL;
        teq_node *r = on && !n->kern ? teq_graph_sole_reader(g, n->out[0]) : NULL;
        const int relu = r && !strcmp(r->op_type, "Relu") && !(r->domain && r->domain[0]) && r->n_out == 1 && !r->pass_fast;
        teq_node *cn = z ? &g->nodes[zs[i].concat] : NULL;
        if ((relu || z) && (f = malloc(sizeof *f))) {
            f->relu = relu, f->zp = z, f->cz = cn ? g->values[cn->in[1]].constant->dims[1] : 0;
            n->kern = f, n->kern_free = teq_add_fuse_free;
            if (relu) r->pass_fast = true;
        } else if (cn) {
            cn->kern = NULL; /* the Add takes no fusion: its Concat concatenates */
        }
    }
    free(zs);
    /* after the chains (codes_out looks through them) */
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        if ((!strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "ConvTranspose")) && n->kern)
            ((teq_qlayer *)n->kern)->outq = on ? codes_out(g, n) : NULL;
        n->codes_out = on ? float_codes_out(g, n) : NULL;
    }
    return TEQ_OK;
}

teq_status teq_ops_bind_quantized(teq_graph *g, const char *path, teq_error *err) {
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        if (n->kern) continue;
        teq_status s;
        if (teq_ql_is_quantize(n)) {
            teq_qparams q;
            if (!teq_ql_node_qparams(n, &q, NULL) || q.kind == TEQ_CODE_NONE) continue;
            teq_kq *kq;
            if ((s = teq_kq_new(&q, &kq, err))) return s;
            teq_kq_trim(&kq);
            n->kern = kq, n->kern_free = kq_free;
        } else if ((s = bind_layer(g, n, err))) {
            return s;
        }
    }
    (void)path;
    return fast_passes(g, true);
}

void teq_ops_fast_passes(teq_graph *g, bool on) { (void)fast_passes(g, on); }

void teq_ops_release_weights(teq_graph *g, bool (*taken)(const teq_node *reader, const teq_value *v)) {
    for (int v = 0; v < g->n_values; v++) {
        teq_value *val = &g->values[v];
        if (!val->constant || !val->constant->data) continue;
        bool all = val->n_uses > 0;
        for (int j = 0; j < g->n_outputs && all; j++) all = g->outputs[j] != v;
        for (int i = 0; i < g->n_nodes && all; i++) {
            const teq_node *n = &g->nodes[i];
            for (int k = 0; k < n->n_in && all; k++)
                if (n->in[k] == v) all = k == 1 && taken(n, val);
        }
        if (!all) continue;
        /* shape and type stay (operators check them); the values live on in the readers' own layouts */
        free(val->constant->data);
        val->constant->data = NULL;
        val->constant->capacity = 0;
    }
}

/* a bound EXP or INT8 layer holds the weights as packed codes */
static bool bound_reader(const teq_node *n, const teq_value *v) {
    const teq_qlayer *ql = strcmp(n->op_type, "TeqQuantize") ? n->kern : NULL;
    return v->qweight && ql && (ql->kind == TEQ_QL_EXP || ql->kind == TEQ_QL_INT8);
}

void teq_ops_release_bound_weights(teq_graph *g) { teq_ops_release_weights(g, bound_reader); }

const teq_qlayer *teq_ql_of(const teq_node *node) {
    if (!node->kern || teq_kmode_get() == TEQ_KMODE_DEQUANT) return NULL;
    if (!strcmp(node->op_type, "TeqQuantize")) return NULL; /* its kern is a teq_kq */
    return node->kern;
}

teq_status teq_ql_decode(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float **W) {
    size_t bytes;
    if (!teq_mul_size((size_t)ql->w.M, (size_t)ql->w.K, &bytes) || !teq_mul_size(bytes, sizeof(float), &bytes))
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "decoded weights overflow");
    float *d = teq_ctx_scratch_slot(ctx, 1, bytes ? bytes : sizeof(float));
    if (!d) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory decoding weights (%zu bytes)", bytes);
    teq_k_decode(&ql->w, d, teq_ctx_threads(ctx));
    /* the float products that follow (SGEMM, the depthwise loop) without subnormal operands (kernels.h) */
    if (ql->w.subnormal) teq_k_flush_subnormals(d, ql->w.M * ql->w.K);
    *W = d;
    return TEQ_OK;
}

static teq_kw rows_view(const teq_kw *w, int64_t r0, int64_t Mr);

/* block b of MR rows into the kernel's layout at p, through t (K * MR floats) */
static void decode_kwf_block(const teq_qlayer *ql, int mv, int64_t MR, int64_t b, float *t, float *p) {
    const int64_t M = ql->w.M, K = ql->w.K, r0 = b * MR, rows = M - r0 < MR ? M - r0 : MR;
    const teq_kw v = rows_view(&ql->w, r0, rows);
    teq_k_decode(&v, t, 1); /* rows r0 .. r0+rows-1, [rows][K], their scales applied */
    if (mv) teq_kwf_pack_block_mv(t, rows, K, p + b * K * MR);
    else teq_kwf_pack_block(t, rows, K, p + b * K * MR);
}

teq_status teq_ql_decode_kwf(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, teq_kwf *w) {
    /* blocks of MR rows, or of TEQ_F32C_MV_MB in the mv layout (w->mv as the pack chose it, fconv.c) */
    const int64_t M = ql->w.M, K = ql->w.K, MR = w->mv ? TEQ_F32C_MV_MB : TEQ_F32C_MR, Mb = (M + MR - 1) / MR;
    const int nt = teq_ctx_threads(ctx);
    size_t pb, tb;
    if (!teq_mul_size((size_t)Mb, (size_t)(K * MR), &pb) || !teq_mul_size(pb, sizeof(float), &pb) ||
        !teq_mul_size((size_t)(K * MR) * sizeof(float), (size_t)nt, &tb))
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "decoded weights overflow");
    float *p = teq_ctx_scratch_slot(ctx, 1, pb ? pb : sizeof(float));
    float *tmp = teq_ctx_scratch_slot(ctx, 0, tb ? tb : sizeof(float));
    if (!p || !tmp) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory decoding weights (%zu bytes)", pb + tb);
    const int mv = w->mv;
    /* one thread: no OpenMP region (teq_k_decode says why) */
    if (nt > 1 && Mb > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t b = 0; b < Mb; b++)
            decode_kwf_block(ql, mv, MR, b, tmp + (size_t)omp_get_thread_num() * (size_t)(K * MR), p);
    } else {
        for (int64_t b = 0; b < Mb; b++) decode_kwf_block(ql, mv, MR, b, tmp, p);
    }
    w->M = M, w->K = K, w->p = p;
    return TEQ_OK;
}

teq_status teq_ql_decode_wino(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, teq_kwino *w) {
    const int64_t M = ql->w.M, K = ql->w.K, C = K / 9;
    if (C < 1 || C * 9 != K) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "Winograd weights: K = %lld is not C x 3 x 3", (long long)K);
    size_t db, ub;
    if (!teq_mul_size((size_t)M, (size_t)K, &db) || !teq_mul_size(db, sizeof(float), &db) ||
        !teq_mul_size((size_t)teq_kwino_floats(M, C), sizeof(float), &ub) || ub > SIZE_MAX - 64)
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "decoded weights overflow");
    float *d = teq_ctx_scratch_slot(ctx, 0, db);
    char *u = teq_ctx_scratch_slot(ctx, 1, ub + 64);
    if (!d || !u) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory decoding weights (%zu bytes)", db + ub);
    const int nt = teq_ctx_threads(ctx);
    teq_k_decode(&ql->w, d, nt);
    if (ql->w.subnormal) teq_k_flush_subnormals(d, M * K);
    float *ua = (float *)(void *)(u + ((64 - (uintptr_t)u % 64) % 64)); /* the kernel's rows on cache lines */
    /* blocks of TEQ_WINO_MR rows per thread (each block's rows are written by one thread only) */
    const int64_t Mb = (M + TEQ_WINO_MR - 1) / TEQ_WINO_MR;
    if (nt > 1 && Mb > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t b = 0; b < Mb; b++) teq_k_wino_fill(M, C, d, ua, b * TEQ_WINO_MR, (b + 1) * TEQ_WINO_MR);
    } else {
        teq_k_wino_fill(M, C, d, ua, 0, M);
    }
    w->M = M, w->C = C, w->u = ua;
    return TEQ_OK;
}

/* A view of rows r0 .. r0+Mr-1 (pointers moved, nothing copied). */
static teq_kw rows_view(const teq_kw *w, int64_t r0, int64_t Mr) {
    teq_kw v = *w;
    v.M = Mr;
    if (w->packed) v.packed += r0 * w->row_bytes;
    v.scale += r0;
    if (w->q8) v.q8 += r0 * w->K4, v.q8_rowsum += r0;
    if (r0 % TEQ_I8C_MR) v.q8p = NULL; /* blocks of MR rows: a view must start on one */
    else if (v.q8p) v.q8p += r0 * w->Kq;
    return v;
}

/* X's K rows (row k at X + k * sxk, N contiguous values) to their codes, k-major [K][N]: each row quantized
 * where it lies. */
static void codes_by_rows(const teq_qlayer *ql, const float *X, int64_t sxk, int64_t K, int64_t N, uint8_t *R, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && K > 1)
    for (int64_t k = 0; k < K; k++) teq_kq_codes(ql->kqa, X + k * sxk, N, R + k * N, 1);
}

/* TEQ_I8_GEMM_DOT set: INT8 products keep the dot-product kernel (for comparing the two routes); read once. */
static int i8_gemm_dot(void) {
    static int v = -1;
    if (v < 0) v = getenv("TEQ_I8_GEMM_DOT") != NULL;
    return v;
}

/* The INT8 product as a 1x1 convolution over N columns (the convolution kernel's packed weights, 2 x 24 blocks
 * broadcasting weights against an activation panel), where the whole weight matrix is used and N is not tiny.
 * The dot-product kernel behind teq_k_i8_gemm / gemv reduces every output horizontally and, for a transposed
 * output (MatMul, Gemm), went column by column through the GEMV, reading all the weights once per column:
 * rec's classifier (6625 x 120 weights, 40 columns) took 1.5 ms there against FP32's 1.0. Same int32 sums,
 * same epilogue (kernels.h: fl(fl(scale * dot) + bias)). Codes [K][N] (a plane of C = K channels, 1 x N),
 * output [M][N] into Y, or through a buffer when Y is transposed. */
static teq_status gemm_by_conv(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, int64_t r0, int64_t Mr,
                               const float *X, int64_t sxk, int64_t sxn, int64_t N, const float *bias, float *Y,
                               int64_t sym, int64_t syn, bool *done) {
    *done = false;
    /* an exponential layer on 8-bit lanes (a MatMul: teq_qlayer.matmul) runs here always, on its lane integers: its
     * codes mapped by alut8 (zero point zp8, scale da8) against w8's rows; an INT8 one where it pays */
    const bool l8 = ql->lanes == 8 && ql->matmul; /* a Conv on lanes has its own route (teq_ql_conv_lanes) */
    const teq_kw *w = l8 ? &ql->w8 : &ql->w;
    const int64_t K = w->K, M = w->M;
    if (teq_kmode_get() != TEQ_KMODE_FAST || r0 != 0 || Mr != M || !teq_k_i8_conv_ok(w) ||
        (!l8 && (N < 8 || i8_gemm_dot())))
        return TEQ_OK;
    const int nt = teq_ctx_threads(ctx);
    size_t rb, tb;
    if (!teq_mul_size((size_t)K, (size_t)N, &rb) || !teq_mul_size((size_t)M, (size_t)N, &tb) ||
        !teq_mul_size(tb, sizeof(float), &tb))
        return TEQ_OK;
    uint8_t *R = teq_ctx_scratch_slot(ctx, 1, rb ? rb : 1);
    float *T = syn == 1 ? Y : teq_ctx_scratch_slot(ctx, 2, tb ? tb : sizeof(float));
    if (!R || !T) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for activation codes (%zu bytes)", rb + tb);
    if (sxn == 1 && !l8) {
        codes_by_rows(ql, X, sxk, K, N, R, nt);
    } else {
        /* column n's K values (contiguous when sxk = 1) to codes, written down the column of R */
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            uint8_t col[256];
            float f[256];
#pragma omp for schedule(static)
            for (int64_t n = 0; n < N; n++)
                for (int64_t k0 = 0; k0 < K; k0 += 256) {
                    const int64_t kc = K - k0 < 256 ? K - k0 : 256;
                    for (int64_t k = 0; k < kc; k++) f[k] = X[n * sxn + (k0 + k) * sxk];
                    if (l8) teq_ql_lanes8_ints(ql, f, kc, 0.0f, col, 1);
                    else teq_kq_codes(ql->kqa, f, kc, col, 1);
                    for (int64_t k = 0; k < kc; k++) R[(k0 + k) * N + n] = col[k];
                }
        }
    }
    const teq_i8conv g = {.C = K, .PH = 1, .PW = N, .KH = 1, .KW = 1, .SH = 1, .SW = 1, .DH = 1, .DW = 1, .OH = 1, .OW = N};
    const teq_status s = teq_k_i8_conv(w, &g, R, l8 ? ql->zp8 : ql_zp(ql), l8 ? (float)ql->da8 : (float)ql->qa.scale,
                                       bias, T, syn == 1 ? sym : N, NULL, nt);
    if (s) return teq_op_fail(ctx, node, s, "INT8 product failed (%s)", teq_status_string(s));
    if (syn != 1 && sym == 1) {
        /* MatMul's Y (N x M, row-major) from T (M x N): blocks of 64 rows of T, so that each n writes 64
         * consecutive floats of Y and the 64 rows read stay in L1 (element by element down Y's columns, a
         * store per cache line: rec's 40 x 6625 output took 0.4 ms, 4% of its INT8 run) */
        for (int64_t m0 = 0; m0 < M; m0 += 64) {
            const int64_t m1 = m0 + 64 < M ? m0 + 64 : M;
            for (int64_t n = 0; n < N; n++)
                for (int64_t m = m0; m < m1; m++) Y[m + n * syn] = T[m * N + n];
        }
    } else if (syn != 1) {
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) Y[m * sym + n * syn] = T[m * N + n];
    }
    *done = true;
    return TEQ_OK;
}

teq_status teq_ql_gemm(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, int64_t r0, int64_t Mr,
                       const float *X, int64_t sxk, int64_t sxn, int64_t N, const float *bias, float *Y, int64_t sym,
                       int64_t syn) {
    const teq_kw v = rows_view(&ql->w, r0, Mr);
    const int64_t K = v.K;
    const int nt = teq_ctx_threads(ctx);
    if (Mr == 0 || N == 0) return TEQ_OK;
    if (teq_kmode_get() == TEQ_KMODE_REF) {
        for (int64_t m = 0; m < Mr; m++)
            for (int64_t n = 0; n < N; n++) Y[m * sym + n * syn] = bias ? bias[m] : 0.0f;
        teq_status s = ql->kind == TEQ_QL_EXP ? teq_kref_exp_gemm(&v, &ql->qa, X, sxk, sxn, N, Y, sym, syn, 1, nt)
                                              : teq_kref_i8_gemm(&v, &ql->qa, X, sxk, sxn, N, Y, sym, syn, 1, nt);
        if (s) return teq_op_fail(ctx, node, s, "reference kernel failed (%s)", teq_status_string(s));
        return TEQ_OK;
    }
    if (ql->kind != TEQ_QL_INT8 && !(ql->lanes == 8 && ql->matmul))
        return teq_op_fail(ctx, node, TEQ_ERR_ARG, "no fast product for this layer kind");
    bool done = false;
    teq_status cs = gemm_by_conv(ctx, node, ql, r0, Mr, X, sxk, sxn, N, bias, Y, sym, syn, &done);
    if (cs || done) return cs;
    if (ql->kind != TEQ_QL_INT8) return teq_op_fail(ctx, node, TEQ_ERR_ARG, "integer lanes without the INT8 kernel");
    /* INT8: the activations to their codes, column-major [N][K4] with zero-point padding */
    const int32_t zp = ql_zp(ql);
    const int64_t K4 = v.K4;
    size_t ub, fb;
    if (!teq_mul_size((size_t)N, (size_t)K4, &ub) || !teq_mul_size((size_t)K + 1, sizeof(float) * (size_t)nt, &fb))
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "activation codes overflow");
    const size_t ub64 = (ub + 63) / 64 * 64; /* the per-thread column buffers follow, aligned */
    uint8_t *U = teq_ctx_scratch_slot(ctx, 2, ub64 + fb);
    if (!U) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for activation codes (%zu bytes)", ub64 + fb);
    float *colbuf = (float *)(void *)(U + ub64);
    uint8_t *R = NULL;
    size_t rb;
    if (sxn == 1 && N > 1 && teq_mul_size((size_t)K, (size_t)N, &rb))
        R = teq_ctx_scratch_slot(ctx, 1, rb ? rb : 1);
    if (R) {
        /* X row-major (K x N, im2col's layout): quantize the rows where they lie (contiguous), then
         * transpose the codes in 64 x 64 tiles; gathering float columns first walked memory with stride N */
        codes_by_rows(ql, X, sxk, K, N, R, nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && N > 64)
        for (int64_t n0 = 0; n0 < N; n0 += 64) {
            const int64_t n1 = n0 + 64 < N ? n0 + 64 : N;
            for (int64_t k0 = 0; k0 < K; k0 += 64) {
                const int64_t k1 = k0 + 64 < K ? k0 + 64 : K;
                for (int64_t n = n0; n < n1; n++)
                    for (int64_t k = k0; k < k1; k++) U[n * K4 + k] = R[k * N + n];
            }
            for (int64_t n = n0; n < n1; n++) memset(U + n * K4 + K, zp, (size_t)(K4 - K));
        }
    } else {
#pragma omp parallel num_threads(nt) if (nt > 1 && N > 1)
        {
            float *col = colbuf + (size_t)omp_get_thread_num() * (size_t)(K + 1);
#pragma omp for schedule(static)
            for (int64_t n = 0; n < N; n++) {
                const float *src = X + n * sxn;
                if (sxk == 1) {
                    teq_kq_codes(ql->kqa, src, K, U + n * K4, 1); /* a column is contiguous already */
                } else {
                    for (int64_t k = 0; k < K; k++) col[k] = src[k * sxk];
                    teq_kq_codes(ql->kqa, col, K, U + n * K4, 1);
                }
                memset(U + n * K4 + K, zp, (size_t)(K4 - K));
            }
        }
    }
    const float xs = (float)ql->qa.scale;
    if (syn == 1) {
        teq_k_i8_gemm(&v, U, N, zp, xs, Y, sym, nt);
        if (bias)
            for (int64_t m = 0; m < Mr; m++)
                for (int64_t n = 0; n < N; n++) Y[m * sym + n] += bias[m];
        return TEQ_OK;
    }
    /* transposed output (Gemm): one column at a time through the GEMV */
    float *y = malloc(sizeof(float) * (size_t)(Mr + 1));
    if (!y) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
    for (int64_t n = 0; n < N; n++) {
        teq_k_i8_gemv(&v, U + n * K4, zp, xs, y, nt);
        for (int64_t m = 0; m < Mr; m++) Y[m * sym + n * syn] = y[m] + (bias ? bias[m] : 0.0f);
    }
    free(y);
    return TEQ_OK;
}

static void pad_codes(const teq_qlayer *ql, const void *X, bool xcodes, int64_t IH, int64_t IW, int64_t pt, int64_t pl,
                      const teq_i8conv *g, float pv, uint8_t *Q, int nt);

/* What happens to each finished block of a convolution's outputs (kernels.h, teq_kpost): the fused chain
 * (if any), then either back into Y, or (codes not NULL, tile mode) into the next layer's codes
 * [M][S] through q. */
typedef struct {
    const teq_echain *chain;
    const teq_kq *q;
    uint8_t *codes;
    int64_t S;
} tile_post;

static void post_tile(void *user, float *Y, int64_t ldy, int64_t M, int64_t n0, int64_t n1) {
    const tile_post *o = user;
    teq_echain_rows(o->chain, Y, ldy, M, n1 - n0, o->q, o->codes ? o->codes + n0 : NULL, o->S);
}

/* teq_ql_conv_i8 and teq_ql_conv_i8_tiles: kp (not NULL) is the caller's, else post and codes make one */
static teq_status conv_i8(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const void *X, bool xcodes,
                          int64_t IH, int64_t IW, int64_t pt, int64_t pl, const teq_i8conv *g, float pv,
                          const float *bias, float *Y, int64_t ldy, const teq_echain *post, uint8_t *codes,
                          const teq_kpost *kp, bool *done) {
    *done = false;
    const teq_kw *w = &ql->w;
    if (teq_kmode_get() != TEQ_KMODE_FAST || ql->kind != TEQ_QL_INT8 || !teq_k_i8_conv_ok(w) ||
        w->K != g->C * g->KH * g->KW || pt < 0 || pl < 0 || IH + pt > g->PH || IW + pl > g->PW)
        return TEQ_OK;
    const int nt = teq_ctx_threads(ctx);
    const int32_t zp = ql_zp(ql);
    size_t bytes;
    if (!teq_mul_size((size_t)g->C, (size_t)(g->PH * g->PW), &bytes))
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "activation codes overflow");
    const uint8_t *Q;
    if (xcodes && g->PH == IH && g->PW == IW) {
        Q = X; /* the codes as they are */
    } else {
        uint8_t *q = teq_ctx_scratch_slot(ctx, 2, bytes ? bytes : 1);
        if (!q) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for activation codes (%zu bytes)", bytes);
        pad_codes(ql, X, xcodes, IH, IW, pt, pl, g, pv, q, nt);
        Q = q;
    }
    const tile_post tp = {post, ql->outq, codes, g->OH * g->OW};
    const teq_kpost own = {.fn = post_tile, .user = (void *)&tp, .tile = codes != NULL};
    if (codes && !ql->outq) return teq_op_fail(ctx, node, TEQ_ERR_ARG, "codes out without their quantizer");
    const teq_status s = teq_k_i8_conv(w, g, Q, zp, (float)ql->qa.scale, bias, Y, ldy, kp ? kp : codes || post ? &own : NULL, nt);
    if (s) return teq_op_fail(ctx, node, s, "INT8 convolution failed (%s)", teq_status_string(s));
    *done = true;
    return TEQ_OK;
}

teq_status teq_ql_conv_i8(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const void *X, bool xcodes,
                          int64_t IH, int64_t IW, int64_t pt, int64_t pl, const teq_i8conv *g, float pv,
                          const float *bias, float *Y, int64_t ldy, const teq_echain *post, uint8_t *codes, bool *done) {
    return conv_i8(ctx, node, ql, X, xcodes, IH, IW, pt, pl, g, pv, bias, Y, ldy, post, codes, NULL, done);
}

teq_status teq_ql_conv_i8_tiles(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const void *X, bool xcodes,
                                int64_t IH, int64_t IW, const teq_i8conv *g, const teq_kpost *kp, bool *done) {
    if (!kp || !kp->fn || !kp->tile) return teq_op_fail(ctx, node, TEQ_ERR_ARG, "tile mode without its function");
    return conv_i8(ctx, node, ql, X, xcodes, IH, IW, 0, 0, g, 0.0f, NULL, NULL, 0, NULL, NULL, kp, done);
}

void teq_ql_lanes8_ints(const teq_qlayer *ql, const float *x, int64_t n, float shift, uint8_t *q, int nt) {
    if (ql->kl8 && teq_kl8_shift(ql->kl8) == shift) {
        if (nt <= 1 || n < 8192) {
            teq_kl8_run(ql->kl8, ql->kqe, x, n, q);
            return;
        }
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i0 = 0; i0 < n; i0 += 4096) teq_kl8_run(ql->kl8, ql->kqe, x + i0, n - i0 < 4096 ? n - i0 : 4096, q + i0);
        return;
    }
    teq_kq_lanes8(ql->kqe, ql->alut8, shift, x, n, q, nt);
}

uint8_t teq_ql_lanes8_pad(const teq_qlayer *ql, float pv) {
    return (uint8_t)fmin(fmax(rint(pv / ql->da8) + ql->zp8, 0), 255);
}

/* n activations' lane integers from floats x: int16 (16, one thread; x has its shift added) or u8 codes (8, nt
 * threads, of x + sh) at dst */
static void lanes_row(const teq_qlayer *ql, const float *x, int64_t n, float sh, void *dst, int nt) {
    if (ql->lanes == 16) teq_kq_lanes(ql->kqe, x, n, ql->alut, dst);
    else teq_ql_lanes8_ints(ql, x, n, sh, dst, nt);
}

teq_status teq_ql_conv_lanes(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float *X, int64_t IH,
                             int64_t IW, int64_t pt, int64_t pl, const teq_i8conv *g, float pv, const float *bias,
                             float *Y, int64_t ldy, const teq_echain *post, bool *done) {
    *done = false;
    if (teq_kmode_get() != TEQ_KMODE_FAST || ql->kind != TEQ_QL_EXP || !ql->lanes || ql->w.K != g->C * g->KH * g->KW ||
        pt < 0 || pl < 0 || IH + pt > g->PH || IW + pl > g->PW)
        return TEQ_OK;
    const int nt = teq_ctx_threads(ctx);
    const int64_t C = g->C, plane = g->PH * g->PW;
    const size_t esz = ql->lanes == 16 ? 2 : 1; /* bytes an integer */
    size_t bytes;
    size_t fb;
    if (!teq_mul_size((size_t)C, (size_t)plane, &bytes) || !teq_mul_size(bytes, esz, &bytes) ||
        !teq_mul_size((size_t)C, (size_t)IW * sizeof(float), &fb) || bytes > SIZE_MAX - fb - 8)
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "activation integers overflow");
    const size_t ib = bytes;
    bytes += fb + 8; /* the shift's float rows, 4-byte aligned after the integers */
    /* the planes' integers, straight from the floats */
    char *Q = teq_ctx_scratch_slot(ctx, 2, bytes ? bytes : 2);
    if (!Q) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for activation integers (%zu bytes)", bytes);
    /* padded taps: the padding value on the integers' grid, as the reference kernel reads it (pv itself, not
     * its code: 0 is no level of a signed code without the zero code, whose smallest level is not 0; pv is
     * in the shifted domain already, the quantizer's value of its shift, a level, whose integer this is) */
    int lmax = 0; /* int16: the grid's largest integer (the sums' bound assumes none larger: a file's pad_value
                   * that is no level must not overflow them) */
    for (int c = 0; c < 256 && ql->lanes == 16; c++) lmax = abs(ql->alut[c]) > lmax ? abs(ql->alut[c]) : lmax;
    const int16_t pvi = ql->lanes == 16 ? (int16_t)fmin(fmax(rint(pv / ql->da), -lmax), lmax) : 0;
    const uint8_t pv8 = ql->lanes == 8 ? teq_ql_lanes8_pad(ql, pv) : 0;
    const float sh = ql->in_shift; /* a passed-through shifted quantizer's shift, as TeqQuantize adds it */
    /* int16: the float work row (x + shift) after the integers, per channel (8 bits adds the shift itself) */
    float *fr = sh != 0 && ql->lanes == 16 ? (float *)(void *)(Q + ((ib + 3) & ~(size_t)3)) : NULL;
    const float sh8 = ql->lanes == 8 ? sh : 0.0f;
    if (g->PH == IH && g->PW == IW && !fr && (ql->lanes == 8 || C * plane <= 4096)) {
        /* no padding, no int16 shift: the whole input in one pass (a squeeze-and-excitation layer's 1 x 1 planes
         * would otherwise be one call a value); int16 on one thread, so only where it is small */
        lanes_row(ql, X, C * plane, sh8, Q, nt);
    } else {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1)
        for (int64_t c = 0; c < C; c++) {
            char *q = Q + (size_t)(c * plane) * esz;
            float *f = fr ? fr + c * IW : NULL;
            if (g->PH == IH && g->PW == IW && !f) {
                lanes_row(ql, X + c * IH * IW, IH * IW, sh8, q, 1);
                continue;
            }
            if (g->PH != IH || g->PW != IW) {
                if (esz == 1) memset(q, pv8, (size_t)plane);
                else for (int64_t i = 0; i < plane; i++) ((int16_t *)(void *)q)[i] = pvi;
            }
            for (int64_t iy = 0; iy < IH; iy++) {
                const float *xr = X + (c * IH + iy) * IW;
                if (f) {
                    for (int64_t i = 0; i < IW; i++) f[i] = xr[i] + sh;
                    xr = f;
                }
                lanes_row(ql, xr, IW, sh8, q + (size_t)((iy + pt) * g->PW + pl) * esz, 1);
            }
        }
    }
    const tile_post tp = {post, NULL, NULL, 0};
    const teq_kpost kp = {.fn = post_tile, .user = (void *)&tp};
    const teq_status s = ql->lanes == 16
        ? teq_k_i16_conv(&ql->wl, g, (const int16_t *)(void *)Q, (float)ql->da, bias, Y, ldy, post ? &kp : NULL, nt)
        : teq_k_i8_conv(&ql->w8, g, (const uint8_t *)Q, ql->zp8, (float)ql->da8, bias, Y, ldy, post ? &kp : NULL, nt);
    if (s) return teq_op_fail(ctx, node, s, "integer-lanes convolution failed (%s)", teq_status_string(s));
    *done = true;
    return TEQ_OK;
}

/* The input's codes into C planes of PH x PW with the input at (pt, pl) and the padding value's code
 * around it: quantized from floats, or copied from codes. */
static void pad_codes(const teq_qlayer *ql, const void *X, bool xcodes, int64_t IH, int64_t IW, int64_t pt, int64_t pl,
                      const teq_i8conv *g, float pv, uint8_t *Q, int nt) {
    const teq_kq *kq = ql->kqa;
    if (!xcodes && g->PH == IH && g->PW == IW) {
        teq_kq_codes(kq, X, g->C * IH * IW, Q, nt);
    } else {
        uint8_t pc;
        teq_kq_codes(kq, &pv, 1, &pc, 1); /* padded taps: the code of the padding value */
        const int64_t C = g->C, plane = g->PH * g->PW;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1)
        for (int64_t c = 0; c < C; c++) {
            uint8_t *q = Q + c * plane;
            memset(q, pc, (size_t)plane);
            for (int64_t iy = 0; iy < IH; iy++) {
                uint8_t *d = q + (iy + pt) * g->PW + pl;
                if (xcodes) memcpy(d, (const uint8_t *)X + (c * IH + iy) * IW, (size_t)IW);
                else teq_kq_codes(kq, (const float *)X + (c * IH + iy) * IW, IW, d, 1);
            }
        }
    }
}

bool teq_ql_dw_ok(const teq_qlayer *ql, int64_t KK) {
    return ql && ql->kind == TEQ_QL_INT8 && ql->w.q8 && ql->w.K == KK && KK * 127 * 255 < (1 << 24);
}

teq_status teq_ql_dw_weights(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float **W) {
    const int64_t M = ql->w.M, K = ql->w.K;
    float *d = teq_ctx_scratch_slot(ctx, 1, sizeof(float) * (size_t)(M * K + 1));
    if (!d) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for depthwise weights");
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) d[m * K + k] = (float)ql->w.q8[m * ql->w.K4 + k];
    *W = d;
    return TEQ_OK;
}

static int32_t ql_zp(const teq_qlayer *ql) {
    return ql->qa.is_signed ? teq_q_num_codes(&ql->qa) / 2 : ql->qa.zero_point;
}

void teq_ql_code_values(const teq_qlayer *ql, const float *x, int64_t n, float *v) {
    teq_kq_qvalues(ql->kqa, x, n, v); /* its off is ql_zp(ql) */
}

float teq_ql_code_zp(const teq_qlayer *ql) { return (float)ql_zp(ql); }

/* nn.c's stride-2 depthwise path converts whole code planes here (no TEQ_CLONES: an ifunc escapes the
 * library's hidden visibility, tests/install.sh; the per-row conversion of the other path is in nn.c's clone) */
void teq_ql_codes_values(const teq_qlayer *ql, const uint8_t *c, int64_t n, float *v) {
    const float zp = teq_ql_code_zp(ql);
#pragma omp simd
    for (int64_t i = 0; i < n; i++) v[i] = (float)c[i] - zp;
}

float teq_ql_code_value(const teq_qlayer *ql, float x) {
    uint8_t c;
    teq_kq_codes(ql->kqa, &x, 1, &c, 1);
    return (float)c - (float)ql_zp(ql);
}

float teq_ql_i8_rowscale(const teq_qlayer *ql, int64_t m) { return ql->w.scale[m] * (float)ql->qa.scale; }

teq_status teq_ql_matmul_dyn(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float *A,
                             const float *B, int64_t M, int64_t N, int64_t K, int64_t batch, int nb, const int64_t *bd,
                             const int64_t *sa, const int64_t *sb, float *Y) {
    /* A's rows play the weights: their codes (exact, A holds values of qa) as kernel rows */
    uint8_t *codes = malloc((size_t)(M * K) + 1);
    if (!codes) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
    teq_status s = TEQ_OK;
    for (int64_t t = 0; t < batch && !s; t++) {
        int64_t rem = t, offa = 0, offb = 0;
        for (int i = nb - 1; i >= 0; i--) {
            const int64_t ix = rem % bd[i];
            rem /= bd[i];
            offa += ix * sa[i], offb += ix * sb[i];
        }
        teq_q_quantize(&ql->qa, A + offa, M * K, codes);
        teq_kw kw;
        teq_error e;
        if ((s = teq_kw_init(&kw, &ql->qa, M, K, codes, NULL, &e))) {
            s = teq_op_fail(ctx, node, s, "%s", e.msg);
            break;
        }
        s = teq_kref_exp_gemm(&kw, &ql->qb, B + offb, N, 1, N, Y + t * M * N, N, 1, 0, teq_ctx_threads(ctx));
        if (s) s = teq_op_fail(ctx, node, s, "reference kernel failed (%s)", teq_status_string(s));
        teq_kw_free(&kw);
    }
    free(codes);
    return s;
}
