/* FP32 Convs on the kernels' FP32 convolution (qlayer.h, "FP32 layers on the kernels"): weights packed once
 * at load into the microkernel's layout, the following elementwise chain fused per block (nn.c pads the input).
 * docs/DECISIONS.md ("FP32 convolution kernel") has the measurements behind it. */
#include "qlayer.h"
#include "../quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fconv_free(void *p) {
    teq_fconv *fc = p;
    teq_kwf_free(&fc->w);
    teq_kwino_free(&fc->wino);
    teq_echain_free(fc->post);
    free(fc);
}

static bool wanted(void) {
    const char *e = getenv("TEQ_FP32_CONV");
    return !(e && !strcmp(e, "blas")) && teq_k_f32_conv_ok();
}

/* A Conv the kernel takes: default domain, weight a float constant that is not quantized, 1-D or 2-D, one
 * group, more than one input channel. *dw: instead one input channel per group, which nn.c's depthwise
 * loop takes (a dw pack: the chain only). */
static const teq_tensor *packable(const teq_graph *g, const teq_node *n, bool *dw) {
    if (strcmp(n->op_type, "Conv") || (n->domain && n->domain[0]) || n->kern || n->fpack || n->n_in < 2 || n->in[1] < 0)
        return NULL;
    const teq_value *v = &g->values[n->in[1]];
    const teq_tensor *w = v->constant;
    if (!w || v->qweight || w->dtype != TEQ_DTYPE_FLOAT || !w->data || w->ndim < 3 || w->ndim > 4) return NULL;
    for (int d = 0; d < w->ndim; d++)
        if (w->dims[d] < 1) return NULL;
    *dw = w->dims[1] == 1;
    if (!*dw && (teq_node_attr_int(n, "group", 1) != 1 || !wanted())) return NULL;
    return w;
}

/* A quantized Conv (its weights held as codes) of one group, 1-D or 2-D, more than one input channel: an
 * exponential one on the float path runs on the FP32 kernel with its codes decoded per run (a dec pack).
 * *dw: instead a depthwise one (a dec + dw pack: the chain only). */
static bool decodable(const teq_graph *g, const teq_node *n, bool *dw) {
    if (strcmp(n->op_type, "Conv") || (n->domain && n->domain[0]) || n->kern || n->fpack || n->n_in < 2 || n->in[1] < 0)
        return false;
    const teq_value *v = &g->values[n->in[1]];
    const teq_tensor *w = v->constant;
    if (!v->qweight || !w || w->ndim < 3 || w->ndim > 4) return false;
    /* depthwise (one input channel per group): nn.c's direct loop decodes the weights; the pack (dw) only
     * carries the chain after it, applied per run of output planes as for an FP32 depthwise Conv */
    *dw = w->dims[1] == 1;
    return *dw || (w->dims[1] >= 2 && teq_node_attr_int(n, "group", 1) == 1 && wanted());
}

/* a packed Conv holds the weights it was packed from (a dw pack holds none) */
static bool packed_reader(const teq_node *n, const teq_value *v) {
    const teq_fconv *fc = n->fpack;
    return !v->qweight && fc && !fc->dw && fc->src == v->constant->data;
}

/* The spatial zero padding of Pad node p (rank 4, NCHW) when a Conv may take it over: default domain,
 * constant mode, value +0 (absent or a constant scalar whose bits are 0), constant pads, none on N and C,
 * none negative; pads[] = {top, left, bottom, right}. */
static bool zero_spatial_pad(const teq_graph *g, const teq_node *p, int64_t pads[4]) {
    if (strcmp(p->op_type, "Pad") || (p->domain && p->domain[0]) || p->n_out != 1 || p->n_in < 1 || p->in[0] < 0)
        return false;
    if (strcmp(teq_node_attr_string(p, "mode", "constant"), "constant")) return false;
    const int64_t *pv = NULL;
    int64_t np = 0;
    if (p->opset >= 11) {
        if (p->n_in < 2 || p->in[1] < 0 || p->n_in > 3) return false; /* axes (opset 18): not taken */
        const teq_tensor *t = g->values[p->in[1]].constant;
        if (!t || t->dtype != TEQ_DTYPE_INT64 || !t->data) return false;
        pv = t->data, np = teq_tensor_numel(t);
        if (p->n_in == 3 && p->in[2] >= 0) {
            const teq_tensor *c = g->values[p->in[2]].constant;
            if (!c || c->dtype != TEQ_DTYPE_FLOAT || !c->data || teq_tensor_numel(c) > 1) return false;
            uint32_t bits = 0;
            if (teq_tensor_numel(c) == 1) memcpy(&bits, c->data, sizeof bits);
            if (bits) return false;
        }
    } else {
        pv = teq_node_attr_ints(p, p->opset < 2 ? "paddings" : "pads", &np);
        const teq_attr *v = teq_node_attr(p, "value");
        if (v && v->f != 0.0f) return false;
        if (v && signbit(v->f)) return false;
    }
    if (!pv || np != 8 || pv[0] || pv[1] || pv[4] || pv[5]) return false;
    for (int k = 0; k < 8; k++)
        if (pv[k] < 0 || pv[k] > (1 << 20)) return false;
    pads[0] = pv[2], pads[1] = pv[3], pads[2] = pv[6], pads[3] = pv[7];
    return true;
}

