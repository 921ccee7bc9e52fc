/* Layer by layer, the kernels of a quantized model against the reference kernel, on the model's own
 * activations: run MODEL.teq on INPUT.npy; before each quantized layer runs, run that layer alone on the
 * same inputs with the reference kernel (TEQ_KERNEL=ref), with the fast kernels, and with the float path
 * (dequantized weights, FP32 operators), and compare each with the reference.
 *
 * Tolerance (named): max |x - ref| <= LAYER_TOL * max |ref| over the layer's output. Float accumulation of
 * K terms in any order errs by about sqrt(K) * 2^-24 of sum |w a| (kernels.h bounds it by K * 2^-24); 1e-4
 * leaves room for K in the thousands and for outputs that cancel, and a wrong kernel is off by O(1).
 * Whole-model outputs are not compared this tightly: a difference in the last bit can move an activation
 * across a rounding boundary of the next layer's code, which changes that value by a whole step.
 *
 * Usage: qlayer_check MODEL.teq INPUT.npy [--lanes 16|8]. Prints one line per layer kind and `N passed, M failed`.
 * --lanes: every exponential Conv or MatMul that can (teq_ql_lanes_eligible) on integer lanes of that width first, not
 * only those the file marks, so that each is checked against its stated bound (padding and shifts included); 8t:
 * 8 bits with each grid topped at the code of the second largest |level|, the inputs above it saturating. */
#include "check.h"
#include "api/model_internal.h"
#include "kernels/kernels.h"
#include "ops/qlayer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LAYER_TOL 1e-4

typedef struct {
    teq_exec_ctx *ctx;
    int n_layers, n_exp, n_int8, n_dyn, n_lanes, n_topped, n_mm_exact;
    int64_t n_sat; /* values of the topped 8-bit lanes layers' inputs above their grid's top */
    double worst_fast, worst_deq, worst_lanes;
} state;

static teq_status run_as(state *st, teq_kmode mode, const teq_node *node, const teq_tensor *const *in,
                         teq_tensor *out) {
    teq_kmode_set(mode);
    teq_tensor *outs[8] = {out};
    teq_status s = teq_ctx_run_node(st->ctx, node, in, outs);
    return s;
}

static double rel_diff(const teq_tensor *a, const teq_tensor *ref) {
    const int64_t n = teq_tensor_numel(ref);
    if (teq_tensor_numel(a) != n) return INFINITY;
    const float *x = a->data, *r = ref->data;
    double mx = 0, md = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(r[i]));
        md = fmax(md, fabs((double)x[i] - r[i]));
        if (isnan(x[i]) != isnan(r[i])) return INFINITY;
    }
    return mx > 0 ? md / mx : md;
}

/* A MatMul on 8-bit lanes against what its lanes define, computed here on the side: the input's codes (the
 * layer's quantizer) mapped by alut8, w8's integer rows, and i8_conv's epilogue in its order,
 *     y[n][m] = fl(fl(w8.scale[m] * fl(da8)) * (float)(sum_k q8[m][k] * lane(a[n][k]) - zp8 * rowsum[m]))
 * with the integer sum exact: bit for bit. The stated bound alone is loose enough to let a zero point off by
 * one through (measured on rec's head); this is not. */
static void matmul_lanes_exact(state *st, const teq_qlayer *ql, const teq_tensor *a, const teq_tensor *y,
                               const char *name) {
    const int64_t K = ql->w8.K, M = ql->w8.M, N = teq_tensor_numel(a) / (K ? K : 1);
    if (!a || a->dtype != TEQ_DTYPE_FLOAT || teq_tensor_numel(y) != N * M) {
        CHECK(0, "layer %s: lanes MatMul shapes", name);
        return;
    }
    uint8_t *lane = malloc((size_t)(N * K) + 1);
    if (!lane) return;
    teq_kq_codes(ql->kqe, a->data, N * K, lane, 1);
    for (int64_t i = 0; i < N * K; i++) lane[i] = ql->alut8[lane[i]];
    int64_t bad = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int64_t acc = 0;
            for (int64_t k = 0; k < K; k++) acc += (int64_t)ql->w8.q8[m * ql->w8.K4 + k] * lane[n * K + k];
            const float want = (ql->w8.scale[m] * (float)ql->da8) * (float)(acc - (int64_t)ql->zp8 * ql->w8.q8_rowsum[m]);
            bad += ((const float *)y->data)[n * M + m] != want;
        }
    free(lane);
    CHECK(bad == 0, "layer %s (MatMul, 8-bit lanes): %lld of %lld outputs differ from its lanes' definition", name,
          (long long)bad, (long long)(N * M));
    st->n_mm_exact += bad == 0;
}