/* The value TeqQuantize node q gives an input of 0, as op_teq_quantize computes it (the shift added in
 * float32, then the code's value); false when its parameters do not read. */
static bool quantized_zero(const teq_node *q, float *y0) {
    teq_qparams p;
    double c = 0;
    if (!teq_ql_node_qparams(q, &p, &c)) return false;
    const float x = 0.0f + (float)c;
    if (p.kind == TEQ_CODE_NONE) *y0 = x;
    else teq_q_fake(&p, &x, 1, y0);
    return true;
}

static bool same_bits(float a, float b) { return !memcmp(&a, &b, sizeof a); }

/* Pad -> Conv, where the Conv is the Pad's only reader, and Pad -> TeqQuantize -> Conv (a quantized
 * model's layer), each the only reader of the one before: the Conv reads the Pad's input (through the
 * quantizer) with the padding added to its own pads, and the Pad goes (TensorFlow exports of M-LSD pad
 * before stride-2 Convs: a copy of the whole tensor each, and in a quantized model a quantizer pass over
 * the padding too). The Conv pads with its pad_value (0 unless set); the fold is taken only where that is
 * bit for bit the value the padding had at the Conv's input (0, or the quantizer's value for 0), so the
 * same values reach the same products in every kernel mode: the outputs are the same bits. Only on a
 * model loaded to run: the quantizer's graphs keep their nodes as in the file. */
static teq_status fold_pads(teq_graph *g, teq_error *err) {
    char *keep = malloc((size_t)g->n_nodes + 1);
    if (!keep) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory folding Pad nodes");
    memset(keep, 1, (size_t)g->n_nodes + 1);
    int folded = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *c = &g->nodes[i];
        if (strcmp(c->op_type, "Conv") || (c->domain && c->domain[0]) || c->kern || c->n_in < 2 || c->in[0] < 0) continue;
        const int v = c->in[0];
        int pi = g->values[v].producer;
        if (pi < 0 || !keep[pi] || teq_graph_sole_reader(g, v) != c ||
            strcmp(teq_node_attr_string(c, "auto_pad", "NOTSET"), "NOTSET"))
            continue;
        const float pv = teq_node_attr_float(c, "pad_value", 0.0f);
        teq_node *q = NULL; /* the quantizer between Pad and Conv, if any */
        float at_conv = 0.0f;   /* what the Pad's zeros are when they reach the Conv */
        if (teq_ql_is_quantize(&g->nodes[pi])) {
            q = &g->nodes[pi];
            const int u = q->n_in >= 1 ? q->in[0] : -1;
            if (teq_graph_sole_reader(g, u) != q || !quantized_zero(q, &at_conv) || (pi = g->values[u].producer) < 0 ||
                !keep[pi])
                continue;
        }
        if (!same_bits(pv, at_conv)) continue;
        const teq_tensor *w = g->values[c->in[1]].constant;
        int64_t add[4];
        if (!w || w->ndim != 4 || !zero_spatial_pad(g, &g->nodes[pi], add)) continue;
        teq_attr *pa = NULL;
        for (int a = 0; a < c->n_attr; a++)
            if (!strcmp(c->attr[a].name, "pads")) pa = &c->attr[a];
        if (pa && (pa->type != TEQ_ATTR_INTS || pa->n != 4)) continue;
        if (!pa) {
            teq_attr *at = realloc(c->attr, sizeof *at * (size_t)(c->n_attr + 1));
            if (!at) break; /* without memory: left as it is, still right */
            c->attr = at;
            teq_attr *a = &at[c->n_attr];
            memset(a, 0, sizeof *a);
            a->name = teq_strdup("pads"), a->ints = calloc(4, sizeof(int64_t));
            if (!a->name || !a->ints) {
                free(a->name), free(a->ints);
                break;
            }
            a->type = TEQ_ATTR_INTS, a->n = 4;
            c->n_attr++;
            pa = a;
        }
        for (int k = 0; k < 4; k++) pa->ints[k] += add[k];
        if (q) q->in[0] = g->nodes[pi].in[0];
        else c->in[0] = g->nodes[pi].in[0];
        keep[pi] = 0;
        folded++;
    }
    if (folded) teq_graph_compact(g, keep);
    free(keep);
    return TEQ_OK;
}

/* The layout with the output channels in the vectors (kernels.h teq_kwf.mv), where the best set has it: for
 * kernels wider than 1x1 of at least 32 output channels and 64 taps (DECISIONS, thirteenth round, has the
 * layers it was measured on: 24 channels, 1x1 kernels and M-LSD's K = 36 first layer were slower on it).
 * TEQ_FP32_CONV=rows keeps every Conv on the [M/6][K][6] layout (for comparing the two). */
static bool use_mv(int64_t M, int64_t K, int64_t taps) {
    const char *e = getenv("TEQ_FP32_CONV");
    return teq_k_f32_conv_mv_ok() && !(e && !strcmp(e, "rows")) && taps > 1 && M >= 32 && K >= 64;
}

/* Winograd (kernels.h) for a 3x3 Conv of stride 1 and the same dilation both ways, weights
 * [M][C][3][3], where the set has it, TEQ_WINOGRAD is not "off", and C and M are at least TEQ_WINO_MIN_CM:
 * DECISIONS ("Speed, twentieth round") has the layers it was measured on. */
enum { TEQ_WINO_MIN_CM = 16 };
/* attribute `name` absent, or all its values equal (to v where v > 0) */
static bool all_equal(const teq_node *n, const char *name, int64_t v) {
    int64_t len = 0;
    const int64_t *a = teq_node_attr_ints(n, name, &len);
    for (int64_t i = 0; a && i < len; i++)
        if (a[i] != (v > 0 ? v : a[0]) || a[i] < 1) return false;
    return true;
}
static bool use_wino(const teq_node *n, const teq_tensor *w) {
    return w->ndim == 4 && w->dims[2] == 3 && w->dims[3] == 3 && w->dims[0] >= TEQ_WINO_MIN_CM &&
           w->dims[1] >= TEQ_WINO_MIN_CM && all_equal(n, "strides", 1) && all_equal(n, "dilations", 0) &&
           teq_k_f32_wino_ok();
}

/* An FP32 ConvTranspose (float constant weights): a chain-only pack (dw set, no weights), so that the
 * elementwise chain after it (det's BatchNormalization and Relu after its 2 x 2 upsampling) can be applied
 * as its outputs are written (nn.c col2im_tiles) */
static bool convt_chain_holder(const teq_graph *g, const teq_node *n) {
    if (strcmp(n->op_type, "ConvTranspose") || (n->domain && n->domain[0]) || n->kern || n->fpack || n->n_in < 2 ||
        n->in[1] < 0)
        return false;
    const teq_value *v = &g->values[n->in[1]];
    return v->constant && !v->qweight && v->constant->dtype == TEQ_DTYPE_FLOAT;
}