static teq_status hook(void *user, int i, const teq_node *node, const teq_tensor *const *in) {
    state *st = user;
    (void)i;
    if (!node->kern || !strcmp(node->op_type, "TeqQuantize") || node->n_out != 1) return TEQ_OK;
    teq_kmode_set(TEQ_KMODE_REF);
    const teq_qlayer *ql = teq_ql_of(node);
    if (!ql) return TEQ_OK;
    teq_tensor ref = {0}, fast = {0}, deq = {0};
    /* 8-bit lanes whose grid tops below the code's largest level (top8): the inputs above the top saturate
     * there, so the bound is stated for the input clamped to the top's level, which the reference and the
     * float path take; the fast kernels take the input as it is (its codes above the top give the top's
     * integer, as the clamped values' codes do) */
    const teq_tensor *rin[8];
    teq_tensor xc = {0};
    int64_t n_sat = 0;
    for (int k = 0; k < node->n_in && k < 8; k++) rin[k] = in[k];
    if (ql->lanes == 8 && ql->top8 >= 0 && ql->in_shift == 0 && in[0] && in[0]->dtype == TEQ_DTYPE_FLOAT) {
        float la[256];
        teq_q_code_table(&ql->qa, la);
        const float t = fabsf(la[ql->top8]);
        xc = *in[0];
        xc.capacity = 0;
        const int64_t n = teq_tensor_numel(in[0]);
        float *v = malloc(sizeof(float) * (size_t)(n + 1));
        CHECK(v != NULL, "out of memory");
        if (!v) return TEQ_ERR_NOMEM;
        for (int64_t k = 0; k < n; k++) {
            const float x = ((const float *)in[0]->data)[k];
            v[k] = fminf(fmaxf(x, -t), t);
            n_sat += v[k] != x;
        }
        xc.data = v, rin[0] = &xc;
        st->n_topped++, st->n_sat += n_sat;
    }
    teq_status s = run_as(st, TEQ_KMODE_REF, node, rin, &ref);
    if (!s) s = run_as(st, TEQ_KMODE_FAST, node, in, &fast);
    if (!s) s = run_as(st, TEQ_KMODE_DEQUANT, node, rin, &deq);
    if (xc.data) free(xc.data);
    /* the model itself runs in the dequant mode: every TeqQuantize then writes the float levels (in the
     * fast mode one whose readers all quantize their input themselves hands its input on unchanged,
     * which the dequant path of the next layer must not be given) */
    teq_kmode_set(TEQ_KMODE_DEQUANT);
    CHECK(s == TEQ_OK, "layer %s (%s) failed to run", node->name, node->op_type);
    if (!s) {
        const double df = rel_diff(&fast, &ref), dd = rel_diff(&deq, &ref);
        const char *kind = ql->kind == TEQ_QL_EXP ? (ql->lanes == 16 ? "exp, int16 lanes" : ql->lanes ? "exp, 8-bit lanes" : "exp")
                           : ql->kind == TEQ_QL_INT8 ? "int8"
                                                     : "exp x exp";
        /* integer lanes: within their stated bound (qlayer.h), K terms at the largest row scale, of max |ref| */
        double tol = LAYER_TOL;
        if (ql->lanes) {
            double rs = 0, mx = 0;
            for (int64_t m = 0; m < ql->w.M; m++) rs = fmax(rs, fabs(ql->w.scale[m]));
            for (int64_t k = 0; k < teq_tensor_numel(&ref); k++) mx = fmax(mx, fabs(((const float *)ref.data)[k]));
            tol += mx > 0 ? teq_ql_lanes_bound(ql) * rs * (double)ql->w.K / mx : INFINITY;
            st->n_lanes++, st->worst_lanes = fmax(st->worst_lanes, df / tol);
        } else {
            st->worst_fast = fmax(st->worst_fast, df);
        }
        CHECK(df <= tol, "layer %s (%s, %s): fast kernels differ from the reference by %.3g of max |ref| (tolerance %.3g)",
              node->name, node->op_type, kind, df, tol);
        if (ql->lanes == 8 && ql->matmul) matmul_lanes_exact(st, ql, in[0], &fast, node->name);
        CHECK(dd <= LAYER_TOL, "layer %s (%s, %s): float path differs from the reference by %.3g of max |ref|",
              node->name, node->op_type, kind, dd);
        st->worst_deq = fmax(st->worst_deq, dd);
        st->n_layers++;
        st->n_exp += ql->kind == TEQ_QL_EXP, st->n_int8 += ql->kind == TEQ_QL_INT8, st->n_dyn += ql->kind == TEQ_QL_DYN;
    }
    teq_tensor_release(&ref), teq_tensor_release(&fast), teq_tensor_release(&deq);
    return TEQ_OK;
}