teq_status teq_ops_pack_fp32(teq_graph *g, bool release, teq_error *err) {
    if (release) {
        const teq_status s = fold_pads(g, err);
        if (s) return s;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        bool dw;
        if (convt_chain_holder(g, n)) {
            teq_fconv *fc = calloc(1, sizeof *fc);
            if (!fc) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
            fc->dw = true;
            n->fpack = fc, n->fpack_free = fconv_free;
            continue;
        }
        if (decodable(g, n, &dw)) {
            teq_fconv *fc = calloc(1, sizeof *fc);
            if (!fc) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
            fc->dec = true, fc->dw = dw;
            /* the layout its codes decode into on each run (teq_ql_decode_kwf) */
            const teq_tensor *wt = g->values[n->in[1]].constant;
            const int64_t M = wt->dims[0], K = teq_tensor_numel(wt) / M;
            fc->w.mv = !dw && use_mv(M, K, K / wt->dims[1]);
            fc->dec_wino = !dw && use_wino(n, wt);
            n->fpack = fc, n->fpack_free = fconv_free;
            continue;
        }
        const teq_tensor *w = packable(g, n, &dw);
        if (!w) continue;
        const int64_t M = w->dims[0], K = teq_tensor_numel(w) / M;
        teq_fconv *fc = calloc(1, sizeof *fc);
        if (!fc) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory packing FP32 weights");
        fc->dw = dw;
        const bool wino = !dw && use_wino(n, w);
        if (wino) fc->w.M = M, fc->w.K = K;
        const teq_status s = dw     ? TEQ_OK
                             : wino ? teq_kwino_init(&fc->wino, M, w->dims[1], w->data, err)
                             : use_mv(M, K, K / w->dims[1]) ? teq_kwf_init_mv(&fc->w, M, K, w->data, err)
                                                            : teq_kwf_init(&fc->w, M, K, w->data, err);
        if (s) {
            free(fc);
            return s;
        }
        fc->src = dw ? NULL : w->data;
        n->fpack = fc, n->fpack_free = fconv_free;
    }
    if (!release) return TEQ_OK;
    teq_ops_release_weights(g, packed_reader);
    /* a pack whose source is gone serves the node's released (data-less) weight tensor from now on */
    for (int i = 0; i < g->n_nodes; i++) {
        teq_fconv *fc = g->nodes[i].fpack;
        if (fc && !fc->dw && !g->values[g->nodes[i].in[1]].constant->data) fc->src = NULL;
    }
    return TEQ_OK;
}

const teq_fconv *teq_fconv_of(const teq_node *node, const teq_tensor *w) {
    const teq_fconv *fc = node->fpack;
    return fc && !fc->dw && !fc->dec && w->data == fc->src && w->ndim >= 1 && w->dims[0] == fc->w.M && teq_tensor_numel(w) == fc->w.M * fc->w.K
               ? fc
               : NULL;
}

const teq_fconv *teq_fconv_dec(const teq_node *node) {
    const teq_fconv *fc = node->fpack;
    return fc && fc->dec && !fc->dw ? fc : NULL;
}

const teq_echain *teq_fconv_post(const teq_node *node) {
    const teq_fconv *fc = node->fpack;
    return fc && teq_kmode_get() == TEQ_KMODE_FAST ? fc->post : NULL;
}

static void chain_post(void *user, float *Y, int64_t ldy, int64_t M, int64_t n0, int64_t n1) {
    teq_echain_rows(user, Y, ldy, M, n1 - n0, NULL, NULL, 0);
}

teq_status teq_fconv_run(teq_exec_ctx *ctx, const teq_node *node, const teq_fconv *fc, const float *P,
                         const teq_i8conv *g, const float *bias, float *Y, int64_t ldy, bool *chained) {
    if (fc->w.K != g->C * g->KH * g->KW)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "packed weights do not match the convolution");
    const teq_echain *post = teq_kmode_get() == TEQ_KMODE_FAST ? fc->post : NULL; /* fc: the node's, or a dec copy */
    teq_kpost kp = {.fn = chain_post, .user = (void *)post};
    /* a lone Relu or Clip (M-LSD's Relu6 after every convolution) goes into the kernel's store instead of a
     * pass over each finished block: the same expression on the same value (kernels.h TEQ_KACT_*) */
    if (post && post->nlinks == 1 && !post->chan[0] && post->ns[0] == 1 &&
        (post->st[0][0].op == TEQ_EOP_RELU || post->st[0][0].op == TEQ_EOP_CLIP)) {
        const teq_estep *st = &post->st[0][0];
        kp.fn = NULL, kp.act = st->op == TEQ_EOP_RELU ? TEQ_KACT_RELU : TEQ_KACT_CLIP, kp.lo = st->lo, kp.hi = st->hi;
    }
    const teq_status s = fc->wino.u ? teq_k_f32_wino(&fc->wino, g, P, bias, Y, ldy, post ? &kp : NULL, teq_ctx_threads(ctx))
                                    : teq_k_f32_conv(&fc->w, g, P, bias, Y, ldy, post ? &kp : NULL, teq_ctx_threads(ctx));
    if (s) return teq_op_fail(ctx, node, s, "FP32 convolution failed (%s)", teq_status_string(s));
    *chained = post != NULL;
    return TEQ_OK;
}