int main(int argc, char **argv) {
    const int lanes = argc == 5 && !strcmp(argv[3], "--lanes") ? atoi(argv[4]) : 0;
    const bool topped = lanes == 8 && !strcmp(argv[4], "8t");
    if (argc != 3 && !(argc == 5 && (lanes == 16 || lanes == 8))) {
        fprintf(stderr, "usage: qlayer_check MODEL.teq INPUT.npy [--lanes 16|8|8t]\n");
        return 2;
    }
    teq_error err;
    teq_model *m;
    teq_tensor *x;
    /* loaded in the dequant mode so the float weights stay (the float path is one of the three compared) */
    teq_kmode_set(TEQ_KMODE_DEQUANT);
    if (teq_model_load(argv[1], &m, &err) || teq_npy_read(argv[2], &x, &err)) {
        fprintf(stderr, "qlayer_check: %s\n", err.msg);
        return 2;
    }
    int n_forced = 0, n_dw = 0, n_mm = 0;
    for (int i = 0; i < m->g->n_nodes && lanes; i++) {
        teq_node *n = &m->g->nodes[i];
        if (!teq_ql_lanes_eligible(m->g, n)) continue;
        int top = -1; /* 8t: the grid topped at the code of the second largest |level| */
        if (topped) {
            const teq_qparams *qa = &((const teq_qlayer *)n->kern)->qa;
            float la[256], l1 = 0, l2 = 0;
            teq_q_code_table(qa, la);
            for (int c = 0; c < teq_q_num_codes(qa); c++) l1 = fmaxf(l1, fabsf(la[c]));
            for (int c = 0; c < teq_q_num_codes(qa); c++)
                if (fabsf(la[c]) < l1 && fabsf(la[c]) > l2) l2 = fabsf(la[c]), top = c;
        }
        CHECK(teq_ql_set_lanes(n, lanes, top, &err) == TEQ_OK, "lanes on %s: %s", n->name, err.msg);
        const teq_qlayer *ql = n->kern;
        n_forced += ql->lanes == lanes, n_dw += ql->lanes == lanes && ql->depthwise, n_mm += ql->lanes == lanes && ql->matmul;
    }
    if (lanes) {
        teq_ops_fast_passes(m->g, true); /* the pass-throughs that follow from them */
        CHECK(n_forced > 0, "--lanes %d: no layer takes them", lanes);
        printf("--lanes %d: %d exponential layers on them (%d depthwise, %d MatMul)\n", lanes, n_forced, n_dw, n_mm);
    }
    /* layer by layer, the fast mode computes the layer alone: no fused chain after it (compared below) */
    int n_passq = 0, n_chain = 0, n_codes = 0, n_fcodes = 0;
    for (int i = 0; i < m->g->n_nodes; i++) {
        const teq_node *n = &m->g->nodes[i];
        n_codes += (!strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "ConvTranspose")) && n->kern && ((const teq_qlayer *)n->kern)->outq;
        n_chain += (!strcmp(n->op_type, "TeqElementwise") || !strcmp(n->op_type, "Relu") || !strcmp(n->op_type, "Clip") ||
                    !strcmp(n->op_type, "BatchNormalization")) &&
                   n->pass_fast;
        n_passq += !strcmp(n->op_type, "TeqQuantize") && n->pass_fast;
        n_fcodes += n->codes_out != NULL;
    }
    teq_ops_fast_passes(m->g, false);
    state st = {0};
    st.ctx = teq_ctx_new(2, &err);
    teq_ctx_set_threads(m->ctx, 2);
    teq_ctx_set_hook(m->ctx, hook, &st);
    teq_tensor *outs[16] = {0};
    const teq_tensor *ins[1] = {x};
    teq_status s = teq_graph_run(m->g, argv[1], m->ctx, ins, outs, &err);
    CHECK(s == TEQ_OK, "model run: %s", err.msg);
    CHECK(st.n_layers > 0, "no quantized layer ran on the kernels");
    printf("%d quantized layers (%d exponential, %d int8, %d exp x exp): worst fast vs ref %.3g, float path vs ref "
           "%.3g of max |ref| (tolerance %g)\n",
           st.n_layers, st.n_exp, st.n_int8, st.n_dyn, st.worst_fast, st.worst_deq, LAYER_TOL);
    if (st.n_lanes)
        printf("%d exponential layers on integer lanes: worst fast vs ref %.3g of their stated bound\n", st.n_lanes,
               st.worst_lanes);
    if (st.n_mm_exact) printf("%d MatMuls on 8-bit lanes: bit for bit as their lanes define\n", st.n_mm_exact);
    if (st.n_topped)
        printf("%d of them on 8-bit grids topped below the code's largest level: %lld input values above the top, "
               "compared as clamped to it\n", st.n_topped, (long long)st.n_sat);
    for (int i = 0; i < m->g->n_outputs; i++) teq_tensor_free(outs[i]), outs[i] = NULL;

    /* The fast mode's pass-through quantizers (every reader quantizes its input itself), the chains
     * fused into INT8 convolutions (the TeqElementwise, Relu or Clip after one passes its input on) and the layers that
     * write the next layer's codes must give the very bytes of running each node: the whole model in the
     * fast mode with and without. */
    teq_ctx_set_hook(m->ctx, NULL, NULL);
    teq_kmode_set(TEQ_KMODE_FAST);
    teq_tensor *on[16] = {0}, *off[16] = {0};
    teq_ops_fast_passes(m->g, true);
    s = teq_graph_run(m->g, argv[1], m->ctx, ins, on, &err);
    teq_ops_fast_passes(m->g, false);
    if (!s) s = teq_graph_run(m->g, argv[1], m->ctx, ins, off, &err);
    CHECK(s == TEQ_OK, "fast runs: %s", err.msg);
    bool same = s == TEQ_OK;
    for (int i = 0; same && i < m->g->n_outputs; i++)
        same = teq_tensor_numel(on[i]) == teq_tensor_numel(off[i]) &&
               !memcmp(on[i]->data, off[i]->data, (size_t)teq_tensor_numel(on[i]) * teq_dtype_size(on[i]->dtype));
    CHECK(same, "the fast mode with %d pass-through quantizers and %d fused chains differs from running them", n_passq,
          n_chain);
    printf("%d pass-through quantizers in the fast mode: outputs identical to running them: %s\n", n_passq,
           same ? "yes" : "no");
    printf("%d elementwise chains fused into integer convolutions (INT8, lanes): outputs identical to running them: %s\n", n_chain,
           same ? "yes" : "no");
    printf("%d INT8 convolutions write the next layer's codes: outputs identical to running them: %s\n", n_codes,
           same ? "yes" : "no");
    printf("%d float producers (Add, Mul, Concat) write their INT8 readers' codes: outputs identical to running them: %s\n",
           n_fcodes, same ? "yes" : "no");
    for (int i = 0; i < m->g->n_outputs; i++) teq_tensor_free(on[i]), teq_tensor_free(off[i]);
    teq_tensor_free(x);
    teq_ctx_free(st.ctx);
    teq_model_free(m);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
